"""``create_app(settings)``: the one app object, built the same way by ``tipline serve``, uvicorn and tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from tipline import __version__
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.settings import Settings
from tipline.store import Database

log = logging.getLogger("tipline")
STATIC_DIR = Path(__file__).with_name("static")
SESSION_COOKIE = "tipline_session"


async def _retention_job(db: Database, hours: float) -> None:
    """Run retention now and then every ``hours`` (in a worker thread; failures are logged, not fatal)."""
    from tipline.protect import retention

    await asyncio.sleep(min(60.0, hours * 3600))  # let the server start first
    while True:
        try:
            res = await anyio.to_thread.run_sync(lambda: retention.run(db))
            if res.reports or res.receipts_expired:
                log.info("retention: deleted %d reports, expired %d receipts", len(res.reports), res.receipts_expired)
        except Exception:  # noqa: BLE001 - keep serving; the next run retries
            log.exception("retention run failed")
        await asyncio.sleep(hours * 3600)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    settings.ensure_data_dir()
    db = db if db is not None else Database.from_settings(settings)
    db.migrate()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        n = intake.analyse_pending(db)
        if n:
            log.info("analysed %d report(s) left unanalysed by an earlier stop", n)
        job = None
        if settings.retention_interval_hours > 0:
            job = asyncio.create_task(_retention_job(db, settings.retention_interval_hours))
        yield
        if job is not None:
            job.cancel()

    app = FastAPI(
        title="tipline",
        version=__version__,
        summary="Hotline intake, triage and referral against cybersex trafficking.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db

    @app.middleware("http")
    async def limits_and_session(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # the CyberTipline door enforces its own limits while streaming, and answers in its XML format
        length = None if request.url.path.startswith("/ispws/") else request.headers.get("content-length")
        limit = settings.max_body_bytes
        if length is not None:
            if not length.isdigit():
                return JSONResponse({"detail": "Content-Length is not a number"}, status_code=400)
            if int(length) > limit:
                return JSONResponse(
                    {"detail": f"the request body is {length} bytes; the limit here is {limit} bytes"},
                    status_code=413,
                )
        request.state.user = None
        request.state.csrf = None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = accounts.session_principal(db, cookie, idle=timedelta(minutes=settings.session_idle_minutes))
            if found is not None:
                request.state.user, request.state.csrf = found
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append({"field": loc or "body", "problem": err.get("msg", "invalid")})
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return JSONResponse({"detail": f"invalid input: {summary}", "errors": problems}, status_code=422)

    from tipline.cybertip.api import router as cybertip_router
    from tipline.graph import web as graph_web
    from tipline.media import web as media_web
    from tipline.routing import web as routing_web
    from tipline.web import pages_public, pages_staff
    from tipline.web.api import router as api_router

    app.include_router(api_router)
    app.include_router(cybertip_router)
    app.include_router(pages_public.router)
    app.include_router(pages_staff.router)
    # one router per capability: each holds its API routes (under /api/v1) and its staff pages
    for capability in (media_web, graph_web, routing_web):
        app.include_router(capability.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
