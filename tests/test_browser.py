"""The whole public-to-analyst path in a real browser (Playwright + Debian's chromium), SQLite only.

A real uvicorn server runs the app built by ``create_app`` on a free loopback port. The test also
checks what only a browser can: htmx swapping the incident questions in, the page working with
JavaScript off, and no request leaving for another origin. Screenshots of the form and the queue are
written to /tmp (not committed) for a human look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import PASSWORD, needs_chromium, serve_app
from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.settings import Settings

SHOTS = Path("/tmp")

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from tipline.web.app import create_app

    settings = Settings(data_dir=tmp_path / "data")
    app = create_app(settings)
    accounts.create_user(app.state.db, "ana", "analyst", PASSWORD)
    with serve_app(app) as url:
        yield url


def test_report_follow_up_and_triage_in_a_browser(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(server) else foreign.append(req.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # --- the public form, in Italian
    page.goto(f"{server}/report?lang=it")
    assert page.locator("html").get_attribute("lang") == "it"
    assert "Che cosa vuoi segnalare?" in page.locator("#f-category legend").inner_text()
    assert page.locator("label[for=f-text]").inner_text() == "Che cosa è successo?"
    assert page.locator("#no-files h2").inner_text() == "Questo modulo non accetta file, foto né screenshot"
    # with JavaScript the questions wait for a choice
    assert page.locator(".choose-first").is_visible()
    assert not page.locator("#q-live").is_visible()

    page.locator("#f-category").get_by_text("Un abuso trasmesso in diretta").click()
    page.wait_for_selector("#q-live.current")
    assert page.locator("#questions fieldset.qgroup").count() == 1
    assert (
        page.locator("label[for=f-live_account]").inner_text() == "Nome dell'account che trasmette o vende la diretta"
    )
    page.fill("#f-live_platform", "ExampleCam")
    page.fill("#f-live_account", "darkroom_x")
    page.locator("#q-live").get_by_label("Sì").check()
    page.fill("#f-live_seen_at", "2024-05-01T21:30")
    page.fill("#f-text", "Una bambina in diretta in questo momento; pagamenti al +63 917 555 0101.")
    page.select_option("#f-country", "PH")
    page.fill("#f-victim_age", "10")
    page.screenshot(path=str(SHOTS / "tipline-report-form.png"), full_page=True)
    page.get_by_role("button", name="Invia la segnalazione").click()

    page.wait_for_selector("#receipt")
    receipt = page.locator("#receipt").inner_text().strip()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt)
    assert "Grazie" in page.locator("h1").inner_text()

    # --- follow-up with the receipt
    page.goto(f"{server}/followup")
    page.fill("#f-receipt", receipt)
    page.get_by_role("button", name="Mostra la mia segnalazione").click()
    page.wait_for_selector(".status-word")
    assert page.locator(".status-word").inner_text() == "Ricevuta"
    page.fill("#f-body", "L'account usa anche il nome darkroom_y")
    page.get_by_role("button", name="Aggiungi alla mia segnalazione").click()
    page.wait_for_selector(".flash")
    assert page.locator(".msg-reporter .msg-body").inner_text() == "L'account usa anche il nome darkroom_y"

    # --- the analyst
    page.goto(f"{server}/login?lang=en")
    page.fill("#f-name", "ana")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/queue")
    row = page.locator("table.queue tbody tr").first
    assert row.locator(".badge").inner_text() == "P1"
    reasons = row.locator("ul.reasons").inner_text()
    assert "Abuse reported as live or ongoing" in reasons
    assert "Imminent-danger language (Italian)" in reasons
    page.screenshot(path=str(SHOTS / "tipline-queue.png"), full_page=True)

    # filtering with htmx swaps the results and keeps the URL shareable
    page.select_option("#f-category", "sextortion")
    page.wait_for_url(re.compile(r".*category=sextortion.*"))
    page.wait_for_selector("#results .count")
    assert page.locator("table.queue tbody tr").count() == 0
    page.goto(f"{server}/queue")

    page.locator("table.queue tbody tr").first.locator("a[href^='/reports/']").click()
    page.wait_for_selector("#reasons")
    assert page.locator("#messages .msg-reporter .msg-body").inner_text() == "L'account usa anche il nome darkroom_y"
    assert page.locator("#entities a.entity-link").count() > 0
    assert page.locator("img, video").count() == 0
    page.screenshot(path=str(SHOTS / "tipline-report.png"), full_page=True)

    assert not foreign, f"requests to other origins: {foreign}"
    assert not [e for e in errors if "favicon" not in e], errors
    context.close()


def test_the_form_works_without_javascript(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto(f"{server}/report")
    # every type's questions are visible, so a reporter without JavaScript can answer them
    assert page.locator("#questions fieldset.qgroup").count() == 6
    assert page.locator("#q-ad").is_visible() and page.locator("#q-live").is_visible()
    page.locator("#f-category").get_by_text("An ad offering a person").click()
    page.fill("#f-ad_contact", "+39 333 123 4567")
    page.get_by_role("button", name="Send the report").click()
    page.wait_for_selector("#receipt")
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", page.locator("#receipt").inner_text().strip())
    context.close()


def test_supervisor_enrols_mfa_in_a_browser_under_the_csp(server: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Forced enrolment, the server-made QR code and the code step, with the strict CSP in force: a
    blocked script, style or image shows up as a console error."""
    import pyotp

    from tipline.settings import Settings

    db = open_database(Settings(data_dir=tmp_path / "data"))
    accounts.create_user(db, "sue", "supervisor", PASSWORD)
    db.dispose()
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login?next=/audit")
    page.fill("#f-name", "sue")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/account/mfa/enrol.*"))
    qr = page.locator("img.qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(SHOTS / "tipline-mfa-enrol.png"), full_page=True)
    secret = page.locator("code.totp-secret").inner_text().replace(" ", "")
    page.fill("#f-code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on the second step").click()
    page.wait_for_selector("ol.recovery-codes")
    assert page.locator("ol.recovery-codes li").count() == 10
    page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url(f"{server}/audit")
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_selector(".verify-result[data-ok='1']")
    assert not errors, errors
    context.close()


def test_reloading_the_receipt_or_going_back_files_nothing_new(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from tipline.store.models import Report
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))
    db = app.state.db

    def count() -> int:
        with db.reader() as s:
            return int(s.scalar(select(func.count()).select_from(Report)) or 0)

    def fill(page) -> None:  # type: ignore[no-untyped-def]
        page.locator("#f-category").get_by_text("A live stream of abuse").click()
        page.locator("#f-live_account").wait_for()
        page.fill("#f-live_account", "darkroom_x")
        page.locator("#q-live").get_by_label("Yes").check()

    with serve_app(app) as server:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(f"{server}/report")
        token = page.locator("input[name=form_token]").input_value()
        fill(page)
        page.get_by_role("button", name="Send the report").click()
        page.wait_for_selector("#receipt")
        assert page.url == f"{server}/report/received"  # post/redirect/get
        assert "call 112 now" in page.locator("#urgent").inner_text()
        assert page.locator("#copy-receipt").is_visible() and page.locator("#print-receipt").is_visible()
        assert count() == 1
        page.reload()
        page.wait_for_selector("#already-received")
        assert page.locator("#receipt").count() == 0 and count() == 1
        # back to the form, as the browser kept it, and send it again
        page.go_back()
        page.wait_for_selector("#report-form")
        same_form = page.locator("input[name=form_token]").input_value() == token
        if page.locator("#f-live_account").input_value() != "darkroom_x":
            fill(page)
        page.get_by_role("button", name="Send the report").click()
        if same_form:  # the same form sent twice: nothing new is filed
            page.wait_for_selector("#already-received")
            assert count() == 1
        else:  # the browser fetched a fresh form: that is a new report
            page.wait_for_selector("#receipt")
            assert count() == 2
        context.close()


def test_the_follow_up_page_shows_times_in_the_reporters_time_zone(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="en-GB", timezone_id="Asia/Manila")
    page = context.new_page()
    page.goto(f"{server}/report")
    page.locator("#f-category").get_by_text("Something else", exact=True).click()
    page.fill("#f-text", "a synthetic report to follow up on")
    page.fill("#f-victim_age", "circa 10")
    page.get_by_role("button", name="Send the report").click()
    receipt = page.locator("#receipt").inner_text().strip()
    page.goto(f"{server}/followup")
    page.fill("#f-receipt", receipt)
    page.get_by_role("button", name="Show my report").click()
    sent = page.locator("time[data-local]").first
    sent.wait_for()
    utc = sent.get_attribute("datetime")
    shown = sent.inner_text()
    assert "UTC" not in shown and ("GMT+8" in shown or "PHT" in shown or "PST" in shown), shown
    hour = (int(utc[11:13]) + 8) % 24
    h12 = hour % 12 or 12  # the page's language ("en") may format on a 12-hour clock
    assert f"{hour:02d}:{utc[14:16]}" in shown or f"{h12:02d}:{utc[14:16]}" in shown, (utc, shown)
    context.close()
