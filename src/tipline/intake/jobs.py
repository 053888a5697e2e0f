"""Wake-ups of the analysis workers across processes and machines, through procrastinate (PostgreSQL).

The backlog stays the reports table (``intake.worker``): a job carries no report, it says "reports wait".
A server that stored reports defers one ``tipline.analyse`` job (procrastinate's queueing lock keeps at
most one waiting; a deferral while one waits is a no-op), from a thread of its own so that no door waits
on it; every ``tipline worker`` runs a procrastinate worker (LISTEN/NOTIFY: it hears the job at once)
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


class RemoteWake:
    """The server side: a thread that defers a wake-up job when a door stored reports (coalesced)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._event = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tipline-remote-wake", daemon=True)

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
            while not self._stop.is_set():
                self._event.wait()
                self._event.clear()
                if self._stop.is_set():
                    return
                try:
                    task.defer()
                except procrastinate.exceptions.AlreadyEnqueued:
                    pass  # a wake-up already waits: the worker that takes it finds these reports too
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
