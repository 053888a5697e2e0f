"""Web security of the real app: security headers and CSP, CSRF on every form (public ones and login
included), body-size limits (Content-Length and chunked), rate limits in memory and in Redis."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import PASSWORD, bearer, css, page, text_of
from tipline.accounts import service as accounts
from tipline.settings import Settings
from tipline.store.models import Report
from tipline.web import security
from tipline.web.app import SESSION_COOKIE, create_app

REDIS_URL = os.environ.get("TIPLINE_TEST_REDIS", "redis://127.0.0.1:6379/15")


def token_of(client: TestClient, path: str = "/followup") -> str:
    return css(page(client.get(path)), "input[name=csrf_token]")[0].get("value")


def reports_in(db) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.scalar(select(func.count()).select_from(Report)) or 0


def staff_session(client: TestClient, db, name: str, role: str) -> str:  # type: ignore[no-untyped-def]
    """Log ``name`` in as the pages would (MFA already done); returns the session's CSRF token."""
    user = accounts.create_user(db, name, role, PASSWORD)
    cookie, csrf = accounts.open_session(db, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    return csrf


def limiter(app) -> security.RateLimits:  # type: ignore[no-untyped-def]
    """The app's rate-limit middleware (built on the first request)."""
    node = app.middleware_stack
    while node is not None and not isinstance(node, security.RateLimits):
        node = getattr(node, "app", None)
    assert node is not None
    return node


def app_with(tmp_path, db=None, **settings):  # type: ignore[no-untyped-def]
    st = Settings(data_dir=tmp_path / "data", **settings)
    return create_app(st, db=db)


# ------------------------------------------------------------------------------------------ headers


def assert_headers(r, *, hsts: bool = False) -> None:  # type: ignore[no-untyped-def]
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert ("strict-transport-security" in r.headers) == hsts
    if hsts:
        assert int(re.search(r"max-age=(\d+)", r.headers["strict-transport-security"]).group(1)) >= 31_536_000


def test_security_headers_on_every_kind_of_answer(client, platform):
    answers = [
        client.get("/"),
        client.get("/report"),
        client.get("/login"),
        client.get("/queue", follow_redirects=False),
        client.get("/static/tipline.css"),
        client.get("/api/v1/queue"),
        client.get("/api/v1/openapi.json"),
        client.get("/no-such-page"),
        client.post(
            "/api/v1/reports",
            headers=bearer(platform.api_key),
            content=b"{",
        ),
        client.post("/report", content=b"x" * 2_000_000),
    ]
    for r in answers:
        assert_headers(r)


def test_hsts_over_https_or_when_set(tmp_path, sqlite_db):
    with TestClient(create_app(sqlite_db.settings, db=sqlite_db), base_url="https://testserver") as c:
        assert_headers(c.get("/"), hsts=True)
    settings = Settings(data_dir=sqlite_db.settings.data_dir, hsts=True)
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        assert_headers(c.get("/"), hsts=True)


STAFF_PAGES = ["/queue", "/account", "/admin/users", "/admin/sessions", "/audit", "/account/mfa/enrol"]
PUBLIC_PAGES = ["/", "/report", "/followup", "/login", "/report/questions?category=other"]


def test_no_inline_script_style_or_handler_and_every_post_form_has_a_token(client, db):
    def check(path: str, r) -> None:  # type: ignore[no-untyped-def]
        assert r.status_code == 200, path
        doc = page(r)
        assert not doc.xpath("//script[not(@src)]"), path
        assert not doc.xpath("//style | //*[@style]"), path
        assert not doc.xpath("//@*[starts-with(name(), 'on')]"), path
        assert not [a for a in doc.xpath("//@href | //@src") if a.strip().lower().startswith("javascript:")], path
        for form in css(doc, "form"):
            if (form.get("method") or "get").lower() == "post":
                token = css(form, "input[name=csrf_token]")
                assert token and token[0].get("value"), f"{path}: {form.get('action')}"

    for path in PUBLIC_PAGES:
        check(path, client.get(path))
    staff_session(client, db, "root", "admin")
    for path in STAFF_PAGES:
        check(path, client.get(path))


# ------------------------------------------------------------------------------------------ CSRF


def test_public_form_needs_the_token_of_its_own_cookie(client, db):
    client.headers.pop("X-CSRF-Token", None)
    data = {"category": "other", "text": "something I saw"}
    r = client.post("/report", data=data)
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert "expired" in text_of(css(page(r), "p.error-message")[0])
    assert client.post("/report", data={**data, "csrf_token": "forged"}).status_code == 403
    # a token is bound to its cookie: another visitor's token does not work with this cookie
    with TestClient(client.app) as other:
        foreign = token_of(other)
    token_of(client)
    assert client.post("/report", data={**data, "csrf_token": foreign}).status_code == 403
    assert reports_in(db) == 0
    r = client.post("/report", data={**data, "csrf_token": token_of(client, "/report")})
    assert r.status_code == 200 and [h.status_code for h in r.history] == [303] and reports_in(db) == 1
    # the same token in a header works too (htmx, scripts)
    r = client.post("/report", data=data, headers={"X-CSRF-Token": token_of(client)})
    assert r.status_code == 200 and css(page(r), "#receipt")
    # a post from another site is refused even with a token
    r = client.post("/report", data={**data, "csrf_token": token_of(client)}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and reports_in(db) == 2
    # in Italian for an Italian visitor
    r = client.post("/report?lang=it", data=data)
    assert r.status_code == 403 and page(r).get("lang") == "it"


def test_a_browser_without_cookies_can_still_report_but_not_log_in(client, db):
    client.headers.pop("X-CSRF-Token", None)
    client.cookies.clear()
    same_site = {"Sec-Fetch-Site": "same-origin"}
    r = client.post("/report", data={"category": "other", "text": "no cookies here"}, headers=same_site)
    assert r.status_code == 201
    client.cookies.clear()
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    r = client.post("/login", data={"name": "ana", "password": PASSWORD}, headers=same_site, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    client.cookies.clear()
    r = client.post("/report", data={"category": "other", "text": "x"}, headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403


def test_login_form_needs_a_token(client, db):
    client.headers.pop("X-CSRF-Token", None)
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    r = client.post("/login", data={"name": "ana", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers or SESSION_COOKIE not in r.headers["set-cookie"]
    token = token_of(client, "/login")
    r = client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"


def test_csrf_cookie_flags(client, tmp_path, sqlite_db):
    client.cookies.clear()
    r = client.get("/report")
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("tipline_csrf=")][0]
    flags = {p.strip().lower() for p in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=lax"} <= flags
    assert not any(f.startswith(("max-age", "expires")) for f in flags)  # gone when the browser closes
    # no cookie on JSON answers or static files
    assert "set-cookie" not in client.get("/healthz").headers
    settings = Settings(data_dir=sqlite_db.settings.data_dir, session_cookie_secure=True)
    with TestClient(create_app(settings, db=sqlite_db), base_url="https://testserver") as c:
        cookie = [x for x in c.get("/report").headers.get_list("set-cookie") if "csrf" in x][0]
        assert cookie.startswith("__Host-tipline_csrf=") and "secure" in cookie.lower()


def test_staff_forms_take_only_the_session_token(client, db):
    anonymous = token_of(client)
    csrf = staff_session(client, db, "ana", "analyst")
    client.headers.pop("X-CSRF-Token", None)
    assert client.post("/account/sessions/revoke", data={"csrf_token": anonymous, "session": "00"}).status_code == 403
    r = client.post("/account/sessions/revoke", data={"csrf_token": csrf, "session": "00"}, follow_redirects=False)
    assert r.status_code == 303


def test_cookie_authenticated_json_calls_need_the_header_but_keys_do_not(client, db, platform):
    rid = client.post(
        "/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "A", "category": "other"}
    ).json()["id"]
    csrf = staff_session(client, db, "ana", "analyst")
    client.headers.pop("X-CSRF-Token", None)
    assert client.patch(f"/api/v1/reports/{rid}", json={"status": "in_review"}).status_code == 403
    r = client.patch(f"/api/v1/reports/{rid}", json={"status": "in_review"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    token = accounts.create_token(db, "ana")
    client.cookies.delete(SESSION_COOKIE)
    r = client.patch(f"/api/v1/reports/{rid}", json={"status": "referred"}, headers=bearer(token))
    assert r.status_code == 200


# ------------------------------------------------------------------------------------------ body size


def chunks(total: int, size: int = 65_536) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"a" * n


def test_body_limits_by_length_and_by_counting_a_chunked_body(client, db, platform):
    big = 1_000_001
    r = client.post("/report", content=b"x" * big, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "text/html" in r.headers["content-type"]
    r = client.post("/api/v1/reports", headers=bearer(platform.api_key), content=b"x" * big)
    assert r.status_code == 413 and "limit here is 1,000,000 bytes" in r.json()["detail"]
    r = client.post("/api/v1/reports", headers={**bearer(platform.api_key), "Content-Length": "12x"}, content=b"{}")
    assert r.status_code == 400
    # chunked: no Content-Length, counted while it streams
    body = b'{"report_id": "C-1", "category": "other", "text": "' + b"a" * 1_100_000 + b'"}'

    def stream() -> Iterator[bytes]:
        for i in range(0, len(body), 50_000):
            yield body[i : i + 50_000]

    r = client.post(
        "/api/v1/reports", headers={**bearer(platform.api_key), "Content-Type": "application/json"}, content=stream()
    )
    assert r.status_code == 413 and "more than 1,000,000 bytes" in r.json()["detail"]
    assert reports_in(db) == 0
    r = client.post(
        "/report",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token_of(client)},
        content=(b"category=other&text=" + part for part in [b"a" * 600_000, b"b" * 600_000]),
    )
    assert r.status_code == 413 and reports_in(db) == 0
    # a small chunked body is fine
    small = b'{"report_id": "C-2", "category": "other", "text": "hello"}'
    r = client.post(
        "/api/v1/reports",
        headers={**bearer(platform.api_key), "Content-Type": "application/json"},
        content=iter([small[:10], small[10:]]),
    )
    assert r.status_code == 201


def test_cybertip_door_keeps_its_larger_limit_and_answers_in_xml(tmp_path, sqlite_db):
    platform = accounts.create_platform(sqlite_db, "P")
    settings = Settings(data_dir=sqlite_db.settings.data_dir, max_upload_bytes=200_000, max_xml_bytes=100_000)
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        auth = (platform.username, platform.password)
        r = c.post("/ispws/submit", auth=auth, content=chunks(150_000), headers={"Content-Type": "text/xml"})
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/xml")
        r = c.post("/ispws/submit", auth=auth, content=chunks(3_000_000), headers={"Content-Type": "text/xml"})
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/xml")


# ------------------------------------------------------------------------------------------ rate limits


def test_rate_limit_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="TIPLINE_RATE_LIMIT_LOGIN"):
        with TestClient(app_with(tmp_path, rate_limit_login="many")) as c:
            c.get("/")
    assert security.Rate.parse("20/10m") == security.Rate(20, 600)
    assert security.Rate.parse("5/s").per_second == 5


def test_public_form_rate_limit_per_client_with_a_clear_429(tmp_path):
    app = app_with(tmp_path, rate_limit_report_form="3/m")
    with TestClient(app) as c, TestClient(app, client=("198.51.100.7", 1000)) as other:
        token = token_of(c)
        for _ in range(3):
            assert c.post("/report", data={"category": "other", "text": "x", "csrf_token": token}).status_code == 200
        r = c.post("/report", data={"category": "other", "text": "x", "csrf_token": token})
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 20
        assert "text/html" in r.headers["content-type"] and "Too many requests" in r.text
        assert_headers(r)
        # another client is not affected, and pages still open for the first
        t = token_of(other)
        assert other.post("/report", data={"category": "other", "text": "y", "csrf_token": t}).status_code == 200
        assert c.get("/report").status_code == 200


def test_followup_and_login_are_limited_per_client(tmp_path):
    app = app_with(tmp_path, rate_limit_followup="2/h", rate_limit_login="2/h")
    with TestClient(app) as c:
        token = token_of(c)
        codes = [c.post("/followup", data={"receipt": "1234", "csrf_token": token}).status_code for _ in range(3)]
        assert codes == [404, 404, 429]
        codes = [
            c.post("/login", data={"name": "x", "password": "y", "csrf_token": token}).status_code for _ in range(3)
        ]
        assert codes == [401, 401, 429]


def test_api_limits_per_key_and_per_client(tmp_path, sqlite_db):
    one = accounts.create_platform(sqlite_db, "One")
    two = accounts.create_platform(sqlite_db, "Two")
    settings = Settings(data_dir=sqlite_db.settings.data_dir, rate_limit_api_key="3/m", rate_limit_api_client="7/m")
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        got = [c.get("/api/v1/platform/reports/1", headers=bearer(one.api_key)).status_code for _ in range(4)]
        assert got == [404, 404, 404, 429]
        r = c.get("/api/v1/platform/reports/1", headers=bearer(one.api_key))
        assert r.status_code == 429 and "per minute for this key" in r.json()["detail"] and r.headers["retry-after"]
        assert c.get("/api/v1/platform/reports/1", headers=bearer(two.api_key)).status_code == 404
        # made-up keys each get a bucket, but the client's bucket is shared
        got = [c.get("/api/v1/queue", headers=bearer(secrets.token_hex(8))).status_code for _ in range(4)]
        assert got == [401, 401, 401, 429] and "for this client" in c.get("/api/v1/queue").json()["detail"]
        r = c.get("/ispws/status", auth=(one.username, one.password))
        assert r.status_code == 429 and r.headers["content-type"].startswith("application/xml")


def test_client_ids_hide_the_address_and_change_every_day(tmp_path):
    import asyncio

    app = app_with(tmp_path)
    with TestClient(app, client=("203.0.113.9", 1)) as c:
        c.get("/")
        rl = limiter(app)
        store = rl.store
        assert isinstance(store, security.MemoryBuckets)
        keys = list(store._b)
        assert keys and not any("203.0.113" in k or "testclient" in k for k in keys)
        scope = {"client": ("203.0.113.9", 1)}
        today = asyncio.run(rl.client_id(scope))
        assert today in keys[0]
        asyncio.run(store.day_key("2000-01-01"))  # another day: a new key, the old one forgotten
        assert asyncio.run(rl.client_id(scope)) != today
    # one IPv6 /64 is one client; IPv4-mapped addresses count as IPv4
    addr = security.client_address
    assert addr({"client": ("2001:db8:1:2:aaaa::1", 1)}) == addr({"client": ("2001:db8:1:2:bbbb::9", 1)})
    assert addr({"client": ("2001:db8:1:3::1", 1)}) != addr({"client": ("2001:db8:1:2::1", 1)})
    assert addr({"client": ("::ffff:192.0.2.1", 1)}) == "192.0.2.1"


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(not _redis_up(), reason=f"no Redis at {REDIS_URL}")
def test_two_app_nodes_share_limits_through_redis(tmp_path, sqlite_db):
    settings = Settings(data_dir=sqlite_db.settings.data_dir, redis_url=REDIS_URL, rate_limit_report_form="3/m")
    address = ("192.0.2." + str(secrets.randbelow(250) + 1), 1)  # a fresh client for this run
    a, b = create_app(settings, db=sqlite_db), create_app(settings, db=sqlite_db)
    with TestClient(a, client=address) as ca, TestClient(b, client=address) as cb:
        ta, tb = token_of(ca), token_of(cb)
        codes = []
        for client, token in [(ca, ta), (cb, tb), (ca, ta), (cb, tb)]:
            codes.append(
                client.post("/report", data={"category": "other", "text": "x", "csrf_token": token}).status_code
            )
        assert codes == [200, 200, 200, 429]  # a filed report ends on the receipt page (200)
        assert isinstance(limiter(a).store, security.RedisBuckets)


def test_unreachable_redis_lets_requests_through(tmp_path, sqlite_db):
    settings = Settings(data_dir=sqlite_db.settings.data_dir, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        assert c.get("/report").status_code == 200


def test_a_session_counts_against_its_own_limit(tmp_path, sqlite_db):
    settings = Settings(data_dir=sqlite_db.settings.data_dir, rate_limit_session="3/m")
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        staff_session(c, sqlite_db, "ana", "analyst")
        assert [c.get("/queue").status_code for _ in range(4)] == [200, 200, 200, 429]
        c.cookies.delete(SESSION_COOKIE)
        assert c.get("/login").status_code == 200


def test_static_files_and_health_are_not_limited(tmp_path):
    app = app_with(tmp_path, rate_limit_client="2/m")
    with TestClient(app) as c:
        assert {c.get("/static/tipline.css").status_code for _ in range(5)} == {200}
        assert {c.get("/healthz").status_code for _ in range(5)} == {200}
        assert [c.get("/").status_code for _ in range(3)] == [200, 200, 429]


def test_totp_secret_is_never_in_a_cacheable_page(client, db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    cookie, _ = accounts.open_session(db, user, stage="enrol")
    client.cookies.set(SESSION_COOKIE, cookie)
    r = client.get("/account/mfa/enrol")
    assert r.headers["cache-control"] == "no-store"
    secret = text_of(css(page(r), "code.totp-secret")[0]).replace(" ", "")
    assert pyotp.TOTP(secret).now().isdigit()
