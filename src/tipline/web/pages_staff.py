"""Staff pages: the triage queue, a report, an entity. The HTML twin of ``/api/v1``. Sign-in and the
account pages are ``web.pages_login``'s, the admin and audit pages ``web.pages_admin``'s (both included in
this module's router).

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
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tipline.accounts.service import Principal
from tipline.errors import NotFound
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.labels import country_codes
from tipline.i18n.templating import render
from tipline.intake.schemas import AgeBand, Category, Classification, Source, Status
from tipline.intake.service import reading_key
from tipline.intake.worker import backlog as analysis_backlog
from tipline.reports import service as reports
from tipline.reports import shift
from tipline.store import Database
from tipline.web import pages_admin, pages_login, pages_shift
from tipline.webkit.kit import (
    Db,
    PageRoute,
    StaffUser,
    clean_text,
    error_page,
)

PAGE_SIZE = 50
MAX_QUERY_CHARS = 200


router = APIRouter(route_class=PageRoute, include_in_schema=False)


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
    priority: str = "",
    owner: str = "",
    sort: str = "",
    page: str = "1",
) -> HTMLResponse:
    languages = reports.queue_languages(db)
    f = reports.QueueFilter(
        category=_pick(category, {c.value for c in Category}),
        language=_pick(language, set(languages)),
        source=_pick(source, {s.value for s in Source}),
        status=_pick(status, {s.value for s in Status} | {reports.ALL_STATUSES}),
        country=_pick(country.upper(), set(country_codes())),
        q=clean_text(q).strip()[:MAX_QUERY_CHARS] or None,
        priority=int(priority) if priority in ("1", "2", "3", "4") else None,
        owner=_pick(owner, {"mine", "unassigned"}),
        viewer_id=user.id,
        sort=_pick(sort, set(reports.SORTS)) or "priority",
        limit=PAGE_SIZE,
    )
    page_no = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100_000 else 1
    f.offset = (page_no - 1) * PAGE_SIZE
    items, total = reports.queue(db, f)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    filters = {
        "category": f.category or "",
        "language": f.language or "",
        "source": f.source or "",
        "status": f.status or "",
        "country": f.country or "",
        "q": f.q or "",
        "priority": str(f.priority or ""),
        "owner": f.owner or "",
        "sort": f.sort if f.sort != "priority" else "",
    }
    ctx = {
        "items": items,
        "total": total,
        "page": page_no,
        "pages": pages,
        "first": f.offset + 1 if items else 0,
        "last": f.offset + len(items),
        "filters": filters,
        "filter_query": urlencode({k: v for k, v in filters.items() if v}),
        "languages": languages,
        "categories": [c.value for c in Category],
        "sources": [s.value for s in Source],
        "statuses": [s.value for s in Status],
        "sorts": list(reports.SORTS),
        "staff": shift.staff_users(db),
        "saved_filters": shift.saved_filters(db, user),
        "notifications": shift.notifications(db, user),
        "now": datetime.now(UTC),
        "backlog": analysis_backlog(db),
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
        if e.kind in reports.BLIND_KINDS:
            continue  # a person's name as a keyed hash: it finds payment alerts, it says nothing to a reader
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
        "person_roles": [p.get("role") if isinstance(p, dict) else None for p in report.persons or []],
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
    # each capability's panels (Capability.report_panels), with what they need in the context
    panels: dict[str, list[str]] = {"main": [], "side": []}
    for cap in request.app.state.capabilities:
        for panel in cap.report_panels:
            panels[panel.column].append(panel.template)
            if panel.context is not None:
                ctx.update(panel.context(db, report_id))
    ctx["panels"] = panels
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


# ------------------------------------------------------------------------------------------ the other staff pages

router.include_router(pages_login.router)
router.include_router(pages_admin.router)
router.include_router(pages_shift.router)
