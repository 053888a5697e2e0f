"""What a process carries: objects left after building N apps (and how long one full collection takes),
and how long a CLI command takes to start. With ``--baseline DIR`` (a checkout of an earlier commit, with
its ``src``) each figure is printed beside the baseline's, measured by the same code in a fresh interpreter.

    .venv/bin/python bench/bench_process_weight.py --apps 60 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APPS = """
import gc, json, sys, tempfile, time
from pathlib import Path
from fastapi.testclient import TestClient
from tipline.capabilities import open_database
from tipline.settings import Settings
from tipline.web.app import create_app

with tempfile.TemporaryDirectory() as tmp:
    for i in range(int(sys.argv[1])):
        st = Settings(data_dir=Path(tmp) / str(i))
        db = open_database(st)
        db.migrate()
        with TestClient(create_app(st, db=db)) as c:
            c.get("/healthz")
        db.dispose()
    del db, c, st
    t = time.perf_counter()
    gc.collect()
    print(json.dumps({"objects": len(gc.get_objects()), "collection_s": time.perf_counter() - t}))
"""

CLI = "import tipline.cli.main"


def measure(src: Path, apps: int, starts: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", APPS, str(apps)], env=env, capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    times = []
    for _ in range(starts):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", CLI], env=env, check=True)
        times.append(time.perf_counter() - t)
    found["cli_start_s"] = statistics.median(times)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", type=int, default=60, help="apps built (and dropped) in one process")
    ap.add_argument("--starts", type=int, default=5, help="CLI imports timed (the median is printed)")
    ap.add_argument("--baseline", type=Path, help="a checkout of an earlier commit to compare with")
    args = ap.parse_args()
    this = measure(ROOT / "src", args.apps, args.starts)
    base = measure(args.baseline / "src", args.apps, args.starts) if args.baseline else None
    print(f"{'':44}{'this':>12}{'baseline':>12}{'ratio':>8}")
    for key, label in [
        ("objects", f"objects left after {args.apps} apps"),
        ("collection_s", "one full collection then (s)"),
        ("cli_start_s", "importing the CLI, median (s)"),
    ]:
        b = f"{base[key]:>12.4g}{this[key] / base[key]:>8.2f}" if base else ""
        print(f"{label:44}{this[key]:>12.4g}{b}")


if __name__ == "__main__":
    main()
