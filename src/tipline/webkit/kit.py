"""What every web front end shares: the page kit of the core pages and of each capability's ``web.py``.

Imported by ``web.app``, ``web.pages_*``, ``web.api``, the CyberTipline door and every capability's web
module; it imports none of them (no cycle through the app factory).

- **Session cookie**: :data:`SESSION_COOKIE`, set by the login pages and read by the app's middleware,
  which turns it into ``request.state.user`` and ``request.state.csrf``.
- **Roles on pages**: :func:`page_user` (any staff role; anonymous -> 303 to ``/login?next=…``, a
  principal without a staff role -> a 403 page) and :func:`require_page_role`; the annotated
  :data:`StaffUser`, :data:`SupervisorUser`, :data:`AdminUser` and :data:`Db` for handler signatures.
- **Routes**: every router is made with ``route_class=`` :class:`JSONRoute` (JSON bodies read strictly:
  a key twice in one object is refused) or :class:`PageRoute` (the same, and page errors as pages).
- **Errors on pages**: :class:`PageDenied` raised anywhere under a :class:`PageRoute` becomes a redirect or
  the error page (:func:`error_page`); the app's own handlers would answer JSON.
- **CSRF**: one mechanism, the app-wide guard :func:`tipline.web.security.csrf_guard`. It runs before
  every handler; a handler never checks the token again. Forms carry ``csrf_token`` (the templates' context
  has it).
- **Form text**: :func:`clean_text` (control characters out, line ends ``\\n``) for every text field.
- **Bodies**: :func:`read_form`, the one streaming form reader of every door (public form, bank pages, the
  JSON API's file upload, ``/api/v1/match``, the CyberTipline API): the body is counted while it arrives
  and refused past its limit; each door turns :class:`FormError` into its own answer (a page, JSON, XML).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from tipline import strict_json
from tipline.accounts.service import Principal, Role
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.templating import render
from tipline.store import Database
from tipline.webkit.deps import SESSION_COOKIE as SESSION_COOKIE  # defined beside the schemes that name it
from tipline.webkit.deps import app_db

SPOOL_BYTES = 1024 * 1024  # multipart files larger than this go to a temporary file while parsed

# ------------------------------------------------------------------------------------------ errors


class PageDenied(Exception):
    """Raised by page dependencies; :class:`PageRoute` turns it into a redirect or an error page."""

    def __init__(self, status_code: int, message: str = "", *, location: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.location = location


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):  # as Starlette's Request.json, with the strict reader
            if problem := compressed(self):
                raise HTTPException(415, problem)
            self._json = strict_json.loads(await self.body())
        return self._json


class JSONRoute(APIRoute):
    """A route whose JSON body is read with :func:`tipline.strict_json.loads`: a key repeated in one object
    is refused (422, the key named) instead of being read last-wins. Every router of the app uses it or
    :class:`PageRoute` (a test walks the served app's routes); FastAPI's documented way to change the
    request a route reads."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:  # no body to read: nothing to change
            return handler
        form_route = isinstance(self.body_field.field_info, params.Form)  # as FastAPI tells a form route
        json_route = not form_route and getattr(self.body_field.field_info, "media_type", "") == "application/json"

        async def strict_handler(request: Request) -> Response:
            request = _StrictJSONRequest(request.scope, request.receive)
            if form_route and media_type(request) in FORM_TYPES:  # FastAPI's own parse: a bare JSON 400
                await bounded_form(request)
            try:
                return await handler(request)
            except RequestValidationError:  # after the route's dependencies (sign-in, CSRF) had their say
                if json_route and await request.body() and (problem := _not_json(request)):
                    raise HTTPException(415, problem) from None
                raise

        return strict_handler


def _not_json(request: Request) -> str | None:
    """What is wrong with a body a JSON route could not validate, when it was not sent as JSON: FastAPI then
    validated the raw bytes ("Input should be a valid dictionary"), which names neither the header nor the
    fix."""
    kind = media_type(request)
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        return None
    sent = f"Content-Type: {kind[:60]}" if kind else "no Content-Type"
    return f"the body was sent with {sent}; send JSON with Content-Type: application/json"


class PageRoute(JSONRoute):
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


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(
        request, "staff/error.html", {"status": status_code, "message": message}, status_code=status_code, no_store=True
    )


# ------------------------------------------------------------------------------------------ roles


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site, a scheme) becomes /queue."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/queue"
    if any(c in target for c in "\r\n\t\\") or ":" in target.split("?", 1)[0]:
        return "/queue"
    return target


def login_location(request: Request) -> str:
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
        raise PageDenied(303, location=login_location(request))
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
SupervisorUser = Annotated[Principal, Depends(require_page_role(Role.SUPERVISOR))]
AdminUser = Annotated[Principal, Depends(require_page_role(Role.ADMIN))]
Db = Annotated[Database, Depends(app_db)]


# ------------------------------------------------------------------------------------------ form text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Form text as stored: control characters (NUL included: PostgreSQL refuses it) removed, line ends
    made ``\\n``."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


# ------------------------------------------------------------------------------------------ bodies


class FormError(Exception):
    """A form body that cannot be read. ``status``: 413 (over the limit), 415 (not a form), 400 (broken)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _multipart_problem(e: MultiPartException) -> str:
    """Starlette's message, with python-multipart's reason where Starlette says only "Invalid multipart
    data." (a part's header line over 4 KiB, such as a very long file name, ends there)."""
    cause = e.__cause__
    if e.message.startswith("Invalid multipart data") and cause is not None and str(cause):
        why = str(cause)
        if why.startswith("Maximum header size exceeded"):
            why += " (a part's header, such as its file name, is longer than 4,096 characters)"
        return f"{e.message.rstrip('.')}: {why}"
    return e.message


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_UNCOUNTED = 2**62


async def bounded_form(request: Request) -> FormData:
    """The form of a request whose size the app's ``BodyLimits`` middleware has bounded, read with
    Starlette's own limits (1,000 fields, 1,000 files, 1 MiB a field): for the CSRF guard and for routes
    with ``Form()`` parameters, which read it before any handler. A route's :func:`read_form` then gets this
    parse. Raises :class:`FormError`, which the app answers as a page or JSON with its reason."""
    return await read_form(request, _UNCOUNTED, max_files=1000, max_fields=1000)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_headers(request: Request, limit: int, what: str) -> None:
    """Refuse, before reading, a body that is compressed (415) or declares more than ``limit`` (413)."""
    if problem := compressed(request):
        raise FormError(415, problem)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise FormError(413, f"the {what} is {int(length):,} bytes; at most {limit:,} are accepted")


async def _counted(request: Request, limit: int, what: str) -> AsyncGenerator[bytes, None]:
    """The request body, refused as soon as it passes ``limit`` (from Content-Length, or counted)."""
    _check_headers(request, limit, what)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise FormError(413, f"the {what} is more than {limit:,} bytes; at most {limit:,} are accepted")
        yield chunk


def compressed(request: Request) -> str | None:
    """What to say of a compressed body (``Content-Encoding: gzip``), or None. Read as it is, it failed as
    "not JSON" or "not UTF-8", which names neither the header nor the fix; inflating it here would open the
    door to a decompression bomb, so it is refused (415)."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding and encoding != "identity":
        return f"the body is compressed (Content-Encoding: {encoding[:40]}); send it uncompressed"
    return None


async def read_body(request: Request, limit: int, what: str = "request body") -> bytes:
    """The whole body, refused with :class:`FormError` past ``limit`` (413) or compressed (415)."""
    return b"".join([c async for c in _counted(request, limit, what)])


async def read_form(
    request: Request,
    limit: int,
    *,
    max_files: int = 0,
    max_fields: int = 20,
    max_part_size: int = 1024 * 1024,
    urlencoded: bool = True,
) -> FormData:
    """The request's form, read as it streams: at most ``limit`` bytes in all, ``max_files`` file parts,
    ``max_fields`` other fields of at most ``max_part_size`` bytes each. Raises :class:`FormError`.

    Hand-written over Starlette's parsers because ``Request.form()`` has no limit on the whole body. A form
    the app-wide CSRF guard already parsed (a browser form on a page) is returned as parsed: its size was
    bounded by the body-limit middleware. The caller closes the form (``await form.close()``) when it has
    file parts.
    """
    parsed: FormData | None = getattr(request, "_form", None)
    if parsed is not None:
        return parsed
    _check_headers(request, limit, "request body")
    ctype = media_type(request)
    stream = _counted(request, limit, "request body")
    try:
        if ctype == "multipart/form-data":
            parser = MultiPartParser(
                request.headers, stream, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
            )
            parser.spool_max_size = SPOOL_BYTES
            form = await parser.parse()
        elif urlencoded and ctype in ("application/x-www-form-urlencoded", ""):
            form = await FormParser(request.headers, stream, max_fields=max_fields, max_part_size=max_part_size).parse()
        else:
            kinds = "multipart/form-data or application/x-www-form-urlencoded" if urlencoded else "multipart/form-data"
            raise FormError(415, f"send a form ({kinds}), not {ctype or 'no content type'}")
    except MultiPartException as e:
        raise FormError(400, f"the form could not be read: {_multipart_problem(e)}") from None
    except ClientDisconnect:
        raise FormError(400, "the form could not be read: the connection closed before all of it arrived") from None
    request._form = form  # the form of this request, as Request.form() keeps it
    return form
