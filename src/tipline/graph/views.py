"""What the graph shows about networks and identifiers: the largest networks, one network's view, the
graph's facts about an identifier. Reads (and audits a staff member's view); changes nothing else."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.errors import NotFound
from tipline.graph import network as net
from tipline.graph.guard import Guard, load_guard
from tipline.graph.models import CaseReport, EntityNetwork, ReportNetwork
from tipline.store import Database
from tipline.store.models import BLIND_KINDS, Entity, Mention, Report

PHONE_KINDS = ("phone", "whatsapp")
MAX_LIST = 500  # reports or entities listed on one network page


def _phone_country(value: str) -> str | None:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(value))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None


@dataclass
class NetworkSummary:
    id: int
    reports: int
    entities: int
    countries: list[str]
    highest_priority: int | None = None
    last_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reports": self.reports,
            "entities": self.entities,
            "countries": self.countries,
            "highest_priority": self.highest_priority,
            "last_at": self.last_at.isoformat() if self.last_at else None,
        }


def _countries(s: Session, nids: list[int]) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = {n: Counter() for n in nids}
    for part in net.chunks(nids):
        for nid, country, n in s.execute(
            select(ReportNetwork.network_id, Report.country, func.count())
            .join(Report, Report.id == ReportNetwork.report_id)
            .where(ReportNetwork.network_id.in_(part), Report.country.is_not(None))
            .group_by(ReportNetwork.network_id, Report.country)
        ):
            if country is not None:
                out[nid][country] += int(n)
        for nid, value in s.execute(
            select(EntityNetwork.network_id, Entity.value)
            .join(Entity, Entity.id == EntityNetwork.entity_id)
            .where(EntityNetwork.network_id.in_(part), Entity.kind.in_(PHONE_KINDS))
        ):
            c = _phone_country(value)
            if c:
                out[nid][c] += 1
    return out


def list_networks(db: Database, *, limit: int = 20, min_reports: int = 2) -> list[NetworkSummary]:
    """The largest networks (most reports first)."""
    with db.reader() as s:
        rows = s.execute(
            select(ReportNetwork.network_id, func.count().label("n"))
            .group_by(ReportNetwork.network_id)
            .having(func.count() >= min_reports)
            .order_by(func.count().desc(), ReportNetwork.network_id)
            .limit(limit)
        ).all()
        nids = [int(n) for n, _c in rows]
        if not nids:
            return []
        ents = dict(
            s.execute(
                select(EntityNetwork.network_id, func.count())
                .where(EntityNetwork.network_id.in_(nids))
                .group_by(EntityNetwork.network_id)
            ).all()
        )
        facts = {
            nid: (p, last)
            for nid, p, last in s.execute(
                select(ReportNetwork.network_id, func.min(Report.priority), func.max(Report.received_at))
                .join(Report, Report.id == ReportNetwork.report_id)
                .where(ReportNetwork.network_id.in_(nids))
                .group_by(ReportNetwork.network_id)
            )
        }
        countries = _countries(s, nids)
        return [
            NetworkSummary(
                nid,
                int(c),
                int(ents.get(nid, 0)),
                sorted(countries[nid]),
                facts.get(nid, (None, None))[0],
                facts.get(nid, (None, None))[1],
            )
            for nid, c in rows
        ]


def network_id_of_report(db: Database, report_id: int) -> int | None:
    with db.reader() as s:
        return net.network_of_report(s, report_id)


def network_id_of_evidence(db: Database, evidence_id: int) -> int | None:
    """The network of an evidence item: the one its linking entities are in (``None``: not linked to a report)."""
    with db.reader() as s:
        return net.network_of_evidence(s, evidence_id)


@dataclass
class NetworkView:
    id: int
    report_count: int
    entity_count: int
    reports: list[dict[str, Any]]
    entities: list[dict[str, Any]]
    excluded: list[dict[str, Any]]
    countries: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    highest_priority: int | None
    first_at: datetime | None
    last_at: datetime | None
    timeline: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def timeline_of(times: list[datetime], *, max_days: int = 400) -> list[dict[str, Any]]:
    """Reports per day from the first to the last (days without reports included, so the bars keep the
    time axis); per month when the span is longer than ``max_days``."""
    days = [t.astimezone(UTC).date() for t in times if t is not None]
    if not days:
        return []
    first, last = min(days), max(days)
    if (last - first).days > max_days:
        months = Counter(d.strftime("%Y-%m") for d in days)
        out, y, m = [], first.year, first.month
        while (y, m) <= (last.year, last.month):
            key = f"{y:04d}-{m:02d}"
            out.append({"day": key, "reports": months.get(key, 0)})
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
    per_day = Counter(d.isoformat() for d in days)
    span = (last - first).days + 1
    return [
        {"day": (d := first + timedelta(days=i)).isoformat(), "reports": per_day.get(d.isoformat(), 0)}
        for i in range(span)
    ]


def _network_reports(s: Session, rids: list[int]) -> list[Any]:
    reports: list[Any] = []
    for part in net.chunks(rids):
        reports += s.execute(
            select(
                Report.id,
                Report.priority,
                Report.category,
                Report.status,
                Report.country,
                Report.received_at,
                Report.incident_at,
                Report.source,
            ).where(Report.id.in_(part))
        ).all()
    reports.sort(key=lambda r: (r.priority, -r.received_at.timestamp()))
    return reports


def _network_excluded(s: Session, guard: Guard, rids: list[int], member_ids: set[int]) -> list[dict[str, Any]]:
    """Identifiers the network's reports share that do not link (warning list, degree limits)."""
    excluded: dict[int, dict[str, Any]] = {}
    for part in net.chunks(rids):
        for eid, kind, value, count, items in s.execute(
            select(Entity.id, Entity.kind, Entity.value, Entity.report_count, Entity.evidence_count)
            .join(Mention, Mention.entity_id == Entity.id)
            .where(Mention.report_id.in_(part), Entity.kind.not_in(BLIND_KINDS))
            .distinct()
        ):
            if eid in member_ids or eid in excluded:
                continue
            v = guard.verdict(kind, value, int(count or 0) + int(items or 0))
            excluded[eid] = {
                "id": eid,
                "kind": kind,
                "value": value,
                "reports": int(count or 0),
                "reason": v.reason,
                "by": v.by,
            }
    return sorted(excluded.values(), key=lambda x: (-x["reports"], x["kind"], x["value"]))[:MAX_LIST]


def _network_cases(s: Session, rids: list[int]) -> list[dict[str, Any]]:
    from tipline.graph.models import Case

    cases: list[Any] = []
    for part in net.chunks(rids):
        cases += s.execute(
            select(Case.id, Case.title, Case.status)
            .join(CaseReport, CaseReport.case_id == Case.id)
            .where(CaseReport.report_id.in_(part))
            .distinct()
        ).all()
    return sorted(({"id": c.id, "title": c.title, "status": c.status} for c in cases), key=lambda c: c["id"])


def network_view(db: Database, network_id: int, viewer: Principal | str | None = None) -> NetworkView:
    with db.session() as s:
        rids = list(s.scalars(select(ReportNetwork.report_id).where(ReportNetwork.network_id == network_id)))
        if not rids:
            raise NotFound(f"no network {network_id}")
        reports = _network_reports(s, rids)
        ents = s.execute(
            select(Entity.id, Entity.kind, Entity.value, Entity.report_count, Entity.first_seen, Entity.last_seen)
            .join(EntityNetwork, EntityNetwork.entity_id == Entity.id)
            .where(EntityNetwork.network_id == network_id)
            .order_by(Entity.report_count.desc(), Entity.kind, Entity.value)
        ).all()
        excluded = _network_excluded(s, load_guard(s, db.settings), rids, {e.id for e in ents})
        countries = _countries(s, [network_id])[network_id]
        cats = Counter(r.category for r in reports)
        cases = _network_cases(s, rids)
        if viewer is not None:
            record(s, viewer, "network.view", "network", network_id)
        times = [r.incident_at or r.received_at for r in reports]
        return NetworkView(
            id=network_id,
            report_count=len(reports),
            entity_count=len(ents),
            reports=[
                {
                    "id": r.id,
                    "priority": r.priority,
                    "category": r.category,
                    "status": r.status,
                    "country": r.country,
                    "received_at": r.received_at,
                    "incident_at": r.incident_at,
                    "source": r.source,
                }
                for r in reports[:MAX_LIST]
            ],
            entities=[
                {
                    "id": e.id,
                    "kind": e.kind,
                    "value": e.value,
                    "reports": e.report_count,
                    "first_seen": e.first_seen,
                    "last_seen": e.last_seen,
                }
                for e in ents[:MAX_LIST]
            ],
            excluded=excluded,
            countries=[{"country": c, "count": n} for c, n in countries.most_common()],
            categories=[{"category": c, "count": n} for c, n in cats.most_common()],
            highest_priority=min((r.priority for r in reports), default=None),
            first_at=min(times, default=None),
            last_at=max(times, default=None),
            timeline=timeline_of(times),
            cases=cases,
            truncated=len(reports) > MAX_LIST or len(ents) > MAX_LIST,
        )


# ------------------------------------------------------------------------------------------ entities


@dataclass
class EntityDetails:
    id: int
    kind: str
    value: str
    report_count: int
    first_seen: datetime
    last_seen: datetime
    excluded: bool
    reason: str | None
    excluded_by: str | None
    exclusion_id: int | None
    degree_limit: int
    network_id: int | None  # the network it belongs to; None when excluded
    touches_networks: list[int]  # networks of the reports that name it (several when excluded)
    countries: list[dict[str, Any]]
    mentions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


def entity_details(
    db: Database, kind: str, value: str, *, mentions: int = 500, viewer: Principal | None = None
) -> EntityDetails:
    """What the graph knows about an entity: excluded or not (and why), its network, countries, mentions.
    With ``viewer`` the view is audited (``entity.view``)."""
    with db.session() if viewer is not None else db.reader() as s:
        e = s.scalar(select(Entity).where(Entity.kind == kind, Entity.value == value))
        if e is None:
            raise NotFound(f"no {kind[:32]} {value[:200]!r} in any report")
        guard = load_guard(s, db.settings)
        v = guard.verdict(e.kind, e.value, e.degree)
        nid = s.scalar(select(EntityNetwork.network_id).where(EntityNetwork.entity_id == e.id))
        rows = s.execute(
            select(
                Mention.report_id,
                Mention.field,
                Mention.confidence,
                Report.received_at,
                Report.country,
                Report.priority,
                ReportNetwork.network_id,
            )
            .join(Report, Report.id == Mention.report_id)
            .outerjoin(ReportNetwork, ReportNetwork.report_id == Mention.report_id)
            .where(Mention.entity_id == e.id)
            .order_by(Report.received_at.desc(), Mention.id)
        ).all()
        countries: Counter[str] = Counter()
        seen_reports: set[int] = set()
        for r in rows:
            if r.country and r.report_id not in seen_reports:
                countries[r.country] += 1
            seen_reports.add(r.report_id)
        if e.kind in PHONE_KINDS:
            c = _phone_country(e.value)
            if c and c not in countries:
                countries[c] = 1  # the number's own country, even when no report states it
        if viewer is not None:
            record(s, viewer, "entity.view", "entity", e.id)
        return EntityDetails(
            id=e.id,
            kind=e.kind,
            value=e.value,
            report_count=e.report_count,
            first_seen=e.first_seen,
            last_seen=e.last_seen,
            excluded=not v.links and e.degree > 0,
            reason=v.reason,
            excluded_by=v.by,
            exclusion_id=v.exclusion_id,
            degree_limit=guard.limit(e.kind),
            network_id=nid,
            touches_networks=sorted({r.network_id for r in rows if r.network_id is not None}),
            countries=[{"country": c, "count": n} for c, n in countries.most_common()],
            mentions=[
                {
                    "report_id": r.report_id,
                    "field": r.field,
                    "confidence": r.confidence,
                    "received_at": r.received_at,
                    "priority": r.priority,
                    "network_id": r.network_id,
                }
                for r in rows[:mentions]
            ],
        )
