"""Staff users: passwords (policy, Argon2id), login with lockout, roles, activation.

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tipline.accounts.principal import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    AccountError,
    Principal,
    Role,
    _fail,
    _hasher,
    _locked,
    _now,
    _principal,
    _user_named,
    dummy_hash,
    mfa_required,
    record,
)
from tipline.accounts.sessions import _idle, _revoke_all
from tipline.accounts.tokens import UNCHECKED_SCOPE, _revoke_tokens
from tipline.store import Database
from tipline.store.models import RecoveryCode, StaffSession, User

# ------------------------------------------------------------------------------------------ users


def validate_password(password: str, *, name: str | None = None) -> None:
    """Raise :class:`AccountError` when ``password`` is not acceptable (ASVS 5.0 V6.2; no composition rules)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_CHARS} characters", "password.short")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_CHARS} characters", "password.long")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise AccountError("the password must not contain control characters", "password.control")
    from zxcvbn import zxcvbn
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    folded = password.casefold()
    if folded in _common_passwords(FREQUENCY_LISTS):
        raise AccountError("this password is one of the most common passwords: choose another", "password.common")
    # the user name, give or take a few characters (a name inside a longer passphrase is fine)
    if name and len(name) >= 3 and name.casefold() in folded and len(folded.replace(name.casefold(), "")) < 8:
        raise AccountError("the password must not be the user name with a few characters added", "password.name")
    # zxcvbn refuses more than 72 characters (its estimate is quadratic in the length): the first 72 decide
    inputs = [x for x in (name, "tipline", "hotline") if x]
    if zxcvbn(password[:72], user_inputs=inputs)["score"] < 3:
        raise AccountError(
            "this password is easy to guess: use a longer one, for example a few unrelated words", "password.weak"
        )


_COMMON: frozenset[str] | None = None


def _common_passwords(lists: dict[str, list[str]]) -> frozenset[str]:
    global _COMMON
    if _COMMON is None:
        _COMMON = frozenset(p.casefold() for p in lists["passwords"])
    return _COMMON


def _check_name(name: str) -> None:
    if not name or len(name) > 128 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccountError("a user name is 1-128 letters, digits, '-', '_' or '.'", "name.invalid")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(db: Database, name: str, role: Role | str, password: str, *, by: Principal | str = "cli") -> Principal:
    role = Role(role)
    _check_name(name)
    validate_password(password, name=name)
    digest = _hasher.hash(password)
    with db.session() as s:
        if s.scalar(select(User).where(User.name == name)):
            raise AccountError(f"a user named {name!r} exists already", "name.taken")
        user = User(name=name, role=role.value, password_hash=digest, password_changed_at=_now())
        s.add(user)
        s.flush()
        record(s, by, "user.create", "user", user.id, name=name, role=role.value)
        return _principal(user)


@dataclass(frozen=True)
class LoginStep:
    """The result of a right password: who, and what is still due before the session is ``full``."""

    user: Principal
    stage: str  # "full" | "password" (code due) | "enrol" (must enrol a second factor)


def login_password(db: Database, name: str, password: str) -> LoginStep | None:
    """Check a name and password (same timing whether the name exists or not). None when wrong, when the
    account is locked or inactive, or for a platform. A wrong password counts towards the lockout."""
    now = _now()
    with db.reader() as s:
        row = s.execute(select(User.id, User.password_hash).where(User.name == name)).first()
    try:
        _hasher.verify(row.password_hash if row else dummy_hash(), password)
        right = row is not None
    except (VerificationError, InvalidHashError):
        right = False
    if row is None:
        return None
    with db.session() as s:
        user = s.get(User, row.id, with_for_update=True)
        if user is None:
            return None
        if _locked(user, now):
            record(s, f"login:{user.name}", "login.locked", "user", user.id)
            return None
        if not right:
            _fail(s, user, "login", db.settings)
            return None
        if not user.active or user.role == Role.PLATFORM:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        principal = _principal(user)
        if user.mfa_enabled:
            record(s, principal, "login.password", "user", user.id)
            return LoginStep(principal, "password")
        user.failed_logins = 0
        user.last_login_at = now
        stage = "enrol" if mfa_required(user.role, db.settings) else "full"
        record(s, principal, "login.ok" if stage == "full" else "login.enrol", "user", user.id)
        return LoginStep(principal, stage)


def authenticate(db: Database, name: str, password: str) -> Principal | None:
    """The user if the password is right and the account active and not locked, else None. This is the
    password step only: :func:`login_password` says whether a second factor is still due."""
    step = login_password(db, name, password)
    return step.user if step else None


def list_users(db: Database) -> list[Principal]:
    with db.reader() as s:
        return [_principal(u) for u in s.scalars(select(User).order_by(User.name))]


@dataclass(frozen=True)
class UserRow:
    """What the admin page shows about a user (never a secret or a hash)."""

    id: int
    name: str
    role: Role
    active: bool
    mfa_enabled: bool
    mfa_required: bool
    locked_until: datetime | None
    failed_logins: int
    last_login_at: datetime | None
    created_at: datetime
    sessions: int
    recovery_codes_left: int

    @property
    def locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > _now()


def user_rows(db: Database) -> list[UserRow]:
    now = _now()
    with db.reader() as s:
        live = dict(
            s.execute(
                select(StaffSession.user_id, func.count())
                .where(StaffSession.revoked.is_(False), StaffSession.last_seen_at > now - _idle(db))
                .group_by(StaffSession.user_id)
            ).all()
        )
        codes = dict(
            s.execute(
                select(RecoveryCode.user_id, func.count())
                .where(RecoveryCode.used_at.is_(None))
                .group_by(RecoveryCode.user_id)
            ).all()
        )
        return [
            UserRow(
                u.id,
                u.name,
                Role(u.role),
                u.active,
                u.mfa_enabled,
                mfa_required(u.role, db.settings),
                u.locked_until if u.locked_until and u.locked_until > now else None,
                u.failed_logins,
                u.last_login_at,
                u.created_at,
                live.get(u.id, 0),
                codes.get(u.id, 0),
            )
            for u in s.scalars(select(User).where(User.role != Role.PLATFORM.value).order_by(User.name))
        ]


def _active_admins(s: Session) -> int:
    return s.scalar(select(func.count()).where(User.role == Role.ADMIN.value, User.active.is_(True))) or 0


def unlock_user(db: Database, name: str, *, by: Principal | str = "cli") -> bool:
    """Lift a lockout; True when the account was locked."""
    with db.session() as s:
        user = _user_named(s, name)
        was = _locked(user, _now())
        user.locked_until = None
        user.failed_logins = 0
        record(s, by, "user.unlock", "user", user.id, was_locked=was)
        return was


def reset_mfa(db: Database, name: str, *, by: Principal | str = "cli") -> None:
    """Forget a user's second factor and recovery codes and end their sessions: at the next login a user
    whose role needs MFA enrols again (for a lost phone; check who is asking before doing this)."""
    with db.session() as s:
        user = _user_named(s, name)
        user.totp_secret_sealed = None
        user.mfa_enabled = False
        user.totp_last_step = None
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        n = _revoke_all(s, user.id, by)
        # tokens made after a second-factor check lose their ground with the factor
        t = _revoke_tokens(s, user.id, by, "second factor reset", above=UNCHECKED_SCOPE)
        record(s, by, "mfa.reset", "user", user.id, sessions_revoked=n, tokens_revoked=t)


def set_role(db: Database, name: str, role: Role | str, *, by: Principal | str = "cli") -> None:
    role = Role(role)
    if role == Role.PLATFORM:
        raise AccountError("platforms are not users: use `tipline keys create PLATFORM`")
    with db.session() as s:
        user = _user_named(s, name)
        if user.role == Role.ADMIN and role != Role.ADMIN and user.active and _active_admins(s) <= 1:
            raise AccountError("this is the last active admin: make another admin first", "admin.last")
        old = user.role
        if old == role.value:
            return
        user.role = role.value
        # the new role may need MFA, and must not ride on sessions opened under the old one
        n = _revoke_all(s, user.id, by)
        record(s, by, "user.role", "user", user.id, old=old, new=role.value, sessions_revoked=n)


def set_active(db: Database, name: str, active: bool, *, by: Principal | str = "cli") -> None:
    with db.session() as s:
        user = _user_named(s, name)
        if not active and user.role == Role.ADMIN and user.active and _active_admins(s) <= 1:
            raise AccountError("this is the last active admin: make another admin first", "admin.last")
        user.active = active
        # sessions and tokens end for good: activating the user again revives neither
        n = 0 if active else _revoke_all(s, user.id, by)
        t = 0 if active else _revoke_tokens(s, user.id, by, "user deactivated")
        record(s, by, "user.activate" if active else "user.deactivate", "user", user.id, sessions_revoked=n,
               tokens_revoked=t)  # fmt: skip


def change_password(db: Database, user_id: int, current: str, new: str, *, keep_session: str | None = None) -> None:
    """A user changes their own password (the current one is checked; a wrong one counts towards the
    lockout). Every other session of the user ends."""
    with db.reader() as s:
        row = s.execute(select(User.name, User.password_hash).where(User.id == user_id)).one()
    try:
        _hasher.verify(row.password_hash, current)
        right = True
    except (VerificationError, InvalidHashError):
        right = False
    if right:
        validate_password(new, name=row.name)
        digest = _hasher.hash(new)
    with db.session() as s:
        user = s.get(User, user_id, with_for_update=True)
        assert user is not None
        if not right:
            _fail(s, user, "password-change", db.settings)
        else:
            user.password_hash = digest
            user.password_changed_at = _now()
            n = _revoke_all(s, user.id, _principal(user), keep=keep_session)
            record(s, _principal(user), "user.password", "user", user.id, sessions_revoked=n)
    if not right:
        raise AccountError("the current password is wrong", "password.wrong")
