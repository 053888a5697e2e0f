"""Revoking and rotating credentials, from the pages and the JSON API.

- **Staff tokens** (``/account/tokens``): each user makes, lists and revokes their own. A token expires
  (``token_days``, at most ``token_max_days``) and carries the analyst scope unless the user types a
  current code of their authenticator app as it is made (see ``accounts.issue_token``).
- **Admins** (``/admin/tokens``, ``/admin/platforms``, linked from the staff navigation): revoke anyone's
  token; disable, enable again, or rotate a platform's API key and CyberTipline login. A rotation shows
  the new secret once.
- **JSON API**: ``GET /api/v1/tokens`` (your tokens), ``DELETE /api/v1/tokens/current`` (the token
  that calls revokes itself), ``DELETE /api/v1/tokens/{id}`` (yours, or anyone's for an admin),
  ``POST /api/v1/platforms/{id}/credentials`` (admins: disable, enable, rotate).

Every change is an audit event (recorded by ``accounts.service``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.templating import render
from tipline.store import Database
from tipline.webkit.deps import _bearer, require, staff
from tipline.webkit.kit import AdminUser, Db, JSONRoute, PageRoute, StaffUser, clean_text, error_page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
api_router = APIRouter(route_class=JSONRoute, prefix="/api/v1")

PLATFORM_ACTIONS = ("disable", "enable", "rotate")


def _token_error(request: Request, e: accounts.AccountError) -> str:
    _ = gettext_for(negotiate(request))
    settings = request.app.state.settings
    return {
        "token.days": _("A token lives 1 to %(n)s days.") % {"n": settings.token_max_days},
        "token.scope": _("A token cannot carry more than your role."),
        "token.code": _("A token above the analyst scope needs a current code from your authenticator app."),
        "token.mfa_missing": _("Set up the second step at login first: your role needs it."),
    }.get(e.key, str(e))


# ------------------------------------------------------------------------------------------ your tokens


def _tokens_page(
    request: Request,
    db: Database,
    user: Principal,
    *,
    issued: accounts.IssuedToken | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = request.app.state.settings
    scopes = [r.value for r in accounts.STAFF_ROLES if user.can(r)]
    ctx = {
        "tokens": accounts.list_tokens(db, user_id=user.id),
        "issued": issued,
        "errors": errors or {},
        "values": values or {},
        "scopes": sorted(scopes, key=lambda r: r != "analyst"),
        "default_days": settings.token_days,
        "max_days": settings.token_max_days,
        "mfa": accounts.mfa_enabled(db, user.id),
        "done": request.query_params.get("done", ""),
        "now": datetime.now(UTC),
    }
    return render(request, "staff/account_tokens.html", ctx, status_code=status_code, no_store=True)


@router.get("/account/tokens", response_class=HTMLResponse)
def account_tokens(request: Request, db: Db, user: StaffUser) -> HTMLResponse:
    return _tokens_page(request, db, user)


@router.post("/account/tokens", response_class=HTMLResponse)
def account_token_create(
    request: Request,
    db: Db,
    user: StaffUser,
    label: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "analyst",
    code: Annotated[str, Form()] = "",
) -> HTMLResponse:
    _ = gettext_for(negotiate(request))
    label = clean_text(label).strip()[:128]
    values = {"label": label, "days": days[:8], "scope": scope}
    n = int(days) if days.strip().isascii() and days.strip().isdigit() and len(days.strip()) < 7 else None
    if days.strip() and n is None:
        return _tokens_page(request, db, user, errors={"days": _("Write a number of days.")}, values=values,
                            status_code=422)  # fmt: skip
    if scope not in {r.value for r in accounts.STAFF_ROLES}:
        return _tokens_page(request, db, user, errors={"scope": _("Choose a scope from the list.")}, values=values,
                            status_code=422)  # fmt: skip
    try:
        issued = accounts.issue_token(db, user.name, label=label or None, days=n, scope=scope,
                                      code=clean_text(code).strip()[:64] or None, by=user)  # fmt: skip
    except accounts.AccountError as e:
        field = {"token.days": "days", "token.code": "code", "token.scope": "scope"}.get(e.key, "form")
        return _tokens_page(request, db, user, errors={field: _token_error(request, e)}, values=values,
                            status_code=422)  # fmt: skip
    return _tokens_page(request, db, user, issued=issued)


@router.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def account_token_revoke(request: Request, token_id: int, db: Db, user: StaffUser) -> Response:
    accounts.revoke_token(db, token_id, by=user, user_id=user.id)
    return RedirectResponse("/account/tokens?done=revoke", status_code=303)


# ------------------------------------------------------------------------------------------ admin: tokens


@router.get("/admin/tokens", response_class=HTMLResponse)
def admin_tokens(request: Request, db: Db, user: AdminUser, all: str = "") -> HTMLResponse:
    ctx = {
        "tokens": accounts.list_tokens(db, include_ended=all == "1"),
        "all": all == "1",
        "done": request.query_params.get("done", ""),
        "now": datetime.now(UTC),
    }
    return render(request, "staff/admin_tokens.html", ctx, no_store=True)


@router.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def admin_token_revoke(request: Request, token_id: int, db: Db, user: AdminUser) -> Response:
    if not accounts.revoke_token(db, token_id, by=user):
        _ = gettext_for(negotiate(request))
        return error_page(request, 404, _("There is no live token with this number."))
    return RedirectResponse("/admin/tokens?done=revoke", status_code=303)


# ------------------------------------------------------------------------------------------ admin: platforms


def _platform_name(db: Database, platform_id: int) -> str | None:
    return next((p.name for p in accounts.platform_rows(db) if p.id == platform_id), None)


@router.get("/admin/platforms", response_class=HTMLResponse)
def admin_platforms(request: Request, db: Db, user: AdminUser) -> HTMLResponse:
    ctx = {
        "platforms": accounts.platform_rows(db),
        "done": request.query_params.get("done", ""),
        "who": request.query_params.get("who", ""),
        "now": datetime.now(UTC),
    }
    return render(request, "staff/admin_platforms.html", ctx, no_store=True)


@router.post("/admin/platforms/{platform_id}/{action}", response_class=HTMLResponse)
def admin_platform_action(
    request: Request,
    platform_id: int,
    action: str,
    db: Db,
    user: AdminUser,
    which: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    name = _platform_name(db, platform_id)
    if action not in PLATFORM_ACTIONS or name is None:
        return error_page(request, 404, _("There is no such platform."))
    if which not in accounts.CREDENTIALS:
        return error_page(request, 422, _("Say which credential: the API key or the CyberTipline login."))
    if action == "rotate":
        new = accounts.rotate_platform_credentials(db, name, which=which, by=user)
        ctx = {"name": name, "new": new, "now": datetime.now(UTC)}
        return render(request, "staff/admin_platform_rotated.html", ctx, no_store=True)
    accounts.set_platform_credentials(db, name, action == "enable", which=which, by=user)
    return RedirectResponse(f"/admin/platforms?done={action}-{which}&who={platform_id}", status_code=303)


# ------------------------------------------------------------------------------------------ JSON API


class TokenOut(BaseModel):
    id: int
    user: str
    scope: str = Field(description="The most the token may do (a staff role)")
    acts_as: str = Field(description="The lower of the user's role and the scope: what the token may do now")
    label: str | None
    state: str = Field(description="live | expired | revoked")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


def _token_out(r: accounts.TokenRow) -> TokenOut:
    return TokenOut(id=r.id, user=r.user, scope=r.scope.value, acts_as=r.effective.value, label=r.label,
                    state=r.state, created_at=r.created_at, expires_at=r.expires_at,
                    last_used_at=r.last_used_at)  # fmt: skip


@api_router.get("/tokens", response_model=list[TokenOut], tags=["staff"], summary="Your live staff tokens")
def api_tokens(db: Db, user: Annotated[Principal, Depends(staff)]) -> list[TokenOut]:
    return [_token_out(r) for r in accounts.list_tokens(db, user_id=user.id)]


@api_router.delete("/tokens/current", status_code=204, tags=["staff"], summary="Revoke the token you call with")
def api_token_revoke_current(request: Request, db: Db, user: Annotated[Principal, Depends(staff)]) -> Response:
    """The staff token in ``Authorization: Bearer`` revokes itself (for a token that may have leaked)."""
    token = _bearer(request)
    if token is None:
        raise HTTPException(400, "call this with the token to revoke in 'Authorization: Bearer <token>'")
    accounts.revoke_token_value(db, token)
    return Response(status_code=204)


@api_router.delete("/tokens/{token_id}", status_code=204, tags=["staff"], summary="Revoke a staff token")
def api_token_revoke(token_id: int, db: Db, user: Annotated[Principal, Depends(staff)]) -> Response:
    """Revoke one of your tokens; an admin may revoke anyone's."""
    if not accounts.revoke_token(db, token_id, by=user, user_id=None if user.can(Role.ADMIN) else user.id):
        raise HTTPException(404, f"you have no live token {token_id} (see GET /api/v1/tokens)")
    return Response(status_code=204)


class CredentialsIn(BaseModel):
    model_config = {"extra": "forbid"}
    action: Literal["disable", "enable", "rotate"]
    which: Literal["api-key", "cybertip", "both"] = Field(
        default="both", description="api-key (JSON API, panic button), cybertip (HTTP Basic of /ispws), or both"
    )


class CredentialsOut(BaseModel):
    platform: str
    action: str
    which: str
    api_key: str | None = Field(default=None, description="The new API key (rotate; shown once)")
    username: str | None = Field(default=None, description="The CyberTipline username (rotate; unchanged)")
    password: str | None = Field(default=None, description="The new CyberTipline password (rotate; shown once)")


@api_router.post(
    "/platforms/{platform_id}/credentials",
    response_model=CredentialsOut,
    tags=["admin"],
    summary="Disable, enable or rotate a platform's credentials",
)
def api_platform_credentials(
    platform_id: int, body: CredentialsIn, db: Db, user: Annotated[Principal, Depends(require(Role.ADMIN))]
) -> CredentialsOut:
    name = _platform_name(db, platform_id)
    if name is None:
        raise HTTPException(404, f"there is no platform {platform_id}")
    out = CredentialsOut(platform=name, action=body.action, which=body.which)
    if body.action == "rotate":
        new = accounts.rotate_platform_credentials(db, name, which=body.which, by=user)
        out.api_key, out.username, out.password = new.api_key, new.username, new.password
    else:
        accounts.set_platform_credentials(db, name, body.action == "enable", which=body.which, by=user)
    return out
