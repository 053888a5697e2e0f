"""Staff authentication: Argon2id parameters, password policy, TOTP with replay protection, recovery
codes, lockout, sessions (stages, timeouts, revocation), the login and enrolment pages, the account and
admin pages, the audit page and the CLI. Real app, real SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from helpers import (
    PASSWORD,
    _csrf,  # noqa: F401 (autouse: a CSRF token per client)
    code_at,
    css,
    enrol,
    events,
    form_token,
    fresh_code,
    login_page,
    now_step,
    page,
    set_last_step_back,
    text_of,
)
from tipline.accounts import service as accounts
from tipline.accounts.service import Role
from tipline.store.models import AuditEvent, RecoveryCode, StaffSession, User
from tipline.web.app import SESSION_COOKIE

# OWASP Password Storage Cheat Sheet: Argon2id configurations of equal strength (memory KiB, passes);
# ASVS 5.0 11.4.2 (level 2) asks for "current guidance", which is this table
OWASP_ARGON2ID = [(47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5)]


def argon2_params(digest: str) -> tuple[str, int, int, int]:
    m = re.match(r"^\$(argon2(?:id|i|d))\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", digest)
    assert m, digest
    return m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))


def meets_owasp(digest: str) -> bool:
    variant, memory, passes, lanes = argon2_params(digest)
    return variant == "argon2id" and lanes >= 1 and any(memory >= m and passes >= t for m, t in OWASP_ARGON2ID)


# ------------------------------------------------------------------------------------------ passwords


def test_argon2id_parameters_meet_owasp_and_asvs_level_2(db):
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    with db.reader() as s:
        digest = s.scalar(select(User.password_hash).where(User.id == user.id))
    assert meets_owasp(digest), digest
    # set explicitly, not inherited from a library default that may change
    assert accounts.PASSWORD_HASH_PARAMS["memory_cost"] >= 19_456 and accounts.PASSWORD_HASH_PARAMS["time_cost"] >= 2
    # the test itself refuses weaker parameters
    assert not meets_owasp(PasswordHasher(time_cost=1, memory_cost=19_456, parallelism=1).hash("x"))
    assert not meets_owasp("$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA")


def test_a_weaker_old_hash_is_upgraded_at_login(db):
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8_192, parallelism=1).hash(PASSWORD)
    with db.session() as s:
        s.execute(update(User).where(User.id == user.id).values(password_hash=weak))
    assert accounts.authenticate(db, "ana", PASSWORD) is not None
    with db.reader() as s:
        digest = s.scalar(select(User.password_hash).where(User.id == user.id))
    assert digest != weak and meets_owasp(digest)


@pytest.mark.parametrize(
    ("password", "key"),
    [
        ("short pw", "password.short"),
        ("x" * 1025, "password.long"),
        ("password1234", "password.common"),
        ("qwertyuiopasdfgh", "password.weak"),
        ("bartholomew2024!", "password.name"),
        ("tab\tinside password", "password.control"),
        ("aaaaaaaaaaaaaaaa", "password.weak"),
    ],
)
def test_password_policy_refuses(sqlite_db, password, key):
    with pytest.raises(accounts.AccountError) as e:
        accounts.create_user(sqlite_db, "bartholomew", "analyst", password)
    assert e.value.key == key, str(e.value)


@pytest.mark.parametrize("password", ["correct horse battery staple", "Ünïcödé pässphräse ñ 漢字 ok"])
def test_password_policy_accepts_long_and_any_characters(sqlite_db, password):
    accounts.create_user(sqlite_db, "bart", "analyst", password)
    assert accounts.authenticate(sqlite_db, "bart", password) is not None


def test_passphrase_of_max_length_is_accepted(sqlite_db):
    long = ("river stone lamp " * 70)[:1024]
    accounts.create_user(sqlite_db, "bart", "analyst", long)
    assert accounts.authenticate(sqlite_db, "bart", long) is not None


# ------------------------------------------------------------------------------------------ TOTP


def test_totp_code_is_never_accepted_twice(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    secret, _codes = enrol(db, user)
    set_last_step_back(db, user.id)
    code = code_at(secret, now_step())
    assert accounts.verify_second_factor(db, user.id, code)
    assert not accounts.verify_second_factor(db, user.id, code), "replayed"
    # an older code of the window after a newer one: also refused
    assert not accounts.verify_second_factor(db, user.id, code_at(secret, now_step() - 1))
    assert [e.action for e in events(db)][-2:] == ["mfa.replay", "mfa.fail"]
    # the next step is still fine (clock drift of one step)
    assert accounts.verify_second_factor(db, user.id, code_at(secret, now_step() + 1))


def test_totp_race_with_one_code_has_one_winner(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    secret, _codes = enrol(db, user)
    set_last_step_back(db, user.id)
    code = code_at(secret, now_step())
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        results.append(accounts.verify_second_factor(db, user.id, code))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]


def test_wrong_and_malformed_codes(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    secret, _codes = enrol(db, user)
    for bad in ["", "12345", "1234567", "abcdef", "１２３４５６", "\x00" * 6, "9" * 10_000]:
        assert not accounts.verify_second_factor(db, user.id, bad)
    assert accounts.totp_step(secret, "000 000") in (None, now_step() - 1, now_step(), now_step() + 1)


def test_enrolment_needs_a_right_code_and_keeps_the_secret_sealed(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    secret = accounts.start_enrolment(db, user.id)
    assert accounts.confirm_enrolment(db, user.id, "000000" if code_at(secret, now_step()) != "000000" else "1") is None
    assert not accounts.mfa_enabled(db, user.id)
    with db.reader() as s:
        raw = s.execute(text("SELECT totp_secret_sealed FROM users WHERE id = :i"), {"i": user.id}).scalar()
    assert secret.encode() not in bytes(raw) and base64.b32decode(secret) not in bytes(raw)
    assert accounts.confirm_enrolment(db, user.id, pyotp.TOTP(secret).now()) is not None
    assert accounts.mfa_enabled(db, user.id)
    with pytest.raises(accounts.AccountError):
        accounts.start_enrolment(db, user.id)  # no silent replacement of a factor in force


# ------------------------------------------------------------------------------------------ recovery codes


def test_recovery_codes_are_single_use_and_stored_as_argon2id(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    _secret, codes = enrol(db, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", c) for c in codes)
    with db.reader() as s:
        hashes = list(s.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
    assert len(hashes) == 10 and all(argon2_params(h)[0] == "argon2id" for h in hashes)
    assert not any(c.replace("-", "") in h for c in codes for h in hashes)

    assert accounts.verify_second_factor(db, user.id, codes[3].upper().replace("-", " "))
    assert not accounts.verify_second_factor(db, user.id, codes[3])
    assert accounts.recovery_codes_left(db, user.id) == 9
    assert events(db, "mfa.recovery_code.use")[-1].details == {"left": 9}
    # new codes replace the old ones
    set_last_step_back(db, user.id)
    new = accounts.regenerate_recovery_codes(db, user.id, code_at(_secret, now_step()))
    assert new is not None and accounts.recovery_codes_left(db, user.id) == 10
    assert not accounts.verify_second_factor(db, user.id, codes[4])


# ------------------------------------------------------------------------------------------ lockout


def test_five_wrong_passwords_lock_the_account_and_an_admin_unlocks_it(db):
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    for _ in range(5):
        assert accounts.login_password(db, "ana", "wrong password!") is None
    # the right password does not open a locked account
    assert accounts.login_password(db, "ana", PASSWORD) is None
    assert [r.locked for r in accounts.user_rows(db)] == [True]
    lock = events(db, "user.lock")
    assert len(lock) == 1 and lock[0].details == {"minutes": 15, "after": "login"}
    assert events(db, "login.locked")
    accounts.unlock_user(db, "ana", by="cli")
    assert accounts.login_password(db, "ana", PASSWORD) is not None
    assert events(db, "user.unlock")[0].details == {"was_locked": True}


def test_a_lock_ends_by_itself(db):
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    for _ in range(5):
        accounts.login_password(db, "ana", "wrong password!")
    with db.session() as s:
        s.execute(update(User).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert accounts.login_password(db, "ana", PASSWORD) is not None


def test_wrong_codes_count_towards_the_lockout_and_a_password_does_not_reset_it(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    secret, _codes = enrol(db, user)
    for _ in range(4):
        step = accounts.login_password(db, "sue", PASSWORD)
        assert step is not None and step.stage == "password"
        assert not accounts.verify_second_factor(
            db, user.id, "000000" if code_at(secret, now_step()) != "000000" else "111111"
        )
    assert accounts.login_password(db, "sue", PASSWORD) is not None
    assert not accounts.verify_second_factor(db, user.id, "abcd-efgh-jkmn-pqrs")
    assert events(db, "user.lock")[-1].details["after"] == "mfa"
    set_last_step_back(db, user.id)
    assert not accounts.verify_second_factor(db, user.id, code_at(secret, now_step())), "locked"


def test_unknown_names_are_not_audited_and_take_as_long(sqlite_db):
    assert accounts.login_password(sqlite_db, "nobody", PASSWORD) is None
    assert events(sqlite_db) == []


# ------------------------------------------------------------------------------------------ sessions


def test_session_stages_timeouts_and_revocation(db):
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    cookie, csrf = accounts.open_session(db, user)
    info = accounts.session_info(db, cookie)
    assert info is not None and info.stage == "full" and info.csrf == csrf
    key = accounts.sha256_hex(cookie)
    # idle
    with db.session() as s:
        s.execute(update(StaffSession).where(StaffSession.id == key).values(
            last_seen_at=datetime.now(UTC) - timedelta(minutes=61)))  # fmt: skip
    assert accounts.session_info(db, cookie) is None
    with db.reader() as s:
        row = s.get(StaffSession, key)
        assert row is not None and row.revoked and row.revoked_by == "expired"
    # absolute lifetime, however active
    cookie, _ = accounts.open_session(db, user)
    with db.session() as s:
        s.execute(update(StaffSession).where(StaffSession.id == accounts.sha256_hex(cookie)).values(
            created_at=datetime.now(UTC) - timedelta(hours=13)))  # fmt: skip
    assert accounts.session_info(db, cookie) is None
    # a login waiting for its code lasts five minutes
    cookie, _ = accounts.open_session(db, user, stage="password")
    assert accounts.session_principal(db, cookie, idle=timedelta(hours=1)) is None  # not logged in yet
    with db.session() as s:
        s.execute(update(StaffSession).where(StaffSession.id == accounts.sha256_hex(cookie)).values(
            created_at=datetime.now(UTC) - timedelta(minutes=6)))  # fmt: skip
    assert accounts.session_info(db, cookie) is None
    # revoked by an admin, by its listed prefix
    cookie, _ = accounts.open_session(db, user)
    rows = accounts.list_sessions(db)
    assert [r.user for r in rows] == ["ana"]
    assert accounts.revoke_session(db, rows[0].short, by="cli")
    assert accounts.session_info(db, cookie) is None
    assert not accounts.revoke_session(db, "'; drop table users; --")


def test_promotion_issues_a_new_session_id(db):
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    pending, _ = accounts.open_session(db, user, stage="password")
    new, _ = accounts.promote_session(db, pending)
    assert new != pending
    assert accounts.session_info(db, pending) is None
    assert accounts.session_info(db, new).stage == "full"  # type: ignore[union-attr]


def test_role_change_and_deactivation_end_sessions_and_the_last_admin_stays(db):
    admin = accounts.create_user(db, "root", "admin", PASSWORD)
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    cookie, _ = accounts.open_session(db, user)
    accounts.set_role(db, "ana", Role.SUPERVISOR, by=admin)
    assert accounts.session_info(db, cookie) is None
    cookie, _ = accounts.open_session(db, user)
    accounts.set_active(db, "ana", False, by=admin)
    assert accounts.session_info(db, cookie) is None
    assert accounts.login_password(db, "ana", PASSWORD) is None
    with pytest.raises(accounts.AccountError) as e:
        accounts.set_role(db, "root", Role.ANALYST, by=admin)
    assert e.value.key == "admin.last"
    with pytest.raises(accounts.AccountError):
        accounts.set_active(db, "root", False, by=admin)


def test_reset_mfa_forgets_the_factor_and_ends_sessions(db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    enrol(db, user)
    cookie, _ = accounts.open_session(db, user)
    accounts.reset_mfa(db, "sue", by="cli")
    assert not accounts.mfa_enabled(db, user.id) and accounts.recovery_codes_left(db, user.id) == 0
    assert accounts.session_info(db, cookie) is None
    step = accounts.login_password(db, "sue", PASSWORD)
    assert step is not None and step.stage == "enrol"
    assert events(db, "mfa.reset")[0].details == {"sessions_revoked": 1, "tokens_revoked": 0}


# ------------------------------------------------------------------------------------------ pages


def test_supervisor_is_made_to_enrol_then_logs_in_with_a_code(client, db):
    accounts.create_user(db, "sue", "supervisor", PASSWORD)
    r = login_page(client, "sue", next="/audit")
    assert r.status_code == 303 and r.headers["location"] == "/account/mfa/enrol?next=%2Faudit"
    pending_cookie = client.cookies.get(SESSION_COOKIE)
    # nothing else opens until the second factor is set up
    for path in ("/queue", "/audit", "/account"):
        r = client.get(path, follow_redirects=True)
        assert r.url.path == "/account/mfa/enrol", path
    r = client.get("/account/mfa/enrol?next=/audit")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = page(r)
    img = css(doc, "img.qr")[0]
    assert img.get("src").startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(img.get("src").split(",", 1)[1]).decode()
    assert "<script" not in svg and "style=" not in svg
    secret = text_of(css(doc, "code.totp-secret")[0]).replace(" ", "")
    assert not doc.xpath("//script[not(@src)]") and not doc.xpath("//@*[starts-with(name(), 'on')]")
    token = css(doc, "form[action='/account/mfa/enrol'] input[name=csrf_token]")[0].get("value")
    r = client.post("/account/mfa/enrol", data={"csrf_token": token, "code": "12345x", "next": "/audit"})
    assert r.status_code == 422 and css(page(r), "#error-summary")
    r = client.post(
        "/account/mfa/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now(), "next": "/audit"}
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    codes = [text_of(c) for c in css(page(r), "ol.recovery-codes code")]
    assert len(codes) == 10
    assert client.cookies.get(SESSION_COOKIE) != pending_cookie  # a new id once logged in
    assert client.get("/audit", follow_redirects=False).status_code == 200

    # log out and in again: password, then the code (a fresh time step)
    token = form_token(client, "/queue")
    client.post("/logout", data={"csrf_token": token})
    r = login_page(client, "sue", next="/audit")
    assert r.status_code == 303 and r.headers["location"] == "/login/code?next=%2Faudit"
    assert client.get("/queue", follow_redirects=False).status_code == 303
    token = form_token(client, "/login/code?next=/audit")
    r = client.post("/login/code", data={"csrf_token": token, "code": "000000x", "next": "/audit"})
    assert r.status_code == 401 and "Wrong or already used code" in text_of(page(r).get_element_by_id("error-summary"))
    user = accounts.list_users(db)[0]
    r = client.post(
        "/login/code",
        data={"csrf_token": token, "code": fresh_code(db, user.id, secret), "next": "/audit"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    assert client.get("/audit").status_code == 200

    # and with a recovery code instead of the app
    client.post("/logout", data={"csrf_token": form_token(client, "/queue")})
    login_page(client, "sue")
    token = form_token(client, "/login/code")
    r = client.post("/login/code", data={"csrf_token": token, "code": codes[0]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    actions = [e.action for e in events(db)]
    assert {"login.enrol", "mfa.enrol", "login.password", "mfa.fail", "login.ok", "mfa.recovery_code.use"} <= set(
        actions
    )


def test_analyst_mfa_is_optional_unless_the_setting_says_so(client, db, app):
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    r = login_page(client, "ana")
    assert r.headers["location"] == "/queue"
    client.cookies.delete(SESSION_COOKIE)
    app.state.db.settings.mfa_required_for_analysts = True
    try:
        r = login_page(client, "ana")
        assert r.headers["location"].startswith("/account/mfa/enrol")
    finally:
        app.state.db.settings.mfa_required_for_analysts = False


def test_pending_login_cannot_use_the_json_api_or_staff_pages(client, db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    enrol(db, user)
    login_page(client, "sue")
    assert client.get("/api/v1/queue").status_code == 401
    assert client.get("/reports/1", follow_redirects=False).status_code == 303


def test_account_page_password_change_and_optional_mfa(client, db):
    user = accounts.create_user(db, "ana", "analyst", PASSWORD)
    other_cookie, _ = accounts.open_session(db, user)
    login_page(client, "ana")
    doc = page(client.get("/account"))
    assert css(doc, ".mfa-status")[0].get("data-mfa") == "off"
    assert len(css(doc, "table.sessions tbody tr")) == 2
    token = css(doc, "form[action='/account/password'] input[name=csrf_token]")[0].get("value")
    r = client.post(
        "/account/password", data={"csrf_token": token, "current": "nope nope nope", "new": "x", "confirm": "x"}
    )
    assert r.status_code == 422 and "current password is wrong" in r.text
    r = client.post(
        "/account/password",
        data={"csrf_token": token, "current": PASSWORD, "new": "qwertyuiopasdfgh", "confirm": "qwertyuiopasdfgh"},
    )
    assert r.status_code == 422 and "easy to guess" in r.text
    new = "violet tractor sings at noon"
    r = client.post(
        "/account/password", data={"csrf_token": token, "current": PASSWORD, "new": new, "confirm": new},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    assert accounts.session_info(db, other_cookie) is None  # other sessions ended, this one kept
    assert client.get("/account").status_code == 200
    assert accounts.authenticate(db, "ana", new) is not None

    # an analyst may turn MFA on, and off again with a code
    secret = text_of(css(page(client.get("/account/mfa/enrol")), "code.totp-secret")[0]).replace(" ", "")
    r = client.post("/account/mfa/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200
    assert css(page(client.get("/account")), ".mfa-status")[0].get("data-mfa") == "on"
    set_last_step_back(db, user.id)
    r = client.post(
        "/account/mfa/disable", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}, follow_redirects=False
    )
    assert r.status_code == 303 and not accounts.mfa_enabled(db, user.id)


def test_supervisor_cannot_turn_mfa_off(client, db):
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    secret, _ = enrol(db, user)
    cookie, csrf = accounts.open_session(db, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    set_last_step_back(db, user.id)
    r = client.post("/account/mfa/disable", data={"csrf_token": csrf, "code": code_at(secret, now_step())})
    assert r.status_code == 422 and accounts.mfa_enabled(db, user.id)


def admin_client(client, db):  # type: ignore[no-untyped-def]
    admin = accounts.create_user(db, "root", "admin", PASSWORD)
    enrol(db, admin)
    cookie, csrf = accounts.open_session(db, admin)
    client.cookies.set(SESSION_COOKIE, cookie)
    return admin, csrf


def test_admin_pages_manage_users_and_sessions(client, db):
    admin, csrf = admin_client(client, db)
    r = client.post("/admin/users", data={"csrf_token": csrf, "name": "bob", "role": "analyst", "password": "letmein"})
    assert r.status_code == 422 and css(page(r), "p.field-error[data-field=password]")
    r = client.post(
        "/admin/users",
        data={"csrf_token": csrf, "name": "bob", "role": "supervisor", "password": "violet tractor sings at noon"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    rows = {tr.get("data-user"): tr for tr in css(page(client.get("/admin/users")), "table.users tbody tr")}
    assert set(rows) == {"root", "bob"}
    assert "Required, not set up" in text_of(css(rows["bob"], "td.mfa")[0])

    for _ in range(5):
        accounts.login_password(db, "bob", "wrong password!")
    doc = page(client.get("/admin/users"))
    assert css(doc, "tr[data-user=bob] [data-locked]")
    assert css(doc, "tr[data-user=bob] button[data-action=unlock]")
    r = client.post("/admin/users/bob/unlock", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=unlock&who=bob"
    assert not css(page(client.get("/admin/users")), "tr[data-user=bob] [data-locked]")

    bob_cookie, _ = accounts.open_session(db, accounts.list_users(db)[0])
    sessions = css(page(client.get("/admin/sessions")), "table.sessions tbody tr")
    assert {tr.get("data-user") for tr in sessions} == {"root", "bob"}
    key = accounts.sha256_hex(bob_cookie)
    r = client.post("/admin/sessions/revoke", data={"csrf_token": csrf, "session": key}, follow_redirects=False)
    assert r.status_code == 303 and accounts.session_info(db, bob_cookie) is None

    client.post("/admin/users/bob/role", data={"csrf_token": csrf, "role": "analyst"})
    assert {u.name: u.role for u in accounts.list_users(db)}["bob"] == Role.ANALYST
    r = client.post("/admin/users/root/role", data={"csrf_token": csrf, "role": "analyst"})
    assert r.status_code == 422 and "last active admin" in r.text
    r = client.post("/admin/users/nobody/unlock", data={"csrf_token": csrf})
    assert r.status_code == 404
    r = client.post("/admin/users/bob/explode", data={"csrf_token": csrf})
    assert r.status_code == 404
    client.post("/admin/users/bob/deactivate", data={"csrf_token": csrf})
    assert accounts.login_password(db, "bob", "violet tractor sings at noon") is None
    actions = {e.action for e in events(db) if e.actor == "user:root"}
    assert {"user.create", "user.unlock", "session.revoke", "user.role", "user.deactivate"} <= actions


def test_audit_page_lists_paginates_filters_and_verifies(client, db, monkeypatch):
    import tipline.web.pages_admin as pages_admin

    monkeypatch.setattr(pages_admin, "AUDIT_PAGE_SIZE", 3)
    user = accounts.create_user(db, "sue", "supervisor", PASSWORD)
    enrol(db, user)
    for _ in range(3):
        accounts.login_password(db, "nobody-here", "x")
        accounts.login_password(db, "sue", "wrong password!")
    accounts.unlock_user(db, "sue")
    cookie, csrf = accounts.open_session(db, user)
    client.cookies.set(SESSION_COOKIE, cookie)
    r = client.get("/audit")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    doc = page(r)
    seqs = [int(tr.get("data-seq")) for tr in css(doc, "table.audit tbody tr")]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 3
    assert {a.get("rel") for a in css(doc, "nav.pagination a")} == {"next"}
    doc = page(client.get("/audit?action=login.fail"))
    assert {tr.get("data-action") for tr in css(doc, "table.audit tbody tr")} == {"login.fail"}
    doc = page(client.get("/audit?action=mfa."))
    assert {tr.get("data-action") for tr in css(doc, "table.audit tbody tr")} == {"mfa.enrol"}

    r = client.post("/audit/verify", data={"csrf_token": csrf})
    assert css(page(r), ".verify-result")[0].get("data-ok") == "1"
    with db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="someone else"))
    r = client.post("/audit/verify", data={"csrf_token": csrf})
    result = css(page(r), ".verify-result")[0]
    assert result.get("data-ok") == "0" and "event 2" in text_of(result)
    assert [e.details["ok"] for e in events(db, "audit.verify")] == [True, False]


# ------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def cli(sqlite_db, monkeypatch):  # type: ignore[no-untyped-def]
    import importlib

    from tipline.accounts import cli as accounts_cli

    main = importlib.import_module("tipline.cli.main")  # the package's ``main`` attribute is the function

    if "sessions" not in {g.name for g in main.app.registered_groups}:
        accounts_cli.register(main.app)
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(sqlite_db.settings.data_dir))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(main.app, list(args))
        assert res.exit_code == code, res.output
        return res.output

    return run


def test_cli_unlock_reset_mfa_and_sessions(cli, sqlite_db):
    user = accounts.create_user(sqlite_db, "sue", "supervisor", PASSWORD)
    enrol(sqlite_db, user)
    for _ in range(5):
        accounts.login_password(sqlite_db, "sue", "wrong password!")
    assert "unlocked 'sue'" in cli("users", "unlock", "sue")
    assert accounts.login_password(sqlite_db, "sue", PASSWORD) is not None
    assert "no staff user" in cli("users", "unlock", "nobody", code=1)
    cookie, _ = accounts.open_session(sqlite_db, user)
    listed = cli("sessions", "list", "--json")
    import json

    rows = json.loads(listed)
    assert [r["user"] for r in rows] == ["sue"] and len(rows[0]["id"]) == 8
    assert "ended" in cli("sessions", "revoke", rows[0]["id"])
    assert accounts.session_info(sqlite_db, cookie) is None
    assert "no live session" in cli("sessions", "revoke", "ffffffff", code=1)
    cli("users", "reset-mfa", "sue")
    assert not accounts.mfa_enabled(sqlite_db, user.id)
    assert {e.action for e in events(sqlite_db) if e.actor == "cli"} >= {"user.unlock", "session.revoke", "mfa.reset"}
