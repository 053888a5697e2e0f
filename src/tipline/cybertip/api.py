"""The CyberTipline ESP API (``/ispws``), so a platform that reports to NCMEC reports here by changing the base URL.

Flow, as NCMEC's: ``POST /submit`` (report XML) opens a report and answers its ``reportId``; ``POST /upload``
(multipart ``id`` + ``file``) adds files and answers ``fileId`` and the file's MD5 ``hash``; ``POST /fileinfo``
(``fileDetails`` XML) describes a file; ``POST /finish`` (form ``id``) closes the report, which is then
analysed and queued, and answers ``reportDoneResponse`` with the file ids; ``POST /retract`` (form ``id``)
cancels a report that is not finished. ``GET /status`` checks credentials, ``GET /xsd`` serves the schema.
Every call but ``/xsd`` needs HTTP Basic auth with the platform's CyberTipline username and password.

Every answer is XML: ``reportResponse`` (``responseCode``, ``responseDescription``, and ``reportId``,
``fileId``, ``hash`` where they apply), or ``reportDoneResponse`` for a successful finish. Codes are
NCMEC's (``tipline.cybertip.codes``); a refusal also has a 4xx status (5xx only for our own faults) and its
description says what is wrong and where.

A report's platform is the caller: another platform's report id is answered like an unknown one (5001),
so ids reveal nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import PurePosixPath, PureWindowsPath

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from lxml import etree
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from tipline.accounts.service import Principal
from tipline.cybertip.codes import HTTP_STATUS, Code, describe
from tipline.cybertip.parse import XSD_PATH, CybertipError, parse_file_details, parse_report
from tipline.intake import service as intake
from tipline.intake.schemas import FileIn
from tipline.store import Database
from tipline.store.models import Attachment, Report
from tipline.web.deps import basic_platform, get_db, get_settings

log = logging.getLogger(__name__)


class XMLResponse(Response):
    """Every answer of this door is an XML document, as NCMEC's API answers."""

    media_type = "application/xml"


router = APIRouter(prefix="/ispws", tags=["CyberTipline ESP API"])

MAX_FORM_BYTES = 64 * 1024  # /finish and /retract carry one small field
MAX_FILEINFO_BYTES = 200_000
MULTIPART_SLACK = 64 * 1024  # boundaries and headers around the uploaded file


class Refusal(Exception):
    """Answer the request with this code (and the matching HTTP status) instead of going on."""

    def __init__(
        self, code: int, detail: str = "", *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.code = int(code)
        self.detail = detail
        self.status = status
        self.headers = headers


# ------------------------------------------------------------------------------------------ XML answers

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(parent: etree._Element, tag: str, value: object) -> None:
    etree.SubElement(parent, tag).text = _XML_ILLEGAL.sub("\ufffd", str(value))


def _xml(root: etree._Element, status: int, headers: dict[str, str] | None = None) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def report_response(
    code: int = Code.SUCCESS,
    description: str | None = None,
    *,
    report_id: int | None = None,
    file_id: str | None = None,
    md5: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A ``reportResponse`` document (the XSD's element order)."""
    root = etree.Element("reportResponse")
    _text(root, "responseCode", int(code))
    _text(root, "responseDescription", description if description is not None else describe(code))
    if report_id is not None:
        _text(root, "reportId", report_id)
    if file_id is not None:
        _text(root, "fileId", file_id)
    if md5 is not None:
        _text(root, "hash", md5)
    return _xml(root, status if status is not None else HTTP_STATUS.get(code, 400), headers)


def done_response(report_id: int, file_ids: list[int]) -> Response:
    root = etree.Element("reportDoneResponse")
    _text(root, "responseCode", int(Code.SUCCESS))
    _text(root, "reportId", report_id)
    files = etree.SubElement(root, "files")
    for fid in file_ids:
        _text(files, "fileId", fid)
    return _xml(root, 200)


def _refusal_response(r: Refusal) -> Response:
    text = describe(r.code) + (f": {r.detail}" if r.detail else "")
    return report_response(r.code, text, status=r.status, headers=r.headers)


# ------------------------------------------------------------------------------------------ plumbing


async def _handle(request: Request, work: Callable[[Request, Principal], Awaitable[Response]]) -> Response:
    """Authenticate, run ``work``, and turn every refusal into the XML answer (never an HTML/JSON error)."""
    try:
        try:
            platform = await run_in_threadpool(basic_platform, request)
        except HTTPException as e:
            raise Refusal(
                Code.AUTHENTICATION_REQUIRED, str(e.detail), status=401, headers=dict(e.headers or {})
            ) from None
        return await work(request, platform)
    except Refusal as r:
        return _refusal_response(r)
    except CybertipError as e:
        return _refusal_response(Refusal(e.code, e.message))
    except ClientDisconnect:
        return _refusal_response(Refusal(Code.INVALID_REQUEST, "the request body ended early", status=400))
    except SQLAlchemyError:
        log.exception("CyberTipline API: database error on %s", request.url.path)
        return _refusal_response(Refusal(Code.SAVE_FAILED, "the store could not save this; send it again"))
    except Exception:
        log.exception("CyberTipline API: unexpected error on %s", request.url.path)
        return _refusal_response(Refusal(Code.SERVER_ERROR))


async def _limited(request: Request, limit: int, what: str) -> AsyncGenerator[bytes, None]:
    """The request body, refused with 413 as soon as it passes ``limit`` (Content-Length or counted)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise Refusal(
            Code.INVALID_REQUEST, f"the {what} is {int(length):,} bytes; at most {limit:,} are accepted", status=413
        )
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise Refusal(
                Code.INVALID_REQUEST,
                f"the {what} is more than {limit:,} bytes; at most {limit:,} are accepted",
                status=413,
            )
        yield chunk


async def _body(request: Request, limit: int, what: str) -> bytes:
    return b"".join([c async for c in _limited(request, limit, what)])


async def _form(request: Request, limit: int, *, max_part: int, files: int = 0):  # type: ignore[no-untyped-def]
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    stream = _limited(request, limit, "request body")
    try:
        if ctype == "multipart/form-data":
            parser = MultiPartParser(request.headers, stream, max_files=files, max_fields=20, max_part_size=max_part)
            parser.spool_max_size = 1024 * 1024
            return await parser.parse()
        if ctype in ("application/x-www-form-urlencoded", ""):
            return await FormParser(request.headers, stream, max_fields=20, max_part_size=max_part).parse()
    except MultiPartException as e:
        raise Refusal(
            Code.MALFORMED_FILE if files else Code.INVALID_REQUEST,
            f"the form could not be read: {e.message}",
            status=400,
        ) from None
    raise Refusal(
        Code.INVALID_REQUEST,
        f"send a form (multipart/form-data or application/x-www-form-urlencoded), not {ctype}",
        status=415,
    )


def _report_id(value: object) -> int:
    if value is None:
        raise Refusal(Code.INVALID_REQUEST, "the form field 'id' (the reportId) is missing")
    if not isinstance(value, str) or not value.strip().isdigit() or len(value.strip()) > 18:
        raise Refusal(Code.INVALID_REQUEST, "the form field 'id' must be a reportId (a number)")
    report_id = int(value.strip())
    if report_id > 2**31 - 1:  # beyond any stored id (and PostgreSQL's integer): it cannot exist
        raise Refusal(Code.REPORT_DOES_NOT_EXIST, f"no report {report_id} from this platform")
    return report_id


def _state(db: Database, report_id: int, platform_id: int) -> str:
    """The submission state of the caller's report: open | complete | retracted; else 5001."""
    with db.reader() as s:
        row = s.get(Report, report_id)
        if row is None or row.platform_id != platform_id:
            raise Refusal(Code.REPORT_DOES_NOT_EXIST, f"no report {report_id} from this platform")
        return row.submission_state


def _must_be_open(state: str, report_id: int) -> None:
    if state == "retracted":
        raise Refusal(Code.REPORT_ALREADY_RETRACTED, f"report {report_id} was retracted")
    if state != "open":
        raise Refusal(Code.REPORT_ALREADY_FINISHED, f"report {report_id} is finished: nothing can be added to it")


def _conflict(db: Database, report_id: int, platform_id: int, e: intake.Conflict) -> Refusal:
    """Name a service Conflict by the report's state now."""
    try:
        _must_be_open(_state(db, report_id, platform_id), report_id)
    except Refusal as r:
        return r
    return Refusal(Code.INVALID_REQUEST, str(e), status=409)  # pragma: no cover - the state moved back


def _filename(raw: str | None) -> str | None:
    if not raw:
        return None
    name = PureWindowsPath(PurePosixPath(raw).name).name  # a client may send a full path
    name = _XML_ILLEGAL.sub("", name).strip()
    return name[:512] or None


# ------------------------------------------------------------------------------------------ endpoints


@router.get("/status", response_class=XMLResponse, summary="Check the connection and the credentials")
async def status(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        ip = request.client.host if request.client else "unknown"
        return report_response(Code.SUCCESS, f"Remote User : {platform.name}, Remote Ip : {ip}")

    return await _handle(request, work)


@router.get("/xsd", response_class=XMLResponse, summary="The CyberTipline XML schema tipline validates against")
def xsd() -> Response:
    return Response(XSD_PATH.read_bytes(), media_type="application/xml")


_XML_BODY = {"requestBody": {"required": True, "content": {"text/xml": {"schema": {"type": "string"}}}}}
_ID_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": {"type": "integer", "description": "reportId"}},
                }
            }
        },
    }
}
_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["id", "file"],
                    "properties": {
                        "id": {"type": "integer", "description": "reportId"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@router.post("/submit", response_class=XMLResponse, summary="Open a report (report XML)", openapi_extra=_XML_BODY)
async def submit(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db, settings = get_db(request), get_settings(request)
        body = await _body(request, settings.max_xml_bytes, "report document")
        report = await run_in_threadpool(parse_report, body, max_bytes=settings.max_xml_bytes, esp_name=platform.name)
        report = report.model_copy(update={"platform_id": platform.id})
        result = await run_in_threadpool(intake.submit_report, db, report)
        return report_response(Code.SUCCESS, report_id=result.report_id)

    return await _handle(request, work)


@router.post(
    "/upload",
    response_class=XMLResponse,
    summary="Add a file to an open report (multipart: id, file)",
    openapi_extra=_UPLOAD_FORM,
)
async def upload(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db, settings = get_db(request), get_settings(request)
        limit = settings.max_upload_bytes
        form = await _form(request, limit + MULTIPART_SLACK, max_part=MAX_FORM_BYTES, files=1)
        try:
            report_id = _report_id(form.get("id"))
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise Refusal(Code.MALFORMED_FILE, "the form has no file part named 'file'")
            data = await part.read(limit + 1)
        finally:
            await form.close()
        if len(data) > limit:
            raise Refusal(
                Code.INVALID_REQUEST,
                f"the file is more than {limit:,} bytes; at most {limit:,} are accepted",
                status=413,
            )
        if not data:
            raise Refusal(Code.MALFORMED_FILE, "the file is empty")
        _must_be_open(await run_in_threadpool(_state, db, report_id, platform.id), report_id)
        media_type = (part.content_type or "").strip()[:128] or None
        file = FileIn(filename=_filename(part.filename), media_type=media_type)
        try:
            file_id = await run_in_threadpool(
                lambda: intake.add_attachment(db, report_id, file, data, platform_id=platform.id)
            )
        except intake.NotFound as e:
            raise Refusal(Code.REPORT_DOES_NOT_EXIST, str(e)) from None
        except intake.Conflict as e:
            raise await run_in_threadpool(_conflict, db, report_id, platform.id, e) from None
        return report_response(
            Code.SUCCESS, report_id=report_id, file_id=str(file_id), md5=hashlib.md5(data).hexdigest()
        )

    return await _handle(request, work)


def _attachment_of(db: Database, file_id: str, report_id: int) -> int:
    if not file_id.isdigit() or len(file_id) > 18:
        raise Refusal(Code.FILE_DOES_NOT_EXIST, f"no file {file_id!r} in report {report_id}")
    with db.reader() as s:
        owner = s.scalar(select(Attachment.report_id).where(Attachment.id == int(file_id)))
    if owner != report_id:
        raise Refusal(Code.FILE_DOES_NOT_EXIST, f"no file {file_id!r} in report {report_id}")
    return int(file_id)


@router.post(
    "/fileinfo",
    response_class=XMLResponse,
    summary="Describe an uploaded file (fileDetails XML)",
    openapi_extra=_XML_BODY,
)
async def fileinfo(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db = get_db(request)
        body = await _body(request, MAX_FILEINFO_BYTES, "file details document")
        details = await run_in_threadpool(parse_file_details, body, max_bytes=MAX_FILEINFO_BYTES)
        report_id = details.report_id
        _must_be_open(await run_in_threadpool(_state, db, report_id, platform.id), report_id)
        attachment_id = await run_in_threadpool(_attachment_of, db, details.file_id, report_id)
        try:
            await run_in_threadpool(
                lambda: intake.update_attachment_details(
                    db, attachment_id, details.attachment_details(), platform_id=platform.id
                )
            )
        except intake.NotFound as e:
            raise Refusal(Code.FILE_DOES_NOT_EXIST, str(e)) from None
        return report_response(Code.SUCCESS, report_id=report_id)

    return await _handle(request, work)


@router.post(
    "/finish", response_class=XMLResponse, summary="Finish a report: it is analysed and queued", openapi_extra=_ID_FORM
)
async def finish(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db = get_db(request)
        form = await _form(request, MAX_FORM_BYTES, max_part=MAX_FORM_BYTES)
        report_id = _report_id(form.get("id"))
        _must_be_open(await run_in_threadpool(_state, db, report_id, platform.id), report_id)
        try:
            ids = await run_in_threadpool(lambda: intake.finish_submission(db, report_id, platform_id=platform.id))
        except intake.NotFound as e:
            raise Refusal(Code.REPORT_DOES_NOT_EXIST, str(e)) from None
        except intake.Conflict as e:
            raise await run_in_threadpool(_conflict, db, report_id, platform.id, e) from None
        return done_response(report_id, ids)

    return await _handle(request, work)


@router.post(
    "/retract", response_class=XMLResponse, summary="Cancel a report that is not finished", openapi_extra=_ID_FORM
)
async def retract(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db = get_db(request)
        form = await _form(request, MAX_FORM_BYTES, max_part=MAX_FORM_BYTES)
        report_id = _report_id(form.get("id"))
        _must_be_open(await run_in_threadpool(_state, db, report_id, platform.id), report_id)
        try:
            await run_in_threadpool(lambda: intake.retract_submission(db, report_id, platform_id=platform.id))
        except intake.NotFound as e:
            raise Refusal(Code.REPORT_DOES_NOT_EXIST, str(e)) from None
        except intake.Conflict as e:
            raise await run_in_threadpool(_conflict, db, report_id, platform.id, e) from None
        return report_response(Code.SUCCESS, report_id=report_id)

    return await _handle(request, work)
