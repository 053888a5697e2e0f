"""Wake-ups of the analysis workers across processes and machines, through procrastinate (PostgreSQL).

The backlog stays the reports table (``intake.worker``): a job carries no report, it says "reports wait".
A server that stored reports defers one ``tipline.analyse`` job unless one waits already (procrastinate's
queueing lock keeps at most one waiting), from a thread of its own so that no door waits on it; every
``tipline worker`` runs a procrastinate worker (LISTEN/NOTIFY: it hears the job at once)
whose task wakes its analyser, which then takes batches until nothing waits. A lost wake-up loses no
report: workers also look every ``SWEEP_S`` seconds.

Why procrastinate: it needs nothing but the PostgreSQL tipline already runs (dramatiq and arq need
Redis), and its jobs live in the same database as the reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from tipline.errors import stopped_by_ctrl_c
from tipline.store import Database

log = logging.getLogger("tipline.intake.jobs")

QUEUE = "tipline-analysis"
TASK = "tipline.analyse"
SWEEP_S = 30.0  # a worker woken by the queue still looks this often (retries, a lost wake-up)


def conninfo(db: Database) -> str:
    """The libpq connection string of ``db`` (SQLAlchemy's ``postgresql+psycopg://`` without the driver)."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(db: Database, on_job: Callable[[], None] | None = None) -> Any:
    """A procrastinate app on ``db`` with the one task; ``on_job`` runs when a worker takes a job."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(db)))

    @app.task(name=TASK, queue=QUEUE, queueing_lock=TASK)
    def analyse() -> None:
        if on_job is not None:
            on_job()

    return app


SCHEMA_LOCK = 74_634  # PostgreSQL advisory lock id (beside web.app's JOB_LOCKS): one process installs the schema
RETRY_S = 5.0  # how soon a server's wake-ups or a worker's queue listener tries again after an error
_PRESENT = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"


def ensure_schema(db: Database, app: Any) -> None:
    """Install procrastinate's tables and functions once per database (skipped when they are there). Processes
    that start together on a new database (``tipline serve --workers N``, workers beside it) take turns: one
    installs, the others then find it there. Unlocked, every one of them ran the script, whose plain
    ``CREATE TYPE`` failed in all but one."""
    connector = app.connector.get_sync_connector()
    if connector.execute_query_one(_PRESENT)["present"]:
        return
    with db.engine.begin() as c:  # the lock is the transaction's: released when it ends, however it ends
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        if not connector.execute_query_one(_PRESENT)["present"]:
            app.schema_manager.apply_schema()


_WAKE_WAITS = (
    "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = %(lock)s AND status = 'todo') AS waits"
)


class RemoteWake:
    """The server side: a thread that defers a wake-up job when a door stored reports (coalesced)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._event = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tipline-remote-wake", daemon=True)
        self.deferrals = 0  # wake-up jobs asked of the queue (the tests read it)

    def __call__(self) -> None:
        self._event.set()

    def start(self) -> RemoteWake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        self._thread.join(10)

    def _run(self) -> None:
        """Wake-ups until stopped; the queue unreachable (PostgreSQL restarting, not yet up when the server
        started) is logged and tried again every ``RETRY_S``: before, this thread ended at the first such error
        and every report after it waited for a worker's own look, ``SWEEP_S``."""
        while not self._stop.is_set():
            try:
                self._wake_ups()
            except Exception:  # noqa: BLE001 - workers still look every SWEEP_S seconds meanwhile
                log.exception("the analysis queue cannot be reached; trying again in %g s", RETRY_S)
                self._stop.wait(RETRY_S)
                self._event.set()  # what the doors asked meanwhile: one wake-up once the queue is back

    def _wake_ups(self) -> None:
        import procrastinate.exceptions

        app = make_app(self.db)
        with app.open():
            ensure_schema(self.db, app)
            task = app.tasks[TASK]
            connector = app.connector.get_sync_connector()
            while not self._stop.is_set():
                self._event.wait()
                self._event.clear()
                if self._stop.is_set():
                    return
                try:
                    # a wake-up that waits (not yet taken) is taken after these reports were committed, and
                    # the worker that takes it finds them too: no deferral then. Deferring anyway is refused
                    # by the queueing lock, but as a unique violation that PostgreSQL logs (about 20 lines
                    # each): a busy door wrote about 50 of them a second to the server's log.
                    if not connector.execute_query_one(_WAKE_WAITS, lock=TASK)["waits"]:
                        self.deferrals += 1
                        task.defer()
                except procrastinate.exceptions.AlreadyEnqueued:
                    pass  # another server deferred one between the look and the deferral
                except Exception:  # noqa: BLE001 - workers still look every SWEEP_S seconds
                    log.exception("could not queue an analysis wake-up")
                self._stop.wait(0.02)  # coalesce a burst of doors into one deferral


def run_queue_worker(db: Database, stop: threading.Event, on_job: Callable[[], None] | None = None) -> None:
    """Run procrastinate's worker (in this thread, its own event loop) until ``stop`` is set; ``on_job`` for
    each wake-up it takes. A worker that ends with an error (the database went away) is logged and started
    again after ``RETRY_S``: before, wake-ups stopped for good and the error came out only at the stop."""
    import asyncio

    app = make_app(db, on_job)
    while not stop.is_set():
        try:
            with app.open():
                ensure_schema(db, app)
            asyncio.run(_listen(app, stop))
        except Exception as e:  # noqa: BLE001 - the analyser still looks every SWEEP_S seconds meanwhile
            if stopped_by_ctrl_c(e):  # hidden behind a database error: still the person's Ctrl-C
                raise KeyboardInterrupt from e
            log.exception("the analysis queue's worker stopped; starting it again in %g s", RETRY_S)
            stop.wait(RETRY_S)


async def _listen(app: Any, stop: threading.Event) -> None:
    """procrastinate's worker until ``stop`` is set or it ends by itself (then its error is raised here)."""
    import asyncio

    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE], concurrency=1, wait=True, install_signal_handlers=False, delete_jobs="successful"
            )
        )
        while not stop.is_set() and not worker.done():
            await asyncio.sleep(0.2)
        if worker.done():
            worker.result()  # its error, if it had one
            raise RuntimeError("procrastinate's worker ended by itself")
        worker.cancel()
        try:
            await worker
        except asyncio.CancelledError:
            pass
