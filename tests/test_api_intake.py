"""Platform doors of the JSON API, against the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import bearer
from tipline.accounts import service as accounts
from tipline.store.models import Attachment, Report

REPORT = {
    "report_id": "EC-1001",
    "category": "child_sex_trafficking",
    "text": "Seller offers paid private shows with a child, about 11 years old. Contact +63 917 123 4567.",
    "language": "en",
    "country": "PH",
    "reported_persons": [
        {
            "name": "seller",
            "identifiers": [{"kind": "account", "value": "Seller_01", "platform": "ExampleChat"}],
            "ip_events": [{"ip": "203.0.113.77", "event": "Login"}],
        }
    ],
    "victims": [{"age": 11}],
    "urls": ["https://ads-fake-board.com/listing/991"],
    "files": [{"filename": "a.jpg", "md5": "0" * 32, "sha256": "a" * 64}],
}


def test_platform_report_is_stored_analysed_and_idempotent(client, db, platform, analyst_token):
    r = client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] is True
    rid = body["id"]
    again = client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key))
    assert again.status_code == 200
    assert again.json() == {**body, "created": False}
    with db.reader() as s:
        assert s.scalar(select(Report).where(Report.external_id == "EC-1001")).id == rid
        att = s.scalars(select(Attachment).where(Attachment.report_id == rid)).all()
        assert [a.md5 for a in att] == ["0" * 32]

    got = client.get(f"/api/v1/reports/{rid}", headers=bearer(analyst_token)).json()
    kinds = {(e["kind"], e["value"]) for e in got["entities"]}
    assert ("phone", "+639171234567") in kinds
    assert ("account", "examplechat/seller_01") in kinds
    assert ("ipv4", "203.0.113.77") in kinds
    assert ("domain", "ads-fake-board.com") in kinds
    rules = {x["rule"] for x in got["reasons"]}
    assert {"young-child", "minor", "hands-on-category"} <= rules
    assert got["priority"] <= 2
    assert got["platform"] == "ExampleChat"


def test_shared_identifier_raises_second_report(client, platform, analyst_token):
    first = {"report_id": "A", "category": "other", "country": "PH", "text": "ask for Maria, tel 0917 555 0199"}
    second = dict(first, report_id="B")
    client.post("/api/v1/reports", json=first, headers=bearer(platform.api_key))
    rid = client.post("/api/v1/reports", json=second, headers=bearer(platform.api_key)).json()["id"]
    got = client.get(f"/api/v1/reports/{rid}", headers=bearer(analyst_token)).json()
    reason = next(x for x in got["reasons"] if x["rule"] == "known-identifiers")
    assert "phone:+639175550199" in reason["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**REPORT, "category": "nope"}, "category"),
        ({**REPORT, "victims": [{"age": 300}]}, "victims.0.age"),
        ({**REPORT, "text": "x" * 20_001}, "text"),
        ({**REPORT, "files": [{"md5": "xyz"}]}, "files.0.md5"),
        (
            {**REPORT, "reported_persons": [{"identifiers": [{"kind": "pager", "value": "1"}]}]},
            "reported_persons.0.identifiers.0.kind",
        ),
        ({k: v for k, v in REPORT.items() if k != "report_id"}, "report_id"),
        ({**REPORT, "surprise": 1}, "surprise"),
        ({**REPORT, "country": "zz"}, "country"),  # two letters, but no country's
        ({**REPORT, "reported_persons": [{"country": "12"}]}, "reported_persons.0.country"),
    ],
)
def test_bad_input_names_the_field(client, platform, body, field):
    r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


def test_malformed_json_and_oversize_are_4xx(client, platform):
    h = bearer(platform.api_key) | {"content-type": "application/json"}
    r = client.post("/api/v1/reports", content=b"{not json", headers=h)
    assert r.status_code == 422 and "invalid input" in r.json()["detail"]
    r = client.post("/api/v1/reports", content=b"[" * 2_000_000, headers=h)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = client.post("/api/v1/reports", content=b"\xff\xfe\x00", headers=h)
    assert r.status_code in (400, 422) and r.json()["detail"]
    r = client.post("/api/v1/reports", content=b'{"report_id":"x",', headers=h)
    assert r.status_code == 422 and "body: not valid JSON at character 17" in r.json()["detail"], r.text
    r = client.post("/api/v1/reports", content=b'{"report_id":"\xc3\x28"}', headers=h)
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"], r.text
    r = client.post("/api/v1/reports", content=b'{"report_id": ' + b"9" * 5000 + b"}", headers=h)
    assert r.status_code == 400 and "4,300 digits" in r.json()["detail"], r.text


def test_a_body_sent_compressed_or_not_as_json_is_refused_with_what_to_send(client, db, platform):
    """Clients written by others: a gzip body, or a JSON body sent as text or a form (or with no type), gets
    415 with the header to fix, and nothing is stored; JSON under a +json type and a chunked body are read."""
    import gzip

    body = b'{"report_id": "enc-1", "category": "other", "text": "call 0917 555 0100"}'
    key = bearer(platform.api_key)
    r = client.post(
        "/api/v1/reports",
        content=gzip.compress(body),
        headers=key | {"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 415 and r.json()["detail"] == (
        "the body is compressed (Content-Encoding: gzip); send it uncompressed"
    ), r.text
    for sent, said in [
        ({"content-type": "text/plain"}, "Content-Type: text/plain"),
        ({"content-type": "application/x-www-form-urlencoded"}, "Content-Type: application/x-www-form-urlencoded"),
        ({}, "no Content-Type"),
    ]:
        r = client.post("/api/v1/reports", content=body, headers=key | sent)
        assert r.status_code == 415, r.text
        assert r.json()["detail"] == f"the body was sent with {said}; send JSON with Content-Type: application/json"
        r = client.post("/api/v1/live", content=b'{"stream_id": "S-1"}', headers=key | sent)
        assert r.status_code == 415 and "send JSON" in r.json()["detail"], r.text
    r = client.post("/api/v1/reports", headers=key)  # no body at all: what is missing, not the header
    assert r.status_code == 422 and "body" in r.json()["detail"], r.text
    with db.reader() as s:
        assert s.scalar(select(Report.id)) is None
    r = client.post("/api/v1/reports", content=body, headers=key | {"content-type": "application/vnd.example+json"})
    assert r.status_code == 201, r.text
    chunks = iter([body[:20], body[20:]])  # no length known: sent chunked
    r = client.post(
        "/api/v1/reports",
        content=chunks,
        headers=key | {"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200 and r.json()["created"] is False, r.text  # the same report_id: the first report


def test_control_characters_are_removed_at_every_depth(client, db, platform):
    """NUL and other C0 controls are stripped from every string, in nested persons and identifiers, lists of
    plain strings and free dicts (a file's details) alike."""
    body = {
        "report_id": "ctl-1",
        "category": "child_sex_trafficking",
        "text": "he\x00llo\x07",
        "urls": ["https://exa\x00mple.org/x"],
        "reported_persons": [
            {"name": "Ma\x01ria", "identifiers": [{"kind": "phone", "value": "+63 917\x00 555 0101"}]}
        ],
        "files": [{"md5": "0" * 32, "details": {"no\x02te": ["a\x03b", {"deep": "c\x04d"}]}}],
    }
    r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text
    with db.reader() as s:
        row = s.get(Report, r.json()["id"])
        assert row is not None
        stored = repr((row.text, row.urls, row.persons, [a.details for a in row.attachments]))
    assert "hello" in stored and "Maria" in stored and "+63 917 555 0101" in stored and "exa" + "mple.org" in stored
    assert "{'note': ['ab', {'deep': 'cd'}]}" in stored
    assert not any(chr(c) in stored for c in range(1, 8)) and "\x00" not in stored


def test_an_empty_url_is_refused_with_its_place(client, db, platform):
    """A URL that is blank, or becomes blank once its control characters are gone, is refused (it would be
    an identifier of nothing), and the error names which one; the report is not stored."""
    for blank in ("", "   ", "\x00\x01"):
        body = {**REPORT, "report_id": f"blank-{blank!r}", "urls": ["https://example.org/a", blank]}
        r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key))
        assert r.status_code == 422, r.text
        assert "urls[1] is empty" in r.text
        with db.reader() as s:
            assert not [x for x in s.scalars(select(Report.external_id)) if x and x.startswith("blank-")]
    ok = client.post(
        "/api/v1/reports",
        json={**REPORT, "report_id": "spaced-url", "urls": ["  https://example.org/b  "]},
        headers=bearer(platform.api_key),
    )
    assert ok.status_code == 201, ok.text


def test_platform_auth(client, db, platform):
    assert client.post("/api/v1/reports", json=REPORT).status_code == 401
    assert client.post("/api/v1/reports", json=REPORT, headers=bearer("tlp_wrong")).status_code == 401
    other = accounts.create_platform(db, "OtherPlatform")
    rid = client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key)).json()["id"]
    assert client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(platform.api_key)).status_code == 200
    assert client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(other.api_key)).status_code == 404
    # the same report_id from another platform is another report
    r2 = client.post("/api/v1/reports", json=REPORT, headers=bearer(other.api_key))
    assert r2.status_code == 201 and r2.json()["id"] != rid


def test_staff_api_needs_a_staff_token(client, platform, analyst_token):
    assert client.get("/api/v1/queue").status_code == 401
    assert client.get("/api/v1/queue", headers=bearer(platform.api_key)).status_code == 401
    assert client.get("/api/v1/queue", headers=bearer(analyst_token)).status_code == 200


LIVE = {
    "stream_id": "S-77",
    "broadcaster": {"account": "den_cam_3", "ip": "198.51.100.23", "country": "PH"},
    "viewers": [{"account": "viewer_9"}, {"account": "viewer_10"}],
    "frame_hashes": [{"kind": "pdq", "hash": "f" * 64, "offset_ms": 1200}],
    "note": "panic button pressed by a moderator",
}


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        ("/api/v1/reports", {**REPORT, "incident_at": "9999-12-31T23:59:59-14:00"}, "incident_at", "out of range"),
        ("/api/v1/reports", {**REPORT, "incident_at": "0001-01-01T00:00:00+01:00"}, "incident_at", "out of range"),
        ("/api/v1/reports", {**REPORT, "incident_at": "2999-01-01T00:00:00Z"}, "incident_at", "in the future"),
        ("/api/v1/reports", {**REPORT, "incident_at": "1850-06-01T00:00:00Z"}, "incident_at", "before 1900"),
        (
            "/api/v1/reports",
            {**REPORT, "reported_persons": [{"ip_events": [{"ip": "203.0.113.9", "at": "9999-12-31T23:59:59-14:00"}]}]},
            "reported_persons.0.ip_events.0.at",
            "out of range",
        ),
        ("/api/v1/live", {**LIVE, "started_at": "9999-12-31T23:59:59-14:00"}, "started_at", "out of range"),
    ],
)
def test_a_date_out_of_range_is_refused_with_its_field(client, platform, path, body, field, words):
    """A date that cannot be written in UTC (it crashed the save), or one outside 1900..tomorrow, is refused
    with a message naming the field."""
    r = client.post(path, json=body, headers=bearer(platform.api_key))
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]] and words in r.text, r.json()


def test_nesting_too_deep_is_refused_not_a_crash(client, platform):
    """Free data (a file's details) nested hundreds of levels deep overflowed the control-character walk (a
    500); it is refused with the field and the limit."""
    deep: dict = {}
    cur = deep
    for _ in range(600):
        cur["a"] = {}
        cur = cur["a"]
    body = {**REPORT, "report_id": "deep", "files": [{"md5": "0" * 32, "details": deep}]}
    r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 422, r.text
    assert "files.0.details" in [e["field"] for e in r.json()["errors"]] and "64 levels" in r.text
    ok = {**REPORT, "report_id": "shallow", "files": [{"md5": "1" * 32, "details": {"a": {"b": [{"c": 1}]}}}]}
    assert client.post("/api/v1/reports", json=ok, headers=bearer(platform.api_key)).status_code == 201


def test_a_stream_id_too_long_for_the_report_id_is_refused_with_its_field(client, platform):
    """The press becomes the report "live:<stream_id>" (at most 200 characters): a 196-character id got a
    500 from inside the request (found by the fuzz test); now a 422 that names the field."""
    body = {"stream_id": "s" * 196, "broadcaster": {"account": "host"}}
    r = client.post("/api/v1/live", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 422 and "stream_id" in r.json()["detail"], r.text
    r = client.post("/api/v1/live", json=body | {"stream_id": "s" * 195}, headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text


def test_the_largest_press_and_report_each_door_accepts_are_stored(client, platform, analyst_token):
    """Every list at the most its door allows: the internal report holds it too. A press from a stream with 199 or
    more viewers failed inside the request (a 500: the report kept at most 200 persons) and was not stored."""
    viewers = [{"account": f"viewer_{i}", "ip": f"198.51.{i // 250}.{i % 250 + 1}"} for i in range(500)]
    frames = [{"kind": "pdq", "hash": f"{i:064x}", "offset_ms": i} for i in range(500)]
    press = {"stream_id": "s" * 195, "broadcaster": {"account": "host"}, "viewers": viewers, "frame_hashes": frames}
    key = bearer(platform.api_key)
    assert (
        client.post(
            "/api/v1/live", json=press | {"viewers": viewers + [{"account": "one_more"}]}, headers=key
        ).status_code
        == 422
    )
    r = client.post("/api/v1/live", json=press, headers=key)
    assert r.status_code == 201 and r.json()["priority"] == 1, r.text
    persons = [{"name": f"p{i}", "identifiers": [{"kind": "account", "value": f"acct{i}"}]} for i in range(200)]
    report = {
        **REPORT,
        "report_id": "largest",
        "reported_persons": persons,
        "victims": persons,
        "files": [{"md5": f"{i:032x}"} for i in range(1000)],
    }
    r = client.post("/api/v1/reports", json=report, headers=key)
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/reports/{r.json()['id']}", headers=bearer(analyst_token)).json()
    assert len(got["files"]) == 1000


def test_panic_button_opens_p1_on_top_of_queue(client, platform, analyst_token):
    client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key))
    r = client.post("/api/v1/live", json=LIVE, headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text
    live = r.json()
    assert live["priority"] == 1 and live["created"] is True
    assert client.post("/api/v1/live", json=LIVE, headers=bearer(platform.api_key)).json()["id"] == live["id"]
    q = client.get("/api/v1/queue", headers=bearer(analyst_token)).json()
    assert q["items"][0]["id"] == live["id"]
    got = client.get(f"/api/v1/reports/{live['id']}", headers=bearer(analyst_token)).json()
    assert got["is_live"] and got["category"] == "live_streamed_abuse"
    assert ("account", "examplechat/den_cam_3") in {(e["kind"], e["value"]) for e in got["entities"]}
    assert got["files"][0]["pdq"] == "f" * 64
    assert "live-abuse" in {x["rule"] for x in got["reasons"]}


def test_queue_filters_and_search(client, platform, analyst_token):
    client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key))
    other = {**REPORT, "report_id": "X2", "category": "other", "language": "it", "text": "annuncio sospetto"}
    client.post("/api/v1/reports", json=other, headers=bearer(platform.api_key))
    h = bearer(analyst_token)
    assert client.get("/api/v1/queue", headers=h).json()["total"] == 2
    assert client.get("/api/v1/queue?language=it", headers=h).json()["total"] == 1
    assert client.get("/api/v1/queue?category=other", headers=h).json()["total"] == 1
    assert client.get("/api/v1/queue?q=annuncio", headers=h).json()["total"] == 1
    assert client.get("/api/v1/queue?q=%2B639171234567", headers=h).json()["total"] == 1
    assert client.get("/api/v1/queue?q=ads-fake-board.com", headers=h).json()["total"] == 2
    assert client.get("/api/v1/queue?category=bogus", headers=h).status_code == 422


def test_assess_report_and_audit(client, db, platform, analyst_token):
    from tipline.store.models import AuditEvent

    rid = client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key)).json()["id"]
    h = bearer(analyst_token)
    r = client.patch(
        f"/api/v1/reports/{rid}",
        json={"status": "no_action", "classification": "not_illegal", "note": "checked"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["status"] == "no_action"
    assert client.get("/api/v1/queue", headers=h).json()["total"] == 0
    assert client.patch(f"/api/v1/reports/{rid}", json={"status": "closed"}, headers=h).status_code == 422
    client.get(f"/api/v1/reports/{rid}", headers=h)
    with db.reader() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "report.update" in actions and "report.view" in actions


def test_entity_endpoint(client, platform, analyst_token):
    client.post("/api/v1/reports", json=REPORT, headers=bearer(platform.api_key))
    client.post("/api/v1/reports", json={**REPORT, "report_id": "2"}, headers=bearer(platform.api_key))
    r = client.get("/api/v1/entities/phone/+639171234567", headers=bearer(analyst_token))
    assert r.status_code == 200 and r.json()["report_count"] == 2
    # the graph's facts come with it: the two reports share the phone, so it links them into one network
    graph = r.json()["graph"]
    assert graph["kind"] == "phone" and graph["value"] == "+639171234567" and graph["report_count"] == 2
    assert graph["excluded"] is False and graph["network_id"] is not None
    assert graph["touches_networks"] == [graph["network_id"]]
    r = client.get("/api/v1/entities/url/https://ads-fake-board.com/listing/991", headers=bearer(analyst_token))
    assert r.status_code == 200
    assert client.get("/api/v1/entities/phone/+10000", headers=bearer(analyst_token)).status_code == 404


def test_openapi_schema_lists_the_doors(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/reports", "/api/v1/live", "/api/v1/queue", "/api/v1/reports/{report_id}"} <= set(paths)


def test_concurrent_platform_reports_all_land_and_link(client, db, platform, analyst_token):
    """Many threads filing reports that share identifiers at once: every one is stored and analysed, and
    the network tables stay consistent (PostgreSQL runs these transactions truly in parallel)."""
    import threading

    from tipline.graph import service as graph_service

    statuses: list[int] = []

    def work(k: int) -> None:
        for i in range(6):
            body = {
                "report_id": f"c{k}-{i}",
                "category": "other",
                "country": "PH",
                "text": f"call 0917 555 01{i:02d} or @ring_{k % 2}_admin on telegram",
            }
            statuses.append(client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key)).status_code)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 36
    with db.reader() as s:
        assert s.scalar(select(Report.id).where(Report.analysed_at.is_(None)).limit(1)) is None

    def memberships():
        with db.reader() as s:
            from sqlalchemy import text as sql

            return sorted(s.execute(sql("SELECT report_id, network_id FROM graph_report_networks")).all())

    before = memberships()
    assert len(before) == 36
    graph_service.recompute(db, refresh=False)
    assert memberships() == before  # the incremental path under concurrency equals a full recompute
