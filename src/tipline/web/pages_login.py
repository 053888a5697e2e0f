"""Staff sign-in and one's own account: login (password, then the second factor), logout, MFA enrolment,
the account page (password, recovery codes, MFA off, own sessions).

- **Sessions**: ``POST /login`` opens a server-side session (``accounts.open_session``); its cookie
  ``tipline_session`` (``webkit.kit.SESSION_COOKIE``) is HttpOnly, SameSite=Strict, Path=/, and Secure when
  ``settings.session_cookie_secure``. The app's middleware turns it into ``request.state.user`` and
  ``request.state.csrf``.
- **CSRF**: every form posts ``csrf_token``; the app-wide guard checks it before any handler runs.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.templating import render
from tipline.settings import Settings
from tipline.store import Database
from tipline.webkit.deps import app_settings
from tipline.webkit.kit import (
    SESSION_COOKIE,
    Db,
    PageDenied,
    PageRoute,
    StaffUser,
    clean_text,
    login_location,
    page_user,
    safe_next,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# ------------------------------------------------------------------------------------------ login


def _set_session_cookie(response: Response, cookie: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="strict", path="/", secure=settings.session_cookie_secure
    )


def _pending(request: Request) -> accounts.SessionInfo | None:
    return getattr(request.state, "pending", None)


def _pending_location(stage: str, next: str) -> str:
    page = "/login/code" if stage == "password" else "/account/mfa/enrol"
    return f"{page}?next={quote(safe_next(next), safe='')}"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/queue") -> Response:
    if getattr(request.state, "user", None) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    pending = _pending(request)
    if pending is not None:
        return RedirectResponse(_pending_location(pending.stage, next), status_code=303)
    return render(request, "staff/login.html", {"next": safe_next(next), "error": None, "name": ""}, no_store=True)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(app_settings)],
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    name = name.strip()
    # a name with control characters or over the limit names nobody (and PostgreSQL refuses NUL)
    plausible = 0 < len(name) <= 128 and clean_text(name) == name and 0 < len(password) <= 1024
    step = accounts.login_password(db, name, password) if plausible else None
    if step is None or not step.user.can(Role.ANALYST):
        _ = gettext_for(negotiate(request))
        # one message for a wrong name, a wrong password and a locked account: nothing to learn from it
        ctx = {"next": safe_next(next), "error": _("Wrong name or password."), "name": clean_text(name)[:128]}
        return render(request, "staff/login.html", ctx, status_code=401, no_store=True)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.close_session(db, old)
    cookie, _csrf = accounts.open_session(db, step.user, stage=step.stage)
    location = safe_next(next) if step.stage == "full" else _pending_location(step.stage, next)
    response = RedirectResponse(location, status_code=303)
    _set_session_cookie(response, cookie, settings)
    return response


def _back_to_login(next: str) -> RedirectResponse:
    """No login is held at the code step: to the password form, keeping where to go after."""
    return RedirectResponse("/login?next=" + quote(safe_next(next), safe=""), status_code=303)


def _promoted(request: Request, db: Database, settings: Settings, response: Response) -> Response:
    """``response``, with the login held at a step made a full session (a new cookie); to the login page
    when that login is gone."""
    try:
        cookie, _csrf = accounts.promote_session(db, request.cookies.get(SESSION_COOKIE, ""))
    except accounts.AccountError:
        return RedirectResponse("/login", status_code=303)
    _set_session_cookie(response, cookie, settings)
    return response


@router.get("/login/code", response_class=HTMLResponse)
def login_code_form(request: Request, next: str = "/queue") -> Response:
    pending = _pending(request)
    if pending is None or pending.stage != "password":
        return _back_to_login(next)
    return render(request, "staff/login_code.html", {"next": safe_next(next), "error": None}, no_store=True)


@router.post("/login/code", response_class=HTMLResponse)
def login_code(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(app_settings)],
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    pending = _pending(request)
    if pending is None or pending.stage != "password":
        return _back_to_login(next)
    code = clean_text(code).strip()[:64]
    if not code or not accounts.verify_second_factor(db, pending.user.id, code):
        _ = gettext_for(negotiate(request))
        ctx = {"next": safe_next(next), "error": _("Wrong or already used code. Wait for a new code and try again.")}
        return render(request, "staff/login_code.html", ctx, status_code=401, no_store=True)
    return _promoted(request, db, settings, RedirectResponse(safe_next(next), status_code=303))


@router.post("/logout")
def logout(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(app_settings)],
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if getattr(request.state, "user", None) is not None or _pending(request) is not None:
        if cookie:
            accounts.close_session(db, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=settings.session_cookie_secure
    )
    return response


# ------------------------------------------------------------------------------------------ second factor


def _qr_data_uri(text: str) -> str:
    """A QR code of ``text`` as an SVG data URI, made here (no script, no request elsewhere)."""
    import base64

    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=4)
    svg = img.to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _enrolling_user(request: Request) -> Principal:
    """Who may enrol: a login held at the enrolment step, or a logged-in user."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return page_user(request)
    pending = _pending(request)
    if pending is not None and pending.stage == "enrol":
        return pending.user
    raise PageDenied(303, location=login_location(request))


def _enrol_page(
    request: Request, db: Database, user: Principal, next: str, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    secret = accounts.pending_secret(db, user.id) or accounts.start_enrolment(db, user.id)
    uri = accounts.provisioning_uri(secret, user.name, settings.mfa_issuer)
    ctx = {
        "qr": _qr_data_uri(uri),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "next": safe_next(next),
        "error": error,
        "forced": _pending(request) is not None,
    }
    return render(request, "staff/mfa_enrol.html", ctx, status_code=status_code, no_store=True)


def _already_enrolled(request: Request, db: Database) -> Response:
    """A second factor is in force already (enrolled in another tab): nothing to confirm. A login held at
    the enrolment step ends and starts again (the next login asks for the code); a signed-in user goes
    back to the account page."""
    if _pending(request) is None:
        return RedirectResponse("/account", status_code=303)
    accounts.close_session(db, request.cookies.get(SESSION_COOKIE, ""))
    return RedirectResponse("/login", status_code=303)


@router.get("/account/mfa/enrol", response_class=HTMLResponse)
def mfa_enrol_form(request: Request, db: Db, next: str = "/queue") -> Response:
    user = _enrolling_user(request)
    if accounts.mfa_enabled(db, user.id):
        return _already_enrolled(request, db)
    return _enrol_page(request, db, user, next)


@router.post("/account/mfa/enrol", response_class=HTMLResponse)
def mfa_enrol(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(app_settings)],
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    user = _enrolling_user(request)
    if accounts.mfa_enabled(db, user.id):
        return _already_enrolled(request, db)
    codes = accounts.confirm_enrolment(db, user.id, clean_text(code).strip()[:64])
    if codes is None:
        _ = gettext_for(negotiate(request))
        error = _("That code is not right. Check the time on your phone and type the code the app shows now.")
        return _enrol_page(request, db, user, next, error=error, status_code=422)
    response = render(
        request, "staff/recovery_codes.html", {"codes": codes, "next": safe_next(next), "enrolled": True}, no_store=True
    )
    if _pending(request) is not None:
        return _promoted(request, db, settings, response)
    return response


# ------------------------------------------------------------------------------------------ account


def account_error(request: Request, e: accounts.AccountError) -> str:
    """An account refusal in the user's language."""
    _ = gettext_for(negotiate(request))
    messages = {
        "password.short": _("The password must have at least %(n)s characters.") % {"n": accounts.MIN_PASSWORD_CHARS},
        "password.long": _("The password must have at most %(n)s characters.") % {"n": accounts.MAX_PASSWORD_CHARS},
        "password.control": _("The password must not contain control characters."),
        "password.common": _("This password is one of the most common passwords. Choose another."),
        "password.name": _("The password must not be the user name with a few characters added."),
        "password.weak": _("This password is easy to guess. Use a longer one, for example a few unrelated words."),
        "password.wrong": _("The current password is wrong."),
        "name.invalid": _("A user name is 1 to 128 letters, digits, '-', '_' or '.'."),
        "name.taken": _("A user with this name exists already."),
        "admin.last": _("This is the last active admin. Make another admin first."),
        "mfa.required": _("Your role needs a second factor: it cannot be turned off."),
    }
    return messages.get(e.key, str(e))


def _account_page(
    request: Request,
    db: Database,
    user: Principal,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    ctx = {
        "mfa": accounts.mfa_enabled(db, user.id),
        "mfa_required": accounts.mfa_required(user.role, settings),
        "codes_left": accounts.recovery_codes_left(db, user.id),
        "sessions": accounts.list_sessions(db, user_id=user.id),
        "current_session": getattr(request.state, "session_key", None),
        "errors": errors or {},
        "done": request.query_params.get("done", ""),
        "min_password": accounts.MIN_PASSWORD_CHARS,
    }
    return render(request, "staff/account.html", ctx, status_code=status_code, no_store=True)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, db: Db, user: StaffUser) -> HTMLResponse:
    return _account_page(request, db, user)


@router.post("/account/password", response_class=HTMLResponse)
def account_password(
    request: Request,
    db: Db,
    user: StaffUser,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    if new != confirm:
        return _account_page(
            request, db, user, errors={"password": _("The two new passwords differ.")}, status_code=422
        )
    try:
        accounts.change_password(db, user.id, current[:1024], new, keep_session=request.state.session_key)
    except accounts.AccountError as e:
        return _account_page(request, db, user, errors={"password": account_error(request, e)}, status_code=422)
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/recovery-codes", response_class=HTMLResponse)
def account_recovery_codes(
    request: Request,
    db: Db,
    user: StaffUser,
    code: Annotated[str, Form()] = "",
) -> Response:
    codes = accounts.regenerate_recovery_codes(db, user.id, clean_text(code).strip()[:64])
    if codes is None:
        _ = gettext_for(negotiate(request))
        return _account_page(request, db, user, errors={"codes": _("Wrong or already used code.")}, status_code=422)
    return render(
        request, "staff/recovery_codes.html", {"codes": codes, "next": "/account", "enrolled": False}, no_store=True
    )


@router.post("/account/mfa/disable", response_class=HTMLResponse)
def account_mfa_disable(
    request: Request,
    db: Db,
    user: StaffUser,
    code: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    try:
        ok = accounts.disable_mfa(db, user.id, clean_text(code).strip()[:64])
    except accounts.AccountError as e:
        return _account_page(request, db, user, errors={"disable": account_error(request, e)}, status_code=422)
    if not ok:
        return _account_page(request, db, user, errors={"disable": _("Wrong or already used code.")}, status_code=422)
    return RedirectResponse("/account?done=mfa-off", status_code=303)


@router.post("/account/sessions/revoke", response_class=HTMLResponse)
def account_session_revoke(
    request: Request,
    db: Db,
    user: StaffUser,
    session: Annotated[str, Form()] = "",
) -> Response:
    accounts.revoke_session(db, session[:64], by=user, user_id=user.id)
    return RedirectResponse("/account?done=session", status_code=303)
