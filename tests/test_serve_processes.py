"""Several server processes on one PostgreSQL database and one Redis: ``tipline serve --workers 2`` on one
port and a second ``tipline serve`` on another, real processes. A login made on one is a session on the
other, a rate limit is counted across both, a hash bank imported through one matches through the other
(its in-memory PDQ index reloads), and a report filed through one is in the other's queue. The periodic
jobs (overdue check, retention) run in one process at a time. SQLite refuses more than one process with a
message that says what to do."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from helpers import PASSWORD, bearer, css, free_port, login_as, page, run, start_serve
from tipline.accounts import service as accounts
from tipline.intake.worker import wait_until_analysed
from tipline.media.hashing import hash_bytes
from tipline.media.models import LABEL_ABUSE
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import SealingProcess
from tipline.synth.images import encode, synth_image, transform
from tipline.web.app import JOB_LOCKS, run_alone

REDIS_URL = os.environ.get("TIPLINE_TEST_REDIS", "redis://127.0.0.1:6379/15")
START_S = 180  # a worker imports the whole app; on a busy machine that takes a while


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:  # noqa: BLE001 - no Redis: the test is skipped, said so
        return False


@contextmanager
def serve(settings: Settings, data: Path, *args: str, **env: str) -> Iterator[str]:
    """``tipline serve ARGS`` in its own process group on a free port; stopped with SIGTERM (the way a
    service manager stops it), its workers with it. Yields the base URL."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    full.update(
        TIPLINE_DATA_DIR=str(data),
        TIPLINE_DATABASE_URL=str(settings.database_url),
        TIPLINE_REDIS_URL=REDIS_URL,
        TIPLINE_RETENTION_INTERVAL_HOURS="0",
        **env,
    )
    proc, base = start_serve(full, after=args, start_s=START_S)
    try:
        yield base
    except BaseException:
        _kill_group(proc)  # the test's own failure is the one to report

        raise
    else:
        proc.send_signal(signal.SIGTERM)
        try:
            # uvicorn shuts down (the app's lifespan ends), then one process re-raises the signal: -SIGTERM
            rc = proc.wait(timeout=60)
            assert rc in (0, -signal.SIGTERM), proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        left = _group_left(proc.pid)
        if left:
            _kill_group(proc)
            pytest.fail(f"processes of tipline serve {' '.join(args)} outlived it: {left}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _group_left(pgid: int, timeout: float = 15.0) -> str:
    """What still runs in the process group ``pgid`` after ``timeout`` seconds ('' when nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        ps = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
        if not ps.strip() or time.monotonic() > deadline:
            return ps.strip()
        time.sleep(0.2)


def _live_servers(db: Database) -> set[int]:
    with db.reader() as s:
        return set(s.scalars(select(SealingProcess.pid)))


def _count_live(db: Database) -> int:
    return len(_live_servers(db))


def _jpeg(seed: int, t: str | None = None) -> bytes:
    img = synth_image(seed)
    return encode(transform(img, t) if t else img, "JPEG", quality=90)


def _wait_for(what: str, check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not seen within {timeout} s")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(not _redis_up(), reason=f"no Redis at {REDIS_URL}")
@pytest.mark.parametrize("backend", ["postgres"])
def test_two_servers_share_sessions_limits_banks_and_the_queue(settings: Settings, db: Database, tmp_path: Path):
    accounts.create_user(db, "sup", "supervisor", PASSWORD)
    flood = accounts.create_platform(db, "FloodChat")
    media = accounts.create_platform(db, "MediaChat")
    data = tmp_path / "data"  # one data folder: the same key files on both (several machines: see README)
    limits = {"TIPLINE_RATE_LIMIT_API_KEY": "8/h"}
    # A: two processes on one port, no analysis of their own; B: one process, the analysis worker
    with (
        serve(settings, data, "--workers", "2", TIPLINE_ANALYSIS_IN_SERVER="false", **limits) as a_url,
        serve(settings, data, **limits) as b_url,
    ):
        # four processes, each with its own master-key heartbeat: A's two workers, B and B's analysis process
        assert _wait_for("four live processes", lambda: _count_live(db) >= 4 and _count_live(db)) == 4
        a = httpx.Client(base_url=a_url, timeout=60)
        login_as(a, "sup")  # on A (the second factor enrolled on the way)
        b = httpx.Client(base_url=b_url, timeout=60, cookies=a.cookies)

        # the session made on A is a session on B, with the same CSRF token
        doc = page(b.get("/queue"))
        (token,) = [el.get("value") for el in css(doc, "form[action='/logout'] input[name=csrf_token]")]
        b.headers["X-CSRF-Token"] = token

        # one rate limit, counted across both servers (8 per hour for this key: 4 on each, then refused)
        key = bearer(flood.api_key)
        codes = []
        for i in range(8):
            c = a if i % 2 else b
            body = {"report_id": f"F-{i}", "category": "other", "text": f"flood {i}"}
            codes.append(c.post("/api/v1/reports", json=body, headers=key).status_code)
        assert codes == [201] * 8
        for c in (a, b):
            r = c.post("/api/v1/reports", json={"report_id": "F-x", "category": "other", "text": "x"}, headers=key)
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text

        # a hash bank imported through A: B's matcher (loaded before the import) reloads and matches
        original, copy = hash_bytes(_jpeg(11)).pdq, hash_bytes(_jpeg(11, "jpeg50")).pdq
        query = {"hashes": [{"kind": "pdq", "hash": original}]}
        assert b.post("/api/v1/match", json=query).json()["matches"] == []
        r = b.post("/banks", data={"name": "Partner", "default_label": LABEL_ABUSE}, follow_redirects=False)
        assert r.status_code == 303, r.text
        bank_id = int(r.headers["location"].split("/")[2].split("?")[0])
        r = a.post(
            f"/banks/{bank_id}/import",
            data={"csrf_token": token},
            files={"file": ("list.csv", f"pdq,{copy}\n".encode(), "text/csv")},
        )
        assert r.status_code == 200 and "Imported: 1 new hash" in r.text, r.text[-2000:]
        (hit,) = b.post("/api/v1/match", json=query).json()["matches"]
        assert (hit["bank"], hit["kind"]) == ("Partner", "pdq") and 0 < hit["distance"] <= 31

        # a file uploaded through B is matched by B's analysis worker against the bank imported through A
        mkey = bearer(media.api_key)
        r = b.post("/api/v1/reports", json={"report_id": "M-1", "category": "other", "text": "file"}, headers=mkey)
        assert r.status_code == 201, r.text
        rid = int(r.json()["id"])
        r = b.post(f"/api/v1/reports/{rid}/files", files={"file": ("a.jpg", _jpeg(11), "image/jpeg")}, headers=mkey)
        assert r.status_code == 201, r.text
        wait_until_analysed(db, [rid], timeout=120)
        (m,) = b.get(f"/api/v1/reports/{rid}/matches").json()["matches"]
        assert (m["bank"], m["kind"]) == ("Partner", "pdq")

        # a report filed through A (which analyses nothing itself) is in B's queue, analysed by B
        r = a.post("/api/v1/reports", json={"report_id": "M-2", "category": "other", "text": "queue"}, headers=mkey)
        assert r.status_code == 201, r.text
        filed = int(r.json()["id"])
        _wait_for("the report in B's queue", lambda: filed in {i["id"] for i in b.get("/api/v1/queue").json()["items"]})
        wait_until_analysed(db, [filed], timeout=120)
    assert _live_servers(db) == set(), "a stopped server left its heartbeat behind"


def test_sqlite_refuses_several_workers_and_says_what_to_do(tmp_path: Path):
    p = run(["serve", "--workers", "2", "--port", str(free_port())], tmp_path / "data", check=False)
    assert p.returncode == 1
    message = " ".join(p.stderr.split())
    assert "--workers 2 needs PostgreSQL" in message and "TIPLINE_DATABASE_URL=postgresql" in message


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_periodic_job_runs_in_one_server_process_at_a_time(db: Database):
    ran: list[str] = []
    key = {"k": JOB_LOCKS["overdue"]}
    with db.write_engine.connect() as other:  # another server process, in the middle of its overdue check
        other.execute(text("SELECT pg_advisory_lock(:k)"), key)
        other.commit()
        assert run_alone(db, "overdue", lambda: ran.append("overdue")) is False
        assert run_alone(db, "retention", lambda: ran.append("retention")) is True  # another job: not held
        other.execute(text("SELECT pg_advisory_unlock(:k)"), key)
        other.commit()
    assert ran == ["retention"]

    def fails() -> None:
        raise RuntimeError("the check failed")

    with pytest.raises(RuntimeError):
        run_alone(db, "overdue", fails)
    assert run_alone(db, "overdue", lambda: ran.append("overdue")) is True  # a failed run gave the lock back
    assert ran == ["retention", "overdue"]
