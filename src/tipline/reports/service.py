"""Staff-side services over stored reports. Every read of a report and every change is audited."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from tipline.accounts.service import Principal, record
from tipline.errors import NotFound
from tipline.extract import extract
from tipline.intake.schemas import (
    AgeBand,
    Classification,
    EntityOut,
    QueueItemOut,
    ReasonOut,
    ReportOut,
    Status,
)
from tipline.intake.service import analyse_report
from tipline.reports import shift
from tipline.store import Database
from tipline.store.models import BLIND_KINDS as BLIND_KINDS  # identifier kinds never shown (keyed hashes)
from tipline.store.models import Entity, FollowUp, Mention, Report, ReportNote
from tipline.store.search import search_reports


@dataclass
class QueueFilter:
    category: str | None = None
    language: str | None = None
    source: str | None = None
    status: str | None = None  # None: open work (new + in_review); "all": every status
    country: str | None = None
    q: str | None = None
    priority: int | None = None
    owner: str | None = None  # "mine" (viewer_id's) | "unassigned" | None
    viewer_id: int | None = None
    sort: str = "priority"  # one of SORTS
    limit: int = 100
    offset: int = 0


ALL_STATUSES = "all"
SORTS = {
    "priority": (Report.priority, Report.received_at, Report.id),
    "oldest": (Report.received_at, Report.id),
    "newest": (Report.received_at.desc(), Report.id.desc()),
    "score": (Report.score.desc(), Report.received_at, Report.id),
}


OPEN_STATUSES = (Status.NEW.value, Status.IN_REVIEW.value)


def _summary(r: Report) -> str:
    text = " ".join((r.text or "").split())
    if not text and r.urls:
        text = r.urls[0]
    return text[:160] + ("…" if len(text) > 160 else "")


def _country_clause(db: Database, country: str) -> ColumnElement[bool]:
    """The queue's country filter: a capability's (routing: the stated country or a weighty jurisdiction
    candidate, ``Capability.queue_filters``), else the stated country."""
    for cap in db.capabilities or ():
        found = cap.queue_filters.get("country")
        if found is not None:
            return found(country)
    return Report.country == country.upper()


def _where(db: Database, s: Session, f: QueueFilter) -> Any:
    q = select(Report).where(Report.submission_state == "complete")
    if f.status == ALL_STATUSES:
        pass
    elif f.status:
        q = q.where(Report.status == f.status)
    else:
        q = q.where(Report.status.in_(OPEN_STATUSES))
    for col, value in ((Report.category, f.category), (Report.language, f.language), (Report.source, f.source)):
        if value:
            q = q.where(col == value)
    if f.priority:
        q = q.where(Report.priority == f.priority)
    if f.owner == "mine":
        q = q.where(Report.assignee_id == (f.viewer_id if f.viewer_id is not None else -1))
    elif f.owner == "unassigned":
        q = q.where(Report.assignee_id.is_(None))
    if f.country:
        q = q.where(_country_clause(db, f.country))
    if f.q:
        q = q.where(Report.id.in_(find_reports(s, f.q, country=f.country)))
    return q


def queue(db: Database, f: QueueFilter) -> tuple[list[QueueItemOut], int]:
    """Reports by priority (P1 first), then oldest first (or as ``f.sort`` says); complete submissions only."""
    goal = shift.targets(db.settings)
    now = datetime.now(UTC)
    with db.reader() as s:
        q = _where(db, s, f)
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        order = SORTS.get(f.sort, SORTS["priority"])
        rows = s.scalars(q.options(selectinload(Report.assignee)).order_by(*order).limit(f.limit).offset(f.offset))
        items = [_item(r, goal, now) for r in rows]
        return items, int(total)


def _item(r: Report, goal: dict[int, int], now: datetime) -> QueueItemOut:
    is_open = r.status in OPEN_STATUSES
    return QueueItemOut(
        id=r.id,
        priority=r.priority,
        score=r.score,
        category=r.category,
        source=r.source,
        status=r.status,
        language=r.language,
        country=r.country,
        received_at=r.received_at,
        summary=_summary(r),
        reasons=[x["description"] for x in r.reasons],
        reason_rules=[x["rule"] for x in r.reasons],
        assignee=r.assignee.name if r.assignee else None,
        labels=list(r.labels or []),
        due_at=shift.due_at(r.received_at, r.priority, goal) if is_open and r.first_action_at is None else None,
        overdue=shift.is_overdue(r, goal, now),
    )


#: identifiers a query may name by their beginning (a handle typed in part)
PREFIX_KINDS = ("account", "telegram", "skype", "snapchat", "kik", "discord", "email", "whatsapp")
MIN_PREFIX = 3


def find_reports(s: Session, query: str, *, country: str | None = None, limit: int = 1000) -> set[int]:
    """Reports that hold every word of ``query`` (the blind word index), or any identifier the query
    names once read as the extractor reads a report (``country``: the queue's, for national phone
    forms; without one every reading of an ambiguous number counts), or a handle that begins with one of
    its words (``@ruby`` finds ``rubyvibe505`` on any platform)."""
    ids = set(search_reports(s, query, limit=limit))
    values: set[str] = set()
    for found in extract(query, country=country):
        values.add(found.value)
        values.update(str(v) for v, _c in found.alternatives or ())
    hits = select(Mention.report_id).join(Entity, Entity.id == Mention.entity_id)
    if values:
        ids.update(s.scalars(hits.where(Entity.value.in_(values)).limit(limit)))
    for word in {w.strip("@.,;:!?()\"'").lower() for w in query.split()}:
        if len(word) < MIN_PREFIX or not all(c.isalnum() or c in "._-" for c in word):
            continue
        like = word.replace("_", "\\_").replace("%", "\\%")
        prefixed = Entity.value.like(f"{like}%", escape="\\") | Entity.value.like(f"%/{like}%", escape="\\")
        ids.update(s.scalars(hits.where(Entity.kind.in_(PREFIX_KINDS), prefixed).limit(limit)))
    return ids


def _out(s: Session, r: Report) -> ReportOut:
    mentions = s.execute(
        select(Mention, Entity)
        .join(Entity, Mention.entity_id == Entity.id)
        .where(Mention.report_id == r.id)
        .order_by(Mention.id)
    ).all()
    return ReportOut(
        id=r.id,
        source=r.source,
        category=r.category,
        status=r.status,
        priority=r.priority,
        score=r.score,
        reasons=[ReasonOut(**x) for x in r.reasons],
        language=r.language,
        country=r.country,
        is_live=r.is_live,
        escalate=r.escalate,
        received_at=r.received_at,
        incident_at=r.incident_at,
        text=r.text,
        classification=r.classification,
        age_band=r.age_band,
        external_id=r.external_id,
        platform=r.platform.name if r.platform else None,
        entities=[
            EntityOut(
                kind=e.kind,
                value=e.value,
                confidence=m.confidence,
                field=m.field,
                start=m.start,
                end=m.end,
                disguise=m.disguise,
                alternatives=[(str(v), float(c)) for v, c in m.alternatives or []],
                linkable=m.linkable,
            )
            for m, e in mentions
            if e.kind not in BLIND_KINDS  # a keyed hash says nothing to a reader
        ],
        persons=r.persons,
        urls=r.urls,
        files=[
            {
                k: getattr(a, k)
                for k in ("id", "origin", "filename", "media_type", "size", "md5", "sha1", "sha256", "pdq")
            }
            | {"details": a.details}
            for a in r.attachments
        ],
        details=r.details,
    )


def get_report(
    db: Database, report_id: int, *, viewer: Principal | None = None, platform_id: int | None = None
) -> ReportOut:
    """A report as staff see it (audited), or as its own platform sees it (``platform_id``)."""
    with db.session() as s:
        r = s.get(Report, report_id, options=[selectinload(Report.attachments), selectinload(Report.platform)])
        if r is None or (platform_id is not None and r.platform_id != platform_id):
            raise NotFound(f"no report {report_id}")
        if viewer is not None:
            record(s, viewer, "report.view", "report", report_id)
        return _out(s, r)


@dataclass
class ReportExtras:
    notes: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    contact: dict[str, Any] | None = None


def queue_languages(db: Database) -> list[str]:
    """The languages reports were filed in (the queue's language filter)."""
    with db.reader() as s:
        return sorted(x for x in s.scalars(select(Report.language).distinct()) if x)


def report_extras(db: Database, report_id: int, viewer: Principal, *, reveal_contact: bool = False) -> ReportExtras:
    """Notes and messages of a report; the reporter's contact only when asked for (and audited)."""
    with db.session() as s:
        r = s.get(Report, report_id)
        if r is None:
            raise NotFound(f"no report {report_id}")
        notes = [
            {"at": n.at, "by": n.user.name if n.user else "?", "body": n.body}
            for n in s.scalars(select(ReportNote).where(ReportNote.report_id == report_id).order_by(ReportNote.id))
        ]
        fus = [
            {"at": f.at, "author": f.author, "body": f.body}
            for f in s.scalars(select(FollowUp).where(FollowUp.report_id == report_id).order_by(FollowUp.id))
        ]
        contact = None
        if r.contact_sealed is not None:
            if reveal_contact:
                contact = json.loads(r.contact_sealed)
                record(s, viewer, "report.contact.view", "report", report_id)
            else:
                contact = {"hidden": True}
        return ReportExtras(notes, fus, contact)


def update_report(
    db: Database,
    report_id: int,
    actor: Principal,
    *,
    status: Status | None = None,
    classification: Classification | None = None,
    age_band: AgeBand | None = None,
    note: str | None = None,
) -> None:
    if note is not None and len(note) > 20_000:
        raise ValueError("the note is longer than 20,000 characters")
    with db.session() as s:
        r = s.get(Report, report_id)
        if r is None:
            raise NotFound(f"no report {report_id}")
        changes: dict[str, Any] = {}
        if status is not None and status.value != r.status:
            changes["status"] = [r.status, status.value]
            r.status = status.value
        if classification is not None and classification.value != r.classification:
            changes["classification"] = [r.classification, classification.value]
            r.classification = classification.value
        if age_band is not None and age_band.value != r.age_band:
            changes["age_band"] = [r.age_band, age_band.value]
            r.age_band = age_band.value
        if note and note.strip():
            s.add(
                ReportNote(report_id=report_id, user_id=actor.id if actor.kind == "user" else None, body=note.strip())
            )
            changes["note"] = True
        if changes:
            shift.mark_first_action(s, r)
            record(s, actor, "report.update", "report", report_id, **changes)


def choose_reading(db: Database, report_id: int, actor: Principal, key: str, value: str) -> None:
    """An analyst confirms one reading of an ambiguous value (``key``: the mention's field and start, as
    :func:`tipline.intake.service.reading_key` writes it). The report is analysed again: the chosen
    reading becomes its identifier and links like any other."""
    with db.session() as s:
        r = s.get(Report, report_id)
        if r is None:
            raise NotFound(f"no report {report_id}")
        field_, _, start = key.partition(":")
        q = select(Mention, Entity).join(Entity, Entity.id == Mention.entity_id).where(Mention.report_id == report_id)
        readings: set[str] = set()
        for m, e in s.execute(q.where(Mention.field == field_)):
            if str(m.start if m.start is not None else "") == start and m.alternatives:
                readings |= {e.value} | {str(v) for v, _ in m.alternatives}
        if value not in readings:
            raise ValueError("that is not a reading of an ambiguous value of this report")
        details = dict(r.details or {})
        details["readings"] = {**(details.get("readings") or {}), key: value}
        r.details = details
        record(s, actor, "report.reading", "report", report_id, field=field_, start=start)
    analyse_report(db, report_id)


def message_reporter(db: Database, report_id: int, actor: Principal, body: str) -> None:
    body = body.strip()
    if not body or len(body) > 20_000:
        raise ValueError("a message is 1 to 20,000 characters")
    with db.session() as s:
        r = s.get(Report, report_id)
        if r is None:
            raise NotFound(f"no report {report_id}")
        if r.receipt_lookup is None:
            raise ValueError("only public reports (with a receipt) can receive messages")
        s.add(FollowUp(report_id=report_id, author="staff", user_id=actor.id, body=body))
        record(s, actor, "report.message", "report", report_id)


@dataclass
class EntityView:
    kind: str
    value: str
    first_seen: datetime
    last_seen: datetime
    report_count: int
    reports: list[dict[str, Any]]
    co_occurring: list[dict[str, Any]]


def entity_view(db: Database, kind: str, value: str, viewer: Principal | None = None) -> EntityView:
    with db.session() as s:
        e = s.scalar(select(Entity).where(Entity.kind == kind, Entity.value == value))
        if e is None:
            raise NotFound(f"no {kind[:32]} {value[:200]!r} in any report")
        rows = s.execute(
            select(Report.id, Report.priority, Report.category, Report.received_at, Report.status, Mention.field)
            .join(Mention, Mention.report_id == Report.id)
            .where(Mention.entity_id == e.id)
            .order_by(Report.received_at.desc())
        ).all()
        reports: dict[int, dict[str, Any]] = {}
        for rid, prio, cat, at, st, fld in rows:
            item = reports.setdefault(
                rid, {"id": rid, "priority": prio, "category": cat, "received_at": at, "status": st, "fields": []}
            )
            if fld not in item["fields"]:
                item["fields"].append(fld)
        report_ids = list(reports)
        co = (
            s.execute(
                select(Entity.kind, Entity.value, func.count(func.distinct(Mention.report_id)).label("n"))
                .join(Mention, Mention.entity_id == Entity.id)
                .where(Mention.report_id.in_(report_ids), Entity.id != e.id, Entity.kind.not_in(BLIND_KINDS))
                .group_by(Entity.kind, Entity.value)
                .order_by(func.count(func.distinct(Mention.report_id)).desc(), Entity.kind, Entity.value)
                .limit(50)
            ).all()
            if report_ids
            else []
        )
        if viewer is not None:
            record(s, viewer, "entity.view", "entity", e.id)
        return EntityView(
            e.kind,
            e.value,
            e.first_seen,
            e.last_seen,
            len(reports),
            list(reports.values()),
            [{"kind": k, "value": v, "reports": n} for k, v, n in co],
        )
