"""The graph's API and staff pages, through the real app: networks, entity facts, Cytoscape elements, cases
(CRUD, timeline, feed, the open-case triage rule), the warning list (supervisors only), and the pages."""

from __future__ import annotations

import re
import time

import lxml.html
from fastapi.testclient import TestClient

from helpers import PASSWORD, bearer, full_token
from tipline.accounts import service as accounts
from tipline.graph import cases, service
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn
from tipline.store import Database

PHONE = "+639178142637"  # normal form of the number in the texts below


def report(db: Database, text: str, country: str = "PH") -> int:
    payload = {"category": "trafficking_advertisement", "text": text, "language": "en", "country": country}
    return intake.submit_report(db, PublicReportIn(**payload).to_report()).report_id


def den(db: Database) -> tuple[int, int, int]:
    a = report(db, "Ad for girls, call 0917 814 2637 or telegram @sunset_den77")
    b = report(db, "Same den again: 09178142637, payments by remittance")
    c = report(db, "Unrelated: a scam message from an unknown number +44 7911 123456", country="GB")
    return a, b, c


def login(client: TestClient, db: Database, name: str = "ana2", role: str = "analyst") -> str:
    """Log in through the form (analysts: supervisors need a second factor); returns the session's CSRF token."""
    accounts.create_user(db, name, role, PASSWORD)
    form = lxml.html.fromstring(client.get("/login").text)
    token = form.xpath("//input[@name='csrf_token']/@value")
    data = {"name": name, "password": PASSWORD, "csrf_token": token[0] if token else ""}
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/networks")
    token = lxml.html.fromstring(page.text).xpath("//input[@name='csrf_token']/@value")
    assert token
    return str(token[0])


def test_networks_entities_and_elements_api(client: TestClient, db: Database, analyst_token: str) -> None:
    a, b, c = den(db)
    h = bearer(analyst_token)
    nets = client.get("/api/v1/networks", headers=h).json()
    assert [n["id"] for n in nets] == [a]
    assert nets[0]["reports"] == 2 and "PH" in nets[0]["countries"] and nets[0]["entities"] >= 2
    view = client.get(f"/api/v1/networks/{a}", headers=h).json()
    assert {r["id"] for r in view["reports"]} == {a, b}
    assert view["highest_priority"] >= 1 and view["timeline"]
    assert client.get("/api/v1/networks/999999", headers=h).status_code == 404
    ent = client.get(f"/api/v1/graph/entities/phone/{PHONE}", headers=h).json()
    assert ent["network_id"] == a and ent["excluded"] is False and ent["report_count"] == 2
    assert [m["report_id"] for m in ent["mentions"]] == [b, a]
    el = client.get(f"/api/v1/graph/elements?report={c}", headers=h).json()["elements"]
    assert {e["data"]["id"] for e in el if e["group"] == "nodes"} >= {f"r{c}"}
    el = client.get(f"/api/v1/graph/elements?report={a}", headers=h).json()["elements"]
    nodes = {e["data"]["id"]: e["data"] for e in el if e["group"] == "nodes"}
    assert f"r{b}" in nodes and f"r{c}" not in nodes  # one hop through the shared phone
    phone_node = next(n for n in nodes.values() if n.get("kind") == "phone")
    expanded = client.get(f"/api/v1/graph/elements?node={phone_node['id']}", headers=h).json()["elements"]
    assert {f"r{a}", f"r{b}"} <= {e["data"]["id"] for e in expanded}
    assert client.get("/api/v1/graph/elements", headers=h).status_code == 422  # nothing asked for
    half = client.get("/api/v1/graph/elements?entity_kind=email", headers=h)
    assert half.status_code == 422 and "entity_value" in half.text
    # hostile ids and values: a 4xx, never a database error
    assert client.get("/api/v1/networks/100000000000000001", headers=h).status_code in (404, 422)
    assert client.get("/api/v1/graph/elements?node=e99999999999", headers=h).status_code in (404, 422)
    assert client.get("/api/v1/graph/entities/phone/a%00b", headers=h).status_code == 404
    bad_case = {"title": "x\u0000y", "report_ids": [a]}
    assert client.post("/api/v1/cases", headers=h, json=bad_case).status_code == 422
    assert client.get("/api/v1/networks").status_code == 401


def test_warning_list_api_is_for_supervisors(client: TestClient, db: Database, analyst_token: str) -> None:
    a, b, _c = den(db)
    body = {"kind": "phone", "value": "0917 814 2637", "reason": "our hotline's own test line"}
    assert client.post("/api/v1/exclusions", headers=bearer(analyst_token), json=body).status_code == 403
    accounts.create_user(db, "sup", "supervisor", PASSWORD)
    sup = bearer(full_token(db, "sup"))
    r = client.post("/api/v1/exclusions", headers=sup, json={**body, "value": PHONE})
    assert r.status_code == 201
    xid = r.json()["id"]
    ent = client.get(f"/api/v1/graph/entities/phone/{PHONE}", headers=sup).json()
    assert ent["excluded"] and ent["reason"] == "our hotline's own test line" and ent["excluded_by"] == "user:sup"
    assert ent["network_id"] is None and len(ent["mentions"]) == 2  # still listed, marked excluded
    # the den is still one network through its Telegram handle? only report a names it: now split
    nets = {n["id"] for n in client.get("/api/v1/networks", headers=sup).json()}
    assert a not in nets
    listed = client.get("/api/v1/exclusions", headers=sup).json()
    assert any(x["id"] == xid and x["added_by"] == "user:sup" for x in listed)
    assert any(x["builtin"] for x in listed)
    bad = client.post("/api/v1/exclusions", headers=sup, json={"kind": "phone", "pattern": "(", "reason": "x"})
    assert bad.status_code == 422
    assert client.delete(f"/api/v1/exclusions/{xid}", headers=sup).status_code == 204
    assert {n["id"] for n in client.get("/api/v1/networks", headers=sup).json()} == {a}
    limits = client.get("/api/v1/graph/limits", headers=sup).json()
    assert any(x["kind"] == "*" for x in limits)
    assert client.put("/api/v1/graph/limits/domain", headers=sup, json={"limit": 7}).status_code == 200
    assert any(
        x["kind"] == "domain" and x["source"] == "manual"
        for x in client.get("/api/v1/graph/limits", headers=sup).json()
    )


def test_a_warning_pattern_cannot_stall_analysis(client: TestClient, db: Database) -> None:
    """A naive pattern whose nested repetition makes Python's backtracking engine take minutes on a long
    address runs on RE2 (linear time): a report naming such an address is analysed at once. A pattern that
    only a backtracking engine can run (a back-reference) is refused with what to do instead."""
    accounts.create_user(db, "sup", "supervisor", PASSWORD)
    sup = bearer(full_token(db, "sup"))
    naive = {"kind": "email", "pattern": r"(\w+\.?)*@example\.org", "reason": "all of example.org"}
    assert client.post("/api/v1/exclusions", headers=sup, json=naive).status_code == 201
    t0 = time.perf_counter()
    rid = report(db, "write to " + "a" * 28 + "@example.com for the link")  # ~40 s on re, 4x per 2 more
    assert time.perf_counter() - t0 < 20, "the pattern backtracked"
    assert rid > 0
    kept = report(db, "and to ana.cruz@example.org")
    with db.reader() as s:
        assert service.guard_for(db, s).links("email", "ana.cruz@example.org", 2) is False
    assert kept > 0
    backref = {"kind": "phone", "pattern": r"\+\d*(\d)\1{6,}", "reason": "repeated digits"}
    r = client.post("/api/v1/exclusions", headers=sup, json=backref)
    assert r.status_code == 422 and "back-references" in r.text, r.text


def test_cases_crud_feed_and_triage(client: TestClient, db: Database, analyst_token: str) -> None:
    a, b, c = den(db)
    h = bearer(analyst_token)
    assert client.post("/api/v1/cases", headers=h, json={"title": "empty"}).status_code == 422
    r = client.post("/api/v1/cases", headers=h, json={"title": "Sunset den", "network_id": a, "tlp": "amber+strict"})
    assert r.status_code == 201
    cid = r.json()["id"]
    case = client.get(f"/api/v1/cases/{cid}", headers=h).json()
    assert {x["id"] for x in case["reports"]} == {a, b} and case["tlp"] == "amber+strict"
    assert case["countries"] and case["categories"][0]["category"] == "trafficking_advertisement"
    assert case["counts"]["reports"] == 2 and case["highest_priority"] is not None
    accounts.create_user(db, "ivy", "analyst", PASSWORD)
    patch = {"status": "in_progress", "assignee": "ivy", "tlp": "red", "title": "Sunset den (Manila)"}
    changes = client.patch(f"/api/v1/cases/{cid}", headers=h, json=patch).json()["changes"]
    assert set(changes) == {"status", "assignee", "tlp", "title"}
    assert client.patch(f"/api/v1/cases/{cid}", headers=h, json={"assignee": "nobody"}).status_code == 422
    assert client.post(f"/api/v1/cases/{cid}/reports", headers=h, json={"report_ids": [c]}).json() == {"added": 1}
    assert client.delete(f"/api/v1/cases/{cid}/reports/{c}", headers=h).status_code == 204
    assert client.post(f"/api/v1/cases/{cid}/notes", headers=h, json={"body": "Call the WCPC desk"}).status_code == 201

    # a new report naming the den's phone: the case's feed shows it and the open-case rule raises it
    d = report(db, "Saw the number 0917-814-2637 again in a new ad tonight")
    case = client.get(f"/api/v1/cases/{cid}", headers=h).json()
    assert [e["report_id"] for e in case["feed"]] == [d]
    full = client.get(f"/api/v1/reports/{d}", headers=h).json()
    rules = {x["rule"]: x for x in full["reasons"]}
    assert "open-case" in rules and f"case {cid}" in rules["open-case"]["detail"]
    assert full["priority"] <= 2
    kinds = [e["kind"] for e in case["events"]]
    for k in ("created", "status", "assignee", "tlp", "title", "report_added", "report_removed", "note", "feed"):
        assert k in kinds
    listed = client.get("/api/v1/cases?status=active", headers=h).json()
    assert listed[0]["id"] == cid and listed[0]["feed"] == 1 and listed[0]["assignee"] == "ivy"
    # a closed case raises nothing
    client.patch(f"/api/v1/cases/{cid}", headers=h, json={"status": "closed"})
    e = report(db, "And once more 09178142637")
    assert "open-case" not in {x["rule"] for x in client.get(f"/api/v1/reports/{e}", headers=h).json()["reasons"]}
    assert client.delete(f"/api/v1/cases/{cid}", headers=h).status_code == 403  # supervisors only
    assert client.get("/api/v1/cases/999", headers=h).status_code == 404


def test_pages(client: TestClient, db: Database) -> None:
    a, b, _c = den(db)
    csrf = login(client, db)
    html = client.get("/networks").text
    assert f'data-network-id="{a}"' in html
    page = lxml.html.fromstring(client.get(f"/networks/{a}").text)
    assert {int(x) for x in page.xpath("//table[@class='network-reports']//tr/@data-report-id")} == {a, b}
    assert page.xpath("//svg[@class='timeline-chart']")
    assert client.get("/networks/424242").status_code == 404
    r = client.get(f"/reports/{b}/network", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/networks/{a}"
    view = lxml.html.fromstring(client.get(f"/graph?report={b}").text)
    assert view.xpath("//div[@id='graph']/@data-src") == [f"/api/v1/graph/elements?report={b}"]
    assert view.xpath("//button[@id='expand-network']/@data-src") == [f"/api/v1/graph/elements?network={a}"]
    assert not view.xpath("//script[not(@src)]") and not re.search(
        r"\son[a-z]+=", client.get(f"/graph?report={b}").text
    )
    assert client.get("/graph").status_code == 404
    # create a case from the graph page's form
    r = client.post(
        "/cases", data={"csrf_token": csrf, "network_id": str(a), "title": "", "tlp": "green"}, follow_redirects=False
    )
    assert r.status_code == 303
    cid = int(r.headers["location"].split("/")[2].split("?")[0])
    page = lxml.html.fromstring(client.get(f"/cases/{cid}?created=1").text)
    assert page.xpath("string(//h1[@id='case-title'])").strip().endswith(f"Network {a}")
    assert {int(x) for x in page.xpath("//table[@class='case-reports']//tr/@data-report-id")} == {a, b}
    r = client.post(
        f"/cases/{cid}/update",
        data={"csrf_token": csrf, "status": "closed", "tlp": "red", "assignee": "ana2", "title": "Den"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.post(f"/cases/{cid}/notes", data={"csrf_token": "wrong", "body": "x"}).status_code == 403
    assert (
        client.post(
            f"/cases/{cid}/notes", data={"csrf_token": csrf, "body": "first note"}, follow_redirects=False
        ).status_code
        == 303
    )
    html = client.get(f"/cases/{cid}").text
    assert "first note" in html and "TLP:RED" in html
    assert f'data-case-id="{cid}"' in client.get("/cases?status=all").text
    # the warning list page (supervisors edit it: see the API test; their login needs a second factor)
    service.add_exclusion(db, "phone", value=PHONE, reason="test line", actor="user:sup")
    html = client.get("/exclusions").text
    assert "test line" in html and "tipline (built-in list)" in html
    ent = client.get(f"/graph/entities/phone/{PHONE}").text
    assert 'data-excluded="true"' in ent and "test line" in ent
    # Italian
    assert "Reti" in client.get("/networks?lang=it").text


def test_analysts_cannot_edit_the_warning_list_pages(client: TestClient, db: Database) -> None:
    csrf = login(client, db, "ana3", "analyst")
    assert "Add to the warning list" not in client.get("/exclusions").text
    r = client.post("/exclusions", data={"csrf_token": csrf, "kind": "phone", "value": PHONE, "reason": "x"})
    assert r.status_code == 403


def test_a_second_case_from_the_same_network_warns_and_links_the_first(client: TestClient, db: Database) -> None:
    a, b, _c = den(db)
    csrf = login(client, db)
    form = {"csrf_token": csrf, "network_id": str(a), "title": "", "tlp": "green"}
    first = client.post("/cases", data=form, follow_redirects=False)
    assert first.status_code == 303
    cid = int(first.headers["location"].split("/")[2].split("?")[0])
    again = client.post("/cases", data=form, follow_redirects=False)  # the same network, again
    assert again.status_code == 409
    page = lxml.html.fromstring(again.text)
    assert page.xpath("//ul[@id='existing-cases']//a/@href") == [f"/cases/{cid}"]
    assert len(cases.list_cases(db, status=None)) == 1
    # from a report of the same network too
    by_report = client.post("/cases", data={**form, "network_id": "", "report_id": str(b)}, follow_redirects=False)
    assert by_report.status_code == 409
    # asked for explicitly, a second case is made; a closed case does not count
    anyway = client.post("/cases", data={**form, "again": "yes"}, follow_redirects=False)
    assert anyway.status_code == 303 and len(cases.list_cases(db, status=None)) == 2
    for c in cases.list_cases(db, status=None):
        cases.update_case(db, c.id, "user:ana", status="closed")
    assert client.post("/cases", data=form, follow_redirects=False).status_code == 303
    assert "Esiste già un caso" in client.post("/cases?lang=it", data=form).text
