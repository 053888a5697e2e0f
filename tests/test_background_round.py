"""The served app's background round (every ``background_every_seconds``; a minute by default) does what must
not wait for a person: it closes CyberTipline submissions their platform never finished, and, with face
search on, scans new report media for faces. Through a real uvicorn server running the app ``tipline serve``
builds, with queued analysis (serve's default), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, update

from helpers import bearer, serve_app
from tipline.faces.models import FaceScan
from tipline.intake import service as intake
from tipline.intake.schemas import Category, ReportIn, Source
from tipline.store.models import Report
from tipline.web.app import create_app

FACE = Path(__file__).parent / "data" / "faces" / "biden.jpg"


def _until(check: Callable[[], bool], seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_the_server_closes_stale_submissions_and_scans_new_media_by_itself(settings, db, platform):
    settings.faces_enabled = True
    settings.background_every_seconds = 0.5
    settings.analyse_inline = False
    db.settings = settings
    app = create_app(settings, db=db)
    with serve_app(app) as base:
        # opened after start-up (start-up closes the stale ones it finds): only the round can close it
        rid = intake.submit_report(
            db,
            ReportIn(
                source=Source.CYBERTIP,
                category=Category.CSAM,
                text="Escalated by the platform, never finished.",
                escalate=True,
                platform_id=platform.id,
                external_id="never-finished",
                open_submission=True,
            ),
        ).report_id
        with db.session() as s:
            s.execute(
                update(Report).where(Report.id == rid).values(received_at=datetime.now(UTC) - timedelta(hours=30))
            )
        key = bearer(platform.api_key)
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post("/api/v1/reports", json={"report_id": "f1", "category": "other", "text": "a photo"}, headers=key)
            assert r.status_code == 201, r.text
            report = int(r.json()["id"])
            r = c.post(
                f"/api/v1/reports/{report}/files",
                files={"file": ("p.jpg", FACE.read_bytes(), "image/jpeg")},
                headers=key,
            )
            assert r.status_code == 201, r.text

        def closed() -> bool:
            with db.reader() as s:
                return s.scalar(select(Report.submission_state).where(Report.id == rid)) == "complete"

        def scanned() -> bool:
            with db.reader() as s:
                return (s.scalar(select(func.count()).select_from(FaceScan)) or 0) >= 1

        assert _until(closed), "the stale submission was not closed by the server"
        assert _until(scanned), "the new picture was not scanned for faces by the server"
    with db.reader() as s:
        scan = s.scalar(select(FaceScan))
        assert scan is not None and scan.error is None and scan.faces >= 1


def test_face_search_off_scans_nothing(settings, db, platform):
    settings.background_every_seconds = 0.5
    db.settings = settings
    app = create_app(settings, db=db)
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        key = bearer(platform.api_key)
        r = c.post("/api/v1/reports", json={"report_id": "f1", "category": "other", "text": "a photo"}, headers=key)
        report = int(r.json()["id"])
        r = c.post(
            f"/api/v1/reports/{report}/files", files={"file": ("p.jpg", FACE.read_bytes(), "image/jpeg")}, headers=key
        )
        assert r.status_code == 201, r.text
        time.sleep(2)  # four rounds
    with db.reader() as s:
        assert (s.scalar(select(func.count()).select_from(FaceScan)) or 0) == 0
