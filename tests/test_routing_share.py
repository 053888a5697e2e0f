"""Privacy-preserving overlap between two hotlines: keyed hashes and private set intersection.

Two real hotline databases are filled with different synthetic worlds (``tipline.synth`` through the
demo loader, i.e. the real doors and analysis), plus planted identifiers: some shared by both hotlines,
some only on one side, and near misses (one digit apart). The overlap must be exactly the planted shared
identifiers (once the synthetic platforms' own support lines and domain, which every world has, are
excluded), linked to the right local reports, and equal to the plaintext intersection of the two
databases when nothing is excluded.
"""

from __future__ import annotations

import io
import json
import os
import random
import stat
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.intake import service as intake
from tipline.intake.schemas import Category, LiveIn, PlatformReportIn, PublicReportIn
from tipline.routing import share
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import AuditEvent
from tipline.synth import generate_world
from tipline.synth import identifiers as synth_ids

N_REPORTS = 24
SEEDS = (1, 2)
PAIR_KEY = bytes(range(32))
needs_psi = pytest.mark.skipif(not share.psi_available(), reason="openmined.psi is not installed")


# ------------------------------------------------------------------------------------------ the two hotlines


def _planted() -> dict[str, tuple[str, str]]:
    rng = random.Random(4242)  # not a synth world seed: these values appear in neither world
    dom = synth_ids.domain(rng)
    phone = synth_ids.random_mobile(rng, "PH")
    near = phone[:-1] + str((int(phone[-1]) + 1) % 10)  # one digit apart: must not match
    return {
        "phone": ("phone", phone),
        "btc": ("btc", synth_ids.btc_bech32(rng)),
        "eth": ("eth", synth_ids.eth_address(rng)),
        "email": ("email", f"{synth_ids.email_local(rng)}@{dom}"),
        "only_a": ("phone", synth_ids.random_mobile(rng, "PH")),
        "only_b": ("btc", synth_ids.btc_bech32(rng)),
        "near_a": ("phone", near),
    }


PLANTED = _planted()
SHARED = {PLANTED[k] for k in ("phone", "btc", "eth", "email")}


def _hubs() -> set[tuple[str, str]]:
    """The synthetic platforms' own identifiers (support lines, the classifieds domain): in every world."""
    out: set[tuple[str, str]] = set()
    for seed in SEEDS:
        out |= set(generate_world(seed=seed, n_reports=N_REPORTS).hubs)
    return out


def _report(db: Database, text: str) -> int:
    rep = PublicReportIn(category=Category.TRAFFICKING_AD, text=text, language="en")
    return intake.submit_report(db, rep.to_report()).report_id


def _load_world(db: Database, seed: int) -> None:
    """A synthetic world's reports through the real doors (as the demo loader does, without demo logins)."""
    from tipline.cybertip.parse import parse_report

    world = generate_world(seed=seed, n_reports=N_REPORTS)
    platforms = {p.name: accounts.create_platform(db, p.name).id for p in world.platforms}
    for r in world.reports:
        pid = platforms.get(r.platform or "")
        if r.door == "public":
            intake.submit_report(db, PublicReportIn(**r.payload).to_report())
        elif r.door == "platform":
            intake.submit_report(db, PlatformReportIn(**r.payload).to_report(pid))
        elif r.door == "live":
            intake.submit_report(db, LiveIn(**r.payload).to_report(pid, r.platform))
        else:
            rep = parse_report(r.payload.encode()).model_copy(update={"platform_id": pid})
            intake.finish_submission(db, intake.submit_report(db, rep).report_id, platform_id=pid)


@dataclass
class Hotline:
    db: Database
    settings: Settings
    planted_reports: dict[tuple[str, str], list[int]]


def _hotline(settings: Settings, seed: int, side: str, *, demo: bool = True, db: Database | None = None) -> Hotline:
    if db is None:
        db = open_database(settings)
        db.migrate()
    if demo:
        _load_world(db, seed)
    p = PLANTED
    where: dict[tuple[str, str], list[int]] = {}

    def plant(text: str, *keys: str) -> None:
        rid = _report(db, text)
        for k in keys:
            where.setdefault(PLANTED[k], []).append(rid)

    if side == "a":
        plant(f"Ad asks clients to call {p['phone'][1]} and pay in bitcoin to {p['btc'][1]}.", "phone", "btc")
        plant(f"Same contact again: {p['phone'][1]}, also ETH {p['eth'][1]}.", "phone", "eth")
        plant(f"Write to {p['email'][1]} for 'shows'. Backup number {p['only_a'][1]}.", "email", "only_a")
        plant(f"A different number: {p['near_a'][1]}.", "near_a")
    else:
        plant(f"Viewer paid to {p['btc'][1]} after contact at {p['email'][1]}.", "btc", "email")
        plant(f"Call {p['phone'][1]}; wallets {p['eth'][1]} and {p['only_b'][1]}.", "phone", "eth", "only_b")
    return Hotline(db, settings, where)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("share")
    a = _hotline(Settings(data_dir=root / "a"), SEEDS[0], "a")
    b = _hotline(Settings(data_dir=root / "b"), SEEDS[1], "b")
    yield a, b
    a.db.dispose()
    b.db.dispose()


def _plain(db: Database) -> set[tuple[str, str]]:
    return {(i.kind, i.value) for i in share.local_identifiers(db)}


def _key(partner: str, key: bytes = PAIR_KEY) -> share.PartnerKey:
    return share.PartnerKey(partner, key, "test")


def _export(h: Hotline, partner: str, key: bytes = PAIR_KEY, **kw) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    share.export_hashes(h.db, _key(partner, key), buf, **kw)
    return buf.getvalue()


def _found(result: share.OverlapResult) -> set[tuple[str, str]]:
    return {(m.kind, m.value) for m in result.matches}


# ------------------------------------------------------------------------------------------ keyed hashes


def test_the_worlds_are_set_up_as_the_test_says(pair):
    a, b = pair
    pa, pb = _plain(a.db), _plain(b.db)
    assert SHARED | {PLANTED["only_a"], PLANTED["near_a"]} <= pa
    assert SHARED | {PLANTED["only_b"]} <= pb
    assert PLANTED["only_a"] not in pb and PLANTED["near_a"] not in pb and PLANTED["only_b"] not in pa
    # the plaintext intersection is the planted identifiers plus the platforms' own identifiers
    common = pa & pb
    assert SHARED <= common
    assert common - SHARED <= _hubs()
    assert len(pa) > 60 and len(pb) > 60  # the synthetic worlds are there, not only the planted reports


def test_overlap_is_exactly_the_planted_identifiers_linked_to_local_reports(pair):
    a, b = pair
    hubs = _hubs()
    theirs = _export(b, "hotline-a", exclude=hubs).splitlines()
    result = share.overlap(a.db, _key("hotline-b"), theirs, exclude=hubs)
    assert _found(result) == SHARED
    assert result.count == len(SHARED) and result.mode == "hash"
    for m in result.matches:
        assert sorted(r.id for r in m.reports) == sorted(set(a.planted_reports[(m.kind, m.value)]))
        assert [r.received_at for r in m.reports] == sorted((r.received_at for r in m.reports), reverse=True)
    assert len(next(m for m in result.matches if m.kind == "phone").reports) == 2

    # the other way round: the same identifiers, linked to B's own reports
    back = share.overlap(b.db, _key("hotline-a"), _export(a, "hotline-b", exclude=hubs).splitlines(), exclude=hubs)
    assert _found(back) == SHARED
    for m in back.matches:
        assert sorted(r.id for r in m.reports) == sorted(set(b.planted_reports[(m.kind, m.value)]))


def test_without_exclusions_the_overlap_equals_the_plaintext_intersection(pair):
    a, b = pair
    result = share.overlap(a.db, _key("hotline-b"), _export(b, "hotline-a").splitlines())
    assert _found(result) == _plain(a.db) & _plain(b.db)
    assert result.theirs == len(_plain(b.db)) and result.mine == len(_plain(a.db))


def test_export_file_holds_only_sorted_keyed_hashes(pair):
    a, _b = pair
    text = _export(a, "hotline-b", kinds=["phone", "btc", "email", "eth"])
    lines = [json.loads(x) for x in text.splitlines()]
    header, rows = lines[0], lines[1:]
    assert header == {
        "format": "tipline-share-hashes",
        "version": 1,
        "key_id": _key("hotline-b").key_id,
        "count": len(rows),
    }
    assert all(set(r) == {"kind", "h"} and len(r["h"]) == 64 for r in rows)
    assert [r["h"] for r in rows] == sorted(r["h"] for r in rows)
    assert {r["kind"] for r in rows} == {"phone", "btc", "email", "eth"}
    for _kind, value in PLANTED.values():
        assert value not in text and value.lower() not in text
    # the published construction, recomputed by hand
    phone = PLANTED["phone"][1]
    hash_key = share.hmac.new(PAIR_KEY, b"tipline-share-v1/hash", share.hashlib.sha256).digest()
    h = share.hmac.new(hash_key, f"phone:{phone}".encode(), share.hashlib.sha256).hexdigest()
    assert {"kind": "phone", "h": h} in rows
    assert share.keyed_hash(_key("x"), "phone", phone) == h


def test_keyed_hashes_differ_per_key_and_partner(pair):
    a, b = pair
    other_key = bytes(range(100, 132))
    for_b = {json.loads(x)["h"] for x in _export(a, "hotline-b").splitlines()[1:]}
    for_c = {json.loads(x)["h"] for x in _export(a, "hotline-c", key=other_key).splitlines()[1:]}
    assert len(for_b) == len(for_c) > 0 and not for_b & for_c
    assert _key("b").key_id != _key("c", other_key).key_id
    # a file made with another pair's key is refused by its key id, not silently matched against
    lines = _export(b, "hotline-c", key=other_key).splitlines()
    with pytest.raises(share.ShareError, match="another key"):
        share.overlap(a.db, _key("hotline-b"), lines)
    # without the header nothing can be noticed, and nothing matches
    assert share.overlap(a.db, _key("hotline-b"), lines[1:]).count == 0


def test_audit_records_counts_never_values(pair):
    a, b = pair
    share.overlap(a.db, _key("hotline-b"), _export(b, "hotline-a").splitlines())
    with a.db.reader() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action.like("share.%"))))
    assert {e.action for e in events} >= {"share.export", "share.overlap"}
    dump = json.dumps([e.details for e in events])
    for _kind, value in PLANTED.values():
        assert value not in dump
    last = [e for e in events if e.action == "share.overlap"][-1]
    assert last.target_id == "hotline-b" and last.details["matches"] > 0


# ------------------------------------------------------------------------------------------ partner files


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ('{"kind": "phone", "h": "' + "a" * 64 + '"}\n{"kind": "phone", "h": \n', 2, "not JSON (Expecting value"),
        ('\n\n["phone", "abc"]\n', 3, "expected a JSON object"),
        ('{"kind": "phone"}\n', 1, "missing h"),
        ('{"kind": "phone", "h": "' + "a" * 64 + '", "value": "+639171234567"}\n', 1, "unexpected field(s) value"),
        ('{"kind": "Phone Number", "h": "' + "a" * 64 + '"}\n', 1, "kind 'Phone Number'"),
        ('{"kind": "phone", "h": "abc123"}\n', 1, "64 hexadecimal digits"),
        ('{"kind": "phone", "h": "' + "g" * 64 + '"}\n', 1, "64 hexadecimal digits"),
        ('{"kind": "phone", "h": "' + "a" * 64 + '"}\n{"format": "tipline-share-hashes", "version": 1}\n', 2,
         "only be the first line"),
        ('{"format": "other-tool", "version": 1}\n', 1, "unknown header"),
        ('{"format": "tipline-share-hashes", "version": 1, "key_id": "zz"}\n', 1, "key_id"),
        ('{"kind": "phone", "h": "' + "a" * 2000 + '"}\n', 1, "longer than"),
    ],
)  # fmt: skip
def test_malformed_partner_files_give_errors_naming_the_line(content, line, problem):
    with pytest.raises(share.ShareFileError) as e:
        share.read_hash_file(io.StringIO(content), "theirs.jsonl")
    assert str(e.value).startswith(f"theirs.jsonl, line {line}: ")
    assert problem in str(e.value)


def test_partner_file_reader_accepts_plain_lines_and_upper_case_hex(tmp_path):
    h = "AB" * 32
    hf = share.read_hash_file([f'{{"kind": "phone", "h": "{h}"}}\n', "\n", f'{{"h": "{h}", "kind": "phone"}}'])
    assert hf.key_id is None and hf.hashes == {("phone", h.lower())}
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"kind": "phone", "h": "\xff"}\n')
    with pytest.raises(share.ShareFileError, match="not UTF-8"):
        share.read_hash_file(share.iter_lines(bad), str(bad))
    with pytest.raises(share.ShareFileError, match="cannot read"):
        list(share.iter_lines(tmp_path / "missing.jsonl"))
    with pytest.raises(share.ShareFileError, match="exclusions.txt, line 2"):
        share.parse_exclusions(["# platforms\n", "adboard-test.com\n"], "exclusions.txt")
    assert share.parse_exclusions(["domain:adboard-test.com", "url:https://x.test/a:b"]) == {
        ("domain", "adboard-test.com"),
        ("url", "https://x.test/a:b"),
    }


# ------------------------------------------------------------------------------------------ keys


def test_keys_come_from_a_file_the_environment_or_the_data_folder(tmp_path):
    st = Settings(data_dir=tmp_path / "data")
    with pytest.raises(share.ShareError, match="tipline share keygen --partner hotline-it"):
        share.load_key("hotline-it", st, environ={})
    path = share.generate_key(st, "hotline-it")
    assert path == tmp_path / "data" / "share-keys" / "hotline-it.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    from_dir = share.load_key("hotline-it", st, environ={})
    assert len(from_dir.key) == 32 and from_dir.source == str(path)
    with pytest.raises(share.ShareError, match="already exists"):
        share.generate_key(st, "hotline-it")

    env = {"TIPLINE_SHARE_KEY_HOTLINE_IT": "11" * 32}
    from_env = share.load_key("hotline-it", st, environ=env)
    assert from_env.key == b"\x11" * 32 and from_env.source == "$TIPLINE_SHARE_KEY_HOTLINE_IT"
    kf = tmp_path / "pair.key"
    kf.write_text("22" * 40 + "\n")
    assert share.load_key("hotline-it", st, key_file=kf, environ=env).key == b"\x22" * 40
    kf.write_text("not hex")
    with pytest.raises(share.ShareError, match="64 to 128 hexadecimal"):
        share.load_key("hotline-it", st, key_file=kf)
    with pytest.raises(share.ShareError, match="64 to 128 hexadecimal"):
        share.load_key("hotline-it", st, environ={"TIPLINE_SHARE_KEY_HOTLINE_IT": "ab" * 8})
    with pytest.raises(share.ShareError, match="not valid"):
        share.load_key("../etc/passwd", st)
    assert "key=" not in repr(from_env) and "\\x11" not in repr(from_env)


# ------------------------------------------------------------------------------------------ PSI


@needs_psi
def test_psi_finds_the_same_overlap_and_the_responder_learns_only_the_size(pair):
    a, b = pair
    hubs = _hubs()
    req = share.psi_request(a.db, "hotline-b", exclude=hubs)
    assert req.path_state.parent == a.settings.data_dir / "share-psi"
    assert stat.S_IMODE(os.stat(req.path_state).st_mode) == 0o600
    envelope = json.loads(req.data)
    assert envelope["items"] == req.items == len(_plain(a.db) - hubs)
    for _kind, value in PLANTED.values():  # the request holds blinded points, not values or plain hashes
        assert value.encode() not in req.data
    state_text = req.path_state.read_text()
    for _kind, value in PLANTED.values():
        assert value not in state_text  # the state keeps entity ids and the one-time key only

    resp = share.psi_respond(b.db, "hotline-a", req.data, exclude=hubs)
    assert resp.their_items == req.items and resp.my_items == len(_plain(b.db) - hubs)
    result = share.psi_finish(a.db, resp.data)
    assert result.mode == "psi" and _found(result) == SHARED
    for m in result.matches:
        assert sorted(r.id for r in m.reports) == sorted(set(a.planted_reports[(m.kind, m.value)]))
    assert result.theirs == resp.my_items and result.mine == req.items
    # the state is single-use: the one-time key is gone
    assert not req.path_state.exists()
    with pytest.raises(share.ShareError, match="no state"):
        share.psi_finish(a.db, resp.data)


@needs_psi
def test_psi_size_only_reveals_the_count_and_nothing_else(pair):
    a, b = pair
    hubs = _hubs()
    req = share.psi_request(a.db, "hotline-b", reveal=False, exclude=hubs)
    resp = share.psi_respond(b.db, "hotline-a", req.data, exclude=hubs)
    result = share.psi_finish(a.db, resp.data)
    assert result.mode == "psi-size" and result.count == len(SHARED) and result.matches == []


@needs_psi
def test_psi_refuses_what_it_should(pair):
    a, b = pair
    hubs = _hubs()
    req = share.psi_request(a.db, "hotline-b", kinds=["phone"], exclude=hubs)
    with pytest.raises(share.ShareError, match="more than the 3 allowed"):
        share.psi_respond(b.db, "hotline-a", req.data, max_items=3)
    with pytest.raises(share.ShareFileError, match="request.json: not a tipline-psi-request file"):
        share.psi_respond(b.db, "hotline-a", b'{"format": "tipline-psi-response", "version": 1}', source="request.json")
    with pytest.raises(share.ShareFileError, match="not JSON"):
        share.psi_respond(b.db, "hotline-a", b"\x00garbage")
    broken = json.loads(req.data) | {"request": "!!!"}
    with pytest.raises(share.ShareFileError, match="not valid base64"):
        share.psi_respond(b.db, "hotline-a", json.dumps(broken))
    broken = json.loads(req.data) | {"request": share._b64(b"\xff\xff\xff not protobuf")}
    with pytest.raises(share.ShareFileError, match="not a PSI request"):
        share.psi_respond(b.db, "hotline-a", json.dumps(broken))
    lying = json.loads(req.data) | {"reveal_intersection": False}
    with pytest.raises(share.ShareFileError, match="does not match"):
        share.psi_respond(b.db, "hotline-a", json.dumps(lying))
    # a response must answer one of our own requests
    other = share.psi_request(b.db, "hotline-a", kinds=["phone"])
    answer = share.psi_respond(a.db, "hotline-b", other.data, kinds=["phone"])
    with pytest.raises(share.ShareError, match="no state"):
        share.psi_finish(a.db, answer.data)
    # a response to our request that was tampered with (wrong number of elements) is refused
    good = json.loads(share.psi_respond(b.db, "hotline-a", req.data, kinds=["phone"], exclude=hubs).data)
    forged = good | {"response": other_resp_elements(good["response"])}
    with pytest.raises(share.ShareFileError, match="holds 1 elements"):
        share.psi_finish(a.db, json.dumps(forged))
    assert share.psi_finish(a.db, json.dumps(good)).count == 1  # the phone in common
    share.psi_finish(b.db, answer.data)  # tidy the other request's state


def other_resp_elements(b64: str) -> str:
    """The same response message cut to its first element."""
    import private_set_intersection.python as psi

    r = psi.Response()
    r.ParseFromString(share.base64.b64decode(b64))
    del r.encrypted_elements[1:]
    return share._b64(r.SerializeToString())


# ------------------------------------------------------------------------------------------ both backends


def test_export_overlap_and_psi_on_both_backends(db, tmp_path):
    """Side A on SQLite or PostgreSQL (the ``db`` fixture), side B a separate SQLite hotline."""
    a = _hotline(db.settings, 0, "a", demo=False, db=db)
    b = _hotline(Settings(data_dir=tmp_path / "b"), 0, "b", demo=False)
    try:
        result = share.overlap(a.db, _key("hotline-b"), _export(b, "hotline-a").splitlines())
        assert _found(result) == SHARED
        for m in result.matches:
            assert sorted(r.id for r in m.reports) == sorted(set(a.planted_reports[(m.kind, m.value)]))
        if share.psi_available():
            req = share.psi_request(a.db, "hotline-b")
            got = share.psi_finish(a.db, share.psi_respond(b.db, "hotline-a", req.data).data)
            assert _found(got) == SHARED
    finally:
        b.db.dispose()


# ------------------------------------------------------------------------------------------ command line


def _cli():  # type: ignore[no-untyped-def]
    from tipline.cli.main import app
    from tipline.routing import cli_share

    if not any(g.name == "share" for g in app.registered_groups):
        cli_share.register(app)  # until the routing capability's register() calls it
    return app


def test_command_line_round_trip(pair, tmp_path):
    a, b = pair
    app = _cli()
    run = CliRunner().invoke
    da, dbb = str(a.settings.data_dir), str(b.settings.data_dir)
    excl = tmp_path / "exclude.txt"
    excl.write_text("# the synthetic platforms' own identifiers\n" + "".join(f"{k}:{v}\n" for k, v in _hubs()))

    r = run(app, ["--data-dir", da, "share", "keygen", "--partner", "hotline-b"])
    assert r.exit_code == 0, r.output
    key_file = a.settings.data_dir / "share-keys" / "hotline-b.key"
    (b.settings.data_dir / "share-keys").mkdir(exist_ok=True)
    (b.settings.data_dir / "share-keys" / "hotline-a.key").write_text(key_file.read_text())
    ida = run(app, ["--data-dir", da, "share", "key-id", "--partner", "hotline-b"]).output.strip()
    idb = run(app, ["--data-dir", dbb, "share", "key-id", "--partner", "hotline-a"]).output.strip()
    assert ida == idb and len(ida) == 16

    theirs = tmp_path / "b-for-a.jsonl"
    r = run(app, ["--data-dir", dbb, "share", "export", "--partner", "hotline-a", "--out", str(theirs),
                  "--exclude", str(excl), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["key_id"] == idb
    assert stat.S_IMODE(os.stat(theirs).st_mode) == 0o600
    r = run(app, ["--data-dir", da, "share", "overlap", str(theirs), "--partner", "hotline-b",
                  "--exclude", str(excl), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert {(m["kind"], m["value"]) for m in got["matches"]} == SHARED
    assert all(m["reports"] and "received_at" in m["reports"][0] for m in got["matches"])
    r = run(app, ["--data-dir", da, "share", "overlap", str(theirs), "--partner", "hotline-b"])
    assert r.exit_code == 0 and PLANTED["btc"][1] in r.stdout and "identifier(s) in common" in r.stdout

    # a malformed file: one line, exit code 1, the line named
    bad = tmp_path / "bad.jsonl"
    bad.write_text(theirs.read_text().splitlines()[0] + "\n{oops\n")
    r = run(app, ["--data-dir", da, "share", "overlap", str(bad), "--partner", "hotline-b"])
    assert r.exit_code == 1 and "line 2" in r.output and "Traceback" not in r.output
    r = run(app, ["--data-dir", da, "share", "overlap", str(theirs), "--partner", "nobody"])
    assert r.exit_code == 1 and "no key for partner 'nobody'" in r.output

    if not share.psi_available():
        return
    # PSI through files: request (A) -> respond (B) -> finish (A)
    req, resp = tmp_path / "req.json", tmp_path / "resp.json"
    r = run(app, ["--data-dir", da, "share", "psi", "request", "--partner", "hotline-b", "--out", str(req),
                  "--exclude", str(excl)])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run(app, ["--data-dir", dbb, "share", "psi", "respond", str(req), "--partner", "hotline-a", "--out",
                  str(resp), "--exclude", str(excl)])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run(app, ["--data-dir", da, "share", "psi", "finish", str(resp), "--json"])
    assert r.exit_code == 0, r.output
    assert {(m["kind"], m["value"]) for m in json.loads(r.stdout)["matches"]} == SHARED
