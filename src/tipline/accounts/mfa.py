"""The second factor: TOTP enrolment and codes (each accepted once), recovery codes.

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from tipline.accounts.principal import (
    _CODE_ALPHABET,
    RECOVERY_CODES,
    TOTP_PERIOD,
    AccountError,
    _code_hasher,
    _fail,
    _locked,
    _now,
    _principal,
    mfa_required,
    record,
)
from tipline.store import Database
from tipline.store.models import RecoveryCode, User

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
