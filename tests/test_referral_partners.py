"""Referral documents read by partners' own tools, not ours: MISP events validated against the JSON schema
that pymisp ships (MISP's) and loaded by PyMISP with each object checked against its misp-objects
template; STIX bundles checked by the OASIS validator in strict mode, parsed by ``stix2`` and read by
``misp-stix``."""

from __future__ import annotations

import io
import json
import random
import zipfile
from importlib import resources

import jsonschema
import pytest

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PlatformReportIn
from tipline.routing import referral as ref
from tipline.synth.identifiers import eth_address, trx_address

RNG = random.Random(15)
ETH = eth_address(RNG)
TRX = trx_address(RNG)
TEXT = (
    "Live show from a room, pay first. Contact +63 917 123 4567 or https://rooms.example-live.com.ph/vip/a1 "
    f"or the host bad1.example.com. Pay in ETH to {ETH} or TRX to {TRX}."
)


@pytest.fixture
def ana(db):  # type: ignore[no-untyped-def]
    return accounts.create_user(db, "ana", "analyst", PASSWORD)


def _report(db, external_id: str = "R-1") -> int:  # type: ignore[no-untyped-def]
    body = {
        "report_id": external_id,
        "category": Category.LIVE_STREAMED_ABUSE,
        "text": TEXT,
        "language": "en",
        "country": "PH",
        "reported_persons": [
            {
                "name": "Rex Sample",
                "identifiers": [
                    {"kind": "phone", "value": "+639171234567"},
                    {"kind": "account", "value": "host_ops", "platform": "ExampleChat"},
                    {"kind": "account", "value": "host.insta", "platform": "Instagram"},
                    {"kind": "account", "value": "host_x", "platform": "X"},
                    {"kind": "account", "value": "host.fb", "platform": "Facebook"},
                    {"kind": "telegram", "value": "@host_ops_tg"},
                ],
                "country": "PH",
            }
        ],
        "urls": ["https://rooms.example-live.com.ph/vip/a1"],
        "files": [
            {"media_type": "image/jpeg", "size": 1234, "sha256": "a" * 64, "md5": "b" * 32, "pdq": "c" * 64},
        ],
    }
    return intake.submit_report(db, PlatformReportIn(**body).to_report(None)).report_id  # type: ignore[arg-type]


def _document(db, ana, fmt: str, name: str, **subject: int) -> bytes:  # type: ignore[no-untyped-def]
    _, pkg = ref.create_referral(db, agency_id="au-afp", fmt=fmt, actor=ana, **subject)
    with zipfile.ZipFile(io.BytesIO(pkg.data)) as z:
        return z.read(name)


# ------------------------------------------------------------------------------------------ MISP


def _misp_schema(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(resources.files("pymisp").joinpath("data", name).read_text("utf-8"))  # type: ignore[no-any-return]


def test_misp_event_is_valid_under_pymisp_schema_and_loads(db, ana):  # type: ignore[no-untyped-def]
    from pymisp import MISPEvent

    rid = _report(db)
    raw = json.loads(_document(db, ana, "misp", "misp/event.json", report_id=rid))
    assert set(raw) == {"Event"}  # importers read data["Event"]
    jsonschema.validate(raw, _misp_schema("schema-lax.json"))  # the one PyMISP loads with
    # the strict schema predates objects and event reports (it refuses any other key): the rest must pass
    # it, and the objects are checked against their own templates below
    bare = {k: v for k, v in raw["Event"].items() if k not in ("Object", "EventReport")}
    jsonschema.validate({"Event": bare}, _misp_schema("schema.json"))
    ev = MISPEvent()
    ev.load(raw)
    assert ev.info.startswith("tipline referral") and ev.objects
    for obj in ev.objects:  # each object against its misp-objects template (required fields, relations)
        assert obj._known_template, obj.name
        assert obj._validate(), obj.name
        for a in obj.attributes:
            assert a.object_relation in obj._definition["attributes"], (obj.name, a.object_relation)
            assert a.type == obj._definition["attributes"][a.object_relation]["misp-attribute"]


def _misp_objects(db, ana):  # type: ignore[no-untyped-def]
    from pymisp import MISPEvent

    ev = MISPEvent()
    ev.load(_document(db, ana, "misp", "misp/event.json", report_id=_report(db)).decode())
    return ev


def test_misp_account_type_comes_from_the_platform(db, ana):  # type: ignore[no-untyped-def]
    ev = _misp_objects(db, ana)
    accounts_ = {}
    for o in ev.objects:
        if o.name == "user-account":
            rel = {a.object_relation: a.value for a in o.attributes}
            accounts_[rel["username"]] = rel["account-type"]
    assert accounts_["host_ops"] == "examplechat"
    assert accounts_["host.insta"] == "instagram"
    assert accounts_["host_x"] == "twitter"  # MISP's suggested value for X
    assert accounts_["host.fb"] == "facebook"
    assert "unknown" not in accounts_.values()


def test_misp_eth_and_trx_are_not_btc(db, ana):  # type: ignore[no-untyped-def]
    ev = _misp_objects(db, ana)
    coins = {}
    for o in ev.objects:
        if o.name == "coin-address":
            rel = {a.object_relation: (a.type, a.value) for a in o.attributes}
            coins[rel["symbol"][1]] = rel
    assert set(coins) == {"ETH", "TRX"}
    assert coins["ETH"]["address-crypto"] == ("text", ETH)
    assert coins["TRX"]["address-crypto"] == ("text", TRX)
    btc_values = {a.value for a in ev.attributes if a.type == "btc"} | {
        a.value for o in ev.objects for a in o.attributes if a.type == "btc"
    }
    assert not btc_values & {ETH, TRX}
