"""CyberTipline submissions their platform never finished: after cybertip_stale_hours they are closed, marked
"not finished by the platform", analysed, alerted on (log, audit) and shown on the queue."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from typer.testing import CliRunner

from helpers import css, login_as, page, text_of
from tipline.accounts import service as accounts
from tipline.cybertip.stale import close_stale
from tipline.intake import service as intake
from tipline.intake.schemas import Category, ReportIn, Source
from tipline.store import Database
from tipline.store.models import AuditEvent, Report


def _open(db: Database, platform_id: int, ext: str, *, hours_ago: float, escalate: bool = False) -> int:
    r = ReportIn(
        source=Source.CYBERTIP,
        category=Category.CSAM,
        text="Escalated by the platform.",
        escalate=escalate,
        platform_id=platform_id,
        external_id=ext,
        open_submission=True,
    )
    rid = intake.submit_report(db, r).report_id
    with db.session() as s:
        s.execute(
            update(Report).where(Report.id == rid).values(received_at=datetime.now(UTC) - timedelta(hours=hours_ago))
        )
    return rid


def _row(db: Database, rid: int) -> Report:
    with db.reader() as s:
        row = s.get(Report, rid)
        assert row is not None
        return row


def test_a_stale_escalated_submission_reaches_the_queue(client, db, platform, ana, caplog):
    stale = _open(db, platform.id, "old", hours_ago=30, escalate=True)
    fresh = _open(db, platform.id, "new", hours_ago=1, escalate=True)
    login_as(client, "ana")

    def queue() -> dict[int, str]:
        doc = page(client.get("/queue"))
        return {int(tr.get("data-report-id")): text_of(tr) for tr in css(doc, "table.queue tbody tr")}

    assert stale not in queue()  # open: out of the queue
    with caplog.at_level(logging.WARNING, logger="tipline.cybertip"):
        assert close_stale(db) == [stale]
    assert f"report {stale} was not finished by the platform" in caplog.text
    row = _row(db, stale)
    assert row.submission_state == "complete" and row.analysed_at is not None and row.priority <= 2
    assert row.details["unfinished"]["after_hours"] == 24
    assert {x["rule"] for x in row.reasons} >= {"not-finished", "platform-escalation"}
    rows = queue()
    assert stale in rows and "Not finished by the platform" in rows[stale]
    assert fresh not in rows and _row(db, fresh).submission_state == "open"
    with db.reader() as s:
        (ev,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "cybertip.stale"))
    assert ev.target_id == str(stale) and ev.details["escalated"] is True
    assert close_stale(db) == []  # once


def test_zero_hours_never_closes_and_the_command_closes(sqlite_db, monkeypatch):
    db = sqlite_db
    platform = accounts.create_platform(db, "ExampleChat")
    rid = _open(db, platform.id, "x", hours_ago=48)
    off = db.settings.model_copy(update={"cybertip_stale_hours": 0})
    monkeypatch.setattr(db, "settings", off)
    assert close_stale(db) == [] and _row(db, rid).submission_state == "open"
    monkeypatch.undo()
    from tipline.cli.main import app as cli_app

    monkeypatch.setenv("TIPLINE_DATA_DIR", str(db.settings.data_dir))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    r = CliRunner().invoke(cli_app, ["cybertip", "close-stale"])
    assert r.exit_code == 0, r.output
    assert f"1 submission(s) not finished by the platform closed and queued: [{rid}]" in r.output
    assert _row(db, rid).submission_state == "complete"
