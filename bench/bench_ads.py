"""Ads template clustering: tipline's engine beside a plain MinHash-LSH-plus-union-find baseline, on the
synthetic ads corpus (``tipline.synth.ads``) with its ground truth.

    .venv/bin/python bench/bench_ads.py                      # 100,000 ads, ours and the baseline
    .venv/bin/python bench/bench_ads.py --n 20000            # quicker
    .venv/bin/python bench/bench_ads.py --spark 1000000      # also the Spark-local run at that size
    .venv/bin/python bench/bench_ads.py --spark 20000 --spark-only --spark-candidates bands,mllib
                                    # only Spark: datasketch band keys vs pyspark.ml MinHashLSH, same corpus

Each engine runs in its own child process (peak memory is per run) on one core (the child is pinned to
one CPU) and reads the same JSON-lines file, so "end to end" is: read and validate each line, shingle,
learn the common text, MinHash, LSH candidates, verification, template check, and the summary of every
cluster (template with slots, indicators, movement). Entity extraction is not in it (the importer does
that once per ad; InfoShield's figure does not include it either).

* **ours**: ``tipline.ads.engine`` (learned boilerplate and stock phrases removed, numpy MinHash with
  datasketch's permutations, band join, exact verification, template check).
* **baseline**: the textbook pipeline with the same library: ``datasketch.MinHash`` per ad over the same
  word bigrams (its default SHA-1 hashing), ``datasketch.MinHashLSH(threshold=0.5)``, a query per ad, and
  union-find over every candidate pair; no common-text learning, no verification.
* **InfoShield** (ICDE 2021, published figures, not re-run): 84% precision on trafficking ads, about
  140 ads/s, 4 million ads in about 8 hours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INFOSHIELD_ADS_PER_S = 140


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_corpus(n: int, seed: int, path: Path) -> None:
    from tipline.synth.ads import generate_ads

    c = generate_ads(seed=seed, n_ads=n)
    with path.open("w", encoding="utf-8") as f:
        for a in c.ads:
            f.write(json.dumps(a.payload, ensure_ascii=False) + "\n")
    truth = path.with_suffix(".truth.json")
    truth.write_text(json.dumps(c.truth_labels()))


def _read(path: Path):  # type: ignore[no-untyped-def]
    from tipline.ads.engine import AdRecord
    from tipline.ads.parse import AdIn, read_lines

    recs, keys = [], []
    for _, r in read_lines(path.read_bytes(), "jsonl"):
        assert isinstance(r, AdIn)
        recs.append(AdRecord(r.site, r.ad_id, r.posted_at, r.city, r.country, r.title, r.text))
        keys.append((r.site, r.ad_id))
    return recs, keys


def run_ours(path: Path) -> dict[str, object]:
    from tipline.ads.engine import cluster_records, summaries

    t0 = time.process_time()
    recs, keys = _read(path)
    t1 = time.process_time()
    ordered, cl = cluster_records(recs)
    t2 = time.process_time()
    assert cl.common is not None
    out = summaries(ordered, cl.labels, cl.common)
    t3 = time.process_time()
    pos = {(r.site, r.ad_id): i for i, r in enumerate(ordered)}
    labels = [cl.labels[pos[k]] for k in keys]
    return {
        "read_s": t1 - t0,
        "cluster_s": t2 - t1,
        "summaries_s": t3 - t2,
        "total_s": t3 - t0,
        "labels": labels,
        "clusters": len(out),
        "rss_mib": _rss_mib(),
        "verifications": cl.stats["verifications"],
    }


def run_baseline(path: Path) -> dict[str, object]:
    from datasketch import MinHash, MinHashLSH

    from tipline.ads.cluster import UnionFind
    from tipline.ads.shingles import tokens

    t0 = time.process_time()
    recs, _ = _read(path)
    t1 = time.process_time()
    sets = []
    for r in recs:
        w = tokens(r.text_all)
        sets.append({f"{a} {b}".encode() for a, b in zip(w, w[1:], strict=False)} or {b""})
    mhs = MinHash.bulk(sets, num_perm=64)
    lsh = MinHashLSH(threshold=0.5, num_perm=64)
    with lsh.insertion_session() as s:
        for i, m in enumerate(mhs):
            s.insert(i, m, check_duplication=False)
    uf = UnionFind(len(recs))
    for i, m in enumerate(mhs):
        for j in lsh.query(m):
            uf.union(i, j)
    t2 = time.process_time()
    labels = [uf.find(i) for i in range(len(recs))]
    return {
        "read_s": t1 - t0,
        "cluster_s": t2 - t1,
        "summaries_s": 0.0,
        "total_s": t2 - t0,
        "labels": labels,
        "rss_mib": _rss_mib(),
    }


def child(which: str, path: str) -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass
    res = run_ours(Path(path)) if which == "ours" else run_baseline(Path(path))
    print(json.dumps(res))


def _spawn(which: str, path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="ads in the corpus (default 100,000)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--spark", type=int, default=0, help="also time the Spark-local engine on this many ads")
    ap.add_argument("--spark-only", action="store_true", help="skip the one-core engines, time only Spark")
    ap.add_argument(
        "--spark-candidates",
        default="bands",
        help="comma-separated: bands (datasketch band keys, the default) and/or mllib (pyspark MinHashLSH)",
    )
    ap.add_argument("--spark-memory", default="1g", help="Spark driver memory (default 1g)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    from tipline.synth.ads import pairwise_scores

    if a.spark_only:
        from tipline.ads.spark import bench_spark

        with tempfile.TemporaryDirectory() as tmp:
            bench_spark(a.spark, a.seed, Path(tmp), a.spark_candidates.split(","), a.spark_memory)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"ads-{a.n}.jsonl"
        t = time.process_time()
        make_corpus(a.n, a.seed, path)
        truth = json.loads(path.with_suffix(".truth.json").read_text())
        print(f"corpus: {a.n:,} synthetic ads (seed {a.seed}), generated in {time.process_time() - t:.0f} CPU s")
        rows = {}
        for which in ("ours", "baseline"):
            r = _spawn(which, path)
            p, rc = pairwise_scores(truth, [str(x) for x in r["labels"]])  # type: ignore[union-attr]
            r["precision"], r["recall"] = p, rc
            rows[which] = r
            rate = a.n / float(r["total_s"])  # type: ignore[arg-type]
            print(
                f"  {which:9s} precision {p:.3f}  recall {rc:.3f}  end to end {float(r['total_s']):6.1f} CPU s "
                f"= {rate:7,.0f} ads/s (read {float(r['read_s']):.1f} s, cluster {float(r['cluster_s']):.1f} s, "
                f"summaries {float(r['summaries_s']):.1f} s)  peak RSS {float(r['rss_mib']):,.0f} MiB"
            )
        ours, base = rows["ours"], rows["baseline"]
        print(
            f"  ratio ours/baseline: speed {float(base['total_s']) / float(ours['total_s']):.1f}x, "
            f"precision {ours['precision']:.3f} vs {base['precision']:.3f}"
        )
        print(
            f"  vs InfoShield's published ~{INFOSHIELD_ADS_PER_S} ads/s: "
            f"{a.n / float(ours['total_s']) / INFOSHIELD_ADS_PER_S:.0f}x (its precision 0.84 on real ads)"
        )
        if a.spark:
            from tipline.ads.spark import bench_spark

            bench_spark(a.spark, a.seed, Path(tmp), a.spark_candidates.split(","), a.spark_memory)


if __name__ == "__main__":
    main()
