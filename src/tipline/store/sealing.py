"""The flush hook that binds every sealed value to its row (and seals it under the installation's key).

AES-GCM's associated data of a sealed database value names its table, column and row (see
``tipline.protect.crypto``), so the row's primary key must be known before the INSERT: rows of tables with
sealed columns get their id from the database before the flush (PostgreSQL: the column's sequence;
SQLite: one more than the largest id, safe because SQLite writers hold the write lock from ``BEGIN
IMMEDIATE``). Each new or changed sealed attribute is then handed to the column type as a
:class:`~tipline.store.types.Sealing` (value, row, key); after the flush the objects hold plain values again.

The master key to seal with is asked of ``key_for_session`` once per transaction (the key rotation state
lives in the database, so every process switches to a new key at its next transaction).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Column, event, func, inspect, select, text
from sqlalchemy.orm import Mapper, Session, attributes

from tipline.store.types import SealedText, Sealing

_PENDING = "tipline.sealing.pending"


@functools.cache
def _sealed_attrs(mapper: Mapper[Any]) -> tuple[tuple[str, Column[Any]], ...]:
    """(attribute key, column) of every sealed column of a mapped class."""
    out = []
    for prop in mapper.column_attrs:
        for col in prop.columns:
            if isinstance(col, Column) and isinstance(col.type, SealedText):
                out.append((prop.key, col))
    return tuple(out)


def _pk_column(mapper: Mapper[Any]) -> Column[Any]:
    pks = mapper.primary_key
    if len(pks) != 1:
        raise RuntimeError(f"{mapper.class_.__name__}: sealed columns need a table with a one-column primary key")
    return pks[0]  # type: ignore[return-value]


def _allocate_ids(session: Session, new: list[Any]) -> None:
    """Give every new row of a table with sealed columns its primary key now (the seal binds it)."""
    by_mapper: dict[Mapper[Any], list[Any]] = {}
    for obj in new:
        mapper = inspect(obj).mapper
        pk = _pk_column(mapper)
        if getattr(obj, mapper.get_property_by_column(pk).key) is None:
            by_mapper.setdefault(mapper, []).append(obj)
    if not by_mapper:
        return
    conn = session.connection()
    for mapper, objs in by_mapper.items():
        pk = _pk_column(mapper)
        key = mapper.get_property_by_column(pk).key
        ids: Iterator[int]
        if conn.dialect.name == "postgresql":
            ids = iter(
                conn.execute(
                    text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)"),
                    {"t": pk.table.fullname, "c": pk.name, "n": len(objs)},  # type: ignore[attr-defined]
                ).scalars()
            )
        else:
            top = conn.execute(select(func.max(pk))).scalar() or 0
            explicit = [getattr(o, key) for o in new if type(o) is mapper.class_ and getattr(o, key) is not None]
            start = max([top, *explicit]) + 1
            ids = iter(range(start, start + len(objs)))
        for obj, new_id in zip(objs, ids, strict=False):
            setattr(obj, key, int(new_id))


def _default(col: Column[Any]) -> Any:
    d = col.default
    if d is None or not getattr(d, "is_scalar", False) and not getattr(d, "is_callable", False):
        return None
    return d.arg(None) if d.is_callable else d.arg  # type: ignore[attr-defined,operator]


def install(session_factory: Any, key_for_session: Callable[[Session], str | None]) -> None:
    """Bind sealed values to their rows in every session ``session_factory`` makes."""

    @event.listens_for(session_factory, "before_flush")
    def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        new = [o for o in session.new if _sealed_attrs(inspect(o).mapper)]
        dirty = [o for o in session.dirty if _sealed_attrs(inspect(o).mapper)]
        if not new and not dirty:
            return
        _allocate_ids(session, new)
        pending: list[tuple[Any, str, Any]] = []
        key: str | None = None
        asked = False
        for obj in [*new, *dirty]:
            state = inspect(obj)
            row = str(state.identity[0]) if state.identity else None
            if row is None:
                row = str(getattr(obj, state.mapper.get_property_by_column(_pk_column(state.mapper)).key))
            for attr, col in _sealed_attrs(state.mapper):
                if obj in session.new:
                    value = state.dict.get(attr)
                    if value is None:
                        value = _default(col)
                    if value is None:
                        continue
                else:
                    hist = state.attrs[attr].history
                    if not hist.added or hist.added[0] is None:
                        continue
                    value = hist.added[0]
                if isinstance(value, Sealing):
                    value = value.value
                if not asked:
                    key, asked = key_for_session(session), True
                setattr(obj, attr, Sealing(value, row, key))
                pending.append((obj, attr, value))
        session.info[_PENDING] = pending

    @event.listens_for(session_factory, "after_flush_postexec")
    def _after_flush(session: Session, _ctx: Any) -> None:
        for obj, attr, value in session.info.pop(_PENDING, []):
            attributes.set_committed_value(obj, attr, value)


# ------------------------------------------------------------------------------------------ migrations


def reseal_column(
    conn: Any,
    table: str,
    column: str,
    context: str,
    *,
    reseal: Callable[[Any, bytes | None, Any], bytes | None],
    pk: str = "id",
    batch: int = 500,
) -> int:
    """Rewrite every value of ``table.column`` as ``reseal(keyring, value, row_id)`` (used by migrations that
    bind older values to their rows or seal plaintext columns); returns how many rows changed.

    The keyring is the one ``tipline.store.Database`` registered for this connection's engine: migrations
    that touch sealed data run through ``Database.migrate()`` (``tipline migrate``, or any start)."""
    from sqlalchemy import column as col_
    from sqlalchemy import table as table_

    from tipline.protect.crypto import keyring_for

    t = table_(table, col_(pk), col_(column))
    changed, last = 0, None
    ring = None
    while True:
        q = select(t.c[pk], t.c[column]).where(t.c[column].isnot(None)).order_by(t.c[pk]).limit(batch)
        if last is not None:
            q = q.where(t.c[pk] > last)
        rows = conn.execute(q).all()
        if not rows:
            return changed
        if ring is None:
            try:
                ring = keyring_for(conn.dialect)
            except RuntimeError:
                raise RuntimeError(
                    f"re-sealing {table}.{column} needs the master keys: run `tipline migrate` (or start tipline) "
                    "instead of alembic directly"
                ) from None
        for row_id, value in rows:
            fresh = reseal(ring, value, row_id)
            if fresh is not None:
                conn.execute(t.update().where(t.c[pk] == row_id).values({column: fresh}))
                changed += 1
        last = rows[-1][0]
