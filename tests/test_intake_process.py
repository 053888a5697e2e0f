"""`tipline serve` analyses in a child process of its own (``intake.worker.AnalysisProcess``), real
processes: the door answers, the child analyses (a panic press first), records its own master-key
heartbeat, is started again when it dies mid-batch (no report lost or left waiting), and ends with the
server, even when the server is killed with SIGKILL. And the SQLite writers of several processes queue on
one lock file whose gate lets a writer that waited go next (``store.db.WriterLock``)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from helpers import alive, child_pids, start_serve
from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.intake.worker import wait_until_analysed
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.db import WriterLock
from tipline.store.models import Report, SealingProcess


def _args(pid: int) -> str:
    with suppress(FileNotFoundError, ProcessLookupError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def _analysis_child(server: int, timeout: float = 60.0, not_pid: int | None = None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in child_pids(server) if "worker --wake-fd" in _args(c) and c != not_pid and alive(c)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no analysis process under the server {server}: {child_pids(server)}")


@contextmanager
def _serve(settings: Settings) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``tipline --data-dir X [--database-url U] serve``: named by options, not variables, which the
    analysis process must be told."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env["TIPLINE_RETENTION_INTERVAL_HOURS"] = "0"
    where = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        where += ["--database-url", settings.database_url]
    proc, base = start_serve(env, before=where)
    try:
        yield proc, base
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _post(c: httpx.Client, key: str, rid: str, **extra: object) -> int:
    body = {"report_id": rid, "category": "other", "text": f"{rid}: call +63 917 555 {abs(hash(rid)) % 10000:04d}"}
    r = c.post("/api/v1/reports", json={**body, **extra}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.mark.slow
def test_serve_analyses_in_a_child_process_that_is_started_again_and_ends_with_the_server(
    settings: Settings, db: Database
):
    creds = accounts.create_platform(db, "ChildProc")
    with _serve(settings) as (server, base), httpx.Client(base_url=base, timeout=30) as c:
        child = _analysis_child(server.pid)  # there once the server answers: it waited for the child to be ready
        # the door answers; the child analyses, the escalated report (P1) within a second
        t0 = time.monotonic()
        urgent = _post(c, creds.api_key, "esc-1", escalate=True)
        wait_until_analysed(db, [urgent], timeout=10)
        assert time.monotonic() - t0 < 1.0 + 0.5  # the request's own time beside the second promised
        with db.reader() as s:
            live = set(s.scalars(select(SealingProcess.pid)))
        assert {server.pid, child} <= live, "the analysis process records its own master-key heartbeat"

        # a backlog, and the child killed in the middle of it: the server starts another, which analyses it all
        ids = [_post(c, creds.api_key, f"r-{i}") for i in range(120)]
        with db.reader() as s:
            while s.scalar(select(func.count(Report.id)).where(Report.analysed_at.is_not(None))) < 5:
                time.sleep(0.01)
        os.kill(child, signal.SIGKILL)
        again = _analysis_child(server.pid, not_pid=child)
        wait_until_analysed(db, ids, timeout=120)
        after = _post(c, creds.api_key, "after-restart", escalate=True)
        wait_until_analysed(db, [after], timeout=10)
        with db.reader() as s:
            stored = s.scalar(select(func.count(Report.id)).where(Report.platform_id == creds.id))
        assert stored == 122

        # the server killed outright: its child reads the end of its pipe and stops (no orphan analysing on)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 15
        while alive(again) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(again), "the analysis process outlived its server"


def test_a_writer_that_waited_goes_next(tmp_path: Path):
    """Two writers on one lock file (two open files: the kernel treats them as two processes). One takes the
    lock again as soon as it lets go, for a second; the other asks once. Polling alone, it would wait for a
    gap that never comes; through the gate it goes next, after one hold of the first."""
    path = tmp_path / "db.sqlite-writer.lock"
    busy, patient = WriterLock(path), WriterLock(path)
    stop, holding = threading.Event(), threading.Event()
    rounds = 0

    def hog() -> None:
        nonlocal rounds
        while not stop.is_set():
            with busy.held():
                holding.set()
                rounds += 1
                time.sleep(0.005)

    t = threading.Thread(target=hog)
    t.start()
    try:
        assert holding.wait(5)
        t0 = time.monotonic()
        with patient.held():
            waited = time.monotonic() - t0
        assert waited < 1.0, f"waited {waited:.3f} s for a lock held 5 ms at a time"
        time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert rounds > 3  # the first writer went on after its turn


def test_a_writer_stuck_behind_another_process_gets_an_error_that_says_so(tmp_path: Path):
    path = tmp_path / "db.sqlite-writer.lock"
    holder, waiter = WriterLock(path), WriterLock(path)
    with holder.held():
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="locked by another process's writer for 0.2 s"):
            with waiter.held(wait_s=0.2):
                pass
        assert 0.2 <= time.monotonic() - t0 < 2
    with waiter.held(wait_s=0.2):  # free again
        pass


def test_a_disposed_database_leaves_its_writer_lock_files_closed(tmp_path: Path):
    """Each SQLite ``Database`` opens the writer lock and its gate on its first write; disposing of it closes
    them (they stayed open as long as the process lived: two descriptors per database, in every test)."""

    def lock_files_open() -> int:
        return sum(
            1
            for fd in Path("/proc/self/fd").iterdir()
            if os.path.realpath(fd).startswith(str(tmp_path)) and "-writer." in os.path.realpath(fd)
        )

    db = open_database(Settings(data_dir=tmp_path / "data"))
    db.migrate()
    accounts.create_platform(db, "LockChat")  # a write
    assert lock_files_open() == 2
    db.dispose()
    assert lock_files_open() == 0
