"""Rows a transaction's step inserts when the step ends, with its last write, not when they are known.

An analysis writes a few rows of derived data after scoring (the report's network, its jurisdiction
candidates, the links to the URLs it names), each an INSERT of its own, each a round trip and on
PostgreSQL a statement's work in both processes. Inside :func:`held`, :func:`insert_later` keeps them; the
step then takes them with :func:`take_held` and writes them with its last statement: on PostgreSQL each
table's rows as one ``INSERT ... SELECT unnest(...)`` of arrays (one array a column: one statement text for
any number of rows), in the ``WITH`` of that statement (:func:`~tipline.store.search.index_report`'s
``along``); elsewhere as one executemany INSERT a table. Outside :func:`held`, :func:`insert_later` inserts
at once.

Nothing in the step may read these rows before it ends; a failed step drops what it held.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, Column, ColumnDefault, Table, bindparam, func, insert, select
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import Text

_HELD = "store.inserts_held"


@contextlib.contextmanager
def held(s: Session) -> Iterator[None]:
    """Hold :func:`insert_later`'s rows in ``s`` until :func:`take_held` (or the end of the block, which drops
    what was not taken: the step failed)."""
    s.info[_HELD] = {}
    try:
        yield
    finally:
        s.info.pop(_HELD, None)


def insert_later(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (every row with the same keys) into ``table``: held inside :func:`held`, else now."""
    if not rows:
        return
    waiting: dict[Table, list[dict[str, Any]]] | None = s.info.get(_HELD)
    if waiting is None:
        s.execute(insert(table), rows)
        return
    waiting.setdefault(table, []).extend(rows)


def take_held(s: Session) -> tuple[tuple[Insert, ...], dict[str, Any]]:
    """What :func:`insert_later` held, now taken: on PostgreSQL the INSERTs of the held tables (built once for
    each table and set of columns) and their parameters, to run in one statement's ``WITH``; elsewhere they
    are inserted here (one executemany a table) and nothing is returned."""
    waiting: dict[Table, list[dict[str, Any]]] = s.info.get(_HELD) or {}
    s.info[_HELD] = {}
    for table, rows in waiting.items():
        if any(r.keys() != rows[0].keys() for r in rows):
            raise ValueError(f"rows held for {table.name} differ in their columns")
    if s.get_bind().dialect.name != "postgresql":
        for table, rows in waiting.items():
            s.execute(insert(table), rows)
        return (), {}
    statements: list[Insert] = []
    params: dict[str, Any] = {}
    for table, rows in sorted(waiting.items(), key=lambda tr: tr[0].name):
        given = tuple(rows[0])
        # a column's Python-side default, which SQLAlchemy applies to an INSERT run alone and not to one in a
        # WITH (a callable one called once for the rows, as for an INSERT ... SELECT)
        defaults = {c.name: _default(c) for c in table.columns if c.name not in given}
        defaults = {c: v for c, v in defaults.items() if v is not _NONE}
        columns = given + tuple(defaults)
        statements.append(_from_arrays(table, columns))
        for c in columns:
            values = [defaults[c]] * len(rows) if c in defaults else [r[c] for r in rows]
            if isinstance(table.c[c].type, JSON):
                values = [None if v is None else json.dumps(v) for v in values]
            params[_name(table, c)] = values
    return tuple(statements), params


_NONE = object()


def _default(column: Column[Any]) -> Any:
    d = column.default
    if d is None or not isinstance(d, ColumnDefault) or not (d.is_scalar or d.is_callable):
        return _NONE
    return d.arg(None) if d.is_callable else d.arg  # a callable default is wrapped to take a context


def _name(table: Table, column: str) -> str:
    return f"{table.name}__{column}"


@functools.cache
def _from_arrays(table: Table, columns: tuple[str, ...]) -> Insert:
    """``INSERT INTO table (columns) SELECT unnest(:table__column), ...``: JSON columns passed as texts."""
    parts = []
    for c in columns:
        col = table.c[c]
        if isinstance(col.type, JSON):
            arr = func.unnest(bindparam(_name(table, c), type_=ARRAY(Text())))
            parts.append(sa_cast(arr, col.type).label(c))
        else:
            parts.append(func.unnest(bindparam(_name(table, c), type_=ARRAY(col.type))).label(c))
    return insert(table).from_select(list(columns), select(*parts))
