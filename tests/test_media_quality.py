"""PDQ quality: hashes under the threshold (HMA's 50: flat or near-empty pictures) are ignored on the bank side
(not imported, counted) and on the query side (not looked up, and the answer says so)."""

from __future__ import annotations

import json
import secrets

import pytest
from PIL import Image
from sqlalchemy import select

from helpers import bearer
from tipline.intake import service as intake
from tipline.intake.schemas import Category, FileIn, ReportIn, Source
from tipline.media import banks, files
from tipline.media.banks import BankError
from tipline.media.hashing import hash_bytes
from tipline.media.matching import Query, matcher_for
from tipline.media.models import LABEL_ABUSE, HashMatch
from tipline.store.models import Attachment
from tipline.synth.images import encode, synth_image


def flat(shade: int) -> bytes:
    return encode(Image.new("RGB", (400, 300), (shade, shade, shade)), "PNG")


def test_a_flat_image_matches_nothing(client, db, platform, tmp_path):
    a, b = hash_bytes(flat(120)), hash_bytes(flat(200))
    assert a.pdq_quality is not None and a.pdq_quality < 50 and b.pdq_quality is not None and b.pdq_quality < 50
    # a list that gives a flat hash's quality (JSON lines, or "hex:quality" in CSV) does not import it
    banks.create_bank(db, "Flat", default_label=LABEL_ABUSE)
    lines = [
        json.dumps({"kind": "pdq", "hash": a.pdq, "quality": a.pdq_quality}),
        f'{{"kind": "md5", "hash": "{secrets.token_hex(16)}"}}',
    ]
    r = banks.import_file(db, "Flat", "\n".join(lines).encode(), filename="l.jsonl")
    assert (r.added, r.low_quality) == (1, 1)
    r = banks.import_file(db, "Flat", f"pdq,{b.pdq}:{b.pdq_quality}\n".encode(), filename="l.csv")
    assert (r.added, r.low_quality) == (0, 1)
    # a folder of media: the flat picture keeps its exact hashes only
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "flat.png").write_bytes(flat(60))
    (tmp_path / "m" / "real.jpg").write_bytes(encode(synth_image(71), "JPEG", quality=90))
    r = banks.import_media(db, "Flat", tmp_path / "m")
    assert r.low_quality == 1 and r.by_kind["pdq"] == 2 and banks.get_bank(db, "Flat").counts["pdq"] == 1
    # a hash of unknown quality is kept (most lists give none): the flat hash is in the bank now ...
    banks.import_file(db, "Flat", f"pdq,{a.pdq}\n".encode(), filename="l.csv")
    # ... and a flat query does not look it up: not through the API ...
    r = client.post(
        "/api/v1/match", files={"file": ("f.png", flat(120), "image/png")}, headers=bearer(platform.api_key)
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert [m["kind"] for m in out["matches"]] == []
    assert out["file"]["pdq_quality"] < 50
    (why,) = out["ignored"]
    assert why["kind"] == "pdq" and "under 50" in why["reason"]
    body = {"hashes": [{"kind": "pdq", "hash": a.pdq, "quality": a.pdq_quality}, {"kind": "pdq", "hash": a.pdq}]}
    out = client.post("/api/v1/match", json=body, headers=bearer(platform.api_key)).json()
    assert [m["query"] for m in out["matches"]] == [1]  # the same hash of unknown quality is looked up
    assert [x["query"] for x in out["ignored"]] == [0]
    bad = {"hashes": [{"kind": "pdq", "hash": a.pdq, "quality": 101}]}
    assert client.post("/api/v1/match", json=bad, headers=bearer(platform.api_key)).status_code == 422
    # ... nor at intake (the upload's quality is kept in its details)
    rid = intake.submit_report(
        db, ReportIn(source=Source.PLATFORM, category=Category.CSAM, text="A grey picture.", files=[])
    ).report_id
    att = files.add_file(db, rid, FileIn(filename="f.png"), flat(120), platform_id=None)
    with db.reader() as s:
        assert s.get(Attachment, att).details["pdq_quality"] < 50  # type: ignore[union-attr]
        assert list(s.scalars(select(HashMatch).where(HashMatch.report_id == rid))) == []
    assert matcher_for(db).match([Query("pdq", a.pdq, quality=a.pdq_quality)]) == []
    assert len(matcher_for(db).match([Query("pdq", a.pdq)])) == 1


def test_quality_is_checked_on_import(db):
    with pytest.raises(BankError, match="quality must be an integer 0-100"):
        banks.make_entry("pdq", secrets.token_hex(32), quality=200)
    with pytest.raises(BankError, match="PDQ hashes only"):
        banks.make_entry("md5", secrets.token_hex(16), quality=90)
    assert banks.make_entry("pdq", secrets.token_hex(32) + ":77").quality == 77


def test_a_bordered_copy_matches_through_the_trimmed_variant(client, db, platform):
    from tipline.media.hashing import pdq_hamming
    from tipline.synth.images import transform

    original = synth_image(81, (640, 480))
    bordered = encode(transform(original, "border10"), "JPEG", quality=90)
    bank_hash = hash_bytes(encode(original, "JPEG", quality=90)).pdq
    plain = hash_bytes(bordered, dihedral=True)
    assert pdq_hamming(bank_hash, plain.pdq) > 31 and plain.pdq_trim is not None  # PDQ alone misses it
    assert pdq_hamming(bank_hash, plain.pdq_trim) <= 31
    assert hash_bytes(encode(original, "JPEG"), dihedral=True).pdq_trim is None  # no border: no variant
    banks.create_bank(db, "Known", default_label=LABEL_ABUSE)
    banks.import_file(db, "Known", f"pdq,{bank_hash}\n".encode(), filename="l.csv")
    r = client.post(
        "/api/v1/match", files={"file": ("b.jpg", bordered, "image/jpeg")}, headers=bearer(platform.api_key)
    )
    assert r.status_code == 200, r.text
    (hit,) = r.json()["matches"]
    assert (hit["bank"], hit["variant"]) == ("Known", "trim") and hit["distance"] <= 31
    # a report's upload is matched the same way at intake
    rid = intake.submit_report(
        db, ReportIn(source=Source.PLATFORM, category=Category.CSAM, text="A copy with black bars.", files=[])
    ).report_id
    files.add_file(db, rid, FileIn(filename="b.jpg"), bordered, platform_id=None)
    with db.reader() as s:
        (m,) = s.scalars(select(HashMatch).where(HashMatch.report_id == rid))
    assert (m.bank_name, m.details["variant"]) == ("Known", "trim")
