"""Delivery of a referral: how, when and by whom it was sent, the agency's reference, and who there
acknowledged it; through the JSON API (SQLite and PostgreSQL), the staff page in a real browser, and the
command line; each one an audit event; the referral's state follows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from helpers import PASSWORD, bearer, events, needs_chromium, run, serve_app
from helpers import routing_report as a_report
from tipline.accounts import service as accounts
from tipline.routing import referral as ref
from tipline.settings import Settings


def _referral(client, db, token: str) -> dict:  # type: ignore[no-untyped-def]
    rid = a_report(db)
    r = client.post("/api/v1/referrals", json={"report_id": rid, "agency_id": "ph-iacat"}, headers=bearer(token))
    assert r.status_code == 201, r.text
    assert r.json()["delivery_state"] == "not_delivered" and r.json()["deliveries"] == []
    return r.json()


def test_api_records_deliveries_and_the_acknowledgement(client, db, analyst_token) -> None:  # type: ignore[no-untyped-def]
    made = _referral(client, db, analyst_token)
    url = f"/api/v1/referrals/{made['id']}"
    bad = client.post(f"{url}/deliveries", json={"method": "pigeon"}, headers=bearer(analyst_token))
    assert bad.status_code == 422 and "email, web_form" in bad.text
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    bad = client.post(f"{url}/deliveries", json={"method": "phone", "sent_at": future}, headers=bearer(analyst_token))
    assert bad.status_code == 422 and "future" in bad.text
    before = "2001-01-01T00:00:00+00:00"
    bad = client.post(f"{url}/deliveries", json={"method": "phone", "sent_at": before}, headers=bearer(analyst_token))
    assert bad.status_code == 422 and "before the referral" in bad.text
    assert (
        client.post(
            "/api/v1/referrals/99999/deliveries", json={"method": "email"}, headers=bearer(analyst_token)
        ).status_code
        == 404
    )
    assert client.post(f"{url}/deliveries", json={"method": "email"}).status_code == 401

    body = {"method": "web-form", "channel": "https://iacat.gov.ph", "reference": "IACAT-2025-0042", "sent_by": "Maria"}
    r = client.post(f"{url}/deliveries", json=body, headers=bearer(analyst_token))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["delivery_state"] == "awaiting_ack" and len(got["deliveries"]) == 1
    d = got["deliveries"][0]
    assert (d["method"], d["reference"], d["sent_by"], d["recorded_by"]) == (
        "web_form",
        "IACAT-2025-0042",
        "Maria",
        "user:ana",
    )
    r = client.post(f"{url}/deliveries", json={"method": "phone", "channel": "1343"}, headers=bearer(analyst_token))
    assert [x["method"] for x in r.json()["deliveries"]] == ["web_form", "phone"]
    assert r.json()["deliveries"][1]["sent_by"] == "user:ana"  # default: who records it

    a = client.post(f"{url}/ack", json={"note": "case 7", "by": "Duty officer Reyes"}, headers=bearer(analyst_token))
    assert a.status_code == 200
    assert a.json()["delivery_state"] == "acknowledged" and a.json()["ack_from"] == "Duty officer Reyes"
    listed = client.get(f"/api/v1/referrals?report_id={made['report_ids'][0]}", headers=bearer(analyst_token)).json()
    assert listed[0]["delivery_state"] == "acknowledged" and len(listed[0]["deliveries"]) == 2
    audit = events(db, "referral.delivery")
    assert len(audit) == 2 and {e.target_id for e in audit} == {str(made["id"])}
    assert len(events(db, "referral.ack")) == 1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    from tipline.web.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data"))
    db = app.state.db
    ana = accounts.create_user(db, "ana", "analyst", PASSWORD)
    rid = a_report(db, "D-1")
    out, _pkg = ref.create_referral(db, agency_id="us-ncmec", fmt="package", actor=ana, report_id=rid)
    with serve_app(app) as url:
        yield url, out.id


@pytest.mark.browser
@needs_chromium
def test_record_a_delivery_and_an_acknowledgement_in_the_browser(served, browser) -> None:  # type: ignore[no-untyped-def]
    server, referral_id = served
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/login?lang=en")
    page.fill("#f-name", "ana")
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/queue")

    page.goto(f"{server}/referrals/{referral_id}")
    assert page.locator("#delivery-state").get_attribute("data-state") == "not_delivered"
    assert page.locator("#delivery-state").inner_text() == "not yet delivered"
    page.select_option("#f-method", "cybertip_api")
    page.fill("#f-reference", "CT-123456789")
    page.fill("#f-channel", "https://report.cybertip.org")
    page.get_by_role("button", name="Record the delivery").click()
    page.wait_for_url(f"{server}/referrals/{referral_id}?delivered=1#delivery")
    assert page.locator("#delivery-state").inner_text() == "delivered, awaiting acknowledgement"
    step = page.locator(".delivery-timeline li[data-event=delivery]")
    assert step.count() == 1 and "CyberTipline API" in step.inner_text() and "CT-123456789" in step.inner_text()

    page.fill("#f-sent-at", "2001-01-01T10:00")  # before the referral: refused, said why
    page.get_by_role("button", name="Record the delivery").click()
    assert "before the referral was made" in page.locator("[data-field=sent_at]").inner_text()
    assert page.locator(".delivery-timeline li[data-event=delivery]").count() == 1

    page.fill("#f-note", "Received, their case 2025-77")
    page.fill("#f-ack-from", "NCMEC analyst on duty")
    page.get_by_role("button", name="Record the acknowledgement").click()
    page.wait_for_url(f"{server}/referrals/{referral_id}?acked=1")
    assert page.locator("#delivery-state").get_attribute("data-state") == "acknowledged"
    ack = page.locator(".delivery-timeline li[data-event=ack]")
    assert "NCMEC analyst on duty" in ack.inner_text()
    page.goto(f"{server}/referrals/{referral_id}?lang=it")
    assert page.locator("#delivery-state").inner_text() == "ricevuta confermata"
    assert not errors


@pytest.mark.slow
def test_cli_records_a_delivery_and_an_acknowledgement(tmp_path: Path) -> None:
    data = tmp_path / "data"
    xml = Path(__file__).parent / "data" / "cybertip" / "rich_report.xml"
    imported = run(["import", "cybertip", str(xml), "--json"], data).stdout.splitlines()[0]
    rid = json.loads(imported)["report_id"]
    made = json.loads(
        run(["refer", str(rid), "--to", "us-ncmec", "--out", str(tmp_path / "r.zip"), "--json"], data).stdout
    )
    bad = run(["referral-sent", str(made["id"]), "--how", "fax"], data, check=False)
    assert bad.returncode == 1 and "email, web_form" in bad.stderr
    sent = run(["referral-sent", str(made["id"]), "--how", "email", "--reference", "R-9", "--sender", "Maria"], data)
    assert "1 deliveries; awaiting_ack" in sent.stdout
    acked = run(["referral-ack", str(made["id"]), "--from", "Desk officer", "--note", "ok"], data)
    assert "acknowledged" in acked.stdout
    nope = run(["referral-sent", "999", "--how", "email"], data, check=False)
    assert nope.returncode == 1 and "no referral 999" in nope.stderr
