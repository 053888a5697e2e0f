"""FastAPI dependencies: the app's Database and Settings, and who is calling.

- staff JSON API: ``Authorization: Bearer <staff token>`` (``tipline tokens create``)
- platforms: ``Authorization: Bearer <platform API key>`` or HTTP Basic (CyberTipline credentials)
- staff pages: a server-side session cookie (see ``web.pages``)
"""

from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException, Request

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.settings import Settings
from tipline.store import Database

# what a platform principal is, for the doors that take one
PlatformPrincipal = Principal


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(detail: str, scheme: str = "Bearer") -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": scheme})


def bearer_platform(request: Request) -> Principal:
    token = _bearer(request)
    if token is None:
        raise _unauthorized("send the platform API key as 'Authorization: Bearer <key>' (from `tipline keys create`)")
    p = accounts.platform_for_api_key(get_db(request), token)
    if p is None:
        raise _unauthorized("unknown or disabled platform API key")
    return p


def basic_platform(request: Request) -> Principal:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic":
        raise _unauthorized("send the CyberTipline username and password with HTTP Basic auth", 'Basic realm="tipline"')
    try:
        username, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("malformed HTTP Basic credentials", 'Basic realm="tipline"') from None
    p = accounts.platform_for_basic(get_db(request), username, password)
    if p is None:
        raise _unauthorized("wrong CyberTipline username or password", 'Basic realm="tipline"')
    return p


def staff(request: Request) -> Principal:
    """A staff user from a bearer token (API) or the session cookie (pages)."""
    token = _bearer(request)
    user: Principal | None = None
    if token is not None:
        user = accounts.principal_for_token(get_db(request), token)
        if user is None:
            raise _unauthorized(
                "unknown, revoked or expired staff token (make a new one on your account page or with "
                "`tipline tokens create NAME`)"
            )
    else:
        user = getattr(request.state, "user", None)
    if user is None:
        raise _unauthorized("log in, or send a staff token as 'Authorization: Bearer <token>'")
    if not user.can(Role.ANALYST):
        raise HTTPException(status_code=403, detail="this needs a staff role (analyst, supervisor or admin)")
    return user


def require(role: Role):  # type: ignore[no-untyped-def]
    def dep(request: Request) -> Principal:
        user = staff(request)
        if not user.can(role):
            raise HTTPException(status_code=403, detail=f"this needs the {role.value} role")
        return user

    return dep
