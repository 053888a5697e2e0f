"""Public pages: landing page, report form, receipt, follow-up with the receipt.

Reporters are protected here, by design rather than by configuration:

- no handler reads, logs or stores the client's address (only the rate limiter in ``web.security`` reads
  it, to make a keyed hash rotated daily and kept in memory; the server's access log is off, and a
  reverse proxy must not log addresses either: that is the deployment's configuration);
- the form asks for the incident type and what that type needs; contact details are optional and
  collapsed; the form takes no files (and says why);
- the 16-digit receipt is shown once (a 201 page, ``Cache-Control: no-store``) and never travels in a
  URL: it goes in POST bodies only, so it is in no history, log or ``Referer``;
- a wrong or malformed receipt gets one generic 404 page (no hint about what was wrong);
- no inline ``<script>``, no ``on*=`` attributes and no inline styles: JavaScript is in ``/static``, so
  a Content-Security-Policy without ``unsafe-inline`` holds. Without JavaScript every page works.
"""

from __future__ import annotations

from typing import Annotated, Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
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
from tipline.settings import Settings
from tipline.store import Database
from tipline.web import kit
from tipline.web.deps import get_db, get_settings
from tipline.web.kit import clean_text

router = APIRouter(include_in_schema=False)

MAX_FOLLOWUP_CHARS = 20_000


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
    }


# ------------------------------------------------------------------------------------------ routes


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "public/index.html")


@router.get("/report", response_class=HTMLResponse)
def report_form(
    request: Request, settings: Annotated[Settings, Depends(get_settings)], category: str = ""
) -> HTMLResponse:
    values = {"category": category} if category in TYPES_BY_CATEGORY else {}
    return render(request, "public/report.html", _form_context(settings, values, {}, category))


@router.get("/report/questions", response_class=HTMLResponse)
def report_questions(
    request: Request, settings: Annotated[Settings, Depends(get_settings)], category: str = ""
) -> HTMLResponse:
    """The questions of one incident type (the htmx fragment); all of them for an unknown type."""
    ctx = _form_context(settings, {}, {}, category)
    ctx["show_all"] = ctx["current"] is None
    return render(request, "public/_questions.html", ctx)


@router.post("/report", response_class=HTMLResponse)
async def report_submit(
    request: Request,
    db: Annotated[Database, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> HTMLResponse:
    lang = negotiate(request)
    try:
        values = _form_values(await kit.read_form(request, settings.max_body_bytes, max_fields=1000))
    except kit.FormError:
        values = {}  # not a form at all: the page says what is missing
    checked = check_report_form(values, lang, settings)
    if checked.report is None:
        ctx = _form_context(settings, values, checked.errors, values.get("category"))
        return render(request, "public/report.html", ctx, status_code=422, no_store=True)
    result = await run_in_threadpool(intake.submit_report, db, checked.report)
    return render(request, "public/receipt.html", {"receipt": result.receipt or ""}, status_code=201, no_store=True)


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
    db: Annotated[Database, Depends(get_db)],
    receipt: Annotated[str, Form()] = "",
) -> HTMLResponse:
    report_id = intake.report_for_receipt(db, receipt)
    if report_id is None:
        return _not_found(request)
    return _status_page(request, db, report_id, receipt)


@router.post("/followup/message", response_class=HTMLResponse)
def followup_message(
    request: Request,
    db: Annotated[Database, Depends(get_db)],
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
