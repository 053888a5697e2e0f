"""Face search is off by default: nothing is detected or stored, every route and command refuses, clearly."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, inspect, select

from helpers import PASSWORD, bearer, before_migration, full_token, run
from tipline.accounts import service as accounts
from tipline.faces import service
from tipline.faces.models import Face, FaceGallery, FaceScan
from tipline.settings import Settings
from tipline.store import Database


def test_off_by_default_nothing_detected_stored_or_searched(client, db: Database, platform, settings: Settings):
    from skimage import data

    assert Settings.model_fields["faces_enabled"].default is False and not settings.faces_enabled
    with db.reader() as s:  # the migration made the tables; nothing is in them
        names = set(inspect(s.get_bind()).get_table_names())
    assert {"faces", "face_scans", "face_galleries", "face_gallery_entries", "face_groups"} <= names
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "PNG")
    photo = buf.getvalue()
    key = bearer(platform.api_key)
    rid = client.post("/api/v1/reports", json={"report_id": "o-1", "category": "other", "text": "x"}, headers=key)
    r = client.post(f"/api/v1/reports/{rid.json()['id']}/files", files={"file": ("a.png", photo)}, headers=key)
    assert r.status_code == 201

    accounts.create_user(db, "sue", "supervisor", PASSWORD)
    sup = bearer(full_token(db, "sue"))
    for path, kw in [
        ("/api/v1/faces/search", {"data": {"reason": "a good reason"}, "files": {"photo": ("q.png", photo)}}),
        (
            "/api/v1/faces/enrol",
            {"data": {"reason": "a good reason", "gallery": "g"}, "files": {"photo": ("q.png", photo)}},
        ),
        ("/api/v1/faces/results/1/view", {"json": {"reason": "a good reason"}}),
        ("/api/v1/faces/export", {"json": {"reason": "a good reason"}}),
    ]:
        r = client.post(path, headers=sup, **kw)
        assert r.status_code == 403 and "TIPLINE_FACES_ENABLED" in r.json()["detail"], (path, r.text)
    sue = next(u for u in accounts.list_users(db) if u.name == "sue")
    for call in (
        lambda: service.scan_pending(db),
        lambda: service.search(db, sue, photo, reason="a good reason"),
        lambda: service.enrol(db, sue, "g", photo, reason="a good reason"),
    ):
        with pytest.raises(service.FacesDisabled, match="TIPLINE_FACES_ENABLED=false"):
            call()
    with db.reader() as s:
        for model in (Face, FaceScan, FaceGallery):
            assert s.scalar(select(func.count()).select_from(model)) == 0
    if not settings.database_url:
        p = run(["faces", "scan"], settings.data_dir, check=False)
        assert p.returncode == 1 and "TIPLINE_FACES_ENABLED" in p.stderr


@pytest.mark.parametrize("backend_url", ["sqlite", "postgres"])
def test_the_faces_migration_goes_up_and_down_and_touches_nothing_else(tmp_path, backend_url):
    with before_migration(backend_url, tmp_path, "_faces.py") as m:
        tables_before = set(inspect(m.engine).get_table_names())
        m.up()
        added = set(inspect(m.engine).get_table_names()) - tables_before
        assert added == {"faces", "face_scans", "face_galleries", "face_gallery_entries", "face_groups"}
        m.down()
        assert set(inspect(m.engine).get_table_names()) == tables_before
        m.up("head")
