"""Referral documents read by partners' own tools, not ours: MISP events validated against the JSON schema
that pymisp ships (MISP's) and loaded by PyMISP with each object checked against its misp-objects
template; STIX bundles checked by the OASIS validator in strict mode, parsed by ``stix2`` and read by
``misp-stix``."""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

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


# ------------------------------------------------------------------------------------------ STIX


def _case_bundle(db, ana) -> dict:  # type: ignore[no-untyped-def,type-arg]
    from tipline.graph import cases

    first, second = _report(db, "R-1"), _report(db, "R-2")  # the same file, phone and accounts in both
    case_id = cases.create_case(db, ana, title="two rooms", report_ids={first, second})
    return json.loads(_document(db, ana, "stix", "stix/bundle.json", case_id=case_id))


def _strict(bundle: dict) -> None:  # type: ignore[type-arg]
    from stix2validator import ValidationOptions, validate_string

    result = validate_string(json.dumps(bundle), ValidationOptions(strict=True, version="2.1"))
    problems = [str(e) for e in [*(result.errors or []), *(result.warnings or [])]]
    assert result.is_valid and not problems, problems


def test_stix_case_bundle_is_strictly_valid_and_parses(db, ana):  # type: ignore[no-untyped-def]
    import stix2

    import tipline.routing.stix_ext  # noqa: F401 - registers tipline's observables with stix2

    bundle = _case_bundle(db, ana)
    _strict(bundle)
    parsed = stix2.parse(json.dumps(bundle), allow_custom=False)
    ids = [o.id for o in parsed.objects]
    assert len(ids) == len(set(ids)), "an object is in the bundle twice"
    types = [o["type"] for o in bundle["objects"]]
    assert types.count("file") == 1 and types.count("report") == 2 and types.count("phone-number") == 1


def test_stix_phones_and_pdq_are_extension_observables(db, ana):  # type: ignore[no-untyped-def]
    bundle = _case_bundle(db, ana)
    by_type: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for o in bundle["objects"]:
        by_type.setdefault(o["type"], []).append(o)
    assert "note" not in by_type or all("+639171234567" not in n["content"] for n in by_type["note"])
    [phone] = by_type["phone-number"]
    assert phone["value"] == "+639171234567" and phone["country_code"] == "PH"
    [pdq] = by_type["pdq-hash"]
    assert pdq["value"] == "c" * 64 and pdq["file_ref"] == by_type["file"][0]["id"]
    definitions = {d["id"]: d for d in by_type["extension-definition"]}
    for obj, schema_file in ((phone, "phone-number"), (pdq, "pdq-hash")):
        [(ext_id, ext)] = obj["extensions"].items()
        assert ext == {"extension_type": "new-sco"}
        shipped = resources.files("tipline.routing").joinpath("stix", f"{schema_file}.schema.json").read_text()
        assert definitions[ext_id]["schema"] == shipped  # the definition carries the schema in the package
        jsonschema.validate(obj, json.loads(shipped))
    creator = definitions[next(iter(definitions))]["created_by_ref"]
    assert creator in {o["id"] for o in by_type["identity"]}
    for report in by_type["report"]:
        assert phone["id"] in report["object_refs"] and pdq["id"] in report["object_refs"]


def test_stix_account_types_from_the_vocabulary_else_the_platform_extension(db, ana):  # type: ignore[no-untyped-def]
    from tipline.routing import stix_ext

    bundle = _case_bundle(db, ana)
    platform_schema = json.loads(stix_ext.schema_text(stix_ext.ACCOUNT_PLATFORM))
    accounts_ = {}
    for o in bundle["objects"]:
        if o["type"] == "user-account":
            ext = (o.get("extensions") or {}).get(stix_ext.ACCOUNT_PLATFORM.id)
            if ext is not None:
                jsonschema.validate(ext, platform_schema)
            accounts_[o["account_login"]] = (o.get("account_type"), ext and ext["platform"])
    assert accounts_["host.fb"] == ("facebook", None)
    assert accounts_["host_x"] == ("twitter", None)
    assert accounts_["host.insta"] == (None, "instagram")  # account-type-ov has no value for it
    assert accounts_["host_ops"] == (None, "examplechat")
    assert accounts_["host_ops_tg"] == (None, "telegram")


def test_stix_identity_is_stable_per_installation(db, ana):  # type: ignore[no-untyped-def]
    rid = _report(db)
    bundles = [json.loads(_document(db, ana, "stix", "stix/bundle.json", report_id=rid)) for _ in range(2)]
    hotlines = [
        [o for o in b["objects"] if o["type"] == "identity" and o["name"] != "tipline project"] for b in bundles
    ]
    assert len(hotlines[0]) == 1 and hotlines[0] == hotlines[1]  # same id, created and modified
    reports = [next(o for o in b["objects"] if o["type"] == "report") for b in bundles]
    assert reports[0]["created_by_ref"] == reports[1]["created_by_ref"] == hotlines[0][0]["id"]


_MISP_STIX = """
import json, sys, warnings
warnings.simplefilter("ignore")
from misp_stix_converter import stix_2_to_misp
result = stix_2_to_misp(sys.argv[1], single_event=True, output_dir=sys.argv[2])
print(json.dumps(result, default=str))
"""


def test_misp_stix_reads_the_bundle(db, ana, tmp_path):  # type: ignore[no-untyped-def]
    """MISP's own converter (misp-stix, STIX 2.1 -> MISP): the standard observables arrive as MISP objects
    and attributes, and nothing travels as a note any more. misp-stix runs in a process of its own: its
    STIX 1 dependencies (mixbox) install an import hook that breaks later imports in this process.
    tipline's extension observables are not read by misp-stix (it reports their types as unknown)."""
    from pymisp import MISPEvent

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(_case_bundle(db, ana)))
    p = subprocess.run(
        [sys.executable, "-c", _MISP_STIX, str(path), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["success"] == 1, result
    ev = MISPEvent()
    ev.load(Path(result["results"][0]).read_text())
    values = {a.value for a in ev.attributes} | {a.value for o in ev.objects for a in o.attributes}
    assert "https://rooms.example-live.com.ph/vip/a1" in values
    assert {"host.fb", "host_x", "host_ops"} <= values
    assert "a" * 64 in values  # the file's SHA-256
    # what misp-stix 2026.10 does not read (the report objects themselves: it makes the event from them)
    said = " ".join(e for errs in result.get("errors", {}).values() for e in errs)
    unknown = set(re.findall(r"STIX object type: ([a-z0-9-]+)", said))
    assert unknown <= {"phone-number", "pdq-hash", "report", "note"}, said


# ------------------------------------------------------------------------------------------ CyberTipline XML


def test_cybertip_xml_has_one_reported_person_and_carries_the_others(db, ana):  # type: ignore[no-untyped-def]
    """The schema's note says 0 or 1 personOrUserReported and clients (ncmec-go) keep one: the first
    reported person is that one, whole; the other reported persons are in the report's additionalInfo,
    viewers of a stream are intendedRecipients."""
    from lxml import etree

    from tipline.cybertip.parse import parse_report
    from tipline.intake.schemas import PersonIn

    body = {
        "report_id": "R-3",
        "category": Category.LIVE_STREAMED_ABUSE,
        "text": "Two hosts run the room.",
        "reported_persons": [
            {
                "name": "Rex Sample",
                "identifiers": [{"kind": "account", "value": "host_one", "platform": "ExampleChat"}],
                "country": "PH",
            },
            {
                "name": "Rita Sample",
                "identifiers": [
                    {"kind": "account", "value": "host_two", "platform": "OtherCam"},
                    {"kind": "email", "value": "host.two@mail.example.net"},
                ],
                "ip_events": [{"ip": "8.8.4.4", "event": "Login"}],
            },
        ],
    }
    report = PlatformReportIn(**body).to_report(None)  # type: ignore[arg-type]
    viewer = PersonIn(role="viewer", identifiers=[{"kind": "account", "value": "watcher_9", "platform": "ExampleChat"}])
    report = report.model_copy(update={"persons": [*report.persons, viewer]})
    rid = intake.submit_report(db, report).report_id
    xml = _document(db, ana, "cybertip", f"cybertip/report-{rid}.xml", report_id=rid)
    root = etree.fromstring(xml)
    [reported] = root.findall("personOrUserReported")
    assert reported.findtext("screenName") == "host_one" and reported.findtext("espService") == "ExampleChat"
    assert reported.findtext("estimatedLocation/countryCode") == "PH"
    assert "1 other reported person" in reported.findtext("additionalInfo")
    [recipient] = root.findall("intendedRecipient")
    assert recipient.findtext("screenName") == "watcher_9"
    info = root.findtext("additionalInfo")
    assert "Reported person 2 (reported person)" in info
    for value in ("host_two", "host.two@mail.example.net", "8.8.4.4"):
        assert value in info
    back = parse_report(xml)  # still valid against the XSD and read by our own door
    assert [p for p in back.persons if p.role == "reported"][0].identifiers[0].value == "host_one"
