"""The evidence API (staff bearer token or session): ``POST /api/v1/evidence`` stores or updates one item
(an ad, a payment, a partner's record) and links it; ``GET /api/v1/evidence/{id}`` shows it with the
entities it names. Adding an item to a case and its network are graph routes
(``POST /api/v1/cases/{id}/evidence``, ``GET /api/v1/evidence/{id}/network``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from tipline.accounts.service import Principal
from tipline.evidence import service
from tipline.evidence.service import EvidenceIn, EvidenceOut
from tipline.intake.service import NotFound
from tipline.store import Database
from tipline.webkit.deps import app_db, staff
from tipline.webkit.kit import JSONRoute

MAX_ID = 2**31 - 1
router = APIRouter(route_class=JSONRoute, prefix="/api/v1", tags=["evidence"])
Db = Annotated[Database, Depends(app_db)]
Staff = Annotated[Principal, Depends(staff)]


@router.post(
    "/evidence",
    status_code=201,
    response_model=EvidenceOut,
    summary="Store an evidence item and link it",
    responses={200: {"description": "The item with this source and external id was replaced", "model": EvidenceOut}},
)
def api_add(body: EvidenceIn, db: Db, user: Staff, response: Response) -> EvidenceOut:
    """201 for a new item; 200 when an item with the same ``source`` and ``external_id`` was stored before:
    it is replaced by this one (text, details, time and links)."""
    if service.item_id(db, body.source, body.external_id) is not None:
        response.status_code = 200
    return service.get_item(db, service.add_item(db, body, user))


@router.get("/evidence/{evidence_id}", response_model=EvidenceOut, summary="One evidence item and its entities")
def api_get(evidence_id: Annotated[int, Path(ge=1, le=MAX_ID)], db: Db, user: Staff) -> EvidenceOut:
    try:
        return service.get_item(db, evidence_id)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
