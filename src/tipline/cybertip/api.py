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
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath, PureWindowsPath

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from lxml import etree
from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect

from tipline.accounts.service import Principal
from tipline.cybertip.codes import HTTP_STATUS, Code, describe
from tipline.cybertip.parse import XSD_PATH, CybertipError, parse_file_details, parse_report
from tipline.errors import Conflict, NotFound
from tipline.intake import service as intake
from tipline.intake.schemas import FileIn
from tipline.media import files
from tipline.store import StoreError
from tipline.webkit import kit
from tipline.webkit.deps import BASIC, basic_platform, get_db, get_settings
from tipline.webkit.kit import JSONRoute

log = logging.getLogger(__name__)


class XMLResponse(Response):
    """Every answer of this door is an XML document, as NCMEC's API answers."""

    media_type = "application/xml"


router = APIRouter(route_class=JSONRoute, prefix="/ispws", tags=["CyberTipline ESP API"])

# the calls that authenticate (in ``_handle``, so that refusals are XML) name the scheme for the OpenAPI document
AUTH = [Depends(BASIC)]
MAX_FORM_BYTES = 64 * 1024  # /finish and /retract carry one small field
MAX_FILEINFO_BYTES = 200_000
MULTIPART_SLACK = 64 * 1024  # boundaries and headers around the uploaded file


class Refusal(Exception):
    """Answer the request with this code (and the matching HTTP status) instead of going on."""

    def __init__(
        self,
        code: int,
        detail: str = "",
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        report_id: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = int(code)
        self.detail = detail
        self.status = status
        self.headers = headers
        self.report_id = report_id


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


def done_response(
    report_id: int,
    file_ids: list[int],
    code: int = Code.SUCCESS,
    description: str | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A ``reportDoneResponse`` document: what clients read every ``/finish`` answer as, refusals too.

    The element has no description (the XSD's sequence is responseCode, reportId, files); a refusal's
    description goes into an XML comment, which the schema allows and parsers skip. ``reportId`` is
    required: 0 when the request named no valid report."""
    root = etree.Element("reportDoneResponse")
    if description:
        root.append(etree.Comment(" " + _XML_ILLEGAL.sub("\ufffd", description).replace("--", "- -") + " "))
    _text(root, "responseCode", int(code))
    _text(root, "reportId", report_id)
    files = etree.SubElement(root, "files")
    for fid in file_ids:
        _text(files, "fileId", fid)
    return _xml(root, status if status is not None else HTTP_STATUS.get(code, 400), headers)


class Answer:
    """The element a call's clients decode its answers as: ``reportDoneResponse`` for ``/finish`` (ncmec-go
    and the TypeScript and Python clients read nothing else there), ``reportResponse`` for every other call."""

    REPORT = "reportResponse"
    DONE = "reportDoneResponse"


def refusal_for_path(
    path: str, code: int, description: str, *, status: int, headers: dict[str, str] | None = None
) -> Response:
    """A refusal made before a call's handler runs (size and rate limits, unknown paths), in the element
    that call's clients read."""
    element = Answer.DONE if path.rstrip("/") == router.prefix + "/finish" else Answer.REPORT
    return _refusal_response(Refusal(code, description, status=status, headers=headers), element)


def _refusal_response(r: Refusal, element: str = Answer.REPORT) -> Response:
    text = describe(r.code) + (f": {r.detail}" if r.detail else "")
    if element == Answer.DONE:
        return done_response(r.report_id or 0, [], r.code, text, status=r.status, headers=r.headers)
    return report_response(r.code, text, report_id=r.report_id, status=r.status, headers=r.headers)


# ------------------------------------------------------------------------------------------ plumbing


async def _handle(
    request: Request, work: Callable[[Request, Principal], Awaitable[Response]], element: str = Answer.REPORT
) -> Response:
    """Authenticate, run ``work``, and turn every refusal into the XML answer in the call's ``element``
    (never an HTML/JSON error)."""
    try:
        try:
            platform = await run_in_threadpool(basic_platform, request)
        except HTTPException as e:
            raise Refusal(
                Code.AUTHENTICATION_REQUIRED, str(e.detail), status=401, headers=dict(e.headers or {})
            ) from None
        return await work(request, platform)
    except Refusal as r:
        return _refusal_response(r, element)
    except CybertipError as e:
        return _refusal_response(Refusal(e.code, e.message), element)
    except ClientDisconnect:
        return _refusal_response(Refusal(Code.INVALID_REQUEST, "the request body ended early", status=400), element)
    except StoreError:
        log.exception("CyberTipline API: database error on %s", request.url.path)
        return _refusal_response(Refusal(Code.SAVE_FAILED, "the store could not save this; send it again"), element)
    except Exception:
        log.exception("CyberTipline API: unexpected error on %s", request.url.path)
        return _refusal_response(Refusal(Code.SERVER_ERROR), element)


async def _body(request: Request, limit: int, what: str) -> bytes:
    try:
        return await kit.read_body(request, limit, what)
    except kit.FormError as e:
        raise Refusal(Code.INVALID_REQUEST, e.message, status=e.status) from None


async def _form(request: Request, limit: int, *, max_part: int, files: int = 0) -> FormData:
    try:
        return await kit.read_form(request, limit, max_files=files, max_fields=20, max_part_size=max_part)
    except kit.FormError as e:
        code = Code.MALFORMED_FILE if files and e.status == 400 else Code.INVALID_REQUEST
        raise Refusal(code, e.message, status=e.status) from None


def _refusal_for(e: NotFound | Conflict, report_id: int) -> Refusal:
    """The door's answer to a service's refusal (the state checks are the service's, made once)."""
    if isinstance(e, intake.NoSuchFile):
        return Refusal(Code.FILE_DOES_NOT_EXIST, str(e), report_id=report_id)
    if isinstance(e, NotFound):
        return Refusal(Code.REPORT_DOES_NOT_EXIST, f"no report {report_id} from this platform", report_id=report_id)
    if isinstance(e, intake.SubmissionClosed):
        if e.state == "retracted":
            return Refusal(Code.REPORT_ALREADY_RETRACTED, f"report {report_id} was retracted", report_id=report_id)
        return Refusal(
            Code.REPORT_ALREADY_FINISHED,
            f"report {report_id} is finished: nothing can be added to it",
            report_id=report_id,
        )
    return Refusal(Code.INVALID_REQUEST, str(e), status=409, report_id=report_id)


def _report_id(value: object) -> int:
    if value is None:
        raise Refusal(Code.INVALID_REQUEST, "the form field 'id' (the reportId) is missing")
    if not isinstance(value, str) or not value.strip().isdigit() or len(value.strip()) > 18:
        raise Refusal(Code.INVALID_REQUEST, "the form field 'id' must be a reportId (a number)")
    report_id = int(value.strip())
    if report_id > 2**31 - 1:  # beyond any stored id (and PostgreSQL's integer): it cannot exist
        raise Refusal(Code.REPORT_DOES_NOT_EXIST, f"no report {report_id} from this platform")
    return report_id


def _filename(raw: str | None) -> str | None:
    if not raw:
        return None
    name = PureWindowsPath(PurePosixPath(raw).name).name  # a client may send a full path
    name = _XML_ILLEGAL.sub("", name).strip()
    return name[:512] or None


# ------------------------------------------------------------------------------------------ endpoints


@router.get(
    "/status", dependencies=AUTH, response_class=XMLResponse, summary="Check the connection and the credentials"
)
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


@router.post(
    "/submit",
    dependencies=AUTH,
    response_class=XMLResponse,
    summary="Open a report (report XML)",
    openapi_extra=_XML_BODY,
)
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
    dependencies=AUTH,
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
        media_type = (part.content_type or "").strip()[:128] or None
        file = FileIn(filename=_filename(part.filename), media_type=media_type)
        try:
            file_id = await run_in_threadpool(
                lambda: files.add_file(db, report_id, file, data, platform_id=platform.id, open_only=True)
            )
        except (NotFound, Conflict) as e:
            raise _refusal_for(e, report_id) from None
        return report_response(
            Code.SUCCESS, report_id=report_id, file_id=str(file_id), md5=hashlib.md5(data).hexdigest()
        )

    return await _handle(request, work)


def _file_id(file_id: str, report_id: int) -> int:
    if not file_id.isdigit() or len(file_id) > 18 or int(file_id) > 2**31 - 1:
        raise Refusal(Code.FILE_DOES_NOT_EXIST, f"no file {file_id!r} in report {report_id}")
    return int(file_id)


@router.post(
    "/fileinfo",
    dependencies=AUTH,
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
        try:
            await run_in_threadpool(intake.check_open_submission, db, report_id, platform_id=platform.id)
            attachment_id = _file_id(details.file_id, report_id)
            await run_in_threadpool(
                lambda: intake.update_attachment_details(
                    db, attachment_id, details.attachment_details(), platform_id=platform.id, report_id=report_id
                )
            )
        except (NotFound, Conflict) as e:
            raise _refusal_for(e, report_id) from None
        return report_response(Code.SUCCESS, report_id=report_id)

    return await _handle(request, work)


@router.post(
    "/finish",
    dependencies=AUTH,
    response_class=XMLResponse,
    summary="Finish a report: it is analysed and queued",
    openapi_extra=_ID_FORM,
)
async def finish(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db = get_db(request)
        form = await _form(request, MAX_FORM_BYTES, max_part=MAX_FORM_BYTES)
        report_id = _report_id(form.get("id"))
        try:
            ids = await run_in_threadpool(lambda: intake.finish_submission(db, report_id, platform_id=platform.id))
        except (NotFound, Conflict) as e:
            raise _refusal_for(e, report_id) from None
        return done_response(report_id, ids)

    return await _handle(request, work, Answer.DONE)


@router.post(
    "/retract",
    dependencies=AUTH,
    response_class=XMLResponse,
    summary="Cancel a report that is not finished",
    openapi_extra=_ID_FORM,
)
async def retract(request: Request) -> Response:
    async def work(request: Request, platform: Principal) -> Response:
        db = get_db(request)
        form = await _form(request, MAX_FORM_BYTES, max_part=MAX_FORM_BYTES)
        report_id = _report_id(form.get("id"))
        try:
            await run_in_threadpool(lambda: intake.retract_submission(db, report_id, platform_id=platform.id))
        except (NotFound, Conflict) as e:
            raise _refusal_for(e, report_id) from None
        return report_response(Code.SUCCESS, report_id=report_id)

    return await _handle(request, work)
