"""Web routes of routing: the JSON API (under /api/v1) and the staff pages.

API (staff bearer token or session; agency changes: admins):

- ``GET /api/v1/agencies`` (``?country=``), ``GET /api/v1/agencies/{id}``, ``POST /api/v1/agencies``,
  ``PUT /api/v1/agencies/{id}``
- ``GET /api/v1/reports/{id}/jurisdiction`` (candidates with evidence, and suggested agencies),
  ``POST /api/v1/reports/{id}/jurisdiction/refresh`` (``?resolve=true`` resolves hosting first),
  ``GET /api/v1/cases/{id}/jurisdiction``
- ``POST /api/v1/referrals`` (``report_id`` or ``case_id``, ``agency_id``, ``format``), ``GET /api/v1/referrals``,
  ``GET /api/v1/referrals/{id}``, ``GET /api/v1/referrals/{id}/download``, ``POST /api/v1/referrals/{id}/ack``,
  ``POST /api/v1/referrals/{id}/deliveries`` (how, when and by whom it was sent; the agency's reference)
- ``GET /api/v1/takedowns``, ``GET /api/v1/takedowns/summary``, ``POST /api/v1/takedowns/{id}/transition``

Pages: ``/agencies`` (admins edit: ``/agencies/new``, ``/agencies/{id}/edit``), ``/reports/{id}/refer`` and
``/cases/{id}/refer`` (candidates with their evidence, the referral form, earlier referrals),
``/reports/{id}/routing-panel`` (the same as a fragment, for ``routing/report_panel.html`` on the report
page), ``/referrals/{id}`` (digest, download, deliveries and acknowledgement), ``/takedown`` (the URL list).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from tipline.accounts.service import Principal, Role
from tipline.errors import NotFound
from tipline.i18n.templating import render
from tipline.intake.schemas import Category
from tipline.routing import agencies as directory
from tipline.routing import delivery as dlv
from tipline.routing import referral as ref
from tipline.routing import takedown as td
from tipline.routing.jurisdiction import Candidate, is_country
from tipline.store import Database
from tipline.store.types import Instant
from tipline.webkit import kit
from tipline.webkit.deps import app_db, require, staff
from tipline.webkit.kit import JSONRoute

router = APIRouter(route_class=JSONRoute)
api = APIRouter(route_class=JSONRoute, prefix="/api/v1", tags=["routing"])
pages = APIRouter(route_class=kit.PageRoute, include_in_schema=False)

Db = Annotated[Database, Depends(app_db)]
Staff = Annotated[Principal, Depends(staff)]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
StaffUser = Annotated[Principal, Depends(kit.page_user)]
AdminUser = Annotated[Principal, Depends(kit.require_page_role(Role.ADMIN))]


def _404(e: Exception) -> HTTPException:
    return HTTPException(404, str(e))


def _candidates_json(cands: list[Candidate]) -> list[dict[str, Any]]:
    return [c.as_dict() for c in cands]


def _suggested(db: Database, cands: list[Candidate], category: str | None) -> list[dict[str, Any]]:
    return [
        {"id": s["agency"].id, "name": s["agency"].name, "country": s["country"], "weight": s["weight"]}
        for s in directory.suggest(directory.list_agencies(db), cands, category)
    ]


# ------------------------------------------------------------------------------------------ API: agencies


@api.get("/agencies", response_model=list[directory.AgencyOut], summary="The agency directory")
def api_agencies(
    db: Db, user: Staff, country: Annotated[str | None, Query(min_length=2, max_length=2)] = None
) -> list[directory.AgencyOut]:
    return directory.list_agencies(db, country=country)


@api.get("/agencies/{agency_id}", response_model=directory.AgencyOut, summary="One agency")
def api_agency(agency_id: str, db: Db, user: Staff) -> directory.AgencyOut:
    a = directory.get_agency(db, agency_id)
    if a is None:
        raise HTTPException(404, f"there is no agency {agency_id!r}")
    return a


@api.post("/agencies", response_model=directory.AgencyOut, status_code=201, summary="Add an agency (admins)")
def api_add_agency(body: directory.AgencyIn, db: Db, user: Admin) -> directory.AgencyOut:
    try:
        return directory.save_agency(db, body, user, create=True)
    except directory.AgencyError as e:
        raise HTTPException(409, str(e)) from None


@api.put("/agencies/{agency_id}", response_model=directory.AgencyOut, summary="Change an agency (admins)")
def api_put_agency(agency_id: str, body: directory.AgencyIn, db: Db, user: Admin) -> directory.AgencyOut:
    if body.id != agency_id:
        raise HTTPException(422, "the id in the body must be the id in the path (ids do not change)")
    try:
        return directory.save_agency(db, body, user, create=False)
    except directory.AgencyError as e:
        raise HTTPException(404, str(e)) from None


# ------------------------------------------------------------------------------------------ API: jurisdiction


class EvidenceOut(BaseModel):
    kind: str = Field(description="What points to the country: phone, domain, ip, person, platform, ...")
    country: str
    weight: float
    value: str
    source: str = Field(description="Where in the report it was found")
    detail: str


class CandidateOut(BaseModel):
    country: str
    weight: float = Field(description="Noisy-or of the country's distinct clues (0-1)")
    evidence: list[EvidenceOut]


class SuggestedAgencyOut(BaseModel):
    id: str
    name: str
    country: str
    weight: float


class JurisdictionOut(BaseModel):
    subject_type: str
    subject_id: int
    candidates: list[CandidateOut]
    agencies: list[SuggestedAgencyOut] = Field(description="Agencies for the candidate countries, best first.")


class HostingCountryOut(BaseModel):
    removals: int
    median_hours: float


class TakedownSummaryOut(BaseModel):
    by_state: dict[str, int] = Field(description="How many URLs are in each takedown state")
    removals: int
    median_hours_to_removal: float | None
    by_hosting_country: dict[str, HostingCountryOut]


@api.get("/reports/{report_id}/jurisdiction", response_model=JurisdictionOut, summary="Candidate countries of a report")
def api_report_jurisdiction(report_id: int, db: Db, user: Staff) -> JurisdictionOut:
    try:
        cands = ref.report_jurisdiction(db, report_id)
        category = ref.report_category(db, report_id)
    except NotFound as e:
        raise _404(e) from None
    return JurisdictionOut(
        subject_type="report",
        subject_id=report_id,
        candidates=_candidates_json(cands),
        agencies=_suggested(db, cands, category),
    )


@api.post(
    "/reports/{report_id}/jurisdiction/refresh",
    response_model=JurisdictionOut,
    summary="Recompute a report's candidates",
)
def api_refresh_jurisdiction(report_id: int, db: Db, user: Staff, resolve: bool = False) -> JurisdictionOut:
    try:
        cands = ref.refresh_jurisdiction(db, report_id, resolve=resolve)
        category = ref.report_category(db, report_id)
    except NotFound as e:
        raise _404(e) from None
    return JurisdictionOut(
        subject_type="report",
        subject_id=report_id,
        candidates=_candidates_json(cands),
        agencies=_suggested(db, cands, category),
    )


@api.get("/cases/{case_id}/jurisdiction", response_model=JurisdictionOut, summary="Candidate countries of a case")
def api_case_jurisdiction(case_id: int, db: Db, user: Staff) -> JurisdictionOut:
    try:
        cands = ref.case_jurisdiction(db, case_id)
    except NotFound as e:
        raise _404(e) from None
    return JurisdictionOut(
        subject_type="case",
        subject_id=case_id,
        candidates=_candidates_json(cands),
        agencies=_suggested(db, cands, None),
    )


# ------------------------------------------------------------------------------------------ API: referrals


class ReferralIn(BaseModel):
    report_id: int | None = None
    case_id: int | None = None
    agency_id: str = Field(min_length=2, max_length=64)
    format: str = Field(default="package", description="package, cybertip, stix or misp")


class AckIn(BaseModel):
    note: str = Field(default="", max_length=2000, description="The agency's words, e.g. its own case number.")
    at: Instant | None = Field(default=None, description="When the agency acknowledged (default: now).")
    by: str = Field(default="", max_length=200, description="Who at the agency acknowledged (name or office).")


@api.post("/referrals", response_model=ref.ReferralOut, status_code=201, summary="Make a referral (package + record)")
def api_create_referral(body: ReferralIn, db: Db, user: Staff) -> ref.ReferralOut:
    try:
        out, _pkg = ref.create_referral(
            db, agency_id=body.agency_id, fmt=body.format, actor=user, report_id=body.report_id, case_id=body.case_id
        )
    except NotFound as e:
        raise _404(e) from None
    except ref.ReferralError as e:
        raise HTTPException(422, str(e)) from None
    return out


@api.get("/referrals", response_model=list[ref.ReferralOut], summary="Referrals, newest first")
def api_referrals(
    db: Db, user: Staff, report_id: int | None = None, case_id: int | None = None
) -> list[ref.ReferralOut]:
    return ref.list_referrals(db, report_id=report_id, case_id=case_id)


@api.get("/referrals/{referral_id}", response_model=ref.ReferralOut, summary="One referral")
def api_referral(referral_id: int, db: Db, user: Staff) -> ref.ReferralOut:
    try:
        return ref.get_referral(db, referral_id)
    except NotFound as e:
        raise _404(e) from None


@api.get(
    "/referrals/{referral_id}/download",
    summary="The referral package as recorded (zip)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def api_download(referral_id: int, db: Db, user: Staff) -> Response:
    try:
        name, data, digest = ref.download(db, referral_id, user)
    except NotFound as e:
        raise _404(e) from None
    except ref.ReferralError as e:
        raise HTTPException(500, str(e)) from None
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-SHA256": digest,
            "Cache-Control": "no-store",
        },
    )


@api.post("/referrals/{referral_id}/ack", response_model=ref.ReferralOut, summary="Record the agency's acknowledgement")
def api_ack(referral_id: int, body: AckIn, db: Db, user: Staff) -> ref.ReferralOut:
    try:
        return ref.acknowledge(db, referral_id, user, note=body.note, at=body.at, by_agency=body.by)
    except NotFound as e:
        raise _404(e) from None
    except ref.ReferralError as e:
        raise HTTPException(422, str(e)) from None


@api.post(
    "/referrals/{referral_id}/deliveries",
    response_model=ref.ReferralOut,
    status_code=201,
    summary="Record that the referral was sent to its agency (how, when, by whom, the agency's reference)",
)
def api_delivery(referral_id: int, body: dlv.DeliveryIn, db: Db, user: Staff) -> ref.ReferralOut:
    try:
        dlv.record_delivery(db, referral_id, user, body)
    except NotFound as e:
        raise _404(e) from None
    except dlv.DeliveryError as e:
        raise HTTPException(422, str(e)) from None
    return ref.get_referral(db, referral_id)


# ------------------------------------------------------------------------------------------ API: takedown


class TakedownPage(BaseModel):
    total: int
    items: list[td.TakedownOut]


class TransitionIn(BaseModel):
    state: str = Field(description="assessed, notice_sent, removed or reappeared")
    at: Instant | None = Field(default=None, description="When it happened (default: now).")
    agency_id: str | None = Field(default=None, max_length=64, description="Who got the notice (notice_sent).")
    note: str | None = Field(default=None, max_length=2000)


@api.get("/takedowns", response_model=TakedownPage, summary="Reported URLs and their takedown state")
def api_takedowns(
    db: Db,
    user: Staff,
    state: str | None = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    report_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TakedownPage:
    if state is not None and state not in td.STATES:
        raise HTTPException(422, f"unknown state {state[:40]!r}; states: {', '.join(td.STATES)}")
    items, total = td.list_takedowns(db, state=state, country=country, report_id=report_id, limit=limit, offset=offset)
    return TakedownPage(total=total, items=items)


@api.get("/takedowns/summary", summary="Counts by state and median hours to removal by hosting country")
def api_takedown_summary(db: Db, user: Staff) -> TakedownSummaryOut:
    return TakedownSummaryOut.model_validate(td.summary(db))


@api.post("/takedowns/{takedown_id}/transition", response_model=td.TakedownOut, summary="Move a URL to a new state")
def api_transition(takedown_id: int, body: TransitionIn, db: Db, user: Staff) -> td.TakedownOut:
    if body.agency_id is not None and directory.get_agency(db, body.agency_id) is None:
        raise HTTPException(422, f"there is no agency {body.agency_id!r}")
    try:
        return td.transition(db, takedown_id, body.state, user, at=body.at, agency_id=body.agency_id, note=body.note)
    except td.TakedownError as e:
        code = 404 if "no takedown" in str(e) else 422
        raise HTTPException(code, str(e)) from None


router.include_router(api)


# ------------------------------------------------------------------------------------------ pages: agencies


def _now() -> datetime:
    return datetime.now(UTC)


def problem(request: Request, status: int, code: str, arg: object = "") -> HTMLResponse:
    """An error page whose message is chosen (and translated) in ``routing/_messages.html``."""
    ctx = {"status": status, "err": (code, str(arg))}
    return render(request, "routing/error.html", ctx, status_code=status, no_store=True)


def _lines(value: str) -> list[str]:
    return [x.strip() for x in value.replace(",", "\n").splitlines() if x.strip()]


def _agency_form_ctx(a: directory.AgencyIn | None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    if values is None:
        values = {
            "id": a.id if a else "",
            "name": a.name if a else "",
            "short_name": a.short_name if a else "",
            "kind": a.kind if a else "police",
            "countries": ", ".join(a.countries) if a else "",
            "categories": list(a.categories) if a else ["*"],
            "formats": list(a.formats) if a else [],
            "mandate": a.mandate if a else "",
            "web": (a.contact.get("web", "") if a else "") or "",
            "email": (a.contact.get("email", "") if a else "") or "",
            "phone": (a.contact.get("phone", "") if a else "") or "",
            "sources": "\n".join(a.sources) if a else "",
            "notes": a.notes if a else "",
            "active": a.active if a else True,
        }
    return {
        "values": values,
        "kinds": directory.KINDS,
        "formats": directory.FORMATS,
        "categories": [c.value for c in Category],
    }


@pages.get("/agencies", response_class=HTMLResponse)
def agencies_page(request: Request, db: Db, user: StaffUser, country: str = "") -> HTMLResponse:
    cc = country.upper() if is_country(country.upper()) else ""
    items = directory.list_agencies(db, country=cc or None)
    ctx = {
        "items": items,
        "country": cc,
        "can_edit": user.can(Role.ADMIN),
        "saved": request.query_params.get("saved", ""),
        "now": _now(),
    }
    return render(request, "routing/agencies.html", ctx, no_store=True)


@pages.get("/agencies/new", response_class=HTMLResponse)
def new_agency_page(request: Request, db: Db, user: AdminUser) -> HTMLResponse:
    ctx = {"create": True, "errors": {}, **_agency_form_ctx(None)}
    return render(request, "routing/agency_form.html", ctx, no_store=True)


@pages.get("/agencies/{agency_id}/edit", response_class=HTMLResponse)
def edit_agency_page(request: Request, agency_id: str, db: Db, user: AdminUser) -> HTMLResponse:
    a = directory.get_agency(db, agency_id)
    if a is None:
        return problem(request, 404, "no_agency", agency_id)
    ctx = {"create": False, "errors": {}, **_agency_form_ctx(a)}
    return render(request, "routing/agency_form.html", ctx, no_store=True)


def _contact_ok(key: str, value: str) -> bool:
    try:
        directory.AgencyIn(id="xx", name="x", contact={key: value})
    except ValidationError:
        return False
    return True


def _save_agency_form(request: Request, db: Database, user: Principal, create: bool, form: dict[str, Any]) -> Response:
    values = dict(form)
    data = {
        "id": form["id"].strip(),
        "name": form["name"],
        "short_name": form["short_name"],
        "kind": form["kind"],
        "countries": _lines(form["countries"]),
        "categories": form["categories"] or ["*"],
        "formats": form["formats"],
        "mandate": form["mandate"],
        "contact": {"web": form["web"], "email": form["email"], "phone": form["phone"]},
        "sources": [x.strip() for x in form["sources"].splitlines() if x.strip()],
        "notes": form["notes"],
        "active": bool(form["active"]),
    }
    errors: dict[str, tuple[str, str]] = {}
    try:
        agency = directory.AgencyIn(**data)
    except ValidationError as e:
        for err in e.errors():
            loc = [str(x) for x in err.get("loc", ())]
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            names = [loc[0] if loc else "name"]
            if names[0] == "contact":  # say which of the three fields is wrong
                names = [k for k, v in data["contact"].items() if not _contact_ok(k, v)] or ["web"]
            for name in names:
                errors.setdefault(name, ("not_accepted", msg))
        ctx = {"create": create, "errors": errors, **_agency_form_ctx(None, values)}
        return render(request, "routing/agency_form.html", ctx, status_code=422, no_store=True)
    try:
        directory.save_agency(db, agency, user, create=create)
    except directory.AgencyError:
        errors["id"] = ("agency_exists", "") if create else ("no_such_agency", "")
        ctx = {"create": create, "errors": errors, **_agency_form_ctx(None, values)}
        return render(request, "routing/agency_form.html", ctx, status_code=409, no_store=True)
    return RedirectResponse(f"/agencies?saved={agency.id}", status_code=303)


def _agency_form(
    id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    short_name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "police",
    countries: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    formats: Annotated[list[str] | None, Form()] = None,
    mandate: Annotated[str, Form()] = "",
    web: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    sources: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "short_name": short_name,
        "kind": kind,
        "countries": countries,
        "categories": categories or [],
        "formats": formats or [],
        "mandate": mandate,
        "web": web,
        "email": email,
        "phone": phone,
        "sources": sources,
        "notes": notes,
        "active": active,
    }


AgencyForm = Annotated[dict[str, Any], Depends(_agency_form)]


@pages.post("/agencies/new", response_class=HTMLResponse)
def add_agency(request: Request, db: Db, user: AdminUser, form: AgencyForm) -> Response:
    return _save_agency_form(request, db, user, True, form)


@pages.post("/agencies/{agency_id}/edit", response_class=HTMLResponse)
def edit_agency(request: Request, agency_id: str, db: Db, user: AdminUser, form: AgencyForm) -> Response:
    form["id"] = agency_id
    return _save_agency_form(request, db, user, False, form)


# ------------------------------------------------------------------------------------------ pages: referral


def panel_context(
    db: Database,
    *,
    report_id: int | None = None,
    case_id: int | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """What ``routing/report_panel.html`` shows: candidates with evidence, suggested and all agencies, the
    referral form, earlier referrals and the URLs' takedown states. ``NotFound`` if the subject is missing."""
    if case_id is not None:
        cands = ref.case_jurisdiction(db, case_id)
        category = None
        referrals = ref.list_referrals(db, case_id=case_id)
        takedowns: list[td.TakedownOut] = []
        action = f"/cases/{case_id}/refer"
    else:
        assert report_id is not None
        cands = ref.report_jurisdiction(db, report_id)
        category = ref.report_category(db, report_id)
        referrals = ref.list_referrals(db, report_id=report_id)
        takedowns = td.list_takedowns(db, report_id=report_id)[0]
        action = f"/reports/{report_id}/refer"
    agencies = directory.list_agencies(db, include_inactive=False)
    suggested = directory.suggest(agencies, cands, category)
    chosen = (values or {}).get("agency_id") or (suggested[0]["agency"].id if suggested else "")
    return {
        "subject_type": "case" if case_id is not None else "report",
        "subject_id": case_id if case_id is not None else report_id,
        "report_id": report_id,
        "candidates": cands,
        "suggested": suggested,
        "agencies": agencies,
        "formats": directory.FORMATS,
        "form": {"agency_id": chosen, "format": (values or {}).get("format", "package")},
        "errors": errors or {},
        "referrals": referrals,
        "takedowns": takedowns,
        "action": action,
    }


def _refer_page(
    request: Request,
    db: Database,
    *,
    report_id: int | None = None,
    case_id: int | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, tuple[str, str]] | None = None,
    template: str = "routing/refer.html",
) -> HTMLResponse:
    try:
        routing = panel_context(db, report_id=report_id, case_id=case_id, values=values, errors=errors)
    except NotFound:
        if case_id is not None:
            return problem(request, 404, "no_case", case_id)
        return problem(request, 404, "no_report", report_id)
    return render(request, template, {"routing": routing, "now": _now()}, status_code=status_code, no_store=True)


@pages.get("/reports/{report_id}/refer", response_class=HTMLResponse)
def refer_report_page(request: Request, report_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    return _refer_page(request, db, report_id=report_id)


@pages.get("/reports/{report_id}/routing-panel", response_class=HTMLResponse)
def routing_panel(request: Request, report_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    return _refer_page(request, db, report_id=report_id, template="routing/panel_fragment.html")


@pages.get("/cases/{case_id}/refer", response_class=HTMLResponse)
def refer_case_page(request: Request, case_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    return _refer_page(request, db, case_id=case_id)


def _post_referral(
    request: Request,
    db: Database,
    user: Principal,
    agency_id: str,
    fmt: str,
    *,
    report_id: int | None,
    case_id: int | None,
) -> Response:
    values = {"agency_id": agency_id, "format": fmt}
    errors: dict[str, tuple[str, str]] = {}
    if fmt not in directory.FORMATS:
        errors["format"] = ("choose_format", "")
    if not agency_id or directory.get_agency(db, agency_id) is None:
        errors["agency_id"] = ("choose_agency", "")
    if not errors:
        try:
            out, _pkg = ref.create_referral(
                db, agency_id=agency_id, fmt=fmt, actor=user, report_id=report_id, case_id=case_id
            )
        except NotFound:
            return (
                problem(request, 404, "no_case", case_id) if case_id else problem(request, 404, "no_report", report_id)
            )
        except ref.ReferralError as e:
            errors["form"] = ("referral_failed", str(e))
        else:
            return RedirectResponse(f"/referrals/{out.id}?created=1", status_code=303)
    return _refer_page(request, db, report_id=report_id, case_id=case_id, status_code=422, values=values, errors=errors)


@pages.post("/reports/{report_id}/refer", response_class=HTMLResponse)
def refer_report(
    request: Request,
    report_id: int,
    db: Db,
    user: StaffUser,
    agency_id: Annotated[str, Form()] = "",
    format: Annotated[str, Form()] = "package",
) -> Response:
    return _post_referral(request, db, user, agency_id, format, report_id=report_id, case_id=None)


@pages.post("/cases/{case_id}/refer", response_class=HTMLResponse)
def refer_case(
    request: Request,
    case_id: int,
    db: Db,
    user: StaffUser,
    agency_id: Annotated[str, Form()] = "",
    format: Annotated[str, Form()] = "package",
) -> Response:
    return _post_referral(request, db, user, agency_id, format, report_id=None, case_id=case_id)


@pages.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(request: Request, referral_id: int, db: Db, user: StaffUser, error: str = "") -> HTMLResponse:
    try:
        r = ref.get_referral(db, referral_id)
    except NotFound:
        return problem(request, 404, "no_referral", referral_id)
    flash = {k: request.query_params.get(k) == "1" for k in ("created", "acked", "delivered")}
    return _referral_view(request, r, flash, {}, {})


def _referral_view(
    request: Request,
    r: ref.ReferralOut,
    flash: dict[str, bool],
    errors: dict[str, tuple[str, str]],
    values: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    flags = {"created": False, "acked": False, "delivered": False, **flash}
    ctx = {"ref": r, **flags, "errors": errors, "values": values, "methods": dlv.METHODS, "now": _now()}
    return render(request, "routing/referral.html", ctx, status_code=status, no_store=True)


@pages.post("/referrals/{referral_id}/ack", response_class=HTMLResponse)
def referral_ack(
    request: Request,
    referral_id: int,
    db: Db,
    user: StaffUser,
    note: Annotated[str, Form()] = "",
    ack_from: Annotated[str, Form()] = "",
) -> Response:
    try:
        ref.acknowledge(db, referral_id, user, note=kit.clean_text(note), by_agency=kit.clean_text(ack_from))
    except NotFound:
        return problem(request, 404, "no_referral", referral_id)
    except ref.ReferralError as e:
        field = "ack_from" if "who acknowledged" in str(e) else "note"
        errors = {field: ("ack_from_too_long", "") if field == "ack_from" else ("note_too_long", "")}
        return _referral_view(request, ref.get_referral(db, referral_id), {}, errors, {}, 422)
    return RedirectResponse(f"/referrals/{referral_id}?acked=1", status_code=303)


@pages.post("/referrals/{referral_id}/deliveries", response_class=HTMLResponse)
def referral_delivery(
    request: Request,
    referral_id: int,
    db: Db,
    user: StaffUser,
    method: Annotated[str, Form()] = "",
    sent_at: Annotated[str, Form()] = "",
    sent_by: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
) -> Response:
    """The staff form: record that the referral was sent (``sent_at`` from a datetime-local field, UTC)."""
    values = {"method": method, "sent_at": sent_at, "sent_by": sent_by, "channel": channel, "reference": reference}
    errors: dict[str, tuple[str, str]] = {}
    try:
        when = datetime.fromisoformat(sent_at).replace(tzinfo=UTC) if sent_at.strip() else None
    except ValueError:
        when, errors["sent_at"] = None, ("bad_time", sent_at)
    data = None
    if not errors:
        fields = {k: kit.clean_text(v) for k, v in values.items() if k != "sent_at"}
        try:
            data = dlv.DeliveryIn(**fields, sent_at=when)
        except ValidationError as e:
            for err in e.errors():
                loc = [str(x) for x in err.get("loc", ())] or ["method"]
                code = "choose_method" if loc[0] == "method" else "too_long"
                errors.setdefault(loc[0], (code, ""))
    try:
        if data is not None:
            dlv.record_delivery(db, referral_id, user, data)
    except NotFound:
        return problem(request, 404, "no_referral", referral_id)
    except dlv.DeliveryError as e:
        errors["sent_at"] = ("delivery_future" if "future" in str(e) else "delivery_before", "")
    if errors:
        try:
            r = ref.get_referral(db, referral_id)
        except NotFound:
            return problem(request, 404, "no_referral", referral_id)
        return _referral_view(request, r, {}, errors, values, 422)
    return RedirectResponse(f"/referrals/{referral_id}?delivered=1#delivery", status_code=303)


# ------------------------------------------------------------------------------------------ pages: takedown

PAGE_SIZE = 100


@pages.get("/takedown", response_class=HTMLResponse)
def takedown_page(
    request: Request, db: Db, user: StaffUser, state: str = "", country: str = "", page: str = "1"
) -> HTMLResponse:
    st = state if state in td.STATES else ""
    cc = country.upper() if is_country(country.upper()) else ""
    page_no = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100_000 else 1
    items, total = td.list_takedowns(
        db, state=st or None, country=cc or None, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    ctx = {
        "items": items,
        "total": total,
        "page": page_no,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "filters": {"state": st, "country": cc},
        "states": td.STATES,
        "transitions": td.TRANSITIONS,
        "summary": td.summary(db),
        "agencies": directory.list_agencies(db, include_inactive=False),
        "moved": request.query_params.get("moved", ""),
        "error": request.query_params.get("error", ""),
        "now": _now(),
    }
    return render(request, "routing/takedown.html", ctx, no_store=True)


@pages.post("/takedown/{takedown_id}", response_class=HTMLResponse)
def takedown_move(
    request: Request,
    takedown_id: int,
    db: Db,
    user: StaffUser,
    state: Annotated[str, Form()] = "",
    agency_id: Annotated[str, Form()] = "",
) -> Response:
    agency = agency_id if agency_id and directory.get_agency(db, agency_id) is not None else None
    try:
        td.transition(db, takedown_id, state, user, agency_id=agency if state == "notice_sent" else None)
    except td.TakedownError:
        return RedirectResponse(f"/takedown?error={takedown_id}#t{takedown_id}", status_code=303)
    return RedirectResponse(f"/takedown?moved={takedown_id}#t{takedown_id}", status_code=303)


router.include_router(pages)

# part B's statistics dashboard (/stats, /api/v1/stats) lives in web_stats; it is served with routing
from tipline.routing import web_stats  # noqa: E402

router.include_router(web_stats.router)
