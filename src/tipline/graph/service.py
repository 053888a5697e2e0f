"""Entity-graph services: networks, the guard's settings (warning list, degree limits), entity details and
the Cytoscape elements of the graph view. Cases are in :mod:`tipline.graph.cases`.

Front ends call these with a :class:`~tipline.store.Database`; the analysis hooks call the ``*_in``
functions with the analysis session (they must not open a second write session).
"""

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
from tipline.graph.guard import (
    POOLED,
    Exclusion,
    Guard,
    GuardError,
    LimitRule,
    builtin_entries,
    compile_pattern,
    derive_limits,
    load_guard,
)
from tipline.graph.models import CaseReport, CorrelationExclusion, DegreeLimit, EntityNetwork, ReportNetwork
from tipline.store import Database
from tipline.store.models import Entity, Mention, Report

PHONE_KINDS = ("phone", "whatsapp")
MAX_LIST = 500  # reports or entities listed on one network page


def guard_for(db: Database, s: Session | None = None) -> Guard:
    if s is not None:
        return load_guard(s, db.settings)
    with db.reader() as r:
        return load_guard(r, db.settings)


# ------------------------------------------------------------------------------------------ degree limits


def _degree_histogram(s: Session) -> dict[str, dict[int, int]]:
    hist: dict[str, dict[int, int]] = {}
    q = (
        select(Entity.kind, Entity.report_count, func.count())
        .where(Entity.report_count >= 2)
        .group_by(Entity.kind, Entity.report_count)
    )
    for kind, degree, n in s.execute(q):
        hist.setdefault(kind, {})[int(degree)] = int(n)
    return hist


def refresh_limits_in(
    s: Session, settings: Any, *, at_report: int | None = None, relink: bool = True
) -> list[dict[str, Any]]:
    """Derive the per-kind limits from the current degree distribution and store them (manual limits
    stay). Entities whose verdict flips are relinked. Returns the changes."""
    net.serialize(s)
    before = load_guard(s, settings)
    rule = LimitRule.from_settings(settings)
    derived = derive_limits(_degree_histogram(s), rule, int(getattr(settings, "graph_degree_limit_default", 100)))
    every = int(getattr(settings, "graph_limits_refresh_every", 500))
    rows = {r.kind: r for r in s.scalars(select(DegreeLimit))}
    now = datetime.now(UTC)
    changes: list[dict[str, Any]] = []
    for kind, d in derived.items():
        details = {k: v for k, v in d.items() if k != "limit"}
        if kind == POOLED and at_report is not None:
            details["next_refresh_at_report"] = at_report + max(1, min(at_report, every))
        row = rows.get(kind)
        if row is None:
            s.add(DegreeLimit(kind=kind, limit=d["limit"], source="auto", details=details, computed_at=now))
        elif row.source == "manual":
            continue
        else:
            row.limit, row.details, row.computed_at = d["limit"], details, now
        old = before.limit(kind)
        if old != d["limit"]:
            changes.append({"kind": kind, "old": old, "new": d["limit"]})
    s.flush()
    if relink and changes:
        after = load_guard(s, settings)
        flipped: set[int] = set()
        for c in changes:
            lo, hi = sorted((c["old"], c["new"]))
            q = select(Entity.id).where(Entity.report_count > lo, Entity.report_count <= hi)
            if c["kind"] == POOLED:
                q = q.where(Entity.kind.not_in([k for k in derived if k != POOLED]))
            else:
                q = q.where(Entity.kind == c["kind"])
            flipped.update(s.scalars(q))
        if flipped:
            net.relink(s, after, set(), flipped)
    return changes


def set_manual_limit(db: Database, kind: str, limit: int | None, actor: Principal | str) -> None:
    """Pin a kind's limit (``limit``) or give it back to the automatic rule (None)."""
    if limit is not None and limit < 1:
        raise GuardError("a limit is at least 1")
    if not kind or len(kind) > 32 or "\x00" in kind:
        raise GuardError("name the kind of identifier (phone, email, domain, btc, ...)")
    with db.session() as s:
        before = load_guard(s, db.settings)
        row = s.get(DegreeLimit, kind)
        who = actor.label if isinstance(actor, Principal) else actor
        if limit is None:
            if row is not None and row.source == "manual":
                s.delete(row)
        elif row is None:
            s.add(DegreeLimit(kind=kind, limit=limit, source="manual", details={}, set_by=who))
        else:
            row.limit, row.source, row.set_by, row.computed_at = limit, "manual", who, datetime.now(UTC)
        s.flush()
        if limit is None:
            refresh_limits_in(s, db.settings, relink=False)
        after = load_guard(s, db.settings)
        lo, hi = sorted((before.limit(kind), after.limit(kind)))
        ids = set(
            s.scalars(select(Entity.id).where(Entity.kind == kind, Entity.report_count > lo, Entity.report_count <= hi))
        )
        if ids:
            net.relink(s, after, set(), ids)
        record(s, actor, "graph.limit", "entity_kind", kind, limit=limit)


def limits(db: Database) -> list[dict[str, Any]]:
    with db.reader() as s:
        return [
            {
                "kind": r.kind,
                "limit": r.limit,
                "source": r.source,
                "details": r.details,
                "set_by": r.set_by,
                "computed_at": r.computed_at,
            }
            for r in s.scalars(select(DegreeLimit).order_by(DegreeLimit.kind))
        ]


# ------------------------------------------------------------------------------------------ analysis


def on_report_analysed(
    s: Session, settings: Any, report_id: int, entity_ids: set[int], removed_entity_ids: set[int]
) -> int:
    """The incremental update the after-analysis hook makes (and the bench times): refresh the limits
    when due, then bring this report's networks up to date. Returns its network id."""
    net.serialize(s)
    pooled = s.get(DegreeLimit, POOLED)
    due = pooled is None or report_id >= int((pooled.details or {}).get("next_refresh_at_report", 0))
    if due and bool(getattr(settings, "graph_guard", True)):
        refresh_limits_in(s, settings, at_report=report_id)
    guard = load_guard(s, settings)
    return net.update_for_report(s, guard, report_id, set(entity_ids), set(removed_entity_ids))


def forget_in(s: Session, settings: Any, entity_ids: set[int]) -> None:
    """After reports were deleted (retention) inside ``s``: relink the networks of the entities they named.
    Call it after the deletion and after ``Entity.report_count`` was refreshed for ``entity_ids``; the
    deleted reports' own rows went with them (ON DELETE CASCADE)."""
    if entity_ids:
        net.relink(s, load_guard(s, settings), set(), set(entity_ids))


def recompute(db: Database, *, refresh: bool = True, step: net.Step | None = None) -> net.RecomputeResult:
    """Full recompute of every network (and, with ``refresh``, of the automatic degree limits first)."""
    with db.session() as s:
        net.serialize(s)
        if refresh and db.settings.graph_guard:
            if step:
                step("deriving degree limits")
            refresh_limits_in(s, db.settings, relink=False)
        return net.recompute_all(s, load_guard(s, db.settings), step)


# ------------------------------------------------------------------------------------------ warning list


def _exclusion_dict(e: Exclusion) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "value": e.value,
        "pattern": e.pattern,
        "reason": e.reason,
        "added_by": e.added_by,
        "added_at": e.added_at,
        "builtin": e.builtin,
    }


def list_exclusions(db: Database, *, builtin: bool = True) -> list[dict[str, Any]]:
    with db.reader() as s:
        rows = [
            Exclusion(r.kind, r.value, r.pattern, r.reason, r.added_by, r.added_at, r.id)
            for r in s.scalars(select(CorrelationExclusion).order_by(CorrelationExclusion.id))
        ]
    if builtin and db.settings.graph_builtin_warnings:
        rows += list(builtin_entries())
    return [_exclusion_dict(e) for e in rows]


def _matching_entities(s: Session, kind: str, value: str | None, pattern: str | None) -> set[int]:
    if value is not None:
        return set(s.scalars(select(Entity.id).where(Entity.kind == kind, Entity.value == value)))
    rx = compile_pattern(pattern or "")
    return {eid for eid, v in s.execute(select(Entity.id, Entity.value).where(Entity.kind == kind)) if rx.fullmatch(v)}


def add_exclusion(
    db: Database,
    kind: str,
    *,
    value: str | None = None,
    pattern: str | None = None,
    reason: str,
    actor: Principal | str,
) -> int:
    """Add a warning-list entry; the networks it touched are relinked at once. Returns its id."""
    kind, reason = kind.strip().lower(), reason.strip()
    if any("\x00" in x for x in (kind, value or "", pattern or "", reason)):
        raise GuardError("the entry holds a NUL character")
    if not kind or len(kind) > 32:
        raise GuardError("name the kind of identifier (phone, email, domain, btc, ...)")
    if (value is None) == (pattern is None):
        raise GuardError("give either a value or a pattern")
    if value is not None:
        value = value.strip()
        if not value or len(value) > 512:
            raise GuardError("a value is 1 to 512 characters")
        from tipline.extract import normalise

        value = normalise(kind, value) or value
    if pattern is not None:
        compile_pattern(pattern)
    if not reason or len(reason) > 2000:
        raise GuardError("say why (1 to 2,000 characters): the reason is shown on the entity's page")
    who = actor.label if isinstance(actor, Principal) else actor
    with db.session() as s:
        dup = s.scalar(
            select(CorrelationExclusion.id).where(
                CorrelationExclusion.kind == kind,
                CorrelationExclusion.value == value if value is not None else CorrelationExclusion.value.is_(None),
                CorrelationExclusion.pattern == pattern
                if pattern is not None
                else CorrelationExclusion.pattern.is_(None),
            )
        )
        if dup is not None:
            raise GuardError(f"the warning list has this entry already (#{dup})")
        row = CorrelationExclusion(kind=kind, value=value, pattern=pattern, reason=reason, added_by=who)
        s.add(row)
        s.flush()
        ids = _matching_entities(s, kind, value, pattern)
        if ids:
            net.relink(s, load_guard(s, db.settings), set(), ids)
        record(
            s,
            actor,
            "graph.exclusion.add",
            "exclusion",
            row.id,
            kind=kind,
            value=value,
            pattern=pattern,
            matched=len(ids),
        )
        return row.id


def remove_exclusion(db: Database, exclusion_id: int, actor: Principal | str) -> None:
    with db.session() as s:
        row = s.get(CorrelationExclusion, exclusion_id)
        if row is None:
            raise NotFound(f"no warning-list entry {exclusion_id}")
        ids = _matching_entities(s, row.kind, row.value, row.pattern)
        record(
            s, actor, "graph.exclusion.remove", "exclusion", row.id, kind=row.kind, value=row.value, pattern=row.pattern
        )
        s.delete(row)
        s.flush()
        if ids:
            net.relink(s, load_guard(s, db.settings), set(), ids)


# ------------------------------------------------------------------------------------------ networks


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


def network_view(db: Database, network_id: int, viewer: Principal | str | None = None) -> NetworkView:
    from tipline.graph.models import Case

    with db.session() as s:
        rids = list(s.scalars(select(ReportNetwork.report_id).where(ReportNetwork.network_id == network_id)))
        if not rids:
            raise NotFound(f"no network {network_id}")
        reports = []
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
        ents = s.execute(
            select(Entity.id, Entity.kind, Entity.value, Entity.report_count, Entity.first_seen, Entity.last_seen)
            .join(EntityNetwork, EntityNetwork.entity_id == Entity.id)
            .where(EntityNetwork.network_id == network_id)
            .order_by(Entity.report_count.desc(), Entity.kind, Entity.value)
        ).all()
        member_ids = {e.id for e in ents}
        guard = load_guard(s, db.settings)
        excluded: dict[int, dict[str, Any]] = {}
        for part in net.chunks(rids):
            for eid, kind, value, count in s.execute(
                select(Entity.id, Entity.kind, Entity.value, Entity.report_count)
                .join(Mention, Mention.entity_id == Entity.id)
                .where(Mention.report_id.in_(part))
                .distinct()
            ):
                if eid in member_ids or eid in excluded:
                    continue
                v = guard.verdict(kind, value, int(count or 0))
                excluded[eid] = {
                    "id": eid,
                    "kind": kind,
                    "value": value,
                    "reports": int(count or 0),
                    "reason": v.reason,
                    "by": v.by,
                }
        countries = _countries(s, [network_id])[network_id]
        cats = Counter(r.category for r in reports)
        cases = []
        for part in net.chunks(rids):
            cases += s.execute(
                select(Case.id, Case.title, Case.status)
                .join(CaseReport, CaseReport.case_id == Case.id)
                .where(CaseReport.report_id.in_(part))
                .distinct()
            ).all()
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
            excluded=sorted(excluded.values(), key=lambda x: (-x["reports"], x["kind"], x["value"]))[:MAX_LIST],
            countries=[{"country": c, "count": n} for c, n in countries.most_common()],
            categories=[{"category": c, "count": n} for c, n in cats.most_common()],
            highest_priority=min((r.priority for r in reports), default=None),
            first_at=min(times, default=None),
            last_at=max(times, default=None),
            timeline=timeline_of(times),
            cases=sorted(({"id": c.id, "title": c.title, "status": c.status} for c in cases), key=lambda c: c["id"]),
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
            raise NotFound(f"no {kind} {value!r} in any report")
        guard = load_guard(s, db.settings)
        v = guard.verdict(e.kind, e.value, e.report_count)
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
            excluded=not v.links and e.report_count > 0,
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


# ------------------------------------------------------------------------------------------ graph view

URL_KINDS = ("url", "domain", "email", "onion")


def _defang(kind: str, value: str) -> str:
    if kind not in URL_KINDS:
        return value
    from tipline.i18n.templating import defang

    return defang(value)


@dataclass
class Elements:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: bool = False

    def as_list(self) -> list[dict[str, Any]]:
        return [*self.nodes.values(), *self.edges.values()]


def _add_reports(s: Session, el: Elements, rids: set[int]) -> None:
    todo = [r for r in rids if f"r{r}" not in el.nodes]
    for part in net.chunks(todo):
        for rid, prio, cat, country, at, nid in s.execute(
            select(
                Report.id,
                Report.priority,
                Report.category,
                Report.country,
                Report.received_at,
                ReportNetwork.network_id,
            )
            .outerjoin(ReportNetwork, ReportNetwork.report_id == Report.id)
            .where(Report.id.in_(part))
        ):
            el.nodes[f"r{rid}"] = {
                "group": "nodes",
                "data": {
                    "id": f"r{rid}",
                    "type": "report",
                    "label": f"#{rid}",
                    "report_id": rid,
                    "priority": prio,
                    "category": cat,
                    "country": country,
                    "at": at.isoformat(),
                    "network": nid,
                    "href": f"/reports/{rid}",
                },
                "classes": f"report p{prio}",
            }


def _add_report_entities(s: Session, el: Elements, guard: Guard, rids: set[int], max_nodes: int) -> set[int]:
    """Add the entities these reports name, with their edges; returns the ids of linking entities added."""
    from tipline.i18n.templating import entity_href

    linking: set[int] = set()
    for part in net.chunks(rids):
        rows = s.execute(
            select(Mention.report_id, Entity.id, Entity.kind, Entity.value, Entity.report_count)
            .join(Entity, Entity.id == Mention.entity_id)
            .where(Mention.report_id.in_(part))
            .distinct()
        ).all()
        for rid, eid, kind, value, count in rows:
            key = f"e{eid}"
            if key not in el.nodes:
                if len(el.nodes) >= max_nodes:
                    el.truncated = True
                    continue
                v = guard.verdict(kind, value, int(count or 0))
                el.nodes[key] = {
                    "group": "nodes",
                    "data": {
                        "id": key,
                        "type": "entity",
                        "kind": kind,
                        "label": _defang(kind, value)[:40],
                        "entity_id": eid,
                        "reports": int(count or 0),
                        "excluded": not v.links,
                        "reason": v.reason,
                        "href": entity_href(kind, value),
                    },
                    "classes": f"entity k-{kind}" + (" excluded" if not v.links else ""),
                }
            if el.nodes[key]["data"]["excluded"] is False:
                linking.add(eid)
            el.edges[f"r{rid}-e{eid}"] = {
                "group": "edges",
                "data": {"id": f"r{rid}-e{eid}", "source": f"r{rid}", "target": key},
            }
    return linking


def _reports_of_entities(s: Session, eids: set[int], per_entity: int) -> set[int]:
    out: set[int] = set()
    for eid in sorted(eids):
        out.update(
            s.scalars(
                select(Mention.report_id)
                .where(Mention.entity_id == eid)
                .distinct()
                .order_by(Mention.report_id.desc())
                .limit(per_entity)
            )
        )
    return out


def graph_elements(
    db: Database,
    *,
    report_id: int | None = None,
    entity: tuple[str, str] | None = None,
    case_id: int | None = None,
    network_id: int | None = None,
    node: str | None = None,
    max_nodes: int = 400,
    per_entity: int = 50,
    viewer: Principal | None = None,
) -> dict[str, Any]:
    """Cytoscape.js elements around a report, an entity, a case, a whole network, or one node to expand
    (``node`` = ``r<id>`` or ``e<id>``). Excluded entities are shown (marked) but never expanded through."""
    if viewer is not None:
        with db.session() as w:
            subject = {"report": report_id, "case": case_id, "network": network_id, "node": node}
            record(w, viewer, "graph.view", None, None, **{k: v for k, v in subject.items() if v is not None})
    el = Elements()
    with db.reader() as s:
        guard = load_guard(s, db.settings)
        seed_reports: set[int] = set()
        if report_id is not None:
            if s.get(Report, report_id) is None:
                raise NotFound(f"no report {report_id}")
            seed_reports = {report_id}
        elif entity is not None:
            e = s.scalar(select(Entity).where(Entity.kind == entity[0], Entity.value == entity[1]))
            if e is None:
                raise NotFound("no such entity")
            seed_reports = _reports_of_entities(s, {e.id}, per_entity)
        elif case_id is not None:
            seed_reports = set(s.scalars(select(CaseReport.report_id).where(CaseReport.case_id == case_id)))
        elif network_id is not None:
            seed_reports = set(
                s.scalars(
                    select(ReportNetwork.report_id).where(ReportNetwork.network_id == network_id).limit(max_nodes)
                )
            )
            if not seed_reports:
                raise NotFound(f"no network {network_id}")
        elif node is not None and 1 < len(node) <= 11 and node[1:].isascii() and node[1:].isdigit() and node[0] in "re":
            nid = int(node[1:])
            if nid > 2**31 - 1:
                raise NotFound("no such node")
            if node[0] == "r":
                seed_reports = {nid}
            else:
                e = s.get(Entity, nid)
                if e is None:
                    raise NotFound("no such entity")
                if guard.links(e.kind, e.value, e.report_count):
                    seed_reports = _reports_of_entities(s, {nid}, per_entity)
                else:
                    seed_reports = set()
                    el.truncated = True
                _add_reports(s, el, seed_reports)
                _add_report_entities(s, el, guard, seed_reports, max_nodes)
                return {"elements": el.as_list(), "truncated": el.truncated}
        else:
            raise NotFound("say what to show: a report, an entity, a case, a network or a node")
        _add_reports(s, el, seed_reports)
        linking = _add_report_entities(s, el, guard, seed_reports, max_nodes)
        if report_id is not None or entity is not None:
            # one hop further through linking entities: the reports that share them
            more = _reports_of_entities(s, linking, per_entity) - seed_reports
            room = max(0, max_nodes - len(el.nodes))
            if len(more) > room:
                el.truncated = True
                more = set(sorted(more)[:room])
            _add_reports(s, el, more)
            for part in net.chunks(more):
                for rid, eid in s.execute(
                    select(Mention.report_id, Mention.entity_id)
                    .where(Mention.report_id.in_(part), Mention.entity_id.in_(linking))
                    .distinct()
                ):
                    el.edges[f"r{rid}-e{eid}"] = {
                        "group": "edges",
                        "data": {"id": f"r{rid}-e{eid}", "source": f"r{rid}", "target": f"e{eid}"},
                    }
        return {"elements": el.as_list(), "truncated": el.truncated}
