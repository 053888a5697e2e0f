"""Notice and takedown: rows made by analysis, the lifecycle, its timestamps and the time to removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PublicReportIn
from tipline.routing import jurisdiction as jur
from tipline.routing import takedown as td

URL = "https://media.example-host.com/v/123"


@pytest.fixture
def ana(db):  # type: ignore[no-untyped-def]
    return accounts.create_user(db, "ana", "analyst", PASSWORD)


def report(db, urls, text=""):  # type: ignore[no-untyped-def]
    return intake.submit_report(db, PublicReportIn(category=Category.CSAM, urls=urls, text=text).to_report()).report_id


def test_each_reported_url_gets_one_row_naming_its_reports(db):
    a = report(db, [URL])
    b = report(db, [], text=f"the same video at {URL} and at https://other.example-host.com/x")
    items, total = td.list_takedowns(db)
    assert total == 2
    by_url = {t.url: t for t in items}
    assert by_url[URL].report_ids == [a, b] and by_url[URL].state == "reported"
    assert td.list_takedowns(db, report_id=a)[1] == 1
    assert td.list_takedowns(db, report_id=b)[1] == 2


def test_lifecycle_with_reappearance_and_times(db, ana):
    jur.use_resolver(db, jur.DictResolver({"media.example-host.com": ["1.1.1.1"]}))
    try:
        report(db, [URL])
    finally:
        jur.use_resolver(db, None)
    [t] = td.list_takedowns(db)[0]
    assert t.hosting_country == "AU"
    t0 = t.reported_at
    with pytest.raises(td.TakedownError, match="can go to"):
        td.transition(db, t.id, "reappeared", ana)
    with pytest.raises(td.TakedownError, match="unknown state"):
        td.transition(db, t.id, "gone", ana)
    with pytest.raises(td.TakedownError, match="future"):
        td.transition(db, t.id, "assessed", ana, at=datetime.now(UTC) + timedelta(hours=1))
    td.transition(db, t.id, "assessed", ana)
    td.transition(db, t.id, "notice_sent", ana, agency_id="au-esafety", note="sent via the web form")
    removed = td.transition(db, t.id, "removed", ana)
    assert removed.state == "removed" and removed.notice_agency_id == "au-esafety"
    assert removed.assessed_at and removed.notice_sent_at and removed.removed_at
    assert removed.hours_to_removal is not None and removed.hours_to_removal >= 0
    td.transition(db, t.id, "reappeared", ana)
    again = td.transition(db, t.id, "removed", ana)
    assert again.removed_at == removed.removed_at  # the first removal stays; history has both
    assert [h["state"] for h in again.history] == [
        "reported",
        "assessed",
        "notice_sent",
        "removed",
        "reappeared",
        "removed",
    ]
    times = td.removal_times(db)
    assert [r.cycle for r in times] == [1, 2] and times[0].started_at == t0
    summary = td.summary(db)
    assert summary["by_state"]["removed"] == 1 and summary["removals"] == 2
    assert summary["by_hosting_country"]["AU"]["removals"] == 2


def test_a_transition_cannot_be_dated_before_the_previous_one(db, ana):
    report(db, [URL])
    [t] = td.list_takedowns(db)[0]
    with pytest.raises(td.TakedownError, match="before the previous"):
        td.transition(db, t.id, "removed", ana, at=t.reported_at - timedelta(days=1))
    done = td.transition(db, t.id, "removed", ana, at=t.reported_at)
    assert done.hours_to_removal == 0.0


def test_reanalysis_drops_urls_a_report_no_longer_names(db):
    rid = report(db, [], text=f"see {URL}")
    assert td.list_takedowns(db)[1] == 1
    from tipline.store.models import Report

    with db.session() as s:
        s.get(Report, rid).text = "the link is gone from this text"  # type: ignore[union-attr]
    intake.analyse_report(db, rid)
    assert td.list_takedowns(db)[1] == 0  # nobody names it and nobody worked on it


def test_a_report_that_stops_naming_a_url_leaves_its_other_reports_and_worked_on_urls_listed(db, ana):
    from tipline.store.models import Report

    a = report(db, [URL])
    b = report(db, [], text=f"again {URL}")
    c = report(db, ["https://worked.example-host.com/v/9"])
    [worked] = td.list_takedowns(db, report_id=c)[0]
    td.transition(db, worked.id, "assessed", ana)
    for rid in (b, c):
        with db.session() as s:
            s.get(Report, rid).text = "no link here any more"  # type: ignore[union-attr]
            s.get(Report, rid).urls = []  # type: ignore[union-attr]
        intake.analyse_report(db, rid)
    items, total = td.list_takedowns(db)
    by_url = {t.url: t for t in items}
    assert total == 2 and by_url[URL].report_ids == [a]
    assert by_url[worked.url].report_ids == [] and by_url[worked.url].state == "assessed"  # worked on: listed
    assert td.list_takedowns(db, report_id=b) == ([], 0)
    assert td.get_takedown(db, by_url[URL].id).report_ids == [a]  # type: ignore[union-attr]


def test_pages_of_takedowns_and_their_total(db):
    ids = [report(db, [f"https://host-{i}.example-host.com/v/{i}"]) for i in range(5)]
    first, total = td.list_takedowns(db, limit=2)
    rest, again = td.list_takedowns(db, limit=10, offset=2)
    assert total == again == 5 and len(first) == 2 and len(rest) == 3
    assert [t.report_ids for t in first + rest] == [[i] for i in ids]


def test_a_url_named_again_does_not_rewrite_its_takedown_row(db):
    """Each report naming a URL adds a row of its own; the takedown's row is left alone (it was rewritten
    whole by every such report, with a list that grew, under the row's lock)."""
    if db.dialect != "postgresql":
        pytest.skip("row versions (xmin) are PostgreSQL's")
    from sqlalchemy import text

    report(db, [URL])
    with db.reader() as s:
        version = s.scalar(text("SELECT xmin::text FROM url_takedowns"))
    more = [report(db, [URL]) for _ in range(3)]
    with db.reader() as s:
        assert s.scalar(text("SELECT xmin::text FROM url_takedowns")) == version
    assert td.list_takedowns(db)[0][0].report_ids[1:] == more


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_migration_moves_each_list_into_rows_and_back(tmp_path, backend):
    import sqlalchemy as sa

    from helpers import before_migration

    with before_migration(backend, tmp_path, "_url_takedown_reports.py") as m:
        now = datetime.now(UTC)
        with m.engine.begin() as c:
            for rid in (1, 2, 3):
                c.execute(sa.insert(_table_at(c, "reports")).values({**_required(c, "reports", now), "id": rid}))
            c.execute(
                sa.text(
                    "INSERT INTO url_takedowns (id, url_sha256, url, host, report_ids, hosting_ips, state, "
                    "reported_at, history, updated_at) VALUES (7, 'd', 'https://x.example/', 'x.example', :ids, "
                    "'[]', 'reported', :now, '[]', :now)"
                ),
                {"ids": "[3, 1, 9, 1]", "now": now},  # 9: a report deleted since; 1 twice
            )
        m.up()
        with m.engine.connect() as c:
            rows = c.execute(sa.text("SELECT takedown_id, report_id FROM url_takedown_reports ORDER BY 2")).all()
            assert [tuple(r) for r in rows] == [(7, 1), (7, 3)]
            assert "report_ids" not in {col["name"] for col in sa.inspect(c).get_columns("url_takedowns")}
        m.down()
        with m.engine.connect() as c:
            ids = c.execute(sa.text("SELECT report_ids FROM url_takedowns")).scalar_one()
            assert (ids if isinstance(ids, list) else __import__("json").loads(ids)) == [1, 3]
        m.up("head")


def _table_at(c, name):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    return sa.Table(name, sa.MetaData(), autoload_with=c)


def _required(c, name, now):  # type: ignore[no-untyped-def]
    """A value for each column of ``name`` that must have one (at the migration's revision, whatever it is)."""
    import sqlalchemy as sa

    out = {}
    for col in _table_at(c, name).columns:
        if col.nullable or col.server_default is not None or col.primary_key:
            continue
        t = col.type
        if isinstance(t, sa.DateTime):
            out[col.name] = now
        elif isinstance(t, sa.Boolean):
            out[col.name] = False
        elif isinstance(t, (sa.Integer, sa.Float, sa.Numeric)):
            out[col.name] = 0
        elif isinstance(t, sa.JSON):
            out[col.name] = []
        elif isinstance(t, sa.LargeBinary):
            out[col.name] = b""
        else:
            out[col.name] = "csam" if col.name == "category" else ""
    return out
