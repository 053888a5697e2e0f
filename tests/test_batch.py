"""Batch jobs over a snapshot of the tables: the same job gives the same rows on DuckDB and on Spark, and
both agree with the transactional database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from helpers import run as cli
from tipline.batch import snapshot
from tipline.batch.jobs import JOBS, run
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn
from tipline.store import Database
from tipline.store.models import Entity, Mention

TEXTS = [
    "call 0917 814 2637 for the girls",
    "same number 09178142637, and sunset@example.com",
    "write to sunset@example.com or 0918 555 0199",
    "nothing shared here",
]


def _fill(db: Database) -> None:
    for text in TEXTS:
        payload = {"category": "trafficking_advertisement", "text": text, "language": "en", "country": "PH"}
        intake.submit_report(db, PublicReportIn(**payload).to_report())


def _truth(db: Database) -> list[dict[str, object]]:
    """The same figures straight from the transactional database, in SQL."""
    with db.reader() as s:
        per = (
            select(Mention.entity_id, func.count(func.distinct(Mention.report_id)).label("n"))
            .group_by(Mention.entity_id)
            .subquery()
        )
        q = (
            select(Entity.kind, func.count(), func.sum((per.c.n >= 2).cast(Entity.id.type)), func.max(per.c.n))
            .join(per, per.c.entity_id == Entity.id)
            .group_by(Entity.kind)
            .order_by(Entity.kind)
        )
        return [{"kind": k, "identifiers": a, "linking": int(b), "max_reports": c} for k, a, b, c in s.execute(q)]


def test_snapshot_leaves_sealed_columns_out(sqlite_db: Database, tmp_path: Path) -> None:
    _fill(sqlite_db)
    snap = snapshot.take(sqlite_db, ["reports", "mentions"], tmp_path)
    cols = pq.read_schema(snap.tables["reports"]).names
    assert "id" in cols and "text" not in cols and "contact_sealed" not in cols  # ciphertext stays home
    assert snap.rows["reports"] == len(TEXTS)
    with pytest.raises(KeyError, match="no table 'nope'"):
        snapshot.take(sqlite_db, ["nope"], tmp_path)


def test_duckdb_job_agrees_with_the_database(db: Database) -> None:
    _fill(db)
    rows = run(db, JOBS["identifier-degrees"], engine="duckdb")
    assert rows == _truth(db)
    assert {"kind": "phone", "identifiers": 2, "linking": 1, "max_reports": 2} in rows


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """One Spark (local, one JVM) for the whole test session: starting it costs seconds."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("tipline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.slow
def test_spark_gives_the_same_rows_as_duckdb(sqlite_db: Database, spark_session: object) -> None:
    _fill(sqlite_db)
    job = JOBS["identifier-degrees"]
    assert run(sqlite_db, job, engine="spark") == run(sqlite_db, job, engine="duckdb") == _truth(sqlite_db)


def test_cli_runs_a_job_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert "identifier-degrees" in cli(["batch", "list"], data).stdout
    assert json.loads(cli(["batch", "run", "identifier-degrees", "--json"], data).stdout) == []
    bad = cli(["batch", "run", "nope"], data, check=False)
    assert bad.returncode == 1 and "tipline batch list" in bad.stderr
    bad = cli(["batch", "run", "identifier-degrees", "--engine", "hive"], data, check=False)
    assert bad.returncode == 1 and "duckdb or spark" in bad.stderr
