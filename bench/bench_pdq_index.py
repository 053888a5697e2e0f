"""Exact PDQ matching at scale: tipline's MIH index against faiss and python-threatexchange (HMA).

For each data set (random 256-bit hashes at each ``--sizes``, plus a clustered set: seed hashes with near
copies at distance 0-40) it prints, per engine: build time, memory, single queries/s, batched queries/s and
recall against brute force (tipline's LinearPDQIndex) on a sample of queries, at radius 31 (PDQ's match
threshold, distance <= 31). Queries are stored hashes with k random bit flips (k uniform in 0..31) plus 10%
random hashes that match nothing. For tipline it also times add() of 10,000 hashes into the built index,
queries/s after that add, and save()/load().

    .venv/bin/python bench/bench_pdq_index.py [--sizes 1000000,10000000] [--clustered 10000x1000]
        [--engines tipline,faiss,pytx] [--queries 2000] [--recall-sample 200] [--pytx-max 10000000]
    .venv/bin/python bench/bench_pdq_index.py --merges 2000000 --sharded 4000000x2
        (only: the longest add() with merges in add vs in the background; one process vs a shard per
        process with each query fanned out and the answers merged, checked identical)

Engines:
  tipline  tipline.media.index.MIHPDQIndex (numpy multi-index hashing, 11 substring tables), one thread.
  faiss    faiss.IndexBinaryFlat, range_search(q, 32) (= distance < 32), brute force in C++; limited to
           one thread (--faiss-threads, which also applies to pytx) so that all compete on the same footing.
  pytx     python-threatexchange's PDQIndex (the index behind Meta's Hasher-Matcher-Actioner): faiss
           IndexBinaryMultiHash (16 x 16 bits, nflip 1) in an IndexBinaryIDMap2, plus Python-side maps.
           Its single query is PDQIndex.query(hex); "batched" is its internal
           PDQMultiHashIndex.search_with_distance_in_result(list of hex) (PDQIndex has no batch API).

Every engine runs in its own subprocess, one after another, so memory is measured cleanly (RSS growth
while building, and the peak) and freed before the next. Needs faiss-cpu and threatexchange
(bench-only); an engine that cannot be imported is reported as skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RADIUS = 31
BATCH = 1000
TIME_CAP_S = 25.0  # per measurement for slow engines


# ------------------------------------------------------------------------------------------------ data sets


def flip_bits(h: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copy of (n, 32) uint8 hashes with k[i] random bit positions of row i flipped (positions drawn with
    replacement, so a repeated position cancels: the distance is at most k[i], and k[i] almost always)."""
    out = h.copy()
    n = out.shape[0]
    flat = out.reshape(-1)
    kmax = int(k.max()) if n else 0
    rows = np.arange(n, dtype=np.int64)
    for j in range(kmax):
        sel = rows[k > j]
        pos = rng.integers(0, 256, sel.size)
        flat[sel * 32 + (pos >> 3)] ^= (1 << (pos & 7)).astype(np.uint8)  # one position per row: no repeats
    return out


def make_random(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32), dtype=np.uint8)


def make_clustered(seeds: int, copies: int, seed: int) -> np.ndarray:
    """``seeds`` random hashes, each with ``copies`` near copies at distance 0..40 (uniform), shuffled."""
    rng = np.random.default_rng(seed)
    base = np.repeat(rng.integers(0, 256, (seeds, 32), dtype=np.uint8), copies, axis=0)
    h = flip_bits(base, rng.integers(0, 41, base.shape[0]), rng)
    return h[rng.permutation(h.shape[0])]


def make_queries(hashes: np.ndarray, nq: int, seed: int) -> np.ndarray:
    """90% stored hashes with k ~ U{0..31} flipped bits, 10% random hashes; shuffled."""
    rng = np.random.default_rng(seed)
    near = nq - nq // 10
    src = hashes[rng.integers(0, hashes.shape[0], near)]
    q = np.concatenate([flip_bits(src, rng.integers(0, 32, near), rng), rng.integers(0, 256, (nq // 10, 32), np.uint8)])
    return q[rng.permutation(nq)]


# ------------------------------------------------------------------------------------------------ measuring


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    cur = peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cur, peak


CPU_QPS: list[float] = []  # the last timed_loop's items per CPU second of the calling thread


def timed_loop(fn, items, cap_s: float = TIME_CAP_S) -> tuple[float, list]:
    """Call fn on items one by one until done or cap_s passed; returns (items per wall second, results).

    Also records items per CPU second (this thread's CPU time) in CPU_QPS: on a shared machine, wall time counts the
    time other processes had the cores, CPU time does not (cache and memory-bus contention still count)."""
    out = []
    t, c = time.perf_counter(), time.thread_time()
    for x in items:
        out.append(fn(x))
        if time.perf_counter() - t > cap_s:
            break
    CPU_QPS[:] = [len(out) / max(time.thread_time() - c, 1e-9)]
    return len(out) / (time.perf_counter() - t), out


def recall(found: list[list[tuple[int, int]]], truth: list[list[tuple[int, int]]]) -> tuple[float, int]:
    """(share of true (id, distance) pairs found, number of queries answered exactly)."""
    want = sum(len(t) for t in truth)
    got = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    exact = sum(sorted(f) == sorted(t) for f, t in zip(found, truth, strict=True))
    return (got / want if want else 1.0), exact


# ------------------------------------------------------------------------------------------------ workers


def worker_truth(d: Path, sample: int) -> dict:
    from tipline.media.index import LinearPDQIndex

    h, q = np.load(d / "hashes.npy"), np.load(d / "queries.npy")[:sample]
    idx = LinearPDQIndex()
    idx.add(h, np.arange(h.shape[0]))
    t = time.perf_counter()
    res = idx.query_many(q, RADIUS)
    (d / "truth.json").write_text(json.dumps(res))
    return {"linear_qps": sample / (time.perf_counter() - t), "matches": sum(map(len, res))}


def worker_tipline(d: Path, sample: int) -> dict:
    from tipline.media.index import MIHPDQIndex, PDQIndex

    h, q = np.load(d / "hashes.npy"), np.load(d / "queries.npy")
    truth = [[tuple(p) for p in t] for t in json.loads((d / "truth.json").read_text())]
    n = h.shape[0]
    qhex = [bytes(x).hex() for x in q]
    gc.collect()
    r0, _ = rss_mb()
    t = time.perf_counter()
    idx = MIHPDQIndex()
    idx.add(h, np.arange(n))
    build = time.perf_counter() - t
    gc.collect()
    r1, peak = rss_mb()
    for x in qhex[:50]:
        idx.query(x, RADIUS)
    single, res = timed_loop(lambda x: idx.query(x, RADIUS), qhex, cap_s=60)
    single_cpu = CPU_QPS[0]
    t = time.perf_counter()
    for a in range(0, q.shape[0], BATCH):
        idx.query_many(q[a : a + BATCH], RADIUS)
    batch = q.shape[0] / (time.perf_counter() - t)
    rec, exact = recall(res[:sample], truth)
    rec_b, exact_b = recall(idx.query_many(q[:sample], RADIUS), truth)
    out = {
        "build_s": build,
        "mem_mb": r1 - r0,
        "peak_mb": peak - r0,
        "struct_mb": idx.memory_bytes() / 2**20,
        "single_qps": single,
        "single_cpu_qps": single_cpu,
        "batch_qps": batch,
        "recall": min(rec, rec_b),
        "exact": min(exact, exact_b),
        "mean_matches": float(np.mean([len(r) for r in res])),
    }
    # incremental add: 10,000 new hashes into the built index (no rebuild), then query speed again
    new = make_random(10_000, 99)
    t = time.perf_counter()
    idx.add(new, np.arange(n, n + 10_000))
    out["add10k_s"] = time.perf_counter() - t
    assert idx.query(new[1234], 0) == [(n + 1234, 0)], "added hash not found"
    out["segments_after_add"] = [s.n for s in idx._state.segments] + [idx._state.n - idx._state.indexed]
    out["single_qps_after_add"], _ = timed_loop(lambda x: idx.query(x, RADIUS), qhex, cap_s=30)
    # persistence
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        path = Path(tmp) / "index.npz"
        t = time.perf_counter()
        idx.save(path)
        out["save_s"] = time.perf_counter() - t
        out["file_mb"] = path.stat().st_size / 2**20
        idx = None  # free it before loading the copy
        gc.collect()
        t = time.perf_counter()
        idx2 = PDQIndex.load(path)
        out["load_s"] = time.perf_counter() - t
        assert idx2.query(new[1234], 0) == [(n + 1234, 0)]
        assert [idx2.query(x, RADIUS) for x in qhex[:20]] == res[:20]
    return out


def worker_faiss(d: Path, sample: int, threads: int) -> dict:
    import faiss

    faiss.omp_set_num_threads(threads)
    h, q = np.load(d / "hashes.npy"), np.load(d / "queries.npy")
    truth = [[tuple(p) for p in t] for t in json.loads((d / "truth.json").read_text())]
    gc.collect()
    r0, _ = rss_mb()
    t = time.perf_counter()
    idx = faiss.IndexBinaryFlat(256)
    idx.add(h)
    build = time.perf_counter() - t
    gc.collect()
    r1, peak = rss_mb()

    def one(x: np.ndarray) -> list[tuple[int, int]]:
        lims, dist, ids = idx.range_search(x[None, :], RADIUS + 1)
        return sorted(zip(ids.tolist(), dist.tolist(), strict=True), key=lambda p: (p[1], p[0]))

    single, res = timed_loop(one, q)
    single_cpu = CPU_QPS[0]
    res += [one(x) for x in q[len(res) : sample]]
    rec, exact = recall(res[:sample], truth)
    t = time.perf_counter()
    idx.range_search(q[:BATCH], RADIUS + 1)
    batch = BATCH / (time.perf_counter() - t)
    return {
        "build_s": build,
        "mem_mb": r1 - r0,
        "peak_mb": peak - r0,
        "single_qps": single,
        "single_cpu_qps": single_cpu,
        "batch_qps": batch,
        "recall": rec,
        "exact": exact,
    }


def worker_pytx(d: Path, sample: int, threads: int) -> dict:
    import faiss
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    faiss.omp_set_num_threads(threads)  # pytx runs on faiss: same thread limit as the faiss engine

    h, q = np.load(d / "hashes.npy"), np.load(d / "queries.npy")
    truth = [[tuple(p) for p in t] for t in json.loads((d / "truth.json").read_text())]
    qhex = [bytes(x).hex() for x in q]
    gc.collect()
    r0, _ = rss_mb()
    t = time.perf_counter()
    entries = [(bytes(x).hex(), i) for i, x in enumerate(h)]  # pytx keeps these strings: part of its footprint
    hex_s = time.perf_counter() - t
    t = time.perf_counter()
    idx = PDQIndex(entries)
    build = time.perf_counter() - t
    del entries
    gc.collect()
    r1, peak = rss_mb()

    def one(x: str) -> list[tuple[int, int]]:
        return sorted(((m.metadata, int(m.similarity_info.distance)) for m in idx.query(x)), key=lambda p: (p[1], p[0]))

    single, res = timed_loop(one, qhex)
    single_cpu = CPU_QPS[0]
    res += [one(x) for x in qhex[len(res) : sample]]
    rec, exact = recall(res[:sample], truth)
    t = time.perf_counter()
    idx.index.search_with_distance_in_result(qhex[:BATCH], RADIUS)
    batch = BATCH / (time.perf_counter() - t)
    return {
        "build_s": build,
        "hex_s": hex_s,
        "mem_mb": r1 - r0,
        "peak_mb": peak - r0,
        "single_qps": single,
        "single_cpu_qps": single_cpu,
        "batch_qps": batch,
        "recall": rec,
        "exact": exact,
    }


# ------------------------------------------------------------------------------------------------ driver


def run_worker(engine: str, d: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, "--data", str(d), "--recall-sample", str(args.recall_sample)]
    cmd += ["--faiss-threads", str(args.faiss_threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail)[-300:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def fmt(r: dict, key: str, spec: str) -> str:
    v = r.get(key)
    return "-" if v is None else format(v, spec)


# ------------------------------------------------------------------------------------------------ merges


def merge_pauses(h: np.ndarray, base: int, background: bool) -> dict:
    """Build ``base`` hashes, then add the rest in 10,000-hash calls: the longest add() (a merge in the add
    path is a pause for whoever adds), and what it cost the queries meanwhile."""
    from tipline.media.index import MIHPDQIndex

    idx = MIHPDQIndex(background_min=(1 << 18) if background else None)
    idx.add(h[:base], np.arange(base))
    times = []
    for a in range(base, h.shape[0], 10_000):
        t = time.perf_counter()
        idx.add(h[a : a + 10_000], np.arange(a, min(a + 10_000, h.shape[0])))
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    idx.wait_merges()
    wait = time.perf_counter() - t
    return {
        "max_add_s": max(times),
        "median_add_s": float(np.median(times)),
        "background_merges": idx.background_merges,
        "segments": len(idx._state.segments),
        "wait_s": wait,
    }


def bench_merges(base: int) -> None:
    extra = base // 8 + 50_000  # enough to bring the tail segment to 1/8 of the base: one big merge
    h = make_random(base + extra, 77)
    print(f"\n== merges: {base:,} hashes, then {extra:,} added 10,000 at a time [load {os.getloadavg()[0]:.1f}]")
    print(f"{'merges':<14}{'longest add s':>15}{'median add s':>14}{'in background':>15}{'segments':>10}")
    out = {}
    for name, bg in (("in add (old)", False), ("background", True)):
        r = merge_pauses(h, base, bg)
        out[name] = r
        print(
            f"{name:<14}{r['max_add_s']:>15.3f}{r['median_add_s']:>14.4f}{r['background_merges']:>15}"
            f"{r['segments']:>10}",
            flush=True,
        )
    ratio = out["in add (old)"]["max_add_s"] / max(out["background"]["max_add_s"], 1e-9)
    print(f"longest add() pause: {ratio:.1f}x shorter with background merges")


# ------------------------------------------------------------------------------------------------ shards


def _shard(conn, h: np.ndarray, start: int, end: int) -> None:  # type: ignore[no-untyped-def]
    """One shard process: an MIH index over rows [start, end) (ids = global row numbers); answers query lists."""
    from tipline.media.index import MIHPDQIndex

    idx = MIHPDQIndex()
    idx.add(h[start:end], np.arange(start, end))
    conn.send(("ready", idx.memory_bytes(), rss_mb()[0]))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(idx.query_many(msg, RADIUS))


def fan_out(conns: list, qs: np.ndarray) -> list[list[tuple[int, int]]]:  # type: ignore[type-arg]
    """One query list to every shard at once, the answers merged: sorted by (distance, id) as one index's."""
    for c in conns:
        c.send(qs)
    parts = [c.recv() for c in conns]
    return [sorted((x for p in parts for x in p[i]), key=lambda t: (t[1], t[0])) for i in range(qs.shape[0])]


def _one_process(h: np.ndarray, qs: np.ndarray) -> tuple[float, float, float, int, list]:  # type: ignore[type-arg]
    from tipline.media.index import MIHPDQIndex

    t = time.perf_counter()
    one = MIHPDQIndex()
    one.add(h, np.arange(h.shape[0]))
    build = time.perf_counter() - t
    single, _ = timed_loop(lambda q: one.query(q, RADIUS), list(qs))
    t = time.perf_counter()
    truth = one.query_many(qs, RADIUS)
    batch = qs.shape[0] / (time.perf_counter() - t)
    return build, single, batch, one.memory_bytes(), truth


def bench_sharded(n: int, shards: int, nq: int) -> None:
    import multiprocessing as mp

    h = make_random(n, 88)
    qs = make_queries(h, nq, 89)
    print(f"\n== sharded: {n:,} random hashes, {shards} shard processes vs one process [load {os.getloadavg()[0]:.1f}]")
    build1, single1, batch1, mem1, truth = _one_process(h, qs)
    gc.collect()
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    pipes, procs = [], []
    for k in range(shards):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_shard, args=(b, h, k * n // shards, (k + 1) * n // shards), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)
    ready = [c.recv() for c in pipes]
    build_s = time.perf_counter() - t
    single_s, got = timed_loop(lambda q: fan_out(pipes, q[None, :])[0], list(qs))
    t = time.perf_counter()
    batched = fan_out(pipes, qs)
    batch_s = nq / (time.perf_counter() - t)
    for c in pipes:
        c.send(None)
    for p in procs:
        p.join()
    exact = got == truth[: len(got)] and batched == truth
    shard_mem = sum(r[1] for r in ready)
    print(f"{'':<22}{'build s':>9}{'index MB':>10}{'single q/s':>12}{'batch q/s':>11}{'same answers':>14}")
    print(f"{'one process':<22}{build1:>9.1f}{mem1 / 1e6:>10.0f}{single1:>12.0f}{batch1:>11.0f}{'(reference)':>14}")
    print(
        f"{f'{shards} shards (processes)':<22}{build_s:>9.1f}{shard_mem / 1e6:>10.0f}{single_s:>12.0f}"
        f"{batch_s:>11.0f}{str(exact):>14}"
    )
    print(f"index bytes per hash: {mem1 / n:.1f} (one process), {shard_mem / n:.1f} (shards, all together)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000", help="random data set sizes, comma-separated")
    ap.add_argument("--clustered", default="10000x1000", help="SEEDSxCOPIES for the clustered set, or 'none'")
    ap.add_argument("--engines", default="tipline,faiss,pytx")
    ap.add_argument("--queries", type=int, default=2200, help="queries per data set (90%% near-copies)")
    ap.add_argument("--recall-sample", type=int, default=200)
    ap.add_argument("--pytx-max", type=int, default=10_000_000, help="largest data set pytx is built on")
    ap.add_argument("--faiss-threads", type=int, default=1, help="OpenMP threads for faiss and pytx")
    ap.add_argument("--merges", type=int, default=0, help="only the merge-pause run at this many hashes")
    ap.add_argument("--sharded", default="", help="only the sharded run: HASHESxSHARDS (e.g. 4000000x2)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        d = Path(args.data)
        fn = {
            "truth": lambda: worker_truth(d, args.recall_sample),
            "tipline": lambda: worker_tipline(d, args.recall_sample),
            "faiss": lambda: worker_faiss(d, args.recall_sample, args.faiss_threads),
            "pytx": lambda: worker_pytx(d, args.recall_sample, args.faiss_threads),
        }[args.worker]
        print(json.dumps(fn()))
        return

    if args.merges or args.sharded:
        if args.merges:
            bench_merges(args.merges)
        if args.sharded:
            n, k = (int(x) for x in args.sharded.lower().split("x"))
            bench_sharded(n, k, args.queries)
        return
    engines = [e for e in args.engines.split(",") if e]
    sets: list[tuple[str, object]] = [(f"random {int(s):,}", int(s)) for s in args.sizes.split(",") if s]
    if args.clustered != "none":
        s, c = (int(x) for x in args.clustered.lower().split("x"))
        sets.append((f"clustered {s:,}x{c:,}", (s, c)))
    print(
        f"PDQ exact search, radius {RADIUS} (distance <= {RADIUS}); {args.queries} queries per set "
        f"(90% near-copies with 0-31 flipped bits, 10% random); batch = {BATCH}; recall on {args.recall_sample} "
        f"queries vs numpy brute force; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"numpy {np.__version__}",
        flush=True,
    )
    summary = []
    with tempfile.TemporaryDirectory(prefix="pdqbench.") as tmp:
        for si, (name, spec) in enumerate(sets):
            d = Path(tmp) / f"set{si}"
            d.mkdir()
            t = time.perf_counter()
            h = make_random(spec, 1000 + si) if isinstance(spec, int) else make_clustered(*spec, seed=1000 + si)
            n = h.shape[0]
            np.save(d / "hashes.npy", h)
            np.save(d / "queries.npy", make_queries(h, args.queries, 2000 + si))
            del h
            gen = time.perf_counter() - t
            tr = run_worker("truth", d, args)
            print(
                f"\n== {name} hashes [load average {os.getloadavg()[0]:.1f}] (generated in {gen:.0f} s; "
                f"brute force {fmt(tr, 'linear_qps', '.1f')} q/s, "
                f"{fmt(tr, 'matches', 'd')} true matches in the sample) {tr.get('error', '')}",
                flush=True,
            )
            print(
                f"{'engine':<14}{'build s':>9}{'RSS MB':>9}{'peak MB':>9}{'single q/s':>12}{'(per CPU s)':>12}"
                f"{'batch q/s':>11}"
                f"{'recall':>8}{'exact':>9}"
            )
            results = {}
            for e in engines:
                if e == "pytx" and n > args.pytx_max:
                    print(f"{e:<14} skipped (> --pytx-max {args.pytx_max:,})")
                    continue
                r = results[e] = run_worker(e, d, args)
                if "error" in r:
                    print(f"{e:<14} failed: {r['error']}", flush=True)
                    continue
                answered = args.recall_sample
                print(
                    f"{e:<14}{fmt(r, 'build_s', '9.1f')}{fmt(r, 'mem_mb', '9.0f')}{fmt(r, 'peak_mb', '9.0f')}"
                    f"{fmt(r, 'single_qps', '12.0f')}{fmt(r, 'single_cpu_qps', '12.0f')}"
                    f"{fmt(r, 'batch_qps', '11.0f')}{fmt(r, 'recall', '8.4f')}"
                    f"{r['exact']:>5}/{answered:<3}",
                    flush=True,
                )
            tl = results.get("tipline", {})
            if "error" not in tl and tl:
                print(
                    f"tipline: structure {tl['struct_mb']:.0f} MB, {tl['mean_matches']:.1f} matches/query; "
                    f"add(10,000) into the built index {tl['add10k_s'] * 1000:.0f} ms (segments+buffer "
                    f"{tl['segments_after_add']}), then {tl['single_qps_after_add']:.0f} single q/s; "
                    f"save {tl['save_s']:.1f} s ({tl['file_mb']:.0f} MB), load {tl['load_s']:.1f} s"
                )
                for base in ("faiss", "pytx"):
                    b = results.get(base, {})
                    if b and "error" not in b:
                        print(
                            f"tipline/{base}: single {tl['single_qps'] / b['single_qps']:.1f}x, "
                            f"batch {tl['batch_qps'] / b['batch_qps']:.1f}x, build time "
                            f"{tl['build_s'] / max(b['build_s'], 1e-3):.2f}x, "
                            f"RSS {tl['mem_mb'] / max(b['mem_mb'], 1):.2f}x"
                        )
                summary.append((name, tl))
    print()
    for name, tl in summary:
        ok = tl["single_qps"] >= 2000 and tl["recall"] == 1.0 and tl["mem_mb"] < 2048 and tl["build_s"] < 60
        print(
            f"goal check {name}: single {tl['single_qps']:.0f} q/s ({tl['single_cpu_qps']:.0f} per CPU s) (>= 2000), "
            f"recall {tl['recall']:.4f} (1.0), "
            f"RSS {tl['mem_mb']:.0f} MB (< 2048), build {tl['build_s']:.1f} s (< 60): {'MET' if ok else 'NOT MET'}"
        )


if __name__ == "__main__":
    main()
