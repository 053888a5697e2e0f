"""Shared fixtures: real SQLite files and a real PostgreSQL database, the real app, real HTTP.

Tests that take ``db``, ``app`` or ``client`` run once per backend (``sqlite`` and ``postgres``). The
PostgreSQL database is made for the test run and dropped at its end; set ``TIPLINE_TEST_PG`` to another
server URL (``postgresql+psycopg://user@host:port``) or to ``off`` to skip the PostgreSQL runs.
"""

from __future__ import annotations

import gc
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from helpers import (
    CHROMIUM,
    LAUNCH_ARGS,
    PASSWORD,
    PG_SERVER,
    serve_app,  # noqa: F401 (for fixtures that serve the app)
)
from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.settings import Settings, private_dir
from tipline.store import Database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if PG_SERVER == "off":
        pytest.skip("PostgreSQL tests are switched off (TIPLINE_TEST_PG=off)")
    name = f"tipline_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # pragma: no cover - depends on the machine
        pytest.fail(f"cannot create a PostgreSQL test database at {PG_SERVER}: {e}")
    url = f"{PG_SERVER}/{name}"
    Database(url).migrate()
    yield url
    if url in _PG_ENGINES:
        _PG_ENGINES.pop(url).dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# tables that hold installation data made by migrations, kept between tests
_KEEP = {"instance_meta", "alembic_version"}
_PG_ENGINES: dict[str, Engine] = {}  # url -> an engine kept for the run


def _truncate_pg(url: str) -> None:
    """Empty every table a test may have filled and restart every sequence. Only the tables that hold rows
    are truncated (one query asks which): a TRUNCATE of all 49 tables cost about 0.2 s a test, most of
    them empty. Tables are listed anew each time (a test may install more: procrastinate's)."""
    if url not in _PG_ENGINES:
        _PG_ENGINES[url] = create_engine(url, pool_size=1, pool_pre_ping=True)
    eng = _PG_ENGINES[url]
    listed = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    with eng.begin() as c:
        tables = [t for t in c.scalars(text(listed)) if t not in _KEEP]
        held = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
        full = list(c.scalars(text(held))) if tables else []
        if full:
            c.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in full) + " CASCADE"))
        # the sequences of tables emptied above, and of any a test filled and emptied itself
        c.execute(
            text(
                "SELECT setval(c.oid, s.seqstart, false) FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid"
                " WHERE c.relnamespace = 'public'::regnamespace"
            )
        )


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One Spark session (local[1], small memory) for every Spark test of the run; mark those tests slow."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("tipline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to the newest revision once for the run. Each test's data folder starts
    with a copy of it: migrating a new file costs about 1.3 s, a copy 1 ms (``migrate()`` on the copy finds
    nothing to do). The migrations themselves are tested from an empty file (``helpers.before_migration``)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("sqlite-template") / "data")
    database = open_database(settings)
    database.migrate()
    database.dispose()
    return settings.data_dir / "tipline.db"


def _sqlite_settings(tmp_path: Path, template: Path) -> Settings:
    data = private_dir(tmp_path / "data")
    shutil.copy(template, data / "tipline.db")
    return Settings(data_dir=data)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        _truncate_pg(url)
        return Settings(data_dir=tmp_path / "data", database_url=url)
    return _sqlite_settings(tmp_path, request.getfixturevalue("sqlite_template"))


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    return _sqlite_settings(tmp_path, sqlite_template)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = open_database(settings)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_settings: Settings) -> Iterator[Database]:
    database = open_database(sqlite_settings)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def ana(db: Database):  # type: ignore[no-untyped-def]
    """An analyst (modules that need another ``ana`` define their own)."""
    return accounts.create_user(db, "ana", "analyst", PASSWORD)


@pytest.fixture
def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    from tipline.web.app import create_app

    return create_app(settings, db=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def platform(db: Database) -> accounts.PlatformCredentials:
    return accounts.create_platform(db, "ExampleChat")


@pytest.fixture
def analyst_token(db: Database) -> str:
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    return accounts.create_token(db, "ana")


# ------------------------------------------------------------------------------------------ real server, real browser


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium driven by Playwright (never a browser download of Playwright's own)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


# ------------------------------------------------------------------------------------------ the demo world, served

DEMO_REPORTS = 80  # the demo world of `tipline serve --demo`, smaller (same generator, same doors)


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The demo world (``load_demo``) in the app ``create_app`` builds, under a real uvicorn server, once per
    run: tests that use it only read (page views are audited, nothing else changes). One synthetic picture
    is uploaded through the platform API onto a report of its own, so the viewer has a file to show.
    Staff users ``crawl-admin``, ``axe-admin`` and ``crawl-analyst`` (password ``helpers.PASSWORD``); each
    admin logs in once (the first login enrols its second factor)."""
    import io

    import httpx
    from rich.console import Console

    from tipline.demo import load_demo
    from tipline.synth import images
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("demo") / "data"))
    db = app.state.db
    load_demo(db, seed=1, n_reports=DEMO_REPORTS, console=Console(file=io.StringIO()))
    accounts.create_user(db, "crawl-admin", "admin", PASSWORD)
    accounts.create_user(db, "crawl-analyst", "analyst", PASSWORD)
    accounts.create_user(db, "axe-admin", "admin", PASSWORD)  # its own: an admin enrols MFA at first login
    platform = accounts.create_platform(db, "ViewerTest-Platform")
    auth = {"Authorization": f"Bearer {platform.api_key}"}
    with serve_app(app) as url:
        with httpx.Client(base_url=url) as c:
            r = c.post(
                "/api/v1/reports",
                json={
                    "report_id": "DEMO-FILE-1",
                    "category": "other",
                    "text": "synthetic report with a synthetic picture",
                },
                headers=auth,
            )
            assert r.status_code == 201, r.text
            report_id = int(r.json()["id"])
            jpeg = images.encode(images.synth_image(11, (480, 360), style="shapes"), "JPEG", quality=90)
            r = c.post(
                f"/api/v1/reports/{report_id}/files", files={"file": ("a.jpg", jpeg, "image/jpeg")}, headers=auth
            )
            assert r.status_code == 201, r.text
        yield {"url": url, "app": app, "db": db, "file_report_id": report_id, "file_id": int(r.json()["id"])}


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The last thing of a run: freeze what the session left in memory, so that the interpreter's own
    collections at exit skip it (the process ends; nothing there needs collecting). Walking it took 3-4
    minutes after a full run's summary, one core busy, before the process gave its exit status."""
    gc.freeze()


# ------------------------------------------------------------------------------------------ a browser that stalls

# A page that did not load in 30 s, once in a full CI run (2026-12-05: the login page of the shift tests, which
# passed in every run before and after; not reproduced here under full CPU load). A browser test that fails on
# a navigation's time-out runs once more (pytest-rerunfailures); the summary names the rerun with its first
# traceback and, under it, where every thread of this process stood at the time-out (the servers under test run
# in threads of this process), so a server that stopped answering shows where. A real failure fails twice.
NAVIGATION_TIMEOUT = r"TimeoutError: (Page|Frame)\.(goto|reload|wait_for_url|wait_for_load_state): Timeout"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=[NAVIGATION_TIMEOUT]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if call.excinfo is not None and type(call.excinfo.value).__name__ == "TimeoutError" and report.failed:
        import threading
        import traceback

        names = {t.ident: t.name for t in threading.enumerate()}
        stacks = [
            f"-- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame, limit=12))
            for ident, frame in sys._current_frames().items()
        ]
        longrepr = report.longrepr
        if hasattr(longrepr, "addsection"):
            longrepr.addsection("threads of this process at the time-out", "\n".join(stacks))
    return report
