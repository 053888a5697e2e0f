"""What several test modules share (test modules do not import each other, nor conftest: a test in
``test_architecture.py`` checks): the test password and bearer headers, the real ``tipline`` command run as
a process, parsed pages with simple CSS selectors, CyberTipline documents and answers, staff tokens and
second-factor codes, the app under a real server, and the table of who may call each route."""

from __future__ import annotations

import copy
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lxml.html
import pyotp
import pytest
from lxml import etree
from sqlalchemy import select, update

from tipline.accounts import service as accounts
from tipline.cybertip.parse import schema
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PublicReportIn
from tipline.store import Database
from tipline.store.models import AuditEvent, User

PASSWORD = "correct horse battery staple"
# the PostgreSQL server of the tests' databases; "off" skips the PostgreSQL runs
PG_SERVER = os.environ.get("TIPLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TIPLINE = str(Path(sys.executable).with_name("tipline"))


def command_env(data_dir: Path, env_extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``tipline`` command run by a test: this one's, on ``data_dir``, with no database
    URL but the one ``env_extra`` names."""
    env = {**os.environ, "TIPLINE_DATA_DIR": str(data_dir)}
    env.pop("TIPLINE_DATABASE_URL", None)
    env.update(env_extra or {})
    return env


def run(args, data_dir, *, stdin="", env_extra=None, check=True):
    env = command_env(data_dir, env_extra)
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
        if child.tag is etree.Comment:  # a /finish refusal's description (reportDoneResponse has no element)
            out.setdefault("responseDescription", (child.text or "").strip())
        elif child.tag == "files":
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


# ------------------------------------------------------------------------------------------ staff credentials


def full_token(db: Database, name: str) -> str:
    """A staff token that carries the user's whole role, made as a person would make it: the second
    factor enrolled (here, when it is not yet) and a current code given. Tokens made without a code carry
    the analyst scope only."""
    user = next(u for u in accounts.list_users(db) if u.name == name)
    if not accounts.mfa_enabled(db, user.id):
        accounts.confirm_enrolment(db, user.id, pyotp.TOTP(accounts.start_enrolment(db, user.id)).now())
    with db.session() as s:
        row = s.get(User, user.id)
        assert row is not None and row.totp_secret_sealed
        secret = row.totp_secret_sealed
        s.execute(update(User).where(User.id == user.id).values(totp_last_step=None))  # the code may be used again
    return accounts.create_token(db, name, scope=user.role, code=pyotp.TOTP(secret).now())


def events(db, action: str | None = None) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        q = select(AuditEvent).order_by(AuditEvent.seq)
        if action:
            q = q.where(AuditEvent.action == action)
        return list(s.scalars(q))


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def now_step() -> int:
    return int(datetime.now(UTC).timestamp()) // 30


def fresh_code(db, user_id: int, secret: str) -> str:  # type: ignore[no-untyped-def]
    """A code of a step later than the last one accepted (the next step is still within the window)."""
    with db.reader() as s:
        last = s.scalar(select(User.totp_last_step).where(User.id == user_id)) or 0
    step = max(now_step(), last + 1)
    assert step <= now_step() + 1, "no unused step left in the window"
    return code_at(secret, step)


def set_last_step_back(db, user_id: int) -> None:  # type: ignore[no-untyped-def]
    """Let the next code be accepted again without waiting 30 s (tests only)."""
    with db.session() as s:
        s.execute(update(User).where(User.id == user_id).values(totp_last_step=now_step() - 5))


# ------------------------------------------------------------------------------------------ real server, real browser

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(
    env: dict[str, str], *, before: Sequence[str] = (), after: Sequence[str] = (), start_s: float = 180
) -> tuple[subprocess.Popen[bytes], str]:
    """``tipline BEFORE serve --port P AFTER`` in its own process group (the caller kills the group), on a
    free port, once its ``/healthz`` answers: (the process, its base URL). Fails the test with the end of
    its log if it exits or does not answer within ``start_s`` (it imports the whole app; slow on a busy
    machine)."""
    import signal
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [TIPLINE, *before, "serve", "--port", str(port), *after],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"tipline serve exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"tipline serve did not start in {start_s:g} s")
        time.sleep(0.1)


@contextmanager
def serve_app(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Run ``app`` under a real uvicorn server on a free loopback port; yields its base URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        app.state.db.dispose()


# ------------------------------------------------------------------------------------------ who may call each route
# (the access-control test walks every route of the app against this table; the fuzzer picks credentials by it)

PUBLIC = "public"  # anyone
LOGIN_STEP = "login-step"  # a login half-way through (code or enrolment); anonymous: back to /login
PLATFORM = "platform"  # a platform API key (Bearer)
CYBERTIP = "cybertip"  # CyberTipline credentials (HTTP Basic)
STAFF_OR_PLATFORM = "staff-or-platform"
ANALYST, SUPERVISOR, ADMIN = "analyst", "supervisor", "admin"
RANK = {ANALYST: 1, SUPERVISOR: 2, ADMIN: 3}

ROUTES: dict[str, str] = {
    # documentation and health
    "GET /api/v1/openapi.json": PUBLIC,
    "GET /healthz": PUBLIC,
    "MOUNT /static": PUBLIC,
    # public pages
    "GET /": PUBLIC,
    "GET /report": PUBLIC,
    "GET /report/received": PUBLIC,
    "GET /privacy": PUBLIC,
    "GET /report/questions": PUBLIC,
    "POST /report": PUBLIC,
    "GET /followup": PUBLIC,
    "POST /followup": PUBLIC,
    "POST /followup/message": PUBLIC,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "GET /login/code": LOGIN_STEP,
    "POST /login/code": LOGIN_STEP,
    "GET /account/mfa/enrol": LOGIN_STEP,
    "POST /account/mfa/enrol": LOGIN_STEP,
    # platform doors
    "POST /api/v1/reports": PLATFORM,
    "POST /api/v1/live": PLATFORM,
    "GET /api/v1/platform/reports/{report_id}": PLATFORM,
    "POST /api/v1/reports/{report_id}/files": PLATFORM,
    "POST /api/v1/match": STAFF_OR_PLATFORM,
    "GET /ispws/xsd": PUBLIC,
    "GET /ispws/status": CYBERTIP,
    "POST /ispws/submit": CYBERTIP,
    "POST /ispws/upload": CYBERTIP,
    "POST /ispws/fileinfo": CYBERTIP,
    "POST /ispws/finish": CYBERTIP,
    "POST /ispws/retract": CYBERTIP,
    # staff JSON API
    "GET /api/v1/queue": ANALYST,
    "GET /api/v1/reports/{report_id}": ANALYST,
    "PATCH /api/v1/reports/{report_id}": ANALYST,
    "GET /api/v1/entities/{kind}/{value:path}": ANALYST,
    "GET /api/v1/reports/{report_id}/matches": ANALYST,
    "GET /api/v1/banks": SUPERVISOR,
    "GET /api/v1/networks": ANALYST,
    "GET /api/v1/networks/{network_id}": ANALYST,
    "GET /api/v1/graph/entities/{kind}/{value:path}": ANALYST,
    "GET /api/v1/graph/elements": ANALYST,
    "GET /api/v1/graph/limits": ANALYST,
    "PUT /api/v1/graph/limits/{kind}": SUPERVISOR,
    "GET /api/v1/exclusions": ANALYST,
    "POST /api/v1/exclusions": SUPERVISOR,
    "DELETE /api/v1/exclusions/{exclusion_id}": SUPERVISOR,
    "GET /api/v1/cases": ANALYST,
    "POST /api/v1/cases": ANALYST,
    "GET /api/v1/cases/{case_id}": ANALYST,
    "PATCH /api/v1/cases/{case_id}": ANALYST,
    "DELETE /api/v1/cases/{case_id}": SUPERVISOR,
    "POST /api/v1/cases/{case_id}/reports": ANALYST,
    "DELETE /api/v1/cases/{case_id}/reports/{report_id}": ANALYST,
    "POST /api/v1/cases/{case_id}/notes": ANALYST,
    "POST /api/v1/cases/{case_id}/evidence": ANALYST,
    "GET /api/v1/evidence/{evidence_id}/network": ANALYST,
    "POST /api/v1/evidence": ANALYST,
    "GET /api/v1/evidence/{evidence_id}": ANALYST,
    "GET /api/v1/agencies": ANALYST,
    "GET /api/v1/agencies/{agency_id}": ANALYST,
    "POST /api/v1/agencies": ADMIN,
    "PUT /api/v1/agencies/{agency_id}": ADMIN,
    "GET /api/v1/reports/{report_id}/jurisdiction": ANALYST,
    "POST /api/v1/reports/{report_id}/jurisdiction/refresh": ANALYST,
    "GET /api/v1/cases/{case_id}/jurisdiction": ANALYST,
    "POST /api/v1/referrals": ANALYST,
    "GET /api/v1/referrals": ANALYST,
    "GET /api/v1/referrals/{referral_id}": ANALYST,
    "GET /api/v1/referrals/{referral_id}/download": ANALYST,
    "POST /api/v1/referrals/{referral_id}/ack": ANALYST,
    "POST /api/v1/referrals/{referral_id}/deliveries": ANALYST,
    "GET /api/v1/takedowns": ANALYST,
    "GET /api/v1/takedowns/summary": ANALYST,
    "POST /api/v1/takedowns/{takedown_id}/transition": ANALYST,
    "GET /api/v1/stats": ANALYST,
    # staff pages
    "GET /queue": ANALYST,
    "GET /reports/{report_id}": ANALYST,
    "POST /reports/{report_id}/reading": ANALYST,
    "POST /reports/{report_id}/reveal-contact": ANALYST,
    "POST /reports/{report_id}/assess": ANALYST,
    "POST /reports/{report_id}/message": ANALYST,
    "GET /entities/{kind}/{value:path}": ANALYST,
    "GET /account": ANALYST,
    "POST /account/password": ANALYST,
    "POST /account/recovery-codes": ANALYST,
    "POST /account/mfa/disable": ANALYST,
    "POST /account/sessions/revoke": ANALYST,
    "GET /admin/users": ADMIN,
    "GET /account/tokens": ANALYST,
    "POST /account/tokens": ANALYST,
    "POST /account/tokens/{token_id}/revoke": ANALYST,
    "GET /api/v1/tokens": ANALYST,
    "DELETE /api/v1/tokens/current": ANALYST,
    "DELETE /api/v1/tokens/{token_id}": ANALYST,
    "GET /admin/tokens": ADMIN,
    "POST /admin/tokens/{token_id}/revoke": ADMIN,
    "GET /admin/platforms": ADMIN,
    "POST /admin/platforms/{platform_id}/{action}": ADMIN,
    "POST /api/v1/platforms/{platform_id}/credentials": ADMIN,
    "POST /admin/users": ADMIN,
    "POST /admin/users/{name}/{action}": ADMIN,
    "GET /admin/sessions": ADMIN,
    "POST /admin/sessions/revoke": ADMIN,
    "GET /audit": SUPERVISOR,
    "POST /audit/verify": SUPERVISOR,
    "GET /banks": SUPERVISOR,
    "POST /banks": SUPERVISOR,
    "GET /banks/{bank_id}": SUPERVISOR,
    "POST /banks/{bank_id}/enabled": SUPERVISOR,
    "POST /banks/{bank_id}/import": SUPERVISOR,
    "GET /banks/{bank_id}/export.{fmt}": SUPERVISOR,
    "POST /banks/{bank_id}/delete": SUPERVISOR,
    "POST /banks/{bank_id}/terms": SUPERVISOR,
    # the analyst's shift
    "POST /reports/{report_id}/claim": ANALYST,
    "POST /reports/{report_id}/assign": ANALYST,
    "POST /queue/bulk": ANALYST,
    "POST /queue/filters": ANALYST,
    "POST /queue/filters/{filter_id}/delete": ANALYST,
    "POST /notifications/read": ANALYST,
    # payment screening
    "GET /api/v1/finance/alerts": ANALYST,
    "GET /api/v1/finance/alerts/{alert_id}": ANALYST,
    "GET /finance/alerts": ANALYST,
    "GET /finance/alerts/{alert_id}": ANALYST,
    "POST /finance/alerts/{alert_id}/status": ANALYST,
    "POST /finance/alerts/{alert_id}/case": ANALYST,
    "GET /finance/leads": ANALYST,
    "POST /api/v1/ads": PLATFORM,
    "GET /api/v1/ads": ANALYST,
    "GET /api/v1/ads/clusters": ANALYST,
    "GET /api/v1/ads/clusters/{cluster_id}": ANALYST,
    "GET /ads": ANALYST,
    "GET /ads/clusters/{cluster_id}": ANALYST,
    "POST /ads/clusters/{cluster_id}/case": ANALYST,
    # face search (off by default; the access tests turn it on): supervisors only, groups for staff
    "POST /api/v1/faces/enrol": SUPERVISOR,
    "POST /api/v1/faces/search": SUPERVISOR,
    "POST /api/v1/faces/results/{face_id}/view": SUPERVISOR,
    "POST /api/v1/faces/export": SUPERVISOR,
    "GET /api/v1/faces/groups": ANALYST,
    "POST /api/v1/faces/groups/{group_id}/{decision}": ANALYST,
    "GET /reports/{report_id}/payment-alerts": ANALYST,
    "GET /networks/{network_id}/payment-alerts": ANALYST,
    "GET /cases/{case_id}/payment-alerts.csv": ANALYST,
    "GET /media/{attachment_id}": ANALYST,
    "GET /media/{attachment_id}/preview.png": ANALYST,
    "POST /media/{attachment_id}/view": ANALYST,
    "GET /networks": ANALYST,
    "GET /networks/{network_id}": ANALYST,
    "GET /reports/{report_id}/network": ANALYST,
    "GET /graph": ANALYST,
    "GET /graph/entities/{kind}/{value:path}": ANALYST,
    "GET /cases": ANALYST,
    "POST /cases": ANALYST,
    "GET /cases/{case_id}": ANALYST,
    "POST /cases/{case_id}/update": ANALYST,
    "POST /cases/{case_id}/reports": ANALYST,
    "POST /cases/{case_id}/reports/{report_id}/remove": ANALYST,
    "POST /cases/{case_id}/notes": ANALYST,
    "GET /exclusions": ANALYST,
    "POST /exclusions": SUPERVISOR,
    "POST /exclusions/{exclusion_id}/remove": SUPERVISOR,
    "GET /agencies": ANALYST,
    "GET /agencies/new": ADMIN,
    "GET /agencies/{agency_id}/edit": ADMIN,
    "POST /agencies/new": ADMIN,
    "POST /agencies/{agency_id}/edit": ADMIN,
    "GET /reports/{report_id}/refer": ANALYST,
    "GET /reports/{report_id}/routing-panel": ANALYST,
    "GET /cases/{case_id}/refer": ANALYST,
    "POST /reports/{report_id}/refer": ANALYST,
    "POST /cases/{case_id}/refer": ANALYST,
    "GET /referrals/{referral_id}": ANALYST,
    "POST /referrals/{referral_id}/ack": ANALYST,
    "POST /referrals/{referral_id}/deliveries": ANALYST,
    "GET /takedown": ANALYST,
    "POST /takedown/{takedown_id}": ANALYST,
    "GET /stats": ANALYST,
    "GET /stats/{chart}.csv": SUPERVISOR,
    "GET /stats/{chart}.png": SUPERVISOR,
}


# ------------------------------------------------------------------------------------------ a report with a file

REPORT = {"report_id": "MEDIA-1", "category": "other", "text": "synthetic report with a file"}


def platform_report(client, platform, external_id: str = "MEDIA-1") -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/reports", json=dict(REPORT, report_id=external_id), headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def upload(client, platform, rid, data: bytes, name: str = "a.jpg", ctype: str = "image/jpeg"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/reports/{rid}/files", files={"file": (name, data, ctype)}, headers=bearer(platform.api_key)
    )


def uploaded(client, platform, data: bytes, name: str = "a.jpg") -> int:  # type: ignore[no-untyped-def]
    rid = platform_report(client, platform, f"V-{secrets.token_hex(3)}")
    r = upload(client, platform, rid, data, name)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_check(page, url: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Open ``url`` in a Playwright page (of a context made with ``bypass_csp=True``), run axe-core on it and
    close it; {url: ["rule-id (impact): target, ..."]} for each violation, {} when none. axe-core is
    installed by `make test` (scripts/ensure-axe.sh); without it the test fails and says so."""
    assert AXE_JS.exists(), f"axe-core is missing at {AXE_JS}: run `make axe` (npm ci in tests/axe)"
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    page.close()
    out = [
        f"{v['id']} ({v.get('impact')}): " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
    ]
    return {url: out} if out else {}


# ------------------------------------------------------------------------------------------ migrations


@dataclass
class BeforeMigration:
    """A fresh database migrated up to the revision just before one migration (see :func:`before_migration`)."""

    engine: Any
    cfg: Any  # alembic Config bound to ``engine``
    revision: str  # the migration under test
    before: str  # the revision before it

    def up(self, to: str | None = None) -> None:
        from alembic import command

        command.upgrade(self.cfg, to or self.revision)

    def down(self, to: str | None = None) -> None:
        from alembic import command

        command.downgrade(self.cfg, to or self.before)


@contextmanager
def before_migration(backend: str, tmp_path: Path, file_suffix: str) -> Iterator[BeforeMigration]:
    """A new SQLite file or PostgreSQL database (``backend``: "sqlite" or "postgres"), migrated to the revision
    before the migration whose file name ends with ``file_suffix`` (e.g. "_faces.py"); dropped afterwards."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from tipline.store.db import MIGRATIONS_DIR

    admin = None
    name = f"tipline_mig_{secrets.token_hex(4)}"
    if backend == "postgres":
        if PG_SERVER == "off":
            pytest.skip("PostgreSQL tests are switched off (TIPLINE_TEST_PG=off)")
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_SERVER}/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = engine
        mine = next(r for r in ScriptDirectory.from_config(cfg).walk_revisions() if r.path.endswith(file_suffix))
        before = mine.down_revision
        assert isinstance(before, str)
        command.upgrade(cfg, before)
        yield BeforeMigration(engine, cfg, mine.revision, before)
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def routing_report(db, ext: str = "W-1", **kw) -> int:  # type: ignore[no-untyped-def]
    """A platform's live-streamed-abuse report naming a PH phone and an ad URL (the routing tests' report)."""
    from tipline.intake.schemas import PlatformReportIn

    body = {
        "report_id": ext,
        "category": Category.LIVE_STREAMED_ABUSE,
        "text": "room show, contact +63 917 123 4567, ad at https://ads.example-board.com.ph/ad/1",
        "reported_persons": [{"identifiers": [{"kind": "phone", "value": "+639171234567"}], "country": "PH"}],
        "urls": ["https://ads.example-board.com.ph/ad/1"],
        **kw,
    }
    return intake.submit_report(db, PlatformReportIn(**body).to_report(None)).report_id  # type: ignore[arg-type]


def entity_counts(db: Database) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """Every entity's (reports naming it, reports naming it linkably): as stored (kept by difference as
    analysis goes) and recounted from the mentions, entities named by none left out of both."""
    from sqlalchemy import func

    from tipline.store.models import Entity, Mention

    reports = func.count(func.distinct(Mention.report_id))
    with db.reader() as s:
        stored = {
            e: (n, nl)
            for e, n, nl in s.execute(select(Entity.id, Entity.report_count, Entity.linkable_count))
            if n or nl
        }
        recounted = {
            e: (int(n), int(nl))
            for e, n, nl in s.execute(
                select(Mention.entity_id, reports, reports.filter(Mention.linkable.is_(True))).group_by(
                    Mention.entity_id
                )
            )
        }
    return stored, recounted


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started, from every one of its threads (/proc: Linux): a child that a thread
    started (a server's supervisor starting its analysis process again) is listed under that thread."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(FileNotFoundError, ProcessLookupError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def alive(pid: int) -> bool:
    """Running (a zombie, dead and not yet reaped by its parent, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def stopped_midway(
    args: Sequence[str],
    data_dir: Path,
    ready: Callable[[int], bool],
    stop: Callable[[int], None],
    *,
    env_extra: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Start ``tipline ARGS`` (as :func:`run` does) in a process group of its own; as soon as ``ready(pid)``,
    ``stop(pid)`` (Ctrl-C to the group, a kill ...). Its exit status and its stderr on one line (the console
    wraps long lines)."""
    env = command_env(data_dir, env_extra)
    proc = subprocess.Popen(
        [TIPLINE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        while not ready(proc.pid):
            assert proc.poll() is None, "the command ended before it could be stopped"
            time.sleep(0.01)
        stop(proc.pid)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, " ".join(err.decode().split())
