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
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.routing import jurisdiction as jur
from tipline.routing.models import UrlTakedown
from tipline.store import Database
from tipline.store.models import Entity, Mention

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


class TakedownError(ValueError):
    pass


class TakedownOut(BaseModel):
    id: int
    url: str
    host: str
    report_ids: list[int]
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


def _out(t: UrlTakedown) -> TakedownOut:
    return TakedownOut(
        id=t.id,
        url=t.url,
        host=t.host,
        report_ids=[int(x) for x in t.report_ids],
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


def _hosting_country(ips: list[str], geo: jur.GeoLookup | None = None) -> str | None:
    geo = geo if geo is not None else jur.default_geo()
    found = [c for c in (geo.country(ip) for ip in ips) if c]
    return Counter(found).most_common(1)[0][0] if found else None


# ------------------------------------------------------------------------------------------ analysis side


def sync_report_urls(
    s: Session,
    report_id: int,
    urls: list[str],
    reported_at: datetime,
    resolver: jur.Resolver,
    *,
    dropped_urls: list[str] | None = None,
    geo: jur.GeoLookup | None = None,
) -> dict[str, list[str]]:
    """Inside the analysis transaction: make sure each URL has a takedown row naming this report, drop the
    report from the rows of ``dropped_urls`` (URLs it named before this analysis and no longer does), and
    return url → hosting IPs (resolved now with an offline resolver; with a network resolver, what an
    earlier :func:`refresh_hosting` stored)."""
    urls = sorted(set(urls))
    now = datetime.now(UTC)
    if urls:
        ins = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        rows = [
            {
                "url_sha256": url_digest(u),
                "url": u,
                "host": jur.url_host(u)[:255],
                "report_ids": [],
                "hosting_ips": [],
                "state": "reported",
                "reported_at": reported_at,
                "history": [{"state": "reported", "at": reported_at.isoformat(), "by": f"report:{report_id}"}],
                "updated_at": now,
            }
            for u in urls
        ]
        s.execute(ins(UrlTakedown).values(rows).on_conflict_do_nothing(index_elements=["url_sha256"]))
    digests = {url_digest(u) for u in urls}
    hosting: dict[str, list[str]] = {}
    current = list(s.scalars(select(UrlTakedown).where(UrlTakedown.url_sha256.in_(digests)))) if digests else []
    for t in current:
        ids = [int(x) for x in t.report_ids]
        if report_id not in ids:
            t.report_ids = sorted([*ids, report_id])
        if reported_at < t.reported_at and t.state == "reported" and len(t.history) <= 1:
            t.reported_at = reported_at
            t.history = [{"state": "reported", "at": reported_at.isoformat(), "by": f"report:{report_id}"}]
        if not t.hosting_ips and not resolver.network:
            ips = jur.hosting_ips(t.url, resolver)
            if ips:
                t.hosting_ips = ips
                t.hosting_country = _hosting_country(ips, geo)
        hosting[t.url] = list(t.hosting_ips)
    stale = {url_digest(u) for u in dropped_urls or []} - digests
    if stale:
        for t in s.scalars(select(UrlTakedown).where(UrlTakedown.url_sha256.in_(stale))):
            t.report_ids = [int(x) for x in t.report_ids if int(x) != report_id]
    return hosting


def refresh_hosting(
    db: Database, *, report_id: int | None = None, resolver: jur.Resolver | None = None, force: bool = False
) -> int:
    """Resolve the hosting IPs (and country) of URLs, with any resolver, network ones included: the lookups
    run with no transaction open. ``report_id`` limits it to one report's URLs; ``force`` re-resolves URLs
    resolved before. Returns how many rows changed."""
    resolver = resolver if resolver is not None else jur.resolver_for(db)
    with db.reader() as s:
        q = select(UrlTakedown.id, UrlTakedown.url, UrlTakedown.report_ids, UrlTakedown.hosting_ips)
        rows = [r for r in s.execute(q) if report_id is None or report_id in [int(x) for x in r.report_ids]]
    found: dict[int, list[str]] = {}
    for tid, url, _ids, ips in rows:
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
    with db.reader() as s:
        q = select(UrlTakedown)
        if state:
            q = q.where(UrlTakedown.state == state)
        if country:
            q = q.where(UrlTakedown.hosting_country == country.upper())
        if report_id is not None:
            urls = s.scalars(
                select(Entity.value)
                .join(Mention, Mention.entity_id == Entity.id)
                .where(Mention.report_id == report_id, Entity.kind == "url")
            )
            q = q.where(UrlTakedown.url_sha256.in_({url_digest(u) for u in urls}))
        rows = list(s.scalars(q.order_by(UrlTakedown.reported_at, UrlTakedown.id)))
    # a URL no report names any more (its reports were re-analysed) and never worked on is not listed
    rows = [t for t in rows if t.report_ids or t.state != "reported"]
    return [_out(t) for t in rows[offset : offset + limit]], len(rows)


def get_takedown(db: Database, takedown_id: int) -> TakedownOut | None:
    with db.reader() as s:
        t = s.get(UrlTakedown, takedown_id)
        return _out(t) if t else None


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
        return _out(t)


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
