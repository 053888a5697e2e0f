"""The tamper-evident audit log: a hash chain of audit events with a signed head.

Each event carries ``seq`` (1, 2, 3, ... with no gaps), the hash of the event before it (``prev_hash``)
and its own ``hash`` = SHA-256 over ``prev_hash`` and a canonical JSON of its fields (format 2, see
:data:`HASH_VERSION`: every field, the acting user's id included). Appends are
serialised (SQLite has one writer; on PostgreSQL a transaction-scoped advisory lock), so the chain never
forks. ``verify`` recomputes the chain and names the first event that was altered, inserted or removed.

A rewrite of the whole chain (every hash recomputed) is caught by the signed head: ``sign_head`` signs
(seq, hash) of the newest event with an Ed25519 key kept outside the database, and the exported head is
meant to live outside the hotline's control (another organisation, a printed log, a transparency log).
``verify(..., heads=[...])`` checks that every exported head is still in the chain, unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tipline.store import Database
from tipline.store.models import AuditEvent

GENESIS = "0" * 64
_LOCK_ID = 7_462_301  # PostgreSQL advisory lock id of the audit chain


# Hash formats. 1: the first (no actor_user_id). 2: adds ``actor_user_id`` and the format number itself.
# Each event keeps the format it was hashed with (``hash_version``; empty = 1), so chains written before
# format 2 still verify. Changing the stored format number does not help a forger: the other format gives
# another hash, and the event shows as altered.
HASH_VERSION = 2


def _canonical(ev: AuditEvent, version: int) -> bytes:
    body: dict[str, Any] = {
        "seq": ev.seq,
        "at": ev.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": ev.actor,
        "action": ev.action,
        "target_type": ev.target_type,
        "target_id": ev.target_id,
        "details": ev.details or {},
    }
    if version >= 2:
        body["v"] = version
        body["actor_user_id"] = ev.actor_user_id
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(prev_hash: str, ev: AuditEvent) -> str:
    """The event's hash in the format it records (``hash_version``; an unset one is format 1)."""
    version = ev.hash_version or 1
    if version not in (1, 2):
        return ""  # an unknown format verifies as altered
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(ev, version)).hexdigest()


def append(
    s: Session,
    *,
    actor: str,
    actor_user_id: int | None,
    action: str,
    target_type: str | None,
    target_id: str | None,
    details: dict[str, Any],
) -> AuditEvent:
    """Add the next event of the chain to the caller's transaction."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
    head = s.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    if prev is None:
        raise ValueError(f"audit event {seq - 1} has no hash: the chain is broken (tipline audit verify)")
    details = json.loads(json.dumps(details, default=str))
    ev = AuditEvent(
        seq=seq,
        at=datetime.now(UTC),
        actor=actor,
        actor_user_id=actor_user_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
        prev_hash=prev,
        hash_version=HASH_VERSION,
    )
    ev.hash = event_hash(prev, ev)
    s.add(ev)
    s.flush()
    return ev


@dataclass
class Problem:
    seq: int | None
    kind: str  # altered | inserted | missing | head-mismatch | bad-signature
    message: str


@dataclass
class VerifyResult:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    problem: Problem | None = None


def verify(db: Database, *, heads: list[dict[str, Any]] | None = None, public_key: bytes | None = None) -> VerifyResult:
    """Walk the chain from the start; stop at the first problem and say what and where it is."""
    prev, expected_seq, n = GENESIS, 1, 0
    hashes: dict[int, str] = {}
    with db.reader() as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.seq, AuditEvent.id)).scalars()
        for ev in rows:
            n += 1
            if ev.seq is None or ev.seq < expected_seq:
                return VerifyResult(
                    False,
                    n,
                    expected_seq - 1,
                    prev,
                    Problem(
                        ev.seq,
                        "inserted",
                        f"event id {ev.id} has sequence {ev.seq}, already used or missing: it was inserted",
                    ),
                )
            if ev.seq > expected_seq:
                return VerifyResult(
                    False,
                    n,
                    expected_seq - 1,
                    prev,
                    Problem(
                        expected_seq,
                        "missing",
                        f"events {expected_seq}..{ev.seq - 1} are missing "
                        f"(the chain jumps from {expected_seq - 1} to {ev.seq})",
                    ),
                )
            if ev.prev_hash != prev:
                return VerifyResult(
                    False,
                    n,
                    expected_seq - 1,
                    prev,
                    Problem(
                        ev.seq, "inserted", f"event {ev.seq} does not follow event {ev.seq - 1} (its prev_hash differs)"
                    ),
                )
            if event_hash(prev, ev) != ev.hash:
                return VerifyResult(
                    False,
                    n,
                    expected_seq - 1,
                    prev,
                    Problem(
                        ev.seq, "altered", f"event {ev.seq} ({ev.action} at {ev.at:%Y-%m-%d %H:%M:%S}) was altered"
                    ),
                )
            hashes[ev.seq] = ev.hash
            prev, expected_seq = ev.hash, expected_seq + 1
    result = VerifyResult(True, n, expected_seq - 1, prev)
    for h in heads or []:
        problem = check_head(h, hashes, public_key)
        if problem is not None:
            result.ok, result.problem = False, problem
            break
    return result


def check_head(head: dict[str, Any], hashes: dict[int, str], public_key: bytes | None) -> Problem | None:
    seq, h = int(head["seq"]), str(head["hash"])
    try:
        pub = Ed25519PublicKey.from_public_bytes(public_key or base64.b64decode(head["public_key"]))
        pub.verify(base64.b64decode(head["signature"]), _head_message(seq, h, head.get("at", "")))
    except (InvalidSignature, ValueError, KeyError):
        return Problem(seq, "bad-signature", f"the exported head at sequence {seq} has a bad signature")
    if hashes.get(seq) != h:
        return Problem(
            seq,
            "head-mismatch",
            f"the chain no longer holds the exported head at sequence {seq}: the log was rewritten",
        )
    return None


# ------------------------------------------------------------------------------------------ signed head


def _head_message(seq: int, h: str, at: str) -> bytes:
    return f"tipline audit head|{seq}|{h}|{at}".encode()


def signing_key(data_dir: Path) -> Ed25519PrivateKey:
    from tipline.crypto import _file_key

    return Ed25519PrivateKey.from_private_bytes(_file_key(data_dir / "keys", "audit-signing"))


def public_key_b64(data_dir: Path) -> str:
    pub = signing_key(data_dir).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(pub).decode()


def sign_head(db: Database) -> dict[str, Any]:
    """The newest event's (seq, hash), signed: export it somewhere the hotline does not control."""
    with db.reader() as s:
        head = s.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, h = (head[0], head[1]) if head else (0, GENESIS)
    if h is None:
        raise ValueError(f"audit event {seq} has no hash: the chain is broken (tipline audit verify)")
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = signing_key(db.settings.data_dir)
    sig = key.sign(_head_message(seq, h, at))
    return {
        "seq": seq,
        "hash": h,
        "at": at,
        "signature": base64.b64encode(sig).decode(),
        "public_key": public_key_b64(db.settings.data_dir),
    }
