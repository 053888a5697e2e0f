"""Web routes of the media capability: ``POST /api/v1/match``, the matches of a report, and the supervisors'
hash-bank pages (``/banks``).

- ``POST /api/v1/match`` (a staff token or a platform API key): JSON ``{"hashes": [{"kind", "hash"}]}`` or a
  multipart ``file`` (hashed here, never stored) -> the hashes and every match with bank, label, kind and
  distance. Platforms do not see bank entry ids.
- ``GET /api/v1/reports/{id}/matches`` (staff): the matches recorded on a report (audited like a report view).
- ``GET /api/v1/banks`` (supervisor): the banks with their provenance and counts.
- ``/banks`` pages (supervisor; CSRF on every form): list and create banks, import a CSV / JSON-lines file,
  enable, disable, export, delete. Lists larger than ``max_upload_bytes`` go through ``tipline banks import``.
- The report page shows a report's matches with ``media/report_matches.html`` (``hash_matches`` from
  :func:`tipline.media.matching.report_matches`, given by the media capability's report panel).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile as StarletteUpload

from tipline import strict_json
from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.errors import NotFound
from tipline.i18n.templating import render
from tipline.media import banks as bank_service
from tipline.media import retro, viewer
from tipline.media.banks import STANDARD_LABELS, BankError, BankImportError
from tipline.media.matching import (
    Matcher,
    Query,
    ignored,
    match_payload,
    matcher_for,
    platform_payload,
    queries_for_hashes,
    viewed_report_matches,
)
from tipline.store import Database
from tipline.webkit import kit
from tipline.webkit.deps import BearerDoc, SessionDoc, app_db, get_db, require, staff
from tipline.webkit.kit import JSONRoute, PageRoute, error_page, require_page_role

router = APIRouter(route_class=JSONRoute)
api = APIRouter(route_class=JSONRoute, prefix="/api/v1")
pages = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_QUERY_HASHES = 1000
MULTIPART_SLACK = 64 * 1024


# ------------------------------------------------------------------------------------------ API shapes


class HashQueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["md5", "sha1", "sha256", "pdq", "vpdq"]
    hash: str | None = Field(
        default=None,
        max_length=2_000_000,
        description="Hex; for vpdq: frames 'pdqhex:quality:seconds' separated by ';', or HMA's JSON list.",
    )
    frames: list[Any] | None = Field(
        default=None, max_length=100_000, description='vpdq only: [{"pdq": hex, "quality": 0-100, "ts": seconds}]'
    )
    quality: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="pdq only: the hash's quality (0-100); under the installation's threshold (50) it is not "
        "looked up, and 'ignored' says so.",
    )


class MatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hashes: list[HashQueryIn] = Field(min_length=1, max_length=MAX_QUERY_HASHES)


class MatchOut(BaseModel):
    hashes: list[dict[str, Any]] = Field(description="What was looked for (normalised), in order.")
    file: dict[str, Any] | None = Field(default=None, description="The uploaded file's hashes (file uploads only).")
    matches: list[dict[str, Any]] = Field(
        description="Each bank entry matched: bank, label, kind, distance, query (index into hashes), and for "
        "PDQ the dihedral variant that matched, for vPDQ the shares of matching frames. A platform sees only "
        "the banks whose terms let it match, each as the bank allows: {query, matched} (yes/no), {query, "
        "matched, category}, or the whole match (label)."
    )
    ignored: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Hashes not looked up, and why (a PDQ hash under the quality threshold: a flat picture).",
    )
    elapsed_ms: float


class ReportMatchesOut(BaseModel):
    report_id: int
    matches: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------ callers


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def staff_or_platform(request: Request, _bearer_doc: BearerDoc = None, _session_doc: SessionDoc = None) -> Principal:
    """A staff user (token or page session) or a platform (API key)."""
    db = get_db(request)
    token = _bearer(request)
    if token is not None:
        p = accounts.principal_for_token(db, token) or accounts.platform_for_api_key(db, token)
        if p is None:
            raise HTTPException(401, "unknown or revoked token or API key", headers={"WWW-Authenticate": "Bearer"})
    else:
        p = getattr(request.state, "user", None)
        if p is None:
            raise HTTPException(
                401,
                "send a staff token or a platform API key as 'Authorization: Bearer ...'",
                {"WWW-Authenticate": "Bearer"},
            )
    if p.kind == "user" and not p.can(Role.ANALYST):
        raise HTTPException(403, "this needs a staff role or a platform API key")
    return p


# ------------------------------------------------------------------------------------------ matching


def _queries_from_json(body: MatchIn) -> tuple[list[Query], list[dict[str, Any]]]:
    queries: list[Query] = []
    shown: list[dict[str, Any]] = []
    for i, h in enumerate(body.hashes):
        value: Any = h.frames if h.frames is not None else h.hash
        if value is None:
            raise HTTPException(422, f"hashes.{i}: give 'hash' (or 'frames' for vpdq)")
        try:
            e = bank_service.make_entry(h.kind, value, quality=h.quality)
        except BankError as ex:
            raise HTTPException(422, f"hashes.{i}: {ex}") from None
        if e.kind == "vpdq":
            queries.append(Query("vpdq", frames=e.frames, ref=i, origin="given"))
            shown.append({"kind": "vpdq", "frames": len(e.frames or [])})
        else:
            queries.append(Query(e.kind, e.hash, ref=i, origin="given", quality=e.quality))
            shown.append({"kind": e.kind, "hash": e.hash})
    return queries, shown


def file_queries(db: Database, data: bytes, filename: str | None) -> tuple[list[Query], dict[str, Any]]:
    """Hash an uploaded file (nothing is kept) -> queries and the hashes to show."""
    from tipline.media import hashing

    try:
        limits = hashing.MediaLimits.from_settings(db.settings)
        h = hashing.hash_bytes(data, filename=None, dihedral=db.settings.pdq_dihedral, limits=limits)
    except hashing.MediaError as e:  # a limit says which, and the setting that raises it
        raise HTTPException(422, f"the file could not be hashed: {e}") from None
    dihedral = h.pdq_dihedral if db.settings.pdq_dihedral else None
    info: dict[str, Any] = {
        "kind": h.kind,
        "media_type": h.media_type,
        "size": h.size,
        "md5": h.md5,
        "sha1": h.sha1,
        "sha256": h.sha256,
    }
    if h.pdq:
        info["pdq"] = h.pdq
        info["pdq_quality"] = h.pdq_quality
    if h.vpdq:
        info["vpdq_frames"] = len(h.vpdq)
    return queries_for_hashes(h, dihedral=dihedral, ref=0), info


_MATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": MatchIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@api.post(
    "/match",
    response_model=MatchOut,
    tags=["media"],
    summary="Match hashes or a file against the hash banks",
    openapi_extra=_MATCH_BODY,
)
async def post_match(request: Request, caller: Annotated[Principal, Depends(staff_or_platform)]) -> JSONResponse:
    """Look hashes (JSON) or a file (multipart, field ``file``; hashed here, not kept) up in every enabled bank.

    Exact kinds match on equality, PDQ within ``pdq_threshold`` bits (for a file, its 8 rotated and mirrored
    variants too), vPDQ by HMA's share-of-frames criterion.
    """
    db = get_db(request)
    t0 = time.perf_counter()
    ctype = request.headers.get("content-type", "")
    file_info = None
    if ctype.startswith("multipart/form-data"):
        limit = db.settings.max_upload_bytes
        try:
            form = await kit.read_form(
                request, limit + MULTIPART_SLACK, max_files=1, max_fields=10, max_part_size=limit
            )
        except kit.FormError as e:
            raise HTTPException(e.status, e.message) from None
        upload = form.get("file")
        if not isinstance(upload, StarletteUpload):
            raise HTTPException(422, "send the file in a multipart field named 'file'")
        data = await upload.read(db.settings.max_upload_bytes + 1)
        await form.close()
        if len(data) > db.settings.max_upload_bytes:
            raise HTTPException(413, f"the file is larger than {db.settings.max_upload_bytes} bytes")
        queries, file_info = await run_in_threadpool(file_queries, db, data, upload.filename)
        shown = [{"kind": q.kind, "hash": q.hash} if q.hash else {"kind": q.kind} for q in queries]
    else:
        try:
            body = MatchIn.model_validate(strict_json.loads(await request.body()))
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:5])
            raise HTTPException(422, f"invalid input: {problems}") from None
        except strict_json.READ_ERRORS as e:  # not JSON, a key twice, nested too deep
            raise HTTPException(
                422, f"invalid input: the body cannot be read: {strict_json.problem(e, lines=True)}"
            ) from None
        queries, shown = _queries_from_json(body)
    matcher = _matcher(request)
    matches = await run_in_threadpool(matcher.match, queries)
    out = MatchOut(
        hashes=shown,
        file=file_info,
        matches=match_payload(matches, staff_view=True)
        if caller.kind == "user"
        else await run_in_threadpool(platform_payload, db, matches, caller.id),
        ignored=ignored(queries, db.settings),
        elapsed_ms=round((time.perf_counter() - t0) * 1000, 2),
    )
    return JSONResponse(out.model_dump(mode="json"))


def _matcher(request: Request) -> Matcher:
    return matcher_for(get_db(request))  # the database keeps it (loaded at start by MEDIA.on_start)


@api.get(
    "/reports/{report_id}/matches",
    response_model=ReportMatchesOut,
    tags=["staff"],
    summary="The hash-bank matches recorded on a report",
)
def get_report_matches(
    report_id: int, db: Annotated[Database, Depends(app_db)], user: Annotated[Principal, Depends(staff)]
) -> ReportMatchesOut:
    try:
        rows = viewed_report_matches(db, report_id, user)
    except NotFound:
        raise HTTPException(404, f"no report {report_id}") from None
    for r in rows:
        r["matched_at"] = r["matched_at"].isoformat()
    return ReportMatchesOut(report_id=report_id, matches=rows)


class BankOut(BaseModel):
    id: int
    name: str
    source: str = Field(description="Where the list came from (provenance)")
    terms: str = Field(description="The terms it may be used under")
    description: str
    default_label: str
    enabled: bool
    revision: int
    counts: dict[str, int] = Field(description="Entries per hash kind")
    total: int
    created_at: str
    updated_at: str
    created_by: str | None


class BanksOut(BaseModel):
    banks: list[BankOut]


@api.get("/banks", tags=["staff"], summary="Hash banks (supervisors)")
def get_banks(
    db: Annotated[Database, Depends(app_db)], user: Annotated[Principal, Depends(require(Role.SUPERVISOR))]
) -> BanksOut:
    return BanksOut.model_validate({"banks": [b.as_dict() for b in bank_service.list_banks(db)]})


# ------------------------------------------------------------------------------------------ pages

Supervisor = Annotated[Principal, Depends(require_page_role(Role.SUPERVISOR))]
Db = Annotated[Database, Depends(app_db)]


def _missing(request: Request, bank_id: int | None = None) -> HTMLResponse:
    # messages live in the templates (babel.cfg extracts web/pages_*.py, not this module)
    return render(request, "media/banks_missing.html", {"bank_id": bank_id}, status_code=404, no_store=True)


def _bank_or_404(request: Request, db: Database, bank_id: int) -> bank_service.BankInfo | HTMLResponse:
    try:
        return bank_service.get_bank(db, bank_id)
    except BankError:
        return _missing(request, bank_id)


def _list_page(
    request: Request,
    db: Database,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "banks": bank_service.list_banks(db),
        "labels": STANDARD_LABELS,
        "values": values or {"default_label": STANDARD_LABELS[2]},
        "errors": errors or {},
        "deleted": request.query_params.get("deleted", "")[:128],
        "stats": _matcher(request).stats(),
    }
    return render(request, "media/banks_list.html", ctx, status_code=status_code, no_store=True)


def _detail_page(
    request: Request,
    db: Database,
    bank: bank_service.BankInfo,
    *,
    import_errors: list[tuple[int, str]] | None = None,
    import_error: str | None = None,
    import_detail: str | None = None,
    delete_error: str | None = None,
    terms_error: str | None = None,
    bad_lines: int = 0,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "bank": bank,
        "labels": STANDARD_LABELS,
        "import_errors": import_errors or [],
        "import_error": import_error,
        "import_detail": import_detail,
        "delete_error": delete_error,
        "bad_lines": bad_lines,
        "result": result,
        "created": request.query_params.get("created") == "1",
        "changed": request.query_params.get("changed") == "1",
        "max_upload": db.settings.max_upload_bytes,
        "retro_runs": retro.runs_of(db, bank.id),
        "quality_threshold": db.settings.pdq_quality_threshold,
        "platforms": accounts.platform_rows(db),
        "terms_error": terms_error,
    }
    return render(request, "media/banks_detail.html", ctx, status_code=status_code, no_store=True)


@pages.get("/banks", response_class=HTMLResponse)
def banks_page(request: Request, db: Db, user: Supervisor) -> HTMLResponse:
    return _list_page(request, db)


@pages.post("/banks", response_class=HTMLResponse)
def create_bank_page(
    request: Request,
    db: Db,
    user: Supervisor,
    name: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    terms: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    default_label: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "name": name,
        "source": source,
        "terms": terms,
        "description": description,
        "default_label": default_label,
    }
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "name_missing"  # codes: media/banks_list.html words them
    elif any(b.name == name.strip() for b in bank_service.list_banks(db)):
        errors["name"] = "name_taken"
    else:
        try:
            bank_service.clean_name(name)
        except BankError:
            errors["name"] = "name_invalid"
    try:
        bank_service.clean_label(default_label)
    except BankError:
        errors["default_label"] = "label_invalid"
    if len(source) > 256:
        errors["source"] = "too_long"
    if errors:
        return _list_page(request, db, values=values, errors=errors, status_code=422)
    try:
        info = bank_service.create_bank(
            db, name, source=source, terms=terms, description=description, default_label=default_label, by=user
        )
    except BankError:
        errors["name"] = "name_taken"
        return _list_page(request, db, values=values, errors=errors, status_code=422)
    return RedirectResponse(f"/banks/{info.id}?created=1", status_code=303)


@pages.get("/banks/{bank_id}", response_class=HTMLResponse)
def bank_page(request: Request, bank_id: int, db: Db, user: Supervisor) -> HTMLResponse:
    bank = _bank_or_404(request, db, bank_id)
    if isinstance(bank, HTMLResponse):
        return bank
    return _detail_page(request, db, bank)


@pages.post("/banks/{bank_id}/enabled", response_class=HTMLResponse)
def enable_page(
    request: Request,
    bank_id: int,
    db: Db,
    user: Supervisor,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    bank = _bank_or_404(request, db, bank_id)
    if isinstance(bank, HTMLResponse):
        return bank
    bank_service.set_enabled(db, bank_id, enabled == "1", by=user)
    retro.in_background(db)  # a re-enable matches the files stored meanwhile
    return RedirectResponse(f"/banks/{bank_id}?changed=1", status_code=303)


@pages.post("/banks/{bank_id}/terms", response_class=HTMLResponse)
async def terms_page(request: Request, bank_id: int, db: Db, user: Supervisor) -> Response:
    try:
        form = await kit.read_form(request, db.settings.max_body_bytes, max_files=0, max_fields=1000)
    except kit.FormError as e:
        return error_page(request, e.status, e.message)
    bank = await run_in_threadpool(_bank_or_404, request, db, bank_id)
    if isinstance(bank, HTMLResponse):
        return bank
    picked = [int(str(v)) for v in form.getlist("platform") if str(v).isdigit()]
    try:
        await run_in_threadpool(
            lambda: bank_service.set_visibility(
                db,
                bank_id,
                scope=str(form.get("scope") or bank.match_scope),
                platforms=picked,
                view=str(form.get("view") or bank.platform_view),
                terms=str(form.get("terms") or ""),
                by=user,
            )
        )
    except BankError as e:
        return _detail_page(request, db, bank, terms_error=str(e), status_code=422)
    return RedirectResponse(f"/banks/{bank_id}?changed=1#terms", status_code=303)


@pages.post("/banks/{bank_id}/import", response_class=HTMLResponse)
async def import_page(request: Request, bank_id: int, db: Db, user: Supervisor) -> Response:
    limit = db.settings.max_upload_bytes
    try:
        form = await kit.read_form(request, limit + MULTIPART_SLACK, max_files=1, max_fields=10, max_part_size=limit)
    except kit.FormError as e:
        return error_page(request, e.status, e.message)
    try:
        bank = await run_in_threadpool(_bank_or_404, request, db, bank_id)
        if isinstance(bank, HTMLResponse):
            return bank
        upload = form.get("file")
        label = str(form.get("label") or "").strip() or None
        if not isinstance(upload, StarletteUpload) or not upload.filename:
            return _detail_page(request, db, bank, import_error="no_file", status_code=422)
        fmt = str(form.get("format") or "") or None
        if fmt not in (None, "csv", "jsonl"):
            fmt = None
        try:
            result = await run_in_threadpool(
                bank_service.import_file,
                db,
                bank_id,
                upload.file,
                fmt=fmt,
                filename=upload.filename,
                label=label,
                by=user,
            )
        except BankImportError as e:
            return _detail_page(
                request,
                db,
                bank,
                import_errors=e.errors,
                bad_lines=e.total,
                import_error="bad_lines",
                status_code=422,
            )
        except BankError as e:
            return _detail_page(request, db, bank, import_error="other", import_detail=str(e), status_code=422)
        retro.in_background(db)  # the stored files against the new entries; the page shows its progress
        bank = await run_in_threadpool(bank_service.get_bank, db, bank_id)
        return _detail_page(request, db, bank, result=result.as_dict())
    finally:
        await form.close()


@pages.get("/banks/{bank_id}/export.{fmt}")
def export_page(request: Request, bank_id: int, fmt: str, db: Db, user: Supervisor) -> Response:
    if fmt not in ("csv", "jsonl"):
        return _missing(request)
    bank = _bank_or_404(request, db, bank_id)
    if isinstance(bank, HTMLResponse):
        return bank
    tmp = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by the stream below
    n = bank_service.export_bank(db, bank_id, tmp, fmt=fmt)
    accounts.audited(db, user, "bank.export", "bank", bank_id, name=bank.name, entries=n, format=fmt)
    tmp.seek(0)

    def stream() -> Iterator[bytes]:
        try:
            while chunk := tmp.read(1 << 16):
                yield chunk.encode("utf-8")
        finally:
            tmp.close()

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in bank.name)
    media_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(
        stream(),
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.{fmt}"', "Cache-Control": "no-store"},
    )


@pages.post("/banks/{bank_id}/delete", response_class=HTMLResponse)
def delete_page(
    request: Request,
    bank_id: int,
    db: Db,
    user: Supervisor,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    bank = _bank_or_404(request, db, bank_id)
    if isinstance(bank, HTMLResponse):
        return bank
    if confirm.strip() != bank.name:
        return _detail_page(request, db, bank, delete_error="confirm", status_code=422)
    bank_service.delete_bank(db, bank_id, by=user)
    return RedirectResponse("/banks?deleted=" + _quote(bank.name), status_code=303)


def _quote(v: str) -> str:
    from urllib.parse import quote

    return quote(v, safe="")


router.include_router(api)
router.include_router(pages)
router.include_router(viewer.router)  # the blurred viewer of a report's files (staff pages)
