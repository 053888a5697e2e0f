"""Issue 9, item 8: NUL bytes in paths and filters, a wrong code on the enrolment page of a user who has
MFA, actor_user_id inside the audit hash, a session cookie plus HTTP Basic on the JSON API, and the
documented 50 MB limit of the JSON API's file route. Real app, SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select, update

from helpers import (
    PASSWORD,
    _csrf,  # noqa: F401 (autouse: the anonymous CSRF token on every request)
    bearer,
    enrol,
    form_token,
    login_page,
)
from tipline import audit
from tipline.accounts import service as accounts
from tipline.store.models import AuditEvent
from tipline.web.app import SESSION_COOKIE

# staff API paths and filters with a NUL (%00): each once answered 500 on PostgreSQL
NUL_PATHS = [
    "/api/v1/entities/phone/a%00b",
    "/api/v1/entities/ph%00one/ab",
    "/api/v1/agencies/%00",
    "/api/v1/graph/entities/phone/a%00b",
    "/entities/phone/x%00y",
    "/agencies/%00/edit",
]
NUL_QUERIES = [
    "/api/v1/queue?language=%00",
    "/api/v1/queue?country=%00x",
    "/api/v1/queue?q=a%00b",
    "/api/v1/takedowns?state=%00",
    "/api/v1/cases?assignee=%00",
    "/api/v1/graph/elements?entity_kind=phone&entity_value=%00",
    "/api/v1/stats?since=%00",
    "/queue?q=%00",
    "/audit?action=login.%00",
]


def test_nul_in_any_path_or_query_parameter_is_a_4xx_not_a_500(client, db):
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    token = accounts.create_token(db, "ana")
    client.cookies.delete(SESSION_COOKIE)
    assert client.get("/api/v1/queue?language=it", headers=bearer(token)).status_code == 200
    for url in NUL_PATHS:
        r = client.get(url, headers=bearer(token))
        assert r.status_code == 404, (url, r.status_code, r.text[:200])
    for url in NUL_QUERIES:
        r = client.get(url, headers=bearer(token))
        assert r.status_code == 422, (url, r.status_code, r.text[:200])
        if url.startswith("/api/"):
            assert "NUL" in r.json()["detail"]
    r = client.put("/api/v1/agencies/%00", headers=bearer(token), json={})
    assert r.status_code == 404
    # the CyberTipline door answers in its own format
    r = client.get("/ispws/status?x=%00")
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/xml")


def test_an_unknown_filter_value_is_a_422_that_lists_the_known_ones(client, db):
    """A filter value that no row can have answered 200 with nothing, which reads as "there are none"."""
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    h = bearer(accounts.create_token(db, "ana"))
    r = client.get("/api/v1/takedowns?state=nope", headers=h)
    assert r.status_code == 422 and "notice_sent" in r.json()["detail"], r.text
    r = client.get("/api/v1/finance/alerts?status=x", headers=h)
    assert r.status_code == 422 and "reviewed" in r.json()["detail"], r.text
    assert client.get("/api/v1/takedowns?state=removed", headers=h).status_code == 200
    assert client.get("/api/v1/finance/alerts?status=new", headers=h).status_code == 200


def test_a_wrong_code_on_the_enrolment_page_of_a_user_with_mfa_is_not_a_500(client, db):
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    enrol(db, user)
    cookie, csrf = accounts.open_session(db, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    r = client.post("/account/mfa/enrol", data={"csrf_token": csrf, "code": "000000"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert accounts.mfa_enabled(db, user.id)
    # and a login held at the enrolment step whose user enrolled meanwhile starts again, no loop
    sue = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    client.cookies.delete(SESSION_COOKIE)
    r = login_page(client, "sue")
    assert r.headers["location"].startswith("/account/mfa/enrol")
    token = form_token(client, "/account/mfa/enrol")
    enrol(db, sue)  # in another tab
    r = client.post("/account/mfa/enrol", data={"csrf_token": token, "code": "000000"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.get("/queue", follow_redirects=True)
    assert r.url.path == "/login"


def test_actor_user_id_is_inside_the_audit_hash_and_old_chains_still_verify(db):
    admin = accounts.create_user(db, "boss", "admin", PASSWORD)
    other = accounts.create_user(db, "ana", "analyst", PASSWORD, by=admin)
    # a chain written before format 2: every hash recomputed as format 1 then held (version unset)
    with db.session() as s:
        prev = audit.GENESIS
        for ev in s.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            ev.hash_version = None
            ev.prev_hash = prev
            ev.hash = audit.event_hash(prev, ev)
            prev = ev.hash
    assert audit.verify(db).ok
    accounts.set_active(db, "ana", False, by=admin)  # a new event, format 2, on top of the old ones
    with db.reader() as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last.hash_version == audit.HASH_VERSION == 2 and last.actor_user_id == admin.id
    res = audit.verify(db)
    assert res.ok and res.events == 3
    # someone pins the action on another user: caught
    with db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == last.seq).values(actor_user_id=other.id))
    res = audit.verify(db)
    assert not res.ok and res.problem.kind == "altered" and res.problem.seq == last.seq
    # and pretending the event is format 1 does not help
    with db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == last.seq).values(hash_version=None))
    res = audit.verify(db)
    assert not res.ok and res.problem.kind == "altered"


def test_session_cookie_with_a_basic_header_still_needs_the_csrf_token(client, db, platform):
    rid = client.post(
        "/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "A", "category": "other"}
    ).json()["id"]
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    cookie, csrf = accounts.open_session(db, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    client.headers.pop("X-CSRF-Token", None)
    for auth in ("Basic Zm9vOmJhcg==", "Basic", "Digest x", "Token abc"):
        r = client.patch(f"/api/v1/reports/{rid}", json={"status": "no_action"}, headers={"Authorization": auth})
        assert r.status_code == 403, (auth, r.status_code)
    r = client.patch(f"/api/v1/reports/{rid}", json={"status": "in_review"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["status"] == "in_review"


def test_the_file_route_takes_what_the_docs_say_and_other_routes_keep_their_limit(client, db, platform):
    rid = client.post(
        "/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "F", "category": "other"}
    ).json()["id"]
    data = os.urandom(2_000_000)
    r = client.post(
        f"/api/v1/reports/{rid}/files",
        headers=bearer(platform.api_key),
        files={"file": ("notes.bin", data, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text
    import hashlib

    assert r.json()["size"] == 2_000_000 and r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    # the report route next to it keeps the 1 MB body limit
    r = client.post("/api/v1/reports", headers=bearer(platform.api_key), content=b"x" * 1_000_001)
    assert r.status_code == 413
    r = client.patch(f"/api/v1/reports/{rid}", headers=bearer(platform.api_key), content=b"x" * 1_000_001)
    assert r.status_code == 413


@pytest.mark.parametrize("limit", [3_000_000])
def test_the_file_limit_is_the_setting(tmp_path, sqlite_db, limit):
    from fastapi.testclient import TestClient

    from tipline.settings import Settings
    from tipline.web.app import create_app

    platform = accounts.create_platform(sqlite_db, "P")
    settings = Settings(data_dir=sqlite_db.settings.data_dir, max_upload_bytes=limit)
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        rid = c.post(
            "/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "F", "category": "other"}
        ).json()["id"]
        h = bearer(platform.api_key)
        r = c.post(f"/api/v1/reports/{rid}/files", headers=h, files={"file": ("a.bin", os.urandom(limit), "x/y")})
        assert r.status_code == 201
        r = c.post(f"/api/v1/reports/{rid}/files", headers=h, files={"file": ("b.bin", os.urandom(limit + 1), "x/y")})
        assert r.status_code == 413 and f"{limit:,}" in r.json()["detail"]
