"""Platforms: their API keys and CyberTipline logins (created, checked, disabled, rotated).

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.accounts.principal import AccountError, Principal, Role, _now, record, sha256_hex
from tipline.store import Database
from tipline.store.models import Platform

# ------------------------------------------------------------------------------------------ platforms


@dataclass(frozen=True)
class PlatformCredentials:
    id: int
    name: str
    api_key: str
    username: str
    password: str


def create_platform(db: Database, name: str, *, by: Principal | str = "cli") -> PlatformCredentials:
    """Register a platform; returns its secrets (shown once: only digests are stored)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise AccountError("a platform name is 1-128 characters")
    api_key = "tlp_" + secrets.token_urlsafe(32)
    username = "esp-" + secrets.token_hex(6)
    password = secrets.token_urlsafe(24)
    with db.session() as s:
        if s.scalar(select(Platform).where(Platform.name == name)):
            raise AccountError(f"a platform named {name!r} exists already")
        p = Platform(
            name=name,
            api_key_hash=sha256_hex(api_key),
            cybertip_username=username,
            cybertip_password_hash=sha256_hex(password),
        )
        s.add(p)
        s.flush()
        record(s, by, "platform.create", "platform", p.id, name=name)
        return PlatformCredentials(p.id, name, api_key, username, password)


# (database URL, key digest) -> (monotonic time until which it holds, the platform): the keys this process
# found valid in the last ``api_key_cache_seconds``. Only valid keys are kept (an unknown or refused key is
# looked up every time, so a new or re-enabled key works at once); any change of a platform's credentials in
# this process empties it. Without it the door read the platforms table at every report: 10-14% of its
# interpreter time, and a thread hand-off of its own (bench/RESULTS.md).
_KEYS: dict[tuple[str, str], tuple[float, Principal]] = {}
_KEYS_MAX = 10_000  # emptied when full: a platform count, not a count of requests
# moved on by every change: a check that read the platforms table before the change's commit and finishes
# after it does not keep what it read
_KEYS_GENERATION = [0]
_KEYS_LOCK = threading.Lock()  # the generation's check and the store, the move and the emptying: each as one


def cached_platform_for_api_key(db: Database, api_key: str) -> Principal | None:
    """The platform of a key this process checked less than ``api_key_cache_seconds`` ago; None when it has
    to be checked in the database (:func:`platform_for_api_key`). No I/O: callable on the event loop."""
    hit = _KEYS.get((db.url, sha256_hex(api_key)))
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


def platform_for_api_key(db: Database, api_key: str) -> Principal | None:
    # the four columns, not the ORM object: asked at every platform request not answered from _KEYS (a
    # tenth of the JSON API door's server time went to loading the whole row as an object)
    digest = sha256_hex(api_key)
    generation = _KEYS_GENERATION[0]
    q = select(Platform.id, Platform.name, Platform.active, Platform.api_key_active).where(
        Platform.api_key_hash == digest
    )
    with db.reader() as s:
        row = s.execute(q).first()
    if row is None or not (row.active and row.api_key_active):
        return None
    p = Principal("platform", row.id, row.name, Role.PLATFORM)
    ttl = db.settings.api_key_cache_seconds
    if ttl > 0:
        with _KEYS_LOCK:
            if generation == _KEYS_GENERATION[0]:
                if len(_KEYS) >= _KEYS_MAX:
                    _KEYS.clear()
                _KEYS[(db.url, digest)] = (time.monotonic() + ttl, p)
    return p


def _forget_api_keys() -> None:
    """After any change of a platform's credentials: this process checks every key in the database again."""
    with _KEYS_LOCK:
        _KEYS_GENERATION[0] += 1
        _KEYS.clear()


def platform_for_basic(db: Database, username: str, password: str) -> Principal | None:
    with db.reader() as s:
        p = s.scalar(select(Platform).where(Platform.cybertip_username == username))
        if p is None or not p.active or not p.cybertip_active:
            return None
        if not hmac.compare_digest(p.cybertip_password_hash, sha256_hex(password)):
            return None
        return Principal("platform", p.id, p.name, Role.PLATFORM)


def platform_by_name(db: Database, name: str) -> Principal | None:
    with db.reader() as s:
        p = s.scalar(select(Platform).where(Platform.name == name))
        return Principal("platform", p.id, p.name, Role.PLATFORM) if p else None


# ------------------------------------------------------------------------------------------ platform credentials

CREDENTIALS = ("api-key", "cybertip")  # a platform's two credentials: the API key, the CyberTipline login


@dataclass(frozen=True)
class PlatformRow:
    """What the platforms page and `tipline platforms list` show (never a secret or its digest)."""

    id: int
    name: str
    username: str
    api_key_active: bool
    cybertip_active: bool
    created_at: datetime
    api_key_rotated_at: datetime | None
    cybertip_rotated_at: datetime | None


@dataclass(frozen=True)
class RotatedCredentials:
    """New secrets after a rotation (shown once); None for a credential that was not rotated."""

    name: str
    api_key: str | None
    username: str | None
    password: str | None


def platform_rows(db: Database) -> list[PlatformRow]:
    with db.reader() as s:
        return [
            PlatformRow(
                p.id,
                p.name,
                p.cybertip_username,
                p.api_key_active,
                p.cybertip_active,
                p.created_at,
                p.api_key_rotated_at,
                p.cybertip_rotated_at,
            )  # fmt: skip
            for p in s.scalars(select(Platform).order_by(Platform.name))
        ]


def _which(which: str | None) -> tuple[str, ...]:
    if which in (None, "", "both", "all"):
        return CREDENTIALS
    if which not in CREDENTIALS:
        raise AccountError("say which credential: api-key, cybertip or both", "platform.which")
    return (which,)


def _platform_named(s: Session, name: str) -> Platform:
    p = s.scalar(select(Platform).where(Platform.name == name))
    if p is None:
        raise AccountError(f"no platform named {name!r} (see `tipline platforms list`)")
    return p


def set_platform_credentials(
    db: Database, name: str, active: bool, *, which: str | None = None, by: Principal | str = "cli"
) -> None:
    """Disable (or enable again) a platform's API key, its CyberTipline login, or both. A disabled
    credential is refused at once (401); enabling it again brings back the same secret (rotate it
    instead when it leaked). Audited."""
    creds = _which(which)
    with db.session() as s:
        p = _platform_named(s, name)
        if "api-key" in creds:
            p.api_key_active = active
        if "cybertip" in creds:
            p.cybertip_active = active
        record(s, by, "platform.enable" if active else "platform.disable", "platform", p.id, name=p.name,
               credentials=list(creds))  # fmt: skip
    if "api-key" in creds:
        _forget_api_keys()  # after the commit: a check that read the old row cannot keep it (see _KEYS)


def rotate_platform_credentials(
    db: Database, name: str, *, which: str | None = None, by: Principal | str = "cli"
) -> RotatedCredentials:
    """New secrets for a platform's API key, its CyberTipline password, or both: the old ones stop
    working at once. The CyberTipline username stays (it is not a secret). The rotated credential is
    enabled. Returns the new secrets (shown once: only digests are stored). Audited."""
    creds = _which(which)
    api_key = "tlp_" + secrets.token_urlsafe(32) if "api-key" in creds else None
    password = secrets.token_urlsafe(24) if "cybertip" in creds else None
    now = _now()
    with db.session() as s:
        p = _platform_named(s, name)
        if api_key is not None:
            p.api_key_hash, p.api_key_active, p.api_key_rotated_at = sha256_hex(api_key), True, now
        if password is not None:
            p.cybertip_password_hash, p.cybertip_active, p.cybertip_rotated_at = sha256_hex(password), True, now
        record(s, by, "platform.rotate", "platform", p.id, name=p.name, credentials=list(creds))
        out = RotatedCredentials(p.name, api_key, p.cybertip_username if password else None, password)
    if api_key is not None:
        _forget_api_keys()  # after the commit: a check that read the old row cannot keep it (see _KEYS)
    return out
