"""``create_app(settings)``: the one app object, built the same way by ``tipline serve``, uvicorn and tests."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tipline import __version__, strict_json
from tipline.accounts import service as accounts
from tipline.accounts.principal import dummy_hash
from tipline.capabilities import CAPABILITIES, open_database
from tipline.capability import imported
from tipline.crypto import KeyError_
from tipline.intake import service as intake
from tipline.intake import worker
from tipline.settings import Settings
from tipline.store import Database, StoreDataError
from tipline.web import openapi_doc, pages_public, pages_staff, security
from tipline.web import pages_credentials as credentials
from tipline.web.api import BODY_LIMIT_PATTERNS as api_body_limit_patterns
from tipline.web.api import router as api_router
from tipline.webkit import kit
from tipline.webkit.kit import SESSION_COOKIE

if TYPE_CHECKING:
    from tipline.protect.retention import RetentionResult

log = logging.getLogger("tipline")
STATIC_DIR = Path(__file__).with_name("static")


# PostgreSQL advisory-lock keys (session level) of the periodic jobs that one server process runs at a time
JOB_LOCKS = {"overdue": 74_631, "retention": 74_632, "periodic": 74_633}


def run_alone(db: Database, job: str, fn: Callable[[], object]) -> bool:
    """Run the periodic job ``fn`` unless another server process (``serve --workers N``, another machine) is
    running the same job now: two overdue checks at once would notify twice, two retention runs would
    delete the same rows. False when skipped: the other process does it (``Database.run_alone``)."""
    return db.run_alone(JOB_LOCKS[job], fn)


async def _minute_job(db: Database, every: float) -> None:
    """Every minute: with inline analysis, retry the analysis of stored reports whose analysis failed (the
    report itself is safe; queued analysis has its worker for that); always, the capabilities' background
    work (:func:`run_periodic`: closing CyberTipline submissions their platform never finished, face scans
    of new media, ...)."""
    while True:
        await asyncio.sleep(every)
        if db.settings.analyse_inline:
            try:
                n = await anyio.to_thread.run_sync(lambda: intake.analyse_pending(db, limit=500))
                if n:
                    log.info("analysed %d pending report(s)", n)
            except Exception:  # noqa: BLE001 - keep serving; the next round retries
                log.exception("retrying pending analyses failed")
        try:  # one server process at a time (face scans of the same files twice would be wasted work)
            await anyio.to_thread.run_sync(lambda: run_alone(db, "periodic", lambda: run_periodic(db)))
        except Exception:  # noqa: BLE001 - the database may be briefly away; the next round retries
            log.exception("background work failed")


def run_periodic(db: Database) -> int:
    """One round of the capabilities' background work (``Capability.periodic``: e.g. face scans of new report
    media); a step that fails is logged and the others still run. Returns the items handled."""
    done = 0
    for cap in db.require_capabilities():
        for step in cap.periodic:
            try:
                done += step(db)
            except Exception:  # noqa: BLE001 - keep serving; the next round retries
                log.exception("background work of %s failed", cap.name)
    return done


def _retention_alone(db: Database) -> RetentionResult | None:
    """One retention run, unless another server process is running one now (then None)."""
    from tipline.protect import retention

    done: list[RetentionResult] = []
    run_alone(db, "retention", lambda: done.append(retention.run(db)))
    return done[0] if done else None


async def _retention_job(db: Database, hours: float) -> None:
    """Run retention now and then every ``hours`` (in a worker thread; failures are logged, not fatal)."""
    await asyncio.sleep(min(60.0, hours * 3600))  # let the server start first
    while True:
        try:
            res = await anyio.to_thread.run_sync(_retention_alone, db)
            if res is not None and (res.reports or res.receipts_expired):
                log.info("retention: deleted %d reports, expired %d receipts", len(res.reports), res.receipts_expired)
        except Exception:  # noqa: BLE001 - keep serving; the next run retries
            log.exception("retention run failed")
        await asyncio.sleep(hours * 3600)


async def _overdue_job(db: Database, every: float = 60.0) -> None:
    """Every minute: mark the reports past their time-to-first-action target and notify the on-duty
    supervisors (in the app, and the webhook when one is set). Failures are logged, not fatal."""
    from tipline.reports import shift

    while True:
        await asyncio.sleep(every)
        try:
            await anyio.to_thread.run_sync(lambda: run_alone(db, "overdue", lambda: shift.check_overdue(db)))
        except Exception:  # noqa: BLE001 - keep serving; the next check retries
            log.exception("overdue check failed")


def _document_validation_errors(app: FastAPI) -> None:
    """Make the OpenAPI schema describe the 422 body that ``validation_error`` really sends (a sentence in
    ``detail`` and the list in ``errors``), not FastAPI's default, so clients and schema checks agree."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = {
                    "title": "HTTPValidationError",
                    "type": "object",
                    "required": ["detail"],
                    "properties": {
                        "detail": {"type": "string", "title": "Detail", "description": "What is wrong, in words."},
                        "errors": {
                            "type": "array",
                            "title": "Errors",
                            "items": {
                                "type": "object",
                                "required": ["field", "problem"],
                                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                            },
                        },
                    },
                }
            app.openapi_schema = openapi_doc.hoist_defs(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    settings.ensure_data_dir()
    db = db if db is not None else open_database(settings)
    if db.capabilities is None:
        db.capabilities = CAPABILITIES
    db.migrate()
    app = FastAPI(
        title="tipline",
        version=__version__,
        summary="Hotline intake, triage and referral against cybersex trafficking.",
        lifespan=_lifespan(db, settings),
        # Swagger UI loads its script from a CDN and runs inline script: neither is allowed here (no outside
        # requests, a strict CSP). The schema itself is served; any OpenAPI viewer can read it.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        # every form and cookie-authenticated API call; integer ids and counts within 64 bits
        dependencies=[Depends(security.csrf_guard), Depends(security.int_range_guard)],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.capabilities = CAPABILITIES
    _add_session(app, db, settings)
    _add_middlewares(app, settings)
    _document_validation_errors(app)
    _add_error_handlers(app)
    _add_routes(app)
    return app


def app_from_environment() -> FastAPI:
    """The app of each process of ``tipline serve --workers N`` (uvicorn's own multi-process mode imports it
    as a factory in every worker): settings from the environment (``TIPLINE_*``), which ``serve`` fills in
    from its options before uvicorn starts the processes."""
    app = create_app(Settings())
    app.state.serving = True  # a `tipline serve` process (see the lifespan)
    return app


def _lifespan(db: Database, settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up (capabilities' in-memory state, pending analyses, the key heartbeat) and the background jobs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for capability in CAPABILITIES:
            if capability.on_start is not None:
                capability.on_start(db)  # in-memory state (the hash-bank index) before the first request
        analyser = _start_analysis(app, db)
        # the hash an unknown user name is checked against, made now: from the first login on, an unknown name
        # costs what a wrong password costs
        dummy_hash()
        from tipline.protect import keys

        heartbeat = keys.Heartbeat(db).start()  # seen by a key rotation from the first request on
        jobs = [asyncio.create_task(_overdue_job(db))]
        jobs.append(asyncio.create_task(_minute_job(db, settings.background_every_seconds)))
        if settings.retention_interval_hours > 0:
            jobs.append(asyncio.create_task(_retention_job(db, settings.retention_interval_hours)))
        if getattr(app.state, "serving", False):
            # everything loaded so far (the libraries, the app, the bank index) lives as long as the process: out
            # of the collector's sight, a full collection no longer walks it. One took 130 ms here, and stopped
            # every request in flight: the door's p99 at 32 clients (bench/RESULTS.md). Only in `tipline serve`:
            # a test process builds many apps, whose objects must stay collectable. Garbage first: a cycle frozen
            # would never be freed.
            gc.collect()
            gc.freeze()
        if isinstance(analyser, worker.AnalysisProcess):
            await anyio.to_thread.run_sync(analyser.ready)  # answer once a panic press would be analysed
        yield
        for job in jobs:
            job.cancel()
        if analyser is not None:
            await anyio.to_thread.run_sync(analyser.stop)
        remote = db.get_resource("intake.remote_wake")
        if remote is not None:
            db.set_resource("intake.remote_wake", None)
            await anyio.to_thread.run_sync(remote.stop)
        await anyio.to_thread.run_sync(heartbeat.stop)  # a clean stop: nothing for a rotation to wait for

    return lifespan


def _start_analysis(app: FastAPI, db: Database) -> worker.Analyser | worker.AnalysisProcess | None:
    """Inline analysis: analyse what an earlier stop left unanalysed, now. Queued analysis: start this
    server's analysis worker, which takes that backlog too: in `tipline serve` a child process
    (``intake.worker.AnalysisProcess``), elsewhere (an app a test builds) or with
    ``TIPLINE_ANALYSIS_PROCESS=false`` a thread (``intake.worker.Analyser``)."""
    app.state.analyser = None
    if db.settings.analyse_inline:
        n = intake.analyse_pending(db)
        if n:
            log.info("analysed %d report(s) left unanalysed by an earlier stop", n)
        return None
    if db.dialect == "postgresql":  # wake `tipline worker` processes through the job queue
        from tipline.intake.jobs import RemoteWake

        db.set_resource("intake.remote_wake", RemoteWake(db).start())
    if not db.settings.analysis_in_server:
        return None
    if getattr(app.state, "serving", False) and db.settings.analysis_process:
        app.state.analyser = worker.AnalysisProcess(db).start()
    else:
        app.state.analyser = worker.Analyser(db).start()
    return app.state.analyser


def _add_session(app: FastAPI, db: Database, settings: Settings) -> None:
    """The staff session (cookie -> ``request.state.user``, ``.csrf``, ``.pending``) and the anonymous
    visitors' CSRF cookie."""
    app.add_middleware(StaffSession, db=db, settings=settings)


class StaffSession:
    """Pure ASGI (like the middlewares of ``tipline.web.security``): Starlette's ``BaseHTTPMiddleware``, what
    ``@app.middleware("http")`` makes, runs every request through a task and memory streams of its own, a
    tenth of a JSON API report's server time (body size, rate limits and security headers are in
    ``tipline.web.security``)."""

    def __init__(self, app: ASGIApp, *, db: Database, settings: Settings) -> None:
        self.app = app
        self.db = db
        self.settings = settings
        self.csrf_signing_key = security.csrf_key(db.keyring.index_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request.state.user = None
        request.state.csrf = None
        request.state.pending = None  # a login half-way through (second factor due, or MFA enrolment)
        request.state.session_key = None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            idle = timedelta(minutes=self.settings.session_idle_minutes)
            info = await run_in_threadpool(accounts.session_info, self.db, cookie, idle=idle)
            if info is not None:
                request.state.csrf, request.state.session_key = info.csrf, info.key
                if info.stage == "full":
                    request.state.user = info.user
                else:
                    request.state.pending = info
        new_csrf_cookie = None
        if request.state.csrf is None:
            new_csrf_cookie = security.prepare_anonymous_csrf(request, self.csrf_signing_key, self.settings)
        if new_csrf_cookie is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):  # a page: the visitor's CSRF cookie
                    carrier = Response()
                    security.set_csrf_cookie(carrier, new_csrf_cookie, self.settings)
                    for name, value in carrier.raw_headers:
                        if name == b"set-cookie":
                            headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _add_middlewares(app: FastAPI, settings: Settings) -> None:
    # outermost last: security headers on every answer, then rate limits, then body size, then NUL bytes
    app.add_middleware(security.NoNul)
    larger = {prefix: limit for cap in CAPABILITIES for prefix, limit in cap.body_limits.items()}
    app.add_middleware(security.BodyLimits, settings=settings, larger=larger, patterns=api_body_limit_patterns)
    app.add_middleware(security.RateLimits, settings=settings)
    app.add_middleware(security.SecurityHeaders, hsts=settings.hsts)
    proxies = settings.trusted_proxy_list()
    if proxies:
        # X-Forwarded-For / -Proto from these proxies only (uvicorn's parser; `tipline serve` turns off
        # uvicorn's own copy, which would trust loopback by default)
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)


def _add_error_handlers(app: FastAPI) -> None:
    """Each error in the door's own format: a page, JSON, or the CyberTipline door's XML."""

    @app.exception_handler(security.OutOfRange)
    async def out_of_range(request: Request, exc: security.OutOfRange) -> Response:
        return security.out_of_range_response(request, exc)

    @app.exception_handler(OverflowError)
    @app.exception_handler(StoreDataError)
    async def number_too_large(request: Request, exc: Exception) -> Response:
        return security.number_out_of_range(request, exc)

    @app.exception_handler(KeyError_)
    async def sealed_value_refused(request: Request, exc: KeyError_) -> Response:
        # a sealed value that does not open (moved from another row or column, altered, or under a master
        # key not configured): never shown; the message says what is wrong and names no content
        log.error("sealed value refused on %s: %s", request.url.path, exc)
        return security.refusal(request.scope, 500, "sealed", f"stored data could not be opened: {exc}")

    @app.exception_handler(security.CSRFRejected)
    async def csrf_rejected(request: Request, exc: security.CSRFRejected) -> Response:
        return security.csrf_response(request)

    @app.exception_handler(kit.FormError)
    async def form_unreadable(request: Request, exc: kit.FormError) -> Response:
        return security.form_error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # a page nobody serves: a styled page in the visitor's language for a browser, JSON for the API
        if exc.status_code == 404 and exc.detail == "Not Found" and _wants_page(request):
            return pages_public.not_found(request)
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words when the body is not UTF-8 JSON text or nests too deep for the parser
            exc = StarletteHTTPException(
                400,
                "the body could not be read as JSON: send UTF-8 text, nested less than 1,000 levels deep, "
                "numbers of at most 4,300 digits",
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":  # loc is ("body", position): the position is not a field
                loc_ = err.get("loc", ())
                why = (err.get("ctx") or {}).get("error", "")
                where = f" at character {loc_[-1]}" if len(loc_) > 1 else ""
                if str(why).endswith(strict_json.ONCE):  # JSON, but an object names a key twice
                    problems.append({"field": "body", "problem": str(why)})
                    continue
                problems.append({"field": "body", "problem": f"not valid JSON{where}{': ' + why if why else ''}"})
                continue
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(
                {"field": loc or "body", "problem": str(err.get("msg", "invalid")).removeprefix("Value error, ")}
            )
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return JSONResponse({"detail": f"invalid input: {summary}", "errors": problems}, status_code=422)


def _wants_page(request: Request) -> bool:
    """Whether an error answer should be a page: a browser's request outside the JSON and XML doors."""
    path = request.url.path
    if path.startswith(("/api/", "/ispws", "/static/", "/healthz")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _add_routes(app: FastAPI) -> None:
    app.include_router(api_router)
    app.include_router(pages_public.router)
    app.include_router(pages_staff.router)
    app.include_router(credentials.router)
    app.include_router(credentials.api_router)
    # each capability's routers: its API routes (under /api/v1), its pages, its door
    for capability in CAPABILITIES:
        for router in capability.routers:
            app.include_router(imported(router))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        # async: answered on the event loop, never queued behind busy worker threads (Argon2, uploads)
        return {"status": "ok", "version": __version__}
