"""Every page that exists is reachable: crawl the demo world served by the real app (``create_app`` under
uvicorn, real HTTP), logged in as staff, following every same-site link of every page, and fail on any
answer 404 or 5xx. Links are deduplicated by path pattern (numbers replaced by ``N``, the query's keys
kept, their values not), and the crawl is bounded, so one page of each kind is opened, not every report.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import httpx
import lxml.html
import pytest
from starlette.routing import compile_path

from helpers import axe_check, login_as, needs_chromium

pytestmark = [pytest.mark.slow]

MAX_PAGES = 400
START = ("/", "/report", "/followup", "/queue", "/account")


def route_templates(routes: Any, prefix: str = "") -> list[tuple[re.Pattern[str], str]]:
    """(regex, template) of every route the app serves, following included routers."""
    out = []
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            out += route_templates(inner.routes, prefix + r.include_context.prefix)
        elif getattr(r, "path", None) is not None:
            regex, template, _ = compile_path(prefix + r.path)
            out.append((regex, template))
    return out


def route_of(templates: list[tuple[re.Pattern[str], str]], path: str) -> str | None:
    """The app's route template a path answers to (``/reports/{report_id}``), or None."""
    return next((t for regex, t in templates if regex.match(unquote(path))), None)


def pattern(templates: list[tuple[re.Pattern[str], str]], path_and_query: str) -> str:
    """The kind of a link: the route it answers to and its query's keys (values and ``lang`` left out), so
    ``/reports/12?tab=x`` and ``/reports/31?tab=y`` are one kind; a path no route answers is its own kind."""
    parts = urlsplit(path_and_query)
    keys = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)} - {"lang"})
    return (route_of(templates, parts.path) or parts.path) + ("?" + "&".join(keys) if keys else "")


def links(base: str, here: str, html: str) -> list[str]:
    """Same-site links of a page (``a[href]``), as path + query; fragments and other origins dropped."""
    try:
        doc = lxml.html.fromstring(html)
    except Exception:  # an empty body
        return []
    out = []
    for href in doc.xpath("//a/@href"):
        url = urljoin(base + here, str(href).strip())
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != base or parts.scheme not in ("http", "https"):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def crawl(
    templates: list[tuple[re.Pattern[str], str]], client: httpx.Client, base: str, start: list[str]
) -> tuple[dict[str, int], list[str], dict[str, str]]:
    """Breadth first from ``start``: the status of each pattern's first page, the problems ('status path <-
    from'), and one HTML page of each route (route template -> path) for the accessibility check."""
    seen: dict[str, int] = {}
    html_pages: dict[str, str] = {}
    problems: list[str] = []
    todo: deque[tuple[str, str]] = deque((p, "start") for p in start)
    while todo and len(seen) < MAX_PAGES:
        path, came_from = todo.popleft()
        key = pattern(templates, path)
        if key in seen:
            continue
        r = client.get(path, follow_redirects=True)
        seen[key] = r.status_code
        if r.status_code == 404 or r.status_code >= 500:
            problems.append(f"{r.status_code} {path}  <- {came_from}")
            continue
        if r.headers.get("content-type", "").startswith("text/html"):
            html_pages.setdefault(key.split("?")[0], path)
            final = urlsplit(str(r.url))
            here = final.path + (f"?{final.query}" if final.query else "")
            todo.extend((link, path) for link in links(base, here, r.text))
    return seen, problems, html_pages


@pytest.mark.parametrize("who", ["crawl-admin", "crawl-analyst"])
def test_every_link_of_every_staff_page_answers(demo_site, who: str) -> None:
    base = str(demo_site["url"])
    with httpx.Client(base_url=base, timeout=60) as client:
        login_as(client, who)
        # the report with the demo's one file first, so its viewer link is the report page the crawl opens
        seen, problems, _pages = crawl(
            route_templates(demo_site["app"].routes), client, base, [f"/reports/{demo_site['file_report_id']}", *START]
        )
    assert not problems, "links that lead nowhere or fail:\n" + "\n".join(problems)
    assert len(seen) < MAX_PAGES, "the crawl hit its bound: raise MAX_PAGES or tighten the patterns"
    # the crawl did reach the staff side and its main kinds of page (a crawl that saw nothing proves nothing)
    kinds = {k.split("?")[0] for k in seen}
    for must in (
        "/queue",
        "/reports/{report_id}",
        "/networks/{network_id}",
        "/graph",
        "/graph/entities/{kind}/{value}",
        "/agencies",
        "/media/{attachment_id}",
        "/stats",
        "/account",
    ):
        assert must in kinds, (must, sorted(kinds))
    if who == "crawl-admin":
        assert {"/admin/users", "/banks", "/audit"} <= kinds


# ------------------------------------------------------------------------------------------ accessibility (axe-core)


@needs_chromium
@pytest.mark.browser
def test_axe_finds_no_violation_on_any_public_or_staff_page(demo_site, browser) -> None:  # type: ignore[no-untyped-def]
    """axe-core (npm, pinned in tests/axe) injected into every page of the served demo world: the public
    pages as a visitor, in English and Italian, and one page of each staff route as an admin."""
    base = str(demo_site["url"])
    with httpx.Client(base_url=base, timeout=60) as client:
        login_as(client, "axe-admin")
        _seen, problems, staff = crawl(
            route_templates(demo_site["app"].routes), client, base, [f"/reports/{demo_site['file_report_id']}", *START]
        )
        session = [{"name": k, "value": v, "url": base} for k, v in client.cookies.items()]
    assert not problems
    public = ["/", "/report", "/followup", "/login", "/report/received", "/privacy", "/report?lang=it", "/?lang=it"]
    found: dict[str, list[str]] = {}
    visitor = browser.new_context(bypass_csp=True, locale="en-US")  # the CSP forbids the injected script
    for path in public:
        found.update(axe_check(visitor.new_page(), base + path))
    visitor.close()
    admin = browser.new_context(bypass_csp=True, locale="en-US", viewport={"width": 1280, "height": 900})
    admin.add_cookies(session)
    for path in sorted(set(staff.values())):
        found.update(axe_check(admin.new_page(), base + path))
    admin.close()
    assert len(staff) >= 25, sorted(staff)  # the crawl reached the staff side
    assert not found, "axe-core violations:\n" + "\n".join(f"{url}: {v}" for url, vs in found.items() for v in vs)
