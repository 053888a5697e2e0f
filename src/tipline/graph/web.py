"""Web routes of the entity graph: the JSON API (under /api/v1) and the staff pages.

API (staff bearer token or session): ``GET /api/v1/networks``, ``GET /api/v1/networks/{id}``,
``GET /api/v1/graph/entities/{kind}/{value}`` (the graph's view of an entity: excluded or not and why,
network, countries, mentions), ``GET /api/v1/graph/elements`` (Cytoscape.js elements), cases CRUD under
``/api/v1/cases``, the warning list under ``/api/v1/exclusions`` (changes: supervisors) and the degree
limits under ``/api/v1/graph/limits``.

Pages: ``/networks``, ``/networks/{id}``, ``/reports/{id}/network``, ``/graph`` (the graph view of a
report, entity, case or network), ``/graph/entities/{kind}/{value}`` (the entity page with the graph's
facts), ``/cases``, ``/cases/{id}``, ``/exclusions``. Forms post a CSRF token; user-visible messages
are chosen in the templates (``graph/_messages.html``) so that every string is translated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from tipline.accounts.service import Principal, Role
from tipline.errors import NotFound
from tipline.graph import cases, schemas, service, views
from tipline.graph.guard import GuardError
from tipline.i18n.templating import render
from tipline.reports import service as reports
from tipline.store import Database
from tipline.webkit import kit
from tipline.webkit.deps import app_db, require, staff
from tipline.webkit.kit import JSONRoute

router = APIRouter(route_class=JSONRoute)
api = APIRouter(route_class=JSONRoute, prefix="/api/v1", tags=["graph"])

MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL: a larger one is a 422, not a 500
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
Db = Annotated[Database, Depends(app_db)]
Staff = Annotated[Principal, Depends(staff)]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]


def _form_id(value: str) -> int | None:
    """A positive 32-bit id typed in a form field, or None."""
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    n = int(value)
    return n if 1 <= n <= MAX_ID else None


def _plain(*values: str | None) -> bool:
    """No NUL or other control characters (PostgreSQL refuses NUL; no identifier holds them)."""
    return all(v is None or kit.clean_text(v) == v for v in values)


def _404(e: Exception) -> HTTPException:
    return HTTPException(404, str(e))


# ------------------------------------------------------------------------------------------ API: networks


@api.get("/networks", summary="The largest networks (reports linked by shared identifiers)")
def api_networks(
    db: Db, user: Staff, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[schemas.NetworkSummaryOut]:
    return [schemas.NetworkSummaryOut.model_validate(n.as_dict()) for n in service.list_networks(db, limit=limit)]


@api.get("/networks/{network_id}", summary="One network: reports, entities, excluded values, countries, timeline")
def api_network(network_id: Id, db: Db, user: Staff) -> schemas.NetworkOut:
    try:
        return schemas.NetworkOut.model_validate(service.network_view(db, network_id, viewer=user).as_dict())
    except NotFound as e:
        raise _404(e) from None


@api.get("/graph/entities/{kind}/{value:path}", summary="The graph's facts about an identifier")
def api_entity(kind: str, value: str, db: Db, user: Staff) -> schemas.EntityGraphOut:
    if not _plain(kind, value):
        raise HTTPException(404, "no such identifier")
    try:
        return schemas.EntityGraphOut.model_validate(service.entity_details(db, kind, value, viewer=user).as_dict())
    except NotFound as e:
        raise _404(e) from None


@api.get(
    "/graph/elements",
    response_model=schemas.ElementsOut,
    summary="Cytoscape.js elements around a report, entity, case, network or node",
)
def api_elements(
    db: Db,
    user: Staff,
    report: QueryId = None,
    entity_kind: str | None = None,
    entity_value: str | None = None,
    case: QueryId = None,
    network: QueryId = None,
    node: Annotated[str | None, Query(max_length=11, pattern="^[re][0-9]{1,10}$")] = None,
) -> JSONResponse:
    if bool(entity_kind) != bool(entity_value):
        raise HTTPException(422, "give both entity_kind and entity_value (an identifier is a kind and a value)")
    if not any((report, entity_kind, case, network, node)):
        raise HTTPException(422, "say what to show: report, entity_kind and entity_value, case, network or node")
    if not _plain(entity_kind, entity_value):
        raise HTTPException(404, "no such identifier")
    try:
        data = service.graph_elements(
            db,
            report_id=report,
            entity=(entity_kind, entity_value) if entity_kind and entity_value else None,
            case_id=case,
            network_id=network,
            node=node,
            viewer=user,
        )
    except NotFound as e:
        raise _404(e) from None
    out = schemas.ElementsOut.model_validate(data)
    return JSONResponse(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@api.get("/graph/limits", summary="Degree limits per kind of identifier (how they were derived)")
def api_limits(db: Db, user: Staff) -> list[schemas.LimitOut]:
    return [schemas.LimitOut.model_validate(views._jsonable(x)) for x in service.limits(db)]


class LimitIn(BaseModel):
    limit: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Pin the limit; null gives it back to the rule."
    )


@api.put("/graph/limits/{kind}", summary="Pin a kind's degree limit (supervisors)")
def api_set_limit(kind: str, body: LimitIn, db: Db, user: Supervisor) -> schemas.LimitSetOut:
    from tipline.intake.schemas import ENTITY_KINDS

    if kind not in ENTITY_KINDS:
        raise HTTPException(422, f"unknown kind {kind[:40]!r}; use one of: {', '.join(ENTITY_KINDS)}")
    try:
        service.set_manual_limit(db, kind, body.limit, user)
    except (GuardError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    return schemas.LimitSetOut(kind=kind, limit=body.limit)


# ------------------------------------------------------------------------------------------ API: warning list


class ExclusionIn(BaseModel):
    kind: str = Field(max_length=32)
    value: str | None = Field(default=None, max_length=512)
    pattern: str | None = Field(default=None, max_length=300)
    reason: str = Field(min_length=1, max_length=2000)


@api.get("/exclusions", summary="The warning list: values that never link reports")
def api_exclusions(db: Db, user: Staff) -> list[schemas.ExclusionOut]:
    return [schemas.ExclusionOut.model_validate(views._jsonable(x)) for x in service.list_exclusions(db)]


@api.post("/exclusions", status_code=201, summary="Add a warning-list entry (supervisors)")
def api_add_exclusion(body: ExclusionIn, db: Db, user: Supervisor) -> schemas.CreatedOut:
    try:
        eid = service.add_exclusion(
            db, body.kind, value=body.value, pattern=body.pattern, reason=body.reason, actor=user
        )
    except (GuardError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    return schemas.CreatedOut(id=eid)


@api.delete("/exclusions/{exclusion_id}", status_code=204, summary="Remove a warning-list entry (supervisors)")
def api_remove_exclusion(exclusion_id: Id, db: Db, user: Supervisor) -> Response:
    try:
        service.remove_exclusion(db, exclusion_id, user)
    except NotFound as e:
        raise _404(e) from None
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------ API: cases


class CaseIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    report_ids: list[BodyId] = Field(default_factory=list, max_length=10_000)
    network_id: BodyId | None = None
    tlp: cases.TLP = cases.TLP.AMBER
    description: str = Field(default="", max_length=20_000)
    assignee: str | None = Field(default=None, max_length=128)


class CasePatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    status: cases.CaseStatus | None = None
    tlp: cases.TLP | None = None
    assignee: str | None = Field(default=None, max_length=128, description='A user name; "" unassigns.')
    description: str | None = Field(default=None, max_length=20_000)


class ReportsIn(BaseModel):
    report_ids: list[BodyId] = Field(min_length=1, max_length=10_000)


class EvidenceIdsIn(BaseModel):
    evidence_ids: list[BodyId] = Field(min_length=1, max_length=10_000)


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=20_000)


def _case_errors(fn: Any) -> Any:
    try:
        return fn()
    except NotFound as e:
        raise _404(e) from None
    except (cases.CaseError, ValueError) as e:
        raise HTTPException(422, str(e)) from None


@api.get("/cases", summary="Cases, most recently changed first")
def api_cases(
    db: Db,
    user: Staff,
    status: Annotated[str | None, Query(pattern="^(active|open|in_progress|closed)$")] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
) -> list[schemas.CaseSummaryOut]:
    if not _plain(assignee):
        return []
    items = cases.list_cases(db, status=status, assignee=assignee)
    return [schemas.CaseSummaryOut.model_validate(c.as_dict()) for c in items]


@api.post("/cases", status_code=201, summary="Create a case from a network and/or reports")
def api_create_case(body: CaseIn, db: Db, user: Staff) -> schemas.CreatedOut:
    if not body.report_ids and body.network_id is None:
        raise HTTPException(422, "give report_ids, a network_id, or both")
    cid = _case_errors(
        lambda: cases.create_case(
            db,
            user,
            title=body.title,
            report_ids=set(body.report_ids),
            network_id=body.network_id,
            tlp=body.tlp.value,
            description=body.description,
            assignee=body.assignee,
        )
    )
    return schemas.CreatedOut(id=cid)


@api.get("/cases/{case_id}", summary="A case: reports, networks, countries, categories, timeline, feed, notes")
def api_case(case_id: Id, db: Db, user: Staff) -> schemas.CaseOut:
    view = _case_errors(lambda: cases.get_case(db, case_id, viewer=user))
    return schemas.CaseOut.model_validate(view.as_dict())


@api.patch("/cases/{case_id}", summary="Change a case's title, status, TLP, assignee or description")
def api_patch_case(case_id: Id, body: CasePatch, db: Db, user: Staff) -> schemas.CaseChangesOut:
    changes = _case_errors(
        lambda: cases.update_case(
            db,
            case_id,
            user,
            title=body.title,
            status=body.status.value if body.status else None,
            tlp=body.tlp.value if body.tlp else None,
            assignee=body.assignee or None,
            unassign=body.assignee == "",
            description=body.description,
        )
    )
    return schemas.CaseChangesOut(changes=changes)


@api.delete("/cases/{case_id}", status_code=204, summary="Delete a case (supervisors)")
def api_delete_case(case_id: Id, db: Db, user: Supervisor) -> Response:
    _case_errors(lambda: cases.delete_case(db, case_id, user))
    return Response(status_code=204)


@api.post("/cases/{case_id}/reports", summary="Add reports to a case")
def api_case_add(case_id: Id, body: ReportsIn, db: Db, user: Staff) -> schemas.AddedOut:
    return schemas.AddedOut(added=_case_errors(lambda: cases.add_reports(db, case_id, set(body.report_ids), user)))


@api.post("/cases/{case_id}/evidence", summary="Add evidence items (ads, payments, partners' records) to a case")
def api_case_add_evidence(case_id: Id, body: EvidenceIdsIn, db: Db, user: Staff) -> schemas.AddedOut:
    return schemas.AddedOut(added=_case_errors(lambda: cases.add_evidence(db, case_id, set(body.evidence_ids), user)))


@api.get("/evidence/{evidence_id}/network", summary="The network an evidence item is in (null: none yet)")
def api_evidence_network(evidence_id: Id, db: Db, user: Staff) -> schemas.EvidenceNetworkOut:
    return schemas.EvidenceNetworkOut(network_id=service.network_id_of_evidence(db, evidence_id))


@api.delete("/cases/{case_id}/reports/{report_id}", status_code=204, summary="Take a report out of a case")
def api_case_remove(case_id: Id, report_id: Id, db: Db, user: Staff) -> Response:
    _case_errors(lambda: cases.remove_report(db, case_id, report_id, user))
    return Response(status_code=204)


@api.post("/cases/{case_id}/notes", status_code=201, summary="Add a note to a case")
def api_case_note(case_id: Id, body: NoteIn, db: Db, user: Staff) -> schemas.CreatedOut:
    return schemas.CreatedOut(id=_case_errors(lambda: cases.add_note(db, case_id, user, body.body)))


router.include_router(api)


# ------------------------------------------------------------------------------------------ pages


StaffUser = Annotated[Principal, Depends(kit.page_user)]
SupervisorUser = Annotated[Principal, Depends(kit.require_page_role(Role.SUPERVISOR))]


# the staff pages (the page kit's access rules, the app's CSRF guard and layout)
pages = APIRouter(route_class=kit.PageRoute, include_in_schema=False)


def _problem(request: Request, status: int, what: str, **kw: Any) -> HTMLResponse:
    return render(
        request, "graph/error.html", {"status": status, "what": what, **kw}, status_code=status, no_store=True
    )


def _now() -> datetime:
    return datetime.now(UTC)


@pages.get("/networks", response_class=HTMLResponse)
def networks_page(request: Request, db: Db, user: StaffUser) -> HTMLResponse:
    items = service.list_networks(db, limit=100)
    return render(request, "graph/networks.html", {"items": items, "now": _now()}, no_store=True)


@pages.get("/networks/{network_id}", response_class=HTMLResponse)
def network_page(request: Request, network_id: Id, db: Db, user: StaffUser) -> HTMLResponse:
    try:
        view = service.network_view(db, network_id, viewer=user)
    except NotFound:
        return _problem(request, 404, "no_network", id=network_id)
    return render(request, "graph/network.html", {"n": view, "now": _now()}, no_store=True)


@pages.get("/reports/{report_id}/network")
def report_network(request: Request, report_id: Id, db: Db, user: StaffUser) -> Response:
    nid = service.network_id_of_report(db, report_id)
    if nid is None:
        return _problem(request, 404, "no_report_network", id=report_id)
    return RedirectResponse(f"/networks/{nid}", status_code=303)


@pages.get("/graph", response_class=HTMLResponse)
def graph_page(
    request: Request,
    db: Db,
    user: StaffUser,
    report: QueryId = None,
    entity_kind: str | None = None,
    entity_value: str | None = None,
    case: QueryId = None,
    network: QueryId = None,
) -> HTMLResponse:
    params: dict[str, Any] = {}
    network_id: int | None = None
    subject: dict[str, Any] = {}
    timeline: list[dict[str, Any]] = []
    try:
        if report is not None:
            params = {"report": report}
            network_id = service.network_id_of_report(db, report)
            subject = {"type": "report", "id": report}
            if network_id is None:
                reports.get_report(db, report)  # 404 when it does not exist
        elif entity_kind and entity_value:
            if not _plain(entity_kind, entity_value):
                raise NotFound(entity_kind)
            params = {"entity_kind": entity_kind, "entity_value": entity_value}
            d = service.entity_details(db, entity_kind, entity_value)
            network_id = d.network_id
            subject = {"type": "entity", "kind": d.kind, "value": d.value, "excluded": d.excluded}
        elif case is not None:
            params = {"case": case}
            cv = cases.get_case(db, case)
            subject = {"type": "case", "id": case, "title": cv.title}
            timeline = cv.activity
            network_id = cv.networks[0] if len(cv.networks) == 1 else None
        elif network is not None:
            params = {"network": network}
            network_id = network
            subject = {"type": "network", "id": network}
        else:
            return _problem(request, 404, "no_subject")
        nv = service.network_view(db, network_id) if network_id is not None else None
    except NotFound:
        return _problem(request, 404, "no_subject")
    if nv is not None and not timeline:
        timeline = nv.timeline
    ctx = {
        "subject": subject,
        "src": "/api/v1/graph/elements?" + urlencode(params),
        "network": nv,
        "network_src": f"/api/v1/graph/elements?network={network_id}" if network_id is not None else None,
        "timeline": timeline,
        "tlps": [t.value for t in cases.TLP],
        "now": _now(),
    }
    return render(request, "graph/view.html", ctx, no_store=True)


@pages.get("/graph/entities/{kind}/{value:path}", response_class=HTMLResponse)
def entity_page(request: Request, kind: str, value: str, db: Db, user: StaffUser) -> HTMLResponse:
    try:
        if not _plain(kind, value):
            raise NotFound(kind)
        view = reports.entity_view(db, kind, value, viewer=user)
        graph = service.entity_details(db, kind, value)
    except NotFound:
        return _problem(request, 404, "no_entity")
    return render(request, "graph/entity.html", {"e": view, "graph": graph, "now": _now()}, no_store=True)


# ------------------------------------------------------------------------------------------ pages: cases


@pages.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, db: Db, user: StaffUser, status: str = "active") -> HTMLResponse:
    status = status if status in ("active", "open", "in_progress", "closed", "all") else "active"
    items = cases.list_cases(db, status=None if status == "all" else status)
    ctx = {"items": items, "status": status, "statuses": [s.value for s in cases.CaseStatus], "now": _now()}
    return render(request, "graph/cases.html", ctx, no_store=True)


@pages.post("/cases")
def create_case_page(
    request: Request,
    db: Db,
    user: StaffUser,
    title: Annotated[str, Form()] = "",
    network_id: Annotated[str, Form()] = "",
    report_id: Annotated[str, Form()] = "",
    tlp: Annotated[str, Form()] = cases.TLP.AMBER.value,
    again: Annotated[str, Form()] = "",
) -> Response:
    nid = _form_id(network_id)
    rids = {r} if (r := _form_id(report_id)) is not None else set()
    if nid is None and rids:
        nid = service.network_id_of_report(db, next(iter(rids)))
    if nid is None and not rids:
        return _problem(request, 422, "case_needs_reports")
    existing = cases.open_cases_of_network(db, nid) if nid is not None and again != "yes" else []
    if existing:  # the same network again: say so, link the case, and make another only if asked
        ctx = {"existing": existing, "network_id": nid, "report_id": _form_id(report_id), "title": title, "tlp": tlp}
        return render(request, "graph/case_exists.html", ctx, status_code=409, no_store=True)
    title = kit.clean_text(title).strip()
    if not title:
        title = f"Network {nid}" if nid is not None else f"Report {next(iter(rids))}"
    try:
        cid = cases.create_case(
            db,
            user,
            title=title[:200],
            report_ids=rids,
            network_id=nid,
            tlp=tlp if tlp in {t.value for t in cases.TLP} else cases.TLP.AMBER.value,
        )
    except NotFound:
        return _problem(request, 404, "no_subject")
    return RedirectResponse(f"/cases/{cid}?created=1", status_code=303)


@pages.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: Id, db: Db, user: StaffUser) -> HTMLResponse:
    try:
        view = cases.get_case(db, case_id, viewer=user)
    except NotFound:
        return _problem(request, 404, "no_case", id=case_id)
    from tipline.accounts import service as accounts

    users = [u.name for u in accounts.list_users(db) if getattr(u, "active", True)]
    ctx = {
        "c": view,
        "users": users,
        "statuses": [s.value for s in cases.CaseStatus],
        "tlps": [t.value for t in cases.TLP],
        "flash": next(
            (k for k in ("created", "saved", "added", "removed", "noted") if request.query_params.get(k)), None
        ),
        "error": request.query_params.get("error"),
        "now": _now(),
    }
    return render(request, "graph/case.html", ctx, no_store=True)


@pages.post("/cases/{case_id}/update")
def case_update_page(
    request: Request,
    case_id: Id,
    db: Db,
    user: StaffUser,
    title: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    tlp: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
) -> Response:
    try:
        cases.update_case(
            db,
            case_id,
            user,
            title=kit.clean_text(title).strip() or None,
            status=status if status in {s.value for s in cases.CaseStatus} else None,
            tlp=tlp if tlp in {t.value for t in cases.TLP} else None,
            assignee=assignee or None,
            unassign=not assignee,
        )
    except NotFound:
        return _problem(request, 404, "no_case", id=case_id)
    except cases.CaseError:
        return RedirectResponse(f"/cases/{case_id}?error=update", status_code=303)
    return RedirectResponse(f"/cases/{case_id}?saved=1", status_code=303)


@pages.post("/cases/{case_id}/reports")
def case_add_page(
    request: Request,
    case_id: Id,
    db: Db,
    user: StaffUser,
    report_ids: Annotated[str, Form()] = "",
) -> Response:
    ids = {i for x in report_ids.replace(",", " ").split() if (i := _form_id(x)) is not None}
    if not ids:
        return RedirectResponse(f"/cases/{case_id}?error=reports", status_code=303)
    try:
        cases.add_reports(db, case_id, ids, user)
    except NotFound:
        return RedirectResponse(f"/cases/{case_id}?error=reports", status_code=303)
    return RedirectResponse(f"/cases/{case_id}?added=1", status_code=303)


@pages.post("/cases/{case_id}/reports/{report_id}/remove")
def case_remove_page(request: Request, case_id: Id, report_id: Id, db: Db, user: StaffUser) -> Response:
    try:
        cases.remove_report(db, case_id, report_id, user)
    except NotFound:
        return _problem(request, 404, "no_case", id=case_id)
    return RedirectResponse(f"/cases/{case_id}?removed=1", status_code=303)


@pages.post("/cases/{case_id}/notes")
def case_note_page(
    request: Request,
    case_id: Id,
    db: Db,
    user: StaffUser,
    body: Annotated[str, Form()] = "",
) -> Response:
    try:
        cases.add_note(db, case_id, user, kit.clean_text(body))
    except NotFound:
        return _problem(request, 404, "no_case", id=case_id)
    except cases.CaseError:
        return RedirectResponse(f"/cases/{case_id}?error=note#notes", status_code=303)
    return RedirectResponse(f"/cases/{case_id}?noted=1#notes", status_code=303)


# ------------------------------------------------------------------------------------------ pages: warning list


@pages.get("/exclusions", response_class=HTMLResponse)
def exclusions_page(request: Request, db: Db, user: StaffUser) -> HTMLResponse:
    ctx = {
        "items": service.list_exclusions(db),
        "limits": service.limits(db),
        "can_edit": user.can(Role.SUPERVISOR),
        "error": request.query_params.get("error"),
        "flash": request.query_params.get("done"),
        "now": _now(),
    }
    return render(request, "graph/exclusions.html", ctx, no_store=True)


@pages.post("/exclusions")
def add_exclusion_page(
    request: Request,
    db: Db,
    user: SupervisorUser,
    kind: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    pattern: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.add_exclusion(
            db,
            kit.clean_text(kind),
            value=kit.clean_text(value).strip() or None,
            pattern=pattern.strip() or None,
            reason=kit.clean_text(reason),
            actor=user,
        )
    except GuardError as e:
        return RedirectResponse("/exclusions?" + urlencode({"error": str(e)}), status_code=303)
    return RedirectResponse("/exclusions?done=added", status_code=303)


@pages.post("/exclusions/{exclusion_id}/remove")
def remove_exclusion_page(request: Request, exclusion_id: Id, db: Db, user: SupervisorUser) -> Response:
    try:
        service.remove_exclusion(db, exclusion_id, user)
    except NotFound:
        return _problem(request, 404, "no_exclusion")
    return RedirectResponse("/exclusions?done=removed", status_code=303)


router.include_router(pages)
