"""Intake throughput and latency on loopback, against the real server (`tipline serve`).

Prints, for SQLite and PostgreSQL, in one run: the door before (analysis inline, inside the request, as
before issue 14), after (the door only stores; the server's analysis worker takes the report) and the door
alone (the server without its analysis worker, as on PostgreSQL with `tipline worker` processes on other
machines; the backlog is left for them), and on PostgreSQL the door alone in two server processes
(``serve --workers 2``, ``--processes``): reports/s
acknowledged through the JSON API at each client count, through the CyberTipline API (/ispws submit +
finish), with p50/p99 latency and errors; the panic button's p50/p99 while the JSON API is loaded; the time
from arrival to "analysed" (p50/p99, from the database's own timestamps); and the analysis throughput of
the server's worker (reports per CPU-second of the server process while it drains the backlog).

    .venv/bin/python bench/bench_intake.py [--seconds 10] [--clients 8,32] [--backends sqlite,postgres]

The clients run in this process (threads), on the same 2 cores as the server: figures are a floor. Each
client is one keep-alive connection of the standard library's ``http.client`` (about 0.3 ms of CPU per call
here; ``httpx``, used before, cost about 1.2 ms, which the server's share of the 2 cores paid for).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

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
    def __init__(self, backend: str, workdir: Path, *, inline: bool, analysis: bool = True, workers: int = 1) -> None:
        self.backend = backend
        tag = ("inline" if inline else "queued" if analysis else "door") + (f"{workers}" if workers > 1 else "")
        self.data = workdir / f"{backend}-{tag}"
        self.pg_name = None
        # the bench measures intake capacity, not the per-key rate limiter (1,200/min by default)
        env = {**os.environ, "TIPLINE_DATA_DIR": str(self.data), "TIPLINE_RATE_LIMITS": "false"}
        env["TIPLINE_ANALYSE_INLINE"] = "true" if inline else "false"
        # analysis off in the server: the door alone, as on PostgreSQL with `tipline worker` processes elsewhere
        env["TIPLINE_ANALYSIS_IN_SERVER"] = "true" if analysis else "false"
        env.pop("TIPLINE_DATABASE_URL", None)
        if backend == "postgres":
            self.pg_name = f"tipline_bench_{os.getpid()}_{tag}"
            admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
                c.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
            admin.dispose()
            env["TIPLINE_DATABASE_URL"] = f"{PG_SERVER}/{self.pg_name}"
        settings = Settings(data_dir=self.data, database_url=env.get("TIPLINE_DATABASE_URL"))
        self.db = open_database(settings)
        self.db.migrate()
        self.creds = accounts.create_platform(self.db, "BenchPlatform")
        self.port = free_port()
        tipline = str(Path(sys.executable).with_name("tipline"))
        self.proc = subprocess.Popen(
            [tipline, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "server.log", "a"),  # noqa: SIM115 - open while the server runs
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used, with its children's: its analysis process,
        and the server processes of ``--workers``."""
        return sum(_cpu_s(pid) for pid in [self.proc.pid, *_children(self.proc.pid)])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.db.dispose()
        if self.pg_name:
            admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            admin.dispose()


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (the server's analysis process, if started again, is a child
    of its supervising thread)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return out


class Client:
    """One keep-alive HTTP connection (the standard library's, the lightest client at hand)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            r = self.conn.getresponse()
            return r.status, r.read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects at the next request
            raise

    def post_json(self, path: str, obj: object, headers: dict[str, str]) -> int:
        return self.post(path, json.dumps(obj).encode(), {**headers, "content-type": "application/json"})[0]

    def close(self) -> None:
        self.conn.close()


def basic(username: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def drive(n_clients: int, seconds: float, one_call, port: int, rate: float = 0) -> dict[str, float]:
    """Run ``one_call(client, i) -> bool`` from n threads for ``seconds``; latency per call. ``rate``: calls
    a second for all the threads together, each call at its planned time (0: each thread calls again at
    once). A paced call's latency counts from its planned time, so a call sent late because the one
    before it was slow counts that wait too (no coordinated omission)."""
    lat: list[float] = []
    errors = [0]
    count = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    stop_at = start + seconds

    def worker(k: int) -> None:
        i = k
        c = Client(port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                if rate:
                    planned = start + i / rate  # call i of all the threads together
                    if planned >= stop_at:
                        break
                    if planned > t0:
                        time.sleep(planned - t0)
                    t0 = planned
                try:
                    ok = one_call(c, i)
                except (OSError, http.client.HTTPException):
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    count[0] += 1
                    errors[0] += not ok
                i += n_clients
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return summary(lat, wall, errors[0])


def summary(lat: list[float], wall: float, errors: int = 0) -> dict[str, float]:
    return {
        "n": len(lat),
        "per_s": len(lat) / wall if wall else float("nan"),
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "errors": errors,
    }


def press_panic(
    srv: Server,
    key: dict[str, str],
    payloads: list[dict],
    stop: threading.Event,
    out: list[float],
    tag: str = "",
    every: float = 0.2,
) -> None:
    """One platform pressing the panic button every ``every`` seconds (while other clients load the JSON API).
    ``tag`` keeps each run's stream ids new (a stream already reported is not a new press)."""
    i = 0
    c = Client(srv.port)
    try:
        while not stop.is_set():
            body = dict(payloads[i % len(payloads)], stream_id=f"bench-live-{srv.port}-{tag}{i}")
            t0 = time.perf_counter()
            if c.post_json("/api/v1/live", body, key) == 201:
                out.append(time.perf_counter() - t0)
            i += 1
            stop.wait(every)
    finally:
        c.close()


def drain(srv: Server, timeout: float) -> dict[str, float]:
    """Wait for the backlog to empty; the server's CPU seconds meanwhile; arrival-to-analysed p50/p99."""
    from sqlalchemy import select

    from tipline.intake.worker import backlog
    from tipline.store.models import Report

    cpu0, t0 = srv.cpu_s(), time.perf_counter()
    waiting = backlog(srv.db).waiting
    while backlog(srv.db).waiting and time.perf_counter() - t0 < timeout:
        time.sleep(0.2)
    cpu, wall = srv.cpu_s() - cpu0, time.perf_counter() - t0
    with srv.db.reader() as s:
        rows = s.execute(select(Report.received_at, Report.analysed_at, Report.source)).all()
    waits = [(a - r).total_seconds() for r, a, _ in rows if a is not None]
    # the panic button's presses (source "live"), not a platform's reports of live streams (is_live)
    live = [(a - r).total_seconds() for r, a, src in rows if a is not None and src == "live"]
    return {
        "drained": waiting,
        "left": backlog(srv.db).waiting,
        "drain_s": wall,
        "per_cpu_s": waiting / cpu if cpu > 0 and waiting else float("nan"),
        "a2a_p50_s": pct(waits, 50),
        "a2a_p99_s": pct(waits, 99),
        "live_a2a_p99_s": pct(live, 99),
    }


def run_backend(backend: str, tmp: Path, args: argparse.Namespace, payloads: dict[str, list]) -> list[tuple]:
    rows: list[tuple] = []
    clients = [int(c) for c in args.clients.split(",")]
    modes = [("before (inline)", True, True, 1), ("after (queued)", False, True, 1), ("door alone", False, False, 1)]
    if backend == "postgres" and args.processes > 1:
        # `serve --workers N`: N server processes on one port (PostgreSQL only; SQLite takes one writer)
        modes.append((f"door alone x{args.processes}", False, False, args.processes))
    wanted = {m.strip() for m in args.modes.split(",")}
    modes = [m for m in modes if m[0].split(" ")[0] in wanted or (m[0].startswith("door") and "alone" in wanted)]
    for mode, inline, analysis, workers in modes:
        srv = Server(backend, tmp, inline=inline, analysis=analysis, workers=workers)
        try:
            key = {"Authorization": f"Bearer {srv.creds.api_key}"}
            auth = basic(srv.creds.username, srv.creds.password)

            def json_calls(run: int, srv=srv, key=key):
                """The JSON API call of one run: its report ids are new (a platform's report id seen before is
                answered as a duplicate, which is not what is measured)."""

                def call(c: Client, i: int) -> bool:
                    rid = f"bench-{srv.port}-{run}-{i}"
                    body = dict(payloads["platform"][i % len(payloads["platform"])], report_id=rid)
                    return c.post_json("/api/v1/reports", body, key) == 201

                return call

            def ispws_call(c: Client, i: int, auth=auth) -> bool:
                status, answer = c.post(
                    "/ispws/submit",
                    payloads["cybertip"][i % len(payloads["cybertip"])],
                    {**auth, "content-type": "text/xml; charset=utf-8"},
                )
                if status != 200 or "<reportId>" not in answer:
                    return False
                rid = answer.split("<reportId>")[1].split("<")[0]
                form = {**auth, "content-type": "application/x-www-form-urlencoded"}
                return c.post("/ispws/finish", urlencode({"id": rid}).encode(), form)[0] == 200

            for n in clients if not inline else clients[:1]:
                panic: list[float] = []
                stop = threading.Event()
                presser = threading.Thread(target=press_panic, args=(srv, key, payloads["live"], stop, panic, f"{n}-"))
                presser.start()
                m = drive(n, args.seconds, json_calls(n), srv.port)
                stop.set()
                presser.join()
                rows.append((backend, mode, f"JSON API, {n} clients", m))
                rows.append((backend, mode, "  panic button during it", summary(panic, sum(panic))))
            if args.rate and not inline:
                # the condition for the panic button: the JSON API at a set rate, not flat out
                panic = []
                stop = threading.Event()
                presser = threading.Thread(
                    target=press_panic, args=(srv, key, payloads["live"], stop, panic, "paced-", 0.05)
                )
                presser.start()
                m = drive(clients[0], args.seconds, json_calls(-1), srv.port, rate=args.rate)
                stop.set()
                presser.join()
                rows.append((backend, mode, f"JSON API at {args.rate:g}/s", m))
                rows.append((backend, mode, "  panic button 20/s in it", summary(panic, sum(panic))))
            rows.append(
                (
                    backend,
                    mode,
                    f"CyberTipline, {clients[0]} clients",
                    drive(clients[0], args.seconds, ispws_call, srv.port),
                )
            )
            if not inline and analysis:
                rows.append((backend, mode, "analysis behind the door", drain(srv, args.drain_timeout)))
        finally:
            srv.stop()
    return rows


def _bulk_db(backend: str, data: Path, name: str):
    url = None
    if backend == "postgres":
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"{PG_SERVER}/{name}"
    db = open_database(Settings(data_dir=data, database_url=url, analyse_inline=False))
    db.migrate()
    return db, url


def _drop(name: str) -> None:
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _cybertip_zip(path: Path, n: int, docs: list[bytes]) -> None:
    """``n`` distinct report documents (a comment numbers each copy of the synthetic world's documents)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            doc = docs[i % len(docs)]
            head, sep, rest = doc.partition(b"?>")
            body = head + sep + f"<!-- bulk {i} -->".encode() + rest if sep else f"<!-- bulk {i} -->".encode() + doc
            z.writestr(f"backlog/r{i:07d}.xml", body)


def bulk(backend: str, tmp: Path, n: int, payloads: list[dict], docs: list[bytes]) -> str:
    """Reports/s stored by ``tipline import jsonl`` and ``tipline import cybertip ZIP`` (chunks of 500, one
    transaction each) beside one ``submit_report`` per report (one transaction each, analysis queued)."""
    import json

    from tipline.cybertip.backlog import import_backlog
    from tipline.intake import service
    from tipline.intake.bulk import import_jsonl
    from tipline.intake.schemas import PlatformReportIn

    rates = []
    for how in ("one by one", "import jsonl", "import cybertip zip", "import cybertip zip alone"):
        data = tmp / f"bulk-{backend}-{how.replace(' ', '-')}"
        data.mkdir(parents=True, exist_ok=True)
        name = f"tipline_bench_bulk_{os.getpid()}_{len(rates)}"
        db, url = _bulk_db(backend, data, name)
        p = accounts.create_platform(db, "BulkBench")
        rows = [dict(payloads[i % len(payloads)], report_id=f"bulk-{i}") for i in range(n)]
        if how == "one by one":
            t0 = time.perf_counter()
            for r in rows:
                service.submit_report(db, PlatformReportIn.model_validate(r).to_report(p.id))
        elif how == "import jsonl":
            f = data / "backlog.jsonl"
            f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
            t0 = time.perf_counter()
            res = import_jsonl(db, f, p.id)
            assert res.stored == n and not res.errors
        else:
            z = data / "backlog.zip"
            _cybertip_zip(z, n, docs)
            t0 = time.perf_counter()
            # "alone": this process parses and stores every chunk; otherwise helper processes join from
            # backlog.PROCESSES_FROM documents (one a core but one)
            got = import_backlog(db, z, (p.id, p.name), processes=0 if how.endswith("alone") else None)
            assert got.stored == n and not got.errors, got.errors[:3]
        rates.append(n / (time.perf_counter() - t0))
        db.dispose()
        if url is not None:
            _drop(name)
    return (
        f"  {backend:9} {n} reports: import jsonl {rates[1]:.0f}/s, import cybertip zip {rates[2]:.0f}/s, "
        f"one by one {rates[0]:.0f}/s -> {rates[1] / rates[0]:.1f}x, {rates[2] / rates[0]:.1f}x; "
        f"zip by this process alone {rates[3]:.0f}/s -> with helper processes {rates[2] / rates[3]:.2f}x"
    )


def _backlog_db(backend: str, tmp: Path, tag: str, n: int, payloads: list[dict]):
    """A fresh database (and data folder) holding ``n`` platform reports stored by ``import jsonl``,
    waiting for analysis: (db, its PostgreSQL url or None, the database's name, the data folder)."""
    from tipline.intake.bulk import import_jsonl

    data = tmp / f"{tag}-{backend}"
    data.mkdir(parents=True, exist_ok=True)
    name = f"tipline_bench_{tag}_{os.getpid()}"
    db, url = _bulk_db(backend, data, name)
    p = accounts.create_platform(db, f"{tag}-bench")
    f = data / "backlog.jsonl"
    lines = (json.dumps(dict(payloads[i % len(payloads)], report_id=f"{tag}-{i}")) for i in range(n))
    f.write_text("\n".join(lines) + "\n")
    assert import_jsonl(db, f, p.id).stored == n
    return db, url, name, data


def analysis(backend: str, tmp: Path, n: int, payloads: list[dict]) -> str:
    """Analysis alone, in this process: ``n`` platform reports stored by ``import jsonl`` (analysis behind),
    then analysed by ``analyse_batch`` (the worker's batches) until none waits. Prints reports per CPU-second
    of this process (the database server's own CPU, on PostgreSQL, not counted: it is in the wall figure)
    and the SQL statements a report costs."""
    from sqlalchemy import event

    from tipline.intake.worker import analyse_batch, backlog

    db, url, name, _data = _backlog_db(backend, tmp, "analysis", n, payloads)
    try:
        statements = [0]

        def count(*_a: object) -> None:
            statements[0] += 1

        for engine in {db.engine, db.write_engine}:
            event.listen(engine, "before_cursor_execute", count)
        cpu0, t0 = time.process_time(), time.perf_counter()
        done = 0
        while True:
            got = analyse_batch(db, limit=32, budget_s=10.0)
            if not got:
                break
            done += len(got.analysed)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        assert backlog(db).waiting == 0 and done == n, (done, n)
    finally:
        db.dispose()
        if url is not None:
            _drop(name)
    return (
        f"  {backend:9} {n} reports analysed in batches of 32: {n / cpu:.0f} reports per CPU-second, "
        f"{n / wall:.0f}/s of wall, {statements[0] / n:.1f} SQL statements a report"
    )


def analyse_history(db, url: str | None, n: int) -> int:  # type: ignore[no-untyped-def]
    """Analyse ``n`` waiting reports in this process, then, on PostgreSQL, bring the planner's statistics up
    to date (``VACUUM ANALYZE``, what autovacuum does within a minute on a running installation): what comes
    next meets tables of that size, not tables born during the run. Returns how many were analysed."""
    from tipline.intake.worker import analyse_batch

    done = 0
    while done < n:
        got = analyse_batch(db, limit=32, budget_s=10.0)
        assert got, "the history was not analysed"
        done += len(got.analysed)
    if n and url is not None:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    return done


def worker_processes(backend: str, tmp: Path, n: int, payloads: list[dict], k: int = 2, history: int = 0) -> str:
    """``k`` ``tipline worker --once`` processes draining ``n`` stored reports together: reports/s from the
    first to the last analysis (the database's own timestamps, so the processes' start-up is left out),
    and reports per CPU-second of the workers (start-up included). ``history``: that many reports are stored
    and analysed first, in this process, and on PostgreSQL the planner's statistics brought up to date
    (``VACUUM ANALYZE``, what autovacuum does within a minute on a running installation): the workers then
    meet tables of that size, not tables born during the run."""
    import resource

    from sqlalchemy import func, select

    from tipline.intake.worker import backlog
    from tipline.store.models import Report

    db, url, name, data = _backlog_db(backend, tmp, "history" if history else "workers", history + n, payloads)
    try:
        done = analyse_history(db, url, history)
        with db.reader() as s:
            since = s.scalar(select(func.max(Report.analysed_at)))
        env = {**os.environ, "TIPLINE_DATA_DIR": str(data)}
        env.pop("TIPLINE_DATABASE_URL", None)
        if url is not None:
            env["TIPLINE_DATABASE_URL"] = url
        tipline = str(Path(sys.executable).with_name("tipline"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        procs = [
            subprocess.Popen(
                [tipline, "worker", "--once"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(data / f"worker{i}.log", "w"),  # noqa: SIM115 - open while it runs
            )
            for i in range(k)
        ]
        for proc in procs:
            proc.wait(600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        left = backlog(db).waiting
        after_history = Report.analysed_at > since if since is not None else Report.analysed_at.is_not(None)
        with db.reader() as s:
            first, last, count = s.execute(
                select(func.min(Report.analysed_at), func.max(Report.analysed_at), func.count()).where(after_history)
            ).one()
        span = (last - first).total_seconds()
    finally:
        db.dispose()
        if url is not None:
            _drop(name)
    return (
        f"  {backend:9} {n} reports{f' after {done} analysed' if history else ''}, {k} worker processes: "
        f"{count / span:.0f} reports/s analysed, {count / cpu:.0f} per CPU-second of the workers, {left} left"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", default="8,32", help="client counts for the JSON API, comma-separated")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument(
        "--processes", type=int, default=2, help="server processes of the extra PostgreSQL row (1: no such row)"
    )
    ap.add_argument(
        "--modes",
        default="before,after,alone",
        help="which servers to measure: before (analysis inline), after (queued, the server's worker), alone "
        "(no worker: the door alone, and in --processes processes on PostgreSQL); the ratio needs before and after",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=300,
        help="JSON API reports/s of the paced run (the first client count), with the panic button pressed 20 "
        "times a second (0: no paced run)",
    )
    ap.add_argument("--bulk", type=int, default=0, help="only the bulk import figure, with this many reports")
    ap.add_argument(
        "--analysis", type=int, default=0, help="only analysis in this process (no server), with this many reports"
    )
    ap.add_argument(
        "--history",
        type=int,
        default=0,
        help="with --analysis: the worker processes' row runs again after this many reports were analysed "
        "(tables of that size, PostgreSQL's statistics brought up to date first)",
    )
    args = ap.parse_args()

    world = generate_world(seed=7, n_reports=600)
    payloads = {
        "platform": [r.payload for r in world.reports if r.door == "platform"],
        "cybertip": [r.payload.encode() for r in world.reports if r.door == "cybertip"],
        "live": [r.payload for r in world.reports if r.door == "live"],
    }
    rows = []
    if args.analysis:
        print("\nanalysis alone (no door, no server), this process, same machine:")
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends.split(","):
                print(analysis(backend, Path(tmp), args.analysis, payloads["platform"]))
                print(worker_processes(backend, Path(tmp), args.analysis, payloads["platform"]))
                if args.history:
                    print(
                        worker_processes(backend, Path(tmp), args.analysis, payloads["platform"], history=args.history)
                    )
        return
    if args.bulk:
        print("\nbulk intake, stored reports/s (analysis behind), clients none, same machine:")
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends.split(","):
                print(bulk(backend, Path(tmp), args.bulk, payloads["platform"], payloads["cybertip"]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            rows += run_backend(backend, Path(tmp), args, payloads)

    print(
        f"\nintake on loopback, {args.seconds:g} s per door, panic button pressed 5/s during each JSON API run "
        f"(clients and server share {os.cpu_count()} cores)\n"
    )
    print(f"{'backend':9} {'mode':16} {'door':28} {'calls':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for backend, mode, door, m in rows:
        if "drain_s" in m:
            continue
        print(
            f"{backend:9} {mode:16} {door:28} {m['n']:>6} {m['per_s']:>8.1f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f} "
            f"{m['errors']:>6}"
        )
    print(
        "\nanalysis behind the door (the server's own worker: a child process, a thread with "
        "TIPLINE_ANALYSIS_PROCESS=false; backlog drained after the doors stopped):"
    )
    for backend, _mode, _door, m in rows:
        if "drain_s" in m:
            print(
                f"  {backend:9} drained {m['drained']} in {m['drain_s']:.1f} s ({m['left']} left): "
                f"{m['per_cpu_s']:.1f} reports per CPU-second of the server; arrival to analysed p50 "
                f"{m['a2a_p50_s']:.2f} s, p99 {m['a2a_p99_s']:.2f} s; panic presses p99 {m['live_a2a_p99_s']:.2f} s"
            )
    print("\nratios after/before (JSON API reports/s at the first client count):")
    for backend in args.backends.split(","):
        first = {
            mode.split(" ")[0]: m["per_s"]
            for b, mode, door, m in reversed(rows)
            if b == backend and door.startswith("JSON API") and mode.split(" ")[0] in ("before", "after")
        }
        if len(first) == 2:
            after, before = first["after"], first["before"]
            print(f"  {backend:9} {after:.1f} / {before:.1f} = {after / before:.1f}x")


if __name__ == "__main__":
    main()
