"""Ads' pictures in the entity graph: two ads showing one photo (one a resized, re-encoded copy) name one
``pdq`` entity and land in one network; an ad showing a report's picture lands in the report's network; a
flat picture links nothing; a bad hash or a missing file is a bad line with its number, the others go on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from helpers import css, entity_counts, login_as, page, run, text_of
from tipline.ads import service
from tipline.ads.models import Ad
from tipline.ads.parse import read_lines
from tipline.evidence import service as evidence
from tipline.graph import service as graph
from tipline.intake import service as intake
from tipline.intake.schemas import FileIn, PublicReportIn
from tipline.media.hashing import hash_bytes, pdq_hamming
from tipline.media.links import KIND
from tipline.store import Database
from tipline.store.models import Entity, Mention
from tipline.synth.images import encode, synth_image


def _ad(i: int, text: str, images: list[str]) -> dict:
    t = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(hours=i)
    return {"ad_id": f"P{i}", "posted_at": t.isoformat(), "site": "board-img.com", "city": "Chicago", "country": "US",
            "title": f"Ad {i}", "text": text, "images": images}  # fmt: skip


def _write(tmp: Path, ads: list[dict]) -> Path:
    f = tmp / "ads.jsonl"
    f.write_text("\n".join(json.dumps(a) for a in ads) + "\n")
    return f


def _pictures(tmp: Path) -> tuple[str, str, str]:
    """An original photo, a resized JPEG copy of it, and a flat grey picture, as files."""
    img = synth_image(11)
    (tmp / "orig.png").write_bytes(encode(img, "PNG"))
    (tmp / "copy.jpg").write_bytes(encode(img.resize((300, 225)), "JPEG", quality=70))
    (tmp / "flat.png").write_bytes(encode(Image.new("RGB", (320, 240), (128, 128, 128)), "PNG"))
    return "orig.png", "copy.jpg", "flat.png"


def _report(db: Database, text: str, files: list[FileIn] | None = None) -> int:
    payload = {"category": "trafficking_advertisement", "text": text, "language": "en", "country": "US"}
    rep = PublicReportIn(**payload).to_report()
    if files:
        rep = rep.model_copy(update={"files": files})
    return intake.submit_report(db, rep).report_id


def _pdq_entities(db: Database, evidence_id: int) -> set[str]:
    return {e.value for e in evidence.get_item(db, evidence_id).entities if e.kind == KIND}


def test_two_ads_with_one_photo_share_a_network_and_a_flat_picture_links_nothing(db: Database, tmp_path: Path) -> None:
    orig, copy, flat = _pictures(tmp_path)
    a = hash_bytes((tmp_path / orig).read_bytes())
    b = hash_bytes((tmp_path / copy).read_bytes())
    assert a.pdq and b.pdq and a.pdq != b.pdq and pdq_hamming(a.pdq, b.pdq) <= db.settings.pdq_threshold
    rid = _report(db, "The ad's number was 312 414 0187")
    ads = [
        _ad(1, "Sweet lady, call 312-414-0187.", [orig, flat]),
        _ad(2, "Quiet garden river jazz, no number at all.", [copy]),
        _ad(3, "Lemon tower paint market, nothing shared.", [flat]),
    ]
    lines = list(read_lines(_write(tmp_path, ads).read_bytes(), "jsonl"))
    res = service.import_ads(db, lines, source="test", actor="test", files_from=tmp_path)
    assert res.added == 3 and res.bad == []
    rows = {r.ad_id: r for r in service.search_ads(db, site="board-img.com")}
    e1, e2, e3 = (rows[k].evidence_id for k in ("P1", "P2", "P3"))
    assert _pdq_entities(db, e1) == _pdq_entities(db, e2) == {a.pdq}  # the copy names the original's entity
    assert _pdq_entities(db, e3) == set()  # a flat picture names nothing
    nid = graph.network_id_of_report(db, rid)
    assert graph.network_id_of_evidence(db, e1) == graph.network_id_of_evidence(db, e2) == nid == rid
    assert graph.network_id_of_evidence(db, e3) is None
    with db.reader() as s:
        stored = s.scalar(select(Ad.images).where(Ad.ad_id == "P1"))
    assert [(p["file"], p["links"]) for p in stored] == [("orig.png", True), ("flat.png", False)]
    assert stored[1]["quality"] < db.settings.pdq_quality_threshold
    # the /ads search finds both ads by either hash (near copies name one entity)
    assert {r.ad_id for r in service.search_ads(db, identifier=b.pdq)} == {"P1", "P2"}


def test_an_ad_showing_a_reports_picture_is_in_the_reports_network(db: Database, tmp_path: Path) -> None:
    orig, copy, _flat = _pictures(tmp_path)
    h = hash_bytes((tmp_path / orig).read_bytes())
    assert h.pdq is not None
    rid = _report(db, "This picture is on a board", [FileIn(pdq=h.pdq, details={"pdq_quality": h.pdq_quality})])
    other = _report(db, "Nothing to do with it")
    lines = list(read_lines(_write(tmp_path, [_ad(7, "Lovely cloud bridge novel.", [copy])]).read_bytes(), "jsonl"))
    assert service.import_ads(db, lines, source="test", actor="test", files_from=tmp_path).added == 1
    ad = service.search_ads(db, site="board-img.com")[0]
    assert graph.network_id_of_evidence(db, ad.evidence_id) == graph.network_id_of_report(db, rid) == rid
    assert graph.network_id_of_report(db, other) == other
    assert [(k, v) for _a, k, v in service.ads_for_report(db, rid)] == [(KIND, h.pdq)]


def test_bad_hashes_and_missing_files_are_bad_lines_with_their_numbers(db: Database, tmp_path: Path) -> None:
    good = "f" * 16 + "0" * 16 + "a5" * 16
    ads = [
        _ad(1, "Fine ad.", [good.upper()]),
        _ad(2, "A hash one character short.", [good[:-1]]),
        _ad(3, "A file that is not there.", ["photos/missing.jpg"]),
        _ad(4, "Fine too.", []),
    ]
    f = _write(tmp_path, ads)
    res = service.import_ads(db, list(read_lines(f.read_bytes(), "jsonl")), source="t", actor="t", files_from=tmp_path)
    assert res.added == 2 and [b.line for b in res.bad] == [2, 3]
    assert "neither a PDQ hash (64 hexadecimal characters, 63 given)" in res.bad[0].error
    assert "no file 'photos/missing.jpg'" in res.bad[1].error
    # without a folder (the API) a file path is refused, a hash is taken
    api = service.import_ads(db, list(read_lines(f.read_bytes(), "jsonl")), source="api:p", actor="p")
    assert [b.line for b in api.bad] == [2, 3] and "PDQ hashes only" in api.bad[1].error


def test_the_cli_hashes_files_beside_the_import_file_and_names_a_bad_line(tmp_path: Path) -> None:
    orig, _copy, _flat = _pictures(tmp_path)
    f = tmp_path / "more.jsonl"
    f.write_text(json.dumps(_ad(9, "Another.", [orig])) + "\n" + json.dumps(_ad(10, "Bad.", ["xyz"])) + "\n")
    p = run(["ads", "import", str(f)], tmp_path / "data", check=False)
    assert p.returncode == 2 and "1 ads added" in p.stdout
    assert "line 2: images: image 1 ('xyz') is neither a PDQ hash" in " ".join(p.stderr.split())


def test_a_clusters_page_shows_the_pictures_its_ads_share(client: TestClient, db: Database, ana: object) -> None:
    pic = "a5" * 16 + "3c" * 16
    near = "a5" * 16 + "3c" * 14 + "c3" * 2  # 8 bits away: a re-encoded copy
    base = "Hello gentlemen! I am {n}, a charming lady in {c}. I like jazz, tea, chess and poetry. Call 312 414 0177."
    ads = [
        _ad(i, base.format(n=n, c=c), [pic if i % 2 else near])
        for i, (n, c) in enumerate([("Anna", "Chicago"), ("Bella", "Houston"), ("Anna", "Dallas"), ("Cara", "Miami")])
    ]
    other = _ad(9, "Completely different words about a bicycle shop in town.", [near])
    lines = list(read_lines("\n".join(json.dumps(a) for a in [*ads, other]).encode(), "jsonl"))
    service.import_ads(db, lines, source="test", actor="test")
    cid = service.stored_clusters(db)[0]["id"]
    view = service.cluster_view(db, cid)
    assert [(p.value, p.ads_here, p.ads_elsewhere) for p in view.pictures] == [(near, 4, 1)]
    login_as(client, "ana")
    doc = page(client.get(f"/ads/clusters/{cid}"))
    rows = css(doc, "table.pictures tbody tr")
    assert len(rows) == 1 and near[:16] in text_of(rows[0])
    found = page(client.get("/ads", params={"identifier": pic}))
    assert len(css(found, "table.ads tbody tr")) == 5


def test_a_picture_in_a_hash_bank_links_no_reports(db: Database, tmp_path: Path) -> None:
    """Known material circulates: two strangers reporting one bank-listed picture are not one network. The
    picture stays on both reports (searchable), and a bank imported later splits what it had joined."""
    from tipline.media import banks, retro

    orig, copy, _flat = _pictures(tmp_path)
    a, b = (hash_bytes((tmp_path / f).read_bytes()) for f in (orig, copy))
    assert a.pdq and b.pdq

    def report(h: object, text: str) -> int:
        return _report(db, text, [FileIn(pdq=h.pdq, details={"pdq_quality": h.pdq_quality})])  # type: ignore[attr-defined]

    first, second = report(a, "Seen in a group chat"), report(b, "Forwarded to me")
    assert graph.network_id_of_report(db, first) == graph.network_id_of_report(db, second)  # a new picture links

    banks.create_bank(db, "Known", default_label="known abuse material")
    banks.import_entries(db, "Known", [banks.make_entry("pdq", a.pdq)])
    assert retro.run_waiting(db)  # the import's retro-match analyses both reports again
    assert graph.network_id_of_report(db, first) != graph.network_id_of_report(db, second)
    third = report(b, "Another stranger saw it")
    assert graph.network_id_of_report(db, third) == third  # joins no one
    for rid in (first, second, third):
        with db.reader() as s:
            pdq = s.scalars(
                select(Mention.linkable).join(Entity).where(Mention.report_id == rid, Entity.kind == KIND)
            ).all()
        assert pdq == [False], rid  # still named by the report, linking nothing
    with db.reader() as s:
        named = s.execute(
            select(Entity.report_count, Entity.linkable_count).where(Entity.kind == KIND, Entity.value == a.pdq)
        ).one()
    assert tuple(named) == (3, 0)  # three reports name it, none linkably
    stored, recounted = entity_counts(db)
    assert stored == recounted
