"""Flood of receipt look-ups from many addresses (issue 9, item 7): /healthz latency, look-ups hashed per
second and the server's CPU use, with the process-wide Argon2 budget (the default) against no budget
(the baseline, TIPLINE_ARGON2_PER_SECOND=0), in the same run.

    .venv/bin/python bench/bench_flood.py --seconds 10 --clients 8 [--argon2 N]

Each run starts the real ``tipline serve`` (its own process, a fresh data folder) with loopback as a
trusted proxy, so every request can claim another client address (as a flood from many hosts would);
the per-client limits then stop nothing and only the Argon2 budget is left.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

TIPLINE = str(Path(sys.executable).with_name("tipline"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(seconds: float, clients: int, argon2: str | None) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env.update(TIPLINE_DATA_DIR=tempfile.mkdtemp(prefix="bench-flood-"), TIPLINE_TRUSTED_PROXIES="127.0.0.1",
               TIPLINE_RETENTION_INTERVAL_HOURS="0")  # fmt: skip
    if argon2 is not None:
        env["TIPLINE_ARGON2_PER_SECOND"] = argon2
    proc = subprocess.Popen([TIPLINE, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        stop = threading.Event()
        codes: list[int] = []
        health: list[float] = []
        lock = threading.Lock()

        def flood(k: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/followup").text).group(1)  # type: ignore[union-attr]
                i = 0
                while not stop.is_set():
                    i += 1
                    r = c.post("/followup", data={"receipt": "1234 5678 9012 3456", "csrf_token": token},
                               headers={"X-Forwarded-For": f"10.{k}.{i // 250 % 250}.{i % 250 + 1}"})  # fmt: skip
                    with lock:
                        codes.append(r.status_code)

        def healthz() -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    c.get("/healthz")
                    health.append(time.perf_counter() - t0)
                    time.sleep(0.05)

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(clients)]
        threads.append(threading.Thread(target=healthz))
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        cpu = (cpu_seconds(proc.pid) - cpu0) / elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    q = statistics.quantiles(health, n=20)
    return {
        "hashed_per_s": codes.count(404) / elapsed,
        "busy_per_s": codes.count(503) / elapsed,
        "healthz_p50_ms": statistics.median(health) * 1000,
        "healthz_p95_ms": q[18] * 1000,
        "healthz_max_ms": max(health) * 1000,
        "server_cores": cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--argon2", default=None, help="TIPLINE_ARGON2_PER_SECOND of the budget run (default: the default)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores; {args.clients} flooding clients for {args.seconds:g} s each run")
    rows = {
        "no budget (baseline)": run(args.seconds, args.clients, "0"),
        "budget": run(args.seconds, args.clients, args.argon2),
    }
    print(f"{'run':22} {'hashed/s':>9} {'503/s':>8} {'healthz p50':>12} {'p95':>8} {'max':>8} {'server cores':>13}")
    for name, r in rows.items():
        print(f"{name:22} {r['hashed_per_s']:9.1f} {r['busy_per_s']:8.1f} {r['healthz_p50_ms']:10.1f}ms "
              f"{r['healthz_p95_ms']:6.1f}ms {r['healthz_max_ms']:6.1f}ms {r['server_cores']:13.2f}")  # fmt: skip
    b, n = rows["no budget (baseline)"], rows["budget"]
    print(f"healthz p95: baseline / budget = {b['healthz_p95_ms'] / n['healthz_p95_ms']:.1f}x; "
          f"server CPU: baseline / budget = {b['server_cores'] / max(n['server_cores'], 1e-6):.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
