"""``--engine spark`` gives the default engine's clusters (Spark local, one session for the run)."""

from __future__ import annotations

import pytest

from tipline.ads import spark as ads_spark
from tipline.ads.engine import AdRecord, cluster_records, summaries
from tipline.ads.parse import AdIn
from tipline.synth.ads import generate_ads, pairwise_scores

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]  # pyspark and pandas 3


def test_spark_and_the_default_engine_agree(spark: object) -> None:
    corpus = generate_ads(seed=21, n_ads=900)
    recs = []
    for a in corpus.ads:
        x = AdIn.model_validate(a.payload)
        recs.append(AdRecord(x.site, x.ad_id, x.posted_at, x.city, x.country, x.title, x.text))
    ordered, cl = cluster_records(recs)
    s_ordered, s_labels, s_common = ads_spark.cluster_records(spark, recs)
    assert [(r.site, r.ad_id) for r in s_ordered] == [(r.site, r.ad_id) for r in ordered]
    assert s_labels == cl.labels
    assert cl.common is not None
    assert set(s_common.global_common.tolist()) == set(cl.common.global_common.tolist())
    assert len({lab for lab in s_labels if s_labels.count(lab) > 1}) > 10  # there are clusters to agree on
    assert summaries(s_ordered, s_labels, s_common) == summaries(ordered, cl.labels, cl.common)
    truth = dict(zip(((a.payload["site"], a.payload["ad_id"]) for a in corpus.ads), corpus.truth_labels(), strict=True))
    p, r = pairwise_scores([truth[(x.site, x.ad_id)] for x in s_ordered], [str(x) for x in s_labels])
    print(f"\nspark, 900 ads: pairwise precision {p:.3f} recall {r:.3f}")
