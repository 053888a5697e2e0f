"""Ads stored and wired: import (CLI and API), idempotence, bad lines, the entity graph (an ad and a report
that share a phone are in one network; a site's footer links nothing), clusters joining incrementally, a
rebuild, the pages, a case from a cluster, the report page's ads panel, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import bearer, css, login_as, page, run, text_of
from tipline.accounts import service as accounts
from tipline.ads import service
from tipline.ads.parse import BadLine, read_lines
from tipline.graph import service as graph
from tipline.intake import service as intake
from tipline.intake.schemas import PublicReportIn
from tipline.store import Database
from tipline.synth.ads import generate_ads

FOOTER = "All advertisers confirm they are adults. Report abuse to help@board-test.com or call +1 202 414 0143."


def _ad(i: int, text: str, *, site: str = "board-test.com", city: str = "Chicago", days: int = 0) -> dict:
    t = datetime(2025, 5, 1, tzinfo=UTC) + timedelta(days=days, hours=i)
    return {
        "ad_id": f"A{i}",
        "posted_at": t.isoformat(),
        "site": site,
        "city": city,
        "country": "US",
        "title": f"Ad {i}",
        "text": text,
    }


def _lines(ads: list[dict]) -> list:
    return list(read_lines("\n".join(json.dumps(a) for a in ads).encode(), "jsonl"))


def _report(db: Database, text: str) -> int:
    payload = {"category": "trafficking_advertisement", "text": text, "language": "en", "country": "US"}
    return intake.submit_report(db, PublicReportIn(**payload).to_report()).report_id


def _corpus_payloads(n: int = 400, seed: int = 3) -> list[dict]:
    return [a.payload for a in generate_ads(seed=seed, n_ads=n, max_family=10).ads]


def test_lines_json_cannot_read_are_bad_lines_that_say_why() -> None:
    data = (
        b'{"ad_id": "A1", "price": ' + b"9" * 5000 + b"}\n" + b"[" * 100_000 + b"\n" + b'{"ad_id": "A", "ad_id": "B"}\n'
    )
    got = [(n, x.error) for n, x in read_lines(data, "jsonl") if isinstance(x, BadLine)]
    assert [n for n, _ in got] == [1, 2, 3]
    assert "more than 4,300 digits" in got[0][1] and "nested too deep" in got[1][1] and "twice" in got[2][1]


def test_import_is_idempotent_reports_bad_lines_and_clusters(db: Database) -> None:
    ads = _corpus_payloads(300)
    lines = _lines(ads) + [(301, read_lines(b"{oops", "jsonl").__next__()[1])]
    res = service.import_ads(db, lines, source="test", actor="test")
    assert res.added == 300 and res.updated == 0 and len(res.bad) == 1
    clusters = service.stored_clusters(db)
    assert clusters and all(c["size"] >= 2 for c in clusters)
    again = service.import_ads(db, _lines(ads[:50]), source="test", actor="test")
    assert again.added == 0 and again.updated == 50
    assert sum(1 for _ in service.search_ads(db, limit=1000)) == 300


def test_an_ad_and_a_report_sharing_a_phone_are_in_one_network(db: Database) -> None:
    rid = _report(db, "I saw an ad, the number was 312 414 0187, they move girls between cities")
    res = service.import_ads(
        db, _lines([_ad(1, "Sweet lady in Chicago, call 312-414-0187 any time.")]), source="test", actor="test"
    )
    assert res.added == 1
    ad = service.search_ads(db, identifier="+13124140187")[0]
    nid = graph.network_id_of_report(db, rid)
    assert nid is not None and graph.network_id_of_evidence(db, ad.evidence_id) == nid
    assert [a.id for a, _k, _v in service.ads_for_report(db, rid)] == [ad.id]


def test_a_footer_shared_by_every_ad_links_nothing(db: Database) -> None:
    import random

    rng = random.Random(4)
    words = "sunny quiet lovely garden river coffee jazz novel tennis paint market bridge tower lemon cloud".split()
    ads = [
        _ad(i, " ".join(rng.choice(words) + str(rng.randrange(99)) for _ in range(12)) + ". " + FOOTER)
        for i in range(60)
    ]
    r1 = _report(db, "the help desk number +1 202 414 0143 is on the board's ads")
    res = service.import_ads(db, _lines(ads), source="test", actor="test")
    assert any("+12024140143" in w for w in res.warned)  # the footer's phone went on the warning list
    assert service.stored_clusters(db) == []  # no cluster from the footer
    nets = {graph.network_id_of_evidence(db, a.evidence_id) for a in service.search_ads(db, limit=100)}
    assert nets == {None}  # no ad is linked to the report (or to each other) through the footer
    assert service.ads_for_report(db, r1) == []


def test_new_ads_join_existing_clusters_and_rebuild_is_one_call(db: Database) -> None:
    ads = sorted(_corpus_payloads(400, seed=5), key=lambda a: a["posted_at"])
    service.import_ads(db, _lines(ads[:300]), source="test", actor="test")
    built = service.rebuild(db)
    before = {c["id"]: set(map(tuple, c["keys"])) for c in service.stored_clusters(db)}
    assert built["clusters"] == len(before) > 5
    res = service.import_ads(db, _lines(ads[300:]), source="test", actor="test")
    assert res.clusters_changed > 0
    after = {c["id"]: set(map(tuple, c["keys"])) for c in service.stored_clusters(db)}
    grown = [cid for cid in before if cid in after and after[cid] > before[cid]]
    assert grown  # old clusters kept their ids and took new ads
    computed = {frozenset(map(tuple, c["keys"])) for c in service.compute_clusters(db)}
    stored = {frozenset(v) for v in after.values()}
    assert len(stored & computed) >= 0.8 * len(computed)  # incremental is close to a full rebuild


def test_cli_import_clusters_rebuild(tmp_path: Path) -> None:
    f = tmp_path / "ads.jsonl"
    payloads = _corpus_payloads(200, seed=9)
    f.write_text("\n".join(json.dumps(a) for a in payloads) + "\nnot json\n" + json.dumps({"ad_id": "x"}) + "\n")
    p = run(["ads", "import", str(f), "--source", "crawler"], tmp_path, check=False)
    assert p.returncode == 2, p.stderr
    assert "line 201" in p.stderr and "line 202" in p.stderr and "200 ads added" in p.stdout
    out = json.loads(run(["ads", "clusters", "--json"], tmp_path).stdout)
    assert out and {
        "id",
        "size",
        "ad_ids",
        "template",
        "sites",
        "cities",
        "first_seen",
        "last_seen",
        "indicators",
    } <= set(out[0])
    assert "clusters" in run(["ads", "rebuild"], tmp_path).stdout
    csv = tmp_path / "ads.csv"
    csv.write_text(
        "ad_id,posted_at,site,city,country,title,text\nC1,2025-01-01,b.test,Roma,IT,t,ciao\nC2,,b.test,,,,\n"
    )
    p = run(["ads", "import", str(csv)], tmp_path, check=False)
    assert p.returncode == 2 and "line 3" in p.stderr and "1 ads added" in p.stdout
    assert "Usage" in run(["ads", "import", "--help"], tmp_path).stdout
    bad = run(["ads", "clusters", "--engine", "hadoop"], tmp_path, check=False)
    assert bad.returncode == 1 and "local or spark" in bad.stderr


def test_api_takes_ads_from_a_platform_key(client: TestClient, db: Database) -> None:
    creds = accounts.create_platform(db, "Crawler Partner", by="test")
    body = {"ads": [_ad(1, "Friendly lady, call 312 414 0111."), {"ad_id": "2", "site": "x"}]}
    assert client.post("/api/v1/ads", json=body).status_code == 401
    r = client.post("/api/v1/ads", json=body, headers=bearer(creds.api_key))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["added"] == 1 and out["refused"][0]["index"] == 1 and "posted_at" in out["refused"][0]["error"]
    r = client.post("/api/v1/ads", json=body, headers=bearer(creds.api_key))
    assert r.json()["updated"] == 1


def test_pages_cluster_template_case_and_report_panel(client: TestClient, db: Database, ana: object) -> None:
    rid = _report(db, "the ads use 312 414 0177 in several cities")
    base = "Hello gentlemen! I am {n}, a charming lady in {c}. I like jazz, tea, chess and poetry. Call 312 414 0177."
    ads = [
        _ad(i, base.format(n=n, c=c), city=c, days=i * 3)
        for i, (n, c) in enumerate([("Anna", "Chicago"), ("Bella", "Houston"), ("Anna", "Dallas"), ("Cara", "Miami")])
    ]
    service.import_ads(db, _lines(ads), source="test", actor="test")
    cid = service.stored_clusters(db)[0]["id"]
    login_as(client, "ana")
    resp = client.get(f"/ads/clusters/{cid}")
    assert resp.status_code == 200 and "template" in resp.text, resp.text[-3000:]
    doc = page(resp)
    tpl = text_of(css(doc, "#template")[0])
    assert "charming lady in" in tpl and len(css(doc, "mark.slot")) >= 2
    assert "Anna" in text_of(doc) and "Houston" in text_of(doc)
    assert css(doc, "svg.movement rect")  # the timeline chart
    assert f"/reports/{rid}" in client.get(f"/ads/clusters/{cid}").text
    found = page(client.get("/ads", params={"identifier": "312 414 0177"}))
    assert len(css(found, "table.ads tbody tr")) == 4
    assert len(css(found, "svg.movement rect")) == 4  # the phone's movement: four cities
    assert len(css(page(client.get("/ads", params={"q": "charming"})), "table.ads tbody tr")) == 4
    token = css(doc, "input[name=csrf_token]")[0].get("value")
    r = client.post(f"/ads/clusters/{cid}/case", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
    case_page = client.get(r.headers["location"])
    assert case_page.status_code == 200
    report_page = client.get(f"/reports/{rid}")
    assert "Ads that share identifiers" in report_page.text and f"/ads/clusters/{cid}" in report_page.text
    assert client.get("/ads/clusters/999999").status_code == 404


def test_retention_drops_old_ads(db: Database) -> None:
    old = _ad(1, "An old ad, call 312 414 0199.", days=-2000)
    new = _ad(2, "A new ad, call 312 414 0198.", days=0)
    new["posted_at"] = datetime.now(UTC).isoformat()
    service.import_ads(db, _lines([old, new]), source="test", actor="test")
    with db.session() as s:
        service.forget_old_ads(s, db.settings, set())
    assert [a.ad_id for a in service.search_ads(db)] == ["A2"]


def test_an_expired_ads_phone_goes_with_it_through_a_retention_run(db: Database) -> None:
    """The phone only an expired ad named goes in the same retention run as the ad (once it was last named
    over a day ago); the phone a kept ad names stays."""
    from sqlalchemy import select, update

    from tipline.protect import retention
    from tipline.store.models import Entity

    new = _ad(2, "A new ad, call 312 414 0198.")
    new["posted_at"] = datetime.now(UTC).isoformat()
    service.import_ads(db, _lines([_ad(1, "An old ad, call 312 414 0199.", days=-2000), new]), source="t", actor="t")
    with db.session() as s:
        s.execute(update(Entity).values(last_seen=datetime.now(UTC) - timedelta(days=2)))
    assert retention.run(db).entities == 1
    assert [a.ad_id for a in service.search_ads(db)] == ["A2"]
    with db.reader() as s:
        assert set(s.scalars(select(Entity.value).where(Entity.kind == "phone"))) == {"+13124140198"}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_spark_engine_gives_the_stored_ads_the_same_clusters(sqlite_db: Database, spark: object) -> None:
    service.import_ads(sqlite_db, _lines(_corpus_payloads(300, seed=11)), source="test", actor="test")
    local = service.compute_clusters(sqlite_db)
    on_spark = service.compute_clusters(sqlite_db, engine="spark", spark=spark)
    assert local and on_spark == local


def test_the_demo_world_has_ads_that_share_phones_with_its_reports(sqlite_db: Database) -> None:
    import io

    from rich.console import Console

    from tipline.demo import load_demo

    summary = load_demo(sqlite_db, seed=2, n_reports=40, console=Console(file=io.StringIO()))
    assert summary is not None and summary["ads"] == 600
    linked = [c for c in service.stored_clusters(sqlite_db) if service.cluster_view(sqlite_db, c["id"]).reports]
    assert linked  # clusters whose phone is a network's phone in the world's reports
    ad = service.cluster_view(sqlite_db, linked[0]["id"]).ads[0]
    assert graph.network_id_of_evidence(sqlite_db, ad.evidence_id) is not None
