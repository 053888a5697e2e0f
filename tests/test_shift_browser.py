"""The analyst's shift in a real browser (Playwright + Debian's chromium), through the app that
``tipline serve`` builds, on a real uvicorn server, SQLite only: claim, bulk status, keyboard next/open,
an overdue P1 marked, search by a phone's local form and by a handle's beginning across statuses, and
the Italian queue with no English reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from helpers import PASSWORD, needs_chromium, serve_app
from tipline.accounts import service as accounts
from tipline.i18n import gettext_for
from tipline.i18n.labels import RULE
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn, Status
from tipline.reports import service as reports
from tipline.settings import Settings
from tipline.store.models import AuditEvent, Report

pytestmark = [pytest.mark.browser, needs_chromium]

LIVE_IT = "Una bambina di circa 10 anni in diretta in questo momento; pagamenti al +63 917 555 0101."
HANDLE = "Account che vende dirette con una minore, su Telegram @rubyvibe505."


@pytest.fixture
def shift_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))
    db = app.state.db
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    accounts.create_user(db, "bo", "analyst", PASSWORD)

    def file(text: str, category: str, **kw: Any) -> int:
        report = PublicReportIn(category=category, text=text, language="it", **kw).to_report()  # type: ignore[arg-type]
        return intake.submit_report(db, report).report_id

    ids = {
        "live": file(LIVE_IT, "live_streamed_abuse", is_live=True, country="PH"),
        "handle": file(HANDLE, "child_sex_trafficking"),
        "a": file("Un sito con annunci sospetti, visto ieri.", "other"),
        "b": file("Messaggi strani a mia figlia di 12 anni.", "online_enticement"),
    }
    bo = next(u for u in accounts.list_users(db) if u.name == "bo")
    reports.update_report(db, ids["handle"], bo, status=Status.REFERRED)  # closed: out of the open queue
    with db.session() as s:  # the live report came in half an hour ago: past its 15 minutes
        s.execute(
            update(Report).where(Report.id == ids["live"]).values(received_at=datetime.now(UTC) - timedelta(minutes=30))
        )
    with serve_app(app) as url:
        yield {"url": url, "db": db, "ids": ids}


def _login(browser, url: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/login?lang={lang}")
    page.fill("#f-name", "ana")
    page.fill("#f-password", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{url}/queue")
    return context, page, errors


def _row(page, rid: int):  # type: ignore[no-untyped-def]
    return page.locator(f"table.queue tbody tr[data-report-id='{rid}']")


def test_claim_with_the_keyboard_then_next_and_open(shift_server, browser) -> None:  # type: ignore[no-untyped-def]
    url, ids = shift_server["url"], shift_server["ids"]
    context, page, errors = _login(browser, url)
    first = page.locator("table.queue tbody tr").first
    assert first.get_attribute("data-report-id") == str(ids["live"])  # P1 on top
    page.keyboard.press("?")
    assert page.locator("dialog#shortcuts").is_visible()
    assert "Claim the report" in page.locator("dialog#shortcuts").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('shortcuts').open")
    page.keyboard.press("j")  # the first report
    page.keyboard.press("c")  # claim it
    page.wait_for_selector(f"table.queue tbody tr[data-report-id='{ids['live']}'] td:has-text('ana')")
    assert _row(page, ids["live"]).locator("button.claim").count() == 0
    # mine: only the claimed one
    page.goto(f"{url}/queue?owner=mine")
    assert [r.get_attribute("data-report-id") for r in page.locator("table.queue tbody tr").all()] == [str(ids["live"])]
    page.goto(f"{url}/queue?owner=unassigned")
    assert _row(page, ids["live"]).count() == 0 and page.locator("table.queue tbody tr").count() == 2
    # next and open from the keyboard
    page.goto(f"{url}/queue")
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator("table.queue tbody tr").nth(1).get_attribute("data-report-id")
    page.keyboard.press("o")
    page.wait_for_url(f"{url}/reports/{second}")
    page.wait_for_selector("#reasons")
    with shift_server["db"].reader() as s:
        claims = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.claim")).all()
    assert [(e.target_id, e.actor) for e in claims] == [(str(ids["live"]), "user:ana")]
    assert not errors, errors
    context.close()


def test_bulk_status_is_one_audit_event(shift_server, browser) -> None:  # type: ignore[no-untyped-def]
    url, ids, db = shift_server["url"], shift_server["ids"], shift_server["db"]
    context, page, errors = _login(browser, url)
    page.check(f"#sel-{ids['a']}")
    page.check(f"#sel-{ids['b']}")
    page.select_option("#b-status", "in_review")
    page.fill("#b-label", "batch-7")
    page.get_by_role("button", name="Apply to the selected reports").click()
    page.wait_for_selector(f"table.queue tbody tr[data-report-id='{ids['a']}'] .tag", timeout=90_000)
    for rid in (ids["a"], ids["b"]):
        assert "In review" in _row(page, rid).inner_text() and "batch-7" in _row(page, rid).inner_text()
    assert "In review" not in _row(page, ids["live"]).inner_text()
    with db.reader() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.bulk")).all()
        statuses = dict(s.execute(select(Report.id, Report.status)).all())
    assert len(events) == 1
    assert sorted(events[0].details["reports"]) == sorted([ids["a"], ids["b"]])
    assert statuses[ids["a"]] == statuses[ids["b"]] == "in_review"
    assert not errors, errors
    context.close()


def test_overdue_p1_is_marked(shift_server, browser) -> None:  # type: ignore[no-untyped-def]
    url, ids = shift_server["url"], shift_server["ids"]
    context, page, _errors = _login(browser, url)
    live = _row(page, ids["live"])
    assert "overdue" in (live.get_attribute("class") or "")
    assert live.locator(".overdue-mark").inner_text() == "Overdue"
    assert live.locator(".badge").inner_text() == "P1"
    # the others are young: not overdue
    assert page.locator("table.queue tbody tr.overdue").count() == 1
    # acting on it (claiming) ends the timer
    live.locator("button.claim").click()
    page.wait_for_selector(f"table.queue tbody tr[data-report-id='{ids['live']}']:not(.overdue)")
    context.close()


def test_search_finds_a_local_phone_form_and_a_handle_prefix_across_statuses(shift_server, browser) -> None:  # type: ignore[no-untyped-def]
    url, ids = shift_server["url"], shift_server["ids"]
    context, page, _errors = _login(browser, url)
    page.fill("#f-q", "0917 555 0101")  # stored as +639175550101
    page.locator("#f-q").press("Enter")
    page.wait_for_url(re.compile(r".*q=0917.*"))
    page.wait_for_selector(f"table.queue tbody tr[data-report-id='{ids['live']}']")
    assert page.locator("table.queue tbody tr").count() == 1
    # the handle's beginning, in a referred (closed) report: not among open reports, found in all statuses
    page.goto(f"{url}/queue?q=%40rubyvi")
    assert page.locator("table.queue tbody tr").count() == 0
    page.select_option("#f-status", "all")
    page.wait_for_url(re.compile(r".*status=all.*"))
    page.wait_for_selector(f"table.queue tbody tr[data-report-id='{ids['handle']}']")
    assert page.locator("table.queue tbody tr").count() == 1
    assert "Referred" in _row(page, ids["handle"]).inner_text()
    context.close()


def test_the_italian_queue_has_no_english_reason(shift_server, browser) -> None:  # type: ignore[no-untyped-def]
    url = shift_server["url"]
    context, page, _errors = _login(browser, url, lang="it")
    page.goto(f"{url}/queue?status=all&lang=it")
    assert page.locator("html").get_attribute("lang") == "it"
    shown = [li.inner_text().strip() for li in page.locator("ul.reasons li:not(.more)").all()]
    assert shown, "the queue shows reasons"
    english = set(RULE.values())
    italian = {gettext_for("it")(m) for m in english}
    assert not [x for x in shown if x in english], shown
    assert all(x in italian for x in shown), [x for x in shown if x not in italian]
    # the report page too
    page.goto(f"{url}/reports/{shift_server['ids']['live']}?lang=it")
    rows = [td.inner_text().strip() for td in page.locator("#reasons tr[data-rule] td:first-child").all()]
    assert rows and not [x for x in rows if x in english], rows
    context.close()
