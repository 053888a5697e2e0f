"""Encrypted backups: ``tipline backup FILE`` and ``tipline restore FILE``.

A backup is a tar stream (the database snapshot, the stored media files, a manifest) encrypted with a
fresh data key in 1 MiB AES-GCM chunks; the data key is wrapped by the master key, like every sealed
value. Nothing in clear touches the disk. The chunk nonces count up and the last chunk is flagged, so a
reordered, truncated or altered backup fails to restore. Master keys are NOT in the backup: keep them
(``<data dir>/keys/`` or ``TIPLINE_MASTER_KEY``) safe and separate, or the backup cannot be read.

SQLite: the online backup API (a consistent snapshot while the server runs). PostgreSQL: ``pg_dump -Fc``
and ``pg_restore --clean``. Restore replaces the database: stop the server first.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from tipline import __version__
from tipline.store import Database

MAGIC = b"TIPLINE-BACKUP\x01"
CHUNK = 1 << 20


class BackupError(ValueError):
    """A backup that cannot be made or read; the message says why."""


class _EncryptingWriter(io.RawIOBase):
    def __init__(self, out: BinaryIO, key: bytes, prefix: bytes, aad: bytes) -> None:
        self.out, self.aead, self.prefix, self.aad = out, AESGCM(key), prefix, aad
        self.buf = bytearray()
        self.counter = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.buf += b
        while len(self.buf) > CHUNK:
            self._emit(bytes(self.buf[:CHUNK]), final=False)
            del self.buf[:CHUNK]
        return len(b)

    def _emit(self, data: bytes, *, final: bool) -> None:
        nonce = self.prefix + struct.pack(">Q", self.counter)
        ct = self.aead.encrypt(nonce, data, self.aad + struct.pack(">Q?", self.counter, final))
        self.out.write(struct.pack(">I", len(ct)) + ct)
        self.counter += 1

    def finish(self) -> None:
        self._emit(bytes(self.buf), final=True)
        self.buf.clear()


class _DecryptingReader(io.RawIOBase):
    def __init__(self, inp: BinaryIO, key: bytes, prefix: bytes, aad: bytes) -> None:
        self.inp, self.aead, self.prefix, self.aad = inp, AESGCM(key), prefix, aad
        self.counter = 0
        self.buf = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        head = self.inp.read(4)
        if len(head) < 4:
            raise BackupError("the backup is truncated (its last part is missing)")
        (n,) = struct.unpack(">I", head)
        ct = self.inp.read(n)
        nonce = self.prefix + struct.pack(">Q", self.counter)
        for final in (False, True):
            try:
                self.buf += self.aead.decrypt(nonce, ct, self.aad + struct.pack(">Q?", self.counter, final))
                self.done = final
                break
            except InvalidTag:
                continue
        else:
            raise BackupError(f"part {self.counter} of the backup failed authentication: it was altered")
        self.counter += 1

    def readinto(self, b: Any) -> int:
        while not self.buf and not self.done:
            self._next()
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


def _pg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class BackupInfo:
    path: Path
    bytes: int
    manifest: dict[str, Any]


def backup(db: Database, path: Path) -> BackupInfo:
    """Write an encrypted backup of the database and stored media to ``path`` (atomically)."""
    ring = db.keyring
    dek, prefix = os.urandom(32), os.urandom(4)
    with db.reader() as s:
        revision = s.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        head = s.execute(text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).first()
    header = {
        "format": 1,
        "tipline": __version__,
        "created_at": datetime.now(UTC).isoformat(),
        "dialect": db.dialect,
        "schema_revision": revision,
        "audit_head": {"seq": head[0], "hash": head[1]} if head else None,
        "master_key_id": ring.current_id,
        "wrapped_key": base64.b64encode(ring.seal(dek, context=b"backup")).decode(),
        "nonce_prefix": base64.b64encode(prefix).decode(),
    }
    hbytes = json.dumps(header, sort_keys=True).encode()
    aad = hashlib.sha256(hbytes).digest()
    tmp = path.with_name(f".{path.name}.partial")
    media = db.settings.data_dir / "media"
    manifest: dict[str, Any] = {
        **{k: header[k] for k in ("tipline", "created_at", "dialect", "schema_revision")},
        "files": {},
    }
    with open(tmp, "wb") as out, tempfile.TemporaryDirectory(dir=db.settings.data_dir) as work:
        out.write(MAGIC + struct.pack(">I", len(hbytes)) + hbytes)
        enc = _EncryptingWriter(out, dek, prefix, aad)
        with tarfile.open(fileobj=enc, mode="w|") as tar:
            for name, data_path in _snapshot(db, Path(work)):
                manifest["files"][name] = _sha256(data_path)
                tar.add(data_path, arcname=name)
                data_path.unlink()  # the clear snapshot never outlives this step
            if media.exists():
                for f in sorted(media.rglob("*")):
                    if f.is_file():
                        name = "media/" + f.relative_to(media).as_posix()
                        manifest["files"][name] = _sha256(f)
                        tar.add(f, arcname=name)
            mbytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(mbytes)
            tar.addfile(info, io.BytesIO(mbytes))
        enc.finish()
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return BackupInfo(path, path.stat().st_size, manifest)


def _snapshot(db: Database, work: Path) -> Iterator[tuple[str, Path]]:
    if db.is_sqlite:
        src_path = db.url.split("///", 1)[1]
        dst = work / "database.sqlite"
        src = sqlite3.connect(src_path)
        try:
            target = sqlite3.connect(dst)
            src.backup(target)
            target.close()
        finally:
            src.close()
        yield "database.sqlite", dst
    else:
        dst = work / "database.pgdump"
        p = subprocess.run(
            ["pg_dump", "-Fc", "--no-owner", "-f", str(dst), _pg_url(db.url)], capture_output=True, text=True
        )
        if p.returncode != 0:
            raise BackupError(f"pg_dump failed: {p.stderr.strip()}")
        yield "database.pgdump", dst


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_header(path: Path) -> tuple[dict[str, Any], bytes, int]:
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{path} is not a tipline backup")
        (n,) = struct.unpack(">I", f.read(4))
        hbytes = f.read(n)
    try:
        return json.loads(hbytes), hbytes, len(MAGIC) + 4 + n
    except ValueError as e:
        raise BackupError(f"{path}: damaged header ({e})") from e


def restore(db: Database, path: Path, *, force: bool = False) -> dict[str, Any]:
    """Replace the database (and media) with the backup's. Stop the server first."""
    header, hbytes, offset = read_header(path)
    if header["dialect"] != db.dialect:
        raise BackupError(f"this backup is of a {header['dialect']} database; the target is {db.dialect}")
    if not force and _has_reports(db):
        raise BackupError("the target database already holds reports: restore with --force to replace it")
    dek = db.keyring.open(base64.b64decode(header["wrapped_key"]), context=b"backup")
    aad = hashlib.sha256(hbytes).digest()
    data_dir = db.settings.data_dir
    with open(path, "rb") as f, tempfile.TemporaryDirectory(dir=data_dir) as work:
        f.seek(offset)
        dec = _DecryptingReader(f, dek, base64.b64decode(header["nonce_prefix"]), aad)
        staged = Path(work)
        with tarfile.open(fileobj=io.BufferedReader(dec), mode="r|") as tar:
            tar.extractall(staged, filter="data")
        if not dec.done:
            raise BackupError("the backup is truncated (its last part is missing)")
        manifest = json.loads((staged / "manifest.json").read_text())
        for name, digest in manifest["files"].items():
            if _sha256(staged / name) != digest:
                raise BackupError(f"{name} in the backup does not match its manifest")
        db.dispose()
        if db.is_sqlite:
            target = Path(db.url.split("///", 1)[1])
            for suffix in ("-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            os.replace(staged / "database.sqlite", target)
        else:
            p = subprocess.run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "-d",
                    _pg_url(db.url),
                    str(staged / "database.pgdump"),
                ],
                capture_output=True,
                text=True,
            )
            if p.returncode != 0:
                raise BackupError(f"pg_restore failed: {p.stderr.strip()[:2000]}")
        media = data_dir / "media"
        if (staged / "media").exists():
            if media.exists():
                shutil.rmtree(media)
            shutil.move(str(staged / "media"), media)
    return header


def _has_reports(db: Database) -> bool:
    with db.reader() as s:
        return bool(s.execute(text("SELECT 1 FROM reports LIMIT 1")).first())
