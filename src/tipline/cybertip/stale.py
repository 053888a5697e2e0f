"""CyberTipline submissions their platform never finished.

A submission stays ``open`` (out of the queue, unanalysed) until the platform calls ``/finish``. When it
never does, the report would be lost to the analysts, even when it was escalated. After
``settings.cybertip_stale_hours`` (counted from ``/submit``), :func:`close_stale` closes it as complete,
marks it "not finished by the platform" (``details["unfinished"]``), analyses it (the ``not-finished``
triage rule names it on the queue; an escalation still makes it P1), and alerts: a warning in the log
(report id only) and an audit event ``cybertip.stale``. The app runs it at start and every minute;
``tipline cybertip close-stale`` runs it from the command line.

A platform that calls ``/finish`` afterwards is told the submission is complete (its files stay).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tipline.accounts.service import record
from tipline.capability import AnalysisContext
from tipline.intake.service import analyse_after_store
from tipline.store import Database
from tipline.store.models import Report

log = logging.getLogger("tipline.cybertip")

UNFINISHED = "cybertip.unfinished"  # fact: the submission was closed for its platform
BATCH = 500


def close_stale(db: Database, *, now: datetime | None = None) -> list[int]:
    """Close, analyse and alert on open submissions older than ``cybertip_stale_hours`` (0: never).
    Returns their report ids, oldest first."""
    hours = db.settings.cybertip_stale_hours
    if hours <= 0:
        return []
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(hours=hours)
    ids: list[int] = []
    with db.session() as s:
        q = select(Report).where(Report.submission_state == "open", Report.received_at < cutoff)
        for row in s.scalars(q.order_by(Report.id).limit(BATCH)):
            details = dict(row.details or {})
            details["unfinished"] = {"closed_at": now.isoformat(), "after_hours": hours}
            row.details = details
            row.submission_state = "complete"
            record(
                s,
                "system",
                "cybertip.stale",
                "report",
                row.id,
                opened_at=row.received_at.isoformat(),
                escalated=row.escalate,
                files=len(row.attachments),
            )
            ids.append(row.id)
    for rid in ids:
        analyse_after_store(db, rid)
        log.warning(
            "CyberTipline submission of report %d was not finished by the platform within %s hours: "
            "closed, analysed and queued",
            rid,
            hours,
        )
    return ids


def before_score(ctx: AnalysisContext) -> None:
    """Tell the triage rules that the platform never finished this submission."""
    if isinstance(ctx.report.details, dict) and ctx.report.details.get("unfinished"):
        ctx.score_input.facts[UNFINISHED] = True
