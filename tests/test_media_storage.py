"""Media at rest (encrypted or not kept), the upload doors that hash and store, and the safe viewer."""

from __future__ import annotations

import base64
import io
import re
import secrets
import shutil
import stat

import numpy as np
import pytest
from PIL import Image, ImageFilter
from sqlalchemy import select

from helpers import (
    PASSWORD,
    REPORT,
    _csrf,  # noqa: F401 (_csrf: autouse, CSRF token per client)
    basic,
    bearer,
    css,
    page,
    platform_report,
    text_of,
    upload,
    uploaded,
)
from helpers import submit_cybertip as submit
from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.crypto import new_master_key_file
from tipline.media import hashing, storage
from tipline.settings import Settings
from tipline.store.models import Attachment, AuditEvent
from tipline.synth import images as synth

MARKER = b"PLAINTEXT-MARKER-" * 2000


# ------------------------------------------------------------------------------------------ storage


def test_encrypted_round_trip(sqlite_db):
    rel = storage.store_blob(sqlite_db, MARKER)
    digest = __import__("hashlib").sha256(MARKER).hexdigest()
    assert rel == f"media/{digest[:2]}/{digest}.bin"
    path = sqlite_db.settings.data_dir / rel
    raw = path.read_bytes()
    assert b"PLAINTEXT-MARKER" not in raw and raw.startswith(storage.MAGIC)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert storage.load_blob(sqlite_db, rel) == MARKER
    assert storage.store_blob(sqlite_db, MARKER) == rel  # stored once
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left
    assert storage.delete_blob(sqlite_db, rel) is True and not path.exists()
    assert storage.delete_blob(sqlite_db, rel) is False
    with pytest.raises(storage.MediaStorageError, match="missing"):
        storage.load_blob(sqlite_db, rel)


def test_wrong_key_tampering_and_renaming_fail(sqlite_db, tmp_path):
    rel = storage.store_blob(sqlite_db, MARKER)
    other = open_database(Settings(data_dir=sqlite_db.settings.data_dir, master_key=secrets.token_hex(32)))
    try:
        with pytest.raises(storage.MediaStorageError, match="cannot be decrypted"):
            storage.load_blob(other, rel)
    finally:
        other.dispose()
    path = sqlite_db.settings.data_dir / rel
    raw = bytearray(path.read_bytes())
    raw[-40] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(storage.MediaStorageError, match="cannot be decrypted"):
        storage.load_blob(sqlite_db, rel)
    # a valid blob under another file's name does not open
    good = storage.store_blob(sqlite_db, b"another synthetic file")
    shutil.copy(sqlite_db.settings.data_dir / good, path)
    with pytest.raises(storage.MediaStorageError):
        storage.load_blob(sqlite_db, rel)
    for bad in ("../tipline.db", "media/aa/" + "b" * 64 + ".bin", "/etc/passwd", "media/ab/AB" + "0" * 62 + ".bin"):
        with pytest.raises(storage.MediaStorageError, match="not a media path"):
            storage.load_blob(sqlite_db, bad)


def test_hashes_only_keeps_nothing(tmp_path):
    db = open_database(Settings(data_dir=tmp_path / "d", media_mode="hashes_only"))
    try:
        assert storage.store_blob(db, MARKER) is None
        assert not (tmp_path / "d" / "media").exists()
    finally:
        db.dispose()


def test_key_rotation_rewraps_stored_files(sqlite_db):
    rel = storage.store_blob(sqlite_db, MARKER)
    old = sqlite_db.keyring.current_id
    assert storage.blob_key_usage(sqlite_db) == {old: 1}
    new_master_key_file(sqlite_db.settings.data_dir)
    sqlite_db.__dict__.pop("keyring", None)
    assert storage.rewrap_blobs(sqlite_db) == 1
    new = sqlite_db.keyring.current_id
    assert new != old and storage.blob_key_usage(sqlite_db) == {new: 1}
    assert storage.rewrap_blobs(sqlite_db) == 0
    assert storage.load_blob(sqlite_db, rel) == MARKER


# ------------------------------------------------------------------------------------------ upload doors


def picture(seed: int = 1, size: tuple[int, int] = (320, 240)) -> tuple[Image.Image, bytes]:
    img = synth.synth_image(seed, size)
    return img, synth.encode(img, "JPEG", quality=90)


def test_upload_route_hashes_and_stores_an_image(client, db, platform):
    rid = platform_report(client, platform)
    _img, data = picture()
    r = upload(client, platform, rid, data, "C:\\phone\\IMG_0001.jpg", "application/octet-stream")
    assert r.status_code == 201, r.text
    out = r.json()
    expected = hashing.hash_bytes(data)
    assert out["report_id"] == rid and out["kind"] == "image" and out["media_type"] == "image/jpeg"
    assert (out["md5"], out["sha256"], out["pdq"], out["pdq_quality"]) == (
        expected.md5,
        expected.sha256,
        expected.pdq,
        expected.pdq_quality,
    )
    assert out["stored"] is True and out["vpdq"] is None and out["hash_error"] is None
    with db.reader() as s:
        a = s.get(Attachment, out["id"])
        assert a.origin == "upload" and a.filename == "IMG_0001.jpg" and a.pdq == expected.pdq
        assert a.details["pdq_quality"] == expected.pdq_quality
        assert a.details["claimed_media_type"] == "application/octet-stream"
        assert a.stored_path == f"media/{expected.sha256[:2]}/{expected.sha256}.bin"
    assert storage.load_blob(db, a.stored_path) == data
    assert data not in (db.settings.data_dir / a.stored_path).read_bytes()


def test_upload_route_refusals(client, db, platform, settings):
    rid = platform_report(client, platform)
    _img, data = picture()
    assert client.post(f"/api/v1/reports/{rid}/files", files={"file": ("a.jpg", data)}).status_code == 401
    other = accounts.create_platform(db, "OtherChat")
    assert upload(client, other, rid, data).status_code == 404  # another platform's report looks absent
    assert upload(client, platform, 999_999, data).status_code == 404
    r = client.post(f"/api/v1/reports/{rid}/files", content=data, headers=bearer(platform.api_key))
    assert r.status_code == 415
    assert upload(client, platform, rid, b"").status_code == 422
    wrong = client.post(
        f"/api/v1/reports/{rid}/files", files={"other": ("a.jpg", data)}, headers=bearer(platform.api_key)
    )
    assert wrong.status_code == 422
    settings.max_upload_bytes = 1000
    r = upload(client, platform, rid, data)
    assert r.status_code == 413 and "1,000 bytes" in r.json()["detail"]
    with db.reader() as s:
        assert s.scalars(select(Attachment).where(Attachment.report_id == rid)).all() == []
    assert not (settings.data_dir / "media").exists()


def test_upload_of_a_damaged_picture_keeps_exact_hashes(client, db, platform):
    rid = platform_report(client, platform)
    _img, data = picture()
    r = upload(client, platform, rid, data[: len(data) // 2])
    assert r.status_code == 201
    out = r.json()
    assert out["kind"] == "image" and out["pdq"] is None and "corrupt" in out["hash_error"]
    assert out["md5"] and out["stored"] is True


@pytest.mark.skipif(not hashing.vpdq_available(), reason="vpdq is not installed: run `make`")
def test_upload_route_hashes_every_frame_of_a_video(client, db, platform):
    rid = platform_report(client, platform)
    video = synth.synth_video(5, frames=24, size=(160, 120))
    r = upload(client, platform, rid, video, "clip.avi", "video/x-msvideo")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["kind"] == "video" and out["media_type"] == "video/x-msvideo" and out["pdq"] is None
    assert [f["frame"] for f in out["vpdq"]] == list(range(24))
    with db.reader() as s:
        assert s.get(Attachment, out["id"]).details["vpdq"] == out["vpdq"]


def test_hashes_only_upload_drops_the_bytes(tmp_path):
    from fastapi.testclient import TestClient

    from tipline.web.app import create_app

    st = Settings(data_dir=tmp_path / "d", media_mode="hashes_only")
    db = open_database(st)
    db.migrate()
    try:
        creds = accounts.create_platform(db, "ExampleChat")
        with TestClient(create_app(st, db=db)) as client:
            rid = platform_report(client, creds)
            _img, data = picture()
            r = upload(client, creds, rid, data)
            assert r.status_code == 201 and r.json()["stored"] is False and r.json()["pdq"]
        with db.reader() as s:
            assert s.scalar(select(Attachment.stored_path).where(Attachment.report_id == rid)) is None
        assert not (tmp_path / "d" / "media").exists()
    finally:
        db.dispose()


def test_ispws_upload_now_produces_pdq_for_an_image(client, db, platform):
    rid = submit(client, platform)
    _img, data = picture(3)
    r = client.post(
        "/ispws/upload", data={"id": str(rid)}, files={"file": ("x.jpg", data, "image/jpeg")}, auth=basic(platform)
    )
    assert r.status_code == 200, r.text
    with db.reader() as s:
        a = s.scalar(select(Attachment).where(Attachment.report_id == rid, Attachment.origin == "upload"))
    expected = hashing.hash_bytes(data)
    assert a.pdq == expected.pdq and a.details["pdq_quality"] == expected.pdq_quality
    assert a.stored_path and storage.load_blob(db, a.stored_path) == data


# ------------------------------------------------------------------------------------------ viewer


@pytest.fixture
def viewer_client(client):  # type: ignore[no-untyped-def]
    """The app's client: the viewer's routes are the app's own (``media.web`` includes ``media.viewer``)."""
    return client


def login(client, db, role: str = "analyst") -> None:  # type: ignore[no-untyped-def]
    accounts.create_user(db, "ana", role, PASSWORD)
    r = client.post("/login", data={"name": "ana", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def csrf_of(doc) -> str:  # type: ignore[no-untyped-def]
    return css(doc, "form[action='/logout'] input[name=csrf_token]")[0].get("value")


def events(db, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def edges(img: Image.Image) -> float:
    """Share of neighbouring pixels that differ by more than 8 levels: edges of shapes; 0 for a heavy blur."""
    a = np.asarray(img.convert("L"), dtype=np.float32)
    return float((np.abs(np.diff(a, axis=1)) > 8).mean())


def test_viewer_is_staff_only(viewer_client, db, platform):
    client = viewer_client
    _img, data = picture()
    fid = uploaded(client, platform, data)
    for path in (f"/media/{fid}", f"/media/{fid}/preview.png"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        r = client.get(path, headers=bearer(platform.api_key), follow_redirects=False)
        assert r.status_code == 303  # a platform key is not a staff session
    r = client.post(f"/media/{fid}/view", data={"csrf_token": "x"}, follow_redirects=False)
    assert r.status_code in (303, 403)  # to the login page, or refused by the app-wide CSRF guard
    assert events(db, "media.preview") == [] and events(db, "media.view") == []


def test_viewer_shows_hashes_and_a_blurred_greyscale_preview_then_unblurred_once(viewer_client, db, platform):
    client = viewer_client
    img = synth.synth_image(7, (480, 360), style="shapes")
    data = synth.encode(img, "JPEG", quality=90)
    fid = uploaded(client, platform, data)
    login(client, db)
    r = client.get(f"/media/{fid}")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = page(r)
    h = hashing.hash_bytes(data)
    text = text_of(doc)
    assert h.sha256 in text and h.md5 in text and h.pdq in text
    imgs = css(doc, "img")
    assert [i.get("src") for i in imgs] == [f"/media/{fid}/preview.png"]  # nothing else, no original bytes
    assert not [a for a in css(doc, "a") if "/preview" in (a.get("href") or "") or ".bin" in (a.get("href") or "")]
    assert events(db, "media.preview") == []  # the page itself shows no pixels

    p = client.get(f"/media/{fid}/preview.png")
    assert p.status_code == 200 and p.headers["content-type"] == "image/png"
    assert p.headers["cache-control"] == "no-store"
    preview = Image.open(io.BytesIO(p.content))
    assert preview.mode == "L" and max(preview.size) <= 256
    reference = img.convert("L").resize(preview.size)
    assert edges(reference) > 0.01 and edges(preview) == 0
    [ev] = events(db, "media.preview")
    assert ev.target_type == "attachment" and ev.target_id == str(fid) and ev.actor == "user:ana"

    # the unblurred view needs the session's CSRF token
    bad = client.post(f"/media/{fid}/view", data={"csrf_token": "forged"})
    assert bad.status_code == 403 and events(db, "media.view") == []
    v = client.post(f"/media/{fid}/view", data={"csrf_token": csrf_of(doc)})
    assert v.status_code == 200 and v.headers["cache-control"] == "no-store"
    [shown] = css(page(v), "img.viewer-unblurred")
    src = shown.get("src")
    assert src.startswith("data:image/png;base64,")
    full = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert full.mode == "L" and full.size == (480, 360)
    grey = np.asarray(img.convert("L"), dtype=np.float32)
    assert np.abs(np.asarray(full, dtype=np.float32) - grey).mean() < 4  # the picture itself, not blurred
    assert [e.target_id for e in events(db, "media.view")] == [str(fid)]
    assert re.search(r"/media/\d+/(original|raw|download)", v.text) is None
    # a plain GET of the page afterwards is blurred again
    again = page(client.get(f"/media/{fid}"))
    assert css(again, "img.viewer-unblurred") == [] and css(again, "img.viewer-preview")


def test_viewer_preview_blurs_beyond_recognition_of_detail():
    checker = Image.new("L", (256, 256))
    checker.putdata([255 * (((x // 8) + (y // 8)) % 2) for y in range(256) for x in range(256)])
    png = synth.encode(checker.convert("RGB"), "PNG")
    from tipline.media.viewer import preview_image

    out = Image.open(io.BytesIO(preview_image(png, "image", blurred=True)))
    a = np.asarray(out, dtype=np.float32)
    assert a.std() < 10  # an 8-px checkerboard becomes flat grey
    sharp = Image.open(io.BytesIO(preview_image(png, "image", blurred=False)))
    assert np.asarray(sharp, dtype=np.float32).std() > 100
    assert edges(checker.filter(ImageFilter.GaussianBlur(2))) > 0 and edges(out) == 0


@pytest.mark.skipif(
    not hashing.vpdq_available() or shutil.which("ffmpeg") is None,
    reason="video previews need vpdq and the ffmpeg command (scripts/ensure-ffmpeg-dev.sh)",
)
def test_viewer_previews_one_blurred_frame_of_a_video(viewer_client, db, platform):
    client = viewer_client
    fid = uploaded(client, platform, synth.synth_video(6, frames=24, size=(160, 120)), "clip.avi")
    login(client, db)
    doc = page(client.get(f"/media/{fid}"))
    assert css(doc, "img.viewer-preview") and "24" in text_of(doc)
    p = client.get(f"/media/{fid}/preview.png")
    assert p.status_code == 200
    assert Image.open(io.BytesIO(p.content)).mode == "L"
    assert len(events(db, "media.preview")) == 1


def test_viewer_in_hashes_only_mode_shows_nothing(viewer_client, db, platform, settings):
    client = viewer_client
    _img, data = picture()
    fid = uploaded(client, platform, data)  # stored while the mode was "encrypt"
    settings.media_mode = "hashes_only"
    login(client, db)
    doc = page(client.get(f"/media/{fid}"))
    assert css(doc, "img") == [] and css(doc, "form.viewer-reveal") == []
    assert css(doc, ".viewer-not-kept")
    assert client.get(f"/media/{fid}/preview.png").status_code == 404
    v = client.post(f"/media/{fid}/view", data={"csrf_token": csrf_of(doc)})
    assert v.status_code == 404
    assert events(db, "media.preview") == [] and events(db, "media.view") == []
    assert client.get("/media/987654").status_code == 404


def test_hash_only_attachments_say_so(viewer_client, db, platform):
    client = viewer_client
    r = client.post(
        "/api/v1/reports",
        json=dict(REPORT, report_id="H-1", files=[{"filename": "x.jpg", "md5": "0" * 32}]),
        headers=bearer(platform.api_key),
    )
    rid = r.json()["id"]
    with db.reader() as s:
        fid = s.scalar(select(Attachment.id).where(Attachment.report_id == rid))
    login(client, db)
    doc = page(client.get(f"/media/{fid}"))
    assert "0" * 32 in text_of(doc) and css(doc, ".viewer-not-kept") and css(doc, "img") == []
