"""Batch jobs as Ibis expressions, run on DuckDB (default) or Spark over a snapshot of the tables."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ibis
from ibis import BaseBackend
from ibis.expr.types import Table

from tipline.batch.snapshot import take
from tipline.settings import Settings
from tipline.store import Database

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")


@dataclass(frozen=True)
class Job:
    """A batch job: the tables it reads and the Ibis expression over them that gives its rows."""

    name: str
    description: str
    tables: tuple[str, ...]
    build: Callable[[Mapping[str, Table]], Table]
    order_by: tuple[str, ...]  # the rows come back in this order (engines order differently otherwise)


def _identifier_degrees(t: Mapping[str, Table]) -> Table:
    """Per identifier kind: how many identifiers, how many link two reports or more, the most reports one
    identifier is named in (the degree distribution the over-correlation guard derives its limits from)."""
    m, e = t["mentions"], t["entities"]
    per = m.group_by(m.entity_id).aggregate(reports=m.report_id.nunique())
    joined = per.join(e, per.entity_id == e.id)
    return joined.group_by(kind=joined.kind).aggregate(
        identifiers=joined.entity_id.count(),
        linking=(joined.reports >= 2).sum(),
        max_reports=joined.reports.max(),
    )


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "identifier-degrees",
            "Per identifier kind: identifiers, those that link two reports or more, the largest degree.",
            ("mentions", "entities"),
            _identifier_degrees,
            ("kind",),
        ),
    )
}


def connect(engine: Engine, settings: Settings) -> BaseBackend:
    """An Ibis connection to ``engine``: DuckDB in this process, or Spark at ``settings.spark_master``."""
    if engine == "duckdb":
        return ibis.duckdb.connect()
    if engine == "spark":
        from pyspark.sql import SparkSession  # only when Spark is asked for: it starts a JVM

        session = (
            SparkSession.builder.master(settings.spark_master)
            .appName("tipline-batch")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        return ibis.pyspark.connect(session)
    raise ValueError(f"unknown batch engine {engine!r}: use one of {', '.join(ENGINES)}")


def run(db: Database, job: Job, *, engine: Engine | None = None, workdir: Path | None = None) -> list[dict[str, Any]]:
    """Snapshot the job's tables, run it on ``engine`` (default: ``settings.batch_engine``), return its rows."""
    chosen: Engine = engine or db.settings.batch_engine
    with tempfile.TemporaryDirectory(dir=workdir, prefix="tipline-batch-") as tmp:
        snap = take(db, job.tables, Path(tmp))
        con = connect(chosen, db.settings)
        tables = {name: con.read_parquet(str(path), table_name=f"tipline_{name}") for name, path in snap.tables.items()}
        expr = job.build(tables).order_by(list(job.order_by))
        if chosen == "spark":
            # Ibis compiles the job to Spark SQL; the rows come back through Spark itself (Ibis would go
            # through pandas, which this Spark cannot convert from with pandas 3)
            session = con._session
            return [row.asDict() for row in session.sql(con.compile(expr)).collect()]
        rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
        con.disconnect()
        return rows
