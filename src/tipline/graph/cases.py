"""Cases: a set of reports an investigator works as one operation (TheHive's cases, with tipline's reports
as the observables' carriers).

A case is made from a network (all its reports) or by hand; reports are added and removed; it has an
assignee, a status (open, in progress, closed), a TLP 2.0 marking, notes, and a timeline of everything
that happened to it (``case_events``). While a case is not closed, a new report that shares a linking
identifier with one of its reports shows up in the case's feed (an event of kind ``feed``) and the
``open_case`` triage rule raises that report. Every change is also an audit event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.errors import NotFound
from tipline.evidence.models import EvidenceItem
from tipline.graph import network as net
from tipline.graph.guard import Guard
from tipline.graph.models import Case, CaseEvent, CaseEvidence, CaseNote, CaseReport, ReportNetwork
from tipline.graph.views import _countries, _jsonable, timeline_of
from tipline.store import Database
from tipline.store.lists import in_list
from tipline.store.models import Mention, Report, User


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class TLP(StrEnum):
    """FIRST's Traffic Light Protocol 2.0 (2022)."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


ACTIVE = (CaseStatus.OPEN.value, CaseStatus.IN_PROGRESS.value)
MAX_TITLE = 200
MAX_BODY = 20_000


class CaseError(ValueError):
    """A case request that cannot be done; the message says why."""


def _who(actor: Principal | str) -> str:
    return actor.label if isinstance(actor, Principal) else actor


def _event(
    s: Session, case: Case, actor: Principal | str, kind: str, report_id: int | None = None, **details: Any
) -> None:
    now = datetime.now(UTC)
    s.add(CaseEvent(case_id=case.id, at=now, actor=_who(actor), kind=kind, report_id=report_id, details=details))
    case.updated_at = now


def _no_nul(*texts: str | None) -> None:
    if any(t is not None and "\x00" in t for t in texts):
        raise CaseError("the text holds a NUL character")


def _title(title: str) -> str:
    _no_nul(title)
    title = " ".join(title.split())
    if not title or len(title) > MAX_TITLE:
        raise CaseError(f"a case title is 1 to {MAX_TITLE} characters")
    return title


def _existing_reports(s: Session, ids: set[int]) -> set[int]:
    found: set[int] = set()
    for part in net.chunks(ids):
        found.update(s.scalars(select(Report.id).where(Report.id.in_(part))))
    missing = ids - found
    if missing:
        raise NotFound(f"no report {', '.join(str(i) for i in sorted(missing)[:5])}")
    return found


def open_cases_of_network(db: Database, network_id: int) -> list[tuple[int, str]]:
    """(id, title) of the cases not closed that were made from this network: making another is likely a
    duplicate (the case page warns and links to them)."""
    with db.reader() as s:
        rows = s.execute(
            select(Case.id, Case.title)
            .where(Case.origin_network_id == network_id, Case.status != "closed")
            .order_by(Case.id)
        ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def create_case(
    db: Database,
    actor: Principal | str,
    *,
    title: str,
    report_ids: set[int] | None = None,
    network_id: int | None = None,
    tlp: str = TLP.AMBER.value,
    description: str = "",
    assignee: str | None = None,
) -> int:
    """Make a case from a network (every report in it) and/or a list of reports. Returns its id."""
    title = _title(title)
    tlp = TLP(tlp).value
    _no_nul(description, assignee)
    if len(description) > MAX_BODY:
        raise CaseError("the description is longer than 20,000 characters")
    with db.session() as s:
        ids = set(report_ids or ())
        if network_id is not None:
            members = set(s.scalars(select(ReportNetwork.report_id).where(ReportNetwork.network_id == network_id)))
            if not members:
                raise NotFound(f"no network {network_id}")
            ids |= members
        ids = _existing_reports(s, ids)
        case = Case(
            title=title,
            description=description.strip(),
            tlp=tlp,
            created_by=_who(actor),
            origin="network" if network_id is not None else "manual",
            origin_network_id=network_id,
            assignee_id=_user_id(s, assignee) if assignee else None,
        )
        s.add(case)
        s.flush()
        _event(s, case, actor, "created", origin=case.origin, network_id=network_id, reports=len(ids), tlp=tlp)
        for rid in sorted(ids):
            s.add(CaseReport(case_id=case.id, report_id=rid, added_by=_who(actor)))
        record(s, actor, "case.create", "case", case.id, reports=len(ids), network_id=network_id)
        return case.id


def _user_id(s: Session, name: str) -> int:
    uid = s.scalar(select(User.id).where(User.name == name, User.active.is_(True)))
    if uid is None:
        raise CaseError(f"no active user named {name!r}")
    return uid


def _case(s: Session, case_id: int) -> Case:
    case = s.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def add_reports(db: Database, case_id: int, report_ids: set[int], actor: Principal | str) -> int:
    """Add reports to a case; returns how many were new to it."""
    with db.session() as s:
        case = _case(s, case_id)
        ids = _existing_reports(s, set(report_ids))
        have = set(s.scalars(select(CaseReport.report_id).where(CaseReport.case_id == case_id)))
        new = sorted(ids - have)
        for rid in new:
            s.add(CaseReport(case_id=case_id, report_id=rid, added_by=_who(actor)))
            _event(s, case, actor, "report_added", rid)
        if new:
            record(s, actor, "case.reports.add", "case", case_id, reports=new)
        return len(new)


def add_evidence(db: Database, case_id: int, evidence_ids: set[int], actor: Principal | str) -> int:
    """Add evidence items (ads, payments, partners' records) to a case; returns how many were new to it.
    ``NotFound`` names the first id that is no evidence item."""
    with db.session() as s:
        case = _case(s, case_id)
        found = set(s.scalars(select(EvidenceItem.id).where(EvidenceItem.id.in_(evidence_ids))))
        missing = sorted(set(evidence_ids) - found)
        if missing:
            raise NotFound(f"no evidence item {missing[0]}")
        have = set(s.scalars(select(CaseEvidence.evidence_id).where(CaseEvidence.case_id == case_id)))
        new = sorted(found - have)
        for vid in new:
            s.add(CaseEvidence(case_id=case_id, evidence_id=vid, added_by=_who(actor)))
            _event(s, case, actor, "evidence_added", None, evidence_id=vid)
        if new:
            record(s, actor, "case.evidence.add", "case", case_id, evidence=new)
        return len(new)


def remove_report(db: Database, case_id: int, report_id: int, actor: Principal | str) -> None:
    with db.session() as s:
        case = _case(s, case_id)
        row = s.get(CaseReport, (case_id, report_id))
        if row is None:
            raise NotFound(f"report {report_id} is not in case {case_id}")
        s.delete(row)
        _event(s, case, actor, "report_removed", report_id)
        record(s, actor, "case.reports.remove", "case", case_id, report=report_id)


def update_case(
    db: Database,
    case_id: int,
    actor: Principal | str,
    *,
    title: str | None = None,
    status: str | None = None,
    tlp: str | None = None,
    assignee: str | None = None,
    unassign: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """Change a case; every change is a timeline event. Returns the changes ({field: [old, new]})."""
    _no_nul(description, assignee)
    with db.session() as s:
        case = _case(s, case_id)
        changes: dict[str, Any] = {}
        if title is not None and _title(title) != case.title:
            changes["title"] = [case.title, _title(title)]
            case.title = _title(title)
        if status is not None and CaseStatus(status).value != case.status:
            changes["status"] = [case.status, CaseStatus(status).value]
            case.status = CaseStatus(status).value
            case.closed_at = datetime.now(UTC) if case.status == CaseStatus.CLOSED else None
        if tlp is not None and TLP(tlp).value != case.tlp:
            changes["tlp"] = [case.tlp, TLP(tlp).value]
            case.tlp = TLP(tlp).value
        if description is not None and description.strip() != case.description:
            if len(description) > MAX_BODY:
                raise CaseError("the description is longer than 20,000 characters")
            changes["description"] = True
            case.description = description.strip()
        if unassign or assignee is not None:
            new_id = None if unassign or not assignee else _user_id(s, assignee)
            if new_id != case.assignee_id:
                old_name = case.assignee.name if case.assignee else None
                changes["assignee"] = [old_name, None if new_id is None else assignee]
                case.assignee_id = new_id
        for key, change in changes.items():
            _event(s, case, actor, key, **({"from": change[0], "to": change[1]} if isinstance(change, list) else {}))
        if changes:
            record(s, actor, "case.update", "case", case_id, **changes)
        return changes


def add_note(db: Database, case_id: int, actor: Principal, body: str) -> int:
    body = body.strip()
    _no_nul(body)
    if not body or len(body) > MAX_BODY:
        raise CaseError("a note is 1 to 20,000 characters")
    with db.session() as s:
        case = _case(s, case_id)
        note = CaseNote(
            case_id=case_id, user_id=actor.id if actor.kind == "user" else None, author=actor.name, body=body
        )
        s.add(note)
        s.flush()
        _event(s, case, actor, "note", note_id=note.id)
        record(s, actor, "case.note", "case", case_id)
        return note.id


def delete_case(db: Database, case_id: int, actor: Principal | str) -> None:
    with db.session() as s:
        case = _case(s, case_id)
        record(s, actor, "case.delete", "case", case_id, title=case.title)
        s.delete(case)


@dataclass
class CaseSummary:
    id: int
    title: str
    status: str
    tlp: str
    assignee: str | None
    reports: int
    highest_priority: int | None
    updated_at: datetime
    feed: int

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


def list_cases(
    db: Database, *, status: str | None = None, assignee: str | None = None, limit: int = 200
) -> list[CaseSummary]:
    with db.reader() as s:
        q = select(Case)
        if status == "active":
            q = q.where(Case.status.in_(ACTIVE))
        elif status:
            q = q.where(Case.status == CaseStatus(status).value)
        if assignee:
            q = q.join(User, User.id == Case.assignee_id).where(User.name == assignee)
        cases = list(s.scalars(q.order_by(Case.updated_at.desc(), Case.id.desc()).limit(limit)))
        ids = [c.id for c in cases]
        counts: dict[int, tuple[int, int | None]] = {}
        feeds: dict[int, int] = {}
        if ids:
            for cid, n, p in s.execute(
                select(CaseReport.case_id, func.count(), func.min(Report.priority))
                .join(Report, Report.id == CaseReport.report_id)
                .where(CaseReport.case_id.in_(ids))
                .group_by(CaseReport.case_id)
            ):
                counts[cid] = (int(n), p)
            feeds = dict(
                s.execute(
                    select(CaseEvent.case_id, func.count())
                    .where(CaseEvent.case_id.in_(ids), CaseEvent.kind == "feed")
                    .group_by(CaseEvent.case_id)
                ).all()
            )
        return [
            CaseSummary(
                c.id,
                c.title,
                c.status,
                c.tlp,
                c.assignee.name if c.assignee else None,
                counts.get(c.id, (0, None))[0],
                counts.get(c.id, (0, None))[1],
                c.updated_at,
                int(feeds.get(c.id, 0)),
            )
            for c in cases
        ]


@dataclass
class CaseView:
    id: int
    title: str
    description: str
    status: str
    tlp: str
    assignee: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    origin: str
    origin_network_id: int | None
    reports: list[dict[str, Any]]
    networks: list[int]
    countries: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    highest_priority: int | None
    counts: dict[str, int]
    events: list[dict[str, Any]]
    feed: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    evidence: list[dict[str, Any]] = field(default_factory=list)  # ads, payments, partners' records

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


def _case_reports(s: Session, case_id: int) -> list[Any]:
    """The case's reports with their network and who added them, most urgent first."""
    return list(
        s.execute(
            select(
                Report.id,
                Report.priority,
                Report.category,
                Report.status,
                Report.country,
                Report.received_at,
                Report.incident_at,
                ReportNetwork.network_id,
                CaseReport.added_at,
                CaseReport.added_by,
            )
            .join(CaseReport, CaseReport.report_id == Report.id)
            .outerjoin(ReportNetwork, ReportNetwork.report_id == Report.id)
            .where(CaseReport.case_id == case_id)
            .order_by(Report.priority, Report.received_at.desc())
        ).all()
    )


def _case_evidence(s: Session, case_id: int) -> list[dict[str, Any]]:
    """The evidence items (ads, payments, records) held by the case."""
    return [
        {"id": v.id, "kind": v.kind, "source": v.source, "external_id": v.external_id, "added_by": c.added_by}
        for v, c in s.execute(
            select(EvidenceItem, CaseEvidence)
            .join(CaseEvidence, CaseEvidence.evidence_id == EvidenceItem.id)
            .where(CaseEvidence.case_id == case_id)
            .order_by(EvidenceItem.id)
        )
    ]


def get_case(db: Database, case_id: int, viewer: Principal | str | None = None) -> CaseView:
    with db.session() as s:
        case = _case(s, case_id)
        reps = _case_reports(s, case_id)
        nids = sorted({r.network_id for r in reps if r.network_id is not None})
        countries: Counter[str] = Counter()
        for c in _countries(s, nids).values():
            countries.update(c)
        events = [
            {"id": e.id, "at": e.at, "actor": e.actor, "kind": e.kind, "report_id": e.report_id, "details": e.details}
            for e in s.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
            )
        ]
        notes = [
            {"id": n.id, "at": n.at, "author": n.author, "body": n.body}
            for n in s.scalars(select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.at, CaseNote.id))
        ]
        feed = [e for e in events if e["kind"] == "feed"]
        evidence = _case_evidence(s, case_id)
        if viewer is not None:
            record(s, viewer, "case.view", "case", case_id)
        return CaseView(
            id=case.id,
            title=case.title,
            description=case.description,
            status=case.status,
            tlp=case.tlp,
            assignee=case.assignee.name if case.assignee else None,
            created_by=case.created_by,
            created_at=case.created_at,
            updated_at=case.updated_at,
            closed_at=case.closed_at,
            origin=case.origin,
            origin_network_id=case.origin_network_id,
            reports=[
                {
                    "id": r.id,
                    "priority": r.priority,
                    "category": r.category,
                    "status": r.status,
                    "country": r.country,
                    "received_at": r.received_at,
                    "network_id": r.network_id,
                    "added_at": r.added_at,
                    "added_by": r.added_by,
                }
                for r in reps
            ],
            networks=nids,
            countries=[{"country": c, "count": n} for c, n in countries.most_common()],
            categories=[{"category": c, "count": n} for c, n in Counter(r.category for r in reps).most_common()],
            highest_priority=min((r.priority for r in reps), default=None),
            counts={
                "reports": len(reps),
                "networks": len(nids),
                "open_reports": sum(1 for r in reps if r.status in ("new", "in_review")),
                "feed": len(feed),
                "notes": len(notes),
            },
            events=events,
            feed=feed,
            notes=notes,
            activity=timeline_of([r.incident_at or r.received_at for r in reps]),
            evidence=evidence,
        )


# ------------------------------------------------------------------------------------------ analysis


# every analysis runs it (the graph's before-score hook): built once, on the tables (not the mapped classes:
# the ORM's compile and result set-up cost a statement 70 us more, see graph.network)
_CR, _M, _C = (cast(Table, m.__table__) for m in (CaseReport, Mention, Case))
_OPEN_CASES_NAMING = (
    select(_CR.c.case_id, _M.c.entity_id)
    .select_from(_CR.join(_M, _M.c.report_id == _CR.c.report_id).join(_C, _C.c.id == _CR.c.case_id))
    .where(
        in_list(_M.c.entity_id, "ids"),
        _M.c.report_id != bindparam("report_id"),
        _M.c.linkable.is_(True),
        _C.c.status.in_(ACTIVE),
    )
    .distinct()
)


def open_cases_sharing(
    s: Session,
    guard: Guard,
    report_id: int,
    entity_ids: set[int],
    info: dict[int, tuple[str, str, int]] | None = None,
) -> dict[int, list[int]]:
    """Open (not closed) cases with another report that names a *linking* entity of this report:
    {case id: [shared entity ids]}. Excluded values (hubs) never tie a report to a case. ``info``: the
    entities' :func:`~tipline.graph.network.entity_info`, when the caller read it already."""
    if not entity_ids:
        return {}
    if info is None:
        info = net.entity_info(s, entity_ids)
    linking = [e for e in entity_ids if e in info and guard.links(*info[e])]
    out: dict[int, set[int]] = {}
    for part in net.chunks(linking):
        for cid, eid in s.execute(_OPEN_CASES_NAMING, {"ids": part, "report_id": report_id}):
            out.setdefault(cid, set()).add(eid)
    return {c: sorted(e) for c, e in sorted(out.items())}


def feed_in(s: Session, report_id: int, shared: dict[int, list[int]]) -> int:
    """Add a feed event to each open case this report touches (once per case and report, and not for a
    report already in the case). Returns how many were added."""
    if not shared:
        return 0
    cids = sorted(shared)
    members = set(
        s.scalars(select(CaseReport.case_id).where(CaseReport.report_id == report_id, CaseReport.case_id.in_(cids)))
    )
    seen = set(
        s.scalars(
            select(CaseEvent.case_id).where(
                CaseEvent.report_id == report_id, CaseEvent.kind == "feed", CaseEvent.case_id.in_(cids)
            )
        )
    )
    n = 0
    for cid in cids:
        if cid in members or cid in seen:
            continue
        case = s.get(Case, cid)
        assert case is not None
        _event(s, case, "analysis", "feed", report_id, entity_ids=shared[cid])
        n += 1
    return n
