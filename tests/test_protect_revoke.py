"""Issue 9, item 6: leaked credentials can be revoked and rotated. Staff tokens expire, are revoked from
the CLI, the pages and the JSON API, carry the analyst scope unless made with a fresh second-factor code,
and do not come back when a user is activated again; a platform's API key and CyberTipline login are
disabled, enabled and rotated one by one. Every change is an audit event. Real app, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from helpers import (  # noqa: F401 (_csrf: autouse)
    PASSWORD,
    PG_SERVER,
    _csrf,
    bearer,
    before_migration,
    css,
    enrol,
    events,
    full_token,
    page,
    set_last_step_back,
    text_of,
)
from tipline.accounts import service as accounts
from tipline.store.models import ApiToken, User
from tipline.web.app import SESSION_COOKIE


def login(client, db, user) -> str:  # type: ignore[no-untyped-def]
    """A full session for ``user`` (the login and its second step are tested elsewhere); its CSRF token."""
    cookie, csrf = accounts.open_session(db, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    client.headers["X-CSRF-Token"] = csrf
    return csrf


def code_now(db, user) -> str:  # type: ignore[no-untyped-def]
    set_last_step_back(db, user.id)
    with db.reader() as s:
        return pyotp.TOTP(s.get(User, user.id).totp_secret_sealed).now()


def report(client, platform) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "R", "category": "other"})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


# ------------------------------------------------------------------------------------------ staff tokens


def test_tokens_expire_and_the_expiry_is_shown(client, db, app):
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    issued = accounts.issue_token(db, "ana")
    assert issued.scope == "analyst"
    days = (issued.expires_at - datetime.now(UTC)).total_seconds() / 86400
    assert 89.9 < days <= 90  # the default, TIPLINE_TOKEN_DAYS
    app.state.db.settings.token_days = 7
    days = (accounts.issue_token(db, "ana").expires_at - datetime.now(UTC)).total_seconds() / 86400
    assert 6.9 < days <= 7
    with pytest.raises(accounts.AccountError, match="1 to 365 days"):
        accounts.issue_token(db, "ana", days=366)
    client.cookies.delete(SESSION_COOKIE)
    assert client.get("/api/v1/queue", headers=bearer(issued.token)).status_code == 200
    with db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == issued.id).values(expires_at=datetime.now(UTC)))
    r = client.get("/api/v1/queue", headers=bearer(issued.token))
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_tokens_of_mfa_roles_need_mfa_and_carry_analyst_scope_without_a_fresh_code(client, db):
    sue = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    with pytest.raises(accounts.AccountError) as e:
        accounts.issue_token(db, "sue")
    assert e.value.key == "token.mfa_missing"
    enrol(db, sue)
    plain = accounts.issue_token(db, "sue")
    assert plain.scope == "analyst"
    with pytest.raises(accounts.AccountError) as e:
        accounts.issue_token(db, "sue", scope="supervisor", code="000000")
    assert e.value.key == "token.code"
    with pytest.raises(accounts.AccountError) as e:
        accounts.issue_token(db, "sue", scope="admin", code=code_now(db, sue))
    assert e.value.key == "token.scope"
    checked = accounts.issue_token(db, "sue", scope="supervisor", code=code_now(db, sue))
    assert checked.scope == "supervisor"
    client.cookies.delete(SESSION_COOKIE)
    # adding to the warning list needs a supervisor: only the token made with a code may
    assert client.get("/api/v1/queue", headers=bearer(plain.token)).status_code == 200
    r = client.post(
        "/api/v1/exclusions", headers=bearer(plain.token), json={"kind": "phone", "value": "1", "reason": "x"}
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/exclusions", headers=bearer(checked.token), json={"kind": "phone", "value": "0917 814 2637",
                                                                    "reason": "our own test line"}
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    # demoted: the token follows the user's role down
    accounts.set_role(db, "sue", "analyst")
    r = client.post(
        "/api/v1/exclusions", headers=bearer(checked.token), json={"kind": "phone", "value": "2", "reason": "x"}
    )
    assert r.status_code == 403
    # a second factor reset ends the tokens made on its strength, not the plain ones
    accounts.set_role(db, "sue", "supervisor")
    accounts.reset_mfa(db, "sue")
    assert client.get("/api/v1/queue", headers=bearer(checked.token)).status_code == 401
    assert client.get("/api/v1/queue", headers=bearer(plain.token)).status_code == 401  # role needs MFA again
    enrol(db, sue)
    assert client.get("/api/v1/queue", headers=bearer(plain.token)).status_code == 200
    assert client.get("/api/v1/queue", headers=bearer(checked.token)).status_code == 401
    made = [e.details for e in events(db, "token.create")]
    assert [d["scope"] for d in made] == ["analyst", "supervisor"] and made[1]["second_factor"] is True


def test_reactivating_a_user_revives_neither_tokens_nor_sessions(client, db):
    ana = accounts.create_user(db, "ana", "analyst", PASSWORD)
    token = accounts.create_token(db, "ana")
    cookie, _csrf_token = accounts.open_session(db, ana)
    accounts.set_active(db, "ana", False)
    accounts.set_active(db, "ana", True)
    client.cookies.delete(SESSION_COOKIE)
    assert client.get("/api/v1/queue", headers=bearer(token)).status_code == 401
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert events(db, "user.deactivate")[0].details == {"sessions_revoked": 1, "tokens_revoked": 1}
    with db.reader() as s:
        row = s.scalar(select(ApiToken))
        assert row.revoked and row.revoked_at is not None and "deactivated" in row.revoked_by


def test_cli_creates_lists_and_revokes_tokens(sqlite_db, monkeypatch):
    from tipline.cli.main import app as cli_app

    monkeypatch.setenv("TIPLINE_DATA_DIR", str(sqlite_db.settings.data_dir))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    boss = accounts.create_user(sqlite_db, "boss", "admin", PASSWORD)
    runner = CliRunner()
    r = runner.invoke(cli_app, ["tokens", "create", "boss", "--json"])
    assert r.exit_code == 1 and "second factor" in r.output
    enrol(sqlite_db, boss)
    r = runner.invoke(cli_app, ["tokens", "create", "boss", "--label", "nightly export", "--days", "3", "--json"])
    assert r.exit_code == 0, r.output
    plain = json.loads(r.stdout)
    assert plain["scope"] == "analyst" and plain["expires_at"]
    r = runner.invoke(cli_app, ["tokens", "create", "boss", "--scope", "admin", "--code", code_now(sqlite_db, boss)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().startswith("tlt_") and "scope admin" in r.stderr and "expires" in r.stderr
    r = runner.invoke(cli_app, ["tokens", "list", "--json"])
    listed = json.loads(r.stdout)
    assert [t["scope"] for t in listed] == ["admin", "analyst"] and listed[1]["label"] == "nightly export"
    r = runner.invoke(cli_app, ["tokens", "revoke", str(plain["id"])])
    assert r.exit_code == 0 and accounts.principal_for_token(sqlite_db, plain["token"]) is None
    r = runner.invoke(cli_app, ["tokens", "revoke", str(plain["id"])])
    assert r.exit_code == 1 and "no live token" in r.output
    assert [t["state"] for t in json.loads(runner.invoke(cli_app, ["tokens", "list", "--all", "--json"]).stdout)] == [
        "live",
        "revoked",
    ]
    assert {e.action for e in events(sqlite_db) if e.actor == "cli"} >= {"token.create", "token.revoke"}


def test_account_page_makes_and_revokes_your_tokens(client, db):
    sue = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    enrol(db, sue)
    login(client, db, sue)
    doc = page(client.get("/account"))
    assert css(doc, "a[href='/account/tokens']")
    r = client.post("/account/tokens", data={"label": "script", "days": "10", "scope": "supervisor", "code": "1"})
    assert r.status_code == 422 and "current code" in r.text
    r = client.post(
        "/account/tokens", data={"label": "script", "days": "10", "scope": "supervisor", "code": code_now(db, sue)}
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = page(r)
    token = text_of(css(doc, "code.token-secret")[0])
    assert token.startswith("tlt_") and css(doc, ".token-expires")
    r = client.post("/account/tokens", data={"label": "", "days": "", "scope": "analyst"})
    assert r.status_code == 200
    rows = css(page(client.get("/account/tokens")), "table.tokens tbody tr")
    assert len(rows) == 2
    mine = {t.scope.value: t for t in accounts.list_tokens(db, user_id=sue.id)}
    assert mine["supervisor"].label == "script" and mine["analyst"].label is None
    assert accounts.principal_for_token(db, token).role == "supervisor"
    # another user's token cannot be revoked from here
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    theirs = accounts.issue_token(db, "ana")
    client.post(f"/account/tokens/{theirs.id}/revoke")
    assert accounts.principal_for_token(db, theirs.token) is not None
    r = client.post(f"/account/tokens/{mine['supervisor'].id}/revoke", follow_redirects=False)
    assert r.status_code == 303
    assert accounts.principal_for_token(db, token) is None
    assert [t.scope for t in accounts.list_tokens(db, user_id=sue.id)] == ["analyst"]
    assert events(db, "token.revoke")[0].actor == "user:sue"


def test_admin_pages_from_the_navigation_revoke_tokens_and_manage_platforms(client, db, platform):
    boss = accounts.create_user(db, "boss", "admin", PASSWORD)
    enrol(db, boss)
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    ana_token = accounts.issue_token(db, "ana", label="laptop")
    login(client, db, boss)
    nav = css(page(client.get("/queue")), "nav.main-nav a")
    hrefs = {a.get("href") for a in nav}
    assert {"/admin/tokens", "/admin/platforms"} <= hrefs
    doc = page(client.get("/admin/tokens"))
    row = css(doc, f"tr[data-token='{ana_token.id}']")[0]
    assert "laptop" in text_of(row) and "ana" in text_of(row)
    form = css(row, "form")[0]
    r = client.post(form.get("action"), data={"csrf_token": css(form, "input[name=csrf_token]")[0].get("value")},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert accounts.principal_for_token(db, ana_token.token) is None
    assert css(page(client.get("/admin/tokens?all=1")), f"tr[data-token='{ana_token.id}'][data-state='revoked']")

    rid = report(client, platform)
    doc = page(client.get("/admin/platforms"))
    rows = css(doc, f"tr[data-platform='{platform.id}']")
    assert [r.get("data-credential") for r in rows] == ["api-key", "cybertip"]
    auth = (platform.username, platform.password)
    # disable the API key: refused at once; the CyberTipline login still works
    r = client.post(f"/admin/platforms/{platform.id}/disable", data={"which": "api-key"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(platform.api_key)).status_code == 401
    assert client.get("/ispws/status", auth=auth).status_code == 200
    assert css(
        page(client.get("/admin/platforms")),
        f"tr[data-platform='{platform.id}'][data-credential='api-key'][data-active='no']",
    )
    client.post(f"/admin/platforms/{platform.id}/enable", data={"which": "api-key"})
    assert client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(platform.api_key)).status_code == 200
    # rotate each: the old secret stops, the new one (shown once) works
    r = client.post(f"/admin/platforms/{platform.id}/rotate", data={"which": "api-key"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new_key = text_of(css(page(r), "code.api-key")[0])
    assert client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(platform.api_key)).status_code == 401
    assert client.get(f"/api/v1/platform/reports/{rid}", headers=bearer(new_key)).status_code == 200
    r = client.post(f"/admin/platforms/{platform.id}/rotate", data={"which": "cybertip"})
    doc = page(r)
    assert text_of(css(doc, "code.username")[0]) == platform.username and not css(doc, "code.api-key")
    new_password = text_of(css(doc, "code.password")[0])
    assert client.get("/ispws/status", auth=auth).status_code == 401
    assert client.get("/ispws/status", auth=(platform.username, new_password)).status_code == 200
    client.post(f"/admin/platforms/{platform.id}/disable", data={"which": "cybertip"})
    assert client.get("/ispws/status", auth=(platform.username, new_password)).status_code == 401
    assert client.post(f"/admin/platforms/{platform.id}/explode", data={"which": "cybertip"}).status_code == 404
    assert client.post(f"/admin/platforms/{platform.id}/rotate", data={"which": "x"}).status_code == 422
    audited = [
        (e.action, e.details.get("credentials"), e.actor) for e in events(db) if e.action.startswith("platform.")
    ]
    assert audited[1:] == [
        ("platform.disable", ["api-key"], "user:boss"),
        ("platform.enable", ["api-key"], "user:boss"),
        ("platform.rotate", ["api-key"], "user:boss"),
        ("platform.rotate", ["cybertip"], "user:boss"),
        ("platform.disable", ["cybertip"], "user:boss"),
    ]
    # an analyst cannot open either page
    client.cookies.delete(SESSION_COOKIE)
    login(client, db, next(u for u in accounts.list_users(db) if u.name == "ana"))
    assert client.get("/admin/platforms").status_code == 403
    assert client.get("/admin/tokens").status_code == 403


def test_json_api_revokes_tokens_and_admins_manage_platform_credentials(client, db, platform):
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    accounts.create_user(db, "boss", "admin", PASSWORD)
    client.cookies.delete(SESSION_COOKIE)
    a1, a2 = accounts.issue_token(db, "ana", label="one"), accounts.issue_token(db, "ana", label="two")
    listed = client.get("/api/v1/tokens", headers=bearer(a1.token)).json()
    assert [t["label"] for t in listed] == ["two", "one"] and listed[0]["state"] == "live"
    assert "token" not in listed[0]
    # a token that may have leaked revokes itself
    assert client.delete("/api/v1/tokens/current", headers=bearer(a1.token)).status_code == 204
    assert client.get("/api/v1/tokens", headers=bearer(a1.token)).status_code == 401
    # an analyst revokes only their own; an admin anyone's
    boss_plain = full_token(db, "boss")
    assert client.delete(f"/api/v1/tokens/{a2.id}", headers=bearer(boss_plain)).status_code == 204
    assert client.get("/api/v1/queue", headers=bearer(a2.token)).status_code == 401
    a3 = accounts.issue_token(db, "ana")
    boss_analyst = accounts.issue_token(db, "boss")  # analyst scope: no admin power
    assert client.delete(f"/api/v1/tokens/{boss_analyst.id}", headers=bearer(a3.token)).status_code == 404
    body = {"action": "rotate", "which": "api-key"}
    url = f"/api/v1/platforms/{platform.id}/credentials"
    assert client.post(url, headers=bearer(boss_analyst.token), json=body).status_code == 403
    assert client.post(url, headers=bearer(a3.token), json=body).status_code == 403
    r = client.post(url, headers=bearer(boss_plain), json=body)
    assert r.status_code == 200 and r.json()["api_key"].startswith("tlp_") and r.json()["password"] is None
    new_key = r.json()["api_key"]
    assert (
        client.post(
            "/api/v1/reports", headers=bearer(platform.api_key), json={"report_id": "x", "category": "other"}
        ).status_code
        == 401
    )
    assert report(client, accounts.PlatformCredentials(0, "", new_key, "", "")) > 0
    r = client.post(url, headers=bearer(boss_plain), json={"action": "disable", "which": "both"})
    assert r.status_code == 200
    assert client.get("/api/v1/platform/reports/1", headers=bearer(new_key)).status_code == 401
    assert client.get("/ispws/status", auth=(platform.username, platform.password)).status_code == 401
    r = client.post(url, headers=bearer(boss_plain), json={"action": "enable"})
    assert client.get("/ispws/status", auth=(platform.username, platform.password)).status_code == 200
    assert client.post(url, headers=bearer(boss_plain), json={"action": "melt"}).status_code == 422
    assert client.post("/api/v1/platforms/999/credentials", headers=bearer(boss_plain), json=body).status_code == 404
    actions = [e.action for e in events(db)]
    assert actions.count("token.revoke") == 2 and actions.count("platform.rotate") == 1
    by_itself = [e for e in events(db, "token.revoke") if e.details.get("by_itself")]
    assert len(by_itself) == 1 and by_itself[0].actor == "user:ana"


def test_cli_disables_enables_and_rotates_platform_credentials(sqlite_db, monkeypatch):
    from fastapi.testclient import TestClient

    from tipline.cli.main import app as cli_app
    from tipline.web.app import create_app

    monkeypatch.setenv("TIPLINE_DATA_DIR", str(sqlite_db.settings.data_dir))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    p = accounts.create_platform(sqlite_db, "ExampleChat")
    runner = CliRunner()
    with TestClient(create_app(sqlite_db.settings, db=sqlite_db)) as c:
        key_ok = lambda key: c.get("/api/v1/platform/reports/1", headers=bearer(key)).status_code == 404  # noqa: E731
        basic_ok = lambda pw: c.get("/ispws/status", auth=(p.username, pw)).status_code == 200  # noqa: E731
        r = runner.invoke(cli_app, ["platforms", "disable", "ExampleChat", "--only", "cybertip"])
        assert r.exit_code == 0, r.output
        assert key_ok(p.api_key) and not basic_ok(p.password)
        listed = json.loads(runner.invoke(cli_app, ["platforms", "list", "--json"]).stdout)
        assert listed[0]["api_key_active"] and not listed[0]["cybertip_active"]
        runner.invoke(cli_app, ["platforms", "enable", "ExampleChat"])
        assert basic_ok(p.password)
        r = runner.invoke(cli_app, ["platforms", "rotate", "ExampleChat", "--json"])
        new = json.loads(r.stdout)
        assert new["username"] == p.username and new["api_key"] != p.api_key
        assert not key_ok(p.api_key) and not basic_ok(p.password)
        assert key_ok(new["api_key"]) and basic_ok(new["password"])
        r = runner.invoke(cli_app, ["platforms", "rotate", "Nope"])
        assert r.exit_code == 1 and "no platform named 'Nope'" in r.output
        r = runner.invoke(cli_app, ["platforms", "disable", "ExampleChat", "--only", "password"])
        assert r.exit_code == 1 and "api-key, cybertip or both" in r.output
    assert [e.action for e in events(sqlite_db) if e.actor == "cli"] == [
        "platform.create",
        "platform.disable",
        "platform.enable",
        "platform.rotate",
    ]


@pytest.mark.parametrize("backend_url", ["sqlite", "postgres"])
def test_upgrade_scopes_old_tokens_and_ends_the_credentials_of_inactive_users(tmp_path, backend_url, request):
    from sqlalchemy import text

    with before_migration(backend_url, tmp_path, "_credentials.py") as m:
        now = datetime.now(UTC)
        with m.engine.begin() as c:
            for i, (name_, active) in enumerate([("ana", True), ("gone", False)], start=1):
                c.execute(
                    text("INSERT INTO users (id, name, role, password_hash, active, created_at, failed_logins) "
                         "VALUES (:i, :n, 'analyst', 'x', :a, :t, 0)"),
                    {"i": i, "n": name_, "a": active, "t": now},
                )  # fmt: skip
                c.execute(
                    text("INSERT INTO api_tokens (user_id, token_hash, created_at, revoked) VALUES (:i, :h, :t, :r)"),
                    {"i": i, "h": f"{i:064d}", "t": now, "r": False},
                )
                c.execute(
                    text("INSERT INTO staff_sessions (id, user_id, created_at, last_seen_at, csrf_token, revoked) "
                         "VALUES (:h, :i, :t, :t, 'c', :r)"),
                    {"i": i, "h": f"{i:064d}", "t": now, "r": False},
                )  # fmt: skip
        m.up("head")
        with m.engine.connect() as c:
            rows = c.execute(
                text("SELECT user_id, scope, expires_at, revoked, revoked_by FROM api_tokens ORDER BY user_id")
            ).all()
            sessions = dict(c.execute(text("SELECT user_id, revoked FROM staff_sessions")).all())
        assert [(r[0], r[1], bool(r[3])) for r in rows] == [(1, "analyst", False), (2, "analyst", True)]
        assert all(r[2] is not None for r in rows) and "inactive" in rows[1][4]
        assert {k: bool(v) for k, v in sessions.items()} == {1: False, 2: True}
        m.down()
        m.up("head")


@pytest.mark.parametrize("ttl", [0.0, 0.6])
def test_a_key_changed_by_another_process_is_refused_within_the_key_cache_time(sqlite_settings, ttl):
    """A server process trusts a key it checked for `api_key_cache_seconds` (the door then reads no platforms
    table at each report). A change made elsewhere (here written to the table directly, as another process
    commits it) is seen once that time is over; with 0 at the next request."""
    from fastapi.testclient import TestClient

    from tipline.capabilities import open_database
    from tipline.store.models import Platform
    from tipline.web.app import create_app

    settings = sqlite_settings.model_copy(update={"api_key_cache_seconds": ttl})
    db = open_database(settings)
    db.migrate()
    p = accounts.create_platform(db, "ExampleChat")
    with TestClient(create_app(settings, db=db)) as c:
        status = lambda: c.get("/api/v1/platform/reports/1", headers=bearer(p.api_key)).status_code  # noqa: E731
        assert status() == 404  # the key is good (no such report)
        with db.session() as s:
            s.execute(update(Platform).where(Platform.id == p.id).values(api_key_active=False))
        if ttl:
            assert status() == 404  # still trusted by this process for a moment
            time.sleep(ttl + 0.1)
        assert status() == 401
        with db.session() as s:  # enabled again elsewhere: a refused key is never kept, so it works at once
            s.execute(update(Platform).where(Platform.id == p.id).values(api_key_active=True))
        assert status() == 404
        # changed in this process: refused at once, whatever the cache time
        accounts.set_platform_credentials(db, "ExampleChat", False, which="api-key")
        assert status() == 401
    db.dispose()
