"""Notice and takedown: the lifecycle of every reported URL, with its hosting country and timestamps.

States: ``reported`` (a report names the URL) → ``assessed`` (an analyst looked at it) → ``notice_sent``
(a notice went to the host, its hotline or the police of the hosting country) → ``removed`` (the content is
gone) → ``reappeared`` (it is back; the cycle starts again). ``removed`` may follow any open state (content
is often gone before a notice). Each state's first time is kept in its column (``assessed_at``, …) and every
transition in ``history``; the time to removal of each cycle feeds the statistics (:func:`removal_times`).

Rows are created by report analysis (``routing.hooks``) for each URL a report names, in normal form.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import median
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.routing import jurisdiction as jur
from tipline.routing.models import UrlTakedown, UrlTakedownReport
from tipline.store import Database, later
from tipline.store.lists import in_list
from tipline.store.upsert import insert_for

STATES = ("reported", "assessed", "notice_sent", "removed", "reappeared")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "reported": ("assessed", "notice_sent", "removed"),
    "assessed": ("notice_sent", "removed"),
    "notice_sent": ("removed",),
    "removed": ("reappeared",),
    "reappeared": ("assessed", "notice_sent", "removed"),
}
OPEN_STATES = ("reported", "assessed", "notice_sent", "reappeared")
_COLUMN = {"assessed": "assessed_at", "notice_sent": "notice_sent_at", "removed": "removed_at"}


# a URL that a platform's sweep named in 100,000 reports is one row of the list, not 100,000 ids in every
# answer, page and CLI table that shows it
REPORT_IDS_SHOWN = 100


class TakedownError(ValueError):
    pass


class TakedownOut(BaseModel):
    id: int
    url: str
    host: str
    report_ids: list[int] = Field(
        description=f"The reports that name the URL, in id order: the first {REPORT_IDS_SHOWN} (``report_count`` "
        "says how many there are; the list of takedowns filters by ``report_id``)"
    )
    report_count: int = Field(description="How many reports name the URL")
    hosting_country: str | None
    hosting_ips: list[str]
    state: str
    reported_at: datetime
    assessed_at: datetime | None
    notice_sent_at: datetime | None
    removed_at: datetime | None
    reappeared_at: datetime | None
    notice_agency_id: str | None
    history: list[dict[str, Any]]
    hours_to_removal: float | None


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def _hours(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 3600.0, 2)


def _out(t: UrlTakedown, naming: tuple[int, list[int]]) -> TakedownOut:
    return TakedownOut(
        id=t.id,
        url=t.url,
        host=t.host,
        report_count=naming[0],
        report_ids=naming[1],
        hosting_country=t.hosting_country,
        hosting_ips=list(t.hosting_ips),
        state=t.state,
        reported_at=t.reported_at,
        assessed_at=t.assessed_at,
        notice_sent_at=t.notice_sent_at,
        removed_at=t.removed_at,
        reappeared_at=t.reappeared_at,
        notice_agency_id=t.notice_agency_id,
        history=list(t.history),
        hours_to_removal=_hours(t.reported_at, t.removed_at) if t.removed_at else None,
    )


def _reports_naming(s: Session, takedown_ids: list[int]) -> dict[int, tuple[int, list[int]]]:
    """How many reports name each takedown's URL, and the first ``REPORT_IDS_SHOWN`` of them in id order."""
    ids: dict[int, list[int]] = {t: [] for t in takedown_ids}
    counts = dict.fromkeys(takedown_ids, 0)
    if takedown_ids:
        by_takedown = _LINKS.c.takedown_id
        ranked = (
            select(
                _LINKS.c.takedown_id,
                _LINKS.c.report_id,
                func.row_number().over(partition_by=by_takedown, order_by=_LINKS.c.report_id).label("nth"),
                func.count().over(partition_by=by_takedown).label("total"),
            )
            .where(in_list(_LINKS.c.takedown_id, "ids"))
            .subquery()
        )
        q = select(ranked.c.takedown_id, ranked.c.report_id, ranked.c.total).where(ranked.c.nth <= REPORT_IDS_SHOWN)
        for tid, rid, total in s.execute(q.order_by(ranked.c.report_id), {"ids": takedown_ids}):
            ids[tid].append(rid)
            counts[tid] = int(total)
    return {t: (counts[t], ids[t]) for t in takedown_ids}


def _outs(s: Session, rows: list[UrlTakedown]) -> list[TakedownOut]:
    naming = _reports_naming(s, [t.id for t in rows])
    return [_out(t, naming[t.id]) for t in rows]


def _hosting_country(ips: list[str], geo: jur.GeoLookup | None = None) -> str | None:
    geo = geo if geo is not None else jur.default_geo()
    found = [c for c in (geo.country(ip) for ip in ips) if c]
    return Counter(found).most_common(1)[0][0] if found else None


# ------------------------------------------------------------------------------------------ analysis side


# built once (analysis runs them for every report that names a URL), on the tables where nothing reads an
# object back; the links of a report are deleted by analysis with its mentions (ROUTING.analysis_rows)
_LINKS = cast(Table, UrlTakedownReport.__table__)
_TAKEDOWNS_OF = select(UrlTakedown).where(in_list(UrlTakedown.url_sha256, "digests"))


def sync_report_urls(
    s: Session,
    report_id: int,
    urls: list[str],
    reported_at: datetime,
    resolver: jur.Resolver,
    *,
    geo: jur.GeoLookup | None = None,
) -> dict[str, list[str]]:
    """Inside the analysis transaction, after the report's links were deleted (``ROUTING.analysis_rows``):
    make sure each URL has a takedown row, link the report to each, and return url → hosting IPs (resolved
    now with an offline resolver; with a network resolver, what an earlier :func:`refresh_hosting` stored).

    A URL already reported costs a read and the link's INSERT: the takedown row is written only when it is
    new, when this report is an earlier sighting, or when its hosting is resolved now (so two workers
    analysing reports that name one URL do not queue on its row)."""
    urls = sorted(set(urls))
    if not urls:
        return {}
    digests = {url_digest(u): u for u in urls}
    current = list(s.scalars(_TAKEDOWNS_OF, {"digests": sorted(digests)}))
    missing = sorted(digests.keys() - {t.url_sha256 for t in current})
    if missing:
        now = datetime.now(UTC)
        ins = insert_for(s.get_bind().dialect.name)
        rows = [
            {
                "url_sha256": d,
                "url": digests[d],
                "host": jur.url_host(digests[d])[:255],
                "hosting_ips": [],
                "state": "reported",
                "reported_at": reported_at,
                "history": [{"state": "reported", "at": reported_at.isoformat(), "by": f"report:{report_id}"}],
                "updated_at": now,
            }
            for d in missing
        ]
        # DO NOTHING: another transaction inserted one of them since the read
        s.execute(ins(UrlTakedown).values(rows).on_conflict_do_nothing(index_elements=["url_sha256"]))
        current += list(s.scalars(_TAKEDOWNS_OF, {"digests": missing}))
    hosting: dict[str, list[str]] = {}
    for t in current:
        if reported_at < t.reported_at and t.state == "reported" and len(t.history) <= 1:
            t.reported_at = reported_at
            t.history = [{"state": "reported", "at": reported_at.isoformat(), "by": f"report:{report_id}"}]
        if not t.hosting_ips and not resolver.network:
            ips = jur.hosting_ips(t.url, resolver)
            if ips:
                t.hosting_ips = ips
                t.hosting_country = _hosting_country(ips, geo)
        hosting[t.url] = list(t.hosting_ips)
    links = [{"takedown_id": t.id, "report_id": report_id} for t in sorted(current, key=lambda t: t.id)]
    later.insert_later(s, _LINKS, links)  # with the analysis's last write
    return hosting


def refresh_hosting(
    db: Database, *, report_id: int | None = None, resolver: jur.Resolver | None = None, force: bool = False
) -> int:
    """Resolve the hosting IPs (and country) of URLs, with any resolver, network ones included: the lookups
    run with no transaction open. ``report_id`` limits it to one report's URLs; ``force`` re-resolves URLs
    resolved before. Returns how many rows changed."""
    resolver = resolver if resolver is not None else jur.resolver_for(db)
    with db.reader() as s:
        q = select(UrlTakedown.id, UrlTakedown.url, UrlTakedown.hosting_ips)
        if report_id is not None:
            q = q.join(_LINKS, _LINKS.c.takedown_id == UrlTakedown.id).where(_LINKS.c.report_id == report_id)
        rows = list(s.execute(q))
    found: dict[int, list[str]] = {}
    for tid, url, ips in rows:
        if ips and not force:
            continue
        new = jur.hosting_ips(url, resolver)
        if new and new != list(ips):
            found[tid] = new
    if not found:
        return 0
    with db.session() as s:
        for t in s.scalars(select(UrlTakedown).where(UrlTakedown.id.in_(found))):
            t.hosting_ips = found[t.id]
            t.hosting_country = _hosting_country(found[t.id])
            t.updated_at = datetime.now(UTC)
    return len(found)


# ------------------------------------------------------------------------------------------ staff side


def list_takedowns(
    db: Database,
    *,
    state: str | None = None,
    country: str | None = None,
    report_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TakedownOut], int]:
    """A page of takedowns (oldest report first) and how many match. A URL that no report names any more
    (its reports were re-analysed) and that nobody worked on is not listed."""
    named = select(_LINKS.c.takedown_id).where(_LINKS.c.takedown_id == UrlTakedown.id).exists()
    q = select(UrlTakedown).where(or_(UrlTakedown.state != "reported", named))
    if state:
        q = q.where(UrlTakedown.state == state)
    if country:
        q = q.where(UrlTakedown.hosting_country == country.upper())
    if report_id is not None:
        q = q.where(UrlTakedown.id.in_(select(_LINKS.c.takedown_id).where(_LINKS.c.report_id == report_id)))
    with db.reader() as s:
        total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        page = q.order_by(UrlTakedown.reported_at, UrlTakedown.id).offset(offset).limit(limit)
        return _outs(s, list(s.scalars(page))), total


def get_takedown(db: Database, takedown_id: int) -> TakedownOut | None:
    with db.reader() as s:
        t = s.get(UrlTakedown, takedown_id)
        return _outs(s, [t])[0] if t else None


def transition(
    db: Database,
    takedown_id: int,
    state: str,
    actor: Principal | str,
    *,
    at: datetime | None = None,
    agency_id: str | None = None,
    note: str | None = None,
) -> TakedownOut:
    """Move a URL to ``state`` (see :data:`TRANSITIONS`); audited. ``at`` (default now) may be earlier, to
    record when a removal was observed, but never before the previous transition or in the future."""
    if state not in STATES:
        raise TakedownError(f"unknown state {state!r}; states: {', '.join(STATES)}")
    if note is not None and len(note) > 2000:
        raise TakedownError("the note is longer than 2,000 characters")
    now = datetime.now(UTC)
    when = (at if at.tzinfo else at.replace(tzinfo=UTC)) if at is not None else now
    if when > now:
        raise TakedownError("a transition cannot be dated in the future")
    with db.session() as s:
        t = s.get(UrlTakedown, takedown_id)
        if t is None:
            raise TakedownError(f"there is no takedown {takedown_id}")
        if state not in TRANSITIONS[t.state]:
            allowed = ", ".join(TRANSITIONS[t.state])
            raise TakedownError(f"a URL that is {t.state} can go to: {allowed} (not {state})")
        last = datetime.fromisoformat(t.history[-1]["at"]) if t.history else t.reported_at
        if when < last:
            raise TakedownError(f"the transition is dated before the previous one ({last.isoformat()})")
        col = _COLUMN.get(state)
        if col and getattr(t, col) is None:
            setattr(t, col, when)
        if state == "reappeared":
            t.reappeared_at = when
        if state == "notice_sent" and agency_id:
            t.notice_agency_id = agency_id
        by = actor.label if isinstance(actor, Principal) else actor
        entry: dict[str, Any] = {"state": state, "at": when.isoformat(), "by": by}
        if agency_id:
            entry["agency"] = agency_id
        if note:
            entry["note"] = note
        t.history = [*t.history, entry]
        before = t.state
        t.state = state
        t.updated_at = now
        record(s, actor, "takedown.transition", "url_takedown", t.id, state=[before, state], agency=agency_id)
        s.flush()
        return _outs(s, [t])[0]


# ------------------------------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class RemovalTime:
    takedown_id: int
    hosting_country: str | None
    started_at: datetime  # reported, or reappeared
    removed_at: datetime
    hours: float
    cycle: int  # 1 for the first removal, 2 after a reappearance, ...


def removal_times(db: Database) -> list[RemovalTime]:
    """One entry per removal: from the report (or the reappearance) to the removal, in hours."""
    with db.reader() as s:
        rows = list(s.scalars(select(UrlTakedown).where(UrlTakedown.removed_at.is_not(None))))
    out = []
    for t in rows:
        start: datetime | None = None
        cycle = 0
        for h in t.history:
            at = datetime.fromisoformat(h["at"])
            if h["state"] in ("reported", "reappeared"):
                start = at
            elif h["state"] == "removed" and start is not None:
                cycle += 1
                out.append(RemovalTime(t.id, t.hosting_country, start, at, _hours(start, at), cycle))
                start = None
    return out


def summary(db: Database) -> dict[str, Any]:
    """Counts by state and, per hosting country, removals and the median hours to removal."""
    with db.reader() as s:
        by_state = dict(s.execute(select(UrlTakedown.state, func.count()).group_by(UrlTakedown.state)).all())
    times = removal_times(db)
    per_country: dict[str, list[float]] = {}
    for r in times:
        per_country.setdefault(r.hosting_country or "??", []).append(r.hours)
    return {
        "by_state": {st: int(by_state.get(st, 0)) for st in STATES},
        "removals": len(times),
        "median_hours_to_removal": round(median([r.hours for r in times]), 2) if times else None,
        "by_hosting_country": {
            c: {"removals": len(v), "median_hours": round(median(v), 2)} for c, v in sorted(per_country.items())
        },
    }
