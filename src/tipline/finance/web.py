"""Web routes of payment screening: the JSON API (under /api/v1) and the staff pages.

API (staff bearer token or session): ``GET /api/v1/finance/alerts`` (``?status=``),
``GET /api/v1/finance/alerts/{id}`` (evidence: every rule with value, threshold, source and SQL;
beneficiaries; reports that name the same identifiers).

Pages: ``/finance/alerts`` (the list, highest score first), ``/finance/alerts/{id}`` (every rule that
fired with its numbers and source, a chart of the sender's payments over time, beneficiaries and their
other senders, reports and networks that name the same identifiers; status and case forms),
``/reports/{id}/payment-alerts`` and ``/networks/{id}/payment-alerts`` (fragments on the report and network
pages), ``/cases/{id}/payment-alerts.csv`` (a case's alerts with their rule evidence, for an FIU).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from tipline.accounts.service import Principal
from tipline.errors import NotFound
from tipline.finance import service
from tipline.finance.store import FinanceStore
from tipline.i18n import gettext_for, negotiate
from tipline.i18n.templating import render
from tipline.settings import Settings
from tipline.store import Database
from tipline.webkit import kit
from tipline.webkit.deps import app_db, app_settings, staff
from tipline.webkit.kit import JSONRoute

router = APIRouter(route_class=JSONRoute)
api = APIRouter(route_class=JSONRoute, prefix="/api/v1", tags=["finance"])
pages = APIRouter(route_class=kit.PageRoute, include_in_schema=False)

Db = Annotated[Database, Depends(app_db)]
Conf = Annotated[Settings, Depends(app_settings)]
Staff = Annotated[Principal, Depends(staff)]
StaffUser = Annotated[Principal, Depends(kit.page_user)]


class AlertOut(BaseModel):
    id: int
    sender_id: str
    sender_name: str
    score: float
    rules_fired: list[str]
    status: str
    case_id: int | None
    updated_at: str


class LinkedReportOut(BaseModel):
    kind: str
    value: str | None = Field(description="The identifier; null for kind name (a keyed blind index is never shown)")
    role: str
    report_id: int
    network_id: int | None


class AlertDetailOut(AlertOut):
    evidence: dict[str, Any] = Field(description="Every rule that fired: value, threshold, source and SQL")
    reports: list[LinkedReportOut] = Field(description="Reports that name the same identifiers")


@api.get("/finance/alerts", summary="Payment-screening alerts, highest score first")
def api_alerts(db: Db, user: Staff, status: Annotated[str | None, Query(max_length=16)] = None) -> list[AlertOut]:
    if status and status not in service.STATUSES:
        raise HTTPException(422, f"unknown status {status!r}; statuses: {', '.join(service.STATUSES)}")
    rows = service.list_alerts(db, status, viewer=user)
    return [AlertOut.model_validate(r.__dict__ | {"updated_at": r.updated_at.isoformat()}) for r in rows]


@api.get("/finance/alerts/{alert_id}", summary="One alert with its rule evidence")
def api_alert(alert_id: int, db: Db, user: Staff) -> AlertDetailOut:
    try:
        return AlertDetailOut.model_validate(service.alert_json(service.get_alert(db, alert_id, viewer=user)))
    except NotFound as e:
        raise HTTPException(404, str(e)) from None


def chart(payments: list[dict[str, Any]], width: int = 720, height: int = 220) -> dict[str, Any]:
    """Points of the sender's payments for an inline SVG (amount over time, night payments marked).
    Hand-written: a few dozen coordinates need no chart library and no script under the page's CSP."""
    if not payments:
        return {"points": [], "width": width, "height": height}
    t0, t1 = payments[0]["epoch_s"], payments[-1]["epoch_s"]
    top = max(p["amount"] for p in payments) or 1.0
    pad = 30
    pts = []
    for p in payments:
        x = pad + (width - 2 * pad) * ((p["epoch_s"] - t0) / (t1 - t0) if t1 > t0 else 0.5)
        y = height - pad - (height - 2 * pad) * (p["amount"] / top)
        night = p["local_hour"] >= 22 or p["local_hour"] < 6
        pts.append(
            {
                "x": round(x, 1),
                "y": round(y, 1),
                "night": night,
                "title": f"{p['ts']} {p['amount']:.2f} {p['currency']} -> {p['beneficiary_id']} ({p['channel']})",
            }
        )
    return {
        "points": pts,
        "width": width,
        "height": height,
        "first": datetime.fromtimestamp(t0, UTC).date().isoformat(),
        "last": datetime.fromtimestamp(t1, UTC).date().isoformat(),
        "top": f"{top:,.2f} {payments[-1]['currency']}",
        "line": " ".join(f"{p['x']},{p['y']}" for p in pts),
    }


@pages.get("/finance/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, db: Db, user: StaffUser, status: str = "") -> HTMLResponse:
    items = service.list_alerts(db, status or None, viewer=user)
    ctx = {"items": items, "status": status, "statuses": service.STATUSES}
    return render(request, "finance/alerts.html", ctx, no_store=True)


@pages.get("/finance/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: int, db: Db, conf: Conf, user: StaffUser) -> HTMLResponse:
    try:
        view = service.get_alert(db, alert_id, viewer=user)
    except NotFound as e:
        return kit.error_page(request, 404, str(e))
    store = FinanceStore.in_data_dir(conf.data_dir)
    ctx = {
        "a": view,
        "ev": view.evidence,
        "fired": [r for r in view.evidence.get("rules", []) if r.get("fired")],
        "quiet": [r for r in view.evidence.get("rules", []) if not r.get("fired")],
        "chart": chart(service.payments_of(store, view.row.sender_id)),
        "statuses": service.STATUSES,
        "networks": sorted({r.network_id for r in view.reports if r.network_id is not None}),
    }
    return render(request, "finance/alert.html", ctx, no_store=True)


@pages.post("/finance/alerts/{alert_id}/status")
def alert_status(alert_id: int, db: Db, user: StaffUser, status: Annotated[str, Form()] = "") -> Response:
    try:
        service.set_status(db, alert_id, status, user)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return RedirectResponse(f"/finance/alerts/{alert_id}", status_code=303)


@pages.post("/finance/alerts/{alert_id}/case")
def alert_case(alert_id: int, db: Db, user: StaffUser, case_id: Annotated[int, Form()] = 0) -> Response:
    try:
        service.add_to_case(db, alert_id, case_id, user)
    except NotFound as e:
        raise HTTPException(404, f"{e}; give the number of an existing case (see /cases)") from None
    return RedirectResponse(f"/finance/alerts/{alert_id}", status_code=303)


@pages.get("/finance/leads", response_class=HTMLResponse)
def leads(request: Request, db: Db, user: StaffUser) -> HTMLResponse:
    return render(
        request, "finance/_leads.html", {"items": service.list_alerts(db, "new", limit=5, viewer=user)}, no_store=True
    )


def _linked(request: Request, items: Any, back_href: str, back_label: str) -> HTMLResponse:
    """The fragment htmx swaps into the panel; a whole page when the panel's link is followed without it."""
    if request.headers.get("HX-Request") == "true":
        return render(request, "finance/_linked.html", {"items": items}, no_store=True)
    ctx = {"items": items, "back_href": back_href, "back_label": back_label}
    return render(request, "finance/linked_page.html", ctx, no_store=True)


@pages.get("/reports/{report_id}/payment-alerts", response_class=HTMLResponse)
def report_alerts(request: Request, report_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    items = service.alerts_for_report(db, report_id, viewer=user)
    label = gettext_for(negotiate(request))("Report #%(id)s") % {"id": report_id}
    return _linked(request, items, f"/reports/{report_id}", label)


@pages.get("/networks/{network_id}/payment-alerts", response_class=HTMLResponse)
def network_alerts(request: Request, network_id: int, db: Db, user: StaffUser) -> HTMLResponse:
    items = service.alerts_for_network(db, network_id, viewer=user)
    label = gettext_for(negotiate(request))("Network %(id)s") % {"id": network_id}
    return _linked(request, items, f"/networks/{network_id}", label)


@pages.get("/cases/{case_id}/payment-alerts.csv")
def case_alerts_csv(case_id: int, db: Db, user: StaffUser) -> Response:
    """A case's alerts for an FIU: one line per fired rule (value, threshold, source), with the alert's
    sender, score and beneficiaries; the rule's SQL in the last column."""
    body = service.alerts_csv(service.alerts_of_case(db, case_id, viewer=user))
    headers = {
        "Content-Disposition": f'attachment; filename="case-{case_id}-payment-alerts.csv"',
        "Cache-Control": "no-store",
    }
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


router.include_router(api)
router.include_router(pages)
