"""Envelope encryption of sensitive fields, and the blind search index.

Each sealed value gets its own random 256-bit data key (AES-GCM); the data key is wrapped (AES-GCM) by a
master key. Master keys never enter the database: they come from ``TIPLINE_MASTER_KEY`` (64 hex chars;
older keys still needed for reading in ``TIPLINE_PREVIOUS_MASTER_KEYS``, comma-separated) or, on the
embedded default, from key files in ``<data dir>/keys/``. Rotation (``tipline keys rotate``) adds a new
master key and re-wraps every data key under it; the ciphertexts themselves are not touched, and
servers still running pick the new key up when they first meet a value wrapped by it.

Sealed blob layout::

    version (1) | key-id length (1) | key id | nonce_w (12) | wrapped data key (48) | nonce (12) | ciphertext+tag

The additional authenticated data of the ciphertext binds a value to where it belongs. Version 3 (database
values) binds it to its table, column *and row* (``context`` + the row's primary key), so a value copied
to another column or another row does not open: swapping two reports' texts, or copying an admin's TOTP
secret into another user's row, is refused with :class:`KeyError_`. Version 2 (media files, backups)
binds it to a context alone (a file's SHA-256, ``backup``). A version-2 value is never accepted where a
row-bound one is expected. Re-wrapping the data key (rotation) leaves the ciphertext, and so the binding,
as it is.

Full-text search over sealed text uses a blind index: each word is replaced by an HMAC-SHA-256 of it
under a separate index key, so the index finds exact words without holding them in clear. It cannot do
prefix or fuzzy search; that is the price of keeping the text out of the index. Persons' names get a
blind index of their own (:meth:`Keyring.name_index`, a key derived for names alone): an identifier kind
``name`` that joins reports and payment alerts which name the same person, with the name itself sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
import unicodedata
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipline.settings import private_dir

VERSION = b"\x02"  # bound to a context (media files, backups)
VERSION_ROW = b"\x03"  # bound to table, column and row (database values)


class KeyError_(ValueError):
    """A sealed value whose master key is not available (or that was tampered with)."""


class MovedValueError(KeyError_):
    """A sealed value that does not belong where it was read: altered, or copied from another row or column."""


def row_aad(context: bytes, row: str) -> bytes:
    """The associated data of a database value: its table and column (``context``) and its row's key."""
    return context + b"|row=" + row.encode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"tipline key id" + key).hexdigest()[:12]


def parse_hex_key(value: str, what: str) -> bytes:
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{what} must be 64 hexadecimal characters (32 bytes)")
    return key


class Keyring:
    """Master keys by id: the current one seals, any of them opens."""

    def __init__(
        self,
        current: bytes,
        others: list[bytes] | None = None,
        *,
        index_key: bytes,
        reload: Callable[[], Keyring] | None = None,
    ) -> None:
        self.current_id = key_id(current)
        self._keys = {key_id(k): k for k in [*(others or []), current]}
        self.index_key = index_key
        # the blind index's HMAC with its key already absorbed, copied per word (analysis blinds ~40 words a
        # report). No cache of words: it would keep reports' words and identifiers in clear in memory.
        self._blind_hmac = hmac.new(index_key, digestmod=hashlib.sha256)
        self._reload = reload
        self._lock = threading.Lock()
        self._missed: dict[str, float] = {}

    @property
    def ids(self) -> list[str]:
        return sorted(self._keys)

    def has(self, kid: str) -> bool:
        """Whether key ``kid`` is here, reading the key files again first when it is not (a rotation by
        another process writes a new one); the newest key file then becomes this keyring's current key."""
        if kid not in self._keys and self._reload is not None:
            with self._lock:
                if time.monotonic() - self._missed.get(kid, -60.0) < 1.0:
                    return False  # looked a moment ago: not on every transaction
                fresh = self._reload()
                self._keys.update(fresh._keys)
                self.current_id = fresh.current_id
                if kid not in self._keys:
                    self._missed[kid] = time.monotonic()
        return kid in self._keys

    def seal(self, plaintext: bytes, *, context: bytes, row: str | None = None, key: str | None = None) -> bytes:
        """Seal under the master key ``key`` (default: this keyring's current one); with ``row``, bind the
        value to that row of the column ``context`` names (version 3), else to ``context`` alone."""
        kid_s = key or self.current_id
        kek = self._kek(kid_s)
        dek = secrets.token_bytes(32)
        nonce_w, nonce = os.urandom(12), os.urandom(12)
        kid = kid_s.encode()
        wrapped = AESGCM(kek).encrypt(nonce_w, dek, b"tipline dek|" + kid)
        version, aad = (VERSION, context) if row is None else (VERSION_ROW, row_aad(context, row))
        return (
            version + bytes([len(kid)]) + kid + nonce_w + wrapped + nonce + AESGCM(dek).encrypt(nonce, plaintext, aad)
        )

    def _split(self, blob: bytes) -> tuple[str, bytes, bytes, bytes, bytes]:
        if not blob or blob[:1] not in (VERSION, VERSION_ROW):
            raise KeyError_("not a sealed value of a known format")
        n = blob[1]
        kid = blob[2 : 2 + n].decode()
        rest = blob[2 + n :]
        return kid, rest[:12], rest[12:60], rest[60:72], rest[72:]

    def _kek(self, kid: str) -> bytes:
        if kid not in self._keys and self._reload is not None:
            with self._lock:
                fresh = self._reload()
                self._keys.update(fresh._keys)
        try:
            return self._keys[kid]
        except KeyError:
            raise KeyError_(
                f"this value is sealed with master key {kid}, which is not configured here "
                "(set TIPLINE_PREVIOUS_MASTER_KEYS or restore the key file)"
            ) from None

    def _dek(self, kid: str, nonce_w: bytes, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self._kek(kid)).decrypt(nonce_w, wrapped, b"tipline dek|" + kid.encode())
        except InvalidTag:
            raise KeyError_("a data key failed authentication: the value or its key was altered") from None

    def open(self, blob: bytes, *, context: bytes, row: str | None = None) -> bytes:
        """The plaintext of ``blob``, read from the row ``row`` of the column ``context`` names (or, without
        ``row``, from a context-bound value such as a media file). Anything else raises :class:`KeyError_`."""
        kid, nonce_w, wrapped, nonce, ct = self._split(blob)
        if row is None and blob[:1] != VERSION:
            raise MovedValueError("a value bound to a database row was read without its row")
        if row is not None and blob[:1] != VERSION_ROW:
            raise MovedValueError(
                f"a value of {context.decode(errors='replace')} is not bound to its row (sealed by an older "
                "version, or copied from elsewhere): run `tipline migrate` to re-seal older values"
            )
        aad = context if row is None else row_aad(context, row)
        try:
            return AESGCM(self._dek(kid, nonce_w, wrapped)).decrypt(nonce, ct, aad)
        except InvalidTag:
            where = context.decode(errors="replace") + ("" if row is None else f" row {row}")
            raise MovedValueError(
                f"the sealed value in {where} failed authentication: it was altered or moved (copied from "
                "another row or column); it is not shown: restore it from a backup"
            ) from None

    def rewrap(self, blob: bytes) -> bytes:
        """The same ciphertext with its data key wrapped by the current master key."""
        kid, nonce_w, wrapped, nonce, ct = self._split(blob)
        if kid == self.current_id:
            return blob
        dek = self._dek(kid, nonce_w, wrapped)
        new_kid = self.current_id.encode()
        new_nonce_w = os.urandom(12)
        new_wrapped = AESGCM(self._keys[self.current_id]).encrypt(new_nonce_w, dek, b"tipline dek|" + new_kid)
        return blob[:1] + bytes([len(new_kid)]) + new_kid + new_nonce_w + new_wrapped + nonce + ct

    def sealed_with(self, blob: bytes) -> str:
        return self._split(blob)[0]

    # ---------------------------------------------------------------- blind index

    def blind(self, word: str) -> str:
        h = self._blind_hmac.copy()
        h.update(fold(word).encode())
        return h.hexdigest()[:20]

    def name_index(self, name: str | None) -> str | None:
        """The keyed blind index of a person's name (entity kind ``name``): HMAC-SHA-256 of
        :func:`normal_name` under a key derived from the search-index key for names alone, so "María
        REYES", "reyes, maria" and "Maria  Reyes" give one value and nobody without the key can test a
        guess. ``None`` for a name too short to mean anything (one part, or under four letters)."""
        normal = normal_name(name or "")
        if normal is None:
            return None
        key = hmac.new(self.index_key, b"tipline name index v1", hashlib.sha256).digest()
        return hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()[:32]


_NAME_PARTS = re.compile(r"[^\W\d_]+", re.UNICODE)


def normal_name(name: str) -> str | None:
    """A name as the name index compares it: case and accents folded, punctuation and spacing dropped,
    the parts sorted (so "Reyes, Maria" is "Maria Reyes"). ``None`` when fewer than two parts or four
    letters are left: a single given name would link strangers."""
    parts = sorted(_NAME_PARTS.findall(fold(name)))
    if len(parts) < 2 or sum(len(p) for p in parts) < 4:
        return None
    return " ".join(parts)


def fold(word: str) -> str:
    """Case- and accent-insensitive form of a word (what the blind index compares)."""
    if word.isascii():  # most words: ASCII is its own NFKD form and has no combining marks
        return word.lower()  # (casefold() is lower() on ASCII)
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# ------------------------------------------------------------------------------------------ key files


def keyring_from(master_key: str | None, previous: str | None, data_dir: Path, search_key: str | None) -> Keyring:
    """Build the keyring from settings (environment) or from the key files of the data folder."""

    def build() -> Keyring:
        index_key = (
            parse_hex_key(search_key, "TIPLINE_SEARCH_INDEX_KEY")
            if search_key
            else _file_key(data_dir / "keys", "search-index")
        )
        if master_key:
            current = parse_hex_key(master_key, "TIPLINE_MASTER_KEY")
            others = [
                parse_hex_key(k, "TIPLINE_PREVIOUS_MASTER_KEYS") for k in (previous or "").split(",") if k.strip()
            ]
            return Keyring(current, others, index_key=index_key)
        keys_dir = data_dir / "keys"
        files = sorted(keys_dir.glob("master-*.key")) if keys_dir.exists() else []
        if not files:
            _file_key(keys_dir, "master-0001")
            files = sorted(keys_dir.glob("master-*.key"))
        keys = [_read_key(f) for f in files]
        return Keyring(keys[-1], keys[:-1], index_key=index_key)

    ring = build()
    ring._reload = build
    return ring


def _read_key(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) != 32:
        raise ValueError(f"the key file {path} is damaged (it must hold 32 bytes)")
    return data


def _file_key(keys_dir: Path, name: str) -> bytes:
    """The key in ``keys_dir/name.key``, created (atomically, mode 0600) when missing."""
    private_dir(keys_dir.parent)
    private_dir(keys_dir)
    path = keys_dir / f"{name}.key"
    if path.exists():
        return _read_key(path)
    value = secrets.token_bytes(32)
    tmp = keys_dir / f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # atomic: fails if another process created it first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_key(path)


def new_master_key_file(data_dir: Path) -> Path:
    """Write the next master key file (``master-NNNN.key``); it becomes the current key."""
    keys_dir = data_dir / "keys"
    existing = sorted(keys_dir.glob("master-*.key")) if keys_dir.exists() else []
    n = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
    _file_key(keys_dir, f"master-{n:04d}")
    return keys_dir / f"master-{n:04d}.key"


# ------------------------------------------------------------------------------------------ dialect registry

# The SQLAlchemy column type below sees only the engine's dialect, so each Database registers the
# keyring of its engines' dialects here (one dialect object per engine).
_KEYRINGS: weakref.WeakKeyDictionary[Any, Callable[[], Keyring]] = weakref.WeakKeyDictionary()


def register_keyring(dialect: Any, provider: Callable[[], Keyring]) -> None:
    _KEYRINGS[dialect] = provider


def keyring_for(dialect: Any) -> Keyring:
    try:
        return _KEYRINGS[dialect]()
    except KeyError:
        raise RuntimeError("no keyring for this engine: open the database through tipline.store.Database") from None
