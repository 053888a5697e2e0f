"""The agencies' contact channels: every known channel in the seed has the public page it was read from and
an "as of" date; the loader refuses one without; the Agencies page and `tipline agencies` show both; a seed
that changes reaches rows still as seeded, never an admin's edit (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from helpers import PASSWORD, csrf_token_of, css, login_as, page
from tipline.accounts import service as accounts
from tipline.routing import agencies as directory
from tipline.routing.models import Agency


def test_every_known_channel_has_a_source_page_and_a_date() -> None:
    seed = directory.seed_agencies()
    channels = directory.seed_channels()
    known = 0
    for a in seed:
        for key, value in a.contact.items():
            if value == directory.UNKNOWN:
                continue
            known += 1
            ch = channels[a.id].get(key)
            assert ch is not None, f"{a.id}: the {key} channel has no source"
            assert ch.source.startswith(("https://", "http://")), (a.id, key, ch.source)
            assert date(2000, 1, 1) < ch.as_of <= datetime.now(UTC).date(), (a.id, key, ch.as_of)
    assert known >= len(seed)  # nearly every agency has at least its web form or site
    with_phone = {a.id for a in seed if a.contact.get("phone", directory.UNKNOWN) != directory.UNKNOWN}
    assert {"us-ncmec", "ph-iacat"} <= with_phone
    ph = {a.id for a in seed if "PH" in a.countries}
    assert {"ph-pnp-wcpc", "ph-nbi", "ph-iacat", "ph-picacc"} <= ph
    text = directory.SEED_FILE.read_text(encoding="utf-8")
    assert "VERIFY BEFORE USE" in text


def _seed_file(tmp_path: Path, channels: str) -> Path:
    p = tmp_path / "agencies.toml"
    p.write_text(
        '[[agency]]\nid = "xx-unit"\nname = "Example unit"\ncountries = ["KE"]\n'
        'contact = { web = "https://unit.example.org", email = "unknown", phone = "+254 20 000 0000" }\n'
        f'{channels}\nsources = ["https://unit.example.org"]\n',
        encoding="utf-8",
    )
    return p


def test_the_loader_refuses_a_channel_without_source_or_date(tmp_path: Path) -> None:
    bad = _seed_file(tmp_path, 'channels = { web = { source = "https://unit.example.org", as_of = "2024-06-01" } }')
    with pytest.raises(directory.AgencyError, match=r"xx-unit.*phone channel has no source"):
        directory.seed_agencies(bad)
    (tmp_path / "b").mkdir()
    undated = _seed_file(
        tmp_path / "b",
        'channels = { web = { source = "https://unit.example.org", as_of = "2024-06-01" }, '
        'phone = { source = "https://unit.example.org" } }',
    )
    with pytest.raises(directory.AgencyError, match=r"xx-unit.*as_of"):
        directory.seed_agencies(undated)
    (tmp_path / "c").mkdir()
    good = _seed_file(
        tmp_path / "c",
        'channels = { web = { source = "https://unit.example.org", as_of = "2024-06-01" }, '
        'phone = { source = "https://unit.example.org/contact", as_of = "2024-06-02" } }',
    )
    assert directory.seed_channels(good)["xx-unit"]["phone"].as_of == date(2024, 6, 2)


def test_page_shows_as_of_and_source_and_an_edit_becomes_the_new_as_of(client, db) -> None:  # type: ignore[no-untyped-def]
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    login_as(client, "ana")
    doc = page(client.get("/agencies?country=US"))
    assert css(doc, "#verify-channels")
    ncmec = css(doc, "tr[data-agency-id=us-ncmec]")[0]
    phone = css(ncmec, "[data-channel=phone]")[0].text_content()
    assert "1-800-843-5678" in phone and "2024-06-01" in phone and "https://www.missingkids.org" in phone
    assert "unknown" in css(ncmec, "[data-channel=email]")[0].text_content()
    client.cookies.clear()
    accounts.create_user(db, "root", "admin", PASSWORD)
    login_as(client, "root")  # with the second step an admin needs
    form = page(client.get("/agencies/us-ncmec/edit"))
    values = {
        i.get("name"): i.get("value") or "" for i in css(form, "form.narrow-form input") if i.get("type") != "checkbox"
    }
    values.update({t.get("name"): t.text_content() for t in css(form, "form.narrow-form textarea")})
    values.update({"csrf_token": csrf_token_of(client, "/queue"), "kind": "hotline", "categories": "*", "active": "1"})
    values["email"] = "desk@ncmec.example.org"
    assert client.post("/agencies/us-ncmec/edit", data=values, follow_redirects=False).status_code == 303
    row = css(page(client.get("/agencies?country=US")), "tr[data-agency-id=us-ncmec]")[0]
    email = css(row, "[data-channel=email]")[0].text_content()
    assert "desk@ncmec.example.org" in email and "root" in email
    assert datetime.now(UTC).date().isoformat() in email
    assert "2024-06-01" in css(row, "[data-channel=phone]")[0].text_content()  # unchanged: still the seed's


def test_a_newer_seed_reaches_seeded_rows_not_edited_ones(db) -> None:  # type: ignore[no-untyped-def]
    directory.ensure_agencies(db, force=True)
    with db.session() as s:
        for aid, origin in (("ph-iacat", "seed"), ("us-ncmec", "admin")):
            row = s.get(Agency, aid)
            assert row is not None
            row.contact = {"web": "unknown", "email": "unknown", "phone": "unknown"}
            row.origin = origin
    directory.ensure_agencies(db, force=True)
    iacat = directory.get_agency(db, "ph-iacat")
    ncmec = directory.get_agency(db, "us-ncmec")
    assert iacat is not None and iacat.contact["phone"].startswith("1343") and iacat.channels["phone"].by == "seed"
    assert ncmec is not None and ncmec.contact["phone"] == "unknown" and not ncmec.channels
