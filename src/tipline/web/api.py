"""The JSON API (``/api/v1``): platform doors (reports, panic button) and the staff queue."""

from __future__ import annotations

import time
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from tipline.accounts.service import Principal
from tipline.errors import Conflict, NotFound
from tipline.graph import service as graph_service
from tipline.graph.schemas import EntityGraphOut
from tipline.intake import service as intake
from tipline.intake.schemas import (
    AgeBand,
    Category,
    Classification,
    FileIn,
    FileOut,
    LiveIn,
    PlatformReportIn,
    QueueItemOut,
    ReportOut,
    Source,
    Status,
    SubmitOut,
)
from tipline.media import files
from tipline.reports import service as reports
from tipline.settings import Settings
from tipline.store import Database
from tipline.webkit import kit
from tipline.webkit.deps import app_db, bearer_platform, staff
from tipline.webkit.kit import JSONRoute

router = APIRouter(route_class=JSONRoute, prefix="/api/v1")


@router.post(
    "/reports",
    response_model=SubmitOut,
    status_code=201,
    tags=["platforms"],
    summary="File a report (platforms)",
    responses={200: {"model": SubmitOut, "description": "The same report_id was sent before: the first report"}},
)
async def post_report(
    body: PlatformReportIn,
    db: Annotated[Database, Depends(app_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> JSONResponse:
    """Store a report durably, then analyse it. Idempotent on ``report_id``: a repeat returns 200 and the
    first report's id."""
    # async: the request waits for its group commit on the event loop, not in a thread of its own
    res = await intake.submit_report_async(db, body.to_report(platform.id))
    out = SubmitOut(id=res.report_id, status=res.status, priority=res.priority, created=res.created)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if res.created else 200)


class LiveOut(BaseModel):
    id: int
    priority: int
    created: bool
    matches: list[dict[str, object]] = Field(
        default_factory=list,
        description="Frame hashes found in hash banks: bank, label, kind (of the bank entry: pdq, vpdq for a frame "
        "of a bank video, md5, sha1, sha256), distance (bits, 0 for exact), frame_offset_ms, frame_hash.",
    )
    elapsed_ms: float


@router.post("/live", response_model=LiveOut, status_code=201, tags=["platforms"], summary="Panic button")
async def post_live(
    body: LiveIn,
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> JSONResponse:
    """Open a top-priority report for a live stream at once and match its frame hashes against the hash banks
    (PDQ within ``pdq_threshold``, exact for md5/sha1/sha256; in memory). The report is stored before the
    answer; matches are recorded on it and raise its score (a live report stays P1). A second press for the
    same stream returns the same report and its matches."""
    from tipline.media.matching import live_matches

    t0 = time.perf_counter()
    # async like the report door: the press waits for its commit on the event loop, then matches in a thread
    res = await intake.submit_report_async(db, body.to_report(platform.id, platform.name))
    matches = await run_in_threadpool(
        live_matches,
        db,
        res.report_id,
        frames=body.frame_hashes,
        matcher=getattr(request.app.state, "matcher", None),
        platform_id=platform.id,
    )
    out = LiveOut(
        id=res.report_id,
        priority=res.priority,
        created=res.created,
        matches=matches,
        elapsed_ms=round((time.perf_counter() - t0) * 1000, 2),
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if res.created else 200)


@router.get(
    "/platform/reports/{report_id}",
    response_model=ReportOut,
    tags=["platforms"],
    summary="A report this platform filed",
)
def platform_report(
    report_id: int,
    db: Annotated[Database, Depends(app_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> ReportOut:
    try:
        return reports.get_report(db, report_id, platform_id=platform.id)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None


class QueueOut(BaseModel):
    total: int
    items: list[QueueItemOut]


@router.get("/queue", response_model=QueueOut, tags=["staff"], summary="The triage queue")
def get_queue(
    db: Annotated[Database, Depends(app_db)],
    user: Annotated[Principal, Depends(staff)],
    category: Category | None = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    source: Source | None = None,
    status: Status | None = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Full-text search")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> QueueOut:
    """Open reports (new, in review) by priority then age; ``status`` shows another state instead."""
    items, total = reports.queue(
        db,
        reports.QueueFilter(
            category=category.value if category else None,
            language=language,
            source=source.value if source else None,
            status=status.value if status else None,
            country=country,
            q=q,
            limit=limit,
            offset=offset,
        ),
    )
    return QueueOut(total=total, items=items)


@router.get("/reports/{report_id}", response_model=ReportOut, tags=["staff"], summary="A report with its reasons")
def get_report(
    report_id: int,
    db: Annotated[Database, Depends(app_db)],
    user: Annotated[Principal, Depends(staff)],
) -> ReportOut:
    try:
        return reports.get_report(db, report_id, viewer=user)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None


class ReportUpdate(BaseModel):
    model_config = {"extra": "forbid"}
    status: Status | None = None
    classification: Classification | None = None
    age_band: AgeBand | None = None
    note: str | None = Field(default=None, max_length=20_000)


@router.patch("/reports/{report_id}", response_model=ReportOut, tags=["staff"], summary="Assess a report")
def patch_report(
    report_id: int,
    body: ReportUpdate,
    db: Annotated[Database, Depends(app_db)],
    user: Annotated[Principal, Depends(staff)],
) -> ReportOut:
    try:
        reports.update_report(
            db,
            report_id,
            user,
            status=body.status,
            classification=body.classification,
            age_band=body.age_band,
            note=body.note,
        )
        return reports.get_report(db, report_id)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None


class EntityOutFull(BaseModel):
    kind: str
    value: str
    report_count: int
    reports: list[dict[str, object]]
    co_occurring: list[dict[str, object]]
    graph: EntityGraphOut = Field(description="The graph's facts about it: network, exclusion, countries")


@router.get(
    "/entities/{kind}/{value:path}",
    response_model=EntityOutFull,
    tags=["staff"],
    summary="Every report that names an identifier",
)
def get_entity(
    kind: str,
    value: str,
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    user: Annotated[Principal, Depends(staff)],
) -> EntityOutFull:
    try:
        v = reports.entity_view(db, kind, value, viewer=user)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    details = graph_service.entity_details(db, kind, value, mentions=0)
    return EntityOutFull(
        kind=v.kind,
        value=v.value,
        report_count=v.report_count,
        reports=v.reports,
        co_occurring=v.co_occurring,
        graph=EntityGraphOut.model_validate(details.as_dict()),
    )


# ------------------------------------------------------------------------------------------ files (media)

_FILE_FORM_SLACK = 64 * 1024  # multipart boundaries and part headers around the file
_FILE_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _file_route_limit(st: Settings) -> int:
    return st.max_upload_bytes + _FILE_FORM_SLACK


# the file route takes up to max_upload_bytes (the route checks the exact limit itself); every other
# route under /api/v1/reports keeps the default body limit (web.app hands this to security.BodyLimits)
BODY_LIMIT_PATTERNS = {r"/api/v1/reports/[^/]+/files": _file_route_limit}


@router.post(
    "/reports/{report_id}/files",
    response_model=FileOut,
    status_code=201,
    tags=["platforms"],
    summary="Add a file to one of this platform's reports (multipart: file)",
    openapi_extra=_FILE_FORM,
)
async def post_report_file(
    report_id: int,
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> JSONResponse:
    """Upload a file into a report this platform filed (JSON API or panic button): every hash is computed
    (MD5, SHA-1, SHA-256; PDQ for a picture; vPDQ for every frame of a video), the bytes are kept
    encrypted or dropped as this installation is set up, and the report is analysed again so the file is
    matched against the hash banks. Limit: ``max_upload_bytes``."""
    limit = request.app.state.settings.max_upload_bytes
    too_big = HTTPException(413, f"the file is larger than {limit:,} bytes, the most this installation accepts")
    try:
        form = await kit.read_form(
            request,
            limit + _FILE_FORM_SLACK,
            max_files=1,
            max_fields=5,
            max_part_size=_FILE_FORM_SLACK,
            urlencoded=False,
        )
    except kit.FormError as e:
        if e.status == 415:
            raise HTTPException(415, "send the file as multipart/form-data, in a part named 'file'") from None
        raise (too_big if e.status == 413 else HTTPException(e.status, e.message)) from None
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise HTTPException(422, "the form has no file part named 'file'")
        data = await part.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise too_big
    if not data:
        raise HTTPException(422, "the file is empty")
    name = PureWindowsPath(PurePosixPath(part.filename or "").name).name  # a client may send a full path
    clean = "".join(c for c in name if c.isprintable()).strip()[:512] or None
    file = FileIn(filename=clean, media_type=(part.content_type or "").strip()[:128] or None)
    try:
        file_id = await run_in_threadpool(lambda: files.add_file(db, report_id, file, data, platform_id=platform.id))
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except Conflict as e:
        raise HTTPException(409, str(e)) from None

    out = await run_in_threadpool(intake.file_out, db, file_id)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)
