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
