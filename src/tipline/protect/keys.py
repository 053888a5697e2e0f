"""Master-key rotation that loses nothing while serving, across several processes.

How a running process switches keys: the active master key id is recorded in the database
(``master_keys``); every write transaction that seals reads it once (``tipline.store.sealing``), loads a
new key file when it meets an id it lacks, and seals under the active key. A process that cannot get the
active key (keys from its environment, or a host the new key file was not copied to) keeps sealing with
its own current key, and says so in its heartbeat (``sealing_processes``, written by every ``tipline
serve`` every ``TIPLINE_KEY_HEARTBEAT_SECONDS``).

``tipline keys rotate``: a new key file (or ``TIPLINE_MASTER_KEY`` as now set) becomes the active key; every
sealed value's and media file's data key is re-wrapped under it (ciphertexts, and so their row binding, are
not touched; one short transaction per batch; a value changed meanwhile is left for the next pass). Older
keys stay readable.

``--retire`` then retires every older key, and refuses, saying what to do, while

- a live process still seals with an older key (it waits up to two heartbeats for processes to switch);
- any value or media file is still sealed under an older key after the key was marked retired (marking it
  waits for every transaction sealing under the old state to end, so nothing sealed under it can appear
  later; a process whose only key is retired refuses to seal instead).

Only then are the old key files deleted (file keys), or may the old keys be dropped from
``TIPLINE_PREVIOUS_MASTER_KEYS`` (environment keys: set ``TIPLINE_MASTER_KEY`` to the new key and
``TIPLINE_PREVIOUS_MASTER_KEYS`` to the old one(s) for every process, restart them, run ``tipline keys
rotate --retire``, then drop the old keys).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import LargeBinary, Table, delete, func, literal, select, text, type_coerce, update

from tipline.capability import Capability
from tipline.crypto import KeyError_, Keyring, key_id, new_master_key_file
from tipline.store import Database, sealing
from tipline.store.models import Base, MasterKeyState, SealingProcess
from tipline.store.types import SealedText

log = logging.getLogger("tipline")


class RetireRefused(RuntimeError):
    """``--retire`` found an older key still in use; the message says by what and what to do."""


def sealed_columns(capabilities: tuple[Capability, ...]) -> Iterator[tuple[Table, str]]:
    """Every (table, column) whose type is SealedText: in the core tables and in the models each of
    ``capabilities`` declares."""
    modules = {"tipline.store.models"} | {m.__name__ for cap in capabilities for m in cap.models}
    tables = {m.local_table for m in Base.registry.mappers if m.class_.__module__ in modules}
    for table in Base.metadata.sorted_tables:
        if table not in tables:
            continue
        for col in table.columns:
            if isinstance(col.type, SealedText):
                yield table, col.name


@dataclass
class RotationResult:
    new_key_id: str
    rewrapped: int = 0
    by_column: dict[str, int] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    still_used: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ key state


def set_key_state(db: Database, active: str, retired: set[str]) -> None:
    """Record the active and retired master keys; waits for every transaction (and media write) sealing
    under the previous state to end, so none can commit a value under a key retired here."""
    # the database's write lock first, then the media lock: a writer never waits for the media lock
    with db.session() as s, sealing.media_seal_lock(db, shared=False):
        conn = s.connection()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": sealing.KEY_STATE_LOCK})
        s.execute(delete(MasterKeyState))
        now = datetime.now(UTC)
        s.add(MasterKeyState(key_id=active, state="active", changed_at=now))
        for kid in sorted(retired - {active}):
            s.add(MasterKeyState(key_id=kid, state="retired", changed_at=now))


def key_state(db: Database) -> tuple[str | None, set[str]]:
    with db.reader() as s:
        return sealing.key_state(s.connection())


# ------------------------------------------------------------------------------------------ heartbeats


def process_id() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def heartbeat(db: Database, proc: str, interval_s: float) -> str:
    """Record that process ``proc`` is alive and which master key it seals with now; returns that key id."""
    now = datetime.now(UTC)
    with db.session() as s:
        conn = s.connection()
        sealing.lock_shared(conn)
        try:
            kid = sealing.choose_key(db.keyring, *sealing.key_state(conn))
        except KeyError_:
            kid = "-"  # it refuses to seal: nothing to wait for
        row = s.get(SealingProcess, proc)
        if row is None:
            host, pid, _ = proc.rsplit(":", 2)
            row = SealingProcess(id=proc, host=host, pid=int(pid), started_at=now)
            s.add(row)
        row.key_id, row.seen_at = kid, now
        row.expires_at = now + timedelta(seconds=max(3 * interval_s, interval_s + 5))
    return kid


def end_heartbeat(db: Database, proc: str) -> None:
    with db.session() as s:
        s.execute(delete(SealingProcess).where(SealingProcess.id == proc))


class Heartbeat:
    """This process's master-key heartbeat, beaten by a thread of its own: the first beat when it starts (a
    rotation sees the process from then on), then every ``key_heartbeat_seconds``; ``stop`` removes the
    row (a clean stop leaves nothing for a rotation to wait for). Every process that seals has one: each
    ``tipline serve`` process, and each ``tipline worker`` (an analysis may rewrite a report's sealed
    details). A beat that fails is logged and the next one retries."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.proc = process_id()
        self.every = db.settings.key_heartbeat_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="tipline-key-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        heartbeat(self.db, self.proc, self.every)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                heartbeat(self.db, self.proc, self.every)
            except Exception:  # noqa: BLE001 - keep serving or analysing; the next beat retries
                log.exception("master-key heartbeat failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)  # a beat in flight ends first (else the row it writes expires on its own)
        try:
            end_heartbeat(self.db, self.proc)
        except Exception:  # noqa: BLE001 - the heartbeat expires on its own
            log.exception("could not remove this process's master-key heartbeat")

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def live_processes(db: Database) -> list[SealingProcess]:
    with db.reader() as s:
        return list(
            s.scalars(select(SealingProcess).where(SealingProcess.expires_at > datetime.now(UTC)).order_by("id"))
        )


# ------------------------------------------------------------------------------------------ rotation


def _rewrap(
    db: Database, ring: Keyring, result: RotationResult, batch: int, progress: Callable[[int], None] | None
) -> None:
    for table, colname in sealed_columns(db.require_capabilities()):
        col = table.c[colname]
        pk = next(iter(table.primary_key.columns))
        last = None
        while True:
            with db.session() as s:
                # raw bytes (type_coerce: nothing is decrypted here, and nothing sealed twice on write)
                raw = type_coerce(col, LargeBinary)
                q = select(pk, raw).where(col.isnot(None)).order_by(pk).limit(batch)
                if last is not None:
                    q = q.where(pk > last)
                rows = s.execute(q).all()
                if not rows:
                    break
                for key, blob in rows:
                    blob = bytes(blob)
                    try:
                        fresh = ring.rewrap(blob)
                    except KeyError_:
                        continue  # under a key not configured here: usage() counts it, --retire refuses
                    if fresh != blob:
                        # only if unchanged since read: a value a server rewrote meanwhile is not put back
                        res = s.execute(
                            update(table)
                            .where(pk == key, raw == literal(blob, LargeBinary))
                            .values({colname: literal(fresh, LargeBinary)})
                        )
                        if res.rowcount:  # type: ignore[attr-defined]
                            result.rewrapped += 1
                            name = f"{table.name}.{colname}"
                            result.by_column[name] = result.by_column.get(name, 0) + 1
                last = rows[-1][0]
            if progress:
                progress(len(rows))
    for cap in db.require_capabilities():
        if cap.sealed_files is not None:
            n = cap.sealed_files.rewrap(db)
            result.by_column[f"{cap.name} files"] = result.by_column.get(f"{cap.name} files", 0) + n
            result.rewrapped += n


def _wait_for_processes(db: Database, active: str, wait_s: float) -> list[SealingProcess]:
    deadline = time.monotonic() + wait_s
    while True:
        stale = [p for p in live_processes(db) if p.key_id not in (active, "-")]
        if not stale or time.monotonic() >= deadline:
            return stale
        time.sleep(0.25)


def rotate(
    db: Database,
    *,
    new_key_file: bool = True,
    retire: bool = False,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
    wait_s: float | None = None,
) -> RotationResult:
    st = db.settings
    if new_key_file and not st.master_key:
        new_master_key_file(st.data_dir)
        db.__dict__.pop("keyring", None)  # rebuild from the files
    ring = db.keyring
    new = ring.current_id
    _, was_retired = key_state(db)
    set_key_state(db, new, was_retired)  # every process seals with the new key from its next transaction
    result = RotationResult(new)
    _rewrap(db, ring, result, batch, progress)
    result.still_used = usage(db)
    if not retire:
        return result
    old = (set(ring.ids) | set(result.still_used)) - {new}
    wait = wait_s if wait_s is not None else 2 * st.key_heartbeat_seconds + 2
    stale = _wait_for_processes(db, new, wait)
    if stale:
        now = datetime.now(UTC)
        who = "; ".join(
            f"{p.host} pid {p.pid} seals with {p.key_id} (seen {(now - p.seen_at).total_seconds():.0f} s ago)"
            for p in stale
        )
        raise RetireRefused(
            f"not retired: {len(stale)} running process(es) still seal with an older master key ({who}). Give "
            f"each the new key {new} (copy the newest keys/master-*.key into its data folder, or set "
            "TIPLINE_MASTER_KEY to the new key and keep the old one in TIPLINE_PREVIOUS_MASTER_KEYS) or stop "
            "it, then run `tipline keys rotate --retire` again. Nothing was deleted."
        )
    set_key_state(db, new, was_retired | old)  # from here no process seals under an old key
    _rewrap(db, ring, result, batch, progress)  # what was sealed under it before that
    result.still_used = usage(db)
    left = {k: n for k, n in result.still_used.items() if k != new}
    if left:
        set_key_state(db, new, was_retired)
        raise RetireRefused(
            "not retired: "
            + ", ".join(f"{n} value(s) or media file(s) under {k}" for k, n in sorted(left.items()))
            + f" could not be re-wrapped under {new} (is that key configured here? see `tipline keys status`). "
            "Nothing was deleted; run `tipline keys rotate --retire` again once it is."
        )
    if not st.master_key:
        keys_dir = st.data_dir / "keys"
        for f in sorted(keys_dir.glob("master-*.key")):
            if key_id(f.read_bytes()) in old:
                f.unlink()
    result.retired = sorted(k for k in old if k in ring.ids)
    return result


def usage(db: Database) -> dict[str, int]:
    """How many sealed values and media files each master key wraps."""
    ring = db.keyring
    counts: dict[str, int] = {}
    with db.reader() as s:
        for table, colname in sealed_columns(db.require_capabilities()):
            col = table.c[colname]
            for (blob,) in s.execute(select(type_coerce(col, LargeBinary)).where(col.isnot(None))):
                kid = ring.sealed_with(bytes(blob))
                counts[kid] = counts.get(kid, 0) + 1
    for cap in db.require_capabilities():
        if cap.sealed_files is not None:
            for kid, n in cap.sealed_files.key_usage(db).items():
                counts[kid] = counts.get(kid, 0) + n
    return counts


def count_sealed(db: Database) -> int:
    n = 0
    with db.reader() as s:
        for table, colname in sealed_columns(db.require_capabilities()):
            n += s.scalar(select(func.count()).select_from(table).where(table.c[colname].isnot(None))) or 0
    return n
