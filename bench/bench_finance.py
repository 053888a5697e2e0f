"""Payment-screening benchmark: the rules through Ibis on DuckDB vs the same rules hand-written in DuckDB
SQL, in the same run, as a ratio (target: within 1.1x); Spark local on a smaller size; peak memory.

    .venv/bin/python bench/bench_finance.py --rows 50000000 --spark-rows 2000000
    .venv/bin/python bench/bench_finance.py --rows 2000000 --spark-rows 0      # quick

Data: the synthetic payment world (``tipline.synth.payments``, seed 1: 655 senders of every shape, two
years, about 32,000 payments) imported once through ``tipline finance import``'s code, then copied with
new sender, beneficiary and transaction ids (DuckDB) until it has ``--rows`` rows, as Parquet files in the
store's layout. Each copy is its own population of senders and facilitators, so every copy screens the
same way and the alert count scales with the copies.

Screen: a 30-day window (``--window``) for every rule but escalation (365 days, as in the rules file),
the whole per-sender decision table (values, fired rules, alert, score) computed and fetched as Arrow.
Both paths read the same Parquet files with the same DuckDB settings (threads, memory limit); the
hand-written SQL is checked to give the same table. Timings are the best of ``--repeat`` runs, the two
paths interleaved; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import duckdb

from tipline.finance.importer import import_payments
from tipline.finance.rules import DEFAULT_RULES, RuleSet, parse_rules
from tipline.finance.screen import connect, decisions, payments, rule_values
from tipline.finance.store import PAYMENT_SCHEMA, FinanceStore
from tipline.synth.payments import generate_payments

DAY = 86400


def rules_with_window(days: int) -> RuleSet:
    data = tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8"))
    data["screen"]["window_days"] = days
    return parse_rules(data, "default rules")


def make_data(root: Path, rows: int) -> tuple[FinanceStore, int]:
    """Import the synthetic world once, then copy it up to ``rows`` rows; returns (store, rows written)."""
    root.mkdir(parents=True, exist_ok=True)
    base_store = FinanceStore(root / "base")
    w = generate_payments(seed=1)
    import_payments(base_store, w.write_csv(root / "base.csv"))
    store = FinanceStore(root / "big").ensure()
    con = duckdb.connect()
    n_base = con.execute(f"SELECT count(*) FROM read_parquet('{base_store.glob}')").fetchone()[0]  # type: ignore[index]
    copies = max(1, round(rows / n_base))
    per_file = max(1, 4_000_000 // n_base)
    cols = []
    for name in PAYMENT_SCHEMA.names:
        if name in ("txn_id", "sender_id", "beneficiary_id"):
            cols.append(f"{name} || '-' || CAST(k AS VARCHAR) AS {name}")
        else:
            cols.append(name)
    con.execute(f"CREATE TABLE base AS SELECT * FROM read_parquet('{base_store.glob}')")
    for i, start in enumerate(range(0, copies, per_file)):
        stop = min(copies, start + per_file)
        con.execute(
            f"COPY (SELECT {', '.join(cols)} FROM base, range({start}, {stop}) r(k)) "
            f"TO '{store.part(i + 1)}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)"
        )
    con.close()
    return store, copies * n_base


def hand_sql(glob: str, rs: RuleSet, as_of: int) -> str:
    """The default rules written by hand in DuckDB SQL (the baseline)."""
    r = {x.id: x for x in rs.rules}
    hr = ", ".join(f"'{c}'" for c in rs.high_risk_countries)
    ch = ", ".join(f"'{c}'" for c in rs.risky_channels)
    fx = " ".join(f"WHEN '{k}' THEN {v}" for k, v in rs.eur_per_unit.items())
    words = r["cover_words"].params["words"]
    rx = r"\b(" + "|".join(w.replace(" ", r"\ ") for w in words) + r")\b"
    hours = ", ".join(str(h) for h in r["night_hours"].params["hours"])
    lv, fq, sh, rd = r["low_value"].params, r["frequency"].params, r["shared_beneficiary"].params, r["round_amounts"]
    esc = r["escalation"]

    def base(days: int) -> str:
        return f"""
          SELECT *, amount * CASE currency {fx} ELSE NULL END AS amount_eur,
                 NOT (sender_surname <> '' AND sender_surname = beneficiary_surname) AS unrelated,
                 CAST(epoch_s - lag(epoch_s) OVER (PARTITION BY sender_id ORDER BY epoch_s, txn_id) AS DOUBLE)
                   / {DAY} AS interval_d
          FROM read_parquet('{glob}')
          WHERE epoch_s > {as_of - days * DAY} AND epoch_s <= {as_of}
            AND (beneficiary_country IN ({hr}) OR (channel IN ({ch}) AND beneficiary_country <> sender_country))"""

    def share(cond: str, min_n: int) -> str:
        mean = f"avg(CASE WHEN coalesce({cond}, false) THEN 1.0 ELSE 0.0 END)"
        return f"CASE WHEN count(*) >= {min_n} THEN round({mean}, 6) END"

    fired = {x.id: f"coalesce({x.id} >= {x.threshold}, false)" for x in rs.rules}
    c = rs.combinations[0]
    alert = " AND ".join(
        [fired[x] for x in c.all]
        + ["(" + " OR ".join(fired[x] for x in c.any) + ")"]
        + ["(" + " + ".join(f"CAST({fired[x]} AS INTEGER)" for x in c.of) + f") >= {c.min_of}"]
    )
    score = " + ".join(f"CASE WHEN {fired[x.id]} THEN {x.weight} ELSE 0.0 END" for x in rs.rules)
    return f"""
    WITH w AS ({base(rs.window_days)}),
    bt AS (SELECT beneficiary_id, count(DISTINCT sender_id) AS b_all FROM w WHERE unrelated GROUP BY 1),
    agg AS (
      SELECT w.sender_id, count(*) AS n_payments,
        CAST(sum(CASE WHEN beneficiary_country IN ({hr}) THEN 1 ELSE 0 END) AS DOUBLE) AS high_risk_country,
        CAST(sum(CASE WHEN channel IN ({ch}) THEN 1 ELSE 0 END) AS DOUBLE) AS risky_channel,
        {share(f"amount_eur BETWEEN {lv['min_eur']} AND {lv['max_eur']}", lv["min_payments"])} AS low_value,
        CAST(sum(CASE WHEN interval_d < {fq["max_interval_days"]} AND amount_eur < {fq["max_eur"]} THEN 1 ELSE 0 END)
             AS DOUBLE) AS frequency,
        CAST(count(DISTINCT beneficiary_id) FILTER (WHERE unrelated) AS DOUBLE) AS many_beneficiaries,
        CAST(coalesce(max(CASE WHEN unrelated AND b_all <= {sh["max_senders"]} THEN b_all END), 0) AS DOUBLE)
          AS shared_beneficiary,
        CAST(sum(CASE WHEN regexp_matches(lower(reference), '{rx}') THEN 1 ELSE 0 END) AS DOUBLE) AS cover_words,
        {share(f"local_hour IN ({hours})", r["night_hours"].params["min_payments"])} AS night_hours,
        {share(f"amount % {float(rd.params['unit'])} = 0", rd.params["min_payments"])} AS round_amounts
      FROM w LEFT JOIN bt USING (beneficiary_id)
      GROUP BY w.sender_id
    ),
    h AS (
      SELECT *, row_number() OVER (PARTITION BY sender_id ORDER BY epoch_s, txn_id) - 1 AS rn,
             count(*) OVER (PARTITION BY sender_id) AS n_all
      FROM ({base(esc.window_days)})
    ),
    e AS (
      SELECT sender_id,
        CASE WHEN count(*) >= {esc.params["min_payments"]}
                  AND avg(amount_eur) FILTER (WHERE rn * 2 < n_all) > 0
                  AND avg(interval_d) FILTER (WHERE rn * 2 >= n_all) > 0
             THEN round((avg(amount_eur) FILTER (WHERE rn * 2 >= n_all)
                         / avg(amount_eur) FILTER (WHERE rn * 2 < n_all))
                      * (avg(interval_d) FILTER (WHERE rn * 2 < n_all)
                         / avg(interval_d) FILTER (WHERE rn * 2 >= n_all)), 6)
        END AS escalation
      FROM h GROUP BY sender_id
    ),
    v AS (SELECT agg.*, e.escalation FROM agg LEFT JOIN e USING (sender_id))
    SELECT v.*, {", ".join(f"{f} AS f_{k}" for k, f in fired.items())}, {alert} AS alert, {score} AS score
    FROM v"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--spark-rows", type=int, default=2_000_000, help="0: skip Spark")
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="8GB")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the data (default: a temp folder)")
    args = ap.parse_args()
    rs = rules_with_window(args.window)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t0 = time.perf_counter()
        store, n = make_data(Path(tmp), args.rows)
        size = sum(p.stat().st_size for p in store.payments_dir.glob("*.parquet"))
        print(f"data: {n:,} payments, {size / 1e9:.2f} GB Parquet, made in {time.perf_counter() - t0:.0f} s")
        con = connect("duckdb")
        con.raw_sql(f"SET threads = {args.threads}; SET memory_limit = '{args.memory_limit}'")
        t = payments(con, store)
        as_of = int(con.to_pyarrow(t.epoch_s.max()).as_py())
        expr = decisions(rule_values(t, rs, as_of), rs)
        raw = duckdb.connect()
        raw.execute(f"SET threads = {args.threads}; SET memory_limit = '{args.memory_limit}'")
        sql = hand_sql(store.glob, rs, as_of)
        best_ibis = best_hand = float("inf")
        for _ in range(args.repeat):
            t1 = time.perf_counter()
            a = con.to_pyarrow(expr)
            best_ibis = min(best_ibis, time.perf_counter() - t1)
            t1 = time.perf_counter()
            b = raw.sql(sql).to_arrow_table()
            best_hand = min(best_hand, time.perf_counter() - t1)
        key = sorted(c for c in a.column_names if not c.startswith("c_"))
        same = a.select(key).sort_by("sender_id").to_pylist() == b.select(key).sort_by("sender_id").to_pylist()
        alerts = sum(a.column("alert").to_pylist())
        print(
            f"screen, {args.window}-day window (escalation 365 days), {a.num_rows:,} senders screened, "
            f"{alerts:,} alerts"
        )
        print(f"  Ibis on DuckDB        {best_ibis:8.2f} s")
        print(f"  hand-written DuckDB   {best_hand:8.2f} s")
        print(f"  ratio Ibis/hand       {best_ibis / best_hand:8.2f}x   (target <= 1.10x); same table: {same}")
        print(
            f"  peak RSS of this process {peak_rss_mb():,.0f} MB; DuckDB memory_limit {args.memory_limit}, "
            f"{args.threads} threads"
        )
        if args.spark_rows:
            small, m = make_data(Path(tmp) / "spark", args.spark_rows)
            from pyspark.sql import SparkSession

            spark = (
                SparkSession.builder.master(f"local[{args.threads}]")
                .config("spark.driver.memory", "4g")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.shuffle.partitions", str(args.threads * 2))
                .getOrCreate()
            )
            spark.sparkContext.setLogLevel("ERROR")
            sc = connect("spark", spark=spark)
            st = payments(sc, small)
            s_as_of = int(sc.to_pyarrow(st.epoch_s.max()).as_py())
            sexpr = decisions(rule_values(st, rs, s_as_of), rs)
            t1 = time.perf_counter()
            sa = sc.to_pyarrow(sexpr)
            spark_s = time.perf_counter() - t1
            dcon = connect("duckdb")
            dcon.raw_sql(f"SET threads = {args.threads}")
            dt = payments(dcon, small)
            t1 = time.perf_counter()
            da = dcon.to_pyarrow(decisions(rule_values(dt, rs, s_as_of), rs))
            duck_s = time.perf_counter() - t1
            key = sorted(da.column_names)
            same = sa.select(key).sort_by("sender_id").to_pylist() == da.select(key).sort_by("sender_id").to_pylist()
            print(
                f"Spark local[{args.threads}] on {m:,} payments: {spark_s:.2f} s "
                f"(Ibis on DuckDB {duck_s:.2f} s); same table: {same}"
            )
            spark.stop()
        print(f"peak RSS of this process {peak_rss_mb():,.0f} MB (the Spark driver JVM is a separate process)")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
