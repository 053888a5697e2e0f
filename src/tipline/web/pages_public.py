"""Public pages: landing page, report form, receipt, follow-up with the receipt.

Reporters are protected here, by design rather than by configuration:

- no handler reads, logs or stores the client's address (only the rate limiter in ``web.security`` reads
  it, to make a keyed hash rotated daily and kept in memory; the server's access log is off, and a
  reverse proxy must not log addresses either: that is the deployment's configuration);
- the form asks for the incident type and what that type needs; contact details are optional and
  collapsed; the form takes no files (and says why);
- the form is post/redirect/get with a one-time token: a filed report answers ``303`` to
  ``/report/received``, which shows the 16-digit receipt once (``Cache-Control: no-store``). The receipt
  travels from the POST to that page in a short-lived cookie sealed with the installation's master key
  (``HttpOnly``, ``SameSite=Strict``, path ``/report/received``, cleared when shown), never in a URL, so it
  is in no history, log or ``Referer``. Reloading the page, or going back and sending the same form again,
  files nothing: the browser keeps keyed digests of the form tokens it has sent (cookie ``tipline_filed``),
  and a token sent again is answered with the "already received" page. When the reporter said the abuse is
  happening now, the receipt page starts with the emergency number and what to do now. A browser that
  sends no cookie at all gets the receipt in the answer to its POST (201), as it could not carry it over;
- a wrong or malformed receipt gets one generic 404 page (no hint about what was wrong);
- no inline ``<script>``, no ``on*=`` attributes and no inline styles: JavaScript is in ``/static``, so
  a Content-Security-Policy without ``unsafe-inline`` holds. Without JavaScript every page works.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from typing import Annotated, Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tipline.i18n import gettext_for, negotiate
from tipline.i18n.labels import country_codes
from tipline.i18n.templating import render
from tipline.intake import public_form
from tipline.intake import service as intake
from tipline.intake.public_form import (
    FIELD_LABELS,
    FORM_FIELDS,
    INCIDENT_TYPES,
    TYPES_BY_CATEGORY,
    YES_NO,
    Checked,
    text_limit,
)
from tipline.protect import retention
from tipline.settings import Settings
from tipline.store import Database
from tipline.webkit import kit
from tipline.webkit.deps import app_db, app_settings
from tipline.webkit.kit import JSONRoute, clean_text

router = APIRouter(route_class=JSONRoute, include_in_schema=False)

MAX_FOLLOWUP_CHARS = 20_000

RECEIPT_COOKIE = "tipline_receipt"  # the sealed receipt, from the POST to the page that shows it once
RECEIPT_PATH = "/report/received"
RECEIPT_SECONDS = 600  # a receipt not shown within this time is not shown at all
FILED_COOKIE = "tipline_filed"  # keyed digests of the form tokens this browser has sent (the last few)
FILED_KEEP = 20
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
_SEAL_CONTEXT = b"tipline receipt handover v1"


def _form_values(form: Any) -> dict[str, str]:
    """The known text fields of a posted form (first value of each; files and unknown names ignored)."""
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if key in FORM_FIELDS and isinstance(value, str) and key not in out:
            out[key] = clean_text(value)
    return out


def check_report_form(values: dict[str, str], lang: str, settings: Settings) -> Checked:
    """The public form's rules (``intake.public_form``), with messages in the page's language."""
    return public_form.check_report_form(
        values,
        lang,
        settings,
        gettext=gettext_for(lang),
        number=lambda n: format_decimal(n, locale=lang),
        countries=country_codes(),
    )


def _form_context(
    settings: Settings, values: dict[str, str], errors: dict[str, str], current: str | None
) -> dict[str, Any]:
    return {
        "types": INCIDENT_TYPES,
        "yes_no": YES_NO,
        "values": values,
        "errors": errors,
        "current": current if current in TYPES_BY_CATEGORY else None,
        "text_limit": text_limit(settings),
        "show_all": True,
        "field_labels": FIELD_LABELS,
        "form_token": secrets.token_urlsafe(24),
    }


# ------------------------------------------------------------------------------------------ one-time token, receipt


def _token_digest(db: Database, token: str) -> str:
    return db.keyring.blind("report form token " + token)[:16]


def _filed(request: Request) -> list[str]:
    raw = request.cookies.get(FILED_COOKIE, "")
    return [d for d in raw.split(".") if re.fullmatch(r"[0-9a-f]{16}", d)][-FILED_KEEP:]


def _seal_receipt(db: Database, receipt: str, urgent: bool) -> str:
    payload = json.dumps({"r": receipt, "u": urgent, "t": int(time.time())}).encode()
    return base64.urlsafe_b64encode(db.keyring.seal(payload, context=_SEAL_CONTEXT)).decode().rstrip("=")


def _open_receipt(db: Database, cookie: str | None) -> dict[str, Any] | None:
    """The receipt handed over by the POST, or None (no cookie, expired, tampered with, or another key's)."""
    if not cookie or len(cookie) > 2000:
        return None
    try:
        blob = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        data = json.loads(db.keyring.open(blob, context=_SEAL_CONTEXT))
    except (ValueError, binascii.Error):  # crypto.KeyError_ is a ValueError
        return None
    if not isinstance(data, dict) or time.time() - float(data.get("t", 0)) > RECEIPT_SECONDS:
        return None
    return data


def _to_receipt_page(request: Request, settings: Settings, *, sealed: str | None, filed: list[str]) -> Response:
    """303 to the page that shows the receipt: the receipt in its sealed cookie, the token's digest added."""
    response = RedirectResponse(RECEIPT_PATH, status_code=303)
    secure = settings.session_cookie_secure or request.url.scheme == "https"
    if sealed is not None:
        response.set_cookie(
            RECEIPT_COOKIE,
            sealed,
            max_age=RECEIPT_SECONDS,
            path=RECEIPT_PATH,
            httponly=True,
            samesite="strict",
            secure=secure,
        )
    # a session cookie (no Max-Age): gone when the browser closes, like the form it guards
    response.set_cookie(
        FILED_COOKIE, ".".join(filed[-FILED_KEEP:]), path="/report", httponly=True, samesite="strict", secure=secure
    )
    return response


# ------------------------------------------------------------------------------------------ routes


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "public/index.html")


@router.get("/report", response_class=HTMLResponse)
def report_form(
    request: Request, settings: Annotated[Settings, Depends(app_settings)], category: str = ""
) -> HTMLResponse:
    values = {"category": category} if category in TYPES_BY_CATEGORY else {}
    return render(request, "public/report.html", _form_context(settings, values, {}, category))


@router.get("/report/questions", response_class=HTMLResponse)
def report_questions(
    request: Request, settings: Annotated[Settings, Depends(app_settings)], category: str = ""
) -> HTMLResponse:
    """The questions of one incident type (the htmx fragment); all of them for an unknown type."""
    ctx = _form_context(settings, {}, {}, category)
    ctx["show_all"] = ctx["current"] is None
    return render(request, "public/_questions.html", ctx)


@router.post("/report", response_class=HTMLResponse)
async def report_submit(
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    settings: Annotated[Settings, Depends(app_settings)],
) -> Response:
    lang = negotiate(request)
    try:
        form = await kit.read_form(request, settings.max_body_bytes, max_fields=1000)
        values = _form_values(form)
    except kit.FormError:
        values = {}  # not a form at all: the page says what is missing
        form = None
    token = form.get("form_token") if form is not None else None
    token = token if isinstance(token, str) and _TOKEN.fullmatch(token) else None
    filed = _filed(request)
    digest = _token_digest(db, token) if token else None
    if digest is not None and digest in filed:  # sent again (reload, back button): file nothing
        return _to_receipt_page(request, settings, sealed=None, filed=filed)
    checked = check_report_form(values, lang, settings)
    if checked.report is None:
        ctx = _form_context(settings, values, checked.errors, values.get("category"))
        if token:
            ctx["form_token"] = token  # the same form, corrected: still one report
        return render(request, "public/report.html", ctx, status_code=422, no_store=True)
    result = await run_in_threadpool(intake.submit_report, db, checked.report)
    if not request.cookies:  # a browser that keeps no cookie would lose the receipt on the redirect
        ctx = {"receipt": result.receipt or "", "urgent": checked.report.is_live, "lang_switch": []}
        ctx["emergency_number"] = settings.emergency_number
        return render(request, "public/receipt.html", ctx, status_code=201, no_store=True)
    sealed = _seal_receipt(db, result.receipt or "", checked.report.is_live)
    return _to_receipt_page(request, settings, sealed=sealed, filed=[*filed, *([digest] if digest else [])])


@router.get(RECEIPT_PATH, response_class=HTMLResponse)
def report_received(
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    settings: Annotated[Settings, Depends(app_settings)],
) -> HTMLResponse:
    """The receipt, once: the sealed cookie is cleared by this answer, so a reload shows "already received"."""
    handed = _open_receipt(db, request.cookies.get(RECEIPT_COOKIE))
    ctx = {
        "receipt": handed["r"] if handed else None,
        "urgent": bool(handed and handed.get("u")),
        "emergency_number": settings.emergency_number,
    }
    if handed is not None:
        ctx["lang_switch"] = []  # switching language reloads the page, and the receipt is shown once
    response = render(request, "public/receipt.html", ctx, no_store=True)
    if handed is not None:
        response.delete_cookie(RECEIPT_COOKIE, path=RECEIPT_PATH, httponly=True, samesite="strict")
    return response


# ------------------------------------------------------------------------------------------ follow-up


def _not_found(request: Request) -> HTMLResponse:
    _ = gettext_for(negotiate(request))
    return render(
        request,
        "public/followup.html",
        {"error": _("There is no report with this receipt number. Check the number and try again.")},
        status_code=404,
        no_store=True,
    )


def _status_page(
    request: Request,
    db: Database,
    report_id: int,
    receipt: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    added: bool = False,
    body: str = "",
) -> HTMLResponse:
    view = intake.reporter_view(db, report_id)
    ctx = {"view": view, "receipt": receipt, "error": error, "added": added, "body": body}
    return render(request, "public/followup_status.html", ctx, status_code=status_code, no_store=True)


@router.get("/followup", response_class=HTMLResponse)
def followup_form(request: Request) -> HTMLResponse:
    return render(request, "public/followup.html", {"error": None})


@router.post("/followup", response_class=HTMLResponse)
def followup_lookup(
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    receipt: Annotated[str, Form()] = "",
) -> HTMLResponse:
    report_id = intake.report_for_receipt(db, receipt)
    if report_id is None:
        return _not_found(request)
    return _status_page(request, db, report_id, receipt)


@router.post("/followup/message", response_class=HTMLResponse)
def followup_message(
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    receipt: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> HTMLResponse:
    report_id = intake.report_for_receipt(db, receipt)
    if report_id is None:
        return _not_found(request)
    _ = gettext_for(negotiate(request))
    text = clean_text(body).strip()
    if not text:
        return _status_page(
            request, db, report_id, receipt, status_code=422, error=_("Write the information you want to add.")
        )
    if len(text) > MAX_FOLLOWUP_CHARS:
        return _status_page(
            request,
            db,
            report_id,
            receipt,
            status_code=422,
            body=body,
            error=_("The message is too long: at most %(max)s characters.")
            % {"max": format_decimal(MAX_FOLLOWUP_CHARS, locale=negotiate(request))},
        )
    intake.add_followup(db, report_id, text, author="reporter")
    return _status_page(request, db, report_id, receipt, added=True)


# ------------------------------------------------------------------------------------------ about and privacy


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, db: Annotated[Database, Depends(app_db)]) -> HTMLResponse:
    """Who runs the hotline, on what legal basis, and what is kept for how long (the retention rules in
    force, read from the same file the retention job reads)."""
    rules = retention.load_rules(retention.rules_path(db))
    kept = [
        {"status": r.status, "category": r.category, "submission": r.submission, "days": r.days}
        for r in rules.reports
        if r.submission == "complete"
    ]
    ctx = {
        "settings": db.settings,
        "kept": kept,
        "receipt_days": rules.receipt_days,
    }
    return render(request, "public/privacy.html", ctx)


def not_found(request: Request) -> HTMLResponse:
    """The page for an address nobody serves (the app's 404 handler), in the visitor's language."""
    return render(request, "public/not_found.html", status_code=404)
