"""Staff pages: login, the triage queue, a report, an entity. The HTML twin of ``/api/v1``.

- **Sessions**: ``POST /login`` opens a server-side session (``accounts.open_session``); its cookie
  ``tipline_session`` is HttpOnly, SameSite=Strict, Path=/, and Secure when
  ``settings.session_cookie_secure``. The app's middleware turns it into ``request.state.user`` and
  ``request.state.csrf``.
- **Access**: :func:`page_user` sends an anonymous visitor to ``/login?next=…`` (303) and answers a
  logged-in principal without a staff role with a 403 page. Both are page responses, not JSON: the
  router's route class (:class:`PageRoute`) turns :class:`PageDenied` into them.
- **CSRF**: every staff form posts ``csrf_token`` (the session's token); the app-wide guard
  (:func:`tipline.web.security.csrf_guard`, the one CSRF check) answers a missing or wrong one with a 403
  page before any handler runs, so nothing changes.
- **Analyst protection**: no media is ever shown, only hashes; URLs and domains are shown defanged in
  ``<code>``, never as links; file names (often explicit) are folded away; reporter contact details are
  shown only after a deliberate POST, which the service audits.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.errors import NotFound
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.labels import country_codes
from tipline.i18n.templating import render
from tipline.intake.schemas import AgeBand, Category, Classification, Source, Status
from tipline.intake.service import reading_key
from tipline.media.matching import report_matches
from tipline.reports import service as reports
from tipline.settings import Settings
from tipline.store import Database
from tipline.web.deps import get_settings
from tipline.web.kit import (
    SESSION_COOKIE,
    AdminUser,
    Db,
    PageDenied,
    PageRoute,
    StaffUser,
    SupervisorUser,
    clean_text,
    error_page,
    login_location,
    page_user,
    safe_next,
)

PAGE_SIZE = 50
MAX_QUERY_CHARS = 200


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
    settings: Annotated[Settings, Depends(get_settings)],
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


@router.get("/login/code", response_class=HTMLResponse)
def login_code_form(request: Request, next: str = "/queue") -> Response:
    pending = _pending(request)
    if pending is None or pending.stage != "password":
        return RedirectResponse("/login?next=" + quote(safe_next(next), safe=""), status_code=303)
    return render(request, "staff/login_code.html", {"next": safe_next(next), "error": None}, no_store=True)


@router.post("/login/code", response_class=HTMLResponse)
def login_code(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(get_settings)],
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    pending = _pending(request)
    if pending is None or pending.stage != "password":
        return RedirectResponse("/login?next=" + quote(safe_next(next), safe=""), status_code=303)
    code = clean_text(code).strip()[:64]
    if not code or not accounts.verify_second_factor(db, pending.user.id, code):
        _ = gettext_for(negotiate(request))
        ctx = {"next": safe_next(next), "error": _("Wrong or already used code. Wait for a new code and try again.")}
        return render(request, "staff/login_code.html", ctx, status_code=401, no_store=True)
    try:
        cookie, _csrf = accounts.promote_session(db, request.cookies.get(SESSION_COOKIE, ""))
    except accounts.AccountError:
        return RedirectResponse("/login", status_code=303)
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_session_cookie(response, cookie, settings)
    return response


@router.post("/logout")
def logout(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(get_settings)],
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


# ------------------------------------------------------------------------------------------ queue


def _pick(value: str | None, allowed: set[str]) -> str | None:
    return value if value in allowed else None


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    db: Db,
    user: StaffUser,
    category: str = "",
    language: str = "",
    source: str = "",
    status: str = "",
    country: str = "",
    q: str = "",
    page: str = "1",
) -> HTMLResponse:
    languages = reports.queue_languages(db)
    f = reports.QueueFilter(
        category=_pick(category, {c.value for c in Category}),
        language=_pick(language, set(languages)),
        source=_pick(source, {s.value for s in Source}),
        status=_pick(status, {s.value for s in Status}),
        country=_pick(country.upper(), set(country_codes())),
        q=clean_text(q).strip()[:MAX_QUERY_CHARS] or None,
        limit=PAGE_SIZE,
    )
    page_no = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100_000 else 1
    f.offset = (page_no - 1) * PAGE_SIZE
    items, total = reports.queue(db, f)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    ctx = {
        "items": items,
        "total": total,
        "page": page_no,
        "pages": pages,
        "first": f.offset + 1 if items else 0,
        "last": f.offset + len(items),
        "filters": {
            "category": f.category or "",
            "language": f.language or "",
            "source": f.source or "",
            "status": f.status or "",
            "country": f.country or "",
            "q": f.q or "",
        },
        "languages": languages,
        "categories": [c.value for c in Category],
        "sources": [s.value for s in Source],
        "statuses": [s.value for s in Status],
        "now": datetime.now(UTC),
    }
    return render(request, "staff/queue.html", ctx, no_store=True)


# ------------------------------------------------------------------------------------------ report


def _report_page(
    request: Request,
    db: Database,
    user: Principal,
    report_id: int,
    *,
    reveal_contact: bool = False,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    message_body: str = "",
) -> HTMLResponse:
    try:
        report = reports.get_report(db, report_id, viewer=user)
        extras = reports.report_extras(db, report_id, user, reveal_contact=reveal_contact)
    except NotFound:
        _ = gettext_for(negotiate(request))
        return error_page(request, 404, _("There is no report %(id)s.") % {"id": report_id})
    entities: dict[str, dict[str, dict[str, Any]]] = {}
    for e in report.entities:
        item = entities.setdefault(e.kind, {}).setdefault(
            e.value, {"value": e.value, "fields": [], "confidence": 0.0, "disguises": [], "readings": []}
        )
        if e.field not in item["fields"]:
            item["fields"].append(e.field)
        item["confidence"] = max(item["confidence"], e.confidence)
        for d in filter(None, (e.disguise or "").split(",")):
            if d not in item["disguises"]:
                item["disguises"].append(d)
        if e.alternatives:
            # an ambiguous number: its other readings, and whether the graph links through it yet
            key = reading_key(e)
            item["readings"].append({"key": key, "alternatives": e.alternatives, "linked": e.linkable})
    details = {k: v for k, v in report.details.items() if k not in ("answers", "readings")}
    ctx = {
        "r": report,
        "extras": extras,
        "entities": {k: list(v.values()) for k, v in sorted(entities.items())},
        "answers": report.details.get("answers") or {},
        "details": details,
        "statuses": [s.value for s in Status],
        "classifications": [c.value for c in Classification],
        "age_bands": [a.value for a in AgeBand],
        "errors": errors or {},
        "message_body": message_body,
        "saved": request.query_params.get("saved") == "1",
        "sent": request.query_params.get("sent") == "1",
        "can_message": report.source == Source.PUBLIC,
        "hash_matches": report_matches(db, report_id),
        "now": datetime.now(UTC),
    }
    return render(request, "staff/report.html", ctx, status_code=status_code, no_store=True)


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    return _report_page(request, db, user, report_id)


@router.post("/reports/{report_id}/reveal-contact", response_class=HTMLResponse)
def reveal_contact(request: Request, report_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    return _report_page(request, db, user, report_id, reveal_contact=True)


@router.post("/reports/{report_id}/assess", response_class=HTMLResponse)
def assess(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    status: Annotated[str, Form()] = "",
    classification: Annotated[str, Form()] = "",
    age_band: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    errors: dict[str, str] = {}
    try:
        new_status = Status(status) if status else None
    except ValueError:
        new_status, errors["status"] = None, _("Choose a status from the list.")
    try:
        new_class = Classification(classification) if classification else None
    except ValueError:
        new_class, errors["classification"] = None, _("Choose a classification from the list.")
    try:
        new_band = AgeBand(age_band) if age_band else None
    except ValueError:
        new_band, errors["age_band"] = None, _("Choose an age band from the list.")
    if len(note) > 20_000:
        errors["note"] = _("The note is too long (at most 20,000 characters).")
    if errors:
        return _report_page(request, db, user, report_id, status_code=422, errors=errors)
    try:
        reports.update_report(
            db,
            report_id,
            user,
            status=new_status,
            classification=new_class,
            age_band=new_band,
            note=clean_text(note) or None,
        )
    except NotFound:
        return error_page(request, 404, _("There is no report %(id)s.") % {"id": report_id})
    return RedirectResponse(f"/reports/{report_id}?saved=1", status_code=303)


@router.post("/reports/{report_id}/reading", response_class=HTMLResponse)
def choose_reading(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    key: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
) -> Response:
    """An analyst confirms one reading of an ambiguous number; the report is analysed again and links
    through that reading."""
    _ = gettext_for(negotiate(request))
    try:
        reports.choose_reading(db, report_id, user, key, value)
    except NotFound:
        return error_page(request, 404, _("There is no report %(id)s.") % {"id": report_id})
    except ValueError:
        return error_page(request, 422, _("That is not a reading of a number of this report. Reload the page."))
    return RedirectResponse(f"/reports/{report_id}?saved=1#entities", status_code=303)


@router.post("/reports/{report_id}/message", response_class=HTMLResponse)
def message(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    body: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(negotiate(request))
    try:
        reports.message_reporter(db, report_id, user, clean_text(body))
    except NotFound:
        return error_page(request, 404, _("There is no report %(id)s.") % {"id": report_id})
    except ValueError:
        text = body.strip()
        if text and len(text) <= 20_000:
            error = _("Only reports made with the public form can receive messages.")
        else:
            error = _("Write a message of 1 to 20,000 characters.")
        return _report_page(request, db, user, report_id, status_code=422, errors={"message": error}, message_body=body)
    return RedirectResponse(f"/reports/{report_id}?sent=1#messages", status_code=303)


# ------------------------------------------------------------------------------------------ entity


@router.get("/entities/{kind}/{value:path}", response_class=HTMLResponse)
def entity_page(request: Request, kind: str, value: str, db: Db, user: StaffUser) -> HTMLResponse:
    try:
        if clean_text(kind) != kind or clean_text(value) != value:
            raise NotFound(kind)
        view = reports.entity_view(db, kind, value, viewer=user)
    except NotFound:
        _ = gettext_for(negotiate(request))
        return error_page(request, 404, _("No report mentions this identifier."))
    return render(request, "staff/entity.html", {"e": view, "now": datetime.now(UTC)}, no_store=True)


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


@router.get("/account/mfa/enrol", response_class=HTMLResponse)
def mfa_enrol_form(request: Request, db: Db, next: str = "/queue") -> Response:
    user = _enrolling_user(request)
    if accounts.mfa_enabled(db, user.id):
        if _pending(request) is not None:  # see mfa_enrol: this login starts again
            accounts.close_session(db, request.cookies.get(SESSION_COOKIE, ""))
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/account", status_code=303)
    return _enrol_page(request, db, user, next)


@router.post("/account/mfa/enrol", response_class=HTMLResponse)
def mfa_enrol(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(get_settings)],
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    user = _enrolling_user(request)
    if accounts.mfa_enabled(db, user.id):
        # a second factor is in force already (enrolled in another tab): nothing to confirm; a login held
        # at the enrolment step ends and starts again, and the next login asks for the code
        if _pending(request) is None:
            return RedirectResponse("/account", status_code=303)
        accounts.close_session(db, request.cookies.get(SESSION_COOKIE, ""))
        return RedirectResponse("/login", status_code=303)
    codes = accounts.confirm_enrolment(db, user.id, clean_text(code).strip()[:64])
    if codes is None:
        _ = gettext_for(negotiate(request))
        error = _("That code is not right. Check the time on your phone and type the code the app shows now.")
        return _enrol_page(request, db, user, next, error=error, status_code=422)
    response = render(
        request, "staff/recovery_codes.html", {"codes": codes, "next": safe_next(next), "enrolled": True}, no_store=True
    )
    if _pending(request) is not None:
        try:
            cookie, _csrf = accounts.promote_session(db, request.cookies.get(SESSION_COOKIE, ""))
        except accounts.AccountError:
            return RedirectResponse("/login", status_code=303)
        _set_session_cookie(response, cookie, settings)
    return response


# ------------------------------------------------------------------------------------------ account


def _account_error(request: Request, e: accounts.AccountError) -> str:
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
        return _account_page(request, db, user, errors={"password": _account_error(request, e)}, status_code=422)
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
        return _account_page(request, db, user, errors={"disable": _account_error(request, e)}, status_code=422)
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
        return _users_page(request, db, errors={field: _account_error(request, e)}, values=values, status_code=422)
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
        return _users_page(request, db, errors={"row": _account_error(request, e)}, status_code=422)
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
    from tipline.protect import audit

    result = audit.verify(db)
    accounts.audited(db, user, "audit.verify", None, None, ok=result.ok, events=result.events, head_seq=result.head_seq)
    return _audit_page(request, db, verified=result)
