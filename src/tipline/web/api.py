"""The JSON API (``/api/v1``): platform doors (reports, panic button) and the staff queue."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tipline.accounts.service import Principal
from tipline.intake import service as intake
from tipline.intake.schemas import (
    AgeBand,
    Category,
    Classification,
    LiveIn,
    PlatformReportIn,
    QueueItemOut,
    ReportOut,
    Source,
    Status,
    SubmitOut,
)
from tipline.reports import service as reports
from tipline.store import Database
from tipline.web.deps import bearer_platform, get_db, staff

router = APIRouter(prefix="/api/v1")


@router.post(
    "/reports",
    response_model=SubmitOut,
    status_code=201,
    tags=["platforms"],
    summary="File a report (platforms)",
    responses={200: {"model": SubmitOut, "description": "The same report_id was sent before: the first report"}},
)
def post_report(
    body: PlatformReportIn,
    db: Annotated[Database, Depends(get_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> JSONResponse:
    """Store a report durably, then analyse it. Idempotent on ``report_id``: a repeat returns 200 and the
    first report's id."""
    res = intake.submit_report(db, body.to_report(platform.id))
    out = SubmitOut(id=res.report_id, status=res.status, priority=res.priority, created=res.created)  # type: ignore[arg-type]
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if res.created else 200)


class LiveOut(BaseModel):
    id: int
    priority: int
    created: bool
    matches: list[dict[str, object]] = Field(default_factory=list, description="Frame hashes found in hash banks.")
    elapsed_ms: float


@router.post("/live", response_model=LiveOut, status_code=201, tags=["platforms"], summary="Panic button")
def post_live(
    body: LiveIn,
    db: Annotated[Database, Depends(get_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> JSONResponse:
    """Open a top-priority report for a live stream at once. A second press for the same stream returns
    the same report."""
    t0 = time.perf_counter()
    res = intake.submit_report(db, body.to_report(platform.id, platform.name))
    out = LiveOut(
        id=res.report_id,
        priority=res.priority,
        created=res.created,
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
    db: Annotated[Database, Depends(get_db)],
    platform: Annotated[Principal, Depends(bearer_platform)],
) -> ReportOut:
    try:
        return reports.get_report(db, report_id, platform_id=platform.id)
    except intake.NotFound as e:
        raise HTTPException(404, str(e)) from None


class QueueOut(BaseModel):
    total: int
    items: list[QueueItemOut]


@router.get("/queue", response_model=QueueOut, tags=["staff"], summary="The triage queue")
def get_queue(
    db: Annotated[Database, Depends(get_db)],
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
    db: Annotated[Database, Depends(get_db)],
    user: Annotated[Principal, Depends(staff)],
) -> ReportOut:
    try:
        return reports.get_report(db, report_id, viewer=user)
    except intake.NotFound as e:
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
    db: Annotated[Database, Depends(get_db)],
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
    except intake.NotFound as e:
        raise HTTPException(404, str(e)) from None


class EntityOutFull(BaseModel):
    kind: str
    value: str
    report_count: int
    reports: list[dict[str, object]]
    co_occurring: list[dict[str, object]]


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
    db: Annotated[Database, Depends(get_db)],
    user: Annotated[Principal, Depends(staff)],
) -> EntityOutFull:
    try:
        v = reports.entity_view(db, kind, value, viewer=user)
    except intake.NotFound as e:
        raise HTTPException(404, str(e)) from None
    return EntityOutFull(
        kind=v.kind, value=v.value, report_count=v.report_count, reports=v.reports, co_occurring=v.co_occurring
    )
