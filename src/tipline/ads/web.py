"""Web routes of the ads capability.

API: ``POST /api/v1/ads`` (a platform's bearer API key: partners' crawlers) stores up to 1,000 ads in one
call and answers which were added, updated or refused (with their index and why); ``GET /api/v1/ads``
(staff) searches them; ``GET /api/v1/ads/clusters`` and ``GET /api/v1/ads/clusters/{id}`` (staff) read the
stored template clusters.

Pages (staff): ``/ads`` (search by text, identifier, site, city, dates), ``/ads/clusters`` (the largest
clusters), ``/ads/clusters/{id}`` (the template with its slots, member ads, the timeline of cities, linked
reports and networks, a button that opens a case), and a panel on the report page listing the ads that
share the report's identifiers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from tipline.accounts.service import Principal
from tipline.ads import service
from tipline.ads.movement import Sighting, chart, timeline
from tipline.ads.parse import AdIn, BadLine, _why
from tipline.errors import NotFound
from tipline.i18n.templating import render
from tipline.store import Database
from tipline.webkit import kit
from tipline.webkit.deps import app_db, bearer_platform, staff
from tipline.webkit.kit import JSONRoute

MAX_ID = 2**31 - 1
MAX_ADS_PER_CALL = 1000
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Db = Annotated[Database, Depends(app_db)]
Staff = Annotated[Principal, Depends(staff)]
Platform = Annotated[Principal, Depends(bearer_platform)]

router = APIRouter(route_class=JSONRoute)
api = APIRouter(route_class=JSONRoute, prefix="/api/v1", tags=["ads"])


class AdsIn(BaseModel):
    ads: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_ADS_PER_CALL, description="Ads, as in the import file."
    )


class AdRefusedOut(BaseModel):
    index: int
    error: str


class AdsImportOut(BaseModel):
    added: int
    updated: int
    refused: list[AdRefusedOut]
    clusters_changed: int


@api.post("/ads", status_code=200, response_model=AdsImportOut, summary="Store ads (a partner's crawler)")
def api_add_ads(body: AdsIn, db: Db, who: Platform) -> AdsImportOut:
    """Each ad has the import file's fields (ad_id, posted_at, site, city, country, title, text, url,
    images). An ad that does not validate is refused with its index and why; the others are stored."""
    lines: list[tuple[int, AdIn | BadLine]] = []
    for i, raw in enumerate(body.ads):
        try:
            lines.append((i, AdIn.model_validate(raw)))
        except ValidationError as e:
            lines.append((i, BadLine(i, _why(e))))
    res = service.import_ads(db, lines, source=f"api:{who.name}", actor=who)
    return AdsImportOut(
        added=res.added,
        updated=res.updated,
        refused=[AdRefusedOut(index=b.line, error=b.error) for b in res.bad],
        clusters_changed=res.clusters_changed,
    )


class AdOut(BaseModel):
    id: int
    evidence_id: int
    site: str
    ad_id: str
    posted_at: datetime
    city: str
    country: str
    title: str
    cluster_id: int | None
    phones: list[str]


class SlotOut(BaseModel):
    slot: int
    values: dict[str, int]


class IndicatorOut(BaseModel):
    id: str
    grade: str = Field(description="validated | not_evidence | untested")
    label: str
    ads: int
    evidence: str
    source: str


class StopOut(BaseModel):
    city: str
    site: str
    country: str
    first: str
    last: str
    ads: int


class ClusterOut(BaseModel):
    id: int
    size: int
    ad_ids: list[str]
    keys: list[list[str]] = Field(description="[site, ad_id] of each member")
    template: str = Field(description="The shared text; slots written {1}, {2}, ...")
    slots: list[SlotOut]
    sites: list[str]
    cities: list[str]
    first_seen: str
    last_seen: str
    indicators: list[IndicatorOut]
    movement: list[StopOut]


class LinkedReportOut(BaseModel):
    report_id: int
    kind: str
    value: str
    network_id: int | None


class ClusterDetailOut(ClusterOut):
    ads: list[AdOut]
    networks: list[int]
    reports: list[LinkedReportOut]


def _ad_json(a: service.AdRow) -> AdOut:
    return AdOut(
        id=a.id,
        evidence_id=a.evidence_id,
        site=a.site,
        ad_id=a.ad_id,
        posted_at=a.posted_at,
        city=a.city,
        country=a.country,
        title=a.title,
        cluster_id=a.cluster_id,
        phones=a.phones,
    )


@api.get("/ads", response_model=list[AdOut], summary="Search ads by words, identifier, site, city and dates")
def api_search(
    db: Db,
    user: Staff,
    q: Annotated[str, Query(max_length=500)] = "",
    identifier: Annotated[str, Query(max_length=500)] = "",
    site: Annotated[str, Query(max_length=200)] = "",
    city: Annotated[str, Query(max_length=200)] = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AdOut]:
    if not all(kit.clean_text(v) == v for v in (q, identifier, site, city)):
        raise HTTPException(422, "control characters are not allowed in a search")
    rows = service.search_ads(
        db, text=q, identifier=identifier, site=site, city=city, since=since, until=until, limit=limit
    )
    return [_ad_json(a) for a in rows]


@api.get("/ads/clusters", response_model=list[ClusterOut], summary="Stored template clusters, largest first")
def api_clusters(db: Db, user: Staff, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ClusterOut]:
    return [ClusterOut.model_validate(c) for c in service.stored_clusters(db, limit=limit)]


@api.get(
    "/ads/clusters/{cluster_id}",
    response_model=ClusterDetailOut,
    summary="One template cluster with its ads, linked reports and networks",
)
def api_cluster(cluster_id: Id, db: Db, user: Staff) -> ClusterDetailOut:
    try:
        v = service.cluster_view(db, cluster_id)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    reports = [
        LinkedReportOut(report_id=r.report_id, kind=r.kind, value=r.value, network_id=r.network_id) for r in v.reports
    ]
    ads = [_ad_json(a) for a in v.ads]
    return ClusterDetailOut.model_validate(
        {**v.summary, "id": v.id, "ads": ads, "networks": v.networks, "reports": reports}
    )


router.include_router(api)

# ------------------------------------------------------------------------------------------ pages

StaffUser = Annotated[Principal, Depends(kit.page_user)]
pages = APIRouter(route_class=kit.PageRoute, include_in_schema=False)


def _date(value: str) -> datetime | None:
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


@pages.get("/ads", response_class=HTMLResponse)
def ads_page(
    request: Request,
    db: Db,
    user: StaffUser,
    q: Annotated[str, Query(max_length=500)] = "",
    identifier: Annotated[str, Query(max_length=500)] = "",
    site: Annotated[str, Query(max_length=200)] = "",
    city: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    q, identifier, site, city = (kit.clean_text(v) for v in (q, identifier, site, city))
    rows = service.search_ads(
        db, text=q, identifier=identifier, site=site, city=city, since=_date(since), until=_date(until)
    )
    clusters = service.stored_clusters(db, limit=20)
    movement = None
    if identifier.strip() and rows:  # where a phone or handle appeared over time
        stops = timeline(Sighting(a.posted_at, a.city, a.site, a.country) for a in rows)
        movement = {"chart": chart(stops), "stops": [x.to_dict() for x in stops]}
    ctx = {
        "movement": movement,
        "rows": rows,
        "clusters": clusters,
        "f": {"q": q, "identifier": identifier, "site": site, "city": city, "since": since, "until": until},
    }
    return render(request, "ads/ads.html", ctx, no_store=True)


@pages.get("/ads/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(request: Request, cluster_id: Id, db: Db, user: StaffUser) -> HTMLResponse:
    try:
        v = service.cluster_view(db, cluster_id)
    except NotFound:
        return render(request, "ads/missing.html", {"id": cluster_id}, status_code=404, no_store=True)
    return render(request, "ads/cluster.html", {"v": v, "s": v.summary}, no_store=True)


@pages.post("/ads/clusters/{cluster_id}/case")
def cluster_case(request: Request, cluster_id: Id, db: Db, user: StaffUser) -> Response:
    try:
        case_id = service.open_case(db, cluster_id, user)
    except NotFound:
        return render(request, "ads/missing.html", {"id": cluster_id}, status_code=404, no_store=True)
    return RedirectResponse(f"/cases/{case_id}?created=1", status_code=303)


router.include_router(pages)


def report_panel(db: Database, report_id: int) -> dict[str, Any]:
    """Context of the report page's ads panel: ads that share the report's identifiers."""
    return {"ads_sharing": service.ads_for_report(db, report_id)}
