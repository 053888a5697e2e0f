"""A JSON key sent twice in one object is refused at every door that reads a partner's JSON, with the key
named, instead of being read last-wins (a validator in front of tipline could have read the other value)."""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from helpers import bearer
from tipline import strict_json
from tipline.ads.parse import AdIn, BadLine, read_lines
from tipline.media import banks
from tipline.media.banks import BankImportError
from tipline.store.models import Report
from tipline.webkit.kit import JSONRoute

TWICE = (
    b'{"report_id": "dup-1", "category": "other", "text": "first",\n'
    b' "reported_persons": [{"name": "a", "country": "PH", "country": "IT"}],\n'
    b' "text": "second"}'
)


def test_loads_names_the_key_and_points_at_its_second_place() -> None:
    with pytest.raises(json.JSONDecodeError) as ei:
        strict_json.loads(TWICE)
    e = ei.value
    # the inner object is closed first, so its repeated key is the one named
    assert "'country' appears twice in one object" in e.msg
    assert TWICE.decode()[e.pos :].startswith('"country": "IT"') and e.lineno == 2
    with pytest.raises(json.JSONDecodeError, match="'a' appears twice"):
        strict_json.loads('[{"b": 1}, {"a": 1, "b": 2, "a": 3}]')
    # keys that differ only once decoded are the same key
    with pytest.raises(json.JSONDecodeError, match="'é' appears twice"):
        strict_json.loads('{"é": 1, "\\u00e9": 2}')
    # UTF-16 bytes are read as json.loads reads them
    assert strict_json.loads('{"a": [1, {"b": null}]}'.encode("utf-16")) == {"a": [1, {"b": None}]}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )
)
def test_loads_reads_what_json_dumps_wrote(value: object) -> None:
    text = json.dumps(value)
    assert strict_json.loads(text) == json.loads(text)
    assert strict_json.loads(text.encode()) == json.loads(text)


def test_the_api_refuses_a_repeated_key_and_stores_nothing(client, db, platform) -> None:
    h = bearer(platform.api_key) | {"content-type": "application/json"}
    r = client.post("/api/v1/reports", content=TWICE, headers=h)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail == "invalid input: body: the key 'country' appears twice in one object: send each key once", detail
    top = b'{"report_id": "dup-2", "category": "other", "report_id": "dup-3"}'
    r = client.post("/api/v1/reports", content=top, headers=h)
    assert r.status_code == 422 and "'report_id' appears twice" in r.json()["detail"], r.text
    # the panic button too, sent with a JSON media type that has a suffix
    live = b'{"stream_id": "s-1", "stream_id": "s-2"}'
    vnd = bearer(platform.api_key) | {"content-type": "application/vnd.example+json"}
    r = client.post("/api/v1/live", content=live, headers=vnd)
    assert r.status_code == 422 and "'stream_id' appears twice" in r.json()["detail"], r.text
    with db.reader() as s:
        assert s.scalar(select(func.count(Report.id))) == 0
    # the same report without the repeat is taken
    r = client.post("/api/v1/reports", content=TWICE.replace(b', "country": "IT"', b""), headers=h)
    assert r.status_code == 422 and "'text' appears twice" in r.json()["detail"]
    fixed = TWICE.replace(b', "country": "IT"', b"").replace(b',\n "text": "second"', b"")
    assert client.post("/api/v1/reports", content=fixed, headers=h).status_code == 201
    # the hash look-up reads its body itself (JSON or a file): the same refusal
    r = client.post("/api/v1/match", content=b'{"hashes": [], "hashes": [{"kind": "md5"}]}', headers=h)
    assert r.status_code == 422 and "'hashes' appears twice" in r.json()["detail"], r.text


def test_every_route_of_the_served_app_that_takes_a_body_reads_json_strictly(app) -> None:
    """A router made without ``route_class=JSONRoute`` (or PageRoute) would read last-wins again."""

    def walk(routes: list[object]) -> list[APIRoute]:
        out: list[APIRoute] = []
        for r in routes:
            if isinstance(r, APIRoute):
                out.append(r)
            elif (included := getattr(r, "original_router", None)) is not None:  # FastAPI >= 0.16x keeps routers
                out.extend(walk(included.routes))
        return out

    with_body = [r for r in walk(app.routes) if r.body_field is not None]
    assert len(with_body) > 20
    loose = [f"{sorted(r.methods)} {r.path}" for r in with_body if not isinstance(r, JSONRoute)]
    assert loose == []


def test_an_ads_line_with_a_repeated_key_is_named() -> None:
    ad = '{"ad_id": "1", "posted_at": "2025-01-01T10:00:00Z", "site": "A.test", "text": "x"'
    out = list(read_lines(f'{ad}}}\n{ad}, "ad_id": "2"}}\n'.encode(), "jsonl"))
    assert isinstance(out[0][1], AdIn)
    bad = out[1][1]
    assert isinstance(bad, BadLine) and bad.line == 2 and "'ad_id' appears twice" in bad.error, bad


def test_a_hash_bank_line_with_a_repeated_key_is_named(db) -> None:
    banks.create_bank(db, "strict-json")
    body = (
        b'{"kind": "md5", "hash": "' + b"0" * 32 + b'"}\n{"kind": "md5", "hash": "1", "hash": "' + b"1" * 32 + b'"}\n'
    )
    with pytest.raises(BankImportError) as ei:
        banks.import_file(db, "strict-json", body, fmt="jsonl")
    assert "'hash' appears twice" in dict(ei.value.errors)[2], ei.value.errors
