"""Entity-graph benchmark: full recompute vs incremental update, the over-correlation guard's effect, and
ground-truth precision/recall on the synthetic world.

    .venv/bin/python bench/bench_graph.py                       # 100k and 1M mentions, SQLite and PostgreSQL
    .venv/bin/python bench/bench_graph.py --sizes 100000 --backends sqlite --world-reports 200   # quick

1. **Planted graphs** of 100k and 1M mentions, bulk-inserted straight into the tables (reports, entities,
   mentions): rings of 3-120 reports (log-normal sizes, median 10) sharing their phones, handles and wallets;
   30 % noise reports; one or two identifiers per report seen nowhere else; and 20 hub values (support
   lines, a classifieds domain, an exchange's hot wallet) named by 15 % of all reports (weights 1/sqrt(rank)).
   For each size and backend it prints the full recompute time (scipy connected components over every
   mention, read + compute + write) and the incremental update time per new report (the after-analysis
   hook's work: ``graph.service.on_report_analysed``, limits refresh included when due), and their ratio.
2. **Guard effect** on the planted graph: largest network's share of reports and pairwise
   precision/recall against the planted rings, with the guard, without it, and with fixed caps (a cap too
   low splits real rings).
3. **Synthetic world** (``tipline.synth`` through ``load_demo``): pairwise precision/recall of the
   networks against the ground truth with and without the guard, the ideal linker's scores, and the
   share of reports in the largest network.

PostgreSQL: ``postgresql+psycopg://postgres@127.0.0.1:5432`` (or ``TIPLINE_BENCH_PG``); the benchmark
makes its own database and drops it. Timings are noisy on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, insert, select, text

from tipline.capabilities import open_database
from tipline.graph import network as net
from tipline.graph import service
from tipline.graph.evaluate import largest_share, pairwise
from tipline.graph.guard import NO_GUARD, Guard, WarningList, load_guard
from tipline.graph.models import ReportNetwork
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Entity, Mention, Report
from tipline.store.types import Sealing

PG_SERVER = os.environ.get("TIPLINE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
N_HUBS = 20


@dataclass
class Planted:
    report_ring: np.ndarray  # ring id per report (-1: noise), index = report id - 1
    mentions: np.ndarray  # (n, 2) report id, entity id
    kinds: list[str]  # per entity id - 1
    values: list[str]
    hub_ids: list[int]
    ring_entities: dict[int, list[int]]


def plant(n_mentions: int, seed: int = 7) -> Planted:
    rng = np.random.default_rng(seed)
    kinds: list[str] = []
    values: list[str] = []

    def entity(kind: str, value: str) -> int:
        kinds.append(kind)
        values.append(value)
        return len(kinds)

    hub_kinds = ["email"] * 6 + ["phone"] * 6 + ["domain"] * 6 + ["btc"] * 2
    hub_ids = [entity(k, f"hub-{k}-{i}.example") for i, k in enumerate(hub_kinds)]
    hub_p = 1.0 / np.sqrt(np.arange(1, N_HUBS + 1))
    hub_p /= hub_p.sum()
    per_report = 4.0
    n_reports = int(n_mentions / 3.58)  # per_report new-row attempts end at ~3.58 distinct mentions
    ring_of = np.full(n_reports, -1, dtype=np.int64)
    ring_entities: dict[int, list[int]] = {}
    pos, ring = 0, 0
    n_ring_reports = int(n_reports * 0.7)
    while pos < n_ring_reports:
        size = int(min(120, max(3, rng.lognormal(mean=2.3, sigma=0.7))))
        size = min(size, n_ring_reports - pos)
        k = max(2, size // 5)
        ring_entities[ring] = [
            entity(kind, f"{kind}-r{ring}-{j}") for j, kind in enumerate(rng.choice(["phone", "telegram", "btc"], k))
        ]
        ring_of[pos : pos + size] = ring
        pos += size
        ring += 1
    order = rng.permutation(n_reports)  # rings interleaved in time, as reports arrive
    ring_of = ring_of[order]
    rows: list[tuple[int, int]] = []
    for i in range(n_reports):
        rid = i + 1
        r = int(ring_of[i])
        if r >= 0:
            ents = ring_entities[r]
            rows.append((rid, ents[0] if rng.random() < 0.7 else ents[int(rng.integers(len(ents)))]))
            for _ in range(int(rng.integers(0, 2))):
                rows.append((rid, ents[int(rng.integers(len(ents)))]))
        for _ in range(int(rng.integers(1, 3))):
            rows.append((rid, entity("ipv4", f"10.{rid}.{len(kinds)}")))
        if rng.random() < 0.15:
            rows.append((rid, hub_ids[int(rng.choice(N_HUBS, p=hub_p))]))
        while len(rows) < (i + 1) * per_report and rng.random() < 0.5:
            rows.append((rid, entity("url", f"url-{rid}-{len(kinds)}")))
    m = np.unique(np.array(rows, dtype=np.int64), axis=0)
    return Planted(ring_of, m, kinds, values, hub_ids, ring_entities)


def load(db: Database, p: Planted) -> None:
    now = datetime.now(UTC)
    counts = Counter(p.mentions[:, 1].tolist())
    n_reports = len(p.report_ring)
    with db.session() as s:
        batch = 20_000
        for start in range(0, n_reports, batch):
            s.execute(
                insert(Report),
                [
                    {
                        "id": i + 1,
                        "source": "platform",
                        "category": "other",
                        # sealed columns are bound to their row: a Core insert gives each value its row
                        "text": Sealing("", str(i + 1), None),
                        "persons": Sealing([], str(i + 1), None),
                        "details": Sealing({}, str(i + 1), None),
                        "analysed_at": now,
                        "received_at": now,
                    }
                    for i in range(start, min(n_reports, start + batch))
                ],
            )
        if not db.is_sqlite:  # explicit ids: move the sequence past them
            s.execute(text("SELECT setval(pg_get_serial_sequence('reports', 'id'), (SELECT max(id) FROM reports))"))
        ents = [
            (i + 1, k, v, now, now, counts.get(i + 1, 0))
            for i, (k, v) in enumerate(zip(p.kinds, p.values, strict=True))
        ]
        ment = [(int(r), int(e), "text", 1.0, now) for r, e in p.mentions]
        conn = s.connection()
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()  # type: ignore[union-attr]
        ecols = "id, kind, value, first_seen, last_seen, report_count"
        mcols = "report_id, entity_id, field, confidence, created_at"
        if db.is_sqlite:
            cur.executemany(f"INSERT INTO entities ({ecols}) VALUES (?, ?, ?, ?, ?, ?)", ents)
            cur.executemany(f"INSERT INTO mentions ({mcols}) VALUES (?, ?, ?, ?, ?)", ment)
        else:
            with cur.copy(f"COPY entities ({ecols}) FROM STDIN") as cp:
                for row in ents:
                    cp.write_row(row)
            with cur.copy(f"COPY mentions ({mcols}) FROM STDIN") as cp:
                for row in ment:
                    cp.write_row(row)
            cur.execute("SELECT setval('entities_id_seq', (SELECT max(id) FROM entities))")
            cur.execute("ANALYZE")
        cur.close()


def new_reports(db: Database, p: Planted, k: int, seed: int = 11) -> list[tuple[int, set[int]]]:
    """``k`` new reports, as analysis leaves them just before the graph hook: mentions written, degrees
    current. Two in three join an existing ring; one in ten names a hub."""
    rng = np.random.default_rng(seed)
    out = []
    now = datetime.now(UTC)
    with db.session() as s:
        for _ in range(k):
            rep = Report(source="platform", category="other", text="", analysed_at=now)
            s.add(rep)
            s.flush()
            ids: set[int] = set()
            if rng.random() < 0.67:
                ents = p.ring_entities[int(rng.integers(len(p.ring_entities)))]
                ids.add(ents[int(rng.integers(len(ents)))])
            e = Entity(kind="ipv4", value=f"10.new.{rep.id}", report_count=0)
            s.add(e)
            s.flush()
            ids.add(e.id)
            if rng.random() < 0.1:
                ids.add(p.hub_ids[int(rng.integers(N_HUBS))])
            for eid in ids:
                s.add(Mention(report_id=rep.id, entity_id=eid, field="text"))
            out.append((rep.id, ids))
    return out


def time_incremental(db: Database, todo: list[tuple[int, set[int]]]) -> list[float]:
    times = []
    for rid, ids in todo:
        with db.session() as s:
            counts = dict(
                s.execute(
                    select(Mention.entity_id, func.count(func.distinct(Mention.report_id)))
                    .where(Mention.entity_id.in_(ids))
                    .group_by(Mention.entity_id)
                ).all()
            )
            for e in s.scalars(select(Entity).where(Entity.id.in_(ids))):
                e.report_count = int(counts.get(e.id, 0))
            s.flush()
            t = time.perf_counter()
            service.on_report_analysed(s, db.settings, rid, ids, set())
            s.flush()
            times.append(time.perf_counter() - t)
    return times


def truth_of(p: Planted) -> dict[int, int | None]:
    return {i + 1: (int(r) if r >= 0 else None) for i, r in enumerate(p.report_ring)}


def in_memory(p: Planted, guard: Guard, degree: Counter[int]) -> dict[int, int]:
    linking = [e for e in range(1, len(p.kinds) + 1) if guard.links(p.kinds[e - 1], p.values[e - 1], degree.get(e, 0))]
    rids = np.arange(1, len(p.report_ring) + 1)
    r_nid, _e, _n = net.partition(rids, p.mentions[:, 0], p.mentions[:, 1], np.array(linking))
    return dict(zip(rids.tolist(), r_nid.tolist(), strict=True))


def fmt(x: float) -> str:
    return f"{x * 1000:.2f} ms" if x < 1 else f"{x:.2f} s"


def bench_size(n_mentions: int, backend: str, n_incremental: int) -> dict[str, float]:
    p = plant(n_mentions)
    tmp = tempfile.mkdtemp(prefix="tipline-bench-graph-")
    pg_name = f"tipline_bench_graph_{os.getpid()}"
    admin = None
    if backend == "postgres":
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}"'))
            c.execute(text(f'CREATE DATABASE "{pg_name}"'))
        settings = Settings(data_dir=Path(tmp), database_url=f"{PG_SERVER}/{pg_name}")
    else:
        settings = Settings(data_dir=Path(tmp))
    db = open_database(settings)
    try:
        db.migrate()
        t = time.perf_counter()
        load(db, p)
        t_load = time.perf_counter() - t
        res = service.recompute(db, refresh=True)  # derives the limits, then the networks
        t_full = res.seconds
        res2 = service.recompute(db, refresh=False)  # a second run: warm caches
        with db.reader() as s:
            guard = load_guard(s, db.settings)
        incr = time_incremental(db, new_reports(db, p, n_incremental))
        med, p95 = statistics.median(incr), sorted(incr)[int(0.95 * (len(incr) - 1))]
        with db.reader() as s:
            largest = s.scalar(
                select(func.count())
                .select_from(ReportNetwork)
                .group_by(ReportNetwork.network_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        print(
            f"  {backend:8} {n_mentions:>9,} mentions ({len(p.report_ring):,} reports, {len(p.kinds):,} entities; "
            f"bulk load {t_load:.1f} s)\n"
            f"    full recompute   {fmt(t_full)} (read {fmt(res.seconds_read)}, scipy {fmt(res.seconds_compute)}, "
            f"write {fmt(res.seconds_write)}); again {fmt(res2.seconds)}\n"
            f"    incremental      median {fmt(med)}, p95 {fmt(p95)}, max {fmt(max(incr))} per report "
            f"({n_incremental} new reports)\n"
            f"    ratio            full recompute / incremental median = {t_full / med:,.0f}x\n"
            f"    networks         {res.networks:,} with 2+ reports; largest {largest:,} reports; "
            f"{res.entities_excluded} values excluded by the guard (limits: "
            f"{', '.join(f'{k}={guard.limit(k)}' for k in ('phone', 'email', 'domain', 'btc'))})"
        )
        return {"full": t_full, "incremental": med}
    finally:
        db.dispose()
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin.dispose()


def guard_effect(n_mentions: int) -> None:
    p = plant(n_mentions)
    degree = Counter(p.mentions[:, 1].tolist())
    truth = truth_of(p)
    hub_reports = len({int(r) for r, e in p.mentions if e in set(p.hub_ids)})
    print(
        f"  planted graph, {len(p.mentions):,} mentions, {len(p.report_ring):,} reports, {N_HUBS} hubs named by "
        f"{hub_reports:,} reports ({hub_reports / len(p.report_ring):.0%}); hub degrees "
        f"{min(degree[h] for h in p.hub_ids):,}-{max(degree[h] for h in p.hub_ids):,}; busiest ring identifier "
        f"{max(degree[e] for ents in p.ring_entities.values() for e in ents):,}"
    )
    from tipline.graph.guard import LimitRule, derive_limits

    hist: dict[str, dict[int, int]] = {}
    for e, d in degree.items():
        h = hist.setdefault(p.kinds[e - 1], {})
        h[d] = h.get(d, 0) + 1
    derived = derive_limits(hist, LimitRule(), 100)
    auto = Guard(WarningList(()), {k: v["limit"] for k, v in derived.items()})
    rows = [("no guard", NO_GUARD), ("guard (derived limits)", auto)]
    rows += [(f"fixed cap {c}", Guard(WarningList(()), {}, default_limit=c)) for c in (3, 5, 10, 50, 500)]
    for name, g in rows:
        t = time.perf_counter()
        pred = in_memory(p, g, degree)
        score = pairwise(pred, truth)
        print(
            f"    {name:24} largest network {largest_share(pred):6.1%} of reports   precision {score.precision:.3f}"
            f"   recall {score.recall:.3f}   ({time.perf_counter() - t:.1f} s)"
        )
    limits = ", ".join(f"{k}={v['limit']}" for k, v in sorted(derived.items()))
    print(f"    derived limits: {limits}")


def world(n_reports: int, seed: int) -> None:
    from rich.console import Console

    from tipline.demo import load_demo
    from tipline.synth import generate_world

    tmp = tempfile.mkdtemp(prefix="tipline-bench-world-")
    db = open_database(Settings(data_dir=Path(tmp)))
    db.migrate()
    t = time.perf_counter()
    load_demo(db, seed=seed, n_reports=n_reports, console=Console(file=io.StringIO()))
    t_load = time.perf_counter() - t
    w = generate_world(seed=seed, n_reports=n_reports)
    with db.reader() as s:
        rids = list(s.scalars(select(Report.id).order_by(Report.id)))
        incremental = dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all())
    truth = {rid: r.network_id for rid, r in zip(rids, w.reports, strict=True)}
    res = service.recompute(db, refresh=False)
    with db.reader() as s:
        full = dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all())
    with db.session() as s:
        net.recompute_all(s, NO_GUARD)
        unguarded = dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all())
    hubs = set(w.hubs)
    parent = {r: r for r in rids}

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    first: dict[tuple[str, str], int] = {}
    for rid, r in zip(rids, w.reports, strict=True):
        for ent in r.truth_entities:
            if ent not in hubs:
                if ent in first:
                    parent[find(rid)] = find(first[ent])
                else:
                    first[ent] = rid
    ideal = pairwise({r: find(r) for r in rids}, truth)
    g, u = pairwise(incremental, truth), pairwise(unguarded, truth)
    print(
        f"  synthetic world seed {seed}, {n_reports} reports through the doors (load + analysis {t_load:.1f} s), "
        f"{len(w.networks)} ground-truth networks, {len(w.hubs)} hubs\n"
        f"    incremental == full recompute: {incremental == full} (full recompute {fmt(res.seconds)})\n"
        f"    with guard     precision {g.precision:.3f}   recall {g.recall:.3f}   largest network "
        f"{largest_share(incremental):.1%} of reports\n"
        f"    without guard  precision {u.precision:.3f}   recall {u.recall:.3f}   largest network "
        f"{largest_share(unguarded):.1%} of reports\n"
        f"    ideal linker   precision {ideal.precision:.3f}   recall {ideal.recall:.3f}   (ground-truth identifiers, "
        f"hubs left out: the ceiling the data allows)"
    )
    hub_deg = Counter()
    for r in w.reports:
        for ent in r.truth_entities:
            hub_deg[ent] += 1
    by_kind: dict[str, list[int]] = {}
    for (kind, value), d in hub_deg.items():
        if (kind, value) not in hubs and d >= 2:
            by_kind.setdefault(kind, []).append(d)
    for kind in ("phone", "domain", "ipv4"):
        ds = sorted(by_kind.get(kind, []))
        if ds:
            p90 = ds[max(0, math.ceil(0.9 * len(ds)) - 1)]
            hd = [hub_deg[h] for h in hubs if h[0] == kind]
            print(
                f"    {kind:7} P90 of shared ring values {p90}, busiest ring value {ds[-1]} "
                f"({ds[-1] / p90:.2f} x P90), hubs {sorted(hd)}"
            )
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--incremental", type=int, default=200, help="new reports timed per size and backend")
    ap.add_argument("--world-reports", type=int, default=400)
    ap.add_argument("--world-seed", type=int, default=1)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    print(f"tipline entity graph bench ({' '.join(sys.argv)})")
    print("== 1. full recompute vs incremental update per report")
    for n in sizes:
        for backend in args.backends.split(","):
            bench_size(n, backend, args.incremental)
    print("== 2. guard effect on the planted graph (in memory, scipy)")
    for n in sizes:
        guard_effect(n)
    if args.world_reports:
        print("== 3. synthetic world: networks vs ground truth")
        world(args.world_reports, args.world_seed)


if __name__ == "__main__":
    main()
