"""Statistics for the dashboard, the CLI and yearly publication (as NCMEC and the IWF publish): reports over
time by category, source and country; the age of the open queue; referrals by agency; time to takedown.

Every number is counted by the database (``GROUP BY``), with SQL that runs on SQLite and PostgreSQL: the
only dialect-specific pieces are the period of a timestamp (:func:`period_expr`) and the seconds between
two timestamps (:func:`seconds_between`). Results are :class:`Chart` objects holding codes (category,
source, country, bucket keys), never translated text: front ends label them. No chart holds report text
or identifiers; the smallest cell is a count.

Exports: :func:`to_csv` (tidy rows: one line per cell) and :func:`to_png` (matplotlib, Agg, no display).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select

from tipline.intake.schemas import Category, Source
from tipline.store import Database
from tipline.store.models import Report

PERIODS = ("day", "week", "month", "year")
REPORT_CHARTS = ("reports_by_category", "reports_by_source", "reports_by_country")
CHARTS = (*REPORT_CHARTS, "queue_age", "referrals_by_agency", "time_to_takedown")
OPEN_STATUSES = ("new", "in_review")
MAX_PERIODS = 1000
TOP_COUNTRIES = 10
TOP_AGENCIES = 15

# age of open reports: (key, lower bound); the first bucket is everything younger than the next bound
QUEUE_AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("lt_1h", timedelta(0)),
    ("1h_1d", timedelta(hours=1)),
    ("1d_7d", timedelta(days=1)),
    ("7d_30d", timedelta(days=7)),
    ("gt_30d", timedelta(days=30)),
)
# time from notice to takedown
TAKEDOWN_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("lt_1d", timedelta(0)),
    ("1d_3d", timedelta(days=1)),
    ("3d_7d", timedelta(days=3)),
    ("7d_30d", timedelta(days=7)),
    ("gt_30d", timedelta(days=30)),
)

# colour-blind-safe qualitative palette (Paul Tol's "muted", then two more); the same key gets the same
# colour in every chart, on the page and in the PNG
PALETTE = (
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
    "#6699CC",
    "#EE8866",
    "#555555",
)
PRIORITY_COLOURS = {"1": "#b3261e", "2": "#c2410c", "3": "#f2b705", "4": "#8a939e", "5": "#c5ccd4"}
OTHER_COLOUR = "#BBBBBB"


class StatsError(ValueError):
    """A statistics request that cannot be answered as asked; the message says what to change."""


@dataclass
class StatsQuery:
    """What to count: reports received in ``[since, until)``, grouped by ``period``; ``now`` dates the queue."""

    period: str = "month"
    since: datetime | None = None
    until: datetime | None = None
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise StatsError(f"period must be one of {', '.join(PERIODS)}, not {self.period!r}")
        if self.since and self.until and self.since >= self.until:
            raise StatsError("'since' must be before 'until'")

    @property
    def at(self) -> datetime:
        return self.now or datetime.now(UTC)


@dataclass
class Series:
    key: str
    values: list[int]
    color: str = OTHER_COLOUR


@dataclass
class Chart:
    """One chart: categories on the x axis (periods, buckets, agencies) and one or more stacked series."""

    name: str
    x: list[str]
    series: list[Series]
    kind: str = "time"  # time (x = periods) | buckets (x = bucket keys) | names (x = free names)
    x_name: str = "period"  # CSV column of x
    series_name: str = "series"  # CSV column of a series key
    value_name: str = "reports"  # CSV column of a count
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(s.values) for s in self.series)

    def x_totals(self) -> list[int]:
        """The sum of the series at each x."""
        return [sum(s.values[i] for s in self.series) for i in range(len(self.x))]

    def rows(self) -> list[tuple[str, str, int]]:
        """Tidy rows (x, series key, count), zero cells left out."""
        return [(x, s.key, v) for s in self.series for x, v in zip(self.x, s.values, strict=True) if v]

    def to_json(self, label: Callable[[str, str], str] | None = None) -> dict[str, Any]:
        """The chart as JSON; ``label(kind, key)`` names series and buckets (kind: the chart's series_name,
        or ``bucket``); without it the labels are the keys."""
        lab = label or (lambda _kind, key: key)
        x_labels = [lab("bucket", x) for x in self.x] if self.kind == "buckets" else list(self.x)
        return {
            "name": self.name,
            "kind": self.kind,
            "x": self.x,
            "x_labels": x_labels,
            "series": [
                {"key": s.key, "label": lab(self.series_name, s.key), "color": s.color, "values": s.values}
                for s in self.series
            ],
            "total": self.total,
            "extra": self.extra,
        }


# ------------------------------------------------------------------------------------------ SQL pieces


def period_expr(dialect: str, col: Any, period: str) -> ColumnElement[str]:
    """The period of a UTC timestamp as text: ``2025-03-17`` (day; week: its Monday), ``2025-03``, ``2025``."""
    if dialect == "sqlite":
        # SQLite keeps UTC timestamps as ISO text ("2025-03-09 23:59:59.999999"): cut the date out of the
        # text rather than parse it (SQLite's date functions round to milliseconds: 23:59:59.9995 would
        # become the next day)
        day = func.substr(col, 1, 10)
        if period == "week":
            return func.date(day, "weekday 0", "-6 days")
        return func.substr(col, 1, {"day": 10, "month": 7, "year": 4}[period])
    if dialect == "postgresql":
        utc = func.timezone("UTC", col)  # timestamptz -> the UTC wall-clock time
        fmt = {"day": "YYYY-MM-DD", "week": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}[period]
        return func.to_char(func.date_trunc(period, utc), fmt)
    raise StatsError(f"statistics do not support the {dialect} database")


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    if dialect == "postgresql":
        return func.extract("epoch", end - start)  # type: ignore[return-value]  # Extract: a float column
    raise StatsError(f"statistics do not support the {dialect} database")


def period_key(t: datetime | date, period: str) -> str:
    """The Python twin of :func:`period_expr` (for filling periods with no reports)."""
    d = t.astimezone(UTC).date() if isinstance(t, datetime) else t
    if period == "day":
        return d.isoformat()
    if period == "week":
        return (d - timedelta(days=d.weekday())).isoformat()
    if period == "month":
        return f"{d.year:04d}-{d.month:02d}"
    return f"{d.year:04d}"


def _key_start(key: str, period: str) -> date:
    if period in ("day", "week"):
        return date.fromisoformat(key)
    if period == "month":
        y, m = key.split("-")
        return date(int(y), int(m), 1)
    return date(int(key), 1, 1)


def _next(d: date, period: str) -> date:
    if period == "day":
        return d + timedelta(days=1)
    if period == "week":
        return d + timedelta(days=7)
    if period == "month":
        return date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return date(d.year + 1, 1, 1)


def period_range(first: str, last: str, period: str) -> list[str]:
    """Every period key from ``first`` to ``last`` inclusive."""
    out: list[str] = []
    d, end = _key_start(first, period), _key_start(last, period)
    while d <= end:
        out.append(period_key(d, period))
        if len(out) > MAX_PERIODS:
            raise StatsError(
                f"more than {MAX_PERIODS} {period}s in the range asked for: choose a longer period or a shorter range"
            )
        d = _next(d, period)
    return out


def _bucket_case(seconds: Any, buckets: tuple[tuple[str, timedelta], ...]) -> ColumnElement[str]:
    """CASE mapping a number of seconds to the key of its bucket (buckets are (key, lower bound))."""
    whens = [(seconds >= bound.total_seconds(), literal(key)) for key, bound in reversed(buckets[1:])]
    return case(*whens, else_=literal(buckets[0][0]))


def _reports_in(q: StatsQuery) -> list[ColumnElement[bool]]:
    cond: list[ColumnElement[bool]] = [Report.submission_state == "complete"]
    if q.since is not None:
        cond.append(Report.received_at >= q.since)
    if q.until is not None:
        cond.append(Report.received_at < q.until)
    return cond


def _colour_for(order: list[str]) -> Callable[[str], str]:
    fixed = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(order)}
    return lambda key: fixed.get(key, OTHER_COLOUR)


# ------------------------------------------------------------------------------------------ report charts


def _over_time(db: Database, q: StatsQuery, name: str, col: Any, order: list[str], top: int | None) -> Chart:
    # group in an outer query, so the key may be any expression (a correlated subquery included)
    inner = (
        select(
            period_expr(db.dialect, Report.received_at, q.period).label("period"),
            func.coalesce(col, literal("unknown")).label("key"),
        )
        .where(*_reports_in(q))
        .subquery()
    )
    stmt = select(inner.c.period, inner.c.key, func.count()).group_by(inner.c.period, inner.c.key)
    with db.reader() as s:
        cells = [(str(p), str(k), int(n)) for p, k, n in s.execute(stmt)]
    totals: dict[str, int] = {}
    for _p, k, n in cells:
        totals[k] = totals.get(k, 0) + n
    if top is None:
        keys = sorted(totals, key=lambda k: (order.index(k) if k in order else len(order), k))
        kept = set(keys)
        colour = _colour_for(order)
    else:
        ranked = sorted((k for k in totals if k != "unknown"), key=lambda k: (-totals[k], k))
        kept = set(ranked[:top])
        keys = ranked[:top] + (["other"] if len(ranked) > top else []) + (["unknown"] if "unknown" in totals else [])
        colour = _colour_for(ranked[:top])
    # the x axis: every period from the first to the last (of the range asked for, else of the data)
    seen = sorted({p for p, _k, _n in cells})
    first = period_key(q.since, q.period) if q.since else (seen[0] if seen else None)
    if q.until is not None:
        last: str | None = period_key(q.until - timedelta(microseconds=1), q.period)
    elif q.since is not None:
        last = max([*seen, period_key(q.at, q.period)])
    else:
        last = seen[-1] if seen else None
    x = period_range(first, last, q.period) if first and last and first <= last else []
    index = {p: i for i, p in enumerate(x)}
    values: dict[str, list[int]] = {k: [0] * len(x) for k in keys}
    for p, k, n in cells:
        target = k if (k in kept or k == "unknown") else "other"
        if p in index:
            values[target][index[p]] += n
    series = [Series(k, values[k], OTHER_COLOUR if k in ("other", "unknown") else colour(k)) for k in keys]
    series_name = {"reports_by_category": "category", "reports_by_source": "source"}.get(name, "country")
    return Chart(name, x, series, kind="time", x_name="period", series_name=series_name, value_name="reports")


def reports_by_category(db: Database, q: StatsQuery) -> Chart:
    return _over_time(db, q, "reports_by_category", Report.category, [c.value for c in Category], None)


def reports_by_source(db: Database, q: StatsQuery) -> Chart:
    return _over_time(db, q, "reports_by_source", Report.source, [s.value for s in Source], None)


def report_country() -> ColumnElement[str]:
    """The country of a report: the first jurisdiction candidate that routing found (its best-supported
    country), else the country the report states."""
    from tipline.routing.models import JurisdictionCandidate as J

    first = (
        select(J.country).where(J.report_id == Report.id).order_by(J.rank, J.weight.desc(), J.id).limit(1)
    ).scalar_subquery()
    return func.coalesce(first, Report.country)


def reports_by_country(db: Database, q: StatsQuery) -> Chart:
    """By :func:`report_country`: the top countries, then 'other', then 'unknown'."""
    return _over_time(db, q, "reports_by_country", report_country(), [], TOP_COUNTRIES)


def queue_age(db: Database, q: StatsQuery) -> Chart:
    """Open reports (new, in review) by age at ``q.now`` and priority. Not limited by since/until."""
    now = q.at
    bounds = tuple((k, b) for k, b in QUEUE_AGE_BUCKETS)
    # a report is in bucket k when received_at <= now - bound(k): compare timestamps, no dialect arithmetic
    whens = [(Report.received_at <= now - b, literal(k)) for k, b in reversed(bounds[1:])]
    bucket = case(*whens, else_=literal(bounds[0][0])).label("bucket")
    stmt = (
        select(bucket, Report.priority, func.count())
        .where(Report.submission_state == "complete", Report.status.in_(OPEN_STATUSES))
        .group_by(bucket, Report.priority)
    )
    with db.reader() as s:
        cells = [(b, str(p), int(n)) for b, p, n in s.execute(stmt)]
    x = [k for k, _b in QUEUE_AGE_BUCKETS]
    prios = sorted({p for _b, p, _n in cells}, key=int)
    values = {p: [0] * len(x) for p in prios}
    for b, p, n in cells:
        values[p][x.index(b)] += n
    oldest = None
    with db.reader() as s:
        oldest = s.scalar(
            select(func.min(Report.received_at)).where(
                Report.submission_state == "complete", Report.status.in_(OPEN_STATUSES)
            )
        )
    extra: dict[str, Any] = {"open": sum(n for _b, _p, n in cells), "as_of": now.isoformat()}
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        extra["oldest_hours"] = round((now - oldest).total_seconds() / 3600, 1)
    series = [Series(p, values[p], PRIORITY_COLOURS.get(p, OTHER_COLOUR)) for p in prios]
    return Chart(
        "queue_age", x, series, kind="buckets", x_name="age", series_name="priority", value_name="reports", extra=extra
    )


# ------------------------------------------------------------------------------------------ routing charts


def referrals_by_agency(db: Database, q: StatsQuery) -> Chart:
    """Referrals made in ``[since, until)`` by agency (the top agencies, then 'other') and whether the agency
    acknowledged them. ``extra``: median hours to acknowledgement."""
    from tipline.routing.models import Agency, Referral

    acked = case((Referral.acknowledged_at.is_not(None), literal("acknowledged")), else_=literal("awaiting"))
    cond: list[ColumnElement[bool]] = []
    if q.since is not None:
        cond.append(Referral.created_at >= q.since)
    if q.until is not None:
        cond.append(Referral.created_at < q.until)
    inner = select(Referral.agency_id.label("agency"), acked.label("state")).where(*cond).subquery()
    stmt = select(inner.c.agency, inner.c.state, func.count()).group_by(inner.c.agency, inner.c.state)
    ack_secs = seconds_between(db.dialect, Referral.created_at, Referral.acknowledged_at)
    with db.reader() as s:
        cells = [(a, st, int(n)) for a, st, n in s.execute(stmt)]
        names = {i: (short or name) for i, short, name in s.execute(select(Agency.id, Agency.short_name, Agency.name))}
        waits = [float(x) for (x,) in s.execute(select(ack_secs).where(*cond, Referral.acknowledged_at.is_not(None)))]
    totals: dict[str, int] = {}
    for a, _st, n in cells:
        totals[a] = totals.get(a, 0) + n
    ranked = sorted(totals, key=lambda a: (-totals[a], names.get(a, a)))
    kept = ranked[:TOP_AGENCIES]
    x = [names.get(a, a) for a in kept] + (["other"] if len(ranked) > TOP_AGENCIES else [])
    states = ["acknowledged", "awaiting"]
    values = {st: [0] * len(x) for st in states}
    for a, st, n in cells:
        i = kept.index(a) if a in kept else len(x) - 1
        values[st][i] += n
    colours = {"acknowledged": "#117733", "awaiting": "#DDCC77"}
    series = [Series(st, values[st], colours[st]) for st in states if any(values[st])]
    med = percentile(waits, 50)
    extra = {
        "referrals": sum(totals.values()),
        "agencies": len(totals),
        "median_hours_to_ack": None if med is None else round(med / 3600, 1),
        "agency_ids": kept,
    }
    return Chart(
        "referrals_by_agency", x, series, kind="names", x_name="agency", series_name="state",
        value_name="referrals", extra=extra,
    )  # fmt: skip


def time_to_takedown(db: Database, q: StatsQuery) -> Chart:
    """URLs reported in ``[since, until)`` and since removed: time from report to removal, by bucket and
    hosting country (the top countries, then 'other', 'unknown'). ``extra``: how many are still online,
    median and 90th-percentile hours, from report and from the notice to the host, and the share removed
    within 3 days (INHOPE's yardstick)."""
    from tipline.routing.models import UrlTakedown as T

    cond: list[ColumnElement[bool]] = []
    if q.since is not None:
        cond.append(T.reported_at >= q.since)
    if q.until is not None:
        cond.append(T.reported_at < q.until)
    secs = seconds_between(db.dialect, T.reported_at, T.removed_at)
    inner = (
        select(
            _bucket_case(secs, TAKEDOWN_BUCKETS).label("bucket"),
            func.coalesce(T.hosting_country, literal("unknown")).label("country"),
        )
        .where(*cond, T.removed_at.is_not(None))
        .subquery()
    )
    stmt = select(inner.c.bucket, inner.c.country, func.count()).group_by(inner.c.bucket, inner.c.country)
    notice_secs = seconds_between(db.dialect, T.notice_sent_at, T.removed_at)
    with db.reader() as s:
        cells = [(b, c, int(n)) for b, c, n in s.execute(stmt)]
        pending = int(s.scalar(select(func.count()).select_from(T).where(*cond, T.removed_at.is_(None))) or 0)
        from_report = [float(v) for (v,) in s.execute(select(secs).where(*cond, T.removed_at.is_not(None)))]
        from_notice = [
            float(v)
            for (v,) in s.execute(
                select(notice_secs).where(*cond, T.removed_at.is_not(None), T.notice_sent_at.is_not(None))
            )
        ]
    x = [k for k, _b in TAKEDOWN_BUCKETS]
    totals: dict[str, int] = {}
    for _b, c, n in cells:
        totals[c] = totals.get(c, 0) + n
    ranked = sorted((c for c in totals if c != "unknown"), key=lambda c: (-totals[c], c))
    kept = ranked[:TOP_COUNTRIES]
    keys = kept + (["other"] if len(ranked) > TOP_COUNTRIES else []) + (["unknown"] if "unknown" in totals else [])
    values = {k: [0] * len(x) for k in keys}
    for b, c, n in cells:
        target = c if (c in kept or c == "unknown") else "other"
        values[target][x.index(b)] += n
    colour = _colour_for(kept)
    series = [Series(k, values[k], OTHER_COLOUR if k in ("other", "unknown") else colour(k)) for k in keys]

    def hours(v: float | None) -> float | None:
        return None if v is None else round(v / 3600, 1)

    removed = len(from_report)
    extra = {
        "removed": removed,
        "still_online": pending,
        "median_hours": hours(percentile(from_report, 50)),
        "p90_hours": hours(percentile(from_report, 90)),
        "median_hours_from_notice": hours(percentile(from_notice, 50)),
        "within_3_days": None if not removed else round(sum(v <= 3 * 86400 for v in from_report) / removed, 3),
    }
    return Chart(
        "time_to_takedown", x, series, kind="buckets", x_name="time_to_takedown", series_name="hosting_country",
        value_name="urls", extra=extra,
    )  # fmt: skip


BUILDERS: Mapping[str, Callable[[Database, StatsQuery], Chart]] = {
    "reports_by_category": reports_by_category,
    "reports_by_source": reports_by_source,
    "reports_by_country": reports_by_country,
    "queue_age": queue_age,
    "referrals_by_agency": referrals_by_agency,
    "time_to_takedown": time_to_takedown,
}


def chart(db: Database, name: str, q: StatsQuery) -> Chart:
    try:
        build = BUILDERS[name]
    except KeyError:
        raise StatsError(f"unknown chart {name!r}; charts: {', '.join(CHARTS)}") from None
    return build(db, q)


def all_charts(db: Database, q: StatsQuery, names: Iterable[str] = CHARTS) -> dict[str, Chart]:
    return {n: chart(db, n, q) for n in names}


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100), linear between the closest ranks; None for no values."""
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * min(max(p, 0.0), 100.0) / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


# ------------------------------------------------------------------------------------------ exports


def to_csv(c: Chart, label: Callable[[str, str], str] | None = None) -> str:
    """Tidy CSV: a header (x column, series column, count column), then one row per non-zero cell;
    with ``label``, a fourth column holds the series' human name."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = [c.x_name, c.series_name, c.value_name]
    if label is not None:
        header.append(f"{c.series_name}_label")
    w.writerow(header)
    for x, key, n in c.rows():
        row: list[Any] = [x, key, n]
        if label is not None:
            row.append(label(c.series_name, key))
        w.writerow([_csv_safe(v) for v in row])
    return buf.getvalue()


def _csv_safe(v: Any) -> Any:
    """Keep spreadsheet programs from running a cell as a formula (agency names are typed by people)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def to_png(
    c: Chart,
    *,
    title: str,
    y_label: str,
    label: Callable[[str, str], str] | None = None,
    note: str | None = None,
    width: float = 10.0,
    height: float = 5.0,
    dpi: int = 110,
) -> bytes:
    """The chart as a PNG (stacked bars), drawn with matplotlib's Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    lab = label or (lambda _kind, key: key)
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(c.x)))
    x_labels = [lab("bucket", x) for x in c.x] if c.kind == "buckets" else list(c.x)
    bottom = [0] * len(xs)
    for s in c.series:
        ax.bar(xs, s.values, bottom=bottom, color=s.color, label=lab(c.series_name, s.key), width=0.8)
        bottom = [a + b for a, b in zip(bottom, s.values, strict=True)]
    ax.set_title(title, loc="left", fontsize=13, fontweight="bold")
    ax.set_ylabel(y_label)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    if xs:
        step = max(1, len(xs) // 24)
        ax.set_xticks(xs[::step], x_labels[::step], rotation=45 if c.kind != "buckets" else 0, ha="right"
                      if c.kind != "buckets" else "center", fontsize=9)  # fmt: skip
    if not c.series:
        ax.text(0.5, 0.5, "0", transform=ax.transAxes, ha="center", va="center", fontsize=20, color="#888888")
        ax.set_yticks([])
    elif len(c.series) > 1 or c.kind != "time":
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9)
    if note:
        ax.set_title(note, loc="right", fontsize=9, color="#555555")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": "tipline"})
    return buf.getvalue()
