"""Roles, principals and the audit write every account operation shares.

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher, Type
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.store import Database
from tipline.store.models import User

if TYPE_CHECKING:
    from tipline.settings import Settings


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    PLATFORM = "platform"


STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.ANALYST)
_RANK = {Role.ANALYST: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3, Role.PLATFORM: 0}

# Argon2id for human passwords: above OWASP's minimum (m=19 MiB, t=2, p=1) and ASVS 5.0 L2 (11.4.2)
PASSWORD_HASH_PARAMS: dict[str, Any] = {
    "time_cost": 3,
    "memory_cost": 64 * 1024,
    "parallelism": 1,
    "hash_len": 32,
    "salt_len": 16,
}
# Argon2id for random 80-bit recovery codes: OWASP's minimum is ample for secrets nobody can guess
CODE_HASH_PARAMS: dict[str, Any] = {
    "time_cost": 2,
    "memory_cost": 19 * 1024,
    "parallelism": 1,
    "hash_len": 32,
    "salt_len": 16,
}
_hasher = PasswordHasher(type=Type.ID, **PASSWORD_HASH_PARAMS)
_code_hasher = PasswordHasher(type=Type.ID, **CODE_HASH_PARAMS)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that timing does not reveal which names
    exist. Made at the first use, not at import: an Argon2 hash costs every process (each `tipline`
    command) 0.2 s."""
    return _hasher.hash("not a real password")


MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are copied by hand
TOTP_PERIOD = 30
PENDING_LOGIN = timedelta(minutes=5)  # time to type the code after the password


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why and what to do. ``key`` names
    the reason for front ends that say it in the user's language (e.g. ``password.common``)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


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
    from tipline.audit import append

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


def _now() -> datetime:
    return datetime.now(UTC)


def mfa_required(role: Role | str, settings: Settings) -> bool:
    """True when this role must use a second factor (admins and supervisors always)."""
    role = Role(role)
    if role in (Role.ADMIN, Role.SUPERVISOR):
        return True
    return role == Role.ANALYST and settings.mfa_required_for_analysts


def audited(
    db: Database,
    actor: Principal | str,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    **details: Any,
) -> None:
    """Append one audit event in its own transaction, for an action that changed nothing else (a view, an
    export, a check): front ends call this, never :func:`record` with a session of their own."""
    with db.session() as s:
        record(s, actor, action, target_type, target_id, **details)


def _locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _fail(s: Session, user: User, what: str, settings: Settings) -> None:
    """Count a wrong password or code; lock the account at the threshold (in the caller's transaction)."""
    threshold, minutes = settings.lockout_threshold, settings.lockout_minutes
    user.failed_logins = (user.failed_logins or 0) + 1
    record(s, f"login:{user.name}", f"{what}.fail", "user", user.id, failures=user.failed_logins)
    if user.failed_logins >= threshold:
        user.locked_until = _now() + timedelta(minutes=minutes)
        user.failed_logins = 0
        record(s, "system", "user.lock", "user", user.id, minutes=minutes, after=what)


def _user_named(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None or user.role == Role.PLATFORM:
        raise AccountError(f"no staff user named {name!r} (see `tipline users list`)")
    return user
