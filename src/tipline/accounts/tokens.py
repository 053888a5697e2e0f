"""Staff API tokens: issued with a scope and an expiry, listed, revoked.

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tipline.accounts.mfa import verify_second_factor
from tipline.accounts.principal import (
    _RANK,
    STAFF_ROLES,
    AccountError,
    Principal,
    Role,
    _now,
    mfa_required,
    record,
    sha256_hex,
)
from tipline.store import Database
from tipline.store.models import ApiToken, User

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
