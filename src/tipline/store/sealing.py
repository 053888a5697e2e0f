"""The flush hook that binds every sealed value to its row (and seals it under the installation's key).

AES-GCM's associated data of a sealed database value names its table, column and row (see
``tipline.crypto``), so the row's primary key must be known before the INSERT: rows of tables with
sealed columns get their id from the database before the flush (PostgreSQL: the column's sequence;
SQLite: one more than the largest id in the table or ever used there (``sqlite_sequence``: tables with ids
have AUTOINCREMENT since migration 0018, so a deleted row's id is never given again), safe because SQLite
writers hold the write lock from ``BEGIN IMMEDIATE``). Each new or changed sealed attribute is then handed
to the column type as a :class:`~tipline.store.types.Sealing` (value, row, key); after the flush the objects
hold plain values again.

The master key to seal with is read once per transaction from ``master_keys`` (``key_for_session``): the
key rotation state lives in the database, so every process switches to a new key at its next transaction,
and a rotation that changes the state waits for transactions sealing under the old one (PostgreSQL: a
shared/exclusive advisory lock; SQLite: the write lock every writer holds).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Column, Table, event, func, inspect, select, text
from sqlalchemy.orm import Mapper, Session, attributes

from tipline.crypto import KeyError_, Keyring
from tipline.settings import private_dir
from tipline.store.types import SealedText, Sealing

_PENDING = "tipline.sealing.pending"
_CHOOSE = "tipline.sealing.choose"


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
        explicit = [getattr(o, key) for o in new if type(o) is mapper.class_ and getattr(o, key) is not None]
        for obj, new_id in zip(objs, _new_ids(conn, pk, len(objs), explicit), strict=True):
            setattr(obj, key, new_id)


def _new_ids(conn: Any, pk: Column[Any], n: int, taken: list[int]) -> list[int]:
    """``n`` primary keys for new rows of ``pk``'s table, none of them in ``taken`` (ids already given to
    rows of this flush)."""
    if conn.dialect.name == "postgresql":
        return [
            int(i)
            for i in conn.execute(
                text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)"),
                {"t": pk.table.fullname, "c": pk.name, "n": n},
            ).scalars()
        ]
    top = conn.execute(select(func.max(pk))).scalar() or 0
    # the largest id ever used (AUTOINCREMENT, migration 0018): a deleted row's id is not given again
    used = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": pk.table.name}).scalar()
    start = max([top, int(used or 0), *taken]) + 1
    return list(range(start, start + n))


def seal_new_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Make ``rows`` (column name -> value) ready for one Core ``INSERT`` (executemany) into ``table``, a
    table with sealed columns, in ``session``'s transaction: each row gets its primary key now and each of
    its sealed values becomes a :class:`Sealing` bound to that row, a missing one its column's default (what
    the flush hook does for ORM objects). Used where many rows are written at once (intake): the ORM's
    unit of work costs more than the write itself there. Returns the rows' ids. Insert the rows before
    asking for more of the same table: on SQLite the next id is read from the table (under the write lock
    the session holds)."""
    if not rows:
        return []
    pk = table.primary_key.columns.values()[0]
    sealed = [c for c in table.columns if isinstance(c.type, SealedText)]
    ids = _new_ids(session.connection(), pk, len(rows), [])
    key = session.info[_CHOOSE](session)
    for row, row_id in zip(rows, ids, strict=True):
        row[pk.name] = row_id
        for col in sealed:
            value = row.get(col.name)
            if value is None:
                value = _default(col)
            row[col.name] = None if value is None else Sealing(value, str(row_id), key)
    return ids


def _default(col: Column[Any]) -> Any:
    d = col.default
    if d is None or not getattr(d, "is_scalar", False) and not getattr(d, "is_callable", False):
        return None
    return d.arg(None) if d.is_callable else d.arg  # type: ignore[attr-defined]


def _to_seal(state: Any, attr: str, col: Column[Any], *, is_new: bool) -> Any:
    """The value of a sealed attribute that this flush writes (None: nothing to seal)."""
    if is_new:
        value = state.dict.get(attr)
        return _default(col) if value is None else value
    hist = state.attrs[attr].history
    return hist.added[0] if hist.added else None


def install(session_factory: Any, key_for_session: Callable[[Session], str | None]) -> None:
    """Bind sealed values to their rows in every session ``session_factory`` makes."""
    # the key chooser, for Core INSERTs of sealed rows (seal_new_rows) in these sessions
    session_factory.configure(info={**session_factory.kw.get("info", {}), _CHOOSE: key_for_session})

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
        for n, obj in enumerate([*new, *dirty]):
            is_new = n < len(new)  # not `obj in session.new`: that builds the whole set again for each object
            state = inspect(obj)
            row = str(state.identity[0]) if state.identity else None
            if row is None:
                row = str(getattr(obj, state.mapper.get_property_by_column(_pk_column(state.mapper)).key))
            for attr, col in _sealed_attrs(state.mapper):
                value = _to_seal(state, attr, col, is_new=is_new)
                if value is None:
                    continue
                if isinstance(value, Sealing):
                    value = value.value
                if not asked:
                    key, asked = key_for_session(session), True
                setattr(obj, attr, Sealing(value, row, key))
                pending.append((obj, attr, value))
        session.info[_PENDING] = pending

    @event.listens_for(session_factory, "after_transaction_end")
    def _forget_key(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            session.info.pop(_KEY, None)  # the next transaction reads the key state again

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

    from tipline.crypto import keyring_for

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


# ------------------------------------------------------------------------------------------ which key seals

# PostgreSQL advisory lock taken shared by every transaction that seals (until it ends) and exclusively by
# a change of the key state, so a rotation waits for values being sealed under the old state to commit.
# SQLite needs none: writers hold the database's write lock from BEGIN IMMEDIATE; media writers, which
# seal outside a transaction, take a file lock in the keys folder instead (``media_seal_lock``).
KEY_STATE_LOCK = 0x746C6B73  # "tlks"
_KEY = "tipline.sealing.key"


def key_state(conn: Any) -> tuple[str | None, set[str]]:
    """The active master key id recorded by the last rotation (None before the first) and the retired ids."""
    rows = conn.execute(text("SELECT key_id, state FROM master_keys")).all()
    active = next((k for k, st in rows if st == "active"), None)
    return active, {k for k, st in rows if st == "retired"}


def choose_key(ring: Keyring, active: str | None, retired: set[str]) -> str:
    """The master key this process seals with: the active one when it has it (a new key file is loaded
    here), else its own current key if that is not retired (its heartbeat then shows it, and
    ``tipline keys rotate --retire`` waits for it); never a retired key."""
    if active is not None and ring.has(active):
        return active
    if ring.current_id not in retired:
        return ring.current_id
    raise KeyError_(
        f"this process's master key {ring.current_id} was retired and it does not have the active key "
        f"{active}: copy the active key file into its data folder's keys/ (or set TIPLINE_MASTER_KEY to it) "
        "and restart it"
    )


def lock_shared(conn: Any) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": KEY_STATE_LOCK})


def key_for_session(ring: Callable[[], Keyring]) -> Callable[[Session], str | None]:
    """The sealing key of a write transaction, read from the database once per transaction."""

    def choose(session: Session) -> str:
        kid = session.info.get(_KEY)
        if kid is None:
            conn = session.connection()
            lock_shared(conn)
            kid = session.info[_KEY] = choose_key(ring(), *key_state(conn))
        return kid

    return choose


@contextlib.contextmanager
def media_seal_lock(db: Any, *, shared: bool) -> Iterator[None]:
    """SQLite installations: a file lock in the keys folder, held shared while a media file is sealed and
    written, exclusively while the key state changes (PostgreSQL uses its advisory lock for both)."""
    if not db.is_sqlite:
        yield
        return
    keys_dir = private_dir(db.settings.data_dir / "keys")
    fd = os.open(keys_dir / ".rotation.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def sealing_key(db: Any) -> Iterator[str]:
    """The master key to seal something outside a write session with (a media file); a change of the key
    state waits until the block ends."""
    with media_seal_lock(db, shared=True), db.engine.connect() as conn, conn.begin():
        lock_shared(conn)
        yield choose_key(db.keyring, *key_state(conn))
