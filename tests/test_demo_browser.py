"""The demo world in a real browser (Playwright + Debian's chromium) against the app ``create_app`` builds,
served by uvicorn: pages reached the way an analyst reaches them."""

from __future__ import annotations

import pytest

from helpers import PASSWORD, needs_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def staff_page(browser, base: str, name: str = "crawl-analyst"):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#f-name", name)
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/queue")
    return context, page


def test_the_viewer_opens_blurred_from_a_report_page(demo_site, browser) -> None:  # type: ignore[no-untyped-def]
    base, fid = str(demo_site["url"]), demo_site["file_id"]
    context, page = staff_page(browser, base)
    page.goto(f"{base}/reports/{demo_site['file_report_id']}")
    page.get_by_role("link", name="Open the viewer (blurred first)").click()
    page.wait_for_url(f"{base}/media/{fid}")
    preview = page.locator("img.viewer-preview")
    preview.wait_for()
    # the blurred preview really loaded (a broken image has no natural width), and nothing unblurred is shown
    page.wait_for_function("document.querySelector('img.viewer-preview').complete")
    assert preview.evaluate("img => img.naturalWidth") > 0
    assert preview.get_attribute("src") == f"/media/{fid}/preview.png"
    assert page.locator("img.viewer-unblurred").count() == 0
    assert page.locator("img").count() == 1
    # the reveal is a deliberate second step (a POST), and it shows the greyscale picture once
    page.get_by_role("button", name="Show unblurred (greyscale)").click()
    page.locator("img.viewer-unblurred").wait_for()
    assert page.locator("img.viewer-unblurred").get_attribute("src").startswith("data:image/png;base64,")
    context.close()
