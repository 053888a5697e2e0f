"""Copy tables of the transactional database into Parquet files, in chunks (for batch jobs)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Integer, Table, select

from tipline.store import Database
from tipline.store.models import Base
from tipline.store.types import SealedText

CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    tables: dict[str, Path]  # table name -> its Parquet file
    rows: dict[str, int]


def _columns(table: Table) -> list[Column[Any]]:
    """The columns a job may read: every one but the sealed ones (ciphertext, and not for batch jobs)."""
    return [c for c in table.columns if not isinstance(c.type, SealedText)]


def _arrow_type(col: Column[Any]) -> pa.DataType:
    t = col.type
    impl = getattr(t, "impl", t)  # TypeDecorators (UTC datetimes) by what they store
    if isinstance(impl, Boolean):
        return pa.bool_()
    if isinstance(impl, Integer):
        return pa.int64()
    if isinstance(impl, Float):
        return pa.float64()
    if isinstance(impl, DateTime):
        return pa.timestamp("us", tz="UTC")
    return pa.string()  # strings, and JSON as its text


def _cell(value: Any, col: Column[Any]) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(col.type, JSON) and value is not None else value


def take(db: Database, names: Iterable[str], folder: Path) -> Snapshot:
    """Write ``names`` (table names) to ``folder/<table>.parquet``, reading ``CHUNK_ROWS`` rows at a time
    in one read transaction (a consistent copy on PostgreSQL; SQLite's WAL gives the same)."""
    db.require_capabilities()  # every capability's tables are mapped
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    counts: dict[str, int] = {}
    with db.reader() as s:
        for name in names:
            table = Base.metadata.tables.get(name)
            if table is None:
                raise KeyError(f"no table {name!r}; known: {', '.join(sorted(Base.metadata.tables))}")
            cols = _columns(table)
            schema = pa.schema([(c.name, _arrow_type(c)) for c in cols])
            path = folder / f"{name}.parquet"
            n = 0
            with pq.ParquetWriter(path, schema) as writer:
                result = s.execute(select(*cols)).yield_per(CHUNK_ROWS)
                for part in result.partitions():
                    rows = [{c.name: _cell(v, c) for c, v in zip(cols, row, strict=True)} for row in part]
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    n += len(rows)
            files[name], counts[name] = path, n
    return Snapshot(folder, files, counts)
