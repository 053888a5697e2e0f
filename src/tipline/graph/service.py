"""Entity-graph services: networks, the guard's settings (warning list, degree limits), entity details and
the Cytoscape elements of the graph view. Cases are in :mod:`tipline.graph.cases`.

Front ends call these with a :class:`~tipline.store.Database`; the analysis hooks call the ``*_in``
functions with the analysis session (they must not open a second write session).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

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
    analysis_guard,
    builtin_entries,
    compile_pattern,
    derive_limits,
    forget_analysis_guard,
    load_guard,
)
from tipline.graph.models import CorrelationExclusion, DegreeLimit
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Entity


def guard_for(db: Database, s: Session | None = None) -> Guard:
    if s is not None:
        return load_guard(s, db.settings)
    with db.reader() as r:
        return load_guard(r, db.settings)


# ------------------------------------------------------------------------------------------ degree limits


class LimitChange(TypedDict):
    """A kind whose degree limit a refresh moved."""

    kind: str
    old: int
    new: int


class LimitRow(TypedDict):
    """A stored degree limit (``source`` auto or manual; ``details`` the figures it was derived from)."""

    kind: str
    limit: int
    source: str
    details: dict[str, Any]
    set_by: str | None
    computed_at: datetime


class ExclusionRow(TypedDict):
    """A warning-list entry (``id`` None and ``builtin`` true: shipped, not a supervisor's)."""

    id: int | None
    kind: str
    value: str | None
    pattern: str | None
    reason: str
    added_by: str
    added_at: datetime | None
    builtin: bool


def _degree_histogram(s: Session) -> dict[str, dict[int, int]]:
    hist: dict[str, dict[int, int]] = {}
    q = select(Entity.kind, Entity.degree, func.count()).where(Entity.degree >= 2).group_by(Entity.kind, Entity.degree)
    for kind, degree, n in s.execute(q):
        hist.setdefault(kind, {})[int(degree)] = int(n)
    return hist


def refresh_limits_in(
    s: Session, settings: Settings, *, at_report: int | None = None, relink: bool = True
) -> list[LimitChange]:
    """Derive the per-kind limits from the current degree distribution and store them (manual limits
    stay). Entities whose verdict flips are relinked. Returns the changes."""
    net.serialize(s)
    forget_analysis_guard(s)
    before = load_guard(s, settings)
    rule = LimitRule.from_settings(settings)
    derived = derive_limits(_degree_histogram(s), rule, settings.graph_degree_limit_default)
    every = settings.graph_limits_refresh_every
    rows = {r.kind: r for r in s.scalars(select(DegreeLimit))}
    now = datetime.now(UTC)
    changes: list[LimitChange] = []
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
            changes.append(LimitChange(kind=kind, old=old, new=d["limit"]))
    s.flush()
    if relink and changes:
        after = load_guard(s, settings)
        flipped: set[int] = set()
        for c in changes:
            lo, hi = sorted((c["old"], c["new"]))
            q = select(Entity.id).where(Entity.degree > lo, Entity.degree <= hi)
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
        ids = set(s.scalars(select(Entity.id).where(Entity.kind == kind, Entity.degree > lo, Entity.degree <= hi)))
        if ids:
            net.relink(s, after, set(), ids)
        record(s, actor, "graph.limit", "entity_kind", kind, limit=limit)


def limits(db: Database) -> list[LimitRow]:
    with db.reader() as s:
        return [
            LimitRow(
                kind=r.kind,
                limit=r.limit,
                source=r.source,
                details=r.details,
                set_by=r.set_by,
                computed_at=r.computed_at,
            )
            for r in s.scalars(select(DegreeLimit).order_by(DegreeLimit.kind))
        ]


# ------------------------------------------------------------------------------------------ analysis


def on_report_analysed(
    s: Session,
    settings: Settings,
    report_id: int,
    entity_ids: set[int],
    removed_entity_ids: set[int],
    known: dict[int, tuple[str, str, int]] | None = None,
) -> int:
    """The incremental update the after-analysis hook makes (and the bench times): refresh the limits
    when due (under the whole graph's lock), then bring this report's networks up to date (locking only
    what it touches, ``network.update_for_report``). Returns its network id. ``known``: the entities'
    ``network.entity_info`` when the caller read it already."""
    # the refresh schedule comes with the guard, read once per transaction (the before-score hook read it):
    # reading the pooled row here too cost a statement a report on PostgreSQL (a transaction each)
    guard = analysis_guard(s, settings)
    due = guard.next_refresh_at is None or report_id >= guard.next_refresh_at
    if due and settings.graph_guard:
        refresh_limits_in(s, settings, at_report=report_id)  # exclusive: taken before any shared hold
        guard = analysis_guard(s, settings)  # the refresh dropped it: read again, with the new limits
    return net.update_for_report(  # it takes the graph's lock shared, with its first keys'
        s, guard, report_id, set(entity_ids), set(removed_entity_ids), known
    )


def forget_in(s: Session, settings: Settings, entity_ids: set[int]) -> None:
    """After reports were deleted (retention) inside ``s``: relink the networks of the entities they named.
    Call it after the deletion and after ``Entity.report_count`` (and ``evidence_count``) was refreshed for
    ``entity_ids``; the deleted reports' own rows went with them (ON DELETE CASCADE)."""
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


def _exclusion_dict(e: Exclusion) -> ExclusionRow:
    return ExclusionRow(
        id=e.id,
        kind=e.kind,
        value=e.value,
        pattern=e.pattern,
        reason=e.reason,
        added_by=e.added_by,
        added_at=e.added_at,
        builtin=e.builtin,
    )


def list_exclusions(db: Database, *, builtin: bool = True) -> list[ExclusionRow]:
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
    rx = compile_pattern(pattern or "", trusted=True)  # checked when the entry was added
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


# ------------------------------------------------------------------------------------------ views (re-exported)
# What the graph shows lives in ``graph.views`` (networks, identifiers) and ``graph.elements`` (the graph
# view); callers may keep naming them through this module.

from tipline.graph.elements import URL_KINDS, Elements, graph_elements  # noqa: E402
from tipline.graph.views import (  # noqa: E402
    MAX_LIST,
    PHONE_KINDS,
    EntityDetails,
    NetworkSummary,
    NetworkView,
    _jsonable,
    entity_details,
    list_networks,
    network_id_of_evidence,
    network_id_of_report,
    network_view,
    timeline_of,
)

__all__ = [
    "MAX_LIST",
    "PHONE_KINDS",
    "URL_KINDS",
    "Elements",
    "EntityDetails",
    "NetworkSummary",
    "NetworkView",
    "_jsonable",
    "add_exclusion",
    "entity_details",
    "forget_in",
    "graph_elements",
    "guard_for",
    "limits",
    "list_exclusions",
    "list_networks",
    "network_id_of_evidence",
    "network_id_of_report",
    "network_view",
    "on_report_analysed",
    "recompute",
    "refresh_limits_in",
    "remove_exclusion",
    "set_manual_limit",
    "timeline_of",
]
