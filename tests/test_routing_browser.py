"""A referral made from the UI in a real browser (Playwright + Debian's chromium) and downloaded; SQLite only.

The server is a real uvicorn running ``create_app`` on a free loopback port. The test also checks that the
report page's routing panel loads with htmx (the include of ``routing/report_panel.html`` is the lead's to
add; the full page ``/reports/<id>/refer`` works either way). A screenshot goes to /tmp for a human look.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import PASSWORD, needs_chromium, serve_app
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PlatformReportIn
from tipline.settings import Settings

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))
    db = app.state.db
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    rid = intake.submit_report(
        db,
        PlatformReportIn(
            report_id="B-1",
            category=Category.LIVE_STREAMED_ABUSE,
            text="Private room show; pay first to +63 917 123 4567; ad at https://ads.example-board.com.ph/ad/9",
            reported_persons=[{"identifiers": [{"kind": "phone", "value": "+639171234567"}], "country": "PH"}],
            victims=[{"age": 10}],
            urls=["https://ads.example-board.com.ph/ad/9"],
        ).to_report(None),  # type: ignore[arg-type]
    ).report_id
    with serve_app(app) as url:
        yield url, rid


def test_refer_from_the_ui_and_download(served, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, rid = served
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(server) else foreign.append(req.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{server}/login?lang=en")
    page.fill("#f-name", "ana")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/queue")

    page.goto(f"{server}/reports/{rid}/refer")
    first = page.locator("table.jurisdiction tbody tr").first
    assert first.get_attribute("data-country") == "PH"
    assert "calling code" in first.inner_text()
    # the agency suggested first is a Philippine one; choose the format and refer
    assert page.locator("#f-agency").input_value() in ("ph-iacat", "ph-nbi", "ph-picacc", "ph-pnp-wcpc")
    page.select_option("#f-agency", "ph-picacc")
    page.select_option("#f-format", "cybertip")
    page.screenshot(path="/tmp/tipline-refer.png", full_page=True)
    page.get_by_role("button", name="Make the referral").click()
    page.wait_for_selector("#digest")
    assert "Referral made and recorded" in page.locator(".flash").inner_text()
    digest = page.locator("#digest").inner_text().strip()

    with page.expect_download() as info:
        page.locator("#download").click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert {"referral.json", "summary.pdf", "manifest.json", f"cybertip/report-{rid}.xml"} <= names
        assert json.loads(z.read("referral.json"))["to"]["id"] == "ph-picacc"

    # the panel for the report page, loaded by htmx into the routing section
    page.set_content("")  # leave the download page
    page.goto(f"{server}/reports/{rid}/refer")
    assert page.locator("ul.referrals li").count() == 1
    page.goto(f"{server}/reports/{rid}")
    assert page.locator("#assess").count() == 1  # the report page itself works with the referral made
    assert not foreign, f"requests to other origins: {foreign}"
    assert not errors, errors
    context.close()
