"""Ads, the domain: synthetic corpus, shingles and MinHash, template clustering, templates, indicators,
movement, the import reader. No database here (see test_ads_store.py)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from datasketch import MinHash

from tipline.ads import indicators as ind
from tipline.ads import template as tpl
from tipline.ads.cluster import Clusterer, Params
from tipline.ads.engine import AdRecord, clusters
from tipline.ads.movement import Sighting, timeline
from tipline.ads.parse import AdIn, BadLine, read_lines
from tipline.ads.shingles import Hasher, ShingleTable, shingle_set, shingles
from tipline.synth.ads import generate_ads, pairwise_scores

EXPLICIT = ("sex", "porn", "nude", "naked", "xxx", "escort", "minor", "child", "teen")


@pytest.fixture(scope="module")
def corpus():  # type: ignore[no-untyped-def]
    return generate_ads(seed=7, n_ads=3000)


def _fit(corpus, params: Params | None = None) -> Clusterer:  # type: ignore[no-untyped-def]
    sites = [a.payload["site"] for a in corpus.ads]
    texts = [a.payload["title"] + "\n" + a.payload["text"] for a in corpus.ads]
    return Clusterer(params or Params()).fit(sites, texts)


def test_corpus_is_deterministic_non_explicit_and_has_every_ingredient(corpus) -> None:  # type: ignore[no-untyped-def]
    again = generate_ads(seed=7, n_ads=3000)
    assert [a.payload for a in again.ads] == [a.payload for a in corpus.ads]
    text = " ".join(a.payload["text"].lower() for a in corpus.ads)
    for word in EXPLICIT:
        assert f" {word} " not in text, word
    assert {a.language for a in corpus.ads} == {"en", "it", "tl"}
    fams = corpus.families()
    assert len(fams) > 20 and all(len(v) >= 2 for v in fams.values())
    assert sum(a.family is None for a in corpus.ads) > 1500
    assert any(a.obscured for a in corpus.ads)
    for site in corpus.sites:  # every ad of a site carries one of its footers
        ads = [a for a in corpus.ads if a.payload["site"] == site.name]
        assert all(any(f in a.payload["text"] for f in site.footers) for a in ads)
    # one-offs reuse stock phrases
    assert sum(bool(a.planted) for a in corpus.ads if a.family is None) > 1000


def test_signatures_are_datasketch_minhash_value_for_value() -> None:
    h = Hasher(num_perm=64, bands=21, rows=3, seed=1)
    rng = np.random.default_rng(3)
    for size in (1, 5, 80):
        s = np.unique(rng.integers(0, 2**32, size=size, dtype=np.uint64)).astype(np.uint32)
        m = MinHash(num_perm=64, seed=1, hashfunc=lambda x: x)
        m.update_batch(s.tolist())
        assert np.array_equal(h.signature(s), m.hashvalues)


def test_batch_shingles_equal_per_text_shingles() -> None:
    texts = ["Hello there, I am Anna 25", "", "word", "Ciao! Sono Giulia, a Roma.", "a b a b a b"]
    table = ShingleTable.build(texts)
    for i, t in enumerate(texts):
        assert set(table.row(i).tolist()) == shingle_set(t) if t else len(table.row(i)) == 0
        assert np.array_equal(table.row(i), shingles(t))


def test_pairwise_precision_and_recall_against_the_generators_truth(corpus) -> None:  # type: ignore[no-untyped-def]
    cl = _fit(corpus)
    p, r = pairwise_scores(corpus.truth_labels(), [str(x) for x in cl.labels])
    print(f"\nads 3000: pairwise precision {p:.3f} recall {r:.3f}")
    assert p >= 0.9 and r >= 0.85


def test_the_baseline_without_learned_common_text_links_unrelated_ads(corpus) -> None:  # type: ignore[no-untyped-def]
    """What makes precision: with nothing learned as common (thresholds out of reach) and a weak
    verification, footers and stock phrases chain unrelated ads together."""
    naive = Params(global_share=2.0, site_share=2.0, verify=0.05, member_min=0.0, min_shingles=1)
    p, _ = pairwise_scores(corpus.truth_labels(), [str(x) for x in _fit(corpus, naive).labels])
    assert p < 0.5


def _random_text(rng: random.Random, n: int = 25) -> str:
    return " ".join(
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8))) for _ in range(n)
    )


def test_a_footer_shared_by_every_ad_links_nothing() -> None:
    rng = random.Random(1)
    footer = (
        "All advertisers confirm they are adults. Report abuse to support@example-ads.test or call "
        "555 0100. Example Ads is not responsible for the content of ads posted by its users."
    )
    texts = [_random_text(rng, 12) + "\n\n" + footer for _ in range(300)]
    cl = Clusterer().fit(["example-ads.test"] * 300, texts)
    assert cl.clusters() == {}
    # without the learned boilerplate the same ads are one cluster: the test can fail
    off = Clusterer(Params(site_share=2.0, global_share=2.0)).fit(["example-ads.test"] * 300, texts)
    assert max(len(v) for v in off.clusters().values()) > 250


def test_stock_phrases_alone_link_nothing() -> None:
    rng = random.Random(2)
    stock = [
        "New in town!",
        "Available 24/7.",
        "Call or text.",
        "Real photos.",
        "No rush.",
        "Just arrived.",
        "Come and see me.",
        "First time here.",
    ]
    texts = [" ".join(rng.sample(stock, 4)) + " " + _random_text(rng, 10) for _ in range(500)]
    sites = [rng.choice(["a.test", "b.test", "c.test"]) for _ in texts]
    assert Clusterer().fit(sites, texts).clusters() == {}


def test_incremental_add_gives_the_clusters_of_a_full_build(corpus) -> None:  # type: ignore[no-untyped-def]
    sites = [a.payload["site"] for a in corpus.ads]
    texts = [a.payload["title"] + "\n" + a.payload["text"] for a in corpus.ads]
    cut = 2000
    inc = Clusterer().fit(sites[:cut], texts[:cut])
    before = {k: list(v) for k, v in inc.clusters().items()}
    inc.add(sites[cut:], texts[cut:])
    full = Clusterer().fit(sites, texts, common=inc.common)  # same common text, everything at once
    assert inc.labels == full.labels
    # old clusters only grew (ids kept)
    after = inc.clusters()
    for k, v in before.items():
        assert set(v) <= set(after[k])
    p, r = pairwise_scores(corpus.truth_labels(), [str(x) for x in inc.labels])
    assert p >= 0.9 and r >= 0.8


def test_template_shows_shared_text_and_slot_values() -> None:
    texts = [
        "Hi! I am Anna, friendly lady in Roma. I like jazz and tea. Call 333 111.",
        "Hi! I am Bella, friendly lady in Milano. I like jazz and tea. Call 333 111.",
        "Hi! I am Anna, friendly lady in Napoli. I like jazz and tae. Call 333 111.",
        "Hi! I am Chloe, friendly lady in Roma. I like jazz and tea. Call 333 111.",
    ]
    t = tpl.build(texts)
    assert "I like jazz and tea." in t.text() and "friendly lady in" in t.text()
    values = [set(s.values) for s in t.slots]
    assert {"Anna,", "Bella,", "Chloe,"} in values
    assert {"Roma.", "Milano.", "Napoli."} in values


def test_cluster_summary_fields(corpus) -> None:  # type: ignore[no-untyped-def]
    recs = []
    for a in corpus.ads[:800]:
        x = AdIn.model_validate(a.payload)
        recs.append(AdRecord(x.site, x.ad_id, x.posted_at, x.city, x.country, x.title, x.text, tuple(a.phones)))
    out = clusters(recs)
    assert out
    c = out[0]
    for k in ("id", "size", "ad_ids", "template", "sites", "cities", "first_seen", "last_seen", "indicators"):
        assert k in c
    assert c["size"] == len(c["ad_ids"]) >= 2
    assert "{1}" in c["template"]
    json.dumps(out)
    # the site footer is not part of any template
    footers = [f for s in corpus.sites for f in s.footers]
    assert not any(f[:40] in str(c["template"]) for c in out for f in footers)


def test_indicator_grades_follow_the_research() -> None:
    hits = {
        h.indicator.id: h for h in ind.read_ad("New in town! Real photos. I am 21. Asian lady. References required.")
    }
    assert hits["movement_language"].indicator.grade == "not_evidence"
    assert hits["client_screening"].indicator.grade == "not_evidence"
    assert hits["stated_age_under_23"].indicator.grade == "not_evidence"
    assert hits["professional_presentation"].indicator.grade == "validated"
    assert hits["stated_ethnicity"].indicator.grade == "validated"
    assert all(h.indicator.sources for h in hits.values())
    it = {h.indicator.id for h in ind.read_ad("Appena arrivata! Giovanissima, ho 20 anni.")}
    assert {"movement_language", "youth_language", "stated_age_under_23"} <= it
    tl = {h.indicator.id for h in ind.read_ad("Bagong dating! Pinay, 100% totoo.")}
    assert {"movement_language", "stated_ethnicity", "professional_presentation"} <= tl
    ob = ind.read_ad("call me", obscured_phone="nine one seven")
    assert ob[0].indicator.id == "obscured_phone" and ob[0].indicator.grade == "validated"


def test_indicator_files_cover_every_language_and_grade() -> None:
    cat = ind.catalogue()
    grades = {i.grade for i in cat.indicators.values()}
    assert grades == set(ind.GRADES)
    for must in (
        "professional_presentation",
        "stated_ethnicity",
        "youth_language",
        "movement_language",
        "client_screening",
    ):
        assert sum(1 for i, _ in cat.phrases if i == must) == 3, must  # en, it, tl


def test_no_triage_rule_reads_ad_indicators() -> None:
    from importlib import resources

    rules = resources.files("tipline.triage").joinpath("default_rules.toml").read_text("utf-8")
    for i in ind.catalogue().indicators:
        assert i not in rules


def test_movement_timeline_in_posting_order() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    s = [
        Sighting(t0 + timedelta(days=d), c, "a.test") for d, c in [(0, "Roma"), (1, "Roma"), (5, "Milano"), (9, "Roma")]
    ]
    stops = timeline(reversed(s))
    assert [(x.city, x.ads) for x in stops] == [("Roma", 2), ("Milano", 1), ("Roma", 1)]


def test_bad_lines_are_reported_with_line_numbers_and_good_ones_kept() -> None:
    good = {
        "ad_id": "1",
        "posted_at": "2025-01-01T10:00:00Z",
        "site": "A.test",
        "city": "Roma",
        "country": "it",
        "title": "t",
        "text": "x",
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "ad_id": "2", "posted_at": "yesterday"}),
        "",
        json.dumps([1]),
        json.dumps({**good, "ad_id": "3"}),
    ]
    out = list(read_lines("\n".join(lines).encode(), "jsonl"))
    bad = [(n, r) for n, r in out if isinstance(r, BadLine)]
    ok = [r for _, r in out if isinstance(r, AdIn)]
    assert [n for n, _ in bad] == [2, 3, 5]
    assert "posted_at" in bad[1][1].error
    assert [a.ad_id for a in ok] == ["1", "3"] and ok[0].site == "a.test" and ok[0].country == "IT"
    csv_text = (
        "ad_id,posted_at,site,city,country,title,text\n1,2025-01-01T10:00:00Z,a.test,Roma,IT,t,x\n"
        "2,,a.test,Roma,IT,t,x\n3,2025-01-02,a.test,Roma,ITA,t,x\n4,2025-01-02,a.test,Roma,IT,t,x\n"
    )
    out = list(read_lines(csv_text.encode(), name="ads.csv"))
    assert [n for n, r in out if isinstance(r, BadLine)] == [3, 4]
    assert [r.ad_id for _, r in out if isinstance(r, AdIn)] == ["1", "4"]
    hdr = list(read_lines(b"id,when\n1,2\n", "csv"))
    assert isinstance(hdr[0][1], BadLine) and "ad_id" in hdr[0][1].error
