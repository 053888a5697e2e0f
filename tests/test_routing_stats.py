"""Statistics: numbers checked against small hand-counted data on SQLite and PostgreSQL, CSV and PNG exports,
the dashboard and its access rules, the command line, and (browser) the charts drawn by Chart.js."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from helpers import PASSWORD, bearer, css, full_token, needs_chromium, page, serve_app
from tipline.accounts import service as accounts
from tipline.routing import stats, web_stats
from tipline.routing.models import Agency, JurisdictionCandidate, Referral, UrlTakedown
from tipline.routing.stats import StatsQuery
from tipline.store import Database
from tipline.store.models import AuditEvent, Report


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NOW = at("2025-04-01 12:00:00")
MARCH_APRIL = {"since": at("2025-03-01 00:00:00"), "until": at("2025-05-01 00:00:00")}  # 03-01 to 04-30 included

# (key, received_at, category, source, stated country, status, priority, submission_state)
REPORTS = [
    ("r1", "2025-03-03 00:00:00", "child_sexual_abuse_material", "public", "PH", "new", 1, "complete"),
    ("r2", "2025-03-09 23:59:59", "child_sexual_abuse_material", "platform", "PH", "in_review", 2, "complete"),
    ("r3", "2025-03-10 00:00:00", "sextortion", "public", "IT", "no_action", 3, "complete"),
    ("r4", "2025-03-31 23:59:59.999000", "sextortion", "cybertip", None, "referred", 2, "complete"),
    ("r5", "2025-04-01 00:00:00", "live_streamed_abuse", "live", "US", "new", 1, "complete"),
    ("r6", "2024-12-31 23:59:59", "other", "public", "PH", "new", 4, "complete"),
    ("r7", "2025-04-15 00:00:00", "sextortion", "platform", "PH", "new", 1, "open"),  # never counted
    ("r8", "2025-04-16 00:00:00", "child_sexual_abuse_material", "platform", "IT", "new", 1, "retracted"),
    ("r9", "2025-04-01 11:30:00", "other", "public", None, "new", 3, "complete"),
]
# (report, country, rank, weight): r3 states IT but routing ranks PH first; r4 states nothing
JURISDICTION = [("r3", "IT", 2, 0.4), ("r3", "PH", 1, 0.8), ("r4", "GB", 1, 0.9), ("r1", "PH", 1, 0.7)]
AGENCIES = [("test-pnp", "Philippine National Police", "PNP-WCPC"), ("test-nca", "National Crime Agency", "NCA"),
            ("test-afp", "Australian Federal Police", "")]  # fmt: skip
# (agency, created_at, acknowledged after)
REFERRALS = [
    ("test-pnp", "2025-03-05 00:00:00", timedelta(hours=24)),
    ("test-pnp", "2025-03-20 00:00:00", None),
    ("test-nca", "2025-03-21 00:00:00", timedelta(hours=2)),
    ("test-afp", "2025-04-02 00:00:00", None),
    ("test-pnp", "2024-12-01 00:00:00", timedelta(hours=10)),
]
# (hosting country, reported_at, notice_sent_at, removed_at)
TAKEDOWNS = [
    ("PH", "2025-03-01 00:00:00", "2025-03-01 02:00:00", "2025-03-01 12:00:00"),  # 12 h
    ("PH", "2025-03-02 00:00:00", "2025-03-02 01:00:00", "2025-03-04 00:00:00"),  # 48 h
    ("US", "2025-03-03 00:00:00", None, "2025-03-08 00:00:00"),  # 5 days
    (None, "2025-03-04 00:00:00", "2025-03-05 00:00:00", "2025-04-20 00:00:00"),  # 47 days
    ("NL", "2025-03-05 00:00:00", "2025-03-05 06:00:00", None),  # still online
    ("PH", "2025-03-10 00:00:00", None, "2025-03-11 00:00:00"),  # exactly 24 h: the 1-3 days bucket
    ("PH", "2024-11-01 00:00:00", None, "2024-11-02 00:00:00"),  # before the range
]


def load(db: Database) -> dict[str, int]:
    ids: dict[str, int] = {}
    with db.session() as s:
        for key, when, cat, src, country, status, prio, state in REPORTS:
            r = Report(
                source=src, category=cat, received_at=at(when), country=country, status=status, priority=prio,
                submission_state=state, text="",
            )  # fmt: skip
            s.add(r)
            s.flush()
            ids[key] = r.id
        for key, country, rank, weight in JURISDICTION:
            s.add(JurisdictionCandidate(report_id=ids[key], country=country, rank=rank, weight=weight, evidence=[]))
        for aid, name, short in AGENCIES:
            s.add(Agency(id=aid, name=name, short_name=short))
        s.flush()
        for n, (aid, created, ack) in enumerate(REFERRALS):
            t = at(created)
            s.add(
                Referral(
                    subject_type="report", subject_id=ids["r1"], report_id=ids["r1"], report_ids=[ids["r1"]],
                    agency_id=aid, format="package", filename=f"ref-{n}.zip", size=1, digest="0" * 64, package="",
                    created_by="test", created_at=t, acknowledged_at=t + ack if ack else None,
                )
            )  # fmt: skip
        for n, (country, reported, notice, removed) in enumerate(TAKEDOWNS):
            url = f"https://host{n}.example.test/page"
            s.add(
                UrlTakedown(
                    url_sha256=hashlib.sha256(url.encode()).hexdigest(), url=url, host=f"host{n}.example.test",
                    hosting_country=country, state="removed" if removed else "notice_sent", reported_at=at(reported),
                    notice_sent_at=at(notice) if notice else None, removed_at=at(removed) if removed else None,
                )
            )  # fmt: skip
    return ids


@pytest.fixture
def data(db: Database) -> Database:
    load(db)
    return db


def series(c: stats.Chart) -> dict[str, list[int]]:
    return {s.key: s.values for s in c.series}


# ------------------------------------------------------------------------------------------ numbers


def test_reports_by_category_by_month(data):
    c = stats.reports_by_category(data, StatsQuery(period="month"))
    assert c.x == ["2024-12", "2025-01", "2025-02", "2025-03", "2025-04"]  # empty months are filled in
    assert series(c) == {
        "child_sexual_abuse_material": [0, 0, 0, 2, 0],
        "live_streamed_abuse": [0, 0, 0, 0, 1],
        "sextortion": [0, 0, 0, 2, 0],
        "other": [1, 0, 0, 0, 1],
    }
    assert [s.key for s in c.series] == ["child_sexual_abuse_material", "live_streamed_abuse", "sextortion", "other"]
    assert c.total == 7  # the open and the retracted submissions are not counted


def test_reports_by_source_by_week_in_a_range(data):
    c = stats.reports_by_source(data, StatsQuery(period="week", **MARCH_APRIL))
    # weeks start on Monday: 2025-03-01 is in the week of Monday 24 February; 30 April in that of 28 April
    assert c.x == ["2025-02-24", "2025-03-03", "2025-03-10", "2025-03-17", "2025-03-24", "2025-03-31",
                   "2025-04-07", "2025-04-14", "2025-04-21", "2025-04-28"]  # fmt: skip
    assert series(c) == {
        "public": [0, 1, 1, 0, 0, 1, 0, 0, 0, 0],  # r1, r3, r9 (r6 is before the range)
        "platform": [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],  # r2, Sunday 23:59:59, is in the week of Monday 3 March
        "cybertip": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        "live": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    }


def test_reports_by_day_at_midnight(data):
    c = stats.reports_by_category(data, StatsQuery(period="day", since=at("2025-03-31"), until=at("2025-04-02")))
    assert c.x == ["2025-03-31", "2025-04-01"]
    assert series(c) == {"live_streamed_abuse": [0, 1], "sextortion": [1, 0], "other": [0, 1]}


def test_reports_by_country_uses_routing_first_then_the_stated_country(data, monkeypatch):
    c = stats.reports_by_country(data, StatsQuery(period="year"))
    assert c.x == ["2024", "2025"]
    # r3 states IT but routing ranked PH first; r4 states nothing and routing found GB; r9: nothing at all
    assert series(c) == {"PH": [1, 3], "GB": [0, 1], "US": [0, 1], "unknown": [0, 1]}
    monkeypatch.setattr(stats, "TOP_COUNTRIES", 1)
    c = stats.reports_by_country(data, StatsQuery(period="year"))
    assert series(c) == {"PH": [1, 3], "other": [0, 2], "unknown": [0, 1]}
    assert c.series[1].color == c.series[2].color == stats.OTHER_COLOUR


def test_queue_age_by_priority(data):
    c = stats.queue_age(data, StatsQuery(now=NOW))
    assert c.x == ["lt_1h", "1h_1d", "1d_7d", "7d_30d", "gt_30d"]
    assert series(c) == {
        "1": [0, 1, 0, 1, 0],  # r5 (12 h), r1 (29.5 days)
        "2": [0, 0, 0, 1, 0],  # r2 (in review)
        "3": [1, 0, 0, 0, 0],  # r9 (30 minutes)
        "4": [0, 0, 0, 0, 1],  # r6 (90 days)
    }
    assert c.extra["open"] == 5 and c.extra["oldest_hours"] == 2172.0


def test_queue_age_bucket_edges(db):
    with db.session() as s:
        for age in (timedelta(minutes=59), timedelta(hours=1), timedelta(days=7), timedelta(days=30, seconds=1)):
            s.add(Report(source="public", category="other", received_at=NOW - age, status="new", priority=3, text=""))
    c = stats.queue_age(db, StatsQuery(now=NOW))
    assert series(c) == {"3": [1, 1, 0, 1, 1]}


def test_referrals_by_agency(data):
    c = stats.referrals_by_agency(data, StatsQuery(**MARCH_APRIL))
    assert c.x == ["PNP-WCPC", "Australian Federal Police", "NCA"]  # most referrals first, then by name
    assert series(c) == {"acknowledged": [1, 0, 1], "awaiting": [1, 1, 0]}
    assert c.extra["median_hours_to_ack"] == 13.0 and c.extra["referrals"] == 4
    c = stats.referrals_by_agency(data, StatsQuery())
    assert series(c) == {"acknowledged": [2, 0, 1], "awaiting": [1, 1, 0]}
    assert c.extra["median_hours_to_ack"] == 10.0


def test_time_to_takedown(data):
    c = stats.time_to_takedown(data, StatsQuery(**MARCH_APRIL))
    assert c.x == ["lt_1d", "1d_3d", "3d_7d", "7d_30d", "gt_30d"]
    assert series(c) == {"PH": [1, 2, 0, 0, 0], "US": [0, 0, 1, 0, 0], "unknown": [0, 0, 0, 0, 1]}
    assert c.extra == {
        "removed": 5,
        "still_online": 1,
        "median_hours": 48.0,
        "p90_hours": 724.8,  # 120 h + 0.6 x (1128 h - 120 h)
        "median_hours_from_notice": 47.0,
        "within_3_days": 0.6,
    }
    assert stats.time_to_takedown(data, StatsQuery()).extra["removed"] == 6


def test_sql_periods_agree_with_python(db):
    rng = random.Random(7)
    start = at("2023-01-01").timestamp()
    times = [datetime.fromtimestamp(start + rng.uniform(0, 4 * 365 * 86400), UTC) for _ in range(60)]
    times += [at("2024-12-29 23:59:59.999999"), at("2024-12-30 00:00:00"), at("2025-01-01 00:00:00")]
    with db.session() as s:
        for t in times:
            s.add(Report(source="public", category="other", received_at=t, text=""))
    cols = [stats.period_expr(db.dialect, Report.received_at, p) for p in stats.PERIODS]
    with db.reader() as s:
        rows = s.execute(select(Report.received_at, *cols)).all()
    assert len(rows) == len(times)
    for t, *got in rows:
        assert got == [stats.period_key(t, p) for p in stats.PERIODS], t


def test_empty_database_and_bad_queries(db):
    charts = stats.all_charts(db, StatsQuery())
    assert all(c.total == 0 for c in charts.values())
    assert charts["reports_by_category"].x == [] and charts["queue_age"].x == [k for k, _ in stats.QUEUE_AGE_BUCKETS]
    with pytest.raises(stats.StatsError, match="period must be one of"):
        StatsQuery(period="fortnight")
    with pytest.raises(stats.StatsError, match="before"):
        StatsQuery(since=at("2025-02-01"), until=at("2025-01-01"))
    with pytest.raises(stats.StatsError, match="choose a longer period"):
        stats.reports_by_category(db, StatsQuery(period="day", since=at("2020-01-01"), until=at("2025-01-01")))
    with pytest.raises(stats.StatsError, match="unknown chart"):
        stats.chart(db, "nope", StatsQuery())


# ------------------------------------------------------------------------------------------ exports


def test_csv_export_is_tidy_and_safe(data):
    c = stats.reports_by_category(data, StatsQuery())
    text = stats.to_csv(c, web_stats.labeller("it"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["period", "category", "reports", "category_label"]
    assert sum(int(r["reports"]) for r in rows) == c.total == 7
    assert {"period": "2025-03", "category": "sextortion", "reports": "2",
            "category_label": "Ricatto sessuale (sextortion)"} in rows  # fmt: skip
    # a name typed by a person cannot become a spreadsheet formula
    with data.session() as s:
        s.add(Agency(id="test-evil", name='=HYPERLINK("http://x.test")', short_name=""))
        s.flush()
        s.add(Referral(subject_type="report", subject_id=1, agency_id="test-evil", format="package", filename="f",
                       size=1, digest="0" * 64, package="", created_by="test"))  # fmt: skip
    text = stats.to_csv(stats.referrals_by_agency(data, StatsQuery()))
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text


def test_png_export_is_a_valid_image(data):
    for name in stats.CHARTS:
        c = stats.chart(data, name, StatsQuery())
        png = stats.to_png(c, title=name, y_label="n", label=web_stats.labeller("en"), note="2024-12 to 2025-04")
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size == (1100, 550)
        img.verify()
    empty = stats.Chart("reports_by_category", [], [])
    assert Image.open(io.BytesIO(stats.to_png(empty, title="t", y_label="y"))).format == "PNG"


# ------------------------------------------------------------------------------------------ web


@pytest.fixture
def web(app):  # type: ignore[no-untyped-def]
    """The app's own client: /stats is served by the routing capability's router, as `tipline serve` does."""
    with TestClient(app) as c:
        yield c


def login(client: TestClient, name: str) -> None:
    """Log in through the login form (with its CSRF token, when the form has one)."""
    form = {"name": name, "password": PASSWORD}
    token = css(page(client.get("/login")), "form input[name=csrf_token]")
    if token:
        form["csrf_token"] = token[0].get("value")
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_dashboard_renders_for_an_analyst_and_refuses_anonymous(web, data):
    accounts.create_user(data, "ana", "analyst", PASSWORD)
    r = web.get("/stats?period=year", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fstats%3Fperiod%3Dyear"
    assert web.get("/api/v1/stats").status_code == 401

    login(web, "ana")
    r = web.get("/stats?period=year")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = page(r)
    assert css(doc, "h1")[0].text_content() == "Statistics"
    assert [s.get("id") for s in css(doc, "section.stats-chart")] == [f"chart-{n}" for n in stats.CHARTS]
    assert css(doc, "[data-stat=reports] dd")[0].text_content() == "7"
    assert css(doc, "[data-stat=open] dd")[0].text_content() == "5"
    table = css(doc, "table[data-chart=reports_by_country]")[0]
    assert [th.text_content() for th in css(table, "thead th")] == [
        "Period", "Philippines", "United Kingdom", "United States", "Unknown", "Total",
    ]  # fmt: skip
    assert [td.text_content() for td in css(table, "tr[data-x='2025'] td")] == ["3", "1", "1", "1", "6"]
    assert css(doc, "canvas[data-chart=queue_age]")
    assert not css(doc, "a[data-export]")  # analysts see, supervisors export
    # no inline script: only files
    assert all(s.get("src") for s in css(doc, "script"))
    assert css(doc, "#stats")[0].get("data-src") == "/api/v1/stats?period=year&since=&until="

    j = web.get("/api/v1/stats?period=year").json()
    assert j["charts"]["reports_by_country"]["series"][0] == {
        "key": "PH", "label": "Philippines", "color": stats.PALETTE[0], "values": [1, 3],
    }  # fmt: skip
    assert j["charts"]["queue_age"]["x_labels"][0] == "under 1 hour"
    assert j["charts"]["time_to_takedown"]["title"] == "Time to takedown"
    assert web.get("/api/v1/stats?period=fortnight").status_code == 422
    r = web.get("/stats?since=2025-13-01")
    assert r.status_code == 200 and "stats-error" in r.text

    # Italian
    j = web.get("/api/v1/stats?period=year", headers={"Accept-Language": "it"}).json()
    assert j["charts"]["reports_by_country"]["series"][0]["label"] == "Filippine"
    assert j["charts"]["queue_age"]["title"] != "Age of the open queue"


def test_a_range_too_long_for_its_period_is_a_422_not_a_crash(web, data):
    """More than a thousand days (or a date at the calendar's end) is a request to change, said as such by
    the API (it was a 500), the exports and the page."""
    accounts.create_user(data, "sam", "supervisor", PASSWORD)
    sup = bearer(full_token(data, "sam"))
    for query in ("since=2020-01-01&period=day", "until=2040-01-01&period=day", "since=0001-01-01&period=week"):
        r = web.get(f"/api/v1/stats?{query}", headers=sup)
        assert r.status_code == 422 and "choose a longer period" in r.json()["detail"], (query, r.text)
        r = web.get(f"/stats/reports_by_category.csv?{query}", headers=sup)
        assert r.status_code == 422 and "choose a longer period" in r.text, (query, r.text)
    r = web.get("/api/v1/stats?until=9999-12-31", headers=sup)
    assert r.status_code == 422 and "until must be a date before" in r.json()["detail"], r.text
    accounts.create_user(data, "ana", "analyst", PASSWORD)
    login(web, "ana")
    r = web.get("/stats?since=2020-01-01&period=day")
    assert r.status_code == 200 and "stats-error" in r.text and "choose a longer period" in r.text


def test_exports_need_a_supervisor_and_are_audited(web, data):
    accounts.create_user(data, "sam", "supervisor", PASSWORD)
    accounts.create_user(data, "ana", "analyst", PASSWORD)
    assert web.get("/stats/queue_age.csv", follow_redirects=False).status_code == 303
    sup = bearer(full_token(data, "sam"))
    r = web.get("/stats/time_to_takedown.csv?since=2025-03-01&until=2025-04-30", headers=sup)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="tipline-time_to_takedown-month-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {(x["time_to_takedown"], x["hosting_country"], x["urls"]) for x in rows} == {
        ("lt_1d", "PH", "1"), ("1d_3d", "PH", "2"), ("3d_7d", "US", "1"), ("gt_30d", "unknown", "1"),
    }  # fmt: skip
    r = web.get("/stats/reports_by_source.png?period=week", headers=sup)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).format == "PNG"
    assert web.get("/stats/nope.csv", headers=sup).status_code == 404
    assert web.get("/stats/queue_age.csv?period=fortnight", headers=sup).status_code == 422
    with data.reader() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "stats.export")))
    assert [(e.target_id, e.details["format"], e.actor) for e in events] == [
        ("time_to_takedown", "csv", "user:sam"), ("reports_by_source", "png", "user:sam"),
    ]  # fmt: skip
    assert web.get("/api/v1/stats", headers=sup).json()["charts"]["queue_age"]["total"] == 5

    # analysts: a JSON 403 by token, a 403 page by session, and no export links on the dashboard
    r = web.get("/stats/queue_age.csv", headers=bearer(accounts.create_token(data, "ana")))
    assert r.status_code == 403 and r.json()["detail"] == "this needs the supervisor role"
    login(web, "ana")
    assert web.get("/stats/queue_age.png").status_code == 403
    assert not css(page(web.get("/stats")), "a[data-export]")


# ------------------------------------------------------------------------------------------ command line


def test_stats_command(sqlite_db, tmp_path):
    from typer.testing import CliRunner

    from tipline.cli.main import app
    from tipline.routing import cli_share

    if not any(getattr(c, "name", None) == "stats" for c in app.registered_commands):
        cli_share.register(app)
    load(sqlite_db)
    data_dir = str(sqlite_db.settings.data_dir)
    run = CliRunner().invoke
    r = run(app, ["--data-dir", data_dir, "stats", "--json", "--period", "year"])
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["charts"]["reports_by_country"]["x"] == ["2024", "2025"]
    r = run(app, ["--data-dir", data_dir, "stats", "--csv", str(tmp_path / "csv"), "--png", str(tmp_path / "png"),
                  "--lang", "it"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == sorted(f"{n}.csv" for n in stats.CHARTS)
    for n in stats.CHARTS:
        assert Image.open(tmp_path / "png" / f"{n}.png").format == "PNG"
    assert "Filippine" in (tmp_path / "csv" / "reports_by_country.csv").read_text()
    assert "reports_by_category" in run(app, ["--data-dir", data_dir, "stats"]).stdout
    r = run(app, ["--data-dir", data_dir, "stats", "--since", "yesterday"])
    assert r.exit_code == 1 and "YYYY-MM-DD" in r.output


# ------------------------------------------------------------------------------------------ browser


@pytest.mark.browser
@pytest.mark.slow
@needs_chromium
def test_dashboard_draws_its_charts_in_a_browser(tmp_path, browser):
    """Chart.js draws every chart from /api/v1/stats, with no inline script, no error and no other origin.
    A screenshot goes to /tmp/tipline-stats.png (not committed) for a human look."""
    from tipline.settings import Settings
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))
    db = app.state.db
    load(db)
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    with serve_app(app) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        foreign: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(server) else foreign.append(r.url))
        page.goto(f"{server}/login?lang=en&next=/stats")
        page.fill("#f-name", "ana")
        page.fill("#f-password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server}/stats")
        page.wait_for_selector("#stats[data-drawn=true]", timeout=10_000)
        sizes = page.eval_on_selector_all(
            "canvas[data-chart]", "cs => cs.map(c => [c.dataset.chart, c.clientWidth, c.clientHeight])"
        )
        assert [n for n, _w, _h in sizes] == list(stats.CHARTS)
        assert all(w > 200 and h > 150 for _n, w, h in sizes), sizes
        # Chart.js registered one chart per canvas
        assert page.evaluate("document.querySelectorAll('canvas[data-chart]').length") == len(stats.CHARTS)
        assert page.evaluate("Object.keys(Chart.instances).length") == len(stats.CHARTS)
        page.screenshot(path="/tmp/tipline-stats.png", full_page=True)
    assert not errors, errors
    assert not foreign, foreign
