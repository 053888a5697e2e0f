"""What one analysed report costs in CPU, on PostgreSQL: the worker's and the database server's.

One process analyses ``--history`` stored platform reports (the same synthetic backlog as
``bench_intake.py --analysis``), brings PostgreSQL's statistics up to date (``VACUUM ANALYZE``), then
analyses ``--reports`` more with ``analyse_batch`` (the worker's batches) and prints, for those: the worker's
CPU a report (this process), PostgreSQL's CPU a report (its server processes' CPU in ``/proc``: the server
must run on this machine, and nothing else should use it meanwhile), the wall time a report and the SQL
statements a report (an execute listener counts them; it adds its own CPU, so the CPU figures come from a
run without it first).

    .venv/bin/python bench/bench_analysis_cpu.py [--history 1000] [--reports 500] [--baseline DIR]

``--baseline DIR``: the same measure, run alternately with a checkout of another commit in DIR (a ``git
worktree``, with the compiled extractor copied in), run with this interpreter and ``PYTHONPATH=DIR/src``:
pairs of figures and their ratio. On a shared or virtual machine only the ratios within a pair compare.

Two workers' throughput is ``bench_intake.py --analysis N --history H --backends postgres``. 300 reports/s on
2 cores leaves 6.7 ms of CPU a report for the worker and the database together.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def postgres_cpu_s() -> float:
    """CPU seconds (user + system) of every PostgreSQL server process on this machine."""
    from bench_intake import _cpu_s

    pids = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
                pids.append(int(pid))
        except OSError:  # the process ended meanwhile
            continue
    return sum(_cpu_s(pid) for pid in pids)


def measure(history: int, reports: int) -> dict[str, float]:
    """One run in this process (see the module's docstring)."""
    from sqlalchemy import event

    import bench_intake as b
    from tipline.intake.worker import analyse_batch
    from tipline.synth import generate_world

    world = generate_world(seed=7, n_reports=600)
    payloads = [r.payload for r in world.reports if r.door == "platform"]
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db, url, name, _data = b._backlog_db("postgres", Path(tmp), "cpu", history + 2 * reports, payloads)
        try:

            def drain(n: int) -> int:
                done = 0
                while done < n:
                    got = analyse_batch(db, limit=32, budget_s=10.0)
                    if not got.analysed:
                        break
                    done += len(got.analysed)
                return done

            b.analyse_history(db, url, history)
            cpu0, pg0, t0 = time.process_time(), postgres_cpu_s(), time.perf_counter()
            done = drain(reports)
            cpu1, pg1, t1 = time.process_time(), postgres_cpu_s(), time.perf_counter()
            out = {
                "worker_ms": 1000 * (cpu1 - cpu0) / done,
                "postgres_ms": 1000 * (pg1 - pg0) / done,
                "wall_ms": 1000 * (t1 - t0) / done,
            }
            statements = [0]

            def count(*_a: object) -> None:
                statements[0] += 1

            for engine in {db.engine, db.write_engine}:
                event.listen(engine, "before_cursor_execute", count)
            counted = drain(reports)
            out["statements"] = statements[0] / max(1, counted)
        finally:
            db.dispose()
            if url is not None:
                b._drop(name)
    return out


def line(label: str, m: dict[str, float]) -> str:
    return (
        f"  {label:9} worker {m['worker_ms']:6.2f} ms  PostgreSQL {m['postgres_ms']:5.2f} ms  "
        f"together {m['worker_ms'] + m['postgres_ms']:6.2f} ms  wall {m['wall_ms']:6.2f} ms  "
        f"{m['statements']:.1f} statements a report"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--history", type=int, default=1000, help="reports analysed before the measure")
    ap.add_argument("--reports", type=int, default=500, help="reports measured")
    ap.add_argument("--baseline", type=Path, help="a checkout of another commit, measured alternately")
    ap.add_argument("--pairs", type=int, default=2, help="with --baseline: how many alternated pairs")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one run, as JSON (for --baseline)
    args = ap.parse_args()
    if args.json:
        import json

        print(json.dumps(measure(args.history, args.reports)))
        return
    print(f"one process, PostgreSQL, {args.reports} reports after {args.history} analysed, CPU a report:")
    if args.baseline is None:
        print(line("this", measure(args.history, args.reports)))
        return

    def run(root: Path) -> dict[str, float]:
        import json

        cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--history", str(args.history)]
        env = {**os.environ, "PYTHONPATH": str(root / "src")}
        done = subprocess.run(
            [*cmd, "--reports", str(args.reports)], env=env, cwd=root, capture_output=True, text=True, check=True
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    here = Path(__file__).resolve().parent.parent
    for i in range(args.pairs):
        base, this = run(args.baseline.resolve()), run(here)
        print(f" pair {i + 1}")
        print(line("baseline", base))
        print(line("this", this))
        print(
            f"  ratio     worker x{this['worker_ms'] / base['worker_ms']:.2f}  "
            f"PostgreSQL x{this['postgres_ms'] / base['postgres_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
