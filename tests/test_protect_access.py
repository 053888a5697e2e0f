"""Access control of every route of the real app, from a table that classifies each one.

``ROUTES`` (in ``tests/helpers.py``, shared with the fuzzer) says who may call each route. The test walks
the app's routes: a route that is not in the table fails the test (so a new route must be classified
there), and so does a table entry with no route.
Then, for every route: an anonymous request is refused (401, or 303 to the login page for pages), a
platform key does not open a staff route, a role below the route's is refused (403), the route's own
role is let in (no 401/403, no 5xx), and platform A cannot reach platform B's reports through any route.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from helpers import (
    ADMIN,
    ANALYST,
    CYBERTIP,
    PASSWORD,
    PLATFORM,
    PUBLIC,
    RANK,
    ROUTES,
    STAFF_OR_PLATFORM,
    SUPERVISOR,
    bearer,
    css,
    full_token,
    page,
)
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PublicReportIn
from tipline.web.app import SESSION_COOKIE, create_app


def app_routes(app) -> set[str]:  # type: ignore[no-untyped-def]
    """Every route of the app as 'METHOD path' (HEAD folded into GET; mounts as 'MOUNT path')."""
    out: set[str] = set()
    for r in iter_route_contexts(app.routes):
        if isinstance(r.original_route, Mount):
            out.add(f"MOUNT {r.path}")
            continue
        for method in r.methods or ():
            if method != "HEAD":
                out.add(f"{method} {r.path}")
    return out


@pytest.fixture
def app(settings, db):  # type: ignore[no-untyped-def]
    settings.rate_limits = False  # hundreds of requests from one test client
    settings.argon2_per_second = 0  # the login posts would meet the process-wide Argon2 budget (tested elsewhere)
    settings.faces_enabled = True  # off, its routes refuse everyone alike (tests/test_faces_off.py)
    return create_app(settings, db=db)


def test_every_route_is_classified(app):
    routes = app_routes(app)
    missing = sorted(routes - set(ROUTES))
    assert not missing, (
        "routes with no access class: add each to ROUTES in tests/test_protect_access.py "
        f"(public, platform, cybertip, analyst, supervisor or admin): {missing}"
    )
    stale = sorted(set(ROUTES) - routes)
    assert not stale, f"ROUTES names routes the app no longer has: {stale}"


# ------------------------------------------------------------------------------------------ fixtures


class World:
    def __init__(self, client, db) -> None:  # type: ignore[no-untyped-def]
        self.client, self.db = client, db
        self.a = accounts.create_platform(db, "PlatformA")
        self.b = accounts.create_platform(db, "PlatformB")
        self.public_report = intake.submit_report(
            db, PublicReportIn(category=Category.OTHER, text="call +39 333 123 4567", language="en").to_report()
        ).report_id
        r = client.post(
            "/api/v1/reports",
            headers=bearer(self.b.api_key),
            json={"report_id": "B-1", "category": "other", "text": "B's report, +39 333 765 4321"},
        )
        assert r.status_code == 201, r.text
        self.b_report = r.json()["id"]
        # token 1 (the id routes are called with) belongs to nobody who calls: revoking it harms no caller
        accounts.create_user(db, "spare1", ANALYST, PASSWORD)
        accounts.create_token(db, "spare1")
        self.users: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.sessions: dict[str, tuple[str, str]] = {}
        for role in (ANALYST, SUPERVISOR, ADMIN):
            user = accounts.create_user(db, f"{role}1", role, PASSWORD)
            self.users[role] = user
            self.tokens[role] = full_token(db, user.name)
            self.sessions[role] = accounts.open_session(db, user)
        client.get("/")  # the anonymous CSRF cookie
        self.anon_csrf = css(page(client.get("/followup")), "input[name=csrf_token]")[0].get("value")

    def url(self, path: str) -> str:
        values = {
            "report_id": str(self.public_report),
            "kind": "phone",
            "value:path": "%2B393331234567",
            "name": "analyst1",
            "action": "unlock",
            "chart": "volume",
            "fmt": "csv",
        }

        def fill(m: re.Match[str]) -> str:
            return values.get(m.group(1), "1")

        return re.sub(r"\{([^}]+)\}", fill, path)


@pytest.fixture
def world(client, db) -> World:  # type: ignore[no-untyped-def]
    return World(client, db)


def send(w: World, route: str, *, as_: str | None = None, key: str | None = None, basic=None):  # type: ignore[no-untyped-def]
    """One request to ``route`` as a role (session for pages, token for the API), a platform key, HTTP
    Basic credentials, or nobody. State-changing requests carry a valid CSRF token, so what answers
    is the access check."""
    method, path = route.split(" ", 1)
    url = w.url(path)
    c = w.client
    c.cookies.delete(SESSION_COOKIE)
    headers: dict[str, str] = {}
    data: dict[str, str] | None = None
    csrf = w.anon_csrf
    api = path.startswith("/api/")
    if as_ is not None:
        if route == "DELETE /api/v1/tokens/current":  # revokes the token it is called with: a spare one
            headers.update(bearer(accounts.create_token(w.db, w.users[as_].name)))
        elif api:
            headers.update(bearer(w.tokens[as_]))
        else:
            cookie, csrf = w.sessions[as_]
            c.cookies.set(SESSION_COOKIE, cookie)
    if key is not None:
        headers.update(bearer(key))
    if method != "GET":
        if api:
            headers["X-CSRF-Token"] = csrf
        else:
            data = {"csrf_token": csrf}
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if basic is not None:
        kwargs["auth"] = basic
    if data is not None:
        kwargs["data"] = data
    elif method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return c.request(method, url, **kwargs)


def refused_anonymously(route: str, r) -> bool:  # type: ignore[no-untyped-def]
    path = route.split(" ", 1)[1]
    if path.startswith(("/api/", "/ispws/")):
        return r.status_code == 401
    return r.status_code == 303 and r.headers["location"].startswith("/login")


# ------------------------------------------------------------------------------------------ the checks


def test_anonymous_requests_are_refused_everywhere_but_public_routes(world, app):
    wrong = []
    for route in sorted(app_routes(app)):
        cls = ROUTES.get(route)
        if route.startswith("MOUNT") or cls == PUBLIC or cls is None:
            continue
        r = send(world, route)
        if not refused_anonymously(route, r):
            wrong.append(f"{route}: {r.status_code}")
    assert not wrong, wrong


def test_a_platform_key_opens_no_staff_route(world, app):
    wrong = []
    for route in sorted(app_routes(app)):
        if ROUTES.get(route) not in RANK:
            continue
        r = send(world, route, key=world.a.api_key)
        path = route.split(" ", 1)[1]
        # a page answers a key with the login page, or (pages that also take tokens) with 401/403
        ok = r.status_code in (401, 403) or (not path.startswith("/api/") and refused_anonymously(route, r))
        if not ok:
            wrong.append(f"{route}: {r.status_code}")
    assert not wrong, wrong


def test_a_platform_session_is_no_staff_role(world, app, db):
    pl = accounts.create_user(db, "pl", "platform", PASSWORD)
    cookie, csrf = accounts.open_session(db, pl)
    wrong = []
    for route in sorted(app_routes(app)):
        path = route.split(" ", 1)[1]
        if ROUTES.get(route) not in RANK or path.startswith("/api/"):
            continue
        world.client.cookies.set(SESSION_COOKIE, cookie)
        method = route.split(" ", 1)[0]
        data = {"csrf_token": csrf} if method != "GET" else None
        r = world.client.request(method, world.url(path), data=data, follow_redirects=False)
        if r.status_code != 403:
            wrong.append(f"{route}: {r.status_code}")
    world.client.cookies.delete(SESSION_COOKIE)
    assert not wrong, wrong


def test_roles_below_the_route_are_refused_and_the_route_role_is_let_in(world, app):
    wrong = []
    for route in sorted(app_routes(app)):
        need = ROUTES.get(route)
        if need not in RANK:
            continue
        for role in (ANALYST, SUPERVISOR, ADMIN):
            r = send(world, route, as_=role)
            if RANK[role] < RANK[need]:
                if r.status_code != 403:
                    wrong.append(f"{route} as {role}: {r.status_code}, expected 403")
            elif role == need:
                refused = r.status_code in (401, 403) or (
                    r.status_code == 303 and r.headers["location"].startswith("/login")
                )
                if refused or r.status_code >= 500:
                    wrong.append(f"{route} as {role}: {r.status_code}, expected to be let in")
    assert not wrong, "\n".join(wrong)


def test_cybertip_routes_need_their_credentials(world, app):
    for route in sorted(r for r in app_routes(app) if ROUTES.get(r) == CYBERTIP):
        r = send(world, route, basic=("nobody", "wrong"))
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/xml"), route
        r = send(world, route, key=world.a.api_key)
        assert r.status_code == 401, route
        r = send(world, route, basic=(world.a.username, world.a.password))
        assert r.status_code not in (401, 403) and r.status_code < 500, (route, r.status_code)


# ------------------------------------------------------------------------------------------ platform A vs B


def test_platform_a_cannot_reach_platform_b_reports(world, app, client):
    a, b, rid = world.a, world.b, world.b_report
    # every route that takes a report id and accepts a platform key
    for route in sorted(app_routes(app)):
        if ROUTES.get(route) not in (PLATFORM, STAFF_OR_PLATFORM) or "{report_id}" not in route:
            continue
        method, path = route.split(" ", 1)
        url = path.replace("{report_id}", str(rid))
        kwargs: dict[str, Any] = {"headers": bearer(a.api_key)}
        if method != "GET":
            kwargs["files"] = {"file": ("x.bin", b"\x00" * 16, "application/octet-stream")}
        r = client.request(method, url, **kwargs)
        assert r.status_code in (403, 404), (route, r.status_code, r.text[:200])
        assert "B's report" not in r.text
    # B itself can read it (the refusal above is about ownership, not a broken route)
    r = client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(b.api_key))
    assert r.status_code == 200 and r.json()["text"].startswith("B's report")
    # the same report_id from A makes A's own report, never an answer about B's
    r = client.post("/api/v1/reports", headers=bearer(a.api_key), json={"report_id": "B-1", "category": "other"})
    assert r.status_code == 201 and r.json()["id"] != rid
    r = client.post(
        "/api/v1/live", headers=bearer(b.api_key), json={"stream_id": "S1", "broadcaster": {"account": "x"}}
    )
    b_live = r.json()["id"]
    r = client.post(
        "/api/v1/live", headers=bearer(a.api_key), json={"stream_id": "S1", "broadcaster": {"account": "x"}}
    )
    assert r.json()["id"] != b_live and r.json()["created"] is True
    # the CyberTipline door: B's open submission is not A's to add to, finish or retract
    from helpers import report_xml

    r = client.post("/ispws/submit", auth=(b.username, b.password), content=report_xml())
    assert r.status_code == 200, r.text
    b_open = re.search(r"<reportId>(\d+)</reportId>", r.text).group(1)  # type: ignore[union-attr]
    auth_a = (a.username, a.password)
    for path, kwargs in [
        ("/ispws/finish", {"data": {"id": b_open}}),
        ("/ispws/retract", {"data": {"id": b_open}}),
        ("/ispws/upload", {"data": {"id": b_open}, "files": {"file": ("f.jpg", b"\xff\xd8\xff" + b"0" * 64)}}),
    ]:
        r = client.post(path, auth=auth_a, **kwargs)
        assert r.status_code in (403, 404), (path, r.status_code, r.text)
    r = client.post("/ispws/finish", auth=(b.username, b.password), data={"id": b_open})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------------------------ CSRF, one guard


def test_every_state_changing_route_refuses_a_form_without_the_csrf_token(world, app, db):
    """One CSRF mechanism (``web.security.csrf_guard``, app-wide): every route a browser can post to with an
    ambient credential refuses a form without the token, or with a forged one, before its handler runs,
    and nothing is written (no audit event, no report)."""
    from sqlalchemy import func, select

    from tipline.store.models import AuditEvent, Report

    def written() -> tuple[int, int]:
        with db.reader() as s:
            return s.scalar(select(func.count(AuditEvent.id))) or 0, s.scalar(select(func.count(Report.id))) or 0

    c = world.client
    c.headers.pop("X-CSRF-Token", None)
    before, checked, wrong = written(), 0, []
    for route in sorted(app_routes(app)):
        method, path = route.split(" ", 1)
        need = ROUTES.get(route)
        if method == "GET" or route.startswith("MOUNT") or need in (PLATFORM, CYBERTIP):
            continue
        as_ = ADMIN if need == STAFF_OR_PLATFORM else need if need in RANK else None
        for token in (None, "forged-token"):
            c.cookies.delete(SESSION_COOKIE)
            if as_ is not None:
                c.cookies.set(SESSION_COOKIE, world.sessions[as_][0])
            data = {"name": "x", "body": "x"} | ({} if token is None else {"csrf_token": token})
            r = c.request(method, world.url(path), data=data, follow_redirects=False)
            if r.status_code != 403 or "expired" not in r.text:
                wrong.append(f"{route} as {as_ or 'anonymous'} with {token!r}: {r.status_code}")
        checked += 1
    c.cookies.delete(SESSION_COOKIE)
    assert not wrong, "\n".join(wrong)
    assert checked > 40 and written() == before
