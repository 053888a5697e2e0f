"""Face search through the real app (SQLite and PostgreSQL): report media scanned in the limited child,
supervisors enrol and search, every step audited, others refused, embeddings sealed, retention, the CLI.
Pictures: scikit-image's public-domain astronaut and ageitgey/face_recognition's example photos (adults)."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from sqlalchemy import select, text, update

from helpers import PASSWORD, bearer, full_token, run
from tipline.accounts import service as accounts
from tipline.faces import service
from tipline.faces.models import Face, FaceScan, GalleryEntry
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import AuditEvent

DATA = Path(__file__).parent / "data" / "faces"


def png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture
def settings(settings: Settings) -> Settings:  # conftest's, with face search switched on
    return settings.model_copy(update={"faces_enabled": True})


def _report_with(client, key, rid: str, name: str, data: bytes) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/reports", json={"report_id": rid, "category": "other", "text": "files"}, headers=key)
    assert r.status_code == 201, r.text
    report = int(r.json()["id"])
    r = client.post(f"/api/v1/reports/{report}/files", files={"file": (name, data, "image/jpeg")}, headers=key)
    assert r.status_code == 201, r.text
    return report


def _actions(db: Database) -> list[str]:
    with db.reader() as s:
        return list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("faces.%")).order_by(AuditEvent.id))
        )


def test_supervisor_enrols_and_finds_the_report_audited_and_others_are_refused(client, db: Database, platform):
    key = bearer(platform.api_key)
    wanted = _report_with(client, key, "f-1", "a.png", png(astronaut()))
    other = _report_with(client, key, "f-2", "o.jpg", (DATA / "obama.jpg").read_bytes())
    summary = service.scan_pending(db)
    assert (summary.files, summary.errors) == (2, 0) and summary.faces >= 2
    assert service.scan_pending(db).files == 0  # each file once

    accounts.create_user(db, "sue", "supervisor", PASSWORD)
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    sup = bearer(full_token(db, "sue"))
    crop = png(astronaut().crop((120, 30, 330, 230)), "JPEG")
    form = {"gallery": "missing-test", "reason": "case 12: reference photo", "legal_basis": "court order 5/2026"}
    r = client.post(
        "/api/v1/faces/enrol", data=form | {"provenance": "family"}, files={"photo": ("r.jpg", crop)}, headers=sup
    )
    assert r.status_code == 200, r.text
    assert r.json()["gallery"] == "missing-test" and r.json()["quality"] > 0

    mirrored = png(ImageOps.mirror(astronaut()))
    r = client.post(
        "/api/v1/faces/search", data={"reason": "case 12: search"}, files={"photo": ("q.png", mirrored)}, headers=sup
    )
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["matches"], res
    best = res["matches"][0]
    assert best["report_id"] == wanted and best["distance"] < 0.45 and best["band"] in ("very likely", "likely")
    assert best["viewer_url"] == f"/media/{best['attachment_id']}"
    assert other not in {m["report_id"] for m in res["matches"]}  # a different person is not listed
    assert [m["distance"] for m in res["matches"]] == sorted(m["distance"] for m in res["matches"])

    r = client.post(f"/api/v1/faces/results/{best['face_id']}/view", json={"reason": "case 12: check"}, headers=sup)
    assert r.status_code == 200 and r.json()["report_id"] == wanted
    r = client.post("/api/v1/faces/export", json={"reason": "oversight board, Q4"}, headers=sup)
    assert r.status_code == 200
    (entry,) = r.json()
    assert (entry["provenance"], entry["legal_basis"]) == ("family", "court order 5/2026") and "embedding" not in entry

    # an analyst is refused, and the refusal itself is audited; a reason is required
    ana = bearer(full_token(db, "ana"))
    r = client.post(
        "/api/v1/faces/search", data={"reason": "curious"}, files={"photo": ("q.png", mirrored)}, headers=ana
    )
    assert r.status_code == 403 and "supervisor" in r.json()["detail"]
    r = client.post("/api/v1/faces/search", data={"reason": "x"}, files={"photo": ("q.png", mirrored)}, headers=sup)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = client.post(
        "/api/v1/faces/search",
        data={"reason": "case 12: search"},
        files={"photo": ("q.png", png(Image.new("RGB", (200, 200))))},
        headers=sup,
    )
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    assert _actions(db) == ["faces.enrol", "faces.search", "faces.view", "faces.export", "faces.denied"]
    with db.reader() as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "faces.search"))
        assert ev is not None and ev.details["reason"] == "case 12: search" and wanted in ev.details["reports"]

    # embeddings are sealed at rest, bound to their row
    with db.reader() as s:
        face = s.scalars(select(Face).where(Face.report_id == wanted)).first()
        assert face is not None and len(face.embedding) == 512
        raw = s.execute(text("SELECT embedding FROM faces WHERE id = :i"), {"i": face.id}).scalar_one()
    assert face.embedding not in bytes(raw)


def test_retention_forgets_old_faces_and_expired_gallery_entries(client, db: Database, platform):
    key = bearer(platform.api_key)
    _report_with(client, key, "r-1", "a.png", png(astronaut()))
    service.scan_pending(db)
    service.enrol(
        db,
        accounts.create_user(db, "sue", "supervisor", PASSWORD),
        "g",
        png(astronaut().crop((120, 30, 330, 230))),
        reason="retention test",
    )
    old = datetime.now(UTC) - timedelta(days=db.settings.faces_retention_days + 1)
    with db.session() as s:
        s.execute(update(Face).values(created_at=old))
        s.execute(update(GalleryEntry).values(expires_at=old))
    from tipline.protect import retention

    retention.run(db)
    with db.reader() as s:
        assert s.scalar(select(Face.id)) is None and s.scalar(select(GalleryEntry.id)) is None
        assert s.scalar(select(FaceScan.id)) is not None  # the file is not scanned again
    assert service.index_for(db).search(np.zeros(128, np.float32)) == []


def test_a_hostile_file_in_a_report_does_not_raise_the_servers_memory(client, db: Database, platform):
    def hwm_kb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    key = bearer(platform.api_key)
    bomb = png(Image.new("L", (7000, 7000)))  # 49 million pixels in a few hundred KB
    _report_with(client, key, "b-1", "b.png", bomb)
    service.index_for(db)
    before = hwm_kb()
    assert service.scan_pending(db).files == 1
    assert hwm_kb() - before < 40_000  # decoded (reduced) in the child, not here


def test_cli_enrol_and_search_json(settings: Settings, db: Database, client, platform, tmp_path: Path):
    if settings.database_url:
        pytest.skip("the CLI test runs on SQLite")
    key = bearer(platform.api_key)
    wanted = _report_with(client, key, "c-1", "a.png", png(astronaut()))
    photo = tmp_path / "ref.jpg"
    astronaut().crop((120, 30, 330, 230)).save(photo)
    env = {"TIPLINE_FACES_ENABLED": "true"}
    if os.environ.get("TIPLINE_MASTER_KEY"):
        env["TIPLINE_MASTER_KEY"] = os.environ["TIPLINE_MASTER_KEY"]
    p = run(["faces", "scan"], settings.data_dir, env_extra=env)
    assert "1 files scanned" in p.stdout
    p = run(["faces", "enrol", "missing", str(photo), "--reason", "case 3 reference"], settings.data_dir, env_extra=env)
    assert "enrolled as entry #1 of gallery missing" in p.stdout
    p = run(["faces", "search", str(photo), "--reason", "case 3 search", "--json"], settings.data_dir, env_extra=env)
    rows = json.loads(p.stdout)
    assert rows[0]["report_id"] == wanted and rows[0]["distance"] < 0.45 and rows[0]["attachment_id"] > 0
    p = run(["faces", "search", str(photo), "--json"], settings.data_dir, env_extra=env, check=False)
    assert p.returncode != 0 and "--reason" in p.stderr
    p = run(["faces", "search", str(photo), "--reason", "case 3 search"], settings.data_dir, check=False)
    assert p.returncode == 1 and "TIPLINE_FACES_ENABLED" in p.stderr
    assert _actions(db) == ["faces.enrol", "faces.search"]
