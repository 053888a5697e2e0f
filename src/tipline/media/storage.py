"""Uploaded files at rest: encrypted on local disk, or not kept at all (``settings.media_mode``).

``encrypt`` (default): each file is written once to ``<data_dir>/media/<sha256[:2]>/<sha256>.bin``,
sealed by the installation's keyring (:class:`tipline.crypto.Keyring`): AES-256-GCM under a fresh
random data key, the data key wrapped by the current master key, whose id is in the header. Master keys
never go in the database (``TIPLINE_MASTER_KEY`` or the key files of ``<data dir>/keys/``), so a copy of
the database, or of the media folder alone, reveals nothing but the hashes the database holds anyway. The
seal is bound to the file's SHA-256 (associated data): a blob renamed to another file's name does not
open, and :func:`load_blob` also checks the plaintext's SHA-256 against the name.

``hashes_only``: :func:`store_blob` keeps nothing and returns None; the attachment has its hashes only.

File format: ``b"TLMB"`` followed by a keyring-sealed value (version byte, key id, wrapped data key,
nonce, ciphertext and tag; see ``tipline.crypto``).

Writes are atomic and durable: a temporary file in the same folder, ``fsync``, ``os.replace``, ``fsync``
of the folder. Identical files are stored once (content addressing): :func:`delete_blob` removes the file
whatever else points at it, so callers check :func:`blob_in_use` first.

Master-key rotation: :func:`rewrap_blobs` re-wraps every file's data key under the current master key
(the ciphertext is copied unchanged) and :func:`blob_key_usage` counts files per master key. Key rotation
must call both before it retires an old key, or the files it wrapped become unreadable.

Don't: put a data key, the master key or plaintext in the database or the logs; serve a blob to a browser
except through :mod:`tipline.media.viewer`; open a ``stored_path`` without :func:`_path_of`'s check.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select

from tipline.crypto import KeyError_
from tipline.settings import private_dir
from tipline.store import Database
from tipline.store.models import Attachment
from tipline.store.sealing import sealing_key

__all__ = [
    "MediaStorageError",
    "blob_in_use",
    "blob_key_usage",
    "delete_blob",
    "load_blob",
    "media_root",
    "rewrap_blobs",
    "store_blob",
]

MAGIC = b"TLMB"
_STORED_PATH = re.compile(r"^media/([0-9a-f]{2})/([0-9a-f]{64})\.bin$")


class MediaStorageError(RuntimeError):
    """A stored file that cannot be read back: missing, damaged, or sealed under a master key not configured."""


def media_root(db: Database) -> Path:
    return db.settings.data_dir / "media"


def _context(digest: str) -> bytes:
    return b"tipline media|" + digest.encode()


def _path_of(db: Database, stored_path: str) -> tuple[Path, str]:
    m = _STORED_PATH.match(stored_path or "")
    if m is None or m.group(1) != m.group(2)[:2]:
        raise MediaStorageError(f"not a media path: {stored_path!r}")
    return db.settings.data_dir / stored_path, m.group(2)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened for fsync
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomic(path: Path, content: bytes) -> None:
    folder = path.parent
    private_dir(folder.parent)  # media/: mkdir(parents=True) would make it with the default mode
    private_dir(folder)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _already_stored(db: Database, path: Path) -> bool:
    """A file of this content is there, sealed under a master key this installation has."""
    try:
        with path.open("rb") as f:
            head = f.read(128)
    except FileNotFoundError:
        return False
    if head[:4] != MAGIC:
        return False
    try:
        return db.keyring.sealed_with(head[4:]) in db.keyring.ids
    except (KeyError_, UnicodeDecodeError, IndexError):
        return False


def store_blob(db: Database, data: bytes) -> str | None:
    """Keep a file encrypted at rest and return its path relative to the data folder (``media/ab/ab….bin``),
    or keep nothing and return None when ``media_mode`` is ``hashes_only``."""
    if db.settings.media_mode == "hashes_only":
        return None
    digest = hashlib.sha256(data).hexdigest()
    rel = f"media/{digest[:2]}/{digest}.bin"
    path = db.settings.data_dir / rel
    # under the installation's active master key; a key rotation waits for the write to end
    with sealing_key(db) as key:
        if _already_stored(db, path):
            return rel  # stored before (content addressing); load_blob verifies the content when it reads it
        _write_atomic(path, MAGIC + db.keyring.seal(data, context=_context(digest), key=key))
    return rel


def load_blob(db: Database, stored_path: str) -> bytes:
    """The plaintext of a stored file (checked: it decrypts and its SHA-256 is the one in its name)."""
    path, digest = _path_of(db, stored_path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MediaStorageError("the stored file is missing") from None
    if raw[:4] != MAGIC:
        raise MediaStorageError("the stored file is damaged (not a tipline media file)")
    try:
        data = db.keyring.open(raw[4:], context=_context(digest))
    except (KeyError_, IndexError, UnicodeDecodeError) as e:
        raise MediaStorageError(f"the stored file cannot be decrypted: {e}") from None
    if hashlib.sha256(data).hexdigest() != digest:  # pragma: no cover - the seal's context already binds it
        raise MediaStorageError("the stored file does not match its SHA-256")
    return data


def delete_blob(db: Database, stored_path: str) -> bool:
    """Remove a stored file (True if there was one). Check :func:`blob_in_use` first: identical uploads
    share one file."""
    path, _ = _path_of(db, stored_path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def blob_in_use(db: Database, stored_path: str, *, except_attachment_id: int | None = None) -> bool:
    """Whether an attachment (other than ``except_attachment_id``) still points at this stored file."""
    q = select(func.count()).select_from(Attachment).where(Attachment.stored_path == stored_path)
    if except_attachment_id is not None:
        q = q.where(Attachment.id != except_attachment_id)
    with db.reader() as s:
        return bool(s.scalar(q))


# ------------------------------------------------------------------------------------------ key rotation


def _blob_files(db: Database) -> Iterator[Path]:
    root = media_root(db)
    if root.exists():
        yield from sorted(
            p for p in root.glob("[0-9a-f][0-9a-f]/*.bin") if _STORED_PATH.match(f"media/{p.parent.name}/{p.name}")
        )


def rewrap_blobs(db: Database) -> int:
    """Re-wrap every stored file's data key under the current master key; returns how many changed."""
    ring = db.keyring
    changed = 0
    for path in _blob_files(db):
        raw = path.read_bytes()
        if raw[:4] != MAGIC:
            continue
        try:
            fresh = ring.rewrap(raw[4:])
        except KeyError_:
            continue  # under a key not configured here: counted by blob_key_usage, so --retire refuses
        if fresh != raw[4:]:
            _write_atomic(path, MAGIC + fresh)
            changed += 1
    return changed


def blob_key_usage(db: Database) -> dict[str, int]:
    """How many stored files each master key (by id) wraps."""
    ring = db.keyring
    counts: dict[str, int] = {}
    for path in _blob_files(db):
        with path.open("rb") as f:
            head = f.read(128)
        if head[:4] == MAGIC:
            kid = ring.sealed_with(head[4:])
            counts[kid] = counts.get(kid, 0) + 1
    return counts
