"""Evidence beyond reports: an ad, a payment or a partner's record that names the same phone as a report
joins the report's network (incrementally and in a full recompute), can bridge two networks, can be added
to a case, and is reached through the served app and the CLI."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import bearer, run
from tipline.evidence import service as evidence
from tipline.evidence.service import EvidenceIn
from tipline.graph import cases
from tipline.graph import service as graph
from tipline.graph.guard import load_guard
from tipline.graph.models import EntityNetwork, ReportNetwork
from tipline.graph.network import recompute_all
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn
from tipline.store import Database
from tipline.store.models import Entity

PHONE_A = "0917 814 2637"  # +639178142637
PHONE_B = "0918 555 0199"  # +639185550199


def report(db: Database, text: str) -> int:
    payload = {"category": "trafficking_advertisement", "text": text, "language": "en", "country": "PH"}
    return intake.submit_report(db, PublicReportIn(**payload).to_report()).report_id


def ad(external_id: str, text: str, **kw: object) -> EvidenceIn:
    return EvidenceIn(kind="ad", source="ads:synthetic-board", external_id=external_id, text=text, country="PH", **kw)


def _memberships(db: Database) -> tuple[dict[int, int], dict[int, int]]:
    with db.reader() as s:
        reports = {r: n for r, n in s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id))}
        entities = {e: n for e, n in s.execute(select(EntityNetwork.entity_id, EntityNetwork.network_id))}
    return reports, entities


def test_an_ad_sharing_a_phone_with_a_report_is_in_its_network_and_in_a_case(db: Database) -> None:
    rid = report(db, f"Girls offered, call {PHONE_A}")
    other = report(db, "Nothing to do with it: +44 7911 123456")
    vid = evidence.add_item(db, ad("ad-1", f"New girls every week. Call {PHONE_A}"), "analyst")
    item = evidence.get_item(db, vid)
    assert ("phone", "+639178142637") in {(e.kind, e.value) for e in item.entities}
    assert graph.network_id_of_evidence(db, vid) == graph.network_id_of_report(db, rid) == rid
    assert graph.network_id_of_report(db, other) == other

    cid = cases.create_case(db, "analyst", title="Board ads", report_ids={rid})
    assert cases.add_evidence(db, cid, {vid}, "analyst") == 1
    assert cases.add_evidence(db, cid, {vid}, "analyst") == 0  # already in it
    view = cases.get_case(db, cid)
    assert [(e["id"], e["kind"], e["external_id"]) for e in view.evidence] == [(vid, "ad", "ad-1")]
    assert "evidence_added" in {e["kind"] for e in view.events}


def test_an_item_bridges_two_networks_and_the_recompute_agrees(db: Database) -> None:
    r1 = report(db, f"Call {PHONE_A} for the girls")
    r2 = report(db, f"Another den, call {PHONE_B}")
    assert graph.network_id_of_report(db, r2) == r2
    vid = evidence.add_item(db, ad("ad-2", f"Two numbers: {PHONE_A} or {PHONE_B}"), "analyst")
    assert graph.network_id_of_report(db, r2) == r1 == graph.network_id_of_evidence(db, vid)
    incremental = _memberships(db)
    with db.session() as s:
        recompute_all(s, load_guard(s, db.settings))
    assert _memberships(db) == incremental
    # the same item again without the second number (an update: same source and id): the bridge is gone
    evidence.add_item(db, ad("ad-2", f"One number now: {PHONE_A}"), "analyst")
    assert graph.network_id_of_report(db, r2) == r2 and graph.network_id_of_report(db, r1) == r1


def test_an_item_alone_links_nothing_until_a_report_names_its_phone(db: Database) -> None:
    vid = evidence.add_item(
        db,
        EvidenceIn(kind="payment", source="psp:synthetic", external_id="tx-9", details={"payer_phone": PHONE_B}),
        "a",
    )
    assert graph.network_id_of_evidence(db, vid) is None
    assert [e.field for e in evidence.get_item(db, vid).entities] == ["details.payer_phone"]
    rid = report(db, f"Paid by {PHONE_B}")
    assert graph.network_id_of_evidence(db, vid) == rid


def test_a_report_naming_one_phone_of_an_item_alone_brings_in_its_other_phone(db: Database) -> None:
    """An item names two phones that no report named yet: the first report naming one of them takes the item
    and its other phone into its network, so a report naming the other phone joins that network, as in a full
    recompute."""
    vid = evidence.add_item(db, ad("ad-3", f"Two numbers: {PHONE_A} or {PHONE_B}"), "analyst")
    r1 = report(db, f"Call {PHONE_A} for the girls")
    r2 = report(db, f"Another den, call {PHONE_B}")
    assert graph.network_id_of_report(db, r2) == r1 == graph.network_id_of_evidence(db, vid)
    incremental = _memberships(db)
    with db.session() as s:
        recompute_all(s, load_guard(s, db.settings))
    assert _memberships(db) == incremental


def test_the_served_app_takes_evidence_and_adds_it_to_a_case(
    client: TestClient, db: Database, analyst_token: str
) -> None:
    h = bearer(analyst_token)
    rid = report(db, f"Call {PHONE_A}")
    body = {"kind": "partner_record", "source": "partner:ngo", "external_id": "p-1", "text": f"Seen: {PHONE_A}"}
    r = client.post("/api/v1/evidence", json=body, headers=h)
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    assert client.get(f"/api/v1/evidence/{vid}", headers=h).json()["entities"][0]["value"] == "+639178142637"
    assert client.get(f"/api/v1/evidence/{vid}/network", headers=h).json() == {"network_id": rid}
    case = client.post("/api/v1/cases", json={"title": "Partner lead", "report_ids": [rid]}, headers=h).json()
    assert client.post(f"/api/v1/cases/{case['id']}/evidence", json={"evidence_ids": [vid]}, headers=h).json() == {
        "added": 1
    }
    assert (
        client.post(f"/api/v1/cases/{case['id']}/evidence", json={"evidence_ids": [9999]}, headers=h).status_code == 404
    )
    assert [e["id"] for e in client.get(f"/api/v1/cases/{case['id']}", headers=h).json()["evidence"]] == [vid]
    bad = client.post("/api/v1/evidence", json={**body, "kind": "chat"}, headers=h)
    assert bad.status_code == 422 and "kind" in bad.json()["detail"]
    # the same source and external id again: the item is replaced, and the answer says so (200, not 201)
    again = client.post("/api/v1/evidence", json={**body, "text": f"Seen again: {PHONE_A}"}, headers=h)
    assert again.status_code == 200 and again.json()["id"] == vid, again.text
    assert client.post("/api/v1/evidence", json={**body, "country": "zz"}, headers=h).status_code == 422
    assert client.post("/api/v1/evidence", json=body).status_code == 401


def test_cli_imports_evidence_and_refuses_a_bad_file_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    good = {"kind": "ad", "source": "ads:board", "external_id": "1", "text": f"call {PHONE_A}", "country": "PH"}
    f = tmp_path / "items.jsonl"
    f.write_text(json.dumps(good) + "\n" + json.dumps({**good, "external_id": "2", "kind": "chat"}) + "\n")
    bad = run(["evidence", "import", str(f)], data, check=False)
    assert bad.returncode == 1 and "line 2" in bad.stderr and "nothing was stored" in bad.stderr
    f.write_text(json.dumps(good) + "\n")
    assert "stored 1 evidence items" in run(["evidence", "import", str(f)], data).stdout
    shown = json.loads(run(["evidence", "show", "1"], data).stdout)
    assert shown["external_id"] == "1" and shown["entities"][0]["value"] == "+639178142637"


def test_a_phone_in_many_ads_but_few_reports_stops_linking_an_ordinary_one_still_links(db: Database) -> None:
    support, ring = "0917 000 4411", PHONE_B  # a site's support number; one operation's phone
    graph.set_manual_limit(db, "phone", 20, "supervisor")  # what a busy installation derives (floor 20)
    r1 = report(db, f"The board says call {support} for help; the girl's number is {PHONE_A}")
    r2 = report(db, f"Another ad on the board, help line {support}")
    assert graph.network_id_of_report(db, r2) == r1  # two reports and no ads: the number links them
    for i in range(25):
        evidence.add_item(db, ad(f"ad-s{i}", f"Sweet girl number {i}. Help desk: {support}"), "analyst")
    # 2 reports + 25 ads = 27 > 20: the support number is infrastructure, the networks are apart again
    assert graph.network_id_of_report(db, r1) == r1 and graph.network_id_of_report(db, r2) == r2
    with db.reader() as s:
        ent = s.scalar(select(Entity).where(Entity.kind == "phone", Entity.value == "+639170004411"))
        assert ent is not None and (ent.report_count, ent.evidence_count, ent.degree) == (2, 25, 27)
        assert load_guard(s, db.settings).verdict("phone", ent.value, ent.degree).by == "degree"
    r3 = report(db, f"Call {ring} for the girls")
    vid = evidence.add_item(db, ad("ad-ring", f"New in town, call {ring}"), "analyst")
    r4 = report(db, f"Same number again: {ring}")
    assert graph.network_id_of_report(db, r4) == r3 == graph.network_id_of_evidence(db, vid)
    incremental = _memberships(db)
    with db.session() as s:
        recompute_all(s, load_guard(s, db.settings))
    assert _memberships(db) == incremental  # the full recompute counts the ads the same way
