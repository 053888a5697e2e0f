"""The over-correlation guard: which entities may link reports into networks.

MISP needs warning lists because one common value (a public resolver, a webmail domain) correlates
everything with everything. tipline has two defences, applied to *linking* only (an excluded value keeps
its mentions and its page, marked excluded with the reason):

1. **A warning list**: the built-in entries in ``warninglist.toml`` (fictional and placeholder phone
   ranges, role addresses, public e-mail services, URL shorteners, large platforms) plus the entries
   supervisors add (``correlation_exclusions``: who added it and why), matched on the exact normal form or
   a regular expression over the whole normal form.
2. **Per-kind degree limits**: the degree of an entity is the number of distinct reports and evidence
   items (ads, payments, partners' records) that name it (``Entity.report_count + Entity.evidence_count``:
   a site's support phone in 10,000 ads and 2 reports has degree 10,002). A value of kind *k* links
   reports only while its degree is at most ``limit(k)``; above it, it is infrastructure (a site's own
   hotline number, an exchange's hot wallet, the classifieds site's domain), not one operation's identifier.

How the limit is derived (:func:`derive_limits`): for each kind, over the values named two or more times
(by reports and evidence items: the only ones that link anything), take the ``percentile``-th percentile
*P* of their degrees; ``limit = max(floor, ceil(factor × P))``. Defaults: the 90th percentile, factor 5, floor 20.

- *Why a percentile*: degree distributions of identifiers are heavy-tailed and the hubs are the tail; the
  90th percentile has a 10 % breakdown point, so up to one shared value in ten can be a hub without
  moving the limit (a mean or a maximum would be dragged up by the very hubs it must catch).
- *Why ×5*: the busiest identifiers of real operations sit near the top decile; a value five times as
  widespread as that is no longer one operation's. On the synthetic world (400 and 2,000 reports) the
  busiest ring identifier of a kind is 1.0–1.5 × its kind's P90 and the classifieds domain 7–44 ×.
  The price: on the planted 1M-mention graph of ``bench/bench_graph.py`` the very largest rings (~100
  reports on one phone, over 5 × P90) are split, recall 0.961 where a cap of 500 keeps 0.987.
- *Why a floor*: with few values (a young installation, a rare kind such as IBANs) the percentile is
  small and noisy; a cap that low splits real rings (the bench shows recall falling as the cap drops).
- Kinds with fewer than ``min_sample`` shared values use the percentile of all kinds pooled.

Limits are stored (``graph_degree_limits``), refreshed automatically as the data grows (whenever the
number of reports has doubled, and at least every ``refresh_every`` reports) and by
``tipline networks recompute``; a supervisor may pin a kind's limit (``source='manual'``).
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

import re2
from sqlalchemy import Table, Text, column, null, select, text, type_coerce, union_all
from sqlalchemy.orm import Session

from tipline.graph.models import CorrelationExclusion, DegreeLimit
from tipline.settings import Settings

BUILTIN_FILE = Path(__file__).with_name("warninglist.toml")
BUILTIN_BY = "tipline (built-in list)"
POOLED = "*"  # the DegreeLimit row of all kinds pooled (the fallback limit and the refresh schedule)
MAX_PATTERN_CHARS = 300


class GuardError(ValueError):
    """A warning-list entry or limit that cannot be used; the message says why."""


@dataclass(frozen=True)
class Exclusion:
    kind: str
    value: str | None
    pattern: str | None
    reason: str
    added_by: str
    added_at: datetime | None = None
    id: int | None = None  # None: a built-in entry

    @property
    def builtin(self) -> bool:
        return self.id is None


class Matcher(Protocol):
    def fullmatch(self, value: str) -> object | None: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is our error to report, not a line on stderr


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str, *, trusted: bool = False) -> Matcher:
    r"""A warning-list pattern, compiled for RE2 (Google's engine, through ``google-re2``): its matching
    time grows linearly with the value, so a pattern such as ``(\w+\.?)*@example\.org`` cannot stall the
    analysis of a report that names a long address, as it does on Python's backtracking ``re`` (seconds
    for 24 characters, minutes for 30). RE2 has no back-references or look-arounds: a new pattern that needs
    them is refused. ``trusted``: the built-in list (reviewed here) and entries stored before this rule
    may use them, on ``re``."""
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise GuardError(f"a pattern is 1 to {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        reason = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        if not trusted:
            raise GuardError(
                f"not a pattern the warning list can run ({reason}); back-references and look-arounds are not"
                " supported: write the pattern without them, or list the values one by one"
            ) from None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise GuardError(f"not a valid regular expression: {e}") from None


class WarningList:
    """Exact values in a dict, patterns tried in order (first entry wins)."""

    def __init__(self, entries: Iterable[Exclusion]) -> None:
        self.entries = list(entries)
        self._exact: dict[tuple[str, str], Exclusion] = {}
        self._patterns: dict[str, list[tuple[Matcher, Exclusion]]] = {}
        for e in self.entries:
            if e.value is not None:
                self._exact.setdefault((e.kind, e.value), e)
            elif e.pattern is not None:
                # stored entries were accepted when added: one from before RE2 may still use Python's syntax
                self._patterns.setdefault(e.kind, []).append((compile_pattern(e.pattern, trusted=True), e))

    def match(self, kind: str, value: str) -> Exclusion | None:
        hit = self._exact.get((kind, value))
        if hit is not None:
            return hit
        for rx, e in self._patterns.get(kind, ()):
            if rx.fullmatch(value):
                return e
        return None


@functools.cache
def builtin_entries() -> tuple[Exclusion, ...]:
    data = tomllib.loads(BUILTIN_FILE.read_text(encoding="utf-8"))
    out = []
    for raw in data.get("entry", []):
        e = Exclusion(raw["kind"], raw.get("value"), raw.get("pattern"), raw["reason"], BUILTIN_BY)
        if e.pattern is not None:
            compile_pattern(e.pattern, trusted=True)
        out.append(e)
    return tuple(out)


@dataclass(frozen=True)
class Verdict:
    """Why an entity does not link (``links`` False), or that it does."""

    links: bool
    reason: str | None = None
    by: str | None = None  # who added the warning-list entry; "degree" for the degree limit
    exclusion_id: int | None = None


LINKS = Verdict(True)


@dataclass
class Guard:
    warnings: WarningList = field(default_factory=lambda: WarningList(()))
    limits: dict[str, int] = field(default_factory=dict)
    default_limit: int = 100
    enabled: bool = True
    # the report id from which the automatic limits are due for a refresh (the pooled row's schedule, read
    # with the limits: one statement a transaction fewer); None: no limits derived yet, due now
    next_refresh_at: int | None = None

    def limit(self, kind: str) -> int:
        return self.limits.get(kind, self.limits.get(POOLED, self.default_limit))

    def verdict(self, kind: str, value: str, degree: int) -> Verdict:
        if degree <= 0:
            return Verdict(False, "named by no report or evidence item")
        if not self.enabled:
            return LINKS
        hit = self.warnings.match(kind, value)
        if hit is not None:
            return Verdict(False, hit.reason, hit.added_by, hit.id)
        lim = self.limit(kind)
        if degree > lim:
            return Verdict(
                False,
                f"in {degree} reports and evidence items, over the limit of {lim} for this kind: too common to link "
                "reports",
                "degree",
            )
        return LINKS

    def links(self, kind: str, value: str, degree: int) -> bool:
        return self.verdict(kind, value, degree).links


NO_GUARD = Guard(enabled=False)


_ANALYSIS_GUARD = "graph.guard"  # Session.info key: the guard one analysis transaction (a batch) works with


def analysis_guard(s: Session, settings: Settings) -> Guard:
    """The guard in force, read once per transaction: a batch of reports analysed in one transaction reads
    the warning list and the limits once, not twice per report (four statements and a warning list built
    each time). Changes made in the same transaction by :func:`~tipline.graph.service.refresh_limits_in`
    drop it (:func:`forget_analysis_guard`); a supervisor's edit committed by another process meanwhile is
    seen by the next batch (a batch lasts tens of milliseconds). Management code that compares the guard
    before and after its own change reads it with :func:`load_guard`."""
    held = s.info.get(_ANALYSIS_GUARD)
    if held is not None and held[0] is s.get_transaction():
        return held[1]  # type: ignore[no-any-return]
    guard = _stamped_guard(s, settings) if s.get_bind().dialect.name == "postgresql" else load_guard(s, settings)
    s.info[_ANALYSIS_GUARD] = (s.get_transaction(), guard)  # the transaction its reads began, if none was open
    return guard


def forget_analysis_guard(s: Session) -> None:
    """The limits or the warning list changed in this transaction (or a savepoint that read them was
    rolled back): the next :func:`analysis_guard` reads them again."""
    s.info.pop(_ANALYSIS_GUARD, None)


# the last guard built on PostgreSQL, with the stamp of the rows it was built from and the settings it used (a
# guard is a function of those alone, whichever database they came from); replaced whole, never changed
_last: tuple[str, tuple[Any, ...], Guard] | None = None


def _settings_key(settings: Settings) -> tuple[Any, ...]:
    return (settings.graph_builtin_warnings, settings.graph_degree_limit_default, settings.graph_guard)


def _stamped_guard(s: Session, settings: Settings) -> Guard:
    """PostgreSQL, where each analysed report is a transaction of its own: the guard built from the rows of the
    last read when their stamp (``_GUARD_STAMP``: the rows' text, in one value) has not changed since, else
    read anew. The stamp is one short row; the rows are eighteen or so, each limit's with its JSON details,
    and building the guard from them cost a report twice the stamp's statement. A guard read anew is read
    with its stamp in one statement (one snapshot): a guard is never kept under the stamp of other rows."""
    global _last
    key = _settings_key(settings)
    last = _last
    if last is not None and last[1] == key and s.scalar(_GUARD_STAMP) == last[0]:
        return last[2]
    rows = s.execute(_GUARD_ROWS_STAMPED).all()
    stamp = rows[0][-1] if rows else _EMPTY_STAMP  # no rows: the stamp of none, not read apart (another snapshot)
    guard = _guard_from(settings, (r[:-1] for r in rows))
    _last = (stamp, key, guard)
    return guard


def load_guard(s: Session, settings: Settings) -> Guard:
    """The guard in force: built-in list (unless switched off), supervisors' entries, stored limits."""
    return _guard_from(settings, s.execute(_GUARD_ROWS))


def _guard_from(settings: Settings, rows: Iterable[Any]) -> Guard:
    stored: list[Exclusion] = []
    limits: dict[str, int] = {}
    next_refresh_at: int | None = None
    for eid, kind, value, pattern, reason, added_by, added_at, limit, details in rows:
        if eid is not None:
            stored.append(Exclusion(kind, value, pattern, reason, added_by, added_at, eid))
            continue
        limits[kind] = int(limit)
        if kind == POOLED:
            next_refresh_at = int((details or {}).get("next_refresh_at_report", 0))
    entries = sorted(stored, key=lambda e: e.id or 0)
    if settings.graph_builtin_warnings:
        entries.extend(builtin_entries())
    return Guard(
        WarningList(entries),
        limits,
        default_limit=settings.graph_degree_limit_default,
        enabled=settings.graph_guard,
        next_refresh_at=next_refresh_at,
    )


# the supervisors' entries and the limits in one statement (read once per analysis transaction, which on
# PostgreSQL is one report): an entry's row has its id, a limit's row none; the result's types are the
# first part's, hence the typed NULLs there
_X = cast(Table, CorrelationExclusion.__table__)
_L = cast(Table, DegreeLimit.__table__)
_GUARD_ROWS = union_all(
    select(
        _X.c.id,
        _X.c.kind,
        _X.c.value,
        _X.c.pattern,
        _X.c.reason,
        _X.c.added_by,
        _X.c.added_at,
        type_coerce(null(), _L.c.limit.type).label("limit"),
        type_coerce(null(), _L.c.details.type).label("details"),
    ),
    select(null(), _L.c.kind, null(), null(), null(), null(), null(), _L.c.limit, _L.c.details),
)
# PostgreSQL: the text of every row the guard is built from, in one value (a row's text changes with any of
# its columns; ordered by the keys, so the same rows give the same stamp)
_GUARD_STAMP = text(
    f"SELECT coalesce((SELECT string_agg(x::text, '|' ORDER BY x.id) FROM {_X.name} AS x), '') || '#' || "
    f"coalesce((SELECT string_agg(l::text, '|' ORDER BY l.kind) FROM {_L.name} AS l), '')"
).columns(column("stamp", Text))
_EMPTY_STAMP = "#"  # what _GUARD_STAMP gives for empty tables
_GUARD_ROWS_STAMPED = select(*_GUARD_ROWS.subquery("g").c, _GUARD_STAMP.scalar_subquery().label("stamp"))


# ------------------------------------------------------------------------------------------ degree limits


@dataclass(frozen=True)
class LimitRule:
    percentile: float = 90.0
    factor: float = 5.0
    floor: int = 20
    min_sample: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> LimitRule:
        return cls(
            settings.graph_degree_percentile,
            settings.graph_degree_factor,
            settings.graph_degree_floor,
            settings.graph_degree_min_sample,
        )


def weighted_percentile(hist: dict[int, int], q: float) -> float:
    """The ``q``-th percentile (0-100, nearest rank) of a histogram {degree: number of values}."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(q / 100.0 * total))
    seen = 0
    for degree in sorted(hist):
        seen += hist[degree]
        if seen >= rank:
            return float(degree)
    return float(max(hist))  # pragma: no cover


def derive_limits(hist: dict[str, dict[int, int]], rule: LimitRule, default_limit: int) -> dict[str, dict[str, Any]]:
    """Limits per kind from {kind: {degree: count}} over values with degree >= 2, plus the pooled row.

    Returns {kind: {"limit": int, "sample": n, "p": percentile value, "pooled": bool, ...}}.
    """
    pooled: dict[int, int] = {}
    for h in hist.values():
        for d, n in h.items():
            if d >= 2:
                pooled[d] = pooled.get(d, 0) + n
    n_pooled = sum(pooled.values())

    def limit_for(h: dict[int, int]) -> tuple[int, float]:
        p = weighted_percentile(h, rule.percentile)
        return max(rule.floor, math.ceil(rule.factor * p)), p

    base = {"percentile": rule.percentile, "factor": rule.factor, "floor": rule.floor}
    out: dict[str, dict[str, Any]] = {}
    if n_pooled >= rule.min_sample:
        lim, p = limit_for(pooled)
        out[POOLED] = base | {"limit": lim, "sample": n_pooled, "p": p, "pooled": True}
    else:
        out[POOLED] = base | {"limit": max(rule.floor, default_limit), "sample": n_pooled, "p": None, "pooled": True}
    for kind, h in sorted(hist.items()):
        shared = {d: n for d, n in h.items() if d >= 2}
        n = sum(shared.values())
        if n >= rule.min_sample:
            lim, p = limit_for(shared)
            out[kind] = base | {"limit": lim, "sample": n, "p": p, "pooled": False}
        else:
            out[kind] = out[POOLED] | {"sample": n, "pooled": True}
    return out
