"""Per-bank terms: who may match against a bank (staff only, listed platforms, all) and what a platform sees of
a match (yes/no, the category, the label), through /api/v1/match, the panic button, the bank page and
`tipline banks terms`; staff always see every match."""

from __future__ import annotations

import json
import secrets

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import PASSWORD, bearer, css, login_as, page, text_of
from tipline.accounts import service as accounts
from tipline.media import banks
from tipline.media.banks import BankError
from tipline.media.models import LABEL_ABUSE, LABEL_REVIEW
from tipline.store.models import AuditEvent


def hx(n: int) -> str:
    return secrets.token_hex(n // 2)


def _bank(db, name: str, value: str, *, scope: str, view: str, platforms=None) -> None:  # type: ignore[no-untyped-def]
    banks.create_bank(db, name, default_label=LABEL_ABUSE, terms=f"{name}: terms text")
    banks.import_entries(db, name, [banks.make_entry("md5", value, "series 7")])
    banks.set_visibility(db, name, scope=scope, view=view, platforms=platforms)


def test_each_visibility_through_the_match_api(client, db, platform, analyst_token):
    other = accounts.create_platform(db, "OtherChat")
    values = [hx(32) for _ in range(5)]
    _bank(db, "Staff only", values[0], scope="staff", view="label")
    _bank(db, "Listed", values[1], scope="listed", view="label", platforms=[platform.name])
    _bank(db, "YesNo", values[2], scope="all", view="yesno")
    _bank(db, "Category", values[3], scope="all", view="category")
    _bank(db, "Label", values[4], scope="all", view="label")
    body = {"hashes": [{"kind": "md5", "hash": v} for v in values]}

    def ask(key: str) -> list[dict]:
        r = client.post("/api/v1/match", json=body, headers=bearer(key))
        assert r.status_code == 200, r.text
        return r.json()["matches"]

    staff = ask(analyst_token)
    assert [(m["query"], m["bank"], m["label"]) for m in staff] == [
        (0, "Staff only", "series 7"),
        (1, "Listed", "series 7"),
        (2, "YesNo", "series 7"),
        (3, "Category", "series 7"),
        (4, "Label", "series 7"),
    ]
    mine = {m["query"]: m for m in ask(platform.api_key)}
    assert sorted(mine) == [1, 2, 3, 4]  # not the staff-only bank
    assert mine[2] == {"matched": True, "query": 2, "query_hash": values[2], "query_kind": "md5"}  # yes/no: no label
    assert mine[3] == {
        "matched": True,
        "category": LABEL_ABUSE,
        "query": 3,
        "query_hash": values[3],
        "query_kind": "md5",
    }
    assert (mine[1]["bank"], mine[1]["label"], mine[1]["distance"]) == ("Listed", "series 7", 0)
    assert (mine[4]["bank"], mine[4]["label"]) == ("Label", "series 7") and "entry_id" not in mine[4]
    theirs = {m["query"] for m in ask(other.api_key)}
    assert theirs == {2, 3, 4}  # not listed on "Listed"


def test_the_panic_button_answers_as_the_terms_allow(client, db, platform):
    seen, hidden = hx(32), hx(32)
    _bank(db, "YesNo", seen, scope="all", view="yesno")
    _bank(db, "Staff only", hidden, scope="staff", view="label")
    body = {
        "stream_id": "s-1",
        "broadcaster": {"account": "streamer_1"},
        "frame_hashes": [{"kind": "md5", "hash": seen, "offset_ms": 10}, {"kind": "md5", "hash": hidden}],
    }
    r = client.post("/api/v1/live", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 201, r.text
    assert r.json()["matches"] == [{"matched": True, "frame_offset_ms": 10, "frame_hash": seen}]
    rid = r.json()["id"]
    from tipline.media.matching import report_matches

    assert {m["bank"] for m in report_matches(db, rid)} == {"YesNo", "Staff only"}  # staff see both


def test_terms_are_checked_and_audited(db, platform):
    banks.create_bank(db, "B")
    with pytest.raises(BankError, match="unknown scope"):
        banks.set_visibility(db, "B", scope="friends")
    with pytest.raises(BankError, match="unknown view"):
        banks.set_visibility(db, "B", view="everything")
    with pytest.raises(BankError, match="no platform 'Nope'"):
        banks.set_visibility(db, "B", scope="listed", platforms=["Nope"])
    with pytest.raises(BankError, match="needs at least one platform"):
        banks.set_visibility(db, "B", scope="listed")
    b = banks.set_visibility(db, "B", scope="listed", platforms=[platform.name], view="yesno", terms="No sharing.")
    assert (b.match_scope, b.match_platforms, b.platform_view, b.terms) == (
        "listed",
        (platform.id,),
        "yesno",
        "No sharing.",
    )
    with db.reader() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "bank.visibility")).one()
    assert ev.details["match_scope"] == ["all", "listed"] and ev.details["platform_view"] == ["label", "yesno"]


def test_supervisor_sets_the_terms_on_the_bank_page(client, db, platform):
    accounts.create_user(db, "boss", "supervisor", PASSWORD)
    login_as(client, "boss")
    csrf = css(page(client.get("/queue")), "form[action='/logout'] input[name=csrf_token]")[0].get("value")
    b = banks.create_bank(db, "Partner", default_label=LABEL_REVIEW)
    doc = page(client.get(f"/banks/{b.id}"))
    assert css(doc, "#f-scope option[selected]")[0].get("value") == "all"
    assert [el.get("value") for el in css(doc, "input[name=platform]")] == [str(platform.id)]
    r = client.post(f"/banks/{b.id}/terms", data={"scope": "listed", "view": "yesno", "csrf_token": csrf})
    assert r.status_code == 422 and "needs at least one platform" in text_of(css(page(r), "#terms-error")[0])
    r = client.post(
        f"/banks/{b.id}/terms",
        data={
            "scope": "listed",
            "platform": str(platform.id),
            "view": "category",
            "terms": "Hash sharing only.",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    doc = page(client.get(r.headers["location"]))
    assert css(doc, "#f-scope option[selected]")[0].get("value") == "listed"
    assert css(doc, "#f-view option[selected]")[0].get("value") == "category"
    assert css(doc, "input[name=platform][checked]")[0].get("value") == str(platform.id)
    assert "Hash sharing only." in text_of(doc)
    r = client.post(f"/banks/{b.id}/terms", data={"scope": "staff", "view": "label"})  # no CSRF token
    assert r.status_code == 403 and banks.get_bank(db, b.id).match_scope == "listed"


def test_banks_terms_command(sqlite_db, monkeypatch):
    from tipline.cli.main import app as cli_app

    monkeypatch.setenv("TIPLINE_DATA_DIR", str(sqlite_db.settings.data_dir))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    p = accounts.create_platform(sqlite_db, "ExampleChat")
    banks.create_bank(sqlite_db, "Partner")
    runner = CliRunner()
    r = runner.invoke(
        cli_app, ["banks", "terms", "Partner", "--scope", "listed", "--platform", p.name, "--view", "yesno", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["match_scope"], out["match_platforms"], out["platform_view"]) == ("listed", [p.id], "yesno")
    r = runner.invoke(cli_app, ["banks", "terms", "Partner", "--view", "all of it"])
    assert r.exit_code == 1 and "unknown view" in r.output


def test_the_panic_button_of_a_queued_server_matches_at_once_under_the_terms(settings):
    """`tipline serve` analyses behind the door: the press is matched in the request (the in-process index),
    each bank's terms applied for the platform that pressed it, a listed bank for its listed platform only."""
    from fastapi.testclient import TestClient

    from tipline.capabilities import open_database
    from tipline.media import retro
    from tipline.web.app import create_app

    db = open_database(settings.model_copy(update={"analyse_inline": False}))
    db.migrate()
    listed, staff_only, nothing = hx(32), hx(32), hx(32)
    mine, other = accounts.create_platform(db, "ListedChat"), accounts.create_platform(db, "OtherChat")
    _bank(db, "Listed", listed, scope="listed", view="label", platforms=[mine.name])
    _bank(db, "Staff only", staff_only, scope="staff", view="label")
    retro.run_waiting(db)  # the imports' matches of stored files, now: not in a thread that outlives the test
    frames = [{"kind": "md5", "hash": h, "offset_ms": i} for i, h in enumerate((listed, staff_only, nothing))]
    with TestClient(create_app(db.settings, db=db)) as c:

        def press(p, stream: str) -> list[dict]:  # type: ignore[no-untyped-def]
            body = {"stream_id": stream, "broadcaster": {"account": "host"}, "frame_hashes": frames}
            r = c.post("/api/v1/live", json=body, headers=bearer(p.api_key))
            assert r.status_code == 201 and r.json()["priority"] == 1, r.text
            return r.json()["matches"]

        assert [(m["bank"], m["label"], m["frame_offset_ms"]) for m in press(mine, "s-mine")] == [
            ("Listed", "series 7", 0)
        ]
        assert press(other, "s-other") == []  # not listed; the staff-only bank is never shown
        body = {"stream_id": "s-none", "broadcaster": {"account": "host"}, "frame_hashes": [frames[2]]}
        assert c.post("/api/v1/live", json=body, headers=bearer(other.api_key)).json()["matches"] == []
    db.dispose()
