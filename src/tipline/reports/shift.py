"""The analyst's shift: who owns a report (claim, assign), bulk actions, saved filters, and the time to
first action (targets per priority, overdue reports, notifications to on-duty supervisors).

Every change is audited in the caller's transaction: one event per claim or assignment, one event per
bulk action (naming every report it changed). A report's first action (claimed, assigned, status
changed) is stamped once (``Report.first_action_at``); an open report without one past its priority's
target is overdue.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.errors import Conflict, NotFound
from tipline.intake.schemas import Status
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Report, SavedFilter, StaffNotification, StaffSession, User

log = logging.getLogger(__name__)

OPEN_STATUSES = (Status.NEW.value, Status.IN_REVIEW.value)
MAX_BULK = 500
MAX_LABEL_CHARS = 40
#: a supervisor is on duty while a staff session of theirs was seen this recently
ON_DUTY_WINDOW = timedelta(minutes=30)


def targets(settings: Settings) -> dict[int, int]:
    """The time-to-first-action target in minutes of each priority (``TIPLINE_FIRST_ACTION_MINUTES``)."""
    raw = [x.strip() for x in settings.first_action_minutes.split(",")]
    if len(raw) != 4 or not all(x.isdigit() and int(x) > 0 for x in raw):
        raise ValueError(
            f"TIPLINE_FIRST_ACTION_MINUTES must be four positive whole numbers of minutes for P1,P2,P3,P4 "
            f"(for example 15,240,1440,4320), not {settings.first_action_minutes!r}"
        )
    return {p: int(x) for p, x in zip((1, 2, 3, 4), raw, strict=True)}


def due_at(received_at: datetime, priority: int, goal: dict[int, int]) -> datetime:
    return received_at + timedelta(minutes=goal.get(priority, goal[4]))


def is_overdue(r: Report, goal: dict[int, int], now: datetime) -> bool:
    return r.first_action_at is None and r.status in OPEN_STATUSES and due_at(r.received_at, r.priority, goal) < now


def _acted(r: Report, now: datetime) -> None:
    if r.first_action_at is None:
        r.first_action_at = now


def mark_first_action(s: Session, r: Report) -> None:
    """Stamp the report's first action (called by every service that changes a report for staff)."""
    _acted(r, datetime.now(UTC))


def _report(s: Session, report_id: int) -> Report:
    r = s.get(Report, report_id)
    if r is None or r.submission_state != "complete":
        raise NotFound(f"no report {report_id}")
    return r


def _staff_user(s: Session, user_id: int) -> User:
    u = s.get(User, user_id)
    if u is None or not u.active or u.role not in ("admin", "supervisor", "analyst"):
        raise NotFound(f"no active staff user {user_id}")
    return u


def claim(db: Database, report_id: int, actor: Principal) -> None:
    """The actor takes the report. Taking one someone else holds is refused (:class:`Conflict`): assign it."""
    with db.session() as s:
        r = _report(s, report_id)
        if r.assignee_id is not None and r.assignee_id != actor.id:
            holder = s.get(User, r.assignee_id)
            raise Conflict(f"report {report_id} is already claimed by {holder.name if holder else '?'}")
        if r.assignee_id == actor.id:
            return
        now = datetime.now(UTC)
        r.assignee_id, r.assigned_at = actor.id, now
        _acted(r, now)
        record(s, actor, "report.claim", "report", report_id)


def assign(db: Database, report_id: int, actor: Principal, user_id: int | None) -> None:
    """Give the report to ``user_id`` (None: nobody). Audited with the previous and new owner."""
    with db.session() as s:
        r = _report(s, report_id)
        if user_id is not None:
            _staff_user(s, user_id)
        if r.assignee_id == user_id:
            return
        now = datetime.now(UTC)
        before, r.assignee_id, r.assigned_at = r.assignee_id, user_id, now if user_id else None
        _acted(r, now)
        record(s, actor, "report.assign", "report", report_id, assignee=[before, user_id])


@dataclass
class BulkResult:
    changed: list[int]
    unchanged: list[int]


def _label(value: str) -> str:
    label = " ".join(value.split())
    if not label or len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"a label is 1 to {MAX_LABEL_CHARS} characters")
    return label


def bulk(
    db: Database,
    report_ids: list[int],
    actor: Principal,
    *,
    status: Status | None = None,
    assignee: int | None = None,
    unassign: bool = False,
    label: str | None = None,
) -> BulkResult:
    """Change several reports at once: status, owner (``assignee`` or ``unassign``) and/or a label added.
    One audit event for the whole action, naming the reports it changed."""
    ids = sorted(set(report_ids))
    if not ids:
        raise ValueError("choose at least one report")
    if len(ids) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} reports at once")
    if status is None and assignee is None and not unassign and not label:
        raise ValueError("choose what to change: a status, an owner or a label")
    tag = _label(label) if label else None
    now = datetime.now(UTC)
    with db.session() as s:
        if assignee is not None:
            _staff_user(s, assignee)
        rows = list(s.scalars(select(Report).where(Report.id.in_(ids), Report.submission_state == "complete")))
        missing = set(ids) - {r.id for r in rows}
        if missing:
            raise NotFound(f"no report {', '.join(str(i) for i in sorted(missing))}")
        changed: list[int] = []
        for r in rows:
            if _apply(r, now, status=status, assignee=None if unassign else assignee, unassign=unassign, tag=tag):
                changed.append(r.id)
        if changed:
            what: dict[str, Any] = {"reports": changed}
            if status is not None:
                what["status"] = status.value
            if assignee is not None or unassign:
                what["assignee"] = assignee
            if tag:
                what["label"] = tag
            record(s, actor, "report.bulk", "report", None, **what)
        return BulkResult(changed, [i for i in ids if i not in changed])


def _apply(
    r: Report, now: datetime, *, status: Status | None, assignee: int | None, unassign: bool, tag: str | None
) -> bool:
    done = False
    if status is not None and r.status != status.value:
        r.status = status.value
        done = True
    if (assignee is not None or unassign) and r.assignee_id != assignee:
        r.assignee_id, r.assigned_at = assignee, now if assignee else None
        done = True
    if tag and tag not in (r.labels or []):
        r.labels = [*(r.labels or []), tag]
        done = True
    if done and (status is not None or assignee is not None):
        _acted(r, now)
    return done


def staff_users(db: Database) -> list[tuple[int, str]]:
    """Active staff users (id, name): who a report can be assigned to."""
    with db.reader() as s:
        q = select(User.id, User.name).where(User.active.is_(True), User.role.in_(("admin", "supervisor", "analyst")))
        return [(i, n) for i, n in s.execute(q.order_by(User.name))]


# ------------------------------------------------------------------------------------------ saved filters


def save_filter(db: Database, user: Principal, name: str, query: str) -> None:
    """Save (or replace) the user's filter ``name``: the /queue query string."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise ValueError("a saved filter's name is 1 to 100 characters")
    query = query.lstrip("?")
    if len(query) > 2000:
        raise ValueError("that filter is too long to save (2,000 characters at most)")
    with db.session() as s:
        row = s.scalar(select(SavedFilter).where(SavedFilter.user_id == user.id, SavedFilter.name == name))
        if row is None:
            s.add(SavedFilter(user_id=user.id, name=name, query=query))
        else:
            row.query = query


def saved_filters(db: Database, user: Principal) -> list[dict[str, Any]]:
    with db.reader() as s:
        rows = s.scalars(select(SavedFilter).where(SavedFilter.user_id == user.id).order_by(SavedFilter.name))
        return [{"id": f.id, "name": f.name, "query": f.query} for f in rows]


def delete_filter(db: Database, user: Principal, filter_id: int) -> None:
    with db.session() as s:
        s.execute(delete(SavedFilter).where(SavedFilter.id == filter_id, SavedFilter.user_id == user.id))


# ------------------------------------------------------------------------------------------ overdue


def on_duty_supervisors(s: Session, now: datetime) -> list[int]:
    """Supervisors and admins with a live staff session seen in the last half hour."""
    q = (
        select(User.id)
        .join(StaffSession, StaffSession.user_id == User.id)
        .where(
            User.active.is_(True),
            User.role.in_(("supervisor", "admin")),
            StaffSession.revoked.is_(False),
            StaffSession.stage == "full",
            StaffSession.last_seen_at >= now - ON_DUTY_WINDOW,
        )
        .distinct()
    )
    return sorted(s.scalars(q))


@dataclass
class OverdueCheck:
    overdue: list[int]
    notified: int
    webhook_sent: int


def check_overdue(db: Database, *, now: datetime | None = None) -> OverdueCheck:
    """Find the open reports past their target with no first action; notify each on-duty supervisor
    once per report (in the app), and POST each newly overdue report to the webhook when one is set."""
    now = now or datetime.now(UTC)
    goal = targets(db.settings)
    with db.session() as s:
        rows = s.scalars(
            select(Report).where(
                Report.submission_state == "complete",
                Report.status.in_(OPEN_STATUSES),
                Report.first_action_at.is_(None),
                Report.received_at < now - timedelta(minutes=min(goal.values())),
            )
        )
        overdue = [r for r in rows if is_overdue(r, goal, now)]
        supervisors = on_duty_supervisors(s, now)
        seen = set(
            s.execute(
                select(StaffNotification.user_id, StaffNotification.report_id).where(
                    StaffNotification.kind == "overdue"
                )
            ).all()
        )
        # the webhook hears of a report once: when it is first found overdue by a check that told someone
        fresh = [r for r in overdue if r.id not in {rid for _u, rid in seen}]
        notified = 0
        for r in overdue:
            for uid in supervisors:
                if (uid, r.id) not in seen:
                    s.add(StaffNotification(user_id=uid, report_id=r.id, kind="overdue", created_at=now))
                    notified += 1
        payload = [
            {
                "report_id": r.id,
                "priority": r.priority,
                "minutes_overdue": int((now - due_at(r.received_at, r.priority, goal)).total_seconds() // 60),
            }
            for r in fresh
        ]
    sent = _post_webhook(db.settings.overdue_webhook, payload) if payload else 0
    return OverdueCheck([r.id for r in overdue], notified, sent)


def _post_webhook(url: str | None, items: list[dict[str, Any]]) -> int:
    """POST each item as JSON to ``url``; the number delivered (failures are logged, not raised)."""
    if not url:
        return 0
    if urlsplit(url).scheme not in ("http", "https"):
        log.warning("overdue webhook skipped: TIPLINE_OVERDUE_WEBHOOK must be an http(s) URL")
        return 0
    sent = 0
    for item in items:
        body = json.dumps({"event": "report.overdue", **item}).encode()
        req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - scheme checked above
                sent += 200 <= resp.status < 300
        except OSError as e:
            log.warning("overdue webhook failed for report %s: %s", item["report_id"], type(e).__name__)
    return sent


def notifications(db: Database, user: Principal, *, unread_only: bool = True) -> list[dict[str, Any]]:
    """The user's notifications, newest first (report id, priority, kind, when)."""
    with db.reader() as s:
        q = (
            select(StaffNotification, Report.priority)
            .join(Report, Report.id == StaffNotification.report_id)
            .where(StaffNotification.user_id == user.id)
        )
        if unread_only:
            q = q.where(StaffNotification.read_at.is_(None))
        rows = s.execute(q.order_by(StaffNotification.created_at.desc(), StaffNotification.id.desc()).limit(50))
        return [
            {"id": n.id, "report_id": n.report_id, "kind": n.kind, "at": n.created_at, "priority": p} for n, p in rows
        ]


def mark_read(db: Database, user: Principal) -> None:
    with db.session() as s:
        for n in s.scalars(
            select(StaffNotification).where(StaffNotification.user_id == user.id, StaffNotification.read_at.is_(None))
        ):
            n.read_at = datetime.now(UTC)
