"""Statistics in the browser: the ``/stats`` dashboard, its JSON (``/api/v1/stats``), CSV and PNG exports.

Who may see what: every staff role (analyst and up) sees the dashboard and its JSON (counts only: no report
text, no identifier, nothing about a reporter). Exports (``/stats/{chart}.csv``, ``/stats/{chart}.png``)
are what a hotline publishes, so they need the supervisor role, and each one is written to the audit log.

The page renders every number server-side, in tables (readable without JavaScript and by screen readers);
``static/stats/stats.js`` draws the same numbers as charts with the vendored Chart.js, from the JSON.
No inline script: translated words reach the script through ``data-`` attributes and the JSON labels.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from tipline.accounts.service import Principal, Role, audited
from tipline.i18n import labels, negotiate
from tipline.i18n.templating import environment, render
from tipline.routing import stats
from tipline.store import Database
from tipline.webkit.deps import app_db
from tipline.webkit.deps import require as require_api
from tipline.webkit.deps import staff as staff_api
from tipline.webkit.kit import JSONRoute, PageDenied, PageRoute, page_user, require_page_role

LABELS_TEMPLATE = "routing/stats_labels.html"

pages = APIRouter(route_class=PageRoute, include_in_schema=False)
api = APIRouter(route_class=JSONRoute)
router = APIRouter(route_class=JSONRoute)

Db = Annotated[Database, Depends(app_db)]


# ------------------------------------------------------------------------------------------ labels


def label_module(lang: str) -> Any:
    """The translated words of the statistics (titles, buckets, ...) in one language."""
    return environment(lang).get_template(LABELS_TEMPLATE).module


def labeller(lang: str) -> Callable[[str, str], str]:
    """``label(kind, key)``: the human name of a series or bucket key, in ``lang``."""
    words = label_module(lang)

    def label(kind: str, key: str) -> str:
        if kind == "category":
            return labels.label(labels.CATEGORY, key, lang)
        if key in words.words:
            return str(words.words[key])
        if kind == "source":
            return labels.label(labels.SOURCE, key, lang)
        if kind in ("country", "hosting_country"):
            return labels.country_name(key, lang)
        if kind == "priority":
            return f"P{key}"
        if kind == "bucket":
            return str(words.buckets.get(key, key))
        return key

    return label


# ------------------------------------------------------------------------------------------ query


def _day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date written YYYY-MM-DD, not {value[:20]!r}") from None


def parse_query(period: str = "month", since: str = "", until: str = "") -> stats.StatsQuery:
    """Dates are whole UTC days: ``until`` is included (counts stop at the end of that day)."""
    s, u = _day(since, "since"), _day(until, "until")
    if u is not None and u >= date.max:
        raise ValueError(f"until must be a date before {date.max.isoformat()}")
    return stats.StatsQuery(
        period=period or "month",
        since=datetime(s.year, s.month, s.day, tzinfo=UTC) if s else None,
        until=datetime(u.year, u.month, u.day, tzinfo=UTC) + timedelta(days=1) if u else None,
    )


def _api_query(period: str, since: str, until: str) -> stats.StatsQuery:
    try:
        return parse_query(period, since, until)
    except ValueError as e:  # StatsError is a ValueError too
        raise HTTPException(status_code=422, detail=str(e)) from None


def stats_json(db: Database, q: stats.StatsQuery, lang: str) -> dict[str, Any]:
    label = labeller(lang)
    words = label_module(lang)
    charts = stats.all_charts(db, q)
    out: dict[str, Any] = {
        "period": q.period,
        "since": q.since.date().isoformat() if q.since else None,
        "until": (q.until - timedelta(days=1)).date().isoformat() if q.until else None,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "language": lang,
        "charts": {},
    }
    for name, c in charts.items():
        j = c.to_json(label)
        j["title"] = str(words.titles[name])
        j["y_label"] = str(words.y_labels[c.value_name])
        out["charts"][name] = j
    return out


# ------------------------------------------------------------------------------------------ API


Number = int | float


class SeriesOut(BaseModel):
    key: str = Field(description="A code: category, source, ISO country, priority, agency id, ...")
    label: str = Field(description="Its name in the request's language")
    color: str
    values: list[Number | None] = Field(description="One value per x, in the order of x")


class ChartOut(BaseModel):
    name: str
    kind: str = Field(description="time (x: periods), buckets (x: bucket codes) or names (x: free names)")
    x: list[str]
    x_labels: list[str]
    series: list[SeriesOut]
    total: Number | None
    extra: dict[str, Any]
    title: str
    y_label: str


class StatsOut(BaseModel):
    period: str
    since: str | None
    until: str | None
    generated_at: str
    language: str
    charts: dict[str, ChartOut]


@api.get("/api/v1/stats", tags=["statistics"], response_model=StatsOut)
def api_stats(
    request: Request,
    db: Db,
    user: Annotated[Principal, Depends(staff_api)],
    period: str = "month",
    since: str = "",
    until: str = "",
) -> StatsOut:
    """Counts for every chart of the dashboard (staff). ``since``/``until``: YYYY-MM-DD, both included.

    Series keys are codes (categories, sources, ISO countries, priorities); ``label`` is their name in
    the request's language. No report text, identifier or reporter data is ever part of it.
    """
    try:
        return StatsOut.model_validate(stats_json(db, _api_query(period, since, until), negotiate(request)))
    except stats.StatsError as e:  # a range too long for the period, found while counting
        raise HTTPException(status_code=422, detail=str(e)) from None


# ------------------------------------------------------------------------------------------ pages


@pages.get("/stats")
def stats_page(
    request: Request,
    db: Db,
    user: Annotated[Principal, Depends(page_user)],
    period: str = "month",
    since: str = "",
    until: str = "",
) -> Response:
    lang = negotiate(request)
    error = None
    try:
        q = parse_query(period, since, until)
    except ValueError as e:
        error = str(e)
        q = stats.StatsQuery()
        period, since, until = "month", "", ""
    try:
        charts = stats.all_charts(db, q)
    except stats.StatsError:  # a range too long for the period: say so and show the default
        error, q, since, until = "range", stats.StatsQuery(), "", ""
        charts = stats.all_charts(db, q)
    ctx = {
        "charts": charts,
        "chart_names": list(stats.CHARTS),
        "filters": {"period": q.period, "since": since.strip(), "until": until.strip()},
        "periods": list(stats.PERIODS),
        "error": error,
        "can_export": user.can(Role.SUPERVISOR),
        "export_query": request.url.query,
        "stat_label": labeller(lang),
        "L": label_module(lang),
        "now": datetime.now(UTC),
    }
    return render(request, "routing/stats_dashboard.html", ctx, no_store=True)


def export_user(request: Request) -> Principal:
    """Supervisor or admin: by staff token (JSON errors) or by session (page errors)."""
    if request.headers.get("authorization"):
        return require_api(Role.SUPERVISOR)(request)
    return require_page_role(Role.SUPERVISOR)(request)


def png_note(words: Any, c: stats.Chart, since: str = "", until: str = "") -> str:
    """The dates a PNG covers, shown beside its title: the range asked for, else the periods shown; the
    queue's age is as of now."""
    if c.name == "queue_age":
        return str(words.as_of(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))).strip()
    first = since.strip() or (c.x[0] if c.kind == "time" and c.x else "")
    last = until.strip() or (c.x[-1] if c.kind == "time" and c.x else "")
    if not first and not last:
        return ""
    return str(words.range_note(first or "…", last or datetime.now(UTC).date().isoformat())).strip()


def _export(request: Request, db: Database, user: Principal, chart: str, fmt: str, period: str, since: str,
            until: str) -> Response:  # fmt: skip
    if chart not in stats.CHARTS:
        raise PageDenied(404, f"unknown chart {chart!r}")
    try:
        q = parse_query(period, since, until)
    except ValueError as e:
        raise PageDenied(422, str(e)) from None
    lang = negotiate(request)
    label = labeller(lang)
    words = label_module(lang)
    try:
        c = stats.chart(db, chart, q)
    except stats.StatsError as e:
        raise PageDenied(422, str(e)) from None
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    filename = f"tipline-{chart}-{q.period}-{stamp}.{fmt}"
    if fmt == "csv":
        body: bytes = stats.to_csv(c, label).encode("utf-8")
        media = "text/csv; charset=utf-8"
    else:
        body = stats.to_png(
            c,
            title=str(words.titles[chart]),
            y_label=str(words.y_labels[c.value_name]),
            label=label,
            note=png_note(words, c, since, until),
        )
        media = "image/png"
    audited(db, user, "stats.export", "chart", chart, format=fmt, period=q.period, since=since, until=until)
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@pages.get("/stats/{chart}.csv")
def stats_csv(
    request: Request,
    chart: str,
    db: Db,
    user: Annotated[Principal, Depends(export_user)],
    period: str = "month",
    since: str = "",
    until: str = "",
) -> Response:
    return _export(request, db, user, chart, "csv", period, since, until)


@pages.get("/stats/{chart}.png")
def stats_png(
    request: Request,
    chart: str,
    db: Db,
    user: Annotated[Principal, Depends(export_user)],
    period: str = "month",
    since: str = "",
    until: str = "",
) -> Response:
    return _export(request, db, user, chart, "png", period, since, until)


router.include_router(api)
router.include_router(pages)
