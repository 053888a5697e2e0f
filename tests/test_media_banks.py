"""Hash banks: import (CSV, JSON lines, bad lines named, duplicates, labels), export round trip, provenance,
media-folder import, the supervisors' /banks pages and the `tipline banks` commands (real process)."""

from __future__ import annotations

import io
import json
import secrets

import pytest
from sqlalchemy import select

from helpers import PASSWORD, css, login_as, page, run, text_of
from tipline.accounts import service as accounts
from tipline.media import banks
from tipline.media.banks import BankError, BankImportError
from tipline.media.models import LABEL_ABUSE, LABEL_BENIGN, LABEL_REVIEW, BankEntry
from tipline.store.models import AuditEvent


def hx(n: int) -> str:
    return secrets.token_hex(n // 2)


def pdq() -> str:
    return hx(64)


def frames(n: int = 3) -> list[dict]:
    return [{"pdq": pdq(), "quality": 90, "ts": float(i)} for i in range(n)]


# ------------------------------------------------------------------------------------------ service


def test_create_list_and_provenance(db):
    b = banks.create_bank(
        db, "Partner list 2026-11", source="Partner hotline", terms="Do not share.", default_label=LABEL_ABUSE
    )
    assert (b.name, b.source, b.terms, b.default_label, b.enabled, b.total) == (
        "Partner list 2026-11",
        "Partner hotline",
        "Do not share.",
        LABEL_ABUSE,
        True,
        0,
    )
    with pytest.raises(BankError, match="already exists"):
        banks.create_bank(db, "Partner list 2026-11")
    for bad in ("", " ", "x" * 129, "../etc", "a;b"):
        with pytest.raises(BankError, match="bank name"):
            banks.create_bank(db, bad)
    with pytest.raises(BankError, match="label"):
        banks.create_bank(db, "other", default_label="<script>")
    assert [x.name for x in banks.list_banks(db)] == ["Partner list 2026-11"]
    with db.reader() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "bank.create")).one()
    assert ev.details["source"] == "Partner hotline"


def test_import_csv_and_jsonl_with_labels_and_duplicates(db):
    banks.create_bank(db, "mixed", default_label=LABEL_REVIEW)
    p1, p2, m1, s1, s256 = pdq(), pdq(), hx(32), hx(40), hx(64)
    fr = frames(4)
    video_field = ";".join(f"{f['pdq']}:{f['quality']}:{f['ts']}" for f in fr)
    csv_text = (
        "\ufeff# a comment line\n"
        "kind,hash,label\n"
        f"pdq,{p1.upper()},{LABEL_ABUSE}\n"
        f"md5,{m1}\n"
        f"SHA-1,{s1},  known   benign \n"
        "\n"
        f"pdq,{p1}\n"  # repeated in the file: a duplicate
        f'vpdq,"{video_field}"\n'
    )
    r = banks.import_file(db, "mixed", csv_text.encode(), filename="list.csv")
    assert (r.lines, r.added, r.duplicates) == (5, 4, 1)
    assert r.by_kind == {"pdq": 2, "md5": 1, "sha1": 1, "vpdq": 1}
    jl = "\n".join(
        [
            json.dumps({"kind": "pdq", "hash": p1}),  # already in the bank
            json.dumps({"kind": "pdq", "hash": p2, "label": LABEL_BENIGN, "note": "from partner batch 7"}),
            json.dumps({"kind": "sha256", "hash": s256}),
            json.dumps({"kind": "vpdq", "hash": [f"{f['pdq']},{f['quality']},{f['ts']}" for f in fr]}),  # same video
        ]
    )
    r = banks.import_file(db, "mixed", jl.encode(), filename="more.jsonl", label="under review")
    assert (r.lines, r.added, r.duplicates) == (4, 2, 2)
    with db.reader() as s:
        rows = {(e.kind, e.hash): e for e in s.scalars(select(BankEntry))}
    assert rows[("pdq", p1)].label == LABEL_ABUSE  # upper-case hex stored lower-case: one entry
    assert rows[("md5", m1)].label is None  # -> the bank's default
    assert rows[("sha1", s1)].label == LABEL_BENIGN  # spaces folded
    assert rows[("pdq", p2)].note == "from partner batch 7"
    assert rows[("sha256", s256)].label == LABEL_REVIEW  # the --label of the import
    (video,) = [e for e in rows.values() if e.kind == "vpdq"]
    assert video.frames == [{"pdq": f["pdq"], "quality": 90, "ts": f["ts"]} for f in fr]
    assert video.hash == banks.frames_digest(video.frames)
    b = banks.get_bank(db, "mixed")
    assert b.counts == {"pdq": 2, "md5": 1, "sha1": 1, "sha256": 1, "vpdq": 1} and b.revision == 2


def test_bad_lines_are_named_and_nothing_is_imported(db):
    banks.create_bank(db, "strict")
    good = f"pdq,{pdq()}\n"
    body = (
        good
        + "pdq,abc\n"  # line 2
        + f"md5,{hx(32)[:-1]}g\n"  # line 3: not hex
        + f"tlsh,{hx(64)}\n"  # line 4: unknown kind
        + f"md5,{hx(32)},label,extra\n"  # line 5
        + f"md5,{hx(32)},<b>\n"  # line 6: bad label
        + "vpdq,\n"  # line 7: no frames
        + f"vpdq,{pdq()}:101:0\n"  # line 8: quality
        + good
    )
    with pytest.raises(BankImportError) as ei:
        banks.import_file(db, "strict", body.encode(), fmt="csv")
    e = ei.value
    assert e.total == 7 and e.lines == 9
    problems = dict(e.errors)
    assert set(problems) == {2, 3, 4, 5, 6, 7, 8}
    assert "64 hexadecimal characters" in problems[2] and "has 3" in problems[2]
    assert "not hexadecimal" in problems[3]
    assert "unknown kind 'tlsh'" in problems[4]
    assert "got 4 field(s)" in problems[5]
    assert "label" in problems[6]
    assert "at least one frame" in problems[7]
    assert "quality must be 0-100" in problems[8]
    assert "line 2:" in str(e) and "nothing was imported" in str(e)
    assert banks.get_bank(db, "strict").total == 0

    jl = '{"kind": "pdq", "hash": "' + pdq() + '"}\n{"kind": "pdq", "hsh": "x"}\nnot json\n[1]\n{"hash": "ab"}\n'
    jl += '{"kind": "pdq", "quality": ' + "9" * 5000 + "}\n"  # Python reads no integer of over 4,300 digits
    with pytest.raises(BankImportError) as ei:
        banks.import_file(db, "strict", jl.encode(), fmt="jsonl")
    problems = dict(ei.value.errors)
    assert "unknown key(s) 'hsh'" in problems[2]
    assert "not JSON" in problems[3]
    assert "JSON object" in problems[4]
    assert "missing 'kind'" in problems[5]
    assert "a number has more than 4,300 digits" in problems[6]
    with pytest.raises(BankImportError, match="not UTF-8"):
        banks.import_file(db, "strict", b"md5,\xff\xfe\n", fmt="csv")
    with pytest.raises(BankError, match="there is no bank"):
        banks.import_file(db, "nope", good.encode())
    assert banks.get_bank(db, "strict").total == 0


def test_export_round_trip_csv_and_jsonl(db):
    banks.create_bank(db, "src", source="Example partner", terms="Share with police only.", default_label=LABEL_ABUSE)
    entries = [
        banks.make_entry("pdq", pdq()),
        banks.make_entry("pdq", pdq(), LABEL_BENIGN),
        banks.make_entry("md5", hx(32)),
        banks.make_entry("sha256", hx(64), LABEL_REVIEW),
        banks.make_entry("vpdq", frames(5)),
    ]
    banks.import_entries(db, "src", entries)
    for fmt in ("csv", "jsonl"):
        text = banks.export_text(db, "src", fmt=fmt)
        assert text.startswith("# tipline hash bank 'src'")
        assert "# source: Example partner" in text and "# terms: Share with police only." in text
        banks.create_bank(db, f"copy-{fmt}", default_label=LABEL_REVIEW)
        r = banks.import_file(db, f"copy-{fmt}", text.encode(), filename=f"x.{fmt}")
        assert (r.added, r.duplicates) == (5, 0)

        def effective(name: str) -> set:
            b = banks.get_bank(db, name)
            with db.reader() as s:
                return {
                    (e.kind, e.hash, e.label or b.default_label, json.dumps(e.frames))
                    for e in s.scalars(select(BankEntry).where(BankEntry.bank_id == b.id))
                }

        assert effective(f"copy-{fmt}") == effective("src")


def test_big_import_in_chunks_with_progress(db):
    banks.create_bank(db, "big")
    n = banks.CHUNK * 2 + 123
    body = "".join(f"pdq,{secrets.token_hex(32)}\n" for _ in range(n)).encode()
    seen: list[tuple[str, int, int | None]] = []
    r = banks.import_file(db, "big", io.BytesIO(body), fmt="csv", progress=lambda *a: seen.append(a))
    assert (r.added, r.duplicates) == (n, 0)
    importing = [done for stage, done, _total in seen if stage == "importing"]
    assert importing == [banks.CHUNK, 2 * banks.CHUNK, n]
    assert ("checking", n, n) in seen
    r = banks.import_file(db, "big", io.BytesIO(body), fmt="csv")
    assert (r.added, r.duplicates) == (0, n)


def test_an_interrupted_import_keeps_what_it_stored_and_says_so(db):
    from tipline.media.matching import Matcher, Query

    banks.create_bank(db, "cut")
    hashes = [secrets.token_hex(32) for _ in range(banks.CHUNK + 10)]
    m = Matcher(db)
    m.refresh()
    version = _version(db)

    class Stop(Exception):
        pass

    def stop_after_first_chunk(stage: str, done: int, total: int | None) -> None:
        if stage == "importing" and done >= banks.CHUNK:
            raise Stop

    body = "".join(f"pdq,{h}\n" for h in hashes).encode()
    with pytest.raises(Stop):
        banks.import_file(db, "cut", body, fmt="csv", progress=stop_after_first_chunk)
    assert banks.get_bank(db, "cut").counts == {"pdq": banks.CHUNK}
    assert _version(db) != version  # the app nodes load the rows that were stored
    assert len(m.match([Query("pdq", hashes[0])])) == 1
    with db.reader() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "bank.import")).one()
    assert ev.details["interrupted"] is True and ev.details["added"] == banks.CHUNK


def test_enable_disable_update_delete(db):
    banks.create_bank(db, "b1")
    v0 = _version(db)
    assert not banks.set_enabled(db, "b1", False).enabled
    v1 = _version(db)
    assert v1 != v0
    banks.set_enabled(db, "b1", False)  # no change, no new version
    assert _version(db) == v1
    b = banks.update_bank(db, "b1", source="New source", default_label=LABEL_BENIGN)
    assert (b.source, b.default_label) == ("New source", LABEL_BENIGN)
    banks.import_entries(db, "b1", [banks.make_entry("md5", hx(32))])
    banks.delete_bank(db, "b1")
    assert banks.list_banks(db) == []
    with db.reader() as s:
        assert s.scalar(select(BankEntry.id)) is None
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["bank.create", "bank.disable", "bank.update", "bank.import", "bank.delete"]


def _version(db) -> str:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return banks.banks_version(s)


def test_import_media_folder(db, tmp_path):
    from tipline.synth.images import encode, synth_image

    folder = tmp_path / "media"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(encode(synth_image(1), "JPEG", quality=90))
    (folder / "sub" / "b.jpg").write_bytes(encode(synth_image(2), "JPEG", quality=70))
    (folder / "notes.txt").write_bytes(b"not an image")
    (folder / ".hidden.jpg").write_bytes(encode(synth_image(3), "JPEG"))
    (folder / "broken.jpg").write_bytes(encode(synth_image(4), "JPEG")[:2000])  # truncated: cannot be hashed
    banks.create_bank(db, "media", default_label=LABEL_ABUSE)
    seen = []
    r = banks.import_media(db, "media", folder, progress=lambda *a: seen.append(a))
    assert r.by_kind == {"md5": 4, "sha1": 4, "sha256": 4, "pdq": 2}
    assert len(r.problems) == 1 and r.problems[0].startswith("broken.jpg: exact hashes only (")
    assert ("hashing", 4, 4) in seen
    with db.reader() as s:
        notes = set(s.scalars(select(BankEntry.note)))
    assert notes == {None}  # file names are not kept


# ------------------------------------------------------------------------------------------ pages


def _login(client, db, role: str) -> str:  # type: ignore[no-untyped-def]
    accounts.create_user(db, role, role, PASSWORD)
    login_as(client, role)
    doc = page(client.get("/queue"))
    return css(doc, "form[action='/logout'] input[name=csrf_token]")[0].get("value")


def test_bank_pages_are_for_supervisors(client, db):
    b = banks.create_bank(db, "secret list")
    assert client.get("/banks", follow_redirects=False).status_code == 303  # anonymous: to the login page
    _login(client, db, "analyst")
    for path in ("/banks", f"/banks/{b.id}", f"/banks/{b.id}/export.csv"):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "secret list" not in r.text
    token = accounts.create_token(db, "analyst")
    assert client.get("/api/v1/banks", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_supervisor_creates_imports_exports_disables_and_deletes(client, db):
    csrf = _login(client, db, "supervisor")
    r = client.get("/banks")
    assert r.status_code == 200 and "No bank yet" in r.text

    r = client.post("/banks", data={"name": "", "default_label": LABEL_ABUSE, "csrf_token": csrf})
    assert r.status_code == 422 and css(page(r), "#err-name")
    r = client.post("/banks", data={"name": "Partner", "default_label": LABEL_ABUSE})  # no CSRF token
    assert r.status_code == 403 and banks.list_banks(db) == []
    r = client.post(
        "/banks",
        data={
            "name": "Partner",
            "source": "Example",
            "terms": "No sharing",
            "default_label": LABEL_ABUSE,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    bank_id = int(r.headers["location"].split("/")[2].split("?")[0])
    doc = page(client.get(r.headers["location"]))
    assert "Example" in text_of(doc) and "No sharing" in text_of(doc)

    p = pdq()
    bad = f"pdq,{p}\npdq,nothex\n".encode()
    r = client.post(
        f"/banks/{bank_id}/import", data={"csrf_token": csrf}, files={"file": ("list.csv", bad, "text/csv")}
    )
    assert r.status_code == 422
    assert [li.get("data-line") for li in css(page(r), ".import-errors li")] == ["2"]
    good = f"pdq,{p}\nmd5,{hx(32)},{LABEL_BENIGN}\n".encode()
    r = client.post(
        f"/banks/{bank_id}/import", data={"csrf_token": csrf}, files={"file": ("list.csv", good, "text/csv")}
    )
    assert r.status_code == 200, r.text
    assert "2 new hashes" in text_of(css(page(r), ".import-result")[0])
    r = client.post(
        f"/banks/{bank_id}/import", data={"csrf_token": "wrong"}, files={"file": ("l.csv", good, "text/csv")}
    )
    assert r.status_code == 403

    r = client.get(f"/banks/{bank_id}/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert f"pdq,{p},{LABEL_ABUSE}" in r.text and LABEL_BENIGN in r.text
    r = client.get(f"/banks/{bank_id}/export.jsonl")
    assert [json.loads(x)["kind"] for x in r.text.splitlines() if not x.startswith("#")] == ["pdq", "md5"]

    r = client.post(f"/banks/{bank_id}/enabled", data={"enabled": "0", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and not banks.get_bank(db, bank_id).enabled
    doc = page(client.get("/banks"))
    assert css(doc, f"tr[data-bank-id='{bank_id}']")[0].get("data-enabled") == "0"

    r = client.post(f"/banks/{bank_id}/delete", data={"confirm": "partner", "csrf_token": csrf})
    assert r.status_code == 422 and banks.list_banks(db)
    r = client.post(f"/banks/{bank_id}/delete", data={"confirm": "Partner", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and banks.list_banks(db) == []
    assert client.get(f"/banks/{bank_id}").status_code == 404
    with db.reader() as s:
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("bank.%"))))
    assert actions == {"bank.create", "bank.import", "bank.export", "bank.disable", "bank.delete"}


# ------------------------------------------------------------------------------------------ CLI


@pytest.mark.slow
def test_banks_commands(tmp_path):
    f = tmp_path / "list.csv"
    p = pdq()
    f.write_text(f"kind,hash,label\npdq,{p}\nmd5,{hx(32)},{LABEL_BENIGN}\n")
    r = run(
        ["banks", "import", "Partner", str(f), "--label", LABEL_ABUSE, "--source", "Example", "--json"], tmp_path / "d"
    )
    assert json.loads(r.stdout) | {"by_kind": None, "retro_run": None} == {
        "bank": "Partner",
        "lines": 2,
        "added": 2,
        "duplicates": 0,
        "low_quality": 0,
        "by_kind": None,
        "problems": [],
        "retro_run": None,
    }
    (b,) = json.loads(run(["banks", "list", "--json"], tmp_path / "d").stdout)
    assert (b["name"], b["source"], b["default_label"], b["total"]) == ("Partner", "Example", LABEL_ABUSE, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"pdq,{p}\nmd5,xyz\n")
    r = run(["banks", "import", "Partner", str(bad)], tmp_path / "d", check=False)
    assert r.returncode == 1 and "line 2:" in r.stderr and "nothing was imported" in r.stderr
    out = tmp_path / "out.csv"
    run(["banks", "export", "Partner", "--out", str(out)], tmp_path / "d")
    assert f"pdq,{p},{LABEL_ABUSE}" in out.read_text()
    assert "disabled" in run(["banks", "disable", "Partner"], tmp_path / "d").stdout
    assert json.loads(run(["banks", "list", "--json"], tmp_path / "d").stdout)[0]["enabled"] is False
    r = run(["banks", "delete", "Partner"], tmp_path / "d", check=False)
    assert r.returncode == 1 and "--yes" in r.stderr
    run(["banks", "delete", "Partner", "--yes"], tmp_path / "d")
    assert json.loads(run(["banks", "list", "--json"], tmp_path / "d").stdout) == []
