"""Admin and supervisor pages: staff users and their sessions (admins), the audit log and its check
(supervisors)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tipline.accounts import service as accounts
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.templating import render
from tipline.store import Database
from tipline.web.pages_login import account_error
from tipline.webkit.kit import (
    AdminUser,
    Db,
    PageRoute,
    SupervisorUser,
    clean_text,
    error_page,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# ------------------------------------------------------------------------------------------ admin

USER_ACTIONS = ("role", "unlock", "reset-mfa", "revoke-sessions", "activate", "deactivate")


def _users_page(
    request: Request,
    db: Database,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "users": accounts.user_rows(db),
        "roles": [r.value for r in accounts.STAFF_ROLES],
        "errors": errors or {},
        "values": values or {},
        "done": request.query_params.get("done", ""),
        "who": request.query_params.get("who", ""),
        "now": datetime.now(UTC),
    }
    return render(request, "staff/admin_users.html", ctx, status_code=status_code, no_store=True)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, db: Db, user: AdminUser) -> HTMLResponse:
    return _users_page(request, db)


@router.post("/admin/users", response_class=HTMLResponse)
def admin_user_create(
    request: Request,
    db: Db,
    user: AdminUser,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "analyst",
    password: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    name = clean_text(name).strip()[:200]
    values = {"name": name, "role": role}
    if role not in {r.value for r in accounts.STAFF_ROLES}:
        return _users_page(request, db, errors={"role": _("Choose a role from the list.")}, values=values,
                           status_code=422)  # fmt: skip
    try:
        accounts.create_user(db, name, role, password[:2000], by=user)
    except accounts.AccountError as e:
        field = "name" if e.key.startswith("name.") else "password"
        return _users_page(request, db, errors={field: account_error(request, e)}, values=values, status_code=422)
    return RedirectResponse(f"/admin/users?done=create&who={quote(name, safe='')}", status_code=303)


@router.post("/admin/users/{name}/{action}", response_class=HTMLResponse)
def admin_user_action(
    request: Request,
    name: str,
    action: str,
    db: Db,
    user: AdminUser,
    role: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    if action not in USER_ACTIONS or clean_text(name) != name:
        return error_page(request, 404, _("There is no such page."))
    try:
        if action == "role":
            if role not in {r.value for r in accounts.STAFF_ROLES}:
                return _users_page(request, db, errors={"row": _("Choose a role from the list.")}, status_code=422)
            accounts.set_role(db, name, role, by=user)
        elif action == "unlock":
            accounts.unlock_user(db, name, by=user)
        elif action == "reset-mfa":
            accounts.reset_mfa(db, name, by=user)
        elif action == "revoke-sessions":
            accounts.revoke_user_sessions(db, name, by=user)
        else:
            accounts.set_active(db, name, action == "activate", by=user)
    except accounts.AccountError as e:
        if not e.key:  # no such user
            return error_page(request, 404, _("There is no such user."))
        return _users_page(request, db, errors={"row": account_error(request, e)}, status_code=422)
    return RedirectResponse(f"/admin/users?done={action}&who={quote(name, safe='')}", status_code=303)


@router.get("/admin/sessions", response_class=HTMLResponse)
def admin_sessions(request: Request, db: Db, user: AdminUser) -> HTMLResponse:
    ctx = {
        "sessions": accounts.list_sessions(db),
        "current_session": getattr(request.state, "session_key", None),
        "done": request.query_params.get("done", ""),
        "now": datetime.now(UTC),
    }
    return render(request, "staff/admin_sessions.html", ctx, no_store=True)


@router.post("/admin/sessions/revoke", response_class=HTMLResponse)
def admin_session_revoke(
    request: Request,
    db: Db,
    user: AdminUser,
    session: Annotated[str, Form()] = "",
) -> Response:
    accounts.revoke_session(db, session[:64], by=user)
    return RedirectResponse("/admin/sessions?done=1", status_code=303)


# ------------------------------------------------------------------------------------------ audit log

AUDIT_PAGE_SIZE = 50


def _audit_page(
    request: Request,
    db: Database,
    *,
    action: str = "",
    page: str = "1",
    verified: Any = None,
) -> HTMLResponse:
    actions = accounts.audit_actions(db)
    prefixes = sorted({a.split(".", 1)[0] + "." for a in actions if "." in a})
    chosen = action if action in actions or action in prefixes else ""
    page_no = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 1_000_000 else 1
    events, total = accounts.audit_events(
        db, offset=(page_no - 1) * AUDIT_PAGE_SIZE, limit=AUDIT_PAGE_SIZE, action=chosen or None
    )
    ctx = {
        "events": events,
        "total": total,
        "page": page_no,
        "pages": max(1, math.ceil(total / AUDIT_PAGE_SIZE)),
        "action": chosen,
        "actions": actions,
        "prefixes": prefixes,
        "verified": verified,
        "now": datetime.now(UTC),
    }
    return render(request, "staff/audit.html", ctx, no_store=True)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, db: Db, user: SupervisorUser, action: str = "", page: str = "1") -> HTMLResponse:
    return _audit_page(request, db, action=action, page=page)


@router.post("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, db: Db, user: SupervisorUser) -> Response:
    """Walk the whole chain now and show the result (the check itself is audited, after it ran)."""
    from tipline import audit

    result = audit.verify(db)
    accounts.audited(db, user, "audit.verify", None, None, ok=result.ok, events=result.events, head_seq=result.head_seq)
    return _audit_page(request, db, verified=result)
