"""Staff pages (login, queue, report, entity) against the real app on SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import PASSWORD, _csrf, bearer, css, login, page, prime_csrf, public, receipt_of, text_of  # noqa: F401 (_csrf: autouse)
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, ContactIn, Status
from tipline.reports import service as reports
from tipline.settings import Settings
from tipline.store.models import AuditEvent, Report
from tipline.web.app import SESSION_COOKIE, create_app


def csrf_of(client) -> str:  # type: ignore[no-untyped-def]
    doc = page(client.get("/queue"))
    return css(doc, "form[action='/logout'] input[name=csrf_token]")[0].get("value")


def queue_ids(client, query: str = "") -> list[int]:  # type: ignore[no-untyped-def]
    r = client.get("/queue" + query)
    assert r.status_code == 200, r.text
    return [int(tr.get("data-report-id")) for tr in css(page(r), "table.queue tbody tr")]


# ------------------------------------------------------------------------------------------ access


def test_anonymous_visitor_is_sent_to_login_and_back(client, db, ana):
    rid = public(db, text="a report")
    for path in ("/queue", f"/reports/{rid}", "/entities/phone/%2B393331234567", "/queue?status=referred"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=" + quote(path, safe="")
    r = client.post(f"/reports/{rid}/assess", data={"status": "referred"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=%2Freports%2F{rid}"

    doc = page(client.get(f"/login?next=/reports/{rid}"))
    assert css(doc, "input[name=next]")[0].get("value") == f"/reports/{rid}"
    r = login(client, next=f"/reports/{rid}")
    assert r.status_code == 303 and r.headers["location"] == f"/reports/{rid}"


def test_login_cookie_flags_and_logout_with_csrf(client, db, ana):
    r = login(client)
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=strict"} <= flags
    assert "secure" not in flags

    doc = page(client.get("/queue"))
    who = css(doc, ".who")[0]
    assert text_of(css(who, ".user-name")[0]) == "ana"
    assert text_of(css(who, ".user-role")[0]) == "Analyst"
    assert css(doc, "nav.lang-switch a")

    r = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200

    r = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.clear()
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_secure_cookie_when_configured(tmp_path, sqlite_db):
    settings = Settings(data_dir=sqlite_db.settings.data_dir, session_cookie_secure=True)
    accounts.create_user(sqlite_db, "ana", "analyst", PASSWORD)
    # a Secure cookie travels over HTTPS only
    with TestClient(create_app(settings, db=sqlite_db), base_url="https://testserver") as c:
        prime_csrf(c)
        r = login(c)
        assert "secure" in {p.strip().lower() for p in r.headers["set-cookie"].split(";")}


@pytest.mark.parametrize(
    ("name", "password"), [("ana", "wrong password!"), ("nobody", PASSWORD), ("", ""), ("ana\x00", PASSWORD)]
)
def test_wrong_login_is_401_with_one_generic_message(client, ana, name, password):
    r = login(client, name, password)
    assert r.status_code == 401
    assert text_of(page(r).get_element_by_id("error-summary")) == "Wrong name or password."
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(client, ana, target):
    r = login(client, next=target)
    assert r.status_code == 303 and r.headers["location"] == "/queue"


def test_a_principal_without_staff_role_gets_a_403_page(client, db):
    platform_user = accounts.create_user(db, "pl", "platform", PASSWORD)
    cookie, _token = accounts.open_session(db, platform_user)
    client.cookies.set(SESSION_COOKIE, cookie)
    r = client.get("/queue")
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert css(page(r), "p.error-message")


def test_csrf_is_required_on_every_staff_form(client, db, ana):
    rid = public(db, text="a report", contact=ContactIn(email="r@example.org"))
    login(client)
    forms = [
        (f"/reports/{rid}/assess", {"status": "referred", "note": "x"}),
        (f"/reports/{rid}/message", {"body": "hello"}),
        (f"/reports/{rid}/reveal-contact", {}),
    ]
    for action, data in forms:
        for token in (None, "", "forged-token"):
            body = dict(data) if token is None else {**data, "csrf_token": token}
            r = client.post(action, data=body, follow_redirects=False)
            assert r.status_code == 403, action
            assert "expired" in text_of(css(page(r), "p.error-message")[0])
    got = reports.get_report(db, rid)
    assert got.status == Status.NEW
    extras = reports.report_extras(db, rid, ana)
    assert extras.notes == [] and extras.followups == []
    with db.reader() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "report.contact.view")) is None
    # every staff form on the pages carries the token
    doc = page(client.get(f"/reports/{rid}"))
    for form in css(doc, "form[method=post]"):
        assert css(form, "input[name=csrf_token]"), form.get("action")


# ------------------------------------------------------------------------------------------ queue


def test_queue_puts_a_live_report_above_an_older_ordinary_one(client, db, ana):
    ordinary = public(db, text="an ordinary report about an ad")
    live = public(db, Category.LIVE_STREAMED_ABUSE, text="a child on a stream", is_live=True)
    login(client)
    assert queue_ids(client) == [live, ordinary]
    doc = page(client.get("/queue"))
    rows = css(doc, "table.queue tbody tr")
    assert text_of(css(rows[0], ".badge")[0]) == "P1" and "p1" in css(rows[0], ".badge")[0].get("class")
    reasons = [text_of(li) for li in css(rows[0], "ul.reasons li")]
    assert "Abuse reported as live or ongoing" in reasons
    assert css(rows[0], f"a[href='/reports/{live}']")
    assert text_of(css(rows[0], "time")[0]).endswith("ago")


def test_queue_filters(client, db, platform, ana):
    a = public(db, Category.SEXTORTION, text="threats", language="it", country="IT")
    b = public(db, Category.OTHER, text="other thing", language="en", country="PH")
    c = client.post(
        "/api/v1/reports",
        headers=bearer(platform.api_key),
        json={"report_id": "P-1", "category": "other", "text": "platform report", "language": "en"},
    ).json()["id"]
    d = public(db, Category.OTHER, text="a referred one", language="en")
    reports.update_report(db, d, ana, status=Status.REFERRED)
    login(client)
    assert set(queue_ids(client)) == {a, b, c}
    assert queue_ids(client, "?category=sextortion") == [a]
    assert queue_ids(client, "?language=it") == [a]
    assert set(queue_ids(client, "?source=platform")) == {c}
    assert set(queue_ids(client, "?source=public")) == {a, b}
    assert queue_ids(client, "?status=referred") == [d]
    assert queue_ids(client, "?country=PH") == [b]
    assert queue_ids(client, "?country=ph") == [b]
    assert queue_ids(client, "?category=other&source=public") == [b]
    # unknown values are ignored, not errors
    assert set(queue_ids(client, "?category=nope&status=nope&country=XX&page=abc")) == {a, b, c}
    assert set(queue_ids(client, "?page=%C2%B3&language=" + quote("\u00b3"))) == {a, b, c}
    # the form shows the filters in force
    doc = page(client.get("/queue?category=sextortion&q=threats"))
    assert css(doc, "#f-category option[selected]")[0].get("value") == "sextortion"
    assert css(doc, "#f-q")[0].get("value") == "threats"
    assert {o.get("value") for o in css(doc, "#f-language option")} == {"", "en", "it"}


def test_search_box_finds_a_word_and_a_phone_in_e164(client, db, ana):
    hit = public(db, text="The seller rides a turquoise bicycle; call 333 123 4567 for shows", country="IT")
    public(db, text="Nothing to see: a different report about a bicycle shop", country="IT")
    public(db, text="A third report with no match")
    login(client)
    assert queue_ids(client, "?q=turquoise") == [hit]
    assert queue_ids(client, "?q=" + quote("+393331234567")) == [hit]
    assert queue_ids(client, "?q=nomatchword") == []
    r = client.get("/queue?q=" + quote('"unbalanced AND ( NEAR'))
    assert r.status_code == 200


def test_queue_paginates(client, db, ana, monkeypatch):
    import tipline.web.pages_staff as pages_staff

    monkeypatch.setattr(pages_staff, "PAGE_SIZE", 2)
    ids = [public(db, text=f"report {i}") for i in range(5)]
    login(client)
    assert queue_ids(client) == ids[:2]
    assert queue_ids(client, "?page=3") == ids[4:]
    doc = page(client.get("/queue?page=2"))
    assert {a.get("rel") for a in css(doc, "nav.pagination a")} == {"prev", "next"}


def test_staff_pages_in_italian(client, db, ana):
    login(client)
    doc = page(client.get("/queue?lang=it"))
    assert doc.get("lang") == "it"
    assert text_of(doc.xpath("//h1")[0]) == "Coda di triage"
    assert text_of(css(doc, ".user-role")[0]) == "Analista"


# ------------------------------------------------------------------------------------------ report


def test_report_page_shows_reasons_entities_and_defanged_urls(client, db, platform, ana):
    body = {
        "report_id": "R-9",
        "category": "child_sex_trafficking",
        "escalate": True,
        "language": "en",
        "country": "PH",
        "text": "Seller offers shows; contact +63 917 123 4567 or https://ads.example.com/listing/1",
        "urls": ["https://ads.example.com/listing/1"],
        "victims": [{"age": 11}],
        "reported_persons": [{"identifiers": [{"kind": "account", "value": "Seller_01", "platform": "ExampleChat"}]}],
        "files": [{"filename": "explicit-name.jpg", "md5": "0" * 32, "sha256": "a" * 64, "media_type": "image/jpeg"}],
    }
    rid = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key)).json()["id"]
    login(client)
    r = client.get(f"/reports/{rid}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    doc = page(r)
    rules = {tr.get("data-rule"): tr for tr in css(doc, "#reasons tbody tr")}
    assert {"young-child", "platform-escalation"} <= set(rules)
    assert text_of(rules["young-child"].xpath("td")[1]) == "40"
    links = {a.get("href") for a in css(doc, "#entities a.entity-link")}
    assert "/entities/phone/%2B639171234567" in links
    assert "/entities/account/examplechat%2Fseller_01" in links
    # no live link to the reported material anywhere, no media element at all
    assert not [a for a in doc.iter("a") if (a.get("href") or "").startswith(("http:", "https:", "//"))]
    assert not doc.xpath("//img | //video | //audio | //iframe | //object | //embed")
    assert "hxxps://ads[.]example[.]com/listing/1" in [text_of(c) for c in css(doc, "ul.urls code")]
    assert "https://ads.example.com" not in text_of(css(doc, ".report-text")[0])
    hashes = [text_of(c) for c in css(doc, "dl.hashes code")]
    assert hashes == ["0" * 32, "a" * 64]
    assert css(doc, "details.filename")[0].get("open") is None
    # a platform report has no receipt: no message form
    assert not css(doc, f"form[action='/reports/{rid}/message']")
    with db.reader() as s:
        assert (
            s.scalar(select(AuditEvent.id).where(AuditEvent.action == "report.view", AuditEvent.target_id == str(rid)))
            is not None
        )


def test_unknown_report_is_a_404_page(client, ana):
    login(client)
    r = client.get("/reports/999999")
    assert r.status_code == 404 and css(page(r), "p.error-message")


def test_assess_changes_status_and_no_action_leaves_the_queue(client, db, ana):
    rid = public(db, text="to be assessed")
    login(client)
    token = csrf_of(client)
    r = client.post(
        f"/reports/{rid}/assess",
        follow_redirects=False,
        data={
            "csrf_token": token,
            "status": "in_review",
            "classification": "not_illegal",
            "age_band": "adult",
            "note": "Checked: an adult performer.",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/reports/{rid}?saved=1"
    doc = page(client.get(r.headers["location"]))
    assert css(doc, ".flash")
    assert css(doc, "#f-status option[selected]")[0].get("value") == "in_review"
    assert css(doc, "#f-classification option[selected]")[0].get("value") == "not_illegal"
    assert [text_of(n) for n in css(doc, "ol.notes .msg-body")] == ["Checked: an adult performer."]
    assert queue_ids(client) == [rid]

    client.post(f"/reports/{rid}/assess", data={"csrf_token": token, "status": "no_action"})
    assert reports.get_report(db, rid).status == Status.NO_ACTION
    assert queue_ids(client) == []
    assert queue_ids(client, "?status=no_action") == [rid]

    r = client.post(f"/reports/{rid}/assess", data={"csrf_token": token, "status": "bogus"})
    assert r.status_code == 422
    assert css(page(r), "p.field-error[data-field=status]")


def test_reporter_and_analyst_exchange_messages(client, db, ana):
    receipt = receipt_of(client.post("/report", data={"category": "other", "text": "first report text"}))
    rid = intake.report_for_receipt(db, receipt)
    client.post("/followup/message", data={"receipt": receipt, "body": "More: the handle is @example_seller"})
    login(client)
    doc = page(client.get(f"/reports/{rid}"))
    assert [text_of(m) for m in css(doc, "#messages .msg-reporter .msg-body")] == [
        "More: the handle is @example_seller"
    ]
    token = csrf_of(client)
    r = client.post(
        f"/reports/{rid}/message", data={"csrf_token": token, "body": "Thank you. Which app?"}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(f"/reports/{rid}/message", data={"csrf_token": token, "body": "  "})
    assert r.status_code == 422 and css(page(r), "p.field-error[data-field=message]")
    client.cookies.delete(SESSION_COOKIE)
    doc = page(client.post("/followup", data={"receipt": receipt}))
    assert [text_of(m) for m in css(doc, ".msg-staff .msg-body")] == ["Thank you. Which app?"]


def test_contact_is_hidden_until_revealed_and_the_reveal_is_audited(client, db, ana):
    rid = public(db, text="with contact", contact=ContactIn(email="reporter@example.org", name="R."))
    login(client)
    r = client.get(f"/reports/{rid}")
    assert "reporter@example.org" not in r.text
    doc = page(r)
    token = css(css(doc, "#contact")[0], "input[name=csrf_token]")[0].get("value")
    r = client.post(f"/reports/{rid}/reveal-contact", data={"csrf_token": token})
    assert r.status_code == 200
    assert "reporter@example.org" in [text_of(dd) for dd in css(page(r), "dl.contact-details dd")]
    with db.reader() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "report.contact.view"))
        assert event is not None and event.actor == "user:ana" and event.target_id == str(rid)
        assert "reporter@example.org" not in repr(event.details)


# ------------------------------------------------------------------------------------------ entity


def test_entity_page_lists_both_reports_that_share_a_phone(client, db, ana):
    first = public(db, text="Ad for shows, call +39 333 123 4567, telegram @example_handle", country="IT")
    second = public(db, text="Another ad, WhatsApp 333 1234567", country="IT")
    login(client)
    doc = page(client.get(f"/reports/{second}"))
    href = "/entities/phone/%2B393331234567"
    assert href in {a.get("href") for a in css(doc, "#entities a.entity-link")}
    r = client.get(href)
    assert r.status_code == 200
    doc = page(r)
    assert text_of(css(doc, "h1.entity-value")[0]) == "+393331234567"
    rows = {int(tr.get("data-report-id")): tr for tr in css(doc, "table.entity-reports tbody tr")}
    assert set(rows) == {first, second}
    assert "text" in text_of(rows[first].xpath("td")[-1])
    co = [text_of(a) for a in css(doc, "table.co-occurring a.entity-link")]
    assert any("example_handle" in v for v in co)
    assert client.get("/entities/phone/%2B10000000000").status_code == 404
    assert client.get("/entities/phone/x%00y").status_code == 404


def test_entity_values_with_slashes_round_trip(client, db, platform, ana):
    client.post(
        "/api/v1/reports",
        headers=bearer(platform.api_key),
        json={
            "report_id": "S-1",
            "category": "other",
            "urls": ["https://host.example.com/a/b?c=1"],
            "reported_persons": [{"identifiers": [{"kind": "account", "value": "a/b", "platform": "x"}]}],
        },
    )
    login(client)
    with db.reader() as s:
        rid = s.scalar(select(Report.id))
    doc = page(client.get(f"/reports/{rid}"))
    hrefs = [a.get("href") for a in css(doc, "#entities a.entity-link")]
    assert hrefs
    for href in hrefs:
        r = client.get(href)
        assert r.status_code == 200, href
