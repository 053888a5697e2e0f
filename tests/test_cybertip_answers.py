"""Every error code of every ``/ispws`` call, read the way the partner clients read that call's answer.

The shapes come from the clients' documented response types: ncmec-go (Go, ``encoding/xml`` into
``ReportResponse`` for submit/upload/fileinfo/retract and ``ReportDoneResponse`` for finish; a document
whose root is another element does not decode, so its code is lost) and the TypeScript CyberTipline-Tools
types (``FinishReportResponse``: responseCode, reportId, fileIds; the others: responseCode,
responseDescription, reportId, fileId, hash). Each answer is also valid against the XSD's element."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from helpers import XML, basic
from helpers import submit_cybertip as submit
from tipline.cybertip.codes import Code
from tipline.cybertip.parse import schema
from tipline.settings import Settings
from tipline.web.app import create_app

DATA = Path(__file__).parent / "data" / "cybertip"
MINIMAL = (DATA / "minimal_report.xml").read_bytes()
FILE = b"synthetic test file"

# call -> the root element its clients decode, and the children they read (ncmec-go dereferences these)
CLIENT_SHAPE = {
    "status": ("reportResponse", ("responseCode", "responseDescription")),
    "submit": ("reportResponse", ("responseCode", "responseDescription")),
    "upload": ("reportResponse", ("responseCode", "responseDescription")),
    "fileinfo": ("reportResponse", ("responseCode", "responseDescription")),
    "finish": ("reportDoneResponse", ("responseCode", "reportId", "files")),
    "retract": ("reportResponse", ("responseCode", "responseDescription")),
}


def client_reads(call: str, resp) -> int:  # type: ignore[no-untyped-def]
    """The response code as that call's client gets it (fails where the client could not decode it)."""
    root = etree.fromstring(resp.content)
    want, fields = CLIENT_SHAPE[call]
    assert root.tag == want, f"/{call} answered <{root.tag}>: its clients decode only <{want}>"
    assert schema().validate(root), schema().error_log
    children = {c.tag: c for c in root if isinstance(c.tag, str)}
    for name in fields:
        assert name in children, f"/{call}: <{want}> without <{name}>"
    code = int(children["responseCode"].text or "")
    if call == "finish":
        int(children["reportId"].text or "")  # a long, as the TypeScript reportId: number
    return code


@pytest.fixture
def door(sqlite_settings, sqlite_db, request):  # type: ignore[no-untyped-def]
    from tipline.accounts import service as accounts

    with TestClient(create_app(sqlite_settings, db=sqlite_db)) as c:
        yield c, accounts.create_platform(sqlite_db, "ExampleChat")


def _upload(c, creds, rid, data=FILE, **kw):  # type: ignore[no-untyped-def]
    return c.post(
        "/ispws/upload", data={"id": str(rid)}, files={"file": ("f.jpg", data, "image/jpeg")}, auth=basic(creds), **kw
    )


def _details(rid, fid) -> bytes:  # type: ignore[no-untyped-def]
    xml = (DATA / "file_details.xml").read_text()
    return (
        xml.replace("<reportId>1</reportId>", f"<reportId>{rid}</reportId>")
        .replace("<fileId>1</fileId>", f"<fileId>{fid}</fileId>")
        .encode()
    )


def _cases(c, creds):  # type: ignore[no-untyped-def]
    """(call, expected code, response) for every code each call can answer."""
    bad = ("nobody", "wrong")
    finished = submit(c, creds, MINIMAL)
    fid = client_reads("upload", _upload(c, creds, finished))
    assert fid == 0
    assert client_reads("finish", c.post("/ispws/finish", data={"id": finished}, auth=basic(creds))) == 0
    retracted = submit(c, creds, MINIMAL)
    assert client_reads("retract", c.post("/ispws/retract", data={"id": retracted}, auth=basic(creds))) == 0
    open_ = submit(c, creds, MINIMAL)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    yield "status", Code.AUTHENTICATION_REQUIRED, c.get("/ispws/status", auth=bad)
    yield "status", Code.SUCCESS, c.get("/ispws/status", auth=basic(creds))
    yield "submit", Code.AUTHENTICATION_REQUIRED, c.post("/ispws/submit", content=MINIMAL, headers=XML, auth=bad)
    yield "submit", Code.MALFORMED_XML, c.post("/ispws/submit", content=b"<report>", headers=XML, auth=basic(creds))
    yield (
        "submit",
        Code.VALIDATION_FAILED,
        c.post("/ispws/submit", content=b"<report/>", headers=XML, auth=basic(creds)),
    )
    for call, path in (("finish", "/ispws/finish"), ("retract", "/ispws/retract")):
        yield call, Code.AUTHENTICATION_REQUIRED, c.post(path, data={"id": open_}, auth=bad)
        yield call, Code.INVALID_REQUEST, c.post(path, data={}, auth=basic(creds))
        yield call, Code.INVALID_REQUEST, c.post(path, data={"id": "abc"}, auth=basic(creds))
        yield (
            call,
            Code.INVALID_REQUEST,
            c.post(path, content=b"{}", headers={"Content-Type": "application/json"}, auth=basic(creds)),
        )
        yield call, Code.INVALID_REQUEST, c.post(path, content=b"id=" + b"9" * 70_000, headers=form, auth=basic(creds))
        yield call, Code.REPORT_DOES_NOT_EXIST, c.post(path, data={"id": "987654"}, auth=basic(creds))
        yield call, Code.REPORT_DOES_NOT_EXIST, c.post(path, data={"id": str(2**40)}, auth=basic(creds))
        yield call, Code.REPORT_ALREADY_FINISHED, c.post(path, data={"id": finished}, auth=basic(creds))
        yield call, Code.REPORT_ALREADY_RETRACTED, c.post(path, data={"id": retracted}, auth=basic(creds))
    yield (
        "upload",
        Code.AUTHENTICATION_REQUIRED,
        c.post("/ispws/upload", data={"id": str(open_)}, files={"file": ("f", FILE)}, auth=bad),
    )
    yield "upload", Code.INVALID_REQUEST, c.post("/ispws/upload", files={"file": ("a", b"x")}, auth=basic(creds))
    yield "upload", Code.MALFORMED_FILE, _upload(c, creds, open_, b"")
    yield "upload", Code.REPORT_DOES_NOT_EXIST, _upload(c, creds, 987654)
    yield "upload", Code.REPORT_ALREADY_FINISHED, _upload(c, creds, finished)
    yield "upload", Code.REPORT_ALREADY_RETRACTED, _upload(c, creds, retracted)
    yield (
        "fileinfo",
        Code.AUTHENTICATION_REQUIRED,
        c.post("/ispws/fileinfo", content=_details(open_, 1), headers=XML, auth=bad),
    )
    yield (
        "fileinfo",
        Code.MALFORMED_XML,
        c.post("/ispws/fileinfo", content=b"<fileDetails>", headers=XML, auth=basic(creds)),
    )
    yield (
        "fileinfo",
        Code.VALIDATION_FAILED,
        c.post("/ispws/fileinfo", content=b"<fileDetails/>", headers=XML, auth=basic(creds)),
    )
    yield (
        "fileinfo",
        Code.REPORT_DOES_NOT_EXIST,
        c.post("/ispws/fileinfo", content=_details(987654, 1), headers=XML, auth=basic(creds)),
    )
    yield (
        "fileinfo",
        Code.FILE_DOES_NOT_EXIST,
        c.post("/ispws/fileinfo", content=_details(open_, 999999), headers=XML, auth=basic(creds)),
    )
    yield (
        "fileinfo",
        Code.REPORT_ALREADY_FINISHED,
        c.post("/ispws/fileinfo", content=_details(finished, 1), headers=XML, auth=basic(creds)),
    )
    yield (
        "fileinfo",
        Code.REPORT_ALREADY_RETRACTED,
        c.post("/ispws/fileinfo", content=_details(retracted, 1), headers=XML, auth=basic(creds)),
    )


def test_every_error_of_every_call_reaches_its_clients(door) -> None:  # type: ignore[no-untyped-def]
    c, creds = door
    seen: dict[str, set[int]] = {}
    for call, code, resp in _cases(c, creds):
        got = client_reads(call, resp)
        assert got == code, (call, code, got, resp.text)
        assert (resp.status_code == 200) == (code == Code.SUCCESS), (call, code, resp.status_code)
        seen.setdefault(call, set()).add(int(code))
    assert seen["finish"] >= {2000, 4000, 5001, 5101, 5102}
    assert set(seen) == set(CLIENT_SHAPE)


def test_finish_refusals_keep_the_report_id_and_say_why(door) -> None:  # type: ignore[no-untyped-def]
    c, creds = door
    rid = submit(c, creds, MINIMAL)
    assert client_reads("finish", c.post("/ispws/finish", data={"id": rid}, auth=basic(creds))) == 0
    again = c.post("/ispws/finish", data={"id": rid}, auth=basic(creds))
    root = etree.fromstring(again.content)
    assert root.findtext("reportId") == str(rid) and root.find("files") is not None
    [comment] = [n for n in root if n.tag is etree.Comment]
    assert "finished" in comment.text
    unknown = etree.fromstring(c.post("/ispws/finish", data={}, auth=basic(creds)).content)
    assert unknown.findtext("reportId") == "0" and "'id'" in unknown[0].text


def test_refusals_before_the_handler_use_the_calls_element(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Limits applied before the call's handler (the app's body limit) answer in the call's element too."""
    settings = Settings(data_dir=tmp_path / "d", max_xml_bytes=1_000)
    with TestClient(create_app(settings)) as c:
        from tipline.accounts import service as accounts

        creds = accounts.create_platform(c.app.state.db, "ExampleChat")  # type: ignore[attr-defined]
        big = b"id=" + b"1" * 5_000_000
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(big))}
        r = c.post("/ispws/finish", content=big, headers=headers, auth=basic(creds))
        assert r.status_code == 413 and client_reads("finish", r) == Code.INVALID_REQUEST
        r = c.post("/ispws/retract", content=big, headers=headers, auth=basic(creds))
        assert r.status_code == 413 and client_reads("retract", r) == Code.INVALID_REQUEST


def test_location_of_file_becomes_an_identifier(door, sqlite_db) -> None:  # type: ignore[no-untyped-def]
    """fileDetails' locationOfFile ("the URL where the reported file was originally located") is read
    like a link field: the URL and its host are the report's identifiers, with the file as their source."""
    from tipline.intake import service as intake
    from tipline.reports import service as reports

    c, creds = door
    rid = submit(c, creds, MINIMAL)
    up = etree.fromstring(_upload(c, creds, rid).content)
    fid = up.findtext("fileId")
    assert (
        client_reads("fileinfo", c.post("/ispws/fileinfo", content=_details(rid, fid), headers=XML, auth=basic(creds)))
        == 0
    )
    assert client_reads("finish", c.post("/ispws/finish", data={"id": rid}, auth=basic(creds))) == 0
    intake.analyse_pending(sqlite_db, limit=10)
    got = {(e.kind, e.value) for e in reports.get_report(sqlite_db, rid).entities}
    assert ("url", "https://cdn.example.com/u/host_ops/0615.jpg") in got
    assert ("domain", "example.com") in got
