"""FastAPI dependencies: the app's Database and Settings, and who is calling.

- staff JSON API: ``Authorization: Bearer <staff token>`` (``tipline tokens create``)
- platforms: ``Authorization: Bearer <platform API key>`` or HTTP Basic (CyberTipline credentials)
- staff pages: a server-side session cookie (see ``web.pages``)
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBase, HTTPBearer, SecurityBase
from fastapi.security.base import SecurityBase as SecurityScheme

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.settings import Settings
from tipline.store import Database

# what a platform principal is, for the doors that take one
PlatformPrincipal = Principal

SESSION_COOKIE = "tipline_session"  # the staff pages' session cookie (``webkit.kit`` re-exports it)


class Documented(SecurityScheme):
    """A security scheme the OpenAPI document declares for every operation whose caller check uses it.

    It checks nothing itself (the dependency that names it reads and checks the credentials, with its own
    error messages); it only lets FastAPI write ``components.securitySchemes`` and each operation's
    ``security`` from the real dependencies, so the schema cannot drift from what the routes require."""

    def __init__(self, model: SecurityBase, scheme_name: str) -> None:
        self.model = model
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


BEARER = Documented(
    HTTPBearer(
        description="A staff token (`tipline tokens create`, or the account page) or a platform API key "
        "(`tipline keys create`), as 'Authorization: Bearer <value>'."
    ),
    "bearer",
)
SESSION = Documented(
    APIKey(**{"in": APIKeyIn.cookie}, name=SESSION_COOKIE, description="A staff page session (after signing in)."),
    "session",
)
BASIC = Documented(
    HTTPBase(scheme="basic", description="The platform's CyberTipline username and password (`/ispws` only)."),
    "cyberTiplineBasic",
)
# the parameters a caller check takes so that the schema names its schemes (no values: always None)
BearerDoc = Annotated[None, Depends(BEARER)]
SessionDoc = Annotated[None, Depends(SESSION)]
BasicDoc = Annotated[None, Depends(BASIC)]


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


# the same two as dependencies, async although they only read the app's state: FastAPI runs a plain `def`
# dependency in its thread pool, one thread hand-off per request for nothing (measured at the JSON API door)
async def app_db(request: Request) -> Database:
    return get_db(request)


async def app_settings(request: Request) -> Settings:
    return get_settings(request)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(detail: str, scheme: str = "Bearer") -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": scheme})


async def bearer_platform(request: Request, _bearer_doc: BearerDoc = None) -> Principal:
    # async: a key this process checked within `api_key_cache_seconds` is answered on the event loop; only
    # a key to look up goes to a worker thread (a plain `def` dependency took a thread hand-off every time)
    token = _bearer(request)
    if token is None:
        raise _unauthorized("send the platform API key as 'Authorization: Bearer <key>' (from `tipline keys create`)")
    db = get_db(request)
    p = accounts.cached_platform_for_api_key(db, token)
    if p is None:
        p = await run_in_threadpool(accounts.platform_for_api_key, db, token)
    if p is None:
        raise _unauthorized("unknown or disabled platform API key")
    return p


def basic_platform(request: Request, _basic_doc: BasicDoc = None) -> Principal:
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


def staff(request: Request, _bearer_doc: BearerDoc = None, _session_doc: SessionDoc = None) -> Principal:
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


def require(role: Role):
    def dep(request: Request, _bearer_doc: BearerDoc = None, _session_doc: SessionDoc = None) -> Principal:
        user = staff(request)
        if not user.can(role):
            raise HTTPException(status_code=403, detail=f"this needs the {role.value} role")
        return user

    return dep
