"""Translations that cannot drift: every message in the templates and Python has an Italian (and English)
entry, and language negotiation does what the pages promise."""

from __future__ import annotations

import re
from collections.abc import Iterator

import lxml.html
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from tipline.i18n import (
    LANG_COOKIE,
    LANGUAGES,
    LOCALE_DIR,
    from_accept_language,
    gettext_for,
    labels,
    negotiate,
    parse_accept_language,
    supported,
    translations,
)
from tipline.i18n import catalog as catalogs


@pytest.fixture(scope="module")
def extracted():  # type: ignore[no-untyped-def]
    return catalogs.extract()


def test_extraction_reads_templates_and_python(extracted):
    where = {fn for msg in extracted if msg.id for fn, _ln in msg.locations}
    assert any(fn.startswith("web/templates/public/") for fn in where)
    assert any(fn.startswith("web/templates/staff/") for fn in where)
    assert "web/pages_public.py" in where and "web/pages_staff.py" in where
    assert "i18n/labels.py" in where
    ids = {msg.id for msg in extracted}
    assert "Make a report" in ids  # a template string
    assert "Choose what you want to report." in ids  # a Python string
    assert "A live stream of abuse" in ids  # an N_() marker
    assert len(ids) > 200


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_message_has_a_translation(extracted, lang):
    problems = catalogs.check(lang, extracted)
    assert not problems, (
        f"{len(problems)} problem(s) in {lang}; run `python -m tipline.i18n.catalog update` and translate:\n"
        + "\n".join(problems[:40])
    )


def test_check_notices_a_missing_translation(extracted, tmp_path, monkeypatch):
    import copy

    from babel.messages.pofile import read_po, write_po

    with catalogs.po_path("it").open("rb") as f:
        po = read_po(f, locale="it")
    po.delete("Make a report")
    msg = po.get("Queue")
    msg.flags.add("fuzzy")
    po.get("Save").string = ""
    fake = tmp_path / "it" / "LC_MESSAGES" / "messages.po"
    fake.parent.mkdir(parents=True)
    with fake.open("wb") as f:
        write_po(f, po)
    monkeypatch.setattr(catalogs, "po_path", lambda lang: fake)
    problems = "\n".join(catalogs.check("it", copy.deepcopy(extracted)))
    assert "no entry for 'Make a report'" in problems
    assert "fuzzy entry for 'Queue'" in problems
    assert "empty translation of 'Save'" in problems


def test_catalogues_are_compiled_in_memory_and_cached():
    assert not list(LOCALE_DIR.rglob("*.mo")), "no build step: .mo files are not committed or needed"
    assert translations("it") is translations("it")
    assert gettext_for("it")("Make a report") == "Fai una segnalazione"
    assert gettext_for("en")("Make a report") == "Make a report"
    assert gettext_for("xx")("Make a report") == "Make a report"
    assert gettext_for(None)("Queue") == "Queue"
    assert labels.label(labels.CATEGORY, "sextortion", "it") == "Ricatto sessuale (sextortion)"
    assert labels.label(labels.CATEGORY, "a_future_category", "it") == "a_future_category"


def test_country_list_is_translated_and_sorted_for_readers():
    it = dict(labels.countries("it"))
    assert it["DE"] == "Germania" and it["PH"] == "Filippine"
    assert dict(labels.countries("en"))["DE"] == "Germany"
    assert "EU" not in it and "ZZ" not in it and "001" not in it
    names = [n for _c, n in labels.countries("en")]
    # accents do not send a name to the end of the list
    assert names.index("Åland Islands") < names.index("Albania") < names.index("Zimbabwe")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7", ["it-IT", "it", "en-US", "en"]),
        ("en;q=0.5, it", ["it", "en"]),
        ("fr;q=0, *;q=0.1, it;q=0.2", ["it"]),
        ("", []),
        (None, []),
        ("garbage;;;,  ,<script>", ["garbage"]),
        ("de;q=abc", []),
    ],
)
def test_parse_accept_language(header, expected):
    assert parse_accept_language(header) == expected


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("it-IT,it;q=0.9,en;q=0.8", "it"),
        ("it_IT", "it"),
        ("IT", "it"),
        ("de-DE,de;q=0.9,it;q=0.5", "it"),
        ("de-DE,de;q=0.9", None),
        ("en-GB,it;q=0.9", "en"),
        ("fr, en;q=0.1, it;q=0.5", "it"),
        (None, None),
    ],
)
def test_accept_language_negotiation(header, lang):
    assert from_accept_language(header) == lang


def _request(query: str = "", cookie: str | None = None, accept: str | None = None) -> Request:
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"{LANG_COOKIE}={cookie}".encode()))
    if accept is not None:
        headers.append((b"accept-language", accept.encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": headers})


def test_negotiate_order_query_then_cookie_then_header_then_english():
    assert negotiate(_request("lang=it", cookie="en", accept="en")) == "it"
    assert negotiate(_request("lang=xx", cookie="it", accept="en")) == "it"
    assert negotiate(_request(cookie="it", accept="en")) == "it"
    assert negotiate(_request(cookie="zz", accept="it-CH")) == "it"
    assert negotiate(_request(accept="pt-BR")) == "en"
    assert negotiate(_request()) == "en"
    assert supported("it-IT") == "it" and supported("../etc") is None and supported("x" * 50) is None


# ------------------------------------------------------------------------------------------ pages

# text that is the same in every language: names, codes, numbers
SAME_IN_EVERY_LANGUAGE = {
    "tipline",
    "English",
    "Italiano",
    "E-mail",
    "No",
    "API",
    "Password",
    "P1",
    "P2",
    "P3",
    "P4",
    "Hotline",
    "URL",
    "·",
    "–",
    "1",
    "2",
    "3",
}


@pytest.fixture
def sqlite_client(sqlite_settings, sqlite_db) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    from tipline.web.app import create_app

    with TestClient(create_app(sqlite_settings, db=sqlite_db)) as c:
        yield c


def _visible_strings(html: str) -> set[str]:
    doc = lxml.html.fromstring(html)
    for el in doc.xpath("//script | //style | //select[@name='country']"):
        el.drop_tree()
    out = {" ".join(t.split()) for t in doc.xpath("//body//text()")}
    for attr in ("placeholder", "title", "aria-label", "alt"):
        out |= {" ".join(v.split()) for v in doc.xpath(f"//body//@{attr}")}
    return {t for t in out if re.search(r"[^\W\d_]", t)}


def _pages(client: TestClient, lang: str) -> Iterator[tuple[str, str]]:
    client.cookies.clear()
    for path in ("/", "/report", "/followup", "/login"):
        yield path, client.get(f"{path}?lang={lang}").text
    yield "/report/questions", client.get(f"/report/questions?lang={lang}").text
    from helpers import prime_csrf

    prime_csrf(client)
    bad = client.post(
        f"/report?lang={lang}",
        data={"category": "other", "victim_age": "300", "country": "XX", "contact_email": "x", "text": "1234"},
    )
    assert bad.status_code == 422, bad.status_code  # the form's error page, not the CSRF refusal
    yield "POST /report (errors)", bad.text
    gone = client.post(f"/followup?lang={lang}", data={"receipt": "1"})
    assert gone.status_code == 404, gone.status_code
    yield "POST /followup (404)", gone.text
    client.headers.pop("X-CSRF-Token", None)


def test_no_user_visible_text_escapes_translation(sqlite_client):
    """Render each public page in English and Italian: a string that is the same in both was not
    translated (forgotten `_()`), unless it is a name or code."""
    english = dict(_pages(sqlite_client, "en"))
    italian = dict(_pages(sqlite_client, "it"))
    leaks = {}
    for name, html in english.items():
        same = (_visible_strings(html) & _visible_strings(italian[name])) - SAME_IN_EVERY_LANGUAGE
        if same:
            leaks[name] = sorted(same)
    assert not leaks, f"untranslated text: {leaks}"
