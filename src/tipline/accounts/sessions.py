"""Server-side staff sessions: opened in stages, promoted, listed, revoked.

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.accounts.principal import (
    PENDING_LOGIN,
    AccountError,
    Principal,
    _locked,
    _now,
    _principal,
    _user_named,
    record,
    sha256_hex,
)
from tipline.store import Database
from tipline.store.models import StaffSession, User

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
