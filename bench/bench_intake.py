"""Intake throughput and latency on loopback, against the real server (`tipline serve`).

Prints, for SQLite and PostgreSQL: reports/s accepted through the JSON API and through the CyberTipline
API (/ispws submit + finish), with p50/p99 latency and errors, from concurrent clients; and the panic
button's p50/p99 latency beside its 50 ms goal.

    .venv/bin/python bench/bench_intake.py [--seconds 10] [--clients 8] [--backends sqlite,postgres]

The clients run in this process (threads), on the same 2 cores as the server: figures are a floor.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.settings import Settings
from tipline.synth import generate_world

PG_SERVER = os.environ.get("TIPLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Server:
    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.data = workdir / backend
        self.pg_name = None
        # the bench measures intake capacity, not the per-key rate limiter (1,200/min by default)
        env = {**os.environ, "TIPLINE_DATA_DIR": str(self.data), "TIPLINE_RATE_LIMITS": "false"}
        env.pop("TIPLINE_DATABASE_URL", None)
        if backend == "postgres":
            self.pg_name = f"tipline_bench_{os.getpid()}"
            admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
                c.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
            admin.dispose()
            env["TIPLINE_DATABASE_URL"] = f"{PG_SERVER}/{self.pg_name}"
        settings = Settings(data_dir=self.data, database_url=env.get("TIPLINE_DATABASE_URL"))
        db = open_database(settings)
        db.migrate()
        self.creds = accounts.create_platform(db, "BenchPlatform")
        db.dispose()
        self.port = free_port()
        tipline = str(Path(sys.executable).with_name("tipline"))
        self.proc = subprocess.Popen(
            [tipline, "serve", "--port", str(self.port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.pg_name:
            admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            admin.dispose()


def drive(n_clients: int, seconds: float, one_call) -> dict[str, float]:
    """Run ``one_call(client, i) -> bool`` from n threads for ``seconds``; latency per call."""
    lat: list[float] = []
    errors = [0]
    count = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(k: int) -> None:
        i = k
        with httpx.Client(timeout=30) as c:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    ok = one_call(c, i)
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    count[0] += 1
                    errors[0] += not ok
                i += n_clients

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "n": count[0],
        "per_s": count[0] / wall,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "errors": errors[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--live-presses", type=int, default=300)
    args = ap.parse_args()

    world = generate_world(seed=7, n_reports=600)
    platform_payloads = [r.payload for r in world.reports if r.door == "platform"]
    xml_docs = [r.payload.encode() for r in world.reports if r.door == "cybertip"]
    live_payloads = [r.payload for r in world.reports if r.door == "live"]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            srv = Server(backend, Path(tmp))
            try:
                key = {"Authorization": f"Bearer {srv.creds.api_key}"}
                auth = (srv.creds.username, srv.creds.password)

                def json_call(c: httpx.Client, i: int, srv=srv, key=key) -> bool:
                    body = dict(platform_payloads[i % len(platform_payloads)], report_id=f"bench-{i}")
                    return c.post(srv.base + "/api/v1/reports", json=body, headers=key).status_code == 201

                def ispws_call(c: httpx.Client, i: int, srv=srv, auth=auth) -> bool:
                    r = c.post(
                        srv.base + "/ispws/submit",
                        content=xml_docs[i % len(xml_docs)],
                        auth=auth,
                        headers={"content-type": "text/xml; charset=utf-8"},
                    )
                    if r.status_code != 200 or "<reportId>" not in r.text:
                        return False
                    rid = r.text.split("<reportId>")[1].split("<")[0]
                    return c.post(srv.base + "/ispws/finish", data={"id": rid}, auth=auth).status_code == 200

                rows.append((backend, "JSON API  POST /api/v1/reports", drive(args.clients, args.seconds, json_call)))
                rows.append((backend, "CyberTipline submit+finish", drive(args.clients, args.seconds, ispws_call)))
                lat = []
                with httpx.Client(timeout=30) as c:
                    for i in range(args.live_presses):
                        body = dict(live_payloads[i % len(live_payloads)], stream_id=f"bench-live-{i}")
                        t0 = time.perf_counter()
                        r = c.post(srv.base + "/api/v1/live", json=body, headers=key)
                        lat.append(time.perf_counter() - t0)
                        assert r.status_code == 201, r.text
                rows.append(
                    (
                        backend,
                        "panic button (1 client)",
                        {
                            "n": len(lat),
                            "per_s": len(lat) / sum(lat),
                            "p50_ms": pct(lat, 50) * 1000,
                            "p99_ms": pct(lat, 99) * 1000,
                            "errors": 0,
                            "mean_ms": statistics.mean(lat) * 1000,
                        },
                    )
                )
            finally:
                srv.stop()

    print(
        f"\nintake on loopback, {args.clients} concurrent clients, {args.seconds:g} s per door "
        f"(clients and server share {os.cpu_count()} cores)\n"
    )
    print(f"{'backend':9} {'door':34} {'calls':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for backend, door, m in rows:
        print(
            f"{backend:9} {door:34} {m['n']:>6} {m['per_s']:>8.1f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f} "
            f"{m['errors']:>6}"
        )
    print("\npanic button against its 50 ms goal (goal / measured p99; > 1 means within the goal):")
    for backend, door, m in rows:
        if door.startswith("panic"):
            print(f"  {backend:9} p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms -> ratio {50 / m['p99_ms']:.1f}x")


if __name__ == "__main__":
    main()
