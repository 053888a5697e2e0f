"""Staff users, tokens, sessions, MFA, platforms and the audit trail.

**Passwords** are hashed with Argon2id at explicit parameters (:data:`PASSWORD_HASH_PARAMS`): 64 MiB of
memory, 3 passes, 1 lane. That is above the OWASP Password Storage Cheat Sheet's minimum (19 MiB, 2
passes, 1 lane, or its equivalents such as 46 MiB and 1 pass), which OWASP ASVS 5.0 requirement 11.4.2
(level 2) points to as "current guidance", and it is RFC 9106's second recommended profile in memory and
passes. Hashes made with weaker parameters are upgraded at the next login. The password policy
(:func:`validate_password`) follows ASVS 5.0 V6.2: 12 to 1024 characters, any characters, no composition
rules, refused when it is a common password or easy to guess (zxcvbn's 30,000 common passwords and its
estimate), or close to the user name.

**Second factor**: TOTP (RFC 6238, 6 digits, 30 s, ``pyotp``), required for admins and supervisors and
for analysts when ``mfa_required_for_analysts`` is set. A code is accepted once: the time step of the
last accepted code is stored per user and only a later step is accepted, with a conditional UPDATE so
that two requests racing with the same code cannot both win. Ten single-use recovery codes (80 bits each,
Argon2id digests at OWASP's minimum parameters, which is plenty for random codes) replace the app once each.

**Lockout**: ``lockout_threshold`` wrong passwords or codes in a row lock the account for
``lockout_minutes``; the login page says nothing more than "wrong name or password" either way. An admin
can unlock it (page ``/admin/users`` or ``tipline users unlock``). Every lock, unlock, MFA change and
session revocation is an audit event.

**Sessions** are server-side rows; the cookie carries a random id of which only the SHA-256 is stored.
A session has a stage: ``password`` (the password was right, the code is still due), ``enrol`` (must
enrol a second factor first) or ``full``. A new id is issued when a session becomes ``full`` (no session
fixation). Sessions end after ``session_idle_minutes`` idle or ``session_max_hours`` after login, at
logout, or when an admin revokes them.

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

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from tipline.store import Database
from tipline.store.models import ApiToken, AuditEvent, Platform, RecoveryCode, StaffSession, User


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    PLATFORM = "platform"


STAFF_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.ANALYST)
_RANK = {Role.ANALYST: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3, Role.PLATFORM: 0}

# Argon2id for human passwords: above OWASP's minimum (m=19 MiB, t=2, p=1) and ASVS 5.0 L2 (11.4.2)
PASSWORD_HASH_PARAMS = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 1, "hash_len": 32, "salt_len": 16}
# Argon2id for random 80-bit recovery codes: OWASP's minimum is ample for secrets nobody can guess
CODE_HASH_PARAMS = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1, "hash_len": 32, "salt_len": 16}
_hasher = PasswordHasher(type=Type.ID, **PASSWORD_HASH_PARAMS)
_code_hasher = PasswordHasher(type=Type.ID, **CODE_HASH_PARAMS)
# a hash to verify against when the user does not exist, so timing does not reveal which names exist
_DUMMY_HASH = _hasher.hash("not a real password")

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


def _now() -> datetime:
    return datetime.now(UTC)


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


def mfa_required(role: Role | str, settings: Any) -> bool:
    """True when this role must use a second factor (admins and supervisors always)."""
    role = Role(role)
    if role in (Role.ADMIN, Role.SUPERVISOR):
        return True
    return role == Role.ANALYST and bool(getattr(settings, "mfa_required_for_analysts", False))


@dataclass(frozen=True)
class LoginStep:
    """The result of a right password: who, and what is still due before the session is ``full``."""

    user: Principal
    stage: str  # "full" | "password" (code due) | "enrol" (must enrol a second factor)


def _locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _fail(s: Session, user: User, what: str, settings: Any) -> None:
    """Count a wrong password or code; lock the account at the threshold (in the caller's transaction)."""
    threshold, minutes = settings.lockout_threshold, settings.lockout_minutes
    user.failed_logins = (user.failed_logins or 0) + 1
    record(s, f"login:{user.name}", f"{what}.fail", "user", user.id, failures=user.failed_logins)
    if user.failed_logins >= threshold:
        user.locked_until = _now() + timedelta(minutes=minutes)
        user.failed_logins = 0
        record(s, "system", "user.lock", "user", user.id, minutes=minutes, after=what)


def login_password(db: Database, name: str, password: str) -> LoginStep | None:
    """Check a name and password (same timing whether the name exists or not). None when wrong, when the
    account is locked or inactive, or for a platform. A wrong password counts towards the lockout."""
    now = _now()
    with db.reader() as s:
        row = s.execute(select(User.id, User.password_hash).where(User.name == name)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
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


def _user_named(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None or user.role == Role.PLATFORM:
        raise AccountError(f"no staff user named {name!r} (see `tipline users list`)")
    return user


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


# ------------------------------------------------------------------------------------------ second factor


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=TOTP_PERIOD)


def _code_digits(code: str) -> str:
    return "".join(code.split()).replace("-", "")


def totp_step(secret: str, code: str, *, at: datetime | None = None) -> int | None:
    """The time step whose code ``code`` is (this step, the one before or the one after, for clock
    drift), or None."""
    digits = _code_digits(code)
    if len(digits) != 6 or not digits.isascii() or not digits.isdigit():
        return None
    totp = _totp(secret)
    now = int((at or _now()).timestamp()) // TOTP_PERIOD
    for step in (now, now - 1, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def provisioning_uri(secret: str, name: str, issuer: str) -> str:
    return _totp(secret).provisioning_uri(name=name, issuer_name=issuer)


def start_enrolment(db: Database, user_id: int) -> str:
    """A new TOTP secret for the user, stored sealed but not yet in force (:func:`confirm_enrolment` puts
    it in force). Refused when a second factor is already in force (reset it first)."""
    secret = pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended length
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise AccountError("no such user")
        if user.mfa_enabled:
            raise AccountError("a second factor is already in force: an admin can reset it")
        user.totp_secret_sealed = secret
        user.totp_last_step = None
    return secret


def pending_secret(db: Database, user_id: int) -> str | None:
    """The secret being enrolled (None when there is none, or when MFA is already in force)."""
    with db.reader() as s:
        user = s.get(User, user_id)
        if user is None or user.mfa_enabled:
            return None
        return user.totp_secret_sealed


def _new_codes(s: Session, user_id: int) -> list[str]:
    s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
        s.add(RecoveryCode(user_id=user_id, code_hash=_code_hasher.hash(raw)))
    return codes


def confirm_enrolment(db: Database, user_id: int, code: str) -> list[str] | None:
    """Put the pending secret in force when ``code`` is its current code; returns the recovery codes (to
    show once), or None when the code is wrong (which does not count towards the lockout: nobody can log
    in with a secret that is not in force yet)."""
    with db.session() as s:
        user = s.get(User, user_id, with_for_update=True)
        if user is None or user.mfa_enabled or not user.totp_secret_sealed:
            return None
        step = totp_step(user.totp_secret_sealed, code)
        if step is None:
            return None
        user.mfa_enabled = True
        user.totp_last_step = step
        codes = _new_codes(s, user.id)
        record(s, _principal(user), "mfa.enrol", "user", user.id)
        return codes


def regenerate_recovery_codes(db: Database, user_id: int, code: str) -> list[str] | None:
    """New recovery codes (the old ones stop working) for a user who gives a current TOTP code."""
    if not verify_second_factor(db, user_id, code, recovery=False):
        return None
    with db.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        codes = _new_codes(s, user.id)
        record(s, _principal(user), "mfa.recovery_codes", "user", user.id)
        return codes


def disable_mfa(db: Database, user_id: int, code: str) -> bool:
    """A user whose role does not need MFA turns it off (with a current code)."""
    with db.reader() as s:
        user = s.get(User, user_id)
        if user is None or not user.mfa_enabled:
            return False
        if mfa_required(user.role, db.settings):
            raise AccountError("your role needs a second factor: it cannot be turned off", "mfa.required")
    if not verify_second_factor(db, user_id, code, recovery=False):
        return False
    with db.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        user.mfa_enabled = False
        user.totp_secret_sealed = None
        user.totp_last_step = None
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        record(s, _principal(user), "mfa.disable", "user", user.id)
    return True


def verify_second_factor(db: Database, user_id: int, code: str, *, recovery: bool = True) -> bool:
    """True when ``code`` is a TOTP code of a step later than the last one accepted, or (``recovery``) an
    unused recovery code, which is then used up. A wrong code counts towards the lockout; nothing is
    accepted while the account is locked."""
    now = _now()
    with db.reader() as s:
        user = s.get(User, user_id)
        if user is None or not user.mfa_enabled or not user.totp_secret_sealed:
            return False
        secret = user.totp_secret_sealed
        unused = (
            list(s.execute(select(RecoveryCode.id, RecoveryCode.code_hash).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )).all())
            if recovery
            else []
        )  # fmt: skip
    step = totp_step(secret, code)
    used_code: int | None = None
    if step is None and unused:
        raw = _code_digits(code).lower()
        if len(raw) == 16 and all(c in _CODE_ALPHABET for c in raw):
            for code_id, digest in unused:  # each is checked: at most RECOVERY_CODES hashes
                try:
                    _code_hasher.verify(digest, raw)
                    used_code = code_id
                    break
                except (VerificationError, InvalidHashError):
                    continue
    with db.session() as s:
        user = s.get(User, user_id, with_for_update=True)
        if user is None:
            return False
        if _locked(user, now):
            record(s, f"login:{user.name}", "mfa.locked", "user", user.id)
            return False
        ok = False
        if step is not None:
            # only a step later than the last accepted one: a code (or an older one) is never replayed
            res = s.execute(
                update(User)
                .where(User.id == user_id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            ok = res.rowcount == 1  # type: ignore[attr-defined]
            if not ok:
                record(s, f"login:{user.name}", "mfa.replay", "user", user.id)
        elif used_code is not None:
            res = s.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == used_code, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            ok = res.rowcount == 1  # type: ignore[attr-defined]
            if ok:
                left = s.scalar(
                    select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
                )
                record(s, _principal(user), "mfa.recovery_code.use", "user", user.id, left=left)
        if not ok:
            _fail(s, user, "mfa", db.settings)
        return ok


def recovery_codes_left(db: Database, user_id: int) -> int:
    with db.reader() as s:
        return (
            s.scalar(select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0
        )


def mfa_enabled(db: Database, user_id: int) -> bool:
    with db.reader() as s:
        return bool(s.scalar(select(User.mfa_enabled).where(User.id == user_id)))


# ------------------------------------------------------------------------------------------ tokens


TOKEN_PREFIX = "tlt_"
# what a token carries without a second-factor check as it is made (see issue_token)
UNCHECKED_SCOPE = Role.ANALYST


@dataclass(frozen=True)
class IssuedToken:
    """A new staff token: the secret (shown once), its id, scope and expiry."""

    token: str
    id: int
    user: str
    scope: Role
    expires_at: datetime
    label: str | None


def _lower(a: Role, b: Role) -> Role:
    return a if _RANK[a] <= _RANK[b] else b


def issue_token(
    db: Database,
    user_name: str,
    *,
    label: str | None = None,
    days: int | None = None,
    scope: Role | str | None = None,
    code: str | None = None,
    by: Principal | str = "cli",
) -> IssuedToken:
    """Make a staff API token for ``user_name``. It expires after ``days`` (``settings.token_days`` by
    default, at most ``settings.token_max_days``). Its ``scope`` caps what it may do (the user's role caps
    it too): ``analyst`` unless ``code`` is a current second-factor code of the user, which allows up to
    the user's role. A user whose role needs MFA must have it enrolled first. Audited."""
    settings = db.settings
    days = settings.token_days if days is None else days
    if not 1 <= days <= settings.token_max_days:
        raise AccountError(f"a token lives 1 to {settings.token_max_days} days", "token.days")
    label = (label or "").strip()[:128] or None
    with db.reader() as s:
        user = s.scalar(select(User).where(User.name == user_name))
        if user is None or user.role == Role.PLATFORM:
            raise AccountError(f"no staff user named {user_name!r}: create it first with `tipline users add`")
        if not user.active:
            raise AccountError(f"{user_name!r} is deactivated: activate the user first", "token.inactive")
        role, user_id, enrolled = Role(user.role), user.id, user.mfa_enabled
    if mfa_required(role, settings) and not enrolled:
        raise AccountError(
            f"{user_name!r} must enrol a second factor (log in to the pages once) before a token can be made",
            "token.mfa_missing",
        )
    wanted = Role(scope) if scope else (role if _RANK[role] <= _RANK[UNCHECKED_SCOPE] else UNCHECKED_SCOPE)
    if wanted not in STAFF_ROLES or _RANK[wanted] > _RANK[role]:
        raise AccountError(f"a token of {user_name!r} can carry at most the {role.value} role", "token.scope")
    if _RANK[wanted] > _RANK[UNCHECKED_SCOPE]:
        if not enrolled or not code or not verify_second_factor(db, user_id, code, recovery=False):
            raise AccountError(
                f"a token with the {wanted.value} scope needs a current code from {user_name!r}'s authenticator "
                "app (a code is accepted once)",
                "token.code",
            )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = _now() + timedelta(days=days)
    with db.session() as s:
        row = ApiToken(user_id=user_id, token_hash=sha256_hex(token), label=label, scope=wanted.value,
                       expires_at=expires)  # fmt: skip
        s.add(row)
        s.flush()
        record(s, by, "token.create", "user", user_id, token=row.id, label=label, scope=wanted.value, days=days,
               second_factor=_RANK[wanted] > _RANK[UNCHECKED_SCOPE])  # fmt: skip
        return IssuedToken(token, row.id, user_name, wanted, expires, label)


def create_token(
    db: Database, user_name: str, *, label: str | None = None, by: Principal | str = "cli", **kw: Any
) -> str:
    """:func:`issue_token`, returning the token only."""
    return issue_token(db, user_name, label=label, by=by, **kw).token


def principal_for_token(db: Database, token: str) -> Principal | None:
    """Who a staff token acts as, with the lower of the user's role and the token's scope; None when the
    token is unknown, revoked or expired, the user deactivated, or the user's role needs MFA and they
    have none (it was reset)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = _now()
    with db.reader() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token), ApiToken.revoked.is_(False)))
        if row is None or not row.user.active or row.user.role == Role.PLATFORM:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        user = row.user
        if mfa_required(user.role, db.settings) and not user.mfa_enabled:
            return None
        role = _lower(Role(user.role), Role(row.scope or UNCHECKED_SCOPE))
        touch = row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1)
        token_id = row.id
        principal = Principal("user", user.id, user.name, role)
    if touch:
        with db.session() as s:
            s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    return principal


@dataclass(frozen=True)
class TokenRow:
    """What the token pages and `tipline tokens list` show (never the secret or its digest)."""

    id: int
    user: str
    role: Role
    scope: Role
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def state(self) -> str:
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= _now():
            return "expired"
        return "live"

    @property
    def effective(self) -> Role:
        return _lower(self.role, self.scope)


def list_tokens(db: Database, *, user_id: int | None = None, include_ended: bool = False) -> list[TokenRow]:
    """Staff tokens, newest first: live ones only unless ``include_ended``."""
    now = _now()
    with db.reader() as s:
        q = select(ApiToken, User.name, User.role).join(User, User.id == ApiToken.user_id)
        if user_id is not None:
            q = q.where(ApiToken.user_id == user_id)
        if not include_ended:
            q = q.where(ApiToken.revoked.is_(False), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))
        return [
            TokenRow(
                t.id,
                name,
                Role(role),
                Role(t.scope or UNCHECKED_SCOPE),
                t.label,
                t.created_at,
                t.expires_at,
                t.last_used_at,
                t.revoked,
                t.revoked_at,
                t.revoked_by,
            )  # fmt: skip
            for t, name, role in s.execute(q.order_by(ApiToken.id.desc())).all()
        ]


def _end_token(s: Session, row: ApiToken, by: Principal | str, why: str) -> None:
    row.revoked, row.revoked_at = True, _now()
    row.revoked_by = ((by.label if isinstance(by, Principal) else by) + (f" ({why})" if why else ""))[:128]


def revoke_token(db: Database, token_id: int, *, by: Principal | str = "cli", user_id: int | None = None) -> bool:
    """Revoke a token by its id (``user_id``: only if it is that user's). False when there is no such live
    token. Audited."""
    with db.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.revoked or (user_id is not None and row.user_id != user_id):
            return False
        _end_token(s, row, by, "")
        record(s, by, "token.revoke", "user", row.user_id, token=row.id, label=row.label)
        return True


def revoke_token_value(db: Database, token: str) -> bool:
    """A token revokes itself (the JSON API's ``DELETE /api/v1/tokens/current``)."""
    with db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token), ApiToken.revoked.is_(False)))
        if row is None:
            return False
        who = Principal("user", row.user_id, row.user.name, Role(row.user.role))
        _end_token(s, row, who, "itself")
        record(s, who, "token.revoke", "user", row.user_id, token=row.id, label=row.label, by_itself=True)
        return True


def _revoke_tokens(s: Session, user_id: int, by: Principal | str, why: str, *, above: Role | None = None) -> int:
    """Revoke a user's live tokens (``above``: only those whose scope is above that role)."""
    n = 0
    for row in s.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))):
        if above is not None and _RANK[Role(row.scope or UNCHECKED_SCOPE)] <= _RANK[above]:
            continue
        _end_token(s, row, by, why)
        n += 1
    return n


# ------------------------------------------------------------------------------------------ staff sessions


def _idle(db: Database) -> timedelta:
    return timedelta(minutes=db.settings.session_idle_minutes)


def open_session(db: Database, user: Principal, *, stage: str = "full") -> tuple[str, str]:
    """A new login session: (cookie value, CSRF token). Only the cookie's SHA-256 is stored."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    with db.session() as s:
        s.add(StaffSession(id=sha256_hex(cookie), user_id=user.id, csrf_token=csrf, stage=stage))
    return cookie, csrf


@dataclass(frozen=True)
class SessionInfo:
    user: Principal
    csrf: str
    stage: str  # full | password | enrol
    key: str  # the stored id (SHA-256 of the cookie)


def session_info(db: Database, cookie: str, *, idle: timedelta | None = None) -> SessionInfo | None:
    """The live session of a cookie, whatever its stage; touches it (sliding idle timeout). A session past
    its idle time, its absolute lifetime, or (before the second factor) five minutes ends here."""
    if not cookie or len(cookie) > 200:
        return None
    now = _now()
    idle = idle if idle is not None else _idle(db)
    key = sha256_hex(cookie)
    with db.reader() as s:
        row = s.get(StaffSession, key)
        if row is None or row.revoked:
            return None
        user = row.user
        expired = (
            now - row.last_seen_at > idle
            or now - row.created_at > timedelta(hours=db.settings.session_max_hours)
            or (row.stage == "password" and now - row.created_at > PENDING_LOGIN)
        )
        live = not expired and user.active and not _locked(user, now)
        info = SessionInfo(_principal(user), row.csrf_token, row.stage, key) if live else None
        touch = live and now - row.last_seen_at > timedelta(seconds=30)
        end = expired or not user.active
    if end or touch:
        with db.session() as s:
            row = s.get(StaffSession, key)
            if row is not None and not row.revoked:
                if end:
                    row.revoked, row.revoked_at, row.revoked_by = True, now, "expired"
                else:
                    row.last_seen_at = now
    return info


def session_principal(db: Database, cookie: str, *, idle: timedelta) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live, fully logged-in session; touches it."""
    info = session_info(db, cookie, idle=idle)
    if info is None or info.stage != "full":
        return None
    return info.user, info.csrf


def promote_session(db: Database, cookie: str, stage: str = "full") -> tuple[str, str]:
    """Move a session on (second factor given, or enrolled): the old id ends and a new one is issued, so
    an id known before the login completed is worthless after it. Returns (new cookie, CSRF token)."""
    now = _now()
    with db.session() as s:
        row = s.get(StaffSession, sha256_hex(cookie))
        if row is None or row.revoked:
            raise AccountError("the session has ended: log in again")
        row.revoked, row.revoked_at, row.revoked_by = True, now, "promoted"
        user_id = row.user_id
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        s.add(StaffSession(id=sha256_hex(cookie), user_id=user_id, csrf_token=csrf, stage=stage))
        if stage == "full":
            user = s.get(User, user_id)
            assert user is not None
            user.failed_logins = 0
            user.last_login_at = now
            record(s, _principal(user), "login.ok", "user", user_id, second_factor=True)
    return cookie, csrf


def close_session(db: Database, cookie: str) -> None:
    with db.session() as s:
        row = s.get(StaffSession, sha256_hex(cookie))
        if row is not None and not row.revoked:
            row.revoked, row.revoked_at, row.revoked_by = True, _now(), "logout"
            record(s, _principal(row.user), "logout", "user", row.user_id)


@dataclass(frozen=True)
class SessionRow:
    key: str
    user: str
    role: str
    stage: str
    created_at: datetime
    last_seen_at: datetime

    @property
    def short(self) -> str:
        return self.key[:8]


def list_sessions(db: Database, *, user_id: int | None = None) -> list[SessionRow]:
    """Live sessions (not revoked, not idle past the timeout), newest activity first."""
    now = _now()
    with db.reader() as s:
        q = (
            select(StaffSession, User.name, User.role)
            .join(User, User.id == StaffSession.user_id)
            .where(
                StaffSession.revoked.is_(False),
                StaffSession.last_seen_at > now - _idle(db),
                StaffSession.created_at > now - timedelta(hours=db.settings.session_max_hours),
            )
            .order_by(StaffSession.last_seen_at.desc())
        )
        if user_id is not None:
            q = q.where(StaffSession.user_id == user_id)
        return [
            SessionRow(row.id, name, role, row.stage, row.created_at, row.last_seen_at)
            for row, name, role in s.execute(q).all()
        ]


def revoke_session(db: Database, key: str, *, by: Principal | str = "cli", user_id: int | None = None) -> bool:
    """End one session by its stored id (or a unique prefix of it, as `tipline sessions list` shows).
    ``user_id``: only if it is that user's (a user ending their own sessions)."""
    key = key.strip().lower()
    if not key or len(key) > 64 or any(c not in "0123456789abcdef" for c in key):
        return False
    with db.session() as s:
        q = select(StaffSession).where(
            StaffSession.id.startswith(key, autoescape=True), StaffSession.revoked.is_(False)
        )
        if user_id is not None:
            q = q.where(StaffSession.user_id == user_id)
        rows = list(s.scalars(q.limit(2)))
        if len(rows) != 1:
            return False
        row = rows[0]
        row.revoked, row.revoked_at = True, _now()
        row.revoked_by = (by.label if isinstance(by, Principal) else by)[:128]
        record(s, by, "session.revoke", "user", row.user_id, session=row.id[:8])
        return True


def _revoke_all(s: Session, user_id: int, by: Principal | str, *, keep: str | None = None) -> int:
    q = select(StaffSession).where(StaffSession.user_id == user_id, StaffSession.revoked.is_(False))
    n = 0
    for row in s.scalars(q):
        if keep is not None and row.id == keep:
            continue
        row.revoked, row.revoked_at = True, _now()
        row.revoked_by = (by.label if isinstance(by, Principal) else by)[:128]
        n += 1
    return n


def revoke_user_sessions(db: Database, name: str, *, by: Principal | str = "cli") -> int:
    """End every session of a user; returns how many."""
    with db.session() as s:
        user = _user_named(s, name)
        n = _revoke_all(s, user.id, by)
        record(s, by, "session.revoke_all", "user", user.id, sessions=n)
        return n


# ------------------------------------------------------------------------------------------ audit log view


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]


def audit_events(db: Database, *, offset: int = 0, limit: int = 50, action: str | None = None) -> tuple[
    list[AuditRow], int
]:  # fmt: skip
    """Audit events, newest first (``action``: an exact action or a prefix ending in '.', e.g. 'login.')."""
    with db.reader() as s:
        q = select(AuditEvent)
        if action:
            q = q.where(AuditEvent.action.startswith(action, autoescape=True) if action.endswith(".") else (
                AuditEvent.action == action))  # fmt: skip
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(AuditEvent.seq.desc()).offset(offset).limit(limit))
        return [
            AuditRow(e.seq, e.at, e.actor, e.action, e.target_type, e.target_id, dict(e.details or {})) for e in rows
        ], total


def audit_actions(db: Database) -> list[str]:
    with db.reader() as s:
        return sorted(s.scalars(select(AuditEvent.action).distinct()))


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
        ok = p is not None and p.active and p.api_key_active
        return Principal("platform", p.id, p.name, Role.PLATFORM) if ok else None  # type: ignore[union-attr]


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
        return RotatedCredentials(p.name, api_key, p.cybertip_username if password else None, password)
