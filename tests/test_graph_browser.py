"""The graph view in a real browser (Playwright + Debian's chromium), SQLite only: open a report, expand
its network in the Cytoscape.js view, and create a case from it. Also: no script error, no request to
another origin. A screenshot goes to /tmp (not committed) for a human look."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from helpers import PASSWORD, needs_chromium, serve_app
from tipline.accounts import service as accounts
from tipline.demo import load_demo
from tipline.graph import service
from tipline.settings import Settings

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))
    db = app.state.db
    load_demo(db, seed=4, n_reports=60, console=Console(file=io.StringIO()))
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    with serve_app(app) as url:
        yield url, db


def test_expand_a_reports_network_and_make_a_case(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, db = server
    biggest = service.list_networks(db, limit=1)[0]
    view = service.network_view(db, biggest.id)
    # the latest report of the largest network: its own one-hop view is smaller than the network
    report_id = max(r["id"] for r in view.reports)

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

    page.goto(f"{base}/reports/{report_id}")
    page.wait_for_selector("#reasons")
    link = page.locator("#open-network-graph")
    if link.count():
        link.click()
    else:
        # until the report page includes graph/_report_panel.html, go where its link goes
        page.goto(f"{base}/graph?report={report_id}")
    page.wait_for_url(f"{base}/graph?report={report_id}")

    status = page.locator("#graph-status")
    page.wait_for_function(
        "() => { const s = document.getElementById('graph-status');"
        " return s && s.dataset.busy === '0' && Number(s.dataset.nodes) > 0; }"
    )
    first = int(status.get_attribute("data-nodes") or 0)
    assert page.evaluate("(id) => window.tiplineGraph.cy.getElementById(id).length", f"r{report_id}") == 1

    page.locator("#expand-network").click()
    page.wait_for_function(
        "(n) => { const s = document.getElementById('graph-status');"
        " return s.dataset.busy === '0' && Number(s.dataset.nodes) > n; }",
        arg=first,
    )
    reports_drawn = page.evaluate("window.tiplineGraph.cy.nodes('.report').length")
    assert reports_drawn == view.report_count
    assert "nodes" in status.inner_text()

    # click an identifier node: the side panel describes it and links to its page
    node = page.evaluate(
        "(() => { const n = window.tiplineGraph.cy.nodes('.entity').first(); n.emit('tap'); return n.data('href'); })()"
    )
    assert page.locator("#graph-detail a").get_attribute("href") == node
    page.screenshot(path="/tmp/tipline-graph.png", full_page=True)

    page.fill("#f-case-title", "Den behind the report")
    page.locator("#create-case").click()
    page.wait_for_url(f"{base}/cases/*")
    assert page.locator("#case-title").inner_text().endswith("Den behind the report")
    assert page.locator("table.case-reports tbody tr").count() == view.report_count
    assert page.locator(f"table.case-reports tr[data-report-id='{report_id}']").count() == 1

    assert not foreign, f"requests to other origins: {foreign}"
    assert not [e for e in errors if "favicon" not in e], errors
    context.close()
