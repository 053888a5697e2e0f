"""Matching against hash banks: exact, PDQ (with dihedral variants), vPDQ (HMA's criterion), the fast index
against the linear one through the Matcher, reloads when banks change, the triage effect, /api/v1/match and
`tipline match --json` as a real process."""

from __future__ import annotations

import json
import secrets
import threading

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from helpers import bearer, run
from tipline.capabilities import open_database
from tipline.intake import service as intake
from tipline.intake.schemas import Category, FileIn, ReportIn, Source
from tipline.media import banks
from tipline.media.hashing import hash_bytes, pdq_dihedral, pdq_hamming, vpdq_bytes
from tipline.media.index import LinearPDQIndex, MIHPDQIndex
from tipline.media.matching import DIHEDRAL_NAMES, Matcher, Query, matcher_for
from tipline.media.models import LABEL_ABUSE, LABEL_BENIGN, HashMatch
from tipline.store import Database
from tipline.store.models import Report
from tipline.synth.images import encode, encode_avi, synth_image, synth_video, transform, transform_frames, video_frames


def hx(n: int) -> str:
    return secrets.token_hex(n // 2)


def flip_bits(h: str, n: int, rng: np.random.Generator) -> str:
    v = int(h, 16)
    for b in rng.choice(256, size=n, replace=False):
        v ^= 1 << int(b)
    return f"{v:064x}"


def bank(db: Database, name: str, entries: list[tuple], label: str = LABEL_ABUSE) -> banks.BankInfo:
    banks.create_bank(db, name, default_label=label)
    banks.import_entries(db, name, [banks.make_entry(*e) for e in entries])
    return banks.get_bank(db, name)


def jpeg(seed: int, t: str | None = None, quality: int = 90) -> bytes:
    img = synth_image(seed)
    return encode(transform(img, t) if t else img, "JPEG", quality=quality)


# ------------------------------------------------------------------------------------------ kinds


def test_exact_kinds_match_case_insensitively_in_enabled_banks_only(db):
    md5, sha1, sha256 = hx(32), hx(40), hx(64)
    bank(db, "exact", [("md5", md5), ("sha1", sha1, LABEL_BENIGN), ("sha256", sha256)])
    bank(db, "off", [("md5", md5)])
    banks.set_enabled(db, "off", False)
    m = Matcher(db)
    found = m.match([Query("md5", md5.upper(), ref="a"), Query("sha1", sha1, ref="b"), Query("sha256", hx(64))])
    assert [(x.query.ref, x.bank_name, x.kind, x.label, x.distance) for x in found] == [
        ("a", "exact", "md5", LABEL_ABUSE, 0),
        ("b", "exact", "sha1", LABEL_BENIGN, 0),
    ]


def test_pdq_near_copy_matches_within_the_threshold(db):
    original, copy, other = hash_bytes(jpeg(11)), hash_bytes(jpeg(11, "jpeg50")), hash_bytes(jpeg(12))
    bank(db, "near", [("pdq", copy.pdq)])
    m = Matcher(db)
    d = pdq_hamming(original.pdq, copy.pdq)
    (hit,) = m.match([Query("pdq", original.pdq)])
    assert (hit.bank_name, hit.kind, hit.distance, hit.label) == ("near", "pdq", d, LABEL_ABUSE)
    assert m.match([Query("pdq", other.pdq)]) == []
    rng = np.random.default_rng(0)
    edge = flip_bits(copy.pdq, 31, rng)
    assert [x.distance for x in m.match([Query("pdq", edge)])] == [31]
    assert m.match([Query("pdq", flip_bits(copy.pdq, 32, rng))]) == []
    db.settings = db.settings.model_copy(update={"pdq_threshold": 40})
    assert [x.distance for x in m.match([Query("pdq", flip_bits(copy.pdq, 40, rng))])] == [40]


def test_mirrored_copy_matches_through_dihedral_variants(db):
    bank(db, "originals", [("pdq", hash_bytes(jpeg(21)).pdq)])
    m = Matcher(db)
    for t in ("mirror", "flip", "rot90", "rot180"):
        data = jpeg(21, t)
        plain = hash_bytes(data).pdq
        assert m.match([Query("pdq", plain)]) == [], t  # a turned picture is far from its original...
        (hit,) = m.match([Query("pdq", plain, variants=pdq_dihedral(data))])  # ...one of its variants is not
        assert hit.distance <= 31 and hit.details["variant"] in DIHEDRAL_NAMES[1:], t
    (hit,) = m.match([Query("pdq", hash_bytes(jpeg(21)).pdq, variants=pdq_dihedral(jpeg(21)))])
    assert hit.distance == 0 and "variant" not in hit.details


def _frames(hashes: list[str], quality: int = 80) -> list[dict]:
    return [{"pdq": h, "quality": quality, "ts": float(i)} for i, h in enumerate(hashes)]


def test_vpdq_follows_hmas_share_of_frames_criterion(db):
    rng = np.random.default_rng(3)
    video = [hx(64) for _ in range(10)]
    bank(db, "videos", [("vpdq", _frames(video))])
    m = Matcher(db)

    def query(n_matching: int, n_other: int, quality: int = 80) -> list:
        hashes = [flip_bits(h, 8, rng) for h in video[:n_matching]] + [hx(64) for _ in range(n_other)]
        return m.match([Query("vpdq", frames=_frames(hashes, quality))])

    (hit,) = query(8, 2)  # 80% of the query's frames are in the bank video: a match (HMA: >= 80%)
    assert (hit.kind, hit.distance) == ("vpdq", 8)
    assert hit.details == {"query_share": 0.8, "bank_share": 0.8, "query_frames": 10, "bank_frames": 10}
    assert query(7, 3) == []  # 70%: not
    (hit,) = query(3, 0)  # a short clip of the bank video: 100% of its frames, 30% of the bank's; a match
    assert hit.details["bank_share"] == 0.3
    assert query(10, 0, quality=40) == []  # frames below the quality threshold do not count
    db.settings = db.settings.model_copy(update={"vpdq_bank_share": 0.5})
    assert query(3, 0) == []  # both directions: the clip now covers too little of the bank video
    # duplicate frames count once on both sides (a still scene must not inflate the share)
    db.settings = db.settings.model_copy(update={"vpdq_bank_share": 0.0})
    dup = [video[0]] * 7 + [hx(64) for _ in range(3)]
    assert m.match([Query("vpdq", frames=_frames(dup))]) == []


def test_vpdq_of_real_videos(db):
    frames = video_frames(1)
    bank(db, "videos", [("vpdq", vpdq_bytes(encode_avi(frames)))])
    m = Matcher(db)
    (hit,) = m.match([Query("vpdq", frames=vpdq_bytes(encode_avi(transform_frames(frames, "trim12"))))])
    assert hit.details["query_share"] >= 0.8
    assert m.match([Query("vpdq", frames=vpdq_bytes(synth_video(2)))]) == []


def test_mih_index_agrees_with_the_linear_one_through_the_matcher(sqlite_db):
    rng = np.random.default_rng(7)
    base = [hx(64) for _ in range(3000)]
    planted = [flip_bits(base[i], int(rng.integers(0, 45)), rng) for i in range(0, 3000, 15)]
    bank(sqlite_db, "a", [("pdq", h) for h in base[:1500]])
    bank(sqlite_db, "b", [("pdq", h) for h in base[1500:] + planted])
    queries = [Query("pdq", flip_bits(base[i], int(rng.integers(0, 40)), rng), ref=i) for i in range(0, 3000, 7)]
    queries += [Query("pdq", hx(64), ref=-1) for _ in range(50)]

    def result(factory) -> set:  # type: ignore[no-untyped-def]
        found = Matcher(sqlite_db, index_factory=factory).match(queries)
        return {(x.query.ref, x.entry_id, x.distance) for x in found}

    fast, slow = result(MIHPDQIndex), result(LinearPDQIndex)
    assert fast == slow
    assert len(fast) > 300  # the planted near copies are there


# ------------------------------------------------------------------------------------------ reloads


def test_index_reloads_when_banks_change_here_or_in_another_process(db, settings):
    p = hx(64)
    bank(db, "live", [("pdq", p)])
    m = Matcher(db)
    assert len(m.match([Query("pdq", p)])) == 1
    reloads = m.reloads
    assert len(m.match([Query("pdq", p)])) == 1 and m.reloads == reloads  # nothing changed: no reload
    banks.set_enabled(db, "live", False)
    assert m.match([Query("pdq", p)]) == []
    banks.set_enabled(db, "live", True)
    assert len(m.match([Query("pdq", p)])) == 1
    q = hx(64)
    banks.import_entries(db, "live", [banks.make_entry("pdq", q)])
    assert len(m.match([Query("pdq", q)])) == 1 and m.stats()["pdq_hashes"] == 2  # added to the loaded index
    other = open_database(settings)  # another process, same database
    try:
        banks.set_enabled(other, "live", False)
    finally:
        other.dispose()
    assert m.match([Query("pdq", q)]) == []
    banks.delete_bank(db, "live")  # a new bank after a delete never inherits the old one's cached index
    r = hx(64)
    bank(db, "live", [("pdq", r)])
    assert m.match([Query("pdq", p)]) == [] and len(m.match([Query("pdq", r)])) == 1


def test_queries_during_reloads_see_a_whole_index(sqlite_db):
    p = hx(64)
    bank(sqlite_db, "b", [("pdq", p)])
    m = Matcher(sqlite_db)
    m.refresh()
    errors: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        try:
            while not stop.is_set():
                assert len(m.match([Query("pdq", p)])) == 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        banks.import_entries(sqlite_db, "b", [banks.make_entry("pdq", hx(64)) for _ in range(2000)])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    m.refresh()  # the query threads may have stopped before they saw the last import
    assert m.stats()["pdq_hashes"] == 10_001


def test_matcher_is_one_per_database(app, db):
    assert matcher_for(app.state.db) is matcher_for(db)
    other = open_database(db.settings)  # another database object (another process): its own matcher
    assert matcher_for(other) is not matcher_for(db)
    other.dispose()


# ------------------------------------------------------------------------------------------ triage


def _report(db: Database, files: list[FileIn], **kw) -> int:  # type: ignore[no-untyped-def]
    return intake.submit_report(
        db,
        ReportIn(source=Source.PLATFORM, category=Category.CSAM, text="Shared in a group chat.", files=files, **kw),
    ).report_id


def _row(db: Database, rid: int) -> Report:
    with db.reader() as s:
        return s.get(Report, rid)  # type: ignore[return-value]


def _matches(db: Database, rid: int) -> list[HashMatch]:
    with db.reader() as s:
        return list(s.scalars(select(HashMatch).where(HashMatch.report_id == rid)))


def test_known_abuse_match_makes_the_report_p2_and_says_why(db):
    copy = hash_bytes(jpeg(31, "jpeg50"))
    bank(db, "Known", [("pdq", copy.pdq)])
    baseline = _report(db, [FileIn(pdq=hash_bytes(jpeg(32)).pdq)])
    assert _row(db, baseline).priority >= 3
    rid = _report(db, [FileIn(pdq=hash_bytes(jpeg(31)).pdq, md5=hx(32))])
    r = _row(db, rid)
    assert r.priority <= 2
    (reason,) = [x for x in r.reasons if x["rule"] == "known-abuse-hash"]
    assert reason["detail"] == LABEL_ABUSE
    (m,) = _matches(db, rid)
    assert (m.bank_name, m.kind, m.label) == ("Known", "pdq", LABEL_ABUSE) and m.distance <= 31
    assert m.attachment_id is not None and m.details["origin"] == "file"
    intake.analyse_report(db, rid)
    assert len(_matches(db, rid)) == 1  # replaced, not added again
    banks.set_enabled(db, "Known", False)
    intake.analyse_report(db, rid)
    assert _matches(db, rid) == [] and _row(db, rid).priority >= 3
    assert not [x for x in _row(db, rid).reasons if x["rule"] == "known-abuse-hash"]


def test_benign_match_is_recorded_but_does_not_raise_the_report(db):
    md5 = hx(32)
    bank(db, "Benign", [("md5", md5)], label=LABEL_BENIGN)
    rid = _report(db, [FileIn(md5=md5)])
    assert [m.label for m in _matches(db, rid)] == [LABEL_BENIGN]
    assert _row(db, rid).priority >= 3


def test_original_file_hash_from_cybertip_file_details_matches(db):
    original = hx(32)
    bank(db, "Known", [("md5", original)])
    details = {"file_details": {"hashes": [{"type": "MD5", "value": original.upper()}, {"type": "x", "value": "1"}]}}
    rid = _report(db, [FileIn(md5=hx(32), details=details)])
    (m,) = _matches(db, rid)
    assert m.details["origin"] == "original" and m.details["query_hash"] == original
    assert _row(db, rid).priority <= 2


# ------------------------------------------------------------------------------------------ API and CLI


def test_api_match_with_hashes_and_with_a_file(client, db, platform, analyst_token):
    near = hash_bytes(jpeg(41, "jpeg50"))
    md5 = hx(32)
    b = bank(db, "Known", [("pdq", near.pdq), ("md5", md5)])
    body = {"hashes": [{"kind": "pdq", "hash": hash_bytes(jpeg(41)).pdq}, {"kind": "md5", "hash": md5.upper()}]}
    r = client.post("/api/v1/match", json=body, headers=bearer(platform.api_key))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["hashes"][1] == {"kind": "md5", "hash": md5}
    assert [(x["bank"], x["label"], x["kind"], x["query"]) for x in out["matches"]] == [
        ("Known", LABEL_ABUSE, "pdq", 0),
        ("Known", LABEL_ABUSE, "md5", 1),
    ]
    assert out["matches"][0]["distance"] == pdq_hamming(near.pdq, body["hashes"][0]["hash"])
    assert "entry_id" not in out["matches"][0]  # platforms do not see bank entry ids
    staff_view = client.post("/api/v1/match", json=body, headers=bearer(analyst_token)).json()
    assert staff_view["matches"][0]["bank_id"] == b.id and "entry_id" in staff_view["matches"][0]

    mirrored = jpeg(41, "mirror")
    r = client.post("/api/v1/match", files={"file": ("x.jpg", mirrored, "image/jpeg")}, headers=bearer(analyst_token))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["file"]["md5"] == hash_bytes(mirrored).md5 and out["file"]["pdq"] == hash_bytes(mirrored).pdq
    (hit,) = out["matches"]
    assert (hit["bank"], hit["kind"], hit["variant"]) == ("Known", "pdq", "flipY") and hit["distance"] <= 31

    big = encode(
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)), "JPEG", quality=95
    )
    assert len(big) > db.settings.max_body_bytes  # larger than a form, smaller than an upload: accepted
    r = client.post("/api/v1/match", files={"file": ("big.jpg", big, "image/jpeg")}, headers=bearer(platform.api_key))
    assert r.status_code == 200 and r.json()["file"]["size"] == len(big) and r.json()["matches"] == []

    assert client.post("/api/v1/match", json=body).status_code == 401
    assert client.post("/api/v1/match", json=body, headers=bearer("nope")).status_code == 401
    r = client.post("/api/v1/match", json={"hashes": [{"kind": "pdq", "hash": "abc"}]}, headers=bearer(analyst_token))
    assert r.status_code == 422 and "hashes.0" in r.json()["detail"]
    r = client.post("/api/v1/match", json={"hashes": []}, headers=bearer(analyst_token))
    assert r.status_code == 422


def test_report_matches_api_is_for_staff(client, db, platform, analyst_token):
    md5 = hx(32)
    bank(db, "Known", [("md5", md5)])
    rid = _report(db, [FileIn(md5=md5)], platform_id=platform.id, external_id="r1")
    r = client.get(f"/api/v1/reports/{rid}/matches", headers=bearer(analyst_token))
    assert r.status_code == 200
    (m,) = r.json()["matches"]
    assert (m["bank"], m["kind"], m["distance"], m["label"]) == ("Known", "md5", 0, LABEL_ABUSE)
    assert client.get(f"/api/v1/reports/{rid}/matches", headers=bearer(platform.api_key)).status_code == 401
    assert client.get("/api/v1/reports/999999/matches", headers=bearer(analyst_token)).status_code == 404


@pytest.mark.slow
def test_tipline_match_json_as_a_real_process(tmp_path):
    data = tmp_path / "d"
    near = hash_bytes(jpeg(51, "jpeg50"))
    (tmp_path / "bank.csv").write_text(f"pdq,{near.pdq}\n")
    run(["banks", "import", "Known", str(tmp_path / "bank.csv"), "--label", LABEL_ABUSE], data)
    (tmp_path / "a.jpg").write_bytes(jpeg(51))
    (tmp_path / "b.jpg").write_bytes(jpeg(52))
    (tmp_path / "c.jpg").write_bytes(jpeg(51, "mirror"))
    p = run(["match", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), str(tmp_path / "c.jpg"), "--json"], data)
    a, b, c = (json.loads(line) for line in p.stdout.splitlines())
    assert a["hashes"]["pdq"] == hash_bytes(jpeg(51)).pdq and a["hashes"]["md5"] == hash_bytes(jpeg(51)).md5
    (m,) = a["matches"]
    assert (m["bank"], m["label"], m["kind"]) == ("Known", LABEL_ABUSE, "pdq") and m["distance"] <= 31
    assert b["matches"] == []
    assert c["matches"][0]["variant"] == "flipY"
    (tmp_path / "bad.jpg").write_bytes(jpeg(53)[:2000])
    p = run(["match", str(tmp_path / "bad.jpg"), "--json"], data, check=False)
    assert p.returncode == 1 and "error" in json.loads(p.stdout)
