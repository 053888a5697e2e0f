"""Ad records in, cluster summaries out: the default engine (numpy in this process). :mod:`tipline.ads.spark`
computes the same clusters on Apache Spark; both finish with :func:`summaries`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from . import indicators as ind
from . import template as tpl
from .cluster import Clusterer, CommonText, Params
from .movement import Sighting, timeline
from .shingles import all_in


@dataclass
class AdRecord:
    site: str
    ad_id: str
    posted_at: datetime
    city: str
    country: str
    title: str
    text: str
    phones: tuple[str, ...] = ()  # E.164, from extraction when known
    obscured_phone: str | None = None  # the phone as written, when the extractor decoded a disguise
    pk: int | None = None  # the database row, when the record came from one
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def text_all(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


def order(records: Sequence[AdRecord]) -> list[AdRecord]:
    """Posting order (ties by site and id): cluster ids and template references follow it."""
    return sorted(records, key=lambda r: (r.posted_at, r.site, r.ad_id))


class Boilerplate:
    """Is a sentence nothing but a site's learned boilerplate? (Memoised: footers repeat word for word.)"""

    def __init__(self, common: CommonText) -> None:
        self.common = common
        self.memo: dict[tuple[str, str], bool] = {}
        self.sets: dict[str, set[int]] = {}

    def test(self, site: str) -> Callable[[str], bool]:
        sc = self.sets.get(site)
        if sc is None:
            arr = self.common.site_common.get(site)
            sc = self.sets[site] = set(arr.tolist()) if arr is not None else set()

        def is_boilerplate(sentence: str) -> bool:
            key = (site, sentence)
            hit = self.memo.get(key)
            if hit is None:
                hit = self.memo[key] = bool(sc) and all_in(sentence, sc)
            return hit

        return is_boilerplate


def summary(cid: int, members: Sequence[AdRecord], common: CommonText | Boilerplate) -> dict[str, object]:
    """One cluster as ``tipline ads clusters --json`` prints it."""
    bp = common if isinstance(common, Boilerplate) else Boilerplate(common)
    is_bp = bp.test(members[0].site)
    t = tpl.build([m.text_all for m in members], is_bp)
    phone_cities: dict[str, set[str]] = {}
    for m in members:
        for p in m.phones:
            phone_cities.setdefault(p, set()).add(m.city)
    hits = [ind.read_ad(m.text_all, obscured_phone=m.obscured_phone) for m in members]
    return {
        "id": cid,
        "size": len(members),
        "ad_ids": [m.ad_id for m in members],
        "keys": [[m.site, m.ad_id] for m in members],
        "template": t.text(),
        "slots": [{"slot": s.index, "values": dict(s.top(20))} for s in t.slots],
        "sites": sorted({m.site for m in members}),
        "cities": list(dict.fromkeys(m.city for m in members if m.city)),
        "first_seen": members[0].posted_at.isoformat(),
        "last_seen": max(m.posted_at for m in members).isoformat(),
        "indicators": ind.for_cluster(hits, len(members), phone_cities),
        "movement": [s.to_dict() for s in timeline(Sighting(m.posted_at, m.city, m.site, m.country) for m in members)],
    }


def summaries(records: Sequence[AdRecord], labels: Sequence[int], common: CommonText) -> list[dict[str, object]]:
    """Summaries of the clusters of 2+ ads; ``records`` in posting order, ``labels[i]`` the smallest
    member index of ad ``i``'s cluster. Cluster ids number the clusters by their first ad."""
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    out = []
    bp = Boilerplate(common)
    for n, lab in enumerate(sorted(k for k, v in groups.items() if len(v) >= 2), 1):
        out.append(summary(n, [records[i] for i in groups[lab]], bp))
    return out


def cluster_records(records: Sequence[AdRecord], params: Params | None = None) -> tuple[list[AdRecord], Clusterer]:
    """Cluster ``records`` on this machine; returns them in posting order and the fitted clusterer."""
    recs = order(records)
    cl = Clusterer(params or Params()).fit([r.site for r in recs], [r.text_all for r in recs])
    return recs, cl


def clusters(records: Sequence[AdRecord], params: Params | None = None) -> list[dict[str, object]]:
    recs, cl = cluster_records(records, params)
    assert cl.common is not None
    return summaries(recs, cl.labels, cl.common)
