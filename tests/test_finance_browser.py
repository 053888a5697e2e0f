"""Payment alerts in a real browser (Playwright + Debian's chromium), SQLite only: the leads above the
queue, the alert panel on the report and network pages (loaded by htmx), the alert page with its chart.
No script error, no request to another origin."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import PASSWORD, needs_chromium, serve_app
from tipline.accounts import service as accounts
from tipline.finance.importer import COLUMNS, import_payments
from tipline.finance.rules import load_rules
from tipline.finance.screen import screen
from tipline.finance.service import save_alerts
from tipline.finance.store import FinanceStore
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn
from tipline.settings import Settings

pytestmark = [pytest.mark.browser, needs_chromium]
PHONE = "+639171234567"


def _payments(path: Path) -> Path:
    """Six night payments of A$40 from AU-77, every other one to the GCash number a report names."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(6):
            ben = f"gcash:{PHONE}" if i % 2 == 0 else f"fac{i}"
            ts = f"2025-03-{1 + 5 * i:02d}T02:30:00+10:00"
            w.writerow(
                [f"t{i}", ts, "AU-77", "Alex Walker", "AU", "40.00", "AUD", ben, f"Ana Cruz{i}", "PH", "remittance", ""]
            )
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    from tipline.web.app import create_app

    settings = Settings(data_dir=tmp_path / "data")
    app = create_app(settings)
    db = app.state.db
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    payload = {
        "category": "trafficking_advertisement",
        "text": f"pay by gcash {PHONE}",
        "language": "en",
        "country": "PH",
    }
    rid = intake.submit_report(db, PublicReportIn(**payload).to_report()).report_id
    store = FinanceStore.in_data_dir(settings.data_dir)
    import_payments(store, _payments(tmp_path / "p.csv"))
    save_alerts(db, screen(store, load_rules()))
    with serve_app(app) as url:
        yield url, rid


def test_alert_panels_and_page_in_a_browser(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, rid = server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(base) else foreign.append(req.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login")
    page.fill("#f-name", "ana")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/queue")
    page.wait_for_selector("#payment-leads a[href^='/finance/alerts/']")
    page.goto(f"{base}/reports/{rid}")
    link = page.wait_for_selector("#payment-alerts a[href^='/finance/alerts/']")
    assert link is not None
    link.click()
    page.wait_for_selector("svg.payment-chart circle")
    assert page.locator("svg.payment-chart circle").count() == 6
    assert page.locator("tr[data-rule='night_hours']").count() == 1
    net = page.locator("a[href^='/networks/']").first.get_attribute("href")
    page.goto(f"{base}{net}")
    page.wait_for_selector("#payment-alerts a[href^='/finance/alerts/']")
    assert not errors and not foreign, (errors, foreign)
    context.close()
