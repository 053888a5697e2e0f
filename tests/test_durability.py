"""An acknowledged report survives a crash: the real server is killed with SIGKILL while clients stream
reports at it (its analysis worker busy with batches, or not started at all), restarted, and every report
answered with 2xx is there, intact and analysed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tipline.accounts import service as accounts
from tipline.store import Database
from tipline.store.models import Report

TIPLINE = str(Path(sys.executable).with_name("tipline"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(settings, port: int, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "TIPLINE_DATA_DIR": str(settings.data_dir), **extra}
    env.pop("TIPLINE_DATABASE_URL", None)
    env.pop("TIPLINE_ANALYSE_INLINE", None)  # the server's default: the door stores, its worker analyses
    if settings.database_url:
        env["TIPLINE_DATABASE_URL"] = settings.database_url
    proc = subprocess.Popen(
        [TIPLINE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start: " + proc.stderr.read().decode())


@pytest.mark.slow
@pytest.mark.parametrize("analysis", ["worker", "killed before analysis"])
def test_sigkill_mid_stream_loses_no_acknowledged_report(settings, db: Database, analysis: str):
    creds = accounts.create_platform(db, "CrashTest")
    port = _port()
    # "killed before analysis": the server's worker is off, so every acknowledged report dies unanalysed
    worker_env = {"TIPLINE_ANALYSIS_IN_SERVER": "false"} if analysis != "worker" else {}
    proc = _start(settings, port, **worker_env)
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        i = 0
        with httpx.Client(timeout=5) as c:
            while not stop.is_set():
                rid = f"c{k}-{i}"
                body = {
                    "report_id": rid,
                    "category": "other",
                    "text": f"report {rid} call 0917 555 {k:04d}",
                    "country": "PH",
                }
                try:
                    r = c.post(
                        f"http://127.0.0.1:{port}/api/v1/reports",
                        json=body,
                        headers={"Authorization": f"Bearer {creds.api_key}"},
                    )
                except httpx.HTTPError:
                    return  # the server died under us: this one was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acked[rid] = r.json()["id"]
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 20
    while len(acked) < 60 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 60, "too few reports before the kill to prove anything"
    with db.reader() as s:
        unanalysed = s.scalar(select(func.count(Report.id)).where(Report.analysed_at.is_(None)))
    if analysis != "worker":
        assert unanalysed >= 60, "reports were analysed by a server that had no worker"

    proc = _start(settings, port)  # restart: analyses whatever the crash left unanalysed
    try:
        with db.reader() as s:
            rows = {r.external_id: r for r in s.scalars(select(Report).where(Report.platform_id == creds.id))}
        missing = set(acked) - set(rows)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
        for rid, report_id in acked.items():
            assert rows[rid].id == report_id
            assert rows[rid].text.startswith(f"report {rid} ")
        deadline = time.time() + 30
        while time.time() < deadline:
            with db.reader() as s:
                pending = s.scalar(select(Report.id).where(Report.analysed_at.is_(None)).limit(1))
            if pending is None:
                break
            time.sleep(0.1)
        assert pending is None, "a stored report was never analysed after the restart"
    finally:
        proc.terminate()
        proc.wait(10)
