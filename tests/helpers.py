"""What several test modules share (test modules do not import each other): the test password and bearer
headers, the real ``tipline`` command run as a process, parsed pages with simple CSS selectors, and
CyberTipline documents and answers."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import lxml.html
import pyotp
import pytest
from lxml import etree

from tipline.accounts import service as accounts
from tipline.cybertip.parse import schema
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PublicReportIn

PASSWORD = "correct horse battery staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TIPLINE = str(Path(sys.executable).with_name("tipline"))


def run(args, data_dir, *, stdin="", env_extra=None, check=True):
    env = {**os.environ, "TIPLINE_DATA_DIR": str(data_dir)}
    env.pop("TIPLINE_DATABASE_URL", None)
    env.update(env_extra or {})
    p = subprocess.run([TIPLINE, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"tipline {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def page(response) -> lxml.html.HtmlElement:  # type: ignore[no-untyped-def]
    return lxml.html.fromstring(response.text)


_SIMPLE = re.compile(r"([\w-]+|\*)?((?:#[\w-]+|\.[\w-]+|\[[\w-]+(?:=(?:'[^']*'|\"[^\"]*\"|[^\]]+))?\])*)")
_PART = re.compile(r"#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=('[^']*'|\"[^\"]*\"|[^\]]+))?\]")


def _xpath_of(selector: str) -> str:
    steps = []
    for simple in selector.split():
        m = _SIMPLE.fullmatch(simple)
        assert m, f"unsupported selector {simple!r}"
        conds = []
        for id_, cls, attr, value in _PART.findall(m.group(2)):
            if id_:
                conds.append(f"@id='{id_}'")
            elif cls:
                conds.append(f"contains(concat(' ', normalize-space(@class), ' '), ' {cls} ')")
            elif value:
                conds.append(f"@{attr}='{value.strip(chr(39) + chr(34))}'")
            else:
                conds.append(f"@{attr}")
        steps.append((m.group(1) or "*") + "".join(f"[{c}]" for c in conds))
    return ".//" + "//".join(steps)


def css(el: lxml.html.HtmlElement, selector: str) -> list[lxml.html.HtmlElement]:
    """Elements matching a simple CSS selector (tag, #id, .class, [attr], [attr=v], descendants, commas).

    lxml's own ``cssselect`` needs the cssselect package, which tipline does not depend on."""
    return el.xpath(" | ".join(_xpath_of(part.strip()) for part in selector.split(",")))


def text_of(el: lxml.html.HtmlElement) -> str:
    """The text a reader hears: aria-hidden parts (decoration such as step numbers) left out."""
    el = copy.deepcopy(el)
    for hidden in el.xpath(".//*[@aria-hidden='true']"):
        hidden.drop_tree()
    return " ".join(el.text_content().split())


def report_xml(body: str = "", *, incident: str | None = None, extra_summary: str = "", tail: str = "") -> bytes:
    """A valid report with ``body`` between the summary and the reporter, and ``tail`` after it."""
    if incident is None:
        incident = "<incidentType>Online Enticement of Children for Sexual Acts</incidentType>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<report>\n'
        f"<incidentSummary>{incident}{extra_summary}"
        "<incidentDateTime>2025-01-01T00:00:00Z</incidentDateTime></incidentSummary>\n"
        f"{body}<reporter><reportingPerson><firstName>T</firstName></reportingPerson></reporter>\n"
        f"{tail}</report>\n"
    ).encode()


XML = {"Content-Type": "text/xml; charset=utf-8"}


def basic(creds: accounts.PlatformCredentials) -> tuple[str, str]:
    return (creds.username, creds.password)


def answer(resp) -> dict:  # type: ignore[no-untyped-def]
    """The XML answer as a dict; checks it against the XSD's response elements on the way."""
    assert resp.headers["content-type"].startswith("application/xml"), resp.text
    root = etree.fromstring(resp.content)
    assert schema().validate(root), schema().error_log
    out: dict = {"_root": root.tag}
    for child in root:
        if child.tag == "files":
            out["files"] = [f.text for f in child]
        else:
            out[child.tag] = child.text
    out["responseCode"] = int(out["responseCode"])
    return out


MINIMAL = {
    "live_streamed_abuse": {"live_account": "darkroom_x", "live_happening_now": "yes", "live_platform": "ExampleCam"},
    "child_sexual_abuse_material": {"material_urls": "https://files.example.net/a/1\nhttps://files.example.net/a/2"},
    "trafficking_advertisement": {
        "ad_url": "https://ads.example.org/listing/77",
        "ad_contact": "+39 333 123 4567",
        "ad_city": "Milano",
    },
    "sextortion": {"sextortion_account": "xtort_bob", "sextortion_money": "yes"},
    "online_enticement": {"grooming_account": "friendly_adult", "grooming_meeting": "no"},
    "other": {"text": "Something I saw in a chat group about selling 'shows'."},
}


def receipt_of(response) -> str:  # type: ignore[no-untyped-def]
    return text_of(page(response).get_element_by_id("receipt"))


def csrf_token_of(client, path: str = "/followup") -> str:  # type: ignore[no-untyped-def]
    """The CSRF token a page's forms carry (with the cookie it is bound to, now in the client's jar)."""
    return css(page(client.get(path)), "input[name=csrf_token]")[0].get("value")


def prime_csrf(client) -> None:  # type: ignore[no-untyped-def]
    """Send the visitor's CSRF token with every request of this client, as a browser posting the forms
    would (tests of the protection itself are in test_protect_web.py)."""
    client.headers["X-CSRF-Token"] = csrf_token_of(client)


@pytest.fixture(autouse=True)
def _csrf(request):  # type: ignore[no-untyped-def]
    if "client" in request.fixturenames:
        prime_csrf(request.getfixturevalue("client"))


def submit(client, category: str, **fields: str):  # type: ignore[no-untyped-def]
    data = {"category": category, **MINIMAL.get(category, {}), **fields}
    return client.post("/report", data=data)


def login_as(client, name: str) -> None:  # type: ignore[no-untyped-def]
    """Log in through the login form (with its CSRF token when the form has one), setting up the second step
    (TOTP) when the role needs one, as a person would with an authenticator app."""
    data = {"name": name, "password": PASSWORD}
    for el in css(page(client.get("/login")), "form input[name=csrf_token]"):
        data["csrf_token"] = el.get("value")
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    if r.headers["location"].startswith("/account/mfa/enrol"):
        doc = page(client.get(r.headers["location"]))
        secret = text_of(css(doc, "code.totp-secret")[0]).replace(" ", "")
        form = {
            el.get("name"): el.get("value") for el in css(doc, "form[action='/account/mfa/enrol'] input[type=hidden]")
        }
        form["code"] = pyotp.TOTP(secret).now()
        r = client.post("/account/mfa/enrol", data=form, follow_redirects=False)
        assert r.status_code in (200, 303), r.text  # the recovery codes page, or on to the next page


def login(client, name: str = "ana", password: str = PASSWORD, next: str | None = None):  # type: ignore[no-untyped-def]
    data = {"name": name, "password": password}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data, follow_redirects=False)


def public(db, category: Category = Category.OTHER, text: str = "", **kw):  # type: ignore[no-untyped-def]
    res = intake.submit_report(
        db, PublicReportIn(category=category, text=text, language=kw.pop("language", "en"), **kw).to_report()
    )
    return res.report_id


def enrol(db, user) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """Turn MFA on for a user as the enrolment page does; (secret, recovery codes)."""
    secret = accounts.start_enrolment(db, user.id)
    codes = accounts.confirm_enrolment(db, user.id, pyotp.TOTP(secret).now())
    assert codes is not None
    return secret, codes


def form_token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    return css(page(client.get(path)), "input[name=csrf_token]")[0].get("value")


def login_page(client, name: str, password: str = PASSWORD, next: str = "/queue"):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"name": name, "password": password, "next": next}, follow_redirects=False)


CYBERTIP_RICH = (Path(__file__).parent / "data" / "cybertip" / "rich_report.xml").read_bytes()


def submit_cybertip(client, creds, body: bytes = CYBERTIP_RICH) -> int:  # type: ignore[no-untyped-def]
    """Submit a CyberTipline report through /ispws/submit; its report id."""
    r = client.post("/ispws/submit", content=body, headers=XML, auth=basic(creds))
    a = answer(r)
    assert r.status_code == 200 and a["responseCode"] == 0, a
    return int(a["reportId"])
