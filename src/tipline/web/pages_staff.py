"""Staff pages: login, the triage queue, a report, an entity. The HTML twin of ``/api/v1``.

- **Sessions**: ``POST /login`` opens a server-side session (``accounts.open_session``); its cookie
  ``tipline_session`` is HttpOnly, SameSite=Strict, Path=/, and Secure when
  ``settings.session_cookie_secure``. The app's middleware turns it into ``request.state.user`` and
  ``request.state.csrf``.
- **Access**: :func:`page_user` sends an anonymous visitor to ``/login?next=…`` (303) and answers a
  logged-in principal without a staff role with a 403 page. Both are page responses, not JSON: the
  router's route class (:class:`PageRoute`) turns :class:`PageDenied` into them.
- **CSRF**: every staff form posts ``csrf_token`` (the session's token); a missing or wrong one gets a
  403 page and changes nothing.
- **Analyst protection**: no media is ever shown, only hashes; URLs and domains are shown defanged in
  ``<code>``, never as links; file names (often explicit) are folded away; reporter contact details are
  shown only after a deliberate POST, which the service audits.
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import select

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.labels import country_codes
from tipline.i18n.templating import render
from tipline.intake.schemas import AgeBand, Category, Classification, Source, Status
from tipline.intake.service import NotFound
from tipline.reports import service as reports
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Report
from tipline.web.app import SESSION_COOKIE
from tipline.web.deps import get_db, get_settings
from tipline.web.pages_public import clean_text

PAGE_SIZE = 50
MAX_QUERY_CHARS = 200


class PageDenied(Exception):
    """Raised by page dependencies; :class:`PageRoute` turns it into a redirect or an error page."""

    def __init__(self, status_code: int, message: str = "", *, location: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.location = location


class PageRoute(APIRoute):
    """A route whose :class:`PageDenied` becomes a page (the app's handlers would answer JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PageDenied as e:
                if e.location is not None:
                    return RedirectResponse(e.location, status_code=303)
                return error_page(request, e.status_code, e.message)

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(
        request, "staff/error.html", {"status": status_code, "message": message}, status_code=status_code, no_store=True
    )


# ------------------------------------------------------------------------------------------ access


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site, a scheme) becomes /queue."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/queue"
    if any(c in target for c in "\r\n\t\\") or ":" in target.split("?", 1)[0]:
        return "/queue"
    return target


def _login_location(request: Request) -> str:
    if request.method in ("GET", "HEAD"):
        # the path as sent (still percent-encoded): an entity value may hold "/", "?" or "#"
        raw = request.scope.get("raw_path")
        path = raw.decode("latin-1") if raw else quote(request.url.path)
        target = path + (f"?{request.url.query}" if request.url.query else "")
    else:
        # after a POST the place to come back to is the page the form was on
        m = re.match(r"^(/reports/\d+)", request.url.path)
        target = m.group(1) if m else "/queue"
    return "/login?next=" + quote(safe_next(target), safe="")


def page_user(request: Request) -> Principal:
    """The logged-in staff user, or a redirect to the login page, or a 403 page."""
    user: Principal | None = getattr(request.state, "user", None)
    if user is None:
        raise PageDenied(303, location=_login_location(request))
    if not user.can(Role.ANALYST):
        _ = gettext_for(negotiate(request))
        raise PageDenied(403, _("Your account does not have a staff role that can open this page."))
    return user


def require_page_role(role: Role) -> Callable[[Request], Principal]:
    """A dependency for pages that need more than the analyst role."""

    def dep(request: Request) -> Principal:
        user = page_user(request)
        if not user.can(role):
            _ = gettext_for(negotiate(request))
            raise PageDenied(403, _("This page needs the %(role)s role.") % {"role": role.value})
        return user

    return dep


StaffUser = Annotated[Principal, Depends(page_user)]
Db = Annotated[Database, Depends(get_db)]


def check_csrf(request: Request, token: str) -> None:
    expected = getattr(request.state, "csrf", None)
    if not expected or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        _ = gettext_for(negotiate(request))
        raise PageDenied(
            403, _("This form has expired or did not come from this site. Go back, reload the page and try again.")
        )


# ------------------------------------------------------------------------------------------ login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/queue") -> Response:
    if getattr(request.state, "user", None) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "staff/login.html", {"next": safe_next(next), "error": None, "name": ""})


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
    user = accounts.authenticate(db, name, password) if plausible else None
    if user is None or not user.can(Role.ANALYST):
        _ = gettext_for(negotiate(request))
        ctx = {"next": safe_next(next), "error": _("Wrong name or password."), "name": clean_text(name)[:128]}
        return render(request, "staff/login.html", ctx, status_code=401, no_store=True)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.close_session(db, old)
    cookie, _csrf = accounts.open_session(db, user)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="strict", path="/", secure=settings.session_cookie_secure
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    db: Db,
    settings: Annotated[Settings, Depends(get_settings)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if getattr(request.state, "user", None) is not None:
        check_csrf(request, csrf_token)
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


def _languages(db: Database) -> list[str]:
    with db.reader() as s:
        return sorted(x for x in s.scalars(select(Report.language).distinct()) if x)


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
    languages = _languages(db)
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
        item = entities.setdefault(e.kind, {}).setdefault(e.value, {"value": e.value, "fields": [], "confidence": 0.0})
        if e.field not in item["fields"]:
            item["fields"].append(e.field)
        item["confidence"] = max(item["confidence"], e.confidence)
    details = {k: v for k, v in report.details.items() if k != "answers"}
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
        "now": datetime.now(UTC),
    }
    return render(request, "staff/report.html", ctx, status_code=status_code, no_store=True)


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    return _report_page(request, db, user, report_id)


@router.post("/reports/{report_id}/reveal-contact", response_class=HTMLResponse)
def reveal_contact(
    request: Request, report_id: int, db: Db, user: StaffUser, csrf_token: Annotated[str, Form()] = ""
) -> HTMLResponse:
    check_csrf(request, csrf_token)
    return _report_page(request, db, user, report_id, reveal_contact=True)


@router.post("/reports/{report_id}/assess", response_class=HTMLResponse)
def assess(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    csrf_token: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    classification: Annotated[str, Form()] = "",
    age_band: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
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


@router.post("/reports/{report_id}/message", response_class=HTMLResponse)
def message(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    csrf_token: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
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
