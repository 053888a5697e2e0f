"""Referral packages: every format parsed back by its own library or validated by its schema, the manifest's
digests, the record (to whom, when, digest, acknowledgement), the report's status, data minimisation."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from sqlalchemy import select

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.extract import normalise
from tipline.intake import service as intake
from tipline.intake.schemas import Category, ContactIn, FileIn, PlatformReportIn, PublicReportIn
from tipline.reports import service as reports
from tipline.routing import referral as ref
from tipline.store.models import AuditEvent

TEXT = "Live show from a room, pay first. Contact +63 917 123 4567 or https://rooms.example-live.com.ph/vip/a1 now."


@pytest.fixture
def ana(db):  # type: ignore[no-untyped-def]
    return accounts.create_user(db, "ana", "analyst", PASSWORD)


def platform_report(db, **kw):  # type: ignore[no-untyped-def]
    body = {
        "report_id": kw.pop("external_id", "R-1"),
        "category": kw.pop("category", Category.LIVE_STREAMED_ABUSE),
        "text": kw.pop("text", TEXT),
        "language": "en",
        "country": "PH",
        "escalate": True,
        "reported_persons": [
            {
                "name": "Rex Sample",
                "identifiers": [
                    {"kind": "phone", "value": "+639171234567"},
                    {"kind": "account", "value": "host_ops", "platform": "ExampleChat"},
                    {"kind": "telegram", "value": "@host_ops_tg"},
                    {"kind": "email", "value": "host.ops@mail.example.net"},
                ],
                "ip_events": [{"ip": "8.8.8.8", "event": "Login", "at": "2025-06-15T05:29:00+00:00"}],
                "country": "PH",
            }
        ],
        "victims": [{"name": "Vee Victimname", "age": 11, "country": "PH"}],
        "urls": ["https://rooms.example-live.com.ph/vip/a1"],
        "files": [
            {"media_type": "image/jpeg", "size": 1234, "sha256": "a" * 64, "md5": "b" * 32, "pdq": "c" * 64},
        ],
        **kw,
    }
    return intake.submit_report(db, PlatformReportIn(**body).to_report(None)).report_id  # type: ignore[arg-type]


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return {n: z.read(n) for n in z.namelist()}


def check_manifest(files: dict[str, bytes]) -> dict:  # type: ignore[type-arg]
    manifest = json.loads(files["manifest.json"])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for name, f in listed.items():
        assert hashlib.sha256(files[name]).hexdigest() == f["sha256"] and len(files[name]) == f["size"]
    assert hashlib.sha256(manifest["sha256sum"].encode()).hexdigest() == manifest["content_sha256"]
    return manifest


# ------------------------------------------------------------------------------------------ formats


def test_package_json_pdf_and_manifest(db, ana):
    rid = platform_report(db)
    reports.get_report(db, rid, viewer=ana)  # a view, so that the audit extract shows who handled it
    out, pkg = ref.create_referral(db, agency_id="ph-picacc", fmt="package", actor=ana, report_id=rid)
    assert pkg.digest == hashlib.sha256(pkg.data).hexdigest() == out.digest
    files = unzip(pkg.data)
    assert set(files) == {"referral.json", "summary.pdf", "manifest.json", "README.txt"}
    manifest = check_manifest(files)
    doc = json.loads(files["referral.json"])
    assert doc["to"]["id"] == "ph-picacc" and doc["subject"] == {
        "type": "report",
        "id": rid,
        "title": doc["subject"]["title"],
    }
    assert doc["jurisdiction"][0]["country"] == "PH"
    [r] = doc["reports"]
    assert r["text"] == TEXT and r["urls"] == ["https://rooms.example-live.com.ph/vip/a1"]
    # every attachment's hashes, every identifier with where it was found, the audit extract
    assert manifest["attachments"][0]["sha256"] == "a" * 64 and manifest["attachments"][0]["pdq"] == "c" * 64
    phone = next(e for e in manifest["entities"] if e["kind"] == "phone")
    fields = {s["field"] for x in phone["reports"] for s in x["sources"]}
    assert fields == {"text", "persons[0].identifiers[0]"}
    assert [a["action"] for a in manifest["audit"]] == ["report.view"] and manifest["audit"][0]["actor"] == "user:ana"
    # the PDF is a PDF that a reader can read back
    pypdf = pytest.importorskip("pypdf")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(files["summary.pdf"])).pages)
    assert out.reference in text and "PICACC" in text
    assert "hxxps://rooms[.]example-live[.]com[.]ph" in text  # URLs defanged for people


def test_the_package_names_the_hotline_operator(db, ana):
    rid = platform_report(db)
    _, pkg = ref.create_referral(db, agency_id="ph-picacc", fmt="package", actor=ana, report_id=rid)
    assert json.loads(unzip(pkg.data)["referral.json"])["from"] == "tipline hotline"  # none configured
    db.settings.hotline_operator = "Example Hotline Association (synthetic)"
    _, pkg = ref.create_referral(db, agency_id="ph-picacc", fmt="package", actor=ana, report_id=rid)
    files = unzip(pkg.data)
    assert json.loads(files["referral.json"])["from"] == "Example Hotline Association (synthetic)"
    assert b"Example Hotline Association (synthetic) -> " in files["README.txt"]


def test_minimisation_no_contact_no_victim_name(db, ana):
    rid = intake.submit_report(
        db,
        PublicReportIn(
            category=Category.ONLINE_ENTICEMENT,
            text="a stranger keeps messaging my niece, phone +66 81 234 5678",
            country="TH",
            victim_age=13,
            contact=ContactIn(name="Rita Reporter", email="rita@example.org", phone="+39 333 1234567"),
        ).to_report(),
    ).report_id
    pid = platform_report(db, external_id="R-2")
    for subject in (rid, pid):
        _, pkg = ref.create_referral(db, agency_id="th-ticac", fmt="misp", actor=ana, report_id=subject)
        blob = b"".join(unzip(pkg.data).values())
        for secret in (b"Rita Reporter", b"rita@example.org", b"333 1234567", b"Victimname"):
            assert secret not in blob


def test_cybertip_xml_validates_and_parses_back(db, ana):
    from tipline.cybertip.parse import parse_report

    rid = platform_report(db)
    _, pkg = ref.create_referral(db, agency_id="us-ncmec", fmt="cybertip", actor=ana, report_id=rid)
    files = unzip(pkg.data)
    check_manifest(files)
    xml = files[f"cybertip/report-{rid}.xml"]
    back = parse_report(xml)  # XSD validation + safe parsing, as the /ispws door does
    assert back.category == Category.CHILD_SEX_TRAFFICKING  # live-streamed abuse maps to trafficking
    assert back.escalate is True
    assert back.urls == ["https://rooms.example-live.com.ph/vip/a1"]
    reported = next(p for p in back.persons if p.role == "reported")
    kinds = {(i.kind, normalise(i.kind, i.value) if i.kind == "phone" else i.value) for i in reported.identifiers}
    assert ("phone", "+639171234567") in kinds and ("account", "host_ops") in kinds
    assert reported.country == "PH" and reported.ip_events[0].ip == "8.8.8.8"
    victim = next(p for p in back.persons if p.role == "victim")
    assert victim.age == 11 and victim.name is None
    assert "telegram: @host_ops_tg" in back.text and TEXT in back.text


def test_cybertip_refuses_a_category_it_cannot_express(db, ana):
    rid = platform_report(db, category=Category.OTHER)
    with pytest.raises(ref.ReferralError, match="no CyberTipline incident type"):
        ref.create_referral(db, agency_id="us-ncmec", fmt="cybertip", actor=ana, report_id=rid)
    assert ref.list_referrals(db, report_id=rid) == []


def test_stix_bundle_parses_back(db, ana):
    import stix2

    rid = platform_report(db)
    _, pkg = ref.create_referral(db, agency_id="gb-nca", fmt="stix", actor=ana, report_id=rid)
    files = unzip(pkg.data)
    check_manifest(files)
    bundle = stix2.parse(files["stix/bundle.json"].decode(), allow_custom=False)
    by_type: dict[str, list] = {}  # type: ignore[type-arg]
    for o in bundle.objects:
        by_type.setdefault(o.type, []).append(o)
    assert {u.value for u in by_type["url"]} == {"https://rooms.example-live.com.ph/vip/a1"}
    assert {a.account_login for a in by_type["user-account"]} >= {"host_ops", "host_ops_tg"}
    assert by_type["file"][0].hashes["SHA-256"] == "a" * 64
    assert by_type["location"][0].country == "PH"
    [report] = by_type["report"]
    assert report.description == TEXT and stix2.TLP_AMBER.id in report.object_marking_refs
    assert by_type["phone-number"][0].value == "+639171234567"  # tipline's extension observable


def test_group_invites_go_to_partners_as_links_not_accounts(db, ana):
    import stix2
    from pymisp import MISPEvent

    text = TEXT + " Private group: t.me/joinchat/AbCdEf123xyz and discord.gg/Qw3rty9"
    rid = platform_report(db, text=text, external_id="R-inv")
    links = {"https://t.me/+AbCdEf123xyz", "https://discord.gg/Qw3rty9"}
    _, pkg = ref.create_referral(db, agency_id="gb-nca", fmt="stix", actor=ana, report_id=rid)
    bundle = stix2.parse(unzip(pkg.data)["stix/bundle.json"].decode(), allow_custom=False)
    assert links <= {o.value for o in bundle.objects if o.type == "url"}
    logins = {o.account_login for o in bundle.objects if o.type == "user-account"}
    assert not any("/" in login for login in logins)  # an invite code is no account's login
    _, pkg = ref.create_referral(db, agency_id="au-afp", fmt="misp", actor=ana, report_id=rid)
    ev = MISPEvent()
    ev.load(unzip(pkg.data)["misp/event.json"].decode())
    assert links <= {a.value for a in ev.attributes if a.type == "url"}
    usernames = {a.value for o in ev.objects for a in o.attributes if a.object_relation == "username"}
    assert not any("/" in u for u in usernames)


def test_misp_event_loads_back(db, ana):
    from pymisp import MISPEvent

    rid = platform_report(db)
    _, pkg = ref.create_referral(db, agency_id="au-afp", fmt="misp", actor=ana, report_id=rid)
    files = unzip(pkg.data)
    check_manifest(files)
    ev = MISPEvent()
    ev.load(files["misp/event.json"].decode())
    attrs = {(a.type, a.value) for a in ev.attributes}
    assert ("phone-number", "+639171234567") in attrs
    assert ("url", "https://rooms.example-live.com.ph/vip/a1") in attrs
    assert ("ip-src", "8.8.8.8") in attrs
    names = sorted(o.name for o in ev.objects)
    assert {"file", "geolocation", "telegram-account", "user-account"} <= set(names)
    f = next(o for o in ev.objects if o.name == "file")
    assert {a.object_relation: a.value for a in f.attributes}["sha256"] == "a" * 64
    assert "tlp:amber" in {t.name for t in ev.tags} and ev.distribution == 0


# ------------------------------------------------------------------------------------------ the record


def test_record_status_audit_download_and_ack(db, ana):
    rid = platform_report(db)
    out, pkg = ref.create_referral(db, agency_id="ph-pnp-wcpc", fmt="package", actor=ana, report_id=rid)
    assert reports.get_report(db, rid).status == "referred"
    got = ref.get_referral(db, out.id)
    assert (got.agency_id, got.format, got.digest, got.created_by) == ("ph-pnp-wcpc", "package", pkg.digest, "user:ana")
    assert got.acknowledged_at is None
    name, data, digest = ref.download(db, out.id, ana)
    assert data == pkg.data and digest == pkg.digest and name == f"{out.reference}.zip"
    acked = ref.acknowledge(db, out.id, ana, note="their case PH-2025-77")
    assert acked.acknowledged_at is not None and acked.ack_note == "their case PH-2025-77"
    with pytest.raises(ref.ReferralError):
        ref.acknowledge(db, out.id, ana, note="x" * 2001)
    with db.reader() as s:
        actions = [a for (a,) in s.execute(select(AuditEvent.action).order_by(AuditEvent.id))]
    assert {"referral.create", "report.update", "referral.download", "referral.ack"} <= set(actions)
    assert [r.id for r in ref.list_referrals(db, report_id=rid)] == [out.id]


def test_unknown_agency_format_or_subject(db, ana):
    rid = platform_report(db)
    with pytest.raises(ref.ReferralError, match="no agency"):
        ref.create_referral(db, agency_id="nowhere", fmt="package", actor=ana, report_id=rid)
    with pytest.raises(ref.ReferralError, match="unknown format"):
        ref.create_referral(db, agency_id="gb-nca", fmt="pdf", actor=ana, report_id=rid)
    with pytest.raises(intake.NotFound):
        ref.create_referral(db, agency_id="gb-nca", fmt="package", actor=ana, report_id=rid + 100)


def test_case_referral_is_the_union_of_its_reports(db, ana):
    from tipline.graph import cases

    a = platform_report(db, external_id="C-1")
    b = intake.submit_report(
        db,
        PublicReportIn(category=Category.TRAFFICKING_AD, text="ad with +66 81 234 5678", country="TH").to_report(),
    ).report_id
    case_id = cases.create_case(db, ana, title="Den network", report_ids={a, b}, tlp="red")
    cands = ref.case_jurisdiction(db, case_id)
    assert {c.country for c in cands} >= {"PH", "TH"}
    out, pkg = ref.create_referral(db, agency_id="int-interpol", fmt="stix", actor=ana, case_id=case_id)
    assert out.subject_type == "case" and sorted(out.report_ids) == sorted([a, b])
    files = unzip(pkg.data)
    doc = json.loads(files["referral.json"])
    assert sorted(r["id"] for r in doc["reports"]) == sorted([a, b]) and doc["tlp"] == "red"
    import stix2

    bundle = stix2.parse(files["stix/bundle.json"].decode(), allow_custom=False)
    assert [o for o in bundle.objects if o.type == "grouping"][0].name.startswith(f"tipline case {case_id}")
    assert all(reports.get_report(db, x).status == "referred" for x in (a, b))
    _, pkg2 = ref.create_referral(db, agency_id="us-ncmec", fmt="cybertip", actor=ana, case_id=case_id)
    assert {n for n in unzip(pkg2.data) if n.startswith("cybertip/")} == {
        f"cybertip/report-{a}.xml",
        f"cybertip/report-{b}.xml",
    }
    assert len(ref.list_referrals(db, case_id=case_id)) == 2


def test_files_known_by_hash_only_are_listed(db, ana):
    rid = platform_report(db, files=[FileIn(sha1="d" * 40, size=10).model_dump()])
    _, pkg = ref.create_referral(db, agency_id="gb-iwf", fmt="package", actor=ana, report_id=rid)
    manifest = json.loads(unzip(pkg.data)["manifest.json"])
    assert [f["sha1"] for f in manifest["attachments"]] == ["d" * 40]
