"""A form that cannot be read (too many fields, a file name too long for a part's header) gets a page that
says so in the visitor's language with the reason, or JSON under /api; before, a browser got Starlette's
bare JSON 400 ("Invalid multipart data.") from whichever part of the app read the form first."""

from __future__ import annotations

from sqlalchemy import func, select

from helpers import PASSWORD, css, login_as, page, text_of
from tipline.accounts import service as accounts
from tipline.store.models import Report

HTML = {"accept": "text/html"}


def _reason(r) -> str:  # type: ignore[no-untyped-def]
    doc = page(r)
    return text_of(css(doc, "h1")[0]) + " | " + text_of(css(doc, "p.small")[0])


def test_the_public_form_with_too_many_fields_gets_a_page_with_the_reason(client, db) -> None:
    data = {"category": "other", "text": "x"} | {f"f{i}": "x" for i in range(1001)}
    r = client.post("/report", data=data, headers=HTML)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    assert _reason(r) == (
        "The form could not be read | the form could not be read: Too many fields. Maximum number of fields is 1000."
    )
    r = client.post("/report", data=data, headers=HTML | {"accept-language": "it"})
    assert "Non è stato possibile leggere il modulo" in _reason(r)
    with db.reader() as s:
        assert s.scalar(select(func.count(Report.id))) == 0


def test_a_file_name_too_long_for_its_part_header_is_named(client) -> None:
    files = {"file": ("a" * 5000 + ".jpg", b"xx", "image/jpeg")}
    r = client.post("/report", data={"category": "other"}, files=files, headers=HTML)
    assert r.status_code == 400, r.text[:300]
    assert "Maximum header size exceeded (a part's header, such as its file name, is longer than 4,096" in _reason(r)


def test_a_staff_form_route_and_a_json_route_sent_a_form(client, db, platform) -> None:
    """A route with Form() parameters reads its form before any handler (FastAPI answered a bare JSON 400
    there); a JSON route sent a form still says what it expects (the form is not read for it)."""
    accounts.create_user(db, "sup", "supervisor", PASSWORD)
    login_as(client, "sup")
    data = {"title": "t"} | {f"f{i}": "x" for i in range(1001)}
    r = client.post("/cases", data=data, headers=HTML)
    assert r.status_code == 400 and "Too many fields" in _reason(r), r.text[:300]
    r = client.post("/cases", data=data, headers={"accept": "application/json"})
    assert r.status_code == 400 and "Too many fields" in r.text, r.text[:300]
    r = client.post(
        "/api/v1/reports", data={"report_id": "f-1"}, headers={"authorization": f"Bearer {platform.api_key}"}
    )
    assert r.status_code == 415 and r.json()["detail"] == (
        "the body was sent with Content-Type: application/x-www-form-urlencoded; "
        "send JSON with Content-Type: application/json"
    ), r.text
