"""Public pages (report form, receipt, follow-up) against the real app on SQLite and PostgreSQL.

Pages are parsed with lxml and checked element by element, not by substring alone.
"""

from __future__ import annotations

import re

import lxml.html
import pytest
from sqlalchemy import select, text

from helpers import MINIMAL, _csrf, css, page, receipt_of, submit, text_of  # noqa: F401 (_csrf: autouse)
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Status
from tipline.reports import service as reports
from tipline.store.models import AuditEvent, FollowUp, Report
from tipline.web.pages_public import INCIDENT_TYPES, TYPES_BY_CATEGORY

EN_LEGEND = "What do you want to report?"
IT_LEGEND = "Che cosa vuoi segnalare?"

# the smallest valid answers for each incident type


def legend(doc: lxml.html.HtmlElement) -> str:
    return text_of(doc.get_element_by_id("f-category").find("legend"))


# ------------------------------------------------------------------------------------------ pages


def test_landing_page_links_to_report_followup_and_login(client):
    r = client.get("/")
    assert r.status_code == 200
    hrefs = {a.get("href") for a in page(r).iter("a")}
    assert {"/report", "/followup", "/login"} <= hrefs


def test_form_in_english_then_italian_by_switch_cookie_and_header(client):
    doc = page(client.get("/report"))
    assert doc.get("lang") == "en"
    assert legend(doc).startswith(EN_LEGEND)
    assert text_of(css(doc, "label[for=f-text]")[0]) == "What happened?"

    r = client.get("/report?lang=it")
    doc = page(r)
    assert doc.get("lang") == "it"
    assert legend(doc).startswith(IT_LEGEND)
    assert text_of(css(doc, "label[for=f-text]")[0]) == "Che cosa è successo?"
    assert "tipline_lang=it" in r.headers["set-cookie"]
    # the switch is remembered by the cookie
    assert page(client.get("/report")).get("lang") == "it"
    assert page(client.get("/report?lang=en")).get("lang") == "en"
    assert page(client.get("/report")).get("lang") == "en"

    client.cookies.clear()
    doc = page(client.get("/report", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.8"}))
    assert doc.get("lang") == "it" and legend(doc).startswith(IT_LEGEND)
    doc = page(client.get("/report", headers={"Accept-Language": "de-DE,de;q=0.9"}))
    assert doc.get("lang") == "en"
    # the language switch links to this page in each language
    links = {a.get("hreflang"): a.get("href") for a in css(doc, "nav.lang-switch a")}
    assert links == {"en": "/report?lang=en", "it": "/report?lang=it"}


def test_form_takes_no_files_says_why_and_runs_no_inline_script(client):
    r = client.get("/report")
    doc = page(r)
    form = doc.get_element_by_id("report-form")
    assert form.get("method") == "post" and form.get("enctype") in (None, "application/x-www-form-urlencoded")
    assert not css(doc, "input[type=file]")
    notice = text_of(doc.get_element_by_id("no-files"))
    assert "no files" in notice and "crime" in notice and "URL" in notice
    for script in doc.iter("script"):
        assert script.get("src", "").startswith("/static/"), "inline or third-party script"
        assert not (script.text or "").strip()
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        assert not [a for a in el.attrib if a.startswith("on")], f"event handler attribute on <{el.tag}>"
        assert "style" not in el.attrib, f"inline style on <{el.tag}>"
        for attr in ("src", "href", "action"):
            value = el.get(attr)
            if value is not None and el.get("id") != "quick-exit":  # the quick exit leaves, on purpose
                assert value.startswith(("/", "#")), f"third-party or absolute {attr}={value!r}"
    # contact is optional and collapsed, the rest of the form asks no identity
    assert css(doc, "details.contact") and css(doc, "details.contact")[0].get("open") is None
    assert not css(doc, "details.contact input[required]")


@pytest.mark.parametrize("itype", INCIDENT_TYPES, ids=lambda t: t.category.value)
def test_each_type_has_its_questions_as_a_fragment_and_marked_without_js(client, itype):
    r = client.get(f"/report/questions?category={itype.category.value}")
    assert r.status_code == 200
    frag = lxml.html.fragment_fromstring(r.text, create_parent="div")
    groups = css(frag, "fieldset.qgroup")
    assert [g.get("data-category") for g in groups] == [itype.category.value]
    assert "current" in groups[0].get("class")
    names = {el.get("name") for el in css(groups[0], "input, textarea, select")}
    assert names == {itype.field(q) for q in itype.questions}
    for q in itype.questions:
        assert css(frag, f"label[for=f-{itype.field(q)}]") or q.kind == "yesno"

    # without JavaScript the whole page shows every type's questions, the chosen one marked
    doc = page(client.get(f"/report?category={itype.category.value}"))
    groups = css(doc, "#questions fieldset.qgroup")
    assert len(groups) == len(INCIDENT_TYPES)
    assert [g.get("data-category") for g in groups if "current" in g.get("class")] == [itype.category.value]
    radio = css(doc, f"input[name=category][value={itype.category.value}]")[0]
    assert radio.get("checked") is not None
    assert radio.get("hx-get") == "/report/questions"


def test_questions_fragment_in_italian_and_for_unknown_type(client):
    frag = lxml.html.fragment_fromstring(
        client.get("/report/questions?category=sextortion&lang=it").text, create_parent="div"
    )
    assert "Chiede denaro?" in text_of(frag)
    frag = lxml.html.fragment_fromstring(client.get("/report/questions?category=nope").text, create_parent="div")
    assert len(css(frag, "fieldset.qgroup")) == len(INCIDENT_TYPES)


# ------------------------------------------------------------------------------------------ submit


@pytest.mark.parametrize("category", list(MINIMAL))
def test_submit_each_type_gives_a_receipt_once_that_finds_the_report(client, db, category):
    r = submit(client, category)
    assert r.status_code == 200 and [h.status_code for h in r.history] == [303], r.text
    assert r.headers["cache-control"] == "no-store"
    shown = receipt_of(r)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", shown)
    rid = intake.report_for_receipt(db, shown)
    assert rid is not None
    doc = page(r)
    assert "/followup" in {a.get("href") for a in doc.iter("a")}
    assert not css(doc, "nav.lang-switch"), "switching language would lose the receipt"
    got = reports.get_report(db, rid)
    assert got.category.value == category
    assert got.source.value == "public"
    assert got.language == "en"
    itype = TYPES_BY_CATEGORY[category]
    answers = got.details.get("answers", {})
    for q in itype.questions:
        raw = MINIMAL[category].get(itype.field(q))
        if raw and q.kind not in ("url", "urls"):
            assert answers[q.key] == raw
        if raw and q.kind in ("url", "urls"):
            assert raw.split() == [u for u in got.urls if u in raw.split()]


def test_live_answers_make_a_live_report_with_the_account(client, db):
    r = submit(
        client,
        "live_streamed_abuse",
        text="They stream from a room, a girl about 10.",
        victim_age="10",
        country="ph",
        live_seen_at="2024-05-01T21:30",
        live_url="https://cam.example.com/room/55",
    )
    rid = intake.report_for_receipt(db, receipt_of(r))
    got = reports.get_report(db, rid)
    assert got.is_live is True
    assert got.priority == 1
    assert got.country == "PH"
    assert got.urls == ["https://cam.example.com/room/55"]
    assert got.details["answers"]["seen_at"] == "2024-05-01T21:30"
    roles = {p["role"] for p in got.persons}
    assert roles == {"victim", "broadcaster"}
    assert ("account", "examplecam/darkroom_x") in {(e.kind, e.value) for e in got.entities}
    assert "account: darkroom_x" in got.text


def test_ad_contact_goes_into_the_text_so_extraction_finds_the_phone(client, db):
    r = submit(client, "trafficking_advertisement")
    got = reports.get_report(db, intake.report_for_receipt(db, receipt_of(r)))
    assert "contact: +39 333 123 4567" in got.text
    assert ("phone", "+393331234567") in {(e.kind, e.value) for e in got.entities}
    assert got.urls == ["https://ads.example.org/listing/77"]
    assert got.details["answers"]["city"] == "Milano"


def test_contact_is_optional_and_sealed(client, db):
    r = submit(client, "other", contact_email="someone@example.org")
    rid = intake.report_for_receipt(db, receipt_of(r))
    with db.reader() as s:
        assert s.get(Report, rid).contact_sealed == '{"email":"someone@example.org"}'
        raw = s.execute(text("SELECT contact_sealed FROM reports WHERE id = :id"), {"id": rid}).scalar_one()
        assert b"someone@example.org" not in bytes(raw)
    r = submit(client, "other")
    with db.reader() as s:
        assert s.get(Report, intake.report_for_receipt(db, receipt_of(r))).contact_sealed is None


def test_no_ip_address_is_stored(client, db):
    # TestClient's peer address is "testclient"; nothing of it may reach the database
    r = submit(client, "other")
    rid = intake.report_for_receipt(db, receipt_of(r))
    with db.reader() as s:
        row = s.get(Report, rid)
        stored = repr([getattr(row, c.key) for c in Report.__table__.columns])
        audit = repr([(a.actor, a.details) for a in s.scalars(select(AuditEvent))])
    assert "testclient" not in stored and "testclient" not in audit


@pytest.mark.parametrize(
    ("fields", "field", "label"),
    [
        ({"category": ""}, "category", EN_LEGEND),
        ({"category": "other", "text": "x" * 20_001}, "text", "What happened?"),
        ({"category": "other", "text": "ok", "victim_age": "300"}, "victim_age", "Age of the child or victim"),
        ({"category": "other", "text": "ok", "victim_age": "-1"}, "victim_age", "Age of the child or victim"),
        ({"category": "other", "text": "ok", "country": "XX"}, "country", "Country"),
        ({"category": "other", "text": "ok", "contact_email": "not-an-address"}, "contact_email", "E-mail"),
        ({"category": "child_sexual_abuse_material"}, "material_urls", "Web address (URL) where you saw it"),
        (
            {"category": "child_sexual_abuse_material", "material_urls": "just words"},
            "material_urls",
            "Web address (URL) where you saw it",
        ),
        ({"category": "live_streamed_abuse"}, "live_account", "Name of the account that streams or sells the show"),
        ({"category": "other"}, "text", "What happened?"),
        ({"category": "child_sex_tourism", "text": "a category the form does not offer"}, "category", EN_LEGEND),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_field(client, db, fields, field, label):
    r = client.post("/report", data=fields)
    assert r.status_code == 422, r.text
    doc = page(r)
    error = css(doc, f"p.field-error[data-field={field}]")
    assert error and text_of(error[0])
    summary = css(doc, f"#error-summary a[data-field={field}]")
    assert summary and text_of(summary[0]).startswith(label)
    assert summary[0].get("href") == f"#f-{field}"
    control = doc.get_element_by_id(f"f-{field}")
    assert control.get("aria-invalid") == "true" or control.tag == "fieldset"
    # what the reporter typed is kept
    for name, value in fields.items():
        if name == "category" or not value:
            continue
        el = css(doc, f"[name={name}]")[0]
        kept = el.text if el.tag == "textarea" else el.value
        assert (kept or "") == value or el.tag == "select"
    with db.reader() as s:
        assert s.scalar(select(Report.id)) is None


def test_errors_are_in_the_page_language(client):
    r = client.post("/report?lang=it", data={"category": "other", "text": "ok", "victim_age": "300"})
    assert r.status_code == 422
    error = css(page(r), "p.field-error[data-field=victim_age]")[0]
    assert text_of(error) == "Indica l'età con un numero da 0 a 120 (va bene «circa 10»), oppure lascia vuoto."


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"category": "other", "text": "ok", "victim_age": "1e3"},
        {"category": "other", "text": "ok", "victim_age": "\u00b3"},
        {"category": "other", "text": "ok", "live_account": "x" * 5000, "surprise": "1"},
        {"category": "other" * 1000},
        {"category": "child_sexual_abuse_material", "material_urls": " ".join(["https://x.example/a"] * 60)},
        {"category": "live_streamed_abuse", "live_seen_at": "yesterday", "live_account": "a"},
        {"category": "trafficking_advertisement", "ad_url": "https://ads.example/" + "a" * 3000},
        {"category": "sextortion", "sextortion_money": "maybe", "sextortion_account": "\x00\x01"},
    ],
)
def test_odd_input_never_breaks_the_page(client, data):
    r = client.post("/report", data=data)
    assert r.status_code in (200, 422), r.text
    assert page(r).get("lang") == "en"


def test_a_file_sent_anyway_is_ignored_never_stored(client, db):
    r = client.post(
        "/report",
        data={"category": "other", "text": "see the attachment"},
        files={"upload": ("x.jpg", b"\xff\xd8 placeholder bytes", "image/jpeg")},
    )
    assert r.status_code == 200
    got = reports.get_report(db, intake.report_for_receipt(db, receipt_of(r)))
    assert got.files == []


# ------------------------------------------------------------------------------------------ follow-up


def test_followup_shows_status_and_messages_and_takes_more_information(client, db, analyst_token):
    receipt = receipt_of(submit(client, "other"))
    rid = intake.report_for_receipt(db, receipt)
    r = client.post("/followup", data={"receipt": receipt.replace(" ", "")})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    doc = page(r)
    assert text_of(css(doc, ".status-word")[0]) == "Received"
    assert css(doc, "input[name=receipt][type=hidden]")[0].get("value") == receipt.replace(" ", "")
    assert not css(doc, "nav.lang-switch")

    r = client.post("/followup/message", data={"receipt": receipt, "body": "The account also uses +39 333 765 4321"})
    assert r.status_code == 200
    doc = page(r)
    assert css(doc, ".flash")
    bodies = [text_of(m) for m in css(doc, ".conversation .msg-reporter .msg-body")]
    assert bodies == ["The account also uses +39 333 765 4321"]
    with db.reader() as s:
        assert [f.body for f in s.scalars(select(FollowUp).where(FollowUp.report_id == rid))] == [
            "The account also uses +39 333 765 4321"
        ]
    # the new information is analysed with the report
    got = reports.get_report(db, rid)
    assert ("phone", "+393337654321") in {(e.kind, e.value) for e in got.entities}

    # staff reply and status change reach the reporter, in the reporter's words
    ana = accounts.principal_for_token(db, analyst_token)
    assert ana is not None
    reports.message_reporter(db, rid, ana, "Thank you. Which app was it?")
    reports.update_report(db, rid, ana, status=Status.REFERRED)
    doc = page(client.post("/followup", data={"receipt": receipt}))
    assert text_of(css(doc, ".status-word")[0]) == "Passed to the authorities"
    staff_msgs = [text_of(m) for m in css(doc, ".conversation .msg-staff .msg-body")]
    assert staff_msgs == ["Thank you. Which app was it?"]
    # never the report itself, nor internal notes
    assert "Something I saw in a chat group" not in r.text


def test_followup_in_italian_uses_reporter_words(client, db):
    receipt = receipt_of(submit(client, "other"))
    doc = page(client.post("/followup?lang=it", data={"receipt": receipt}))
    assert text_of(css(doc, ".status-word")[0]) == "Ricevuta"


@pytest.mark.parametrize("receipt", ["0000 0000 0000 0000", "1234", "", "abcd efgh ijkl mnop", "9" * 200])
def test_wrong_receipt_gets_one_generic_404(client, receipt):
    client.post("/report", data={"category": "other", "text": "a report that exists"})
    r = client.post("/followup", data={"receipt": receipt})
    assert r.status_code == 404
    message = text_of(page(r).get_element_by_id("error-summary"))
    assert message == "There is no report with this receipt number. Check the number and try again."
    r = client.post("/followup/message", data={"receipt": receipt, "body": "hello"})
    assert r.status_code == 404
    assert text_of(page(r).get_element_by_id("error-summary")) == message


def test_empty_or_long_followup_message_is_refused(client, db):
    receipt = receipt_of(submit(client, "other"))
    r = client.post("/followup/message", data={"receipt": receipt, "body": "   "})
    assert r.status_code == 422
    r = client.post("/followup/message", data={"receipt": receipt, "body": "x" * 20_001})
    assert r.status_code == 422
    assert page(r).get_element_by_id("f-body").text == "x" * 20_001
    with db.reader() as s:
        assert s.scalar(select(FollowUp.id)) is None


def test_receipt_never_travels_in_a_url(client):
    doc = page(client.get("/followup"))
    form = css(doc, "form[action='/followup']")[0]
    assert form.get("method") == "post"
    assert doc.get_element_by_id("f-receipt").get("autocomplete") == "off"


# ------------------------------------------------------------------------------------------ post/redirect/get


def reports_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return len(list(s.scalars(select(Report.id))))


def form_token(client) -> str:  # type: ignore[no-untyped-def]
    return css(page(client.get("/report")), "input[name=form_token]")[0].get("value")


def test_the_form_redirects_and_the_receipt_is_shown_once_never_in_a_url(client, db):
    token = form_token(client)
    r = client.post("/report", data={"category": "other", "text": "one", "form_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/report/received"
    cookies = r.headers.get_list("set-cookie")
    sealed = next(c for c in cookies if c.startswith("tipline_receipt="))
    assert "HttpOnly" in sealed and "samesite=strict" in sealed.lower() and "Path=/report/received" in sealed
    shown = page(client.get("/report/received"))
    receipt = text_of(shown.get_element_by_id("receipt"))
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt)
    assert receipt.replace(" ", "") not in sealed and receipt.replace(" ", "") not in r.headers["location"]
    assert css(shown, "#copy-receipt") and css(shown, "#print-receipt")
    assert not css(shown, "#urgent")  # not happening now: no emergency box
    # a reload shows the receipt no more, and files nothing
    again = client.get("/report/received")
    assert again.status_code == 200 and not css(page(again), "#receipt") and css(page(again), "#already-received")
    assert reports_count(db) == 1


def test_the_same_form_sent_again_files_nothing(client, db):
    token = form_token(client)
    data = {"category": "other", "text": "only once please", "form_token": token}
    first = client.post("/report", data=data)
    assert css(page(first), "#receipt")
    second = client.post("/report", data=data)  # back button and send again, or a reload that re-posts
    assert second.status_code == 200 and css(page(second), "#already-received") and not css(page(second), "#receipt")
    assert reports_count(db) == 1
    # a new form (a new token) is a new report
    client.post("/report", data={**data, "form_token": form_token(client)})
    assert reports_count(db) == 2
    # a corrected form keeps its token: the refused post files nothing, the corrected one files once
    token = form_token(client)
    refused = client.post("/report", data={"category": "other", "text": "", "form_token": token})
    assert refused.status_code == 422 and css(page(refused), "input[name=form_token]")[0].get("value") == token
    client.post("/report", data={**data, "form_token": token})
    client.post("/report", data={**data, "form_token": token})
    assert reports_count(db) == 3


def test_a_forged_or_stale_receipt_cookie_shows_nothing(client):
    client.cookies.set("tipline_receipt", "AAAA" * 20, path="/report/received")
    r = client.get("/report/received")
    assert r.status_code == 200 and not css(page(r), "#receipt")


def test_happening_now_puts_the_emergency_number_on_the_receipt(client, db):
    r = submit(client, "live_streamed_abuse", form_token=form_token(client))
    doc = page(r)
    urgent = doc.get_element_by_id("urgent")
    assert "call 112 now" in text_of(urgent)
    r = submit(client, "live_streamed_abuse", live_happening_now="no", form_token=form_token(client))
    assert not css(page(r), "#urgent") and css(page(r), "#receipt")


# ------------------------------------------------------------------------------------------ approximate ages


@pytest.mark.parametrize(
    ("written", "age"),
    [
        ("10", 10),
        ("circa 10", 10),
        ("about 10", 10),
        ("ca. 10", 10),
        ("ca 10", 10),
        ("~10", 10),
        ("around 10 years old", 10),
        ("10 anni", 10),
        ("più o meno 12", 12),
        ("  CIRCA   9 ", 9),
        ("0", 0),
        ("120", 120),
    ],
)
def test_an_approximate_age_is_taken_as_written(written: str, age: int) -> None:
    from tipline.intake.public_form import parse_age

    assert parse_age(written) == age


@pytest.mark.parametrize("written", ["121", "10-12", "ten", "about", "abc 10", "10 11", "\u0661\u0660", "-1", "1e3"])
def test_what_is_not_an_age_is_refused(written: str) -> None:
    from tipline.intake.public_form import parse_age

    assert parse_age(written) is None


def test_the_form_files_circa_10_as_age_10(client, db):
    r = submit(client, "other", text="a child, about ten", victim_age="circa 10")
    rid = intake.report_for_receipt(db, receipt_of(r))
    with db.reader() as s:
        persons = s.get(Report, rid).persons
    assert any(p.get("age") == 10 for p in persons), persons


# ------------------------------------------------------------------------------------------ trust


def test_about_and_privacy_page_from_settings_and_the_retention_rules(tmp_path):
    from fastapi.testclient import TestClient

    from tipline.settings import Settings
    from tipline.web.app import create_app

    settings = Settings(
        data_dir=tmp_path / "data",
        hotline_operator="Example Hotline Association (synthetic)",
        hotline_contact="privacy@hotline.example",
        legal_basis="Art. 6(1)(e) GDPR; the (synthetic) national hotline law",
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "retention.toml").write_text(
        '[[report]]\nstatus = "referred"\ncategory = "*"\ndays = 1000\n\n'
        '[[report]]\nstatus = "*"\ncategory = "*"\ndays = 77\n\n[receipts]\ndays = 400\n'
    )
    with TestClient(create_app(settings)) as c:
        doc = page(c.get("/privacy?lang=en"))
        assert text_of(doc.get_element_by_id("operator")) == "Example Hotline Association (synthetic)"
        assert text_of(doc.get_element_by_id("operator-contact")) == "privacy@hotline.example"
        assert "Art. 6(1)(e) GDPR" in text_of(doc.get_element_by_id("legal-basis"))
        rows = [text_of(tr) for tr in css(doc, "#retention tbody tr")]
        assert rows == ["Referred 1000 days", "Any other report 77 days"]
        assert "400 days" in text_of(doc)
        it = page(c.get("/privacy?lang=it"))
        assert [text_of(tr) for tr in css(it, "#retention tbody tr")][1] == "Ogni altra segnalazione 77 giorni"
        # every public page links to it, and has the quick exit and the language switch
        for path in ("/", "/report", "/followup", "/report/received", "/privacy"):
            d = page(c.get(path))
            assert "/privacy" in [a.get("href") for a in css(d, "footer a")], path
            assert css(d, "a#quick-exit")[0].get("href") == "https://www.wikipedia.org/", path
            assert css(d, "nav.lang-switch"), path


def test_the_language_cookie_lasts_the_browser_session_only(client):
    r = client.get("/report?lang=it")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("tipline_lang="))
    assert "max-age" not in cookie.lower() and "expires" not in cookie.lower(), cookie
    assert page(client.get("/followup")).get("lang") == "it"  # and it is used while the browser is open


def test_staff_pages_have_no_quick_exit(client, db):
    from helpers import login_as

    accounts.create_user(db, "ana", "analyst", "correct horse battery staple")
    login_as(client, "ana")
    assert not css(page(client.get("/queue")), "#quick-exit")


def test_an_unknown_page_is_a_styled_404_in_the_visitors_language_and_json_for_the_api(client):
    html = {"Accept": "text/html,application/xhtml+xml"}
    r = client.get("/no/such/page", headers=html)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    doc = page(r)
    assert doc.get("lang") == "en" and text_of(css(doc, "h1")[0]) == "Page not found"
    assert css(doc, "link[rel=stylesheet]") and css(doc, "#quick-exit")
    it = page(client.get("/no/such/page", headers={**html, "Accept-Language": "it-IT,it;q=0.9"}))
    assert it.get("lang") == "it" and text_of(css(it, "h1")[0]) == "Pagina non trovata"
    api = client.get("/api/v1/no-such-thing", headers=html)
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    assert client.get("/no/such/page").json() == {"detail": "Not Found"}  # a client that asks for no page
    # a 404 a handler raises with its own words is left as it is
    assert client.get("/report/questions/x", headers=html).status_code == 404
