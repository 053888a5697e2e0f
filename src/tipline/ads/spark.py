"""The same template clustering on Apache Spark (``tipline ads clusters --engine spark``).

One code path: the per-ad work (shingles, residuals, MinHash signatures, band keys) is the numpy code of
:mod:`tipline.ads.shingles` and :mod:`tipline.ads.cluster`, run inside Spark on Arrow record batches
(``mapInArrow``). What needs the whole corpus runs as Spark SQL:

* common text: shingle document frequencies, globally and per site (``groupBy``), with the same
  thresholds;
* candidates: ads that share a band key (``posexplode`` + ``groupBy(band, key)``), every pair of a
  bucket;
* verification: exact Jaccard of the two residuals (``array_intersect``), the same threshold.

The edges come back to the driver, which takes their components with the same union-find and runs the same
template check, so the clusters are the default engine's (tested on a small corpus with Spark local).
Why not ``pyspark.ml.feature.MinHashLSH`` (``cluster_frame(..., candidates="mllib")``, kept for the
benchmark): measured on the same corpus it was slower (its OR-only hash tables of one min-hash each give
many more candidate pairs to join and verify) and its hash family is not datasketch's, so its clusters
differ from the default engine's (bench/RESULTS.md).

Pointing it at a real cluster: ``TIPLINE_SPARK_MASTER`` (``spark://host:7077``, ``yarn``, ``k8s://...``)
selects the master; the workers need this package installed (same version) in the Python that
``PYSPARK_PYTHON`` names. The ads are read from the database by the driver and written to Parquet in a
shared temporary folder (``TIPLINE_SPARK_TMP``, default the system's), which every worker must reach.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .cluster import CommonText, Params, UnionFind, checked_labels, sub_components
from .engine import AdRecord, order
from .shingles import Hasher, ShingleTable


def session(master: str | None = None, memory: str = "1g") -> Any:
    """A Spark session (``local[1]`` unless ``master`` or ``TIPLINE_SPARK_MASTER`` says otherwise)."""
    from pyspark.sql import SparkSession  # only when Spark is asked for: it starts a JVM

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master or os.environ.get("TIPLINE_SPARK_MASTER", "local[1]"))
        .appName("tipline-ads")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .getOrCreate()
    )


def _list_array(values: np.ndarray, offsets: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values.astype(np.int64)))


def _table_of(col: pa.ListArray) -> ShingleTable:
    offs = np.asarray(col.offsets.to_numpy(), dtype=np.int64)
    vals = np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.int64)[offs[0] : offs[-1]]
    return ShingleTable(vals.astype(np.uint32), offs - offs[0])


def _shingle_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for b in batches:
        t = ShingleTable.build(b.column("text").to_pylist())
        yield pa.RecordBatch.from_arrays(
            [b.column("idx"), b.column("site"), _list_array(t.values, t.offsets)], names=["idx", "site", "sh"]
        )


def _residual_fn(common: CommonText, p: Params):  # noqa: ANN202
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        hasher = Hasher(p.num_perm, p.bands, p.rows, p.seed)
        for b in batches:
            table = _table_of(b.column("sh"))
            res = common.residual_table(b.column("site").to_pylist(), table)
            keys = hasher.band_keys(hasher.signatures(res))
            flat_keys = keys.reshape(-1)
            koffs = np.arange(0, len(flat_keys) + 1, p.bands, dtype=np.int64)
            yield pa.RecordBatch.from_arrays(
                [
                    b.column("idx"),
                    _list_array(res.values, res.offsets),
                    pa.ListArray.from_arrays(pa.array(koffs.astype(np.int32)), pa.array(flat_keys)),
                    pa.array(res.lengths() >= p.min_shingles),
                ],
                names=["idx", "res", "keys", "eligible"],
            )

    return run


def _common_text(sh: Any, n: int, p: Params) -> CommonText:
    """Shingle document frequencies, globally and per site, with the default engine's thresholds."""
    from pyspark.sql import functions as F

    ex = sh.select("idx", "site", F.explode("sh").alias("h"))
    g_thr = max(p.global_min, math.ceil(p.global_share * n))
    glob = [r.h for r in ex.groupBy("h").count().where(F.col("count") >= g_thr).select("h").collect()]
    site_n = sh.groupBy("site").agg(F.count("*").alias("n"))
    thr = F.greatest(F.lit(p.site_min).cast("double"), F.ceil(F.lit(p.site_share) * F.col("n")).cast("double"))
    per_site = ex.groupBy("site", "h").count().join(site_n, "site").where(F.col("count") >= thr).collect()
    site_common: dict[str, list[int]] = {}
    for r in per_site:
        site_common.setdefault(r.site, []).append(r.h)
    sites = [r.site for r in site_n.collect()]
    return CommonText(
        np.sort(np.asarray(glob, dtype=np.uint32)),
        {s: np.sort(np.asarray(site_common.get(s, []), dtype=np.uint32)) for s in sites},
        n,
    )


def _band_pairs(elig: Any) -> Any:
    """Candidate pairs (i < j): ads that share one of datasketch's band keys (the default engine's LSH)."""
    from pyspark.sql import functions as F

    buckets = (
        elig.select("idx", F.posexplode("keys").alias("band", "key"))
        .groupBy("band", "key")
        .agg(F.collect_list("idx").alias("m"))
        .where(F.size("m") >= 2)
    )
    return (
        buckets.select(F.explode("m").alias("i"), "m")
        .select("i", F.explode("m").alias("j"))
        .where(F.col("i") < F.col("j"))
        .distinct()
    )


def _mllib_pairs(elig: Any, p: Params, tables: int) -> Any:
    """Candidate pairs (i < j) from ``pyspark.ml.feature.MinHashLSH`` (JVM hashing, ``tables`` OR-ed
    single min-hashes) and its ``approxSimilarityJoin`` at the verification threshold."""
    from pyspark.ml.feature import HashingTF, MinHashLSH
    from pyspark.sql import functions as F

    tf = HashingTF(inputCol="res", outputCol="v", numFeatures=1 << 30, binary=True)
    vec = tf.transform(elig.select("idx", "res"))
    model = MinHashLSH(inputCol="v", outputCol="hashes", numHashTables=tables, seed=p.seed).fit(vec)
    joined = model.approxSimilarityJoin(vec, vec, 1.0 - p.verify + 1e-9, distCol="d")
    return joined.select(F.col("datasetA.idx").alias("i"), F.col("datasetB.idx").alias("j")).where(
        F.col("i") < F.col("j")
    )


def _verified_edges(rk: Any, pairs: Any, p: Params) -> Any:
    """The candidate pairs whose residuals' exact Jaccard similarity reaches ``p.verify``."""
    from pyspark.sql import functions as F

    ri = rk.select(F.col("idx").alias("i"), F.col("res").alias("ri"))
    rj = rk.select(F.col("idx").alias("j"), F.col("res").alias("rj"))
    inter = F.size(F.array_intersect("ri", "rj"))
    jac = inter / (F.size("ri") + F.size("rj") - inter)
    return pairs.join(ri, "i").join(rj, "j").where((inter > 0) & (jac >= F.lit(p.verify))).select("i", "j")


def _member_arrays(spark: Any, rk: Any, members: list[int]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    res: dict[int, np.ndarray] = {}
    keys: dict[int, np.ndarray] = {}
    if members:
        wanted = spark.createDataFrame([(i,) for i in members], "idx long")
        for r in rk.join(wanted, "idx").select("idx", "res", "keys").toLocalIterator():
            res[r.idx] = np.asarray(r.res, dtype=np.uint32)
            keys[r.idx] = np.asarray(r.keys, dtype=np.int64)
    return res, keys


def cluster_frame(
    spark: Any, path: str, n: int, p: Params, *, candidates: str = "bands", tables: int = 5
) -> tuple[list[int], CommonText, dict[str, float]]:
    """Cluster the ads in the Parquet file ``path`` (columns idx, site, text; idx 0..n-1 in posting order).
    Returns the label of every idx (the smallest member idx of its cluster), the common text, figures.
    ``candidates``: ``bands`` (datasketch's band keys, the default engine's candidates) or ``mllib``
    (``pyspark.ml.feature.MinHashLSH`` with ``tables`` hash tables; measured in bench/RESULTS.md)."""
    df = spark.read.parquet(path)
    sh = df.mapInArrow(_shingle_batches, "idx long, site string, sh array<long>").cache()
    common = _common_text(sh, n, p)
    schema = "idx long, res array<long>, keys array<long>, eligible boolean"
    rk = sh.mapInArrow(_residual_fn(common, p), schema).cache()
    elig = rk.where("eligible")
    if candidates == "bands":
        pairs = _band_pairs(elig)
    elif candidates == "mllib":
        pairs = _mllib_pairs(elig, p, tables)
    else:
        raise ValueError(f"unknown candidates {candidates!r}: use bands or mllib")
    uf = UnionFind(n)
    n_edges = 0
    for r in _verified_edges(rk, pairs, p).toLocalIterator():
        uf.union(r.i, r.j)
        n_edges += 1
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(uf.find(i), []).append(i)
    comps = {k: v for k, v in comps.items() if len(v) >= 2}
    res, keys = _member_arrays(spark, rk, sorted(i for v in comps.values() for i in v))
    labels_part = checked_labels(comps, lambda m: sub_components(m, keys, res, p), res, p)
    labels = [labels_part.get(i, i) for i in range(n)]
    sh.unpersist()
    rk.unpersist()
    return labels, common, {"edges": n_edges}


def write_parquet(records: Sequence[AdRecord], path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "idx": pa.array(range(len(records)), pa.int64()),
                "site": [r.site for r in records],
                "text": [r.text_all for r in records],
            }
        ),
        path,
        row_group_size=20_000,
    )


def cluster_records(
    spark: Any, records: Sequence[AdRecord], params: Params | None = None
) -> tuple[list[AdRecord], list[int], CommonText]:
    """Cluster ``records`` on Spark; the same return shape as the default engine's labels."""
    recs = order(records)
    tmp_root = os.environ.get("TIPLINE_SPARK_TMP") or None
    with tempfile.TemporaryDirectory(prefix="tipline-ads-", dir=tmp_root) as tmp:
        path = Path(tmp) / "ads.parquet"
        write_parquet(recs, path)
        labels, common, _ = cluster_frame(spark, str(path), len(recs), params or Params())
    return recs, labels, common


def bench_spark(
    n: int, seed: int, tmp: Path, candidates: Sequence[str] = ("bands",), memory: str = "1g"
) -> None:  # pragma: no cover - benchmark only
    """Time the Spark-local engine on ``n`` synthetic ads (bench/bench_ads.py --spark N), once per way of
    finding candidates, and check each against the default engine's clusters when ``n`` is small."""
    import time

    from tipline.synth.ads import generate_ads, pairwise_scores

    t = time.perf_counter()
    corpus = generate_ads(seed=seed, n_ads=n)
    recs = [
        AdRecord(
            a.payload["site"],
            a.payload["ad_id"],
            _dt(a.payload["posted_at"]),
            a.payload["city"],
            a.payload["country"],
            a.payload["title"],
            a.payload["text"],
        )
        for a in corpus.ads
    ]
    truth = dict(zip(((r.site, r.ad_id) for r in recs), corpus.truth_labels(), strict=True))
    del corpus
    print(f"spark: {n:,} synthetic ads generated in {time.perf_counter() - t:.0f} s", flush=True)
    ordered = order(recs)
    path = tmp / "spark-ads.parquet"
    write_parquet(ordered, path)
    local: list[int] | None = None
    if n <= 100_000:
        from .engine import cluster_records as local_records

        local = local_records(recs)[1].labels
    spark = session(memory=memory)
    for how in candidates:
        t = time.perf_counter()
        labels, _, figs = cluster_frame(spark, str(path), n, Params(), candidates=how)
        dt = time.perf_counter() - t
        p, r = pairwise_scores([truth[(x.site, x.ad_id)] for x in ordered], [str(x) for x in labels])
        same = "not compared (large)" if local is None else str(labels == local)
        print(
            f"  spark {spark.sparkContext.master} candidates={how:6s} precision {p:.3f}  recall {r:.3f}  "
            f"{dt:.0f} s wall = "
            f"{n / dt:,.0f} ads/s ({int(figs['edges']):,} verified edges; same clusters as default: {same}) "
            f"driver peak RSS {_rss_mib():,.0f} MiB",
            flush=True,
        )
    spark.stop()


def _rss_mib() -> float:  # pragma: no cover - benchmark only
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _dt(s: str):  # noqa: ANN202
    from datetime import datetime

    return datetime.fromisoformat(s)
