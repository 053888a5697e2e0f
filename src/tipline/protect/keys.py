"""Master-key rotation: re-wrap every sealed value's data key under the current master key.

Rotation runs while the app serves: values keep their ciphertext (only the wrapped data key changes, one
short transaction per batch), readers accept old and new keys, and servers that have not yet seen the
new key load it when they first meet a value wrapped by it.

File-based keys (the embedded default): ``tipline keys rotate`` writes a new ``master-NNNN.key``, re-wraps,
and with ``--retire`` deletes older key files once nothing is wrapped by them. Keys from the environment:
set ``TIPLINE_MASTER_KEY`` to the new key and ``TIPLINE_PREVIOUS_MASTER_KEYS`` to the old one(s) for every
process, run ``tipline keys rotate``, then drop the old keys from ``TIPLINE_PREVIOUS_MASTER_KEYS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import LargeBinary, Table, func, literal, select, type_coerce, update

from tipline.protect.crypto import key_id, new_master_key_file
from tipline.store import Database
from tipline.store.models import Base
from tipline.store.types import SealedText


def sealed_columns() -> Iterator[tuple[Table, str]]:
    """Every (table, column) whose type is SealedText, in every capability's models."""
    import tipline.all_models  # noqa: F401  - load every capability's tables into the metadata

    for table in Base.metadata.sorted_tables:
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


def rotate(
    db: Database,
    *,
    new_key_file: bool = True,
    retire: bool = False,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> RotationResult:
    st = db.settings
    if new_key_file and not st.master_key:
        new_master_key_file(st.data_dir)
        db.__dict__.pop("keyring", None)  # rebuild from the files
    ring = db.keyring
    result = RotationResult(ring.current_id)
    for table, colname in sealed_columns():
        col = table.c[colname]
        pk = next(iter(table.primary_key.columns))
        last = None
        while True:
            with db.session() as s:
                # raw bytes (type_coerce: nothing is decrypted here, and nothing sealed twice on write)
                q = select(pk, type_coerce(col, LargeBinary)).where(col.isnot(None)).order_by(pk).limit(batch)
                if last is not None:
                    q = q.where(pk > last)
                rows = s.execute(q).all()
                if not rows:
                    break
                for key, blob in rows:
                    blob = bytes(blob)
                    fresh = ring.rewrap(blob)
                    if fresh != blob:
                        s.execute(update(table).where(pk == key).values({colname: literal(fresh, LargeBinary)}))
                        result.rewrapped += 1
                        name = f"{table.name}.{colname}"
                        result.by_column[name] = result.by_column.get(name, 0) + 1
                last = rows[-1][0]
            if progress:
                progress(len(rows))
    from tipline.media.storage import rewrap_blobs

    result.by_column["media files"] = rewrap_blobs(db)
    result.rewrapped += result.by_column["media files"]
    result.still_used = usage(db)
    if retire and not st.master_key:
        keys_dir = st.data_dir / "keys"
        for f in sorted(keys_dir.glob("master-*.key")):
            kid = key_id(f.read_bytes())
            if kid != ring.current_id and not result.still_used.get(kid):
                f.unlink()
                result.retired.append(kid)
    return result


def usage(db: Database) -> dict[str, int]:
    """How many sealed values each master key wraps."""
    ring = db.keyring
    counts: dict[str, int] = {}
    with db.reader() as s:
        for table, colname in sealed_columns():
            col = table.c[colname]
            for (blob,) in s.execute(select(type_coerce(col, LargeBinary)).where(col.isnot(None))):
                kid = ring.sealed_with(bytes(blob))
                counts[kid] = counts.get(kid, 0) + 1
    from tipline.media.storage import blob_key_usage

    for kid, n in blob_key_usage(db).items():
        counts[kid] = counts.get(kid, 0) + n
    return counts


def count_sealed(db: Database) -> int:
    n = 0
    with db.reader() as s:
        for table, colname in sealed_columns():
            n += s.scalar(select(func.count()).select_from(table).where(table.c[colname].isnot(None))) or 0
    return n
