"""Web security for every route: headers, body-size limits, rate limits and CSRF.

Three pure ASGI middlewares (installed by ``create_app``, outermost first) and one app-wide dependency:

- :class:`SecurityHeaders` adds a strict Content-Security-Policy (no inline script or style, no framing,
  forms post only here), ``nosniff``, ``no-referrer``, cross-origin isolation headers, and HSTS when the
  request came over HTTPS or ``settings.hsts`` is on. A header a route set itself is kept.
- :class:`RateLimits`: token buckets per API key or staff token, per staff session, and per client, with
  limits from settings (``rate_limit_*``: ``N/period``). Clients are told apart WITHOUT storing their
  address: the bucket key is an HMAC of the address (IPv6: its /64) under a random key that changes
  every UTC day and lives only in memory (in Redis, with a 2-day expiry, when ``redis_url`` is set so
  that several app nodes share the limits). A refused request gets 429 and ``Retry-After``.
- :class:`BodyLimits` refuses a body over the route's limit: at once from ``Content-Length``, and while
  it streams for chunked bodies without one (bytes are counted as they arrive; the app is told the client
  left, and the client gets 413 whatever the app tried to answer).
- :class:`NoNul` refuses a NUL byte anywhere in the path (404: such a path names nothing) or the query
  string (422), before any route sees it: no database can store NUL in text (PostgreSQL refuses it).
- :func:`csrf_guard` (a dependency of every route): a state-changing request that a browser could send
  with ambient credentials must carry the CSRF token in the form field ``csrf_token`` or the header
  ``X-CSRF-Token``. Logged-in staff (and a login half-way through) use their session's token; anonymous
  visitors (the public form, follow-up, the login form) a signed double-submit cookie: the cookie holds a
  random value, the token is its HMAC under a key derived from the installation's index key. A browser
  that refuses cookies can still use the public forms, when its Fetch Metadata says the post came from
  this site. Requests with ``Sec-Fetch-Site: cross-site`` are refused everywhere. The JSON API is exempt
  when called with a bearer key or token (no ambient credential: the token, not the session, is who
  calls), and so is the CyberTipline API (HTTP Basic, machine to machine). Any other ``Authorization``
  header (e.g. Basic) next to a session cookie does not exempt a JSON API call: the session still
  decides who calls, so the CSRF token is still due.

Nothing here logs or stores a client address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from tipline.settings import Settings
from tipline.webkit import kit

log = logging.getLogger("tipline.security")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_COOKIE = "tipline_csrf"
CSRF_COOKIE_SECURE = "__Host-tipline_csrf"  # the __Host- prefix: no Domain, Path=/, Secure; no subdomain sets it
SESSION_COOKIE = "tipline_session"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
}

# forms that anonymous visitors post (the only ones a cookie-less browser may post by Fetch Metadata alone)
PUBLIC_FORMS = frozenset({"/report", "/followup", "/followup/message"})
UNLIMITED_PREFIXES = ("/static/", "/healthz", "/favicon")
MULTIPART_SLACK = 1024 * 1024


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/ispws/"))


# ------------------------------------------------------------------------------------------ answers


def _wants_html(scope: Scope) -> bool:
    return not _is_api(scope.get("path", ""))


def refusal(scope: Scope, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The answer to a refused request in the door's own format: XML for the CyberTipline API, JSON for the
    JSON API, a page (in the visitor's language) for everything else."""
    path = scope.get("path", "")
    headers = dict(headers or {})
    if path.startswith("/ispws/"):
        from tipline.cybertip.api import refusal_for_path
        from tipline.cybertip.codes import Code

        return refusal_for_path(path, Code.INVALID_REQUEST, message, status=status, headers=headers)
    if not _wants_html(scope):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    from tipline.i18n.templating import render

    request = Request(scope)
    ctx = {"kind": kind, "status": status, "retry_after": headers.get("Retry-After"), "detail": message}
    return render(request, "staff/blocked.html", ctx, status_code=status, headers=headers, no_store=True)


# ------------------------------------------------------------------------------------------ headers


class SecurityHeaders:
    """Security headers on every response (a value the route set itself is kept)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                have = {k.lower() for k, _v in raw}
                extra = dict(HEADERS)
                if tls or self.hsts:
                    extra["strict-transport-security"] = HSTS
                for name, value in extra.items():
                    if name.encode() not in have:
                        raw.append((name.encode(), value.encode()))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ------------------------------------------------------------------------------------------ body size


class BodyLimits:
    """Refuse request bodies over the route's limit, counted as they stream (chunked bodies included)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        larger: Mapping[str, Callable[[Settings], int]] | None = None,
        patterns: Mapping[str, Callable[[Settings], int]] | None = None,
    ) -> None:
        self.app = app
        self.default = settings.max_body_bytes
        # routes that take files (path prefix -> limit; ``Capability.body_limits``); the route itself
        # enforces its exact limits in its own format
        self.larger = {prefix: fn(settings) for prefix, fn in (larger or {}).items()}

        # routes that take files but share their prefix with routes that must not: (full-path regex, limit)
        self.patterns = [(re.compile(pattern), fn(settings)) for pattern, fn in (patterns or {}).items()]

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        for pattern, limit in self.patterns:
            if pattern.fullmatch(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await refusal(scope, 400, "length", "Content-Length is not a number")(scope, receive, send)
                return
            if int(length) > limit:
                await self._too_large(scope, receive, send, limit, int(length))
                return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to a cut-off body is replaced by the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._too_large(scope, receive, send, limit, None)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int, length: int | None) -> None:
        size = f"{length:,} bytes" if length is not None else f"more than {limit:,} bytes"
        msg = f"the request body is {size}; the limit here is {limit:,} bytes"
        await refusal(scope, 413, "size", msg, {"Connection": "close"})(scope, receive, send)


# ------------------------------------------------------------------------------------------ NUL bytes


class NoNul:
    """Refuse a NUL byte in the path (404) or the query string (422), in the door's own format. No text
    column can hold NUL (PostgreSQL refuses it outright), and no identifier, filter or search term of
    this app has one, so there is nothing to clean: the request is refused before a route sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                where = "path" if "\x00" in scope.get("path", "") else "query"
                await nul_refusal(scope, where)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def nul_refusal(scope: Scope, where: str) -> Response:
    path = scope.get("path", "")
    if where == "path":
        msg = "there is nothing at this address: it holds a NUL character (%00); remove it"
        return refusal(scope, 404, "missing", msg)
    msg = "invalid input: a query parameter holds a NUL character (%00); remove it and try again"
    if _is_api(path) and not path.startswith("/ispws/"):
        return JSONResponse({"detail": msg, "errors": [{"field": "query", "problem": "NUL character"}]}, 422)
    return refusal(scope, 422, "invalid", msg)


# ------------------------------------------------------------------------------------------ rate limits

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds``; a bucket holds ``count`` tokens and refills at count/seconds."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, spec: str, name: str = "rate") -> Rate:
        m = _RATE.match(spec)
        if not m or int(m.group(1)) < 1:
            raise ValueError(f"{name}: {spec!r} is not a rate; write N/period, e.g. 20/10m, 600/m, 1000/h")
        return cls(int(m.group(1)), int(m.group(2) or 1) * _UNIT[m.group(3)])

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


class MemoryBuckets:
    """Token buckets in this process's memory (the default: one app node)."""

    def __init__(self) -> None:
        self._b: dict[str, tuple[float, float]] = {}
        self._last_prune = time.monotonic()
        self._day = ""
        self._key = b""

    async def day_key(self, day: str) -> bytes:
        if day != self._day:
            self._day, self._key = day, secrets.token_bytes(32)  # yesterday's key is gone for good
        return self._key

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; 0 when allowed, else the seconds until there are enough."""
        now = time.monotonic()
        tokens, at = self._b.get(key, (float(rate.count), now))
        tokens = min(float(rate.count), tokens + (now - at) * rate.per_second)
        if tokens >= cost:
            self._b[key] = (tokens - cost, now)
            wait = 0.0
        else:
            self._b[key] = (tokens, now)
            wait = (cost - tokens) / rate.per_second
        if now - self._last_prune > 60 or len(self._b) > 200_000:
            self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        # a bucket idle for a day is full again whatever its rate (the longest period is a day)
        self._b = {k: v for k, v in self._b.items() if now - v[1] < 86_400}
        self._last_prune = now


_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil then tokens = cap; at = now end
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """Token buckets in Redis, shared by every app node (atomic: one Lua script per take, Redis's clock).
    When Redis cannot be reached the request is let through and the failure logged: a hotline keeps
    taking reports."""

    def __init__(self, url: str, prefix: str = "tipline:rl:") -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix
        self._script = self.client.register_script(_LUA)
        self._day = ""
        self._key = b""
        self._warned = 0.0

    def _down(self, e: Exception) -> None:
        if time.monotonic() - self._warned > 60:
            self._warned = time.monotonic()
            log.warning("rate limits: Redis unreachable (%s); requests are let through", type(e).__name__)

    async def day_key(self, day: str) -> bytes:
        if day != self._day:
            name = f"{self.prefix}daykey:{day}"
            try:
                await self.client.set(name, secrets.token_hex(32), nx=True, ex=2 * 86_400)
                value = await self.client.get(name)
                text = value.decode() if isinstance(value, bytes) else value
                self._key = bytes.fromhex(text) if text else secrets.token_bytes(32)
            except Exception as e:  # noqa: BLE001 - fall back to a node-local key
                self._down(e)
                self._key = secrets.token_bytes(32)
            self._day = day
        return self._key

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        assert cost == 1.0, "weighted takes are for the in-process Argon2 budget only"
        try:
            wait = await self._script(keys=[self.prefix + key], args=[rate.count, rate.per_second])
        except Exception as e:  # noqa: BLE001 - fail open, see the class docstring
            self._down(e)
            return 0.0
        return float(wait.decode() if isinstance(wait, bytes) else wait)

    async def close(self) -> None:
        await self.client.aclose()


def client_address(scope: Scope) -> str:
    """The address the limits count by: the IP, IPv6 cut to its /64. A proxy's ``X-Forwarded-For`` counts
    only from the proxies in ``settings.trusted_proxies`` (``create_app`` then puts uvicorn's
    ProxyHeadersMiddleware in front; ``tipline serve`` turns uvicorn's own, which trusts loopback, off)."""
    client = scope.get("client")
    host = str(client[0]) if client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False).network_address) + "/64"
    return str(ip)


# Routes whose POST runs Argon2, and what it costs in password checks (m=64 MiB, t=3): a receipt look-up
# (m=19 MiB, t=2) is a fifth of one; a login code may be checked against up to ten recovery codes (as
# much as two); a password change checks the old password and hashes the new one.
ARGON2_WORK = {"/login": 1.0, "/login/code": 2.0, "/followup": 0.2, "/followup/message": 0.2, "/account/password": 2.0}


class RateLimits:
    """Per-key, per-session and per-client token buckets; 429 with Retry-After when one is empty. Then
    one budget of Argon2 work for the whole process, whoever asks (``settings.argon2_per_second``): a
    flood from many addresses, which no per-client bucket stops, gets 503 with Retry-After instead of
    every core. It is kept in this process's memory even with Redis: it protects this host."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.enabled = settings.rate_limits
        per_second = settings.argon2_rate()
        self.work: MemoryBuckets | None = MemoryBuckets() if per_second > 0 else None
        # a burst of two seconds' worth (at least two logins at once), refilled at the set rate
        burst = max(2, math.ceil(2 * per_second))
        self.work_rate = Rate(burst, burst / per_second) if per_second > 0 else Rate(1, 1)
        r = {
            name: Rate.parse(getattr(settings, f"rate_limit_{name}"), f"TIPLINE_RATE_LIMIT_{name.upper()}")
            for name in ("report_form", "followup", "login", "api_key", "api_client", "session", "client")
        }
        self.rates = r
        self.store: MemoryBuckets | RedisBuckets = RedisBuckets(settings.redis_url) if settings.redis_url else (
            MemoryBuckets())  # fmt: skip

    async def client_id(self, scope: Scope) -> str:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        key = await self.store.day_key(day)
        return hmac.new(key, client_address(scope).encode(), hashlib.sha256).hexdigest()[:32]

    def buckets(self, scope: Scope, client: str) -> list[tuple[str, Rate]]:
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        headers = Headers(scope=scope)
        r = self.rates
        out: list[tuple[str, Rate]] = []
        if _is_api(path):
            auth = headers.get("authorization", "").strip()
            if auth:
                out.append(("key:" + hashlib.sha256(auth.encode()).hexdigest()[:32], r["api_key"]))
            out.append(("api:" + client, r["api_client"]))
            return out
        if method == "POST":
            if path == "/report":
                out.append(("report:" + client, r["report_form"]))
            elif path in ("/followup", "/followup/message"):
                out.append(("followup:" + client, r["followup"]))
            elif path.startswith("/login"):
                out.append(("login:" + client, r["login"]))
        cookie = _cookie(headers, SESSION_COOKIE)
        if cookie:
            out.append(("session:" + hashlib.sha256(cookie.encode()).hexdigest()[:32], r["session"]))
        out.append(("client:" + client, r["client"]))
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.enabled:
            client = await self.client_id(scope)
            for key, rate in self.buckets(scope, client):
                wait = await self.store.take(key, rate)
                if wait > 0:
                    seconds = max(1, math.ceil(wait))
                    kind = key.split(":", 1)[0]
                    msg = (
                        f"too many requests ({rate.count} per {_period(rate.seconds)} for this "
                        f"{'key' if kind == 'key' else 'session' if kind == 'session' else 'client'}); "
                        f"try again in {seconds} s"
                    )
                    response = refusal(scope, 429, "rate", msg, {"Retry-After": str(seconds)})
                    await response(scope, receive, send)
                    return
        cost = ARGON2_WORK.get(scope.get("path", "")) if scope.get("method") == "POST" else None
        if cost and self.work is not None:
            wait = await self.work.take("argon2", self.work_rate, cost)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                msg = f"the server is busy checking other passwords and receipts; try again in {seconds} s"
                await refusal(scope, 503, "busy", msg, {"Retry-After": str(seconds)})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _period(seconds: float) -> str:
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % n == 0:
            k = int(seconds // n)
            return unit if k == 1 else f"{k} {unit}s"
    return f"{seconds:g} seconds"


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


# ------------------------------------------------------------------------------------------ CSRF


class CSRFRejected(Exception):
    """A state-changing request without the right CSRF token (answered 403 by the app's handler)."""


def csrf_key(index_key: bytes) -> bytes:
    """The CSRF signing key: derived from the installation's index key (the same on every app node)."""
    return hmac.new(index_key, b"tipline csrf cookie v1", hashlib.sha256).digest()


def csrf_cookie_name(settings: Settings) -> str:
    return CSRF_COOKIE_SECURE if settings.session_cookie_secure else CSRF_COOKIE


def anonymous_token(key: bytes, cookie: str) -> str:
    return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()[:43]


def prepare_anonymous_csrf(request: Request, key: bytes, settings: Settings) -> str | None:
    """Set ``request.state.csrf`` for a visitor without a session from the double-submit cookie; returns
    a new cookie value to set when the visitor has none (or a malformed one)."""
    cookie = request.cookies.get(csrf_cookie_name(settings))
    new = None
    if not cookie or len(cookie) != 43 or not re.fullmatch(r"[A-Za-z0-9_-]+", cookie):
        cookie = new = secrets.token_urlsafe(32)
        request.state.csrf_cookie_missing = True
    request.state.csrf = anonymous_token(key, cookie)
    return new


def set_csrf_cookie(response: Response, value: str, settings: Settings) -> None:
    # a browser-session cookie: random, not linked to anything stored, gone when the browser closes
    response.set_cookie(
        csrf_cookie_name(settings),
        value,
        httponly=True,
        samesite="lax",
        path="/",
        secure=settings.session_cookie_secure,
    )


async def csrf_guard(request: Request) -> None:
    """App-wide dependency: refuse a state-changing request without the right CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    path = request.url.path
    if path.startswith("/ispws/"):
        return  # HTTP Basic from platforms' servers; no browser session reaches it
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site == "cross-site":
        raise CSRFRejected("cross-site request")
    if path.startswith("/api/"):
        # only a browser session is an ambient credential; a bearer key or token in a header is not (and
        # then it, not the session, says who calls). Another scheme (Basic, ...) next to the session
        # cookie is no proof of anything: the session still answers for the call.
        scheme = request.headers.get("authorization", "").strip().partition(" ")[0].lower()
        if scheme == "bearer" or getattr(request.state, "user", None) is None:
            return
    expected: str | None = getattr(request.state, "csrf", None)
    sent = [request.headers.get(CSRF_HEADER)]
    if _is_form(request):
        value = (await kit.bounded_form(request)).get(CSRF_FIELD)  # kit.FormError: the app's handler answers
        sent.append(value if isinstance(value, str) else None)
    given = [t for t in sent if t]
    if expected and any(hmac.compare_digest(t.encode("utf-8", "replace"), expected.encode()) for t in given):
        return
    if (
        not given
        and path in PUBLIC_FORMS
        and getattr(request.state, "csrf_cookie_missing", False)
        and fetch_site == "same-origin"
    ):
        return  # a browser that keeps no cookies, posting from this site (its Fetch Metadata says so)
    raise CSRFRejected("missing or wrong CSRF token")


def _is_form(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return ctype in ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_response(request: Request) -> Response:
    return refusal(request.scope, 403, "csrf", "This form has expired or did not come from this site.")


def form_error_response(request: Request, exc: kit.FormError) -> Response:
    """A form that no route read itself could not be read (too many fields, a header line too long, broken
    multipart): its reason, as a page for a browser and JSON for the API."""
    return refusal(request.scope, exc.status, "form", exc.message)


# ------------------------------------------------------------------------------------------ integer range

MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL
MAX_INT = 2**63 - 1  # counts and offsets: 64 bits (SQLite's INTEGER, PostgreSQL's BIGINT)


class OutOfRange(Exception):
    """An integer path or query parameter beyond what the database can hold (answered 404 / 422)."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(name)
        self.name = name
        self.where = where


async def int_range_guard(request: Request) -> None:
    """App-wide dependency: an integer path parameter (an id) must fit in 32 bits and an integer query
    parameter (a count, an offset) in 64. A bigger one names nothing (404 for a path, 422 for a query)
    instead of failing in the database driver (SQLite: OverflowError; PostgreSQL: "integer out of
    range"), whatever route declares it."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    for where, params, values in (
        ("path", dependant.path_params, request.path_params),
        ("query", dependant.query_params, request.query_params),
    ):
        for field in params:
            if field.field_info.annotation not in (int, int | None):
                continue
            raw = values.get(field.alias)
            if isinstance(raw, str) and len(raw) > 9:
                try:
                    too_big = abs(int(raw)) > (MAX_ID if where == "path" else MAX_INT)
                except ValueError:
                    continue  # not a number: the route's own validation answers
                if too_big:
                    raise OutOfRange(field.alias, where)


def out_of_range_response(request: Request, exc: OutOfRange) -> Response:
    if exc.where == "query":
        msg = f"invalid input: {exc.name}: the number is too large"
        if not request.url.path.startswith("/ispws/") and _is_api(request.url.path):
            return JSONResponse({"detail": msg, "errors": [{"field": exc.name, "problem": "too large"}]}, 422)
        return refusal(request.scope, 422, "missing", msg)
    return refusal(request.scope, 404, "missing", f"there is no {exc.name.removesuffix('_id')} with this number")


def number_out_of_range(request: Request, exc: Exception) -> Response:
    """The backstop for a number in a body that the database cannot hold (SQLite raises OverflowError,
    PostgreSQL NumericValueOutOfRange): the client sent it, so 422, never a 500."""
    if not isinstance(exc, OverflowError):
        orig = getattr(exc, "orig", None)
        if type(orig).__name__ != "NumericValueOutOfRange":
            raise exc
    msg = "invalid input: a number is too large"
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": msg, "errors": [{"field": "body", "problem": "number too large"}]}, 422)
    return refusal(request.scope, 422, "missing", msg)
