"""The CyberTipline ESP API (/ispws) against the real app (SQLite and PostgreSQL), and the file importer.

A platform's NCMEC client must work unchanged: submit → upload → fileinfo → finish, retract, status.
All documents and files are synthetic.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from helpers import XML, answer, basic
from helpers import submit_cybertip as submit
from tipline.accounts import service as accounts
from tipline.cybertip.codes import Code
from tipline.cybertip.importer import import_files
from tipline.reports import service as reports
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Attachment, Report

DATA = Path(__file__).parent / "data" / "cybertip"
RICH = (DATA / "rich_report.xml").read_bytes()
MINIMAL = (DATA / "minimal_report.xml").read_bytes()
FILE_1 = b"synthetic test file"  # tests/data/cybertip/file_details.xml carries its hashes
FILE_2 = bytes(range(256)) * 8


def file_details(report_id: int | str, file_id: str) -> bytes:
    xml = (DATA / "file_details.xml").read_text()
    xml = xml.replace("<reportId>1</reportId>", f"<reportId>{report_id}</reportId>")
    xml = xml.replace("<fileId>1</fileId>", f"<fileId>{file_id}</fileId>")
    return xml.encode()


def upload(client: TestClient, creds, report_id: int | str, data: bytes, name: str = "f.jpg"):  # type: ignore[no-untyped-def]
    return client.post(
        "/ispws/upload", data={"id": str(report_id)}, files={"file": (name, data, "image/jpeg")}, auth=basic(creds)
    )


def state(db: Database, report_id: int) -> str:
    with db.reader() as s:
        return s.scalar(select(Report.submission_state).where(Report.id == report_id))  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ the whole flow


def test_full_flow_submit_upload_fileinfo_finish(client, db, platform):
    rid = submit(client, platform)
    assert state(db, rid) == "open"

    r1 = upload(client, platform, rid, FILE_1, "C:\\Users\\mod\\capture-0001.jpg")
    a1 = answer(r1)
    assert r1.status_code == 200 and a1["responseCode"] == 0
    assert a1["reportId"] == str(rid) and a1["hash"] == hashlib.md5(FILE_1).hexdigest()
    r2 = upload(client, platform, rid, FILE_2, "second.png")
    a2 = answer(r2)
    assert a2["fileId"] != a1["fileId"]

    fi = client.post("/ispws/fileinfo", content=file_details(rid, a1["fileId"]), headers=XML, auth=basic(platform))
    afi = answer(fi)
    assert fi.status_code == 200 and afi["responseCode"] == 0 and afi["reportId"] == str(rid)

    done = client.post("/ispws/finish", data={"id": str(rid)}, auth=basic(platform))
    ad = answer(done)
    assert done.status_code == 200 and ad["_root"] == "reportDoneResponse"
    assert ad["responseCode"] == 0 and ad["reportId"] == str(rid)
    assert ad["files"] == [a1["fileId"], a2["fileId"]]
    assert state(db, rid) == "complete"

    got = reports.get_report(db, rid)
    assert got.source == "cybertip" and got.platform == "ExampleChat"
    assert got.category == "child_sex_trafficking" and got.escalate is True
    assert got.urls == ["https://ads.example.com/listing/48213", "https://ads.example.com/listing/48214"]
    files = {str(f["id"]): f for f in got.files}
    f1 = files[a1["fileId"]]
    assert f1["filename"] == "capture-0001.jpg" and f1["media_type"] == "image/jpeg" and f1["origin"] == "upload"
    assert f1["md5"] == hashlib.md5(FILE_1).hexdigest()
    assert f1["sha1"] == hashlib.sha1(FILE_1).hexdigest()
    assert f1["sha256"] == hashlib.sha256(FILE_1).hexdigest()
    fd = f1["details"]["file_details"]
    assert fd["original_file_name"] == "IMG_0615.jpg" and fd["file_viewed_by_esp"] is True
    assert fd["annotations"] == ["liveStreaming", "generativeAi"]
    assert files[a2["fileId"]]["sha256"] == hashlib.sha256(FILE_2).hexdigest()
    assert "file_details" not in files[a2["fileId"]]["details"]

    roles = [p["role"] for p in got.persons]
    assert roles.count("reported") == 2 and roles.count("victim") == 2
    host = got.persons[0]
    assert host["name"] == "Rex Sample"
    assert {"kind": "account", "value": "host_ops", "platform": "ExampleChat Live"} in host["identifiers"]
    # finished reports are analysed: identifiers from structured fields and text become entities
    kinds = {(e.kind, e.value) for e in got.entities}
    assert ("account", "examplechatlive/host_ops") in kinds  # one platform id however it is typed
    assert ("ipv4", "198.51.100.23") in kinds
    assert ("email", "payments.desk@mail.example.net") in kinds
    assert got.reasons, "a finished report is scored"
    assert got.details["cybertip"]["reporter"]["legalURL"] == "https://esp.example.com/legal"


def test_finished_report_takes_nothing_more(client, db, platform):
    rid = submit(client, platform, MINIMAL)
    fid = answer(upload(client, platform, rid, FILE_1))["fileId"]
    assert answer(client.post("/ispws/finish", data={"id": rid}, auth=basic(platform)))["files"] == [fid]
    for resp in (
        upload(client, platform, rid, FILE_2),
        client.post("/ispws/fileinfo", content=file_details(rid, fid), headers=XML, auth=basic(platform)),
        client.post("/ispws/finish", data={"id": rid}, auth=basic(platform)),
        client.post("/ispws/retract", data={"id": rid}, auth=basic(platform)),
    ):
        a = answer(resp)
        assert resp.status_code == 409 and a["responseCode"] == Code.REPORT_ALREADY_FINISHED, a
        assert "finished" in a["responseDescription"]
    assert state(db, rid) == "complete"


def test_retract(client, db, platform):
    rid = submit(client, platform, MINIMAL)
    upload(client, platform, rid, FILE_1)
    r = client.post("/ispws/retract", data={"id": rid}, auth=basic(platform))
    a = answer(r)
    assert r.status_code == 200 and a["responseCode"] == 0 and a["reportId"] == str(rid)
    assert state(db, rid) == "retracted"
    for resp in (
        upload(client, platform, rid, FILE_2),
        client.post("/ispws/finish", data={"id": rid}, auth=basic(platform)),
        client.post("/ispws/retract", data={"id": rid}, auth=basic(platform)),
    ):
        a = answer(resp)
        assert resp.status_code == 409 and a["responseCode"] == Code.REPORT_ALREADY_RETRACTED, a
    assert state(db, rid) == "retracted"


def test_open_report_is_not_analysed_before_finish(client, db, platform):
    rid = submit(client, platform)
    got = reports.get_report(db, rid)
    assert got.entities == [] and got.reasons == []  # analysed only at finish


# ------------------------------------------------------------------------------------------ who may do what


def test_status(client, platform):
    r = client.get("/ispws/status", auth=basic(platform))
    a = answer(r)
    assert r.status_code == 200 and a["responseCode"] == 0 and "ExampleChat" in a["responseDescription"]


@pytest.mark.parametrize(
    "path", ["/ispws/status", "/ispws/submit", "/ispws/upload", "/ispws/fileinfo", "/ispws/finish", "/ispws/retract"]
)
def test_wrong_or_missing_credentials_are_401(client, db, platform, path):
    method = client.get if path.endswith("status") else client.post
    wrong = method(path, auth=(platform.username, "not-the-password"))
    a = answer(wrong)
    assert wrong.status_code == 401 and a["responseCode"] == Code.AUTHENTICATION_REQUIRED
    assert wrong.headers["www-authenticate"].startswith("Basic")
    missing = method(path)
    assert missing.status_code == 401 and answer(missing)["responseCode"] == Code.AUTHENTICATION_REQUIRED
    garbled = method(path, headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401
    # the API key of the JSON API is not a CyberTipline credential
    bearer = method(path, headers={"Authorization": f"Bearer {platform.api_key}"})
    assert bearer.status_code == 401
    with db.reader() as s:
        assert s.scalar(select(Report.id)) is None


def test_unknown_report_id_is_5001(client, platform):
    for resp in (
        upload(client, platform, 987654, FILE_1),
        client.post("/ispws/finish", data={"id": "987654"}, auth=basic(platform)),
        client.post("/ispws/retract", data={"id": "987654"}, auth=basic(platform)),
        client.post("/ispws/fileinfo", content=file_details(987654, "1"), headers=XML, auth=basic(platform)),
    ):
        a = answer(resp)
        assert resp.status_code == 404 and a["responseCode"] == Code.REPORT_DOES_NOT_EXIST, a
        assert "987654" in a["responseDescription"]


def test_another_platforms_report_is_refused(client, db, platform):
    other = accounts.create_platform(db, "Other ESP")
    rid = submit(client, platform, MINIMAL)
    fid = answer(upload(client, platform, rid, FILE_1))["fileId"]
    for resp in (
        upload(client, other, rid, FILE_2),
        client.post("/ispws/fileinfo", content=file_details(rid, fid), headers=XML, auth=basic(other)),
        client.post("/ispws/finish", data={"id": rid}, auth=basic(other)),
        client.post("/ispws/retract", data={"id": rid}, auth=basic(other)),
    ):
        a = answer(resp)
        assert resp.status_code == 404 and a["responseCode"] == Code.REPORT_DOES_NOT_EXIST, a
    assert state(db, rid) == "open"
    with db.reader() as s:
        assert s.scalars(select(Attachment.id).where(Attachment.report_id == rid)).all() == [int(fid)]
    # the owner goes on undisturbed
    assert answer(client.post("/ispws/finish", data={"id": rid}, auth=basic(platform)))["files"] == [fid]


def test_file_of_another_report_is_5002(client, platform):
    rid1 = submit(client, platform, MINIMAL)
    rid2 = submit(client, platform, MINIMAL)
    fid1 = answer(upload(client, platform, rid1, FILE_1))["fileId"]
    for fid in (fid1, "999999", "not-a-number"):
        r = client.post("/ispws/fileinfo", content=file_details(rid2, fid), headers=XML, auth=basic(platform))
        a = answer(r)
        assert r.status_code == 404 and a["responseCode"] == Code.FILE_DOES_NOT_EXIST, a


# ------------------------------------------------------------------------------------------ malformed input


def test_bad_report_documents_are_4xx_with_the_reason(client, db, platform):
    cases = {
        b"<report><incidentSummary></report>": (Code.MALFORMED_XML, "tag mismatch"),
        MINIMAL.replace(
            b"<incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>", b""
        ): (Code.VALIDATION_FAILED, "incidentType"),
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><report>&x;</report>': (Code.MALFORMED_XML, "DOCTYPE"),
        b"<report>caf\xe9</report>": (Code.MALFORMED_XML, "UTF-8"),
        (DATA / "file_details.xml").read_bytes(): (Code.VALIDATION_FAILED, "/ispws/fileinfo"),
        b"": (Code.MALFORMED_XML, "empty"),
    }
    for body, (code, words) in cases.items():
        r = client.post("/ispws/submit", content=body, headers=XML, auth=basic(platform))
        a = answer(r)
        assert r.status_code == 400 and a["responseCode"] == code, (body[:60], a)
        assert words in a["responseDescription"]
        assert "root:" not in a["responseDescription"]
    with db.reader() as s:
        assert s.scalar(select(Report.id)) is None


def test_bad_forms(client, platform):
    rid = submit(client, platform, MINIMAL)
    cases = [
        (client.post("/ispws/finish", data={}, auth=basic(platform)), 400, Code.INVALID_REQUEST, "'id'"),
        (client.post("/ispws/finish", data={"id": "abc"}, auth=basic(platform)), 400, Code.INVALID_REQUEST, "number"),
        (client.post("/ispws/retract", data={"id": "-3"}, auth=basic(platform)), 400, Code.INVALID_REQUEST, "number"),
        (
            client.post(
                "/ispws/finish",
                content=b'{"id": 1}',
                headers={"Content-Type": "application/json"},
                auth=basic(platform),
            ),
            415,
            Code.INVALID_REQUEST,
            "form",
        ),
        (
            client.post("/ispws/upload", data={"id": str(rid)}, files={"other": ("x", b"x")}, auth=basic(platform)),
            400,
            Code.MALFORMED_FILE,
            "'file'",
        ),
        (client.post("/ispws/upload", data={"id": str(rid)}, auth=basic(platform)), 400, Code.MALFORMED_FILE, "'file'"),
        (upload(client, platform, rid, b""), 400, Code.MALFORMED_FILE, "empty"),
        (
            client.post("/ispws/upload", files={"file": ("a", b"x")}, auth=basic(platform)),
            400,
            Code.INVALID_REQUEST,
            "'id'",
        ),
        (
            client.post(
                "/ispws/upload",
                content=b"--xx\r\nbroken",
                auth=basic(platform),
                headers={"Content-Type": "multipart/form-data; boundary=xx"},
            ),
            400,
            Code.INVALID_REQUEST,
            "'id'",
        ),
        (
            client.post(
                "/ispws/upload",
                content=b"--xx\r\nbroken",
                auth=basic(platform),
                headers={"Content-Type": "multipart/form-data"},
            ),
            400,
            Code.MALFORMED_FILE,
            "boundary",
        ),
        (
            client.post(
                "/ispws/fileinfo",
                content=b"<fileDetails><reportId>x</reportId></fileDetails>",
                headers=XML,
                auth=basic(platform),
            ),
            400,
            Code.VALIDATION_FAILED,
            "reportId",
        ),
        (  # a compressed body is named as such (read as it was, it failed as "not valid UTF-8"), never inflated
            client.post(
                "/ispws/submit",
                content=gzip.compress(MINIMAL),
                headers=XML | {"Content-Encoding": "gzip"},
                auth=basic(platform),
            ),
            415,
            Code.INVALID_REQUEST,
            "the body is compressed (Content-Encoding: gzip); send it uncompressed",
        ),
        (
            client.post(
                "/ispws/finish",
                content=gzip.compress(f"id={rid}".encode()),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
                auth=basic(platform),
            ),
            415,
            Code.INVALID_REQUEST,
            "send it uncompressed",
        ),
    ]
    for resp, status, code, words in cases:
        a = answer(resp)
        assert resp.status_code == status and a["responseCode"] == code, a
        assert words in a["responseDescription"]


def test_size_limits(tmp_path):
    st_ = Settings(data_dir=tmp_path / "small", max_xml_bytes=2_000, max_upload_bytes=1_000)
    from tipline.web.app import create_app

    with TestClient(create_app(st_)) as client:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        creds = accounts.create_platform(db, "Small ESP")
        big = MINIMAL.replace(b"</report>", b"<additionalInfo>" + b"x" * 3000 + b"</additionalInfo></report>")
        r = client.post("/ispws/submit", content=big, headers=XML, auth=basic(creds))
        assert r.status_code == 413 and answer(r)["responseCode"] == Code.INVALID_REQUEST
        assert "2,000" in answer(r)["responseDescription"]

        def chunks():  # no Content-Length: the limit is counted while reading
            for _ in range(10):
                yield b"<!-- " + b"y" * 500 + b" -->"

        r = client.post("/ispws/submit", content=chunks(), headers=XML, auth=basic(creds))
        assert r.status_code == 413 and answer(r)["responseCode"] == Code.INVALID_REQUEST

        rid = submit(client, creds, MINIMAL)

        def chunked_upload(data: bytes):  # type: ignore[no-untyped-def]
            b = "tiplineboundary"
            head = (
                f'--{b}\r\nContent-Disposition: form-data; name="id"\r\n\r\n{rid}\r\n'
                f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="z.bin"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            parts = [head, data, f"\r\n--{b}--\r\n".encode()]
            return client.post(
                "/ispws/upload",
                content=iter(parts),
                headers={"Content-Type": f"multipart/form-data; boundary={b}"},
                auth=basic(creds),
            )

        r = chunked_upload(b"z" * 1_001)
        assert r.status_code == 413 and "1,000" in answer(r)["responseDescription"]
        a = answer(chunked_upload(b"z" * 1_000))
        assert a["responseCode"] == 0 and a["hash"] == hashlib.md5(b"z" * 1_000).hexdigest()


def test_xsd_is_served(client):
    r = client.get("/ispws/xsd")
    assert r.status_code == 200 and b'<xs:element name="report">' in r.content


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    body=st.one_of(
        st.binary(max_size=600),
        st.builds(lambda a, b: MINIMAL[:a] + b + MINIMAL[a:], st.integers(0, len(MINIMAL)), st.binary(max_size=20)),
    )
)
def test_no_body_makes_a_server_error(client, platform, body):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for path, headers in (
        ("/ispws/submit", XML),
        ("/ispws/fileinfo", XML),
        ("/ispws/finish", form),
        ("/ispws/retract", form),
    ):
        r = client.post(path, content=body, headers=headers, auth=basic(platform))
        assert r.status_code < 500, (path, body, r.text)
        answer(r)


# ------------------------------------------------------------------------------------------ importer


def test_import_files(db, platform, tmp_path):
    hostile = tmp_path / "hostile.xml"
    hostile.write_bytes(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><report>&x;</report>')
    results = import_files(
        db,
        [DATA / "rich_report.xml", DATA / "minimal_report.xml", hostile, tmp_path / "missing.xml", tmp_path],
        "ExampleChat",
    )
    (p1, r1), (_, r2), (_, bad), (_, missing), (_, folder) = results
    assert p1 == DATA / "rich_report.xml"
    assert isinstance(r1, int) and isinstance(r2, int)
    assert isinstance(bad, str) and "DOCTYPE" in bad and "4110" in bad
    assert isinstance(missing, str) and "cannot read" in missing
    assert isinstance(folder, str) and "cannot read" in folder
    got = reports.get_report(db, r1)
    assert got.platform == "ExampleChat" and got.source == "cybertip"
    assert got.reasons and got.details["imported_from"] == "rich_report.xml"
    assert state(db, r1) == "complete"
    # the same file again, for the same platform: the first report
    assert import_files(db, [DATA / "rich_report.xml"], "ExampleChat") == [(DATA / "rich_report.xml", r1)]


def test_import_unknown_platform_and_no_platform(db):
    [(_, msg)] = import_files(db, [DATA / "minimal_report.xml"], "Nobody")
    assert isinstance(msg, str) and "Nobody" in msg
    [(_, rid)] = import_files(db, [DATA / "minimal_report.xml"], None)
    assert isinstance(rid, int) and reports.get_report(db, rid).platform is None


def test_basic_auth_header_format_of_ncmec_clients(client, platform):
    token = base64.b64encode(f"{platform.username}:{platform.password}".encode()).decode()
    r = client.get("/ispws/status", headers={"Authorization": f"Basic {token}"})
    assert r.status_code == 200
