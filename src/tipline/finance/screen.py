"""Screening: the rules of :mod:`tipline.finance.rules` as Ibis expressions, one code path for DuckDB (the
default, embedded) and Apache Spark (PySpark, for a bank's cluster).

For each window (the ``[screen]`` window, and any rule's own ``window_days``), the payments towards a
risky destination (high-risk beneficiary country, or a risky channel across a border) in ``(as_of - window, as_of]`` are
grouped per sender into one row of rule values. Everything that would differ between engines is kept out
of the expressions: times are integer epoch seconds and the sender's local hour is computed at import;
window orderings break ties on ``txn_id``; float values are rounded (6 places) before they are compared;
no ``COUNT(DISTINCT ...) OVER`` window (Spark rejects it): distinct counts are group-by aggregates, joined
back. The SQL each rule compiles to (for the engine that ran it) is kept with every alert.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from .rules import Rule, RuleSet
from .store import FinanceStore

ENGINES = ("duckdb", "spark")
DAY = 86400


class ScreenError(ValueError):
    """Screening cannot run (no payments imported, engine missing); the message says what to do."""


@dataclass
class RuleHit:
    id: str
    label: str
    value: float | None
    threshold: float
    fired: bool
    weight: float
    source: str
    window_days: int
    sql: str = ""


@dataclass
class Beneficiary:
    beneficiary_id: str
    name: str
    country: str
    payments: int
    amount_eur: float
    other_senders: int


@dataclass
class Alert:
    sender_id: str
    sender_name: str
    score: float
    combinations: list[str]
    rules: list[RuleHit]
    beneficiaries: list[Beneficiary] = field(default_factory=list)
    window_start: int = 0
    window_end: int = 0
    engine: str = "duckdb"
    references: list[str] = field(default_factory=list)  # distinct, non-empty, at most 50

    def fired(self) -> list[RuleHit]:
        return [r for r in self.rules if r.fired]

    def to_json(self, *, sql: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["rules"] = [{k: v for k, v in asdict(r).items() if sql or k != "sql"} for r in self.rules if r.fired or sql]
        return d


# -------------------------------------------------------------------------------------------- engines


def connect(engine: str = "duckdb", *, spark: Any = None, spark_master: str = "local[*]") -> Any:
    """An Ibis backend: in-process DuckDB, or PySpark on ``spark`` (a SparkSession) or a new local one."""
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        return con
    if engine == "spark":
        if spark is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError:  # pragma: no cover - pyspark is a dependency
                raise ScreenError("the spark engine needs pyspark (pip install pyspark) and Java 17+") from None
            builder = (
                SparkSession.builder.master(spark_master)
                .appName("tipline-finance")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
            )
            if spark_master.startswith("local"):  # 200 shuffle partitions are for clusters
                builder = builder.config("spark.sql.shuffle.partitions", str(max(2, os.cpu_count() or 2)))
            spark = builder.getOrCreate()
        return ibis.pyspark.connect(spark)
    raise ScreenError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")


def dialect(con: Any) -> str:
    return "pyspark" if con.name == "pyspark" else "duckdb"


def payments(con: Any, store: FinanceStore) -> ir.Table:
    if not store.has_payments():
        raise ScreenError("no payments imported yet; run `tipline finance import FILE` first")
    path = store.glob if con.name == "duckdb" else str(store.payments_dir)
    return con.read_parquet(path)


# -------------------------------------------------------------------------------------------- rules


def _base(t: ir.Table, rs: RuleSet, lo: int, hi: int) -> ir.Table:
    cross_border = t.beneficiary_country != t.sender_country
    risky = t.beneficiary_country.isin(list(rs.high_risk_countries)) | (
        t.channel.isin(list(rs.risky_channels)) & cross_border
    )
    w = t.filter(t.epoch_s > lo, t.epoch_s <= hi, risky)
    rate = w.currency.substitute(rs.eur_per_unit, else_=ibis.null(float))
    unrelated = ~((w.sender_surname != "") & (w.sender_surname == w.beneficiary_surname))
    w = w.mutate(amount_eur=w.amount * rate, unrelated=unrelated)
    win = ibis.window(group_by=w.sender_id, order_by=[w.epoch_s, w.txn_id])
    return w.mutate(interval_d=(w.epoch_s - w.epoch_s.lag().over(win)).cast("float64") / DAY)


def _share(cond: ir.BooleanValue, n: ir.IntegerScalar, min_payments: int) -> ir.FloatingScalar:
    # integers cast to double: Spark reads a literal 1.0 as DECIMAL(2,1), and its mean keeps 5 places
    share = cond.fill_null(False).ifelse(1, 0).cast("float64").mean()
    return ibis.ifelse(n >= min_payments, share.round(6), ibis.null(float))


def _words_regex(words: Iterable[str]) -> str:
    return r"\b(" + "|".join(re.escape(w.lower()) for w in words) + r")\b"


def _metric(x: ir.Table, rule: Rule, rs: RuleSet) -> ir.Scalar:
    p = rule.params
    n = x.count()
    match rule.kind:
        case "count_high_risk_country":
            return x.beneficiary_country.isin(list(rs.high_risk_countries)).ifelse(1, 0).sum()
        case "count_risky_channel":
            return x.channel.isin(list(rs.risky_channels)).ifelse(1, 0).sum()
        case "share_amount_between":
            cond = x.amount_eur.between(float(p.get("min_eur", 10)), float(p.get("max_eur", 200)))
            return _share(cond, n, int(p.get("min_payments", 3)))
        case "count_small_frequent":
            cond = (x.interval_d < float(p.get("max_interval_days", 20))) & (x.amount_eur < float(p.get("max_eur", 33)))
            return cond.fill_null(False).ifelse(1, 0).sum()
        case "distinct_unrelated_beneficiaries":
            return x.beneficiary_id.nunique(where=x.unrelated)
        case "max_shared_beneficiary":
            return x.b_senders.max().fill_null(0)
        case "count_reference_words":
            cond = x.reference.lower().re_search(_words_regex(p.get("words", [])))
            return cond.fill_null(False).ifelse(1, 0).sum()
        case "share_local_hours":
            return _share(x.local_hour.isin([int(h) for h in p.get("hours", [])]), n, int(p.get("min_payments", 3)))
        case "share_round_amounts":
            unit = float(p.get("unit", 10))
            return _share((x.amount % unit) == 0, n, int(p.get("min_payments", 3)))
    raise AssertionError(rule.kind)  # pragma: no cover - the rules loader refuses unknown kinds


def _with_shared(w: ir.Table, rules: list[Rule]) -> ir.Table:
    caps = [int(r.params.get("max_senders", 25)) for r in rules if r.kind == "max_shared_beneficiary"]
    if not caps:
        return w
    bt = w.filter(w.unrelated).group_by("beneficiary_id").aggregate(b_all=w.sender_id.nunique())
    j = w.left_join(bt, "beneficiary_id").select(w, "b_all")
    cap = caps[0]
    b = ibis.ifelse(j.unrelated & (j.b_all <= cap), j.b_all, ibis.null("int64"))
    return j.mutate(b_senders=b).drop("b_all")


def _escalation(w: ir.Table, rule: Rule) -> ir.Table:
    """Per sender: (mean amount of the later half / earlier half) x (mean interval earlier / later)."""
    order = ibis.window(group_by=w.sender_id, order_by=[w.epoch_s, w.txn_id])
    whole = ibis.window(group_by=w.sender_id)
    x = w.mutate(rn=ibis.row_number().over(order), n_all=w.sender_id.count().over(whole))
    late = (x.rn * 2) >= x.n_all
    g = x.group_by("sender_id").aggregate(
        n=x.count(),
        a1=x.amount_eur.mean(where=~late),
        a2=x.amount_eur.mean(where=late),
        i1=x.interval_d.mean(where=~late),
        i2=x.interval_d.mean(where=late),
    )
    ok = (g.n >= int(rule.params.get("min_payments", 6))) & (g.a1 > 0) & (g.i2 > 0)
    value = ibis.ifelse(ok, ((g.a2 / g.a1) * (g.i1 / g.i2)).round(6), ibis.null(float))
    return g.select("sender_id", **{rule.id: value})


def _round(v: ir.Value) -> ir.Value:
    return v.cast("float64").round(6)


def rule_values(
    t: ir.Table, rs: RuleSet, as_of: int, *, senders: ir.Table | None = None, only: Rule | None = None
) -> ir.Table:
    """One row per sender with a risky payment in the screening window: ``sender_id``, ``n_payments`` and
    one column per rule (its value; null when the rule has too few payments to say)."""
    rules = [only] if only else list(rs.rules)
    main = _base(t, rs, as_of - rs.window_days * DAY, as_of)
    by_window: dict[int, list[Rule]] = {}
    escal = []
    for r in rules:
        if r.kind == "escalation":
            escal.append(r)
        else:
            by_window.setdefault(r.window_days, []).append(r)

    def restrict(x: ir.Table) -> ir.Table:
        return x if senders is None else x.filter(x.sender_id.isin(senders.sender_id))

    main_rules = by_window.pop(rs.window_days, [])
    m = restrict(_with_shared(main, main_rules))
    out = m.group_by("sender_id").aggregate(
        n_payments=m.count(), **{r.id: _round(_metric(m, r, rs)) for r in main_rules}
    )
    extra: list[ir.Table] = []
    for days, group in by_window.items():
        w = restrict(_with_shared(_base(t, rs, as_of - days * DAY, as_of), group))
        extra.append(w.group_by("sender_id").aggregate(**{r.id: _round(_metric(w, r, rs)) for r in group}))
    for r in escal:
        extra.append(_escalation(restrict(_base(t, rs, as_of - r.window_days * DAY, as_of)), r))
    for e in extra:
        out = out.left_join(e, "sender_id").select(out, *[c for c in e.columns if c != "sender_id"])
    return out


def decisions(v: ir.Table, rs: RuleSet) -> ir.Table:
    """Adds ``f_<rule>`` (fired), ``c_<combination>``, ``alert`` and ``score`` to :func:`rule_values`."""
    fired = {r.id: (v[r.id] >= r.threshold).fill_null(False) for r in rs.rules}
    combos = {}
    for c in rs.combinations:
        cond = ibis.literal(True)
        for rid in c.all:
            cond = cond & fired[rid]
        if c.any:
            any_ = ibis.literal(False)
            for rid in c.any:
                any_ = any_ | fired[rid]
            cond = cond & any_
        if c.of:
            count = sum((fired[rid].ifelse(1, 0) for rid in c.of), ibis.literal(0))
            cond = cond & (count >= c.min_of)
        combos[f"c_{c.id}"] = cond
    alert = ibis.literal(False)
    for cond in combos.values():
        alert = alert | cond
    score = sum(
        (fired[r.id].ifelse(ibis.literal(r.weight, "float64"), ibis.literal(0.0, "float64")) for r in rs.rules),
        ibis.literal(0.0, "float64"),
    )
    return v.mutate(**{f"f_{k}": f for k, f in fired.items()}, **combos, alert=alert, score=score)


def rule_sql(t: ir.Table, rs: RuleSet, as_of: int, d: str) -> dict[str, str]:
    """The SQL each rule compiles to on one engine (stored with the alerts)."""
    return {r.id: str(ibis.to_sql(rule_values(t, rs, as_of, only=r), dialect=d)) for r in rs.rules}


# -------------------------------------------------------------------------------------------- screen


@dataclass
class ScreenResult:
    alerts: list[Alert]
    screened_senders: int
    as_of: int
    engine: str
    seconds: float
    incremental: bool
    values: list[dict[str, Any]] | None = None  # the per-sender decision table, when asked for
    screened_ids: list[str] = field(default_factory=list)


def _rows(con: Any, expr: ir.Table) -> list[dict[str, Any]]:
    """Rows as dicts through Arrow (no pandas in between, the same on both engines)."""
    return list(con.to_pyarrow(expr).to_pylist())


def _scalar(con: Any, expr: ir.Scalar) -> Any:
    return con.to_pyarrow(expr).as_py()


def screen(
    store: FinanceStore,
    rs: RuleSet,
    *,
    con: Any = None,
    engine: str = "duckdb",
    as_of: int | None = None,
    incremental: bool = False,
    keep_values: bool = False,
    save_state: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ScreenResult:
    """Screen the imported payments. ``incremental``: only senders with payments imported since the last
    screen (the state file keeps the last screened batch). Alerts come back sorted by score."""
    started = time.perf_counter()
    con = con or connect(engine)
    name = "spark" if con.name == "pyspark" else "duckdb"
    t = payments(con, store)
    state = store.state()
    last_batch = int(state.get("screened_batch", 0))
    top_batch = int(_scalar(con, t.batch.max()))
    as_of = as_of if as_of is not None else int(_scalar(con, t.epoch_s.max()))
    senders = None
    if incremental:
        senders = t.filter(t.batch > last_batch).select("sender_id").distinct()
    if progress:
        progress("rules")
    table = decisions(rule_values(t, rs, as_of, senders=senders), rs)
    values = _rows(con, table)
    sql = rule_sql(t, rs, as_of, dialect(con))
    alerts = []
    for row in (v for v in values if v["alert"]):
        rules = [
            RuleHit(
                id=r.id,
                label=r.label,
                value=None if _isnull(row.get(r.id)) else float(row[r.id]),
                threshold=r.threshold,
                fired=bool(row[f"f_{r.id}"]),
                weight=r.weight,
                source=r.source,
                window_days=r.window_days,
                sql=sql[r.id],
            )
            for r in rs.rules
        ]
        combos = [c.id for c in rs.combinations if bool(row[f"c_{c.id}"])]
        alerts.append(
            Alert(
                sender_id=str(row["sender_id"]),
                sender_name="",
                score=float(row["score"]),
                combinations=combos,
                rules=rules,
                window_start=as_of - rs.window_days * DAY,
                window_end=as_of,
                engine=name,
            )
        )
    if progress:
        progress("beneficiaries")
    _add_parties(con, t, rs, as_of, alerts)
    alerts.sort(key=lambda a: (-a.score, a.sender_id))
    if save_state:
        state["screened_batch"] = max(last_batch, top_batch)
        store.save_state(state)
    return ScreenResult(
        alerts=alerts,
        screened_senders=len(values),
        as_of=as_of,
        engine=name,
        seconds=time.perf_counter() - started,
        incremental=incremental,
        values=values if keep_values else None,
        screened_ids=[str(v["sender_id"]) for v in values],
    )


def _isnull(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _add_parties(con: Any, t: ir.Table, rs: RuleSet, as_of: int, alerts: list[Alert]) -> None:
    """Sender names and each alert's beneficiaries in the window, with how many other senders pay them."""
    if not alerts:
        return
    ids_ = [a.sender_id for a in alerts]
    w = _base(t, rs, as_of - rs.window_days * DAY, as_of)
    mine = w.filter(w.sender_id.isin(ids_))
    names = _rows(con, mine.group_by("sender_id").aggregate(name=mine.sender_name.max()))
    by_name = {r["sender_id"]: r["name"] for r in names}
    bens = mine.group_by(["sender_id", "beneficiary_id"]).aggregate(
        name=mine.beneficiary_name.max(),
        country=mine.beneficiary_country.max(),
        payments=mine.count(),
        amount_eur=mine.amount_eur.sum().round(2),
    )
    others = (
        w.filter(w.beneficiary_id.isin(bens.beneficiary_id))
        .group_by("beneficiary_id")
        .aggregate(senders=w.sender_id.nunique())
    )
    j = bens.left_join(others, "beneficiary_id").select(bens, "senders")
    rows = _rows(con, j.order_by(["sender_id", ibis.desc("payments"), "beneficiary_id"]))
    per: dict[str, list[Beneficiary]] = {}
    for r in rows:
        per.setdefault(str(r["sender_id"]), []).append(
            Beneficiary(
                beneficiary_id=str(r["beneficiary_id"]),
                name=str(r["name"] or ""),
                country=str(r["country"] or ""),
                payments=int(r["payments"]),
                amount_eur=0.0 if _isnull(r["amount_eur"]) else float(r["amount_eur"]),
                other_senders=max(0, int(r["senders"] or 1) - 1),
            )
        )
    refs: dict[str, list[str]] = {}
    with_ref = mine.filter(mine.reference != "").select("sender_id", "reference").distinct()
    for r in _rows(con, with_ref.order_by(["sender_id", "reference"])):
        refs.setdefault(str(r["sender_id"]), []).append(str(r["reference"]))
    for a in alerts:
        a.sender_name = str(by_name.get(a.sender_id) or "")
        a.beneficiaries = per.get(a.sender_id, [])
        a.references = refs.get(a.sender_id, [])[:50]
