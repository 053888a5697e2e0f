"""Sealed fields: envelope encryption at rest, tamper detection, blind search, master-key rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers import bearer
from tipline.capabilities import CAPABILITIES, open_database
from tipline.crypto import KeyError_, Keyring
from tipline.protect import keys as keyrot
from tipline.settings import Settings

SECRET_TEXT = "the seller called Mariposa streams from a room in Cebu, phone 0917 555 0142"


def test_keyring_seal_open_and_context_binding():
    ring = Keyring(b"k" * 32, index_key=b"i" * 32)
    blob = ring.seal(b"hello", context=b"reports.text")
    assert b"hello" not in blob
    assert ring.open(blob, context=b"reports.text") == b"hello"
    with pytest.raises(KeyError_, match="altered or moved"):
        ring.open(blob, context=b"followups.body")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(KeyError_):
        ring.open(tampered, context=b"reports.text")
    other = Keyring(b"o" * 32, index_key=b"i" * 32)
    with pytest.raises(KeyError_, match="not configured"):
        other.open(blob, context=b"reports.text")


def test_rewrap_keeps_ciphertext_and_opens_with_new_key_only():
    old = Keyring(b"a" * 32, index_key=b"i" * 32)
    blob = old.seal(b"secret", context=b"c")
    both = Keyring(b"b" * 32, [b"a" * 32], index_key=b"i" * 32)
    fresh = both.rewrap(blob)
    assert fresh != blob and fresh.endswith(blob[-30:])  # same ciphertext tail, new wrapping
    assert Keyring(b"b" * 32, index_key=b"i" * 32).open(fresh, context=b"c") == b"secret"


def _post(client, platform, rid, text_):
    body = {"report_id": rid, "category": "child_sex_trafficking", "text": text_, "country": "PH"}
    return client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key)).json()["id"]


def test_report_text_is_sealed_in_the_database_and_searchable(client, db, platform, analyst_token):
    rid = _post(client, platform, "s1", SECRET_TEXT)
    with db.reader() as s:
        raw = s.execute(text("SELECT text FROM reports WHERE id = :i"), {"i": rid}).scalar_one()
        index = " ".join(str(r[0]) for r in s.execute(text("SELECT body FROM report_search")))
    assert b"Mariposa" not in bytes(raw) and b"Cebu" not in bytes(raw)
    assert "mariposa" not in index.lower() and "639175550142" not in index
    h = bearer(analyst_token)
    assert client.get(f"/api/v1/reports/{rid}", headers=h).json()["text"] == SECRET_TEXT
    for q in ["Mariposa", "CEBU", "+639175550142", "mariposa cebu"]:
        assert [i["id"] for i in client.get("/api/v1/queue", params={"q": q}, headers=h).json()["items"]] == [rid], q
    assert client.get("/api/v1/queue", params={"q": "Mari"}, headers=h).json()["total"] == 0  # no prefix search


def test_rotation_with_key_files(settings, db, client, platform, analyst_token):
    rid = _post(client, platform, "r1", SECRET_TEXT)
    before = keyrot.usage(db)
    assert len(before) == 1
    res = keyrot.rotate(db, retire=True)
    assert res.rewrapped >= 1 and set(res.still_used) == {res.new_key_id}
    assert res.retired == list(before)
    # a fresh process (new Database) reads everything with only the new key file present
    db2 = open_database(settings)
    with db2.reader() as s:
        assert s.execute(text("SELECT count(*) FROM reports")).scalar_one() == 1
    from tipline.reports.service import get_report

    assert get_report(db2, rid).text == SECRET_TEXT
    assert len(list((settings.data_dir / "keys").glob("master-*.key"))) == 1
    db2.dispose()


def test_rotation_with_environment_keys(tmp_path):
    k1, k2 = "11" * 32, "22" * 32
    st1 = Settings(data_dir=tmp_path, master_key=k1)
    db1 = open_database(st1)
    db1.migrate()
    from tipline.intake.schemas import ReportIn, Source
    from tipline.intake.service import submit_report

    rid = submit_report(db1, ReportIn(source=Source.PUBLIC, text=SECRET_TEXT)).report_id
    db1.dispose()
    db2 = open_database(Settings(data_dir=tmp_path, master_key=k2, previous_master_keys=k1))
    res = keyrot.rotate(db2)
    assert res.rewrapped >= 1
    db2.dispose()
    db3 = open_database(Settings(data_dir=tmp_path, master_key=k2))
    from tipline.reports.service import get_report

    assert get_report(db3, rid).text == SECRET_TEXT
    db3.dispose()
    db4 = open_database(Settings(data_dir=tmp_path, master_key=k1))
    with pytest.raises(KeyError_, match="not configured"):
        get_report(db4, rid)
    db4.dispose()


def test_bad_master_key_says_what_is_wrong(tmp_path):
    db = open_database(Settings(data_dir=tmp_path, master_key="abc"))
    with pytest.raises(ValueError, match="64 hexadecimal"):
        _ = db.keyring


def test_keys_rotate_cli(tmp_path):
    tipline = str(Path(sys.executable).with_name("tipline"))
    env = {**os.environ, "TIPLINE_DATA_DIR": str(tmp_path)}
    env.pop("TIPLINE_DATABASE_URL", None)
    subprocess.run([tipline, "keys", "create", "P"], env=env, check=True, capture_output=True)
    p = subprocess.run(
        [tipline, "keys", "rotate", "--retire", "--json"], env=env, check=True, capture_output=True, text=True
    )
    first = json.loads(p.stdout)["current_key"]
    p = subprocess.run(
        [tipline, "keys", "rotate", "--retire", "--json"], env=env, check=True, capture_output=True, text=True
    )
    out = json.loads(p.stdout)
    assert out["current_key"] != first and out["retired"] == [first]
    st = subprocess.run([tipline, "keys", "status", "--json"], env=env, check=True, capture_output=True, text=True)
    assert json.loads(st.stdout)["current"] == out["current_key"]


def test_every_free_text_column_of_people_is_sealed():
    sealed = {f"{t.name}.{c}" for t, c in keyrot.sealed_columns(CAPABILITIES)}
    assert {
        "reports.text",
        "reports.contact_sealed",
        "followups.body",
        "report_notes.body",
        "case_notes.body",
        "users.totp_secret_sealed",
    } <= sealed


def test_fold_takes_ascii_words_the_short_way_to_the_same_form():
    import unicodedata

    from tipline.crypto import fold

    def long_way(word: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))

    words = [f"aZ{chr(i)}Q" for i in range(128)] + ["María", "STRAẞE", "ﬁle", "İstanbul", "ÅSA"]
    assert [fold(w) for w in words] == [long_way(w) for w in words]
    assert fold("María") == fold("MARIA") == "maria" and fold("Straße") == fold("STRASSE")
