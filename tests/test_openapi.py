"""The served OpenAPI document as a partner reads it: valid OpenAPI (openapi-spec-validator), every ``$ref``
resolvable from the document root, security schemes declared and named by every operation that asks for
credentials, and the hash-query body of ``/api/v1/match`` usable by a client built only from the schema."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from helpers import bearer
from tipline.accounts import service as accounts
from tipline.web.app import create_app


@pytest.fixture
def served(sqlite_settings, sqlite_db):  # type: ignore[no-untyped-def]
    with TestClient(create_app(sqlite_settings, db=sqlite_db)) as c:
        yield c, sqlite_db


def _doc(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return out + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only references inside the document are expected"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (no {part!r})"
        node = node[part]
    return node


def _inline(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """The schema with every reference replaced by its target, as a generated client would see it."""
    assert depth < 20, "reference cycle"
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(doc, _pointer(doc, node["$ref"]), depth + 1)
        return {k: _inline(doc, v, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(doc, v, depth) for v in node]
    return node


def test_the_document_is_valid_openapi(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    validate(_doc(client))  # raises with the path of the first problem


def test_every_ref_resolves_from_the_root(served) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    doc = _doc(client)
    refs = _refs(doc)
    assert refs, "the document has references"
    for ref in set(refs):
        _pointer(doc, ref)
    assert "$defs" not in repr(doc["paths"])
    assert "HashQueryIn" in doc["components"]["schemas"]


def _path_of(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", template)


def test_operations_that_ask_for_credentials_declare_them(served) -> None:  # type: ignore[no-untyped-def]
    """Call every operation without credentials: each one that answers 401 names a declared scheme, and
    each operation that names a scheme answers 401 without one (the declaration follows the routes)."""
    client, _ = served
    doc = _doc(client)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["cyberTiplineBasic"]["scheme"] == "basic"
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "tipline_session"
    asked = 0
    for template, ops in doc["paths"].items():
        for method, op in ops.items():
            declared = [name for req in op.get("security", []) for name in req]
            assert all(name in schemes for name in declared), (method, template, declared)
            r = client.request(method.upper(), _path_of(template))
            if r.status_code == 401:
                asked += 1
                assert declared, f"{method.upper()} {template} answers 401 but declares no security"
                wanted = r.headers["www-authenticate"].split()[0].lower()
                assert any(schemes[n].get("scheme") == wanted for n in declared), (template, wanted, declared)
            else:
                assert not declared, f"{method.upper()} {template} declares {declared} but answered {r.status_code}"
    assert asked > 30


def test_a_client_built_from_the_schema_sends_hash_queries(served) -> None:  # type: ignore[no-untyped-def]
    client, db = served
    doc = _doc(client)
    op = doc["paths"]["/api/v1/match"]["post"]
    assert {"bearer": []} in op["security"]
    body_schema = _inline(doc, op["requestBody"]["content"]["application/json"]["schema"])
    item = body_schema["properties"]["hashes"]["items"]
    assert "md5" in item["properties"]["kind"]["enum"]
    body = {"hashes": [{"kind": "md5", "hash": "0" * 32}, {"kind": "pdq", "hash": "f" * 64}]}
    jsonschema.validate(body, body_schema)
    bad = copy.deepcopy(body)
    bad["hashes"][0]["kind"] = "crc32"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, body_schema)
    key = accounts.create_platform(db, "ExampleChat").api_key
    r = client.post("/api/v1/match", json=body, headers=bearer(key))
    assert r.status_code == 200, r.text
    out = r.json()
    jsonschema.validate(out, _inline(doc, op["responses"]["200"]["content"]["application/json"]["schema"]))
    assert [h["kind"] for h in out["hashes"]] == ["md5", "pdq"]
