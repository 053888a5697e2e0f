"""Issue 13 through the served app: form fields that hold identifiers become identifiers, and one
platform typed two ways is one account. Made-up names only."""

from __future__ import annotations

from helpers import bearer, prime_csrf, receipt_of, submit
from tipline.intake import service as intake
from tipline.reports import service as reports


def _entities(db, receipt: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    got = reports.get_report(db, intake.report_for_receipt(db, receipt))
    return {(e.kind, e.value) for e in got.entities}


def test_live_stream_link_field_becomes_identifiers(client, db):
    prime_csrf(client)
    r = submit(client, "live_streamed_abuse", live_url="https://www.tiktok.com/@mia_bella22/live")
    found = _entities(db, receipt_of(r))
    assert ("url", "https://www.tiktok.com/@mia_bella22/live") in found
    assert ("account", "tiktok/mia_bella22") in found
    r = submit(client, "live_streamed_abuse", live_url="https://cam.example.com/room/55")
    found = _entities(db, receipt_of(r))
    assert {("url", "https://cam.example.com/room/55"), ("domain", "example.com")} <= found


def test_ad_contact_field_with_a_bare_handle_is_an_account(client, db):
    prime_csrf(client)
    r = submit(client, "trafficking_advertisement", ad_contact="sweetpinay_live23")
    assert ("account", "unknown/sweetpinay_live23") in _entities(db, receipt_of(r))


def test_one_platform_typed_two_ways_is_one_account(client, platform, analyst_token):
    base = {"category": "online_enticement", "country": "PH", "language": "en", "text": "they stream shows"}
    ids = []
    for n, typed in enumerate(("CamChatLive (videochat)", "CamChatLive", "CamChat Live")):
        body = dict(
            base,
            report_id=f"CCL-{n}",
            reported_persons=[{"identifiers": [{"kind": "account", "value": "Den_Host_7", "platform": typed}]}],
        )
        r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for rid in ids:
        got = client.get(f"/api/v1/reports/{rid}", headers=bearer(analyst_token)).json()
        accounts = {e["value"] for e in got["entities"] if e["kind"] == "account"}
        assert accounts == {"camchatlive/den_host_7"}
    # the third report sees the two earlier ones through that one account
    got = client.get(f"/api/v1/reports/{ids[2]}", headers=bearer(analyst_token)).json()
    assert any("camchatlive/den_host_7" in str(x) for x in got["reasons"]), got["reasons"]


def test_bare_handle_takes_the_platform_the_report_is_about(client, db):
    prime_csrf(client)
    r = submit(
        client,
        "live_streamed_abuse",
        live_platform="CamChatLive (videochat)",
        text="She streams every night as @sweetpinay_live23, please help.",
    )
    found = _entities(db, receipt_of(r))
    assert ("account", "camchatlive/sweetpinay_live23") in found
    assert not any(v.startswith("unknown/") for k, v in found if k == "account")
