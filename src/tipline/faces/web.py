"""Web routes of face search (JSON API; staff token or session; supervisors only; 403 while it is off).

- ``POST /api/v1/faces/enrol`` multipart ``gallery``, ``photo``, ``reason``, ``label``, ``provenance``,
  ``legal_basis`` -> the entry made;
- ``POST /api/v1/faces/search`` multipart ``photo``, ``reason`` -> matches (report, file, face, distance,
  band), best first; each result's picture opens blurred in the audited media viewer (``viewer_url``);
- ``POST /api/v1/faces/results/{face_id}/view`` JSON ``{"reason"}`` -> the result opened (audited);
- ``POST /api/v1/faces/export`` JSON ``{"reason"}`` -> every gallery entry's provenance, for oversight;
- ``GET /api/v1/faces/groups`` (staff) -> unknown persons (faces recurring across reports), and
  ``POST /api/v1/faces/groups/{id}/confirm`` or ``/dismiss`` JSON ``{"reason"}``: an analyst's decision,
  after which the group's reports are analysed again (confirmed: the graph links them).

Thin over :mod:`tipline.faces.service`, which checks the setting and the role and writes the audit events.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload

from tipline import strict_json
from tipline.accounts.service import Principal
from tipline.errors import NotFound
from tipline.faces import groups, service
from tipline.webkit import kit
from tipline.webkit.deps import get_db, staff
from tipline.webkit.kit import JSONRoute

router = APIRouter(route_class=JSONRoute, prefix="/api/v1/faces", tags=["faces"])
MULTIPART_SLACK = 64 * 1024


def _supervisor(action: str) -> Any:
    """Enrol, search, open a result, export: supervisors only, refused (and the refusal audited) before
    the photo is read."""

    def dep(request: Request, user: Annotated[Principal, Depends(staff)]) -> Principal:
        try:
            service.check_actor(get_db(request), user, action)
        except (service.FacesDisabled, service.FacesDenied) as err:
            raise HTTPException(403, str(err)) from None
        return user

    return Depends(dep)


class EnrolOut(BaseModel):
    entry_id: int
    gallery: str
    quality: int
    box: list[int]


class MatchOut(BaseModel):
    report_id: int
    attachment_id: int
    face_id: int
    distance: float
    band: str = Field(description="same person? very likely (<= 0.40), likely (<= 0.50), possible (<= threshold)")
    quality: int
    frame: int | None
    box: list[int]
    viewer_url: str


class SearchOut(BaseModel):
    query_box: list[int]
    query_quality: int
    threshold: float
    index: str
    matches: list[MatchOut]


class ProvenanceOut(BaseModel):
    entry_id: int
    gallery: str
    label: str
    provenance: str
    legal_basis: str
    reason: str
    enrolled_by: str
    enrolled_at: str
    expires_at: str
    photo_sha256: str
    quality: int


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _refusal(e: Exception) -> HTTPException:
    if isinstance(e, service.FacesDisabled | service.FacesDenied):
        return HTTPException(403, str(e))
    if isinstance(e, NotFound):
        return HTTPException(404, str(e))
    return HTTPException(422, str(e))


_ERRORS = (service.FacesDisabled, service.FacesDenied, service.FacesError, NotFound, ValueError)


async def _form(request: Request) -> tuple[dict[str, str], bytes]:
    db = get_db(request)
    if not db.settings.faces_enabled:
        raise _refusal(service.FacesDisabled())
    limit = db.settings.max_upload_bytes
    try:
        form = await kit.read_form(request, limit + MULTIPART_SLACK, max_files=1, max_fields=10, max_part_size=limit)
    except kit.FormError as e:
        raise HTTPException(e.status, e.message) from None
    try:
        upload = form.get("photo")
        if not isinstance(upload, StarletteUpload):
            raise HTTPException(422, "send the photo in a multipart field named 'photo'")
        data = await upload.read(limit + 1)
        fields = {k: str(v) for k, v in form.items() if not isinstance(v, StarletteUpload)}
    finally:
        await form.close()
    if len(data) > limit:
        raise HTTPException(413, f"the photo is larger than {limit} bytes (setting TIPLINE_MAX_UPLOAD_BYTES)")
    return fields, data


async def _reason(request: Request) -> str:
    try:
        return ReasonIn.model_validate(strict_json.loads(await request.body())).reason
    except (ValueError, RecursionError):  # not JSON, a key twice, or not the reason (ValidationError)
        raise HTTPException(422, 'send JSON {"reason": "why you do this"}: it goes in the audit log') from None


@router.post("/enrol", response_model=EnrolOut, summary="Enrol a reference face in a gallery (supervisors)")
async def post_enrol(request: Request, user: Annotated[Principal, _supervisor("enrol")]) -> EnrolOut:
    fields, photo = await _form(request)
    db = get_db(request)
    try:
        e = await run_in_threadpool(
            lambda: service.enrol(
                db,
                user,
                fields.get("gallery", ""),
                photo,
                reason=fields.get("reason", ""),
                label=fields.get("label", ""),
                provenance=fields.get("provenance", ""),
                legal_basis=fields.get("legal_basis", ""),
            )
        )
    except _ERRORS as err:
        raise _refusal(err) from None
    return EnrolOut(entry_id=e.entry_id, gallery=e.gallery, quality=e.quality, box=list(e.box))


def _match_out(m: Any) -> MatchOut:
    return MatchOut(
        report_id=m.report_id,
        attachment_id=m.attachment_id,
        face_id=m.face_id,
        distance=m.distance,
        band=m.band,
        quality=m.quality,
        frame=m.frame,
        box=list(m.box),
        viewer_url=f"/media/{m.attachment_id}",
    )


@router.post("/search", response_model=SearchOut, summary="Report media with faces near a photo's face")
async def post_search(request: Request, user: Annotated[Principal, _supervisor("search")]) -> SearchOut:
    fields, photo = await _form(request)
    db = get_db(request)
    try:
        res = await run_in_threadpool(lambda: service.search(db, user, photo, reason=fields.get("reason", "")))
    except _ERRORS as err:
        raise _refusal(err) from None
    return SearchOut(
        query_box=list(res.query_box),
        query_quality=res.query_quality,
        threshold=res.threshold,
        index=res.index,
        matches=[_match_out(m) for m in res.matches],
    )


@router.post("/results/{face_id}/view", response_model=MatchOut, summary="Open one search result (audited)")
async def post_view(request: Request, face_id: int, user: Annotated[Principal, _supervisor("view")]) -> MatchOut:
    reason = await _reason(request)
    db = get_db(request)
    try:
        m = await run_in_threadpool(lambda: service.view_result(db, user, face_id, reason=reason))
    except _ERRORS as err:
        raise _refusal(err) from None
    return _match_out(m)


@router.post("/export", response_model=list[ProvenanceOut], summary="Gallery provenance for oversight")
async def post_export(request: Request, user: Annotated[Principal, _supervisor("export")]) -> list[ProvenanceOut]:
    reason = await _reason(request)
    db = get_db(request)
    try:
        rows = await run_in_threadpool(lambda: service.export_provenance(db, user, reason=reason))
    except _ERRORS as err:
        raise _refusal(err) from None
    return [ProvenanceOut(**r) for r in rows]


class GroupOut(BaseModel):
    id: int
    status: str = Field(description="new (links nothing yet) | confirmed (links its reports) | dismissed")
    identifier: str
    reports: list[int]
    faces: int
    decided_by: str | None


class DecidedOut(BaseModel):
    id: int
    status: str
    reports_analysed: list[int]


@router.get("/groups", response_model=list[GroupOut], summary="Unknown persons: faces recurring across reports")
def get_groups(
    request: Request, user: Annotated[Principal, Depends(staff)], status: str | None = None
) -> list[GroupOut]:
    db = get_db(request)
    try:
        return [GroupOut.model_validate(g) for g in groups.list_groups(db, user, status=status)]
    except _ERRORS as err:
        raise _refusal(err) from None


@router.post("/groups/{group_id}/{decision}", response_model=DecidedOut, summary="Confirm or dismiss a group")
async def post_decide(
    request: Request, group_id: int, decision: str, user: Annotated[Principal, Depends(staff)]
) -> DecidedOut:
    if decision not in ("confirm", "dismiss"):
        raise HTTPException(404, "decide with /confirm or /dismiss")
    reason = await _reason(request)
    db = get_db(request)
    confirm = decision == "confirm"
    try:
        reports = await run_in_threadpool(lambda: groups.decide(db, user, group_id, confirm=confirm, reason=reason))
    except _ERRORS as err:
        raise _refusal(err) from None
    return DecidedOut(id=group_id, status="confirmed" if confirm else "dismissed", reports_analysed=reports)
