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


def ensure_schema(app: Any) -> None:
    """Install procrastinate's tables and functions once per database (skipped when they are there)."""
    row = app.connector.get_sync_connector().execute_query_one(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
    )
    if not row["present"]:
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
        import procrastinate.exceptions

        app = make_app(self.db)
        with app.open():
            ensure_schema(app)
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


def run_queue_worker(app: Any, stop: threading.Event) -> None:
    """Run procrastinate's worker (in this thread, its own event loop) until ``stop`` is set."""
    import asyncio

    with app.open():
        ensure_schema(app)

    async def main() -> None:
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(
                    queues=[QUEUE], concurrency=1, wait=True, install_signal_handlers=False, delete_jobs="successful"
                )
            )
            while not stop.is_set():
                await asyncio.sleep(0.2)
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass

    asyncio.run(main())
