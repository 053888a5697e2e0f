"""Staff users, tokens, sessions, platforms and the audit trail.

Human passwords are hashed with Argon2id (argon2-cffi's defaults follow RFC 9106's low-memory profile).
Generated secrets (API keys, tokens, session ids) have 256 bits of entropy, so a SHA-256 digest is
enough to store them and keeps per-request checks fast.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.store import Database
from tipline.store.models import ApiToken, Platform, StaffSession, User


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    PLATFORM = "platform"


STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.ANALYST)
_RANK = {Role.ANALYST: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3, Role.PLATFORM: 0}

_hasher = PasswordHasher()
# a hash to verify against when the user does not exist, so timing does not reveal which names exist
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user (with a role) or a platform."""

    kind: str  # "user" | "platform"
    id: int
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        """True when this principal's role is at least ``role`` (admin > supervisor > analyst)."""
        return self.kind == "user" and _RANK[self.role] >= _RANK[role]

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _principal(user: User) -> Principal:
    return Principal("user", user.id, user.name, Role(user.role))


def record(
    s: Session,
    actor: Principal | str,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    **details: Any,
) -> None:
    """Append an audit event to the hash chain, in the caller's transaction (so the event and the action
    commit together, or neither does). ``details`` must never carry reporter contact data or report text."""
    from tipline.protect.audit import append

    user = isinstance(actor, Principal) and actor.kind == "user"
    append(
        s,
        actor=actor.label if isinstance(actor, Principal) else actor,
        actor_user_id=actor.id if user else None,  # type: ignore[union-attr]
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details,
    )


# ------------------------------------------------------------------------------------------ users


def validate_password(password: str) -> None:
    if len(password) < 12:
        raise AccountError("the password must have at least 12 characters")
    if len(password) > 1024:
        raise AccountError("the password must have at most 1024 characters")


def create_user(db: Database, name: str, role: Role | str, password: str, *, by: Principal | str = "cli") -> Principal:
    role = Role(role)
    if not name or len(name) > 128 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccountError("a user name is 1-128 letters, digits, '-', '_' or '.'")
    validate_password(password)
    with db.session() as s:
        if s.scalar(select(User).where(User.name == name)):
            raise AccountError(f"a user named {name!r} exists already")
        user = User(name=name, role=role.value, password_hash=_hasher.hash(password))
        s.add(user)
        s.flush()
        record(s, by, "user.create", "user", user.id, name=name, role=role.value)
        return _principal(user)


def authenticate(db: Database, name: str, password: str) -> Principal | None:
    """The user if the password is right and the account active, else None (same timing either way)."""
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            if user:
                user.failed_logins += 1
                record(s, f"login:{name}", "login.fail", "user", user.id)
            return None
        if user is None or not user.active or user.role == Role.PLATFORM:
            return None
        user.failed_logins = 0
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        record(s, _principal(user), "login.ok", "user", user.id)
        return _principal(user)


def list_users(db: Database) -> list[Principal]:
    with db.reader() as s:
        return [_principal(u) for u in s.scalars(select(User).order_by(User.name))]


# ------------------------------------------------------------------------------------------ tokens


def create_token(db: Database, user_name: str, *, label: str | None = None, by: Principal | str = "cli") -> str:
    token = "tlt_" + secrets.token_urlsafe(32)
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == user_name))
        if user is None:
            raise AccountError(f"no user named {user_name!r}: create it first with `tipline users add`")
        s.add(ApiToken(user_id=user.id, token_hash=sha256_hex(token), label=label))
        record(s, by, "token.create", "user", user.id, label=label)
    return token


def principal_for_token(db: Database, token: str) -> Principal | None:
    with db.reader() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token), ApiToken.revoked.is_(False)))
        if row is None or not row.user.active:
            return None
        return _principal(row.user)


# ------------------------------------------------------------------------------------------ staff sessions


def open_session(db: Database, user: Principal) -> tuple[str, str]:
    """A new login session: (cookie value, CSRF token). Only the cookie's SHA-256 is stored."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    with db.session() as s:
        s.add(StaffSession(id=sha256_hex(cookie), user_id=user.id, csrf_token=csrf))
    return cookie, csrf


def session_principal(db: Database, cookie: str, *, idle: timedelta) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live session; touches it (sliding idle timeout)."""
    now = datetime.now(UTC)
    with db.session() as s:
        row = s.get(StaffSession, sha256_hex(cookie))
        if row is None or row.revoked or not row.user.active:
            return None
        if now - row.last_seen_at > idle:
            row.revoked = True
            return None
        if now - row.last_seen_at > timedelta(seconds=30):
            row.last_seen_at = now
        return _principal(row.user), row.csrf_token


def close_session(db: Database, cookie: str) -> None:
    with db.session() as s:
        row = s.get(StaffSession, sha256_hex(cookie))
        if row is not None:
            row.revoked = True
            record(s, _principal(row.user), "logout", "user", row.user_id)


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


def platform_for_api_key(db: Database, api_key: str) -> Principal | None:
    with db.reader() as s:
        p = s.scalar(select(Platform).where(Platform.api_key_hash == sha256_hex(api_key)))
        return Principal("platform", p.id, p.name, Role.PLATFORM) if p and p.active else None


def platform_for_basic(db: Database, username: str, password: str) -> Principal | None:
    with db.reader() as s:
        p = s.scalar(select(Platform).where(Platform.cybertip_username == username))
        if p is None or not p.active:
            return None
        if not hmac.compare_digest(p.cybertip_password_hash, sha256_hex(password)):
            return None
        return Principal("platform", p.id, p.name, Role.PLATFORM)


def platform_by_name(db: Database, name: str) -> Principal | None:
    with db.reader() as s:
        p = s.scalar(select(Platform).where(Platform.name == name))
        return Principal("platform", p.id, p.name, Role.PLATFORM) if p else None
