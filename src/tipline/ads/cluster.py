"""Template clustering of ads: which ads one poster wrote from one template.

The pipeline (both engines, :mod:`tipline.ads.spark` runs the same steps on Spark):

1. **Shingles** of each ad's title and text (:mod:`tipline.ads.shingles`).
2. **Common text, learned** from the corpus, never listed by hand: a shingle in at least ``site_share`` of
   one site's ads (and ``site_min`` ads) is that site's boilerplate (footers, disclaimers); a shingle in at
   least ``global_share`` of all ads (and ``global_min`` ads) is a stock phrase ("new in town", "24/7") or
   grammar every poster writes. Both are removed; what is left is each ad's *residual*.
3. **Candidates** from MinHash LSH over the residuals: ads that share one of ``bands`` band keys.
4. **Verification**: a candidate pair is an edge only when the exact Jaccard similarity of the two
   residuals is at least ``verify``. Components of the edges are the raw clusters.
5. **Template check**: in a raw cluster, the *core* is the residual text at least ``core_share`` of the
   members carry; a member whose residual is less than ``member_min`` core leaves the cluster (it was
   chained in through text that is not the cluster's template). Those members are checked again among
   themselves once; what still fails stands alone.

Ads whose residual has fewer than ``min_shingles`` shingles (an ad that is nothing but stock phrases and a
footer) join no cluster: text everyone writes links nothing.

A cluster's id is the smallest index (in the order the ads were given) among its members, so merging two
clusters keeps the older id, and :meth:`Clusterer.add` extends clusters without recomputing the others.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .shingles import Hasher, ShingleTable, sorted_unique


@dataclass(frozen=True)
class Params:
    num_perm: int = 64
    bands: int = 21
    rows: int = 3
    seed: int = 1
    verify: float = 0.3
    core_share: float = 0.5
    member_min: float = 0.3
    min_shingles: int = 4
    site_share: float = 0.3
    site_min: int = 20
    global_share: float = 0.01
    global_min: int = 50


@dataclass
class CommonText:
    """Shingles learned to be boilerplate of a site or common to all posters."""

    global_common: np.ndarray  # sorted uint32
    site_common: dict[str, np.ndarray]  # sorted uint32 per site
    n_ads: int = 0

    def residual(self, site: str, s: np.ndarray) -> np.ndarray:
        r = np.setdiff1d(s, self.global_common, assume_unique=True)
        sc = self.site_common.get(site)
        if sc is not None and len(sc):
            r = np.setdiff1d(r, sc, assume_unique=True)
        return r

    def residual_table(self, sites: Sequence[str], table: ShingleTable) -> ShingleTable:
        names = sorted(self.site_common)
        idx = {s: i for i, s in enumerate(names)}
        unknown = len(names)
        per_row = np.fromiter((idx.get(s, unknown) for s in sites), dtype=np.uint64, count=len(sites))
        site_keys = np.concatenate(
            [(np.uint64(i) << np.uint64(32)) | self.site_common[n].astype(np.uint64) for i, n in enumerate(names)]
            or [np.empty(0, np.uint64)]
        )
        vals = table.values.astype(np.uint64)
        keyed = (per_row[table.row_ids()] << np.uint64(32)) | vals
        drop = _member(table.values, self.global_common) | _member(keyed, np.sort(site_keys))
        return table.without(drop)

    @classmethod
    def learn(cls, sites: Sequence[str], table: ShingleTable, p: Params) -> CommonText:
        n = len(table)
        if not n:
            return cls(np.empty(0, np.uint32), {}, 0)
        flat = table.values.astype(np.uint64)
        uniq, df = sorted_unique(flat, counts=True)
        assert df is not None
        g_thr = max(p.global_min, math.ceil(p.global_share * n))
        global_common = uniq[df >= g_thr].astype(np.uint32)
        site_names = sorted(set(sites))
        site_idx = {s: i for i, s in enumerate(site_names)}
        per_ad_site = np.fromiter((site_idx[s] for s in sites), dtype=np.uint64, count=n)
        site_n = np.bincount(per_ad_site.astype(np.int64), minlength=len(site_names))
        keyed = (per_ad_site[table.row_ids()] << np.uint64(32)) | flat
        ukeys, kdf = sorted_unique(keyed, counts=True)
        assert kdf is not None
        sidx = (ukeys >> np.uint64(32)).astype(np.int64)
        thr = np.maximum(p.site_min, np.ceil(p.site_share * site_n[sidx]))
        hit = ukeys[kdf >= thr]
        site_common: dict[str, np.ndarray] = {}
        for i, name in enumerate(site_names):
            sel = hit[(hit >> np.uint64(32)) == np.uint64(i)]
            site_common[name] = np.sort((sel & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        return cls(global_common, site_common, n)


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin`` for a small sorted set: binary search instead of sorting both arrays together."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[pos] == values)


class UnionFind:
    """Union-find over 0..n-1 (path halving); the root is always the smallest index of its set."""

    def __init__(self, n: int = 0) -> None:
        self.parent = list(range(n))

    def grow(self, n: int) -> None:
        self.parent.extend(range(len(self.parent), n))

    def find(self, x: int) -> int:
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        lo, hi = (ra, rb) if ra < rb else (rb, ra)
        self.parent[hi] = lo
        return lo


def band_groups(keys: np.ndarray, eligible: np.ndarray) -> Iterator[np.ndarray]:
    """For each band, the groups (index arrays, size >= 2) of eligible ads with one band key."""
    idx = np.flatnonzero(eligible)
    if len(idx) < 2:
        return
    for j in range(keys.shape[1]):
        col = keys[idx, j]
        order = np.argsort(col)  # members are sorted by index later: ties may come in any order
        sc = col[order]
        cut = np.flatnonzero(sc[1:] != sc[:-1]) + 1
        bounds = np.concatenate(([0], cut, [len(sc)]))
        sizes = np.diff(bounds)
        members = idx[order]
        for g in np.flatnonzero(sizes >= 2).tolist():
            yield members[bounds[g] : bounds[g + 1]]


def verified_union(uf: UnionFind, groups: Iterator[np.ndarray], res: Sequence[np.ndarray], thr: float) -> int:
    """Union every candidate pair whose residual Jaccard is >= ``thr``; pairs already joined are not
    verified again (the components do not change). Returns the number of verifications."""
    cache: dict[int, frozenset[int]] = {}

    def as_set(i: int) -> frozenset[int]:
        s = cache.get(i)
        if s is None:
            s = cache[i] = frozenset(res[i].tolist())
        return s

    checks = 0
    for g in groups:
        members = sorted(g.tolist())
        for x_i, x in enumerate(members):
            for y in members[x_i + 1 :]:
                if uf.find(x) == uf.find(y):
                    continue
                sx, sy = as_set(x), as_set(y)
                inter = len(sx & sy)
                checks += 1
                if inter and inter / (len(sx) + len(sy) - inter) >= thr:
                    uf.union(x, y)
    return checks


def template_check(
    members: list[int], res: Mapping[int, np.ndarray] | Sequence[np.ndarray], p: Params
) -> tuple[list[int], list[int]]:
    """(kept, ejected): members whose residual is at least ``member_min`` core text stay."""
    if len(members) < 2:
        return members, []
    counts: Counter[int] = Counter()
    for m in members:
        counts.update(res[m].tolist())
    need = max(2, math.ceil(p.core_share * len(members)))
    core = {h for h, c in counts.items() if c >= need}
    kept: list[int] = []
    out: list[int] = []
    for m in members:
        r = res[m]
        share = sum(1 for h in r.tolist() if h in core) / len(r) if len(r) else 0.0
        (kept if share >= p.member_min else out).append(m)
    if len(kept) < 2:
        return [], members
    return kept, out


def sub_components(
    members: list[int],
    keys: Mapping[int, np.ndarray] | np.ndarray,
    res: Mapping[int, np.ndarray] | Sequence[np.ndarray],
    p: Params,
) -> dict[int, list[int]]:
    """Components among ``members`` alone, through the same candidate and verification steps."""
    local = sorted(members)
    sub_keys = np.stack([keys[i] for i in local])
    uf = UnionFind(len(local))
    sub_res = [res[i] for i in local]
    verified_union(uf, band_groups(sub_keys, np.ones(len(local), dtype=bool)), sub_res, p.verify)
    out: dict[int, list[int]] = {}
    for j in range(len(local)):
        out.setdefault(local[uf.find(j)], []).append(local[j])
    return out


def components(uf: UnionFind, n: int) -> dict[int, list[int]]:
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(uf.find(i), []).append(i)
    return comps


def checked_labels(
    comps: dict[int, list[int]],
    edges_uf_rebuild: Callable[[list[int]], dict[int, list[int]]],
    res: Mapping[int, np.ndarray] | Sequence[np.ndarray],
    p: Params,
) -> dict[int, int]:
    """Label of each ad in the given components after the template check (label = smallest member)."""
    labels: dict[int, int] = {}
    for members in comps.values():
        kept, out = template_check(members, res, p)
        for m in kept:
            labels[m] = kept[0]
        if len(out) >= 2:
            # once more among the members that left: two templates chained together come apart here
            sub = edges_uf_rebuild(out)
            for sub_members in sub.values():
                k2, o2 = template_check(sub_members, res, p)
                for m in k2:
                    labels[m] = k2[0]
                for m in o2:
                    labels[m] = m
        else:
            for m in out:
                labels[m] = m
    return labels


@dataclass
class Clusterer:
    """In-memory template clustering with incremental :meth:`add`.

    ``sites``, ``texts``: one per ad, in a fixed order; ``labels[i]`` is ad ``i``'s cluster id (the
    smallest member index; a lone ad is its own cluster).
    """

    params: Params = field(default_factory=Params)
    sites: list[str] = field(default_factory=list)
    residuals: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    common: CommonText | None = None
    keys: np.ndarray | None = None
    eligible: np.ndarray | None = None
    stats: dict[str, float] = field(default_factory=dict)
    _uf: UnionFind = field(default_factory=UnionFind)
    _buckets: list[dict[int, list[int]]] | None = None

    def __post_init__(self) -> None:
        self.hasher = Hasher(self.params.num_perm, self.params.bands, self.params.rows, self.params.seed)

    # ------------------------------------------------------------------------------------ full build
    def fit(self, sites: Sequence[str], texts: Sequence[str], common: CommonText | None = None) -> Clusterer:
        """Cluster every ad from scratch; learns the common text unless ``common`` is given."""
        p = self.params
        table = ShingleTable.build(texts)
        self.common = common or CommonText.learn(sites, table, p)
        self.sites = list(sites)
        res = self.common.residual_table(sites, table)
        self.residuals = res.rows()
        n = len(self.residuals)
        self.eligible = res.lengths() >= p.min_shingles
        sigs = self.hasher.signatures(res)
        self.keys = self.hasher.band_keys(sigs)
        self._uf = UnionFind(n)
        checks = verified_union(self._uf, band_groups(self.keys, self.eligible), self.residuals, p.verify)
        self.stats = {"verifications": checks}
        self._buckets = None
        labels = checked_labels(components(self._uf, n), self._sub_components, self.residuals, p)
        self.labels = [labels[i] for i in range(n)]
        return self

    def _sub_components(self, members: list[int]) -> dict[int, list[int]]:
        assert self.keys is not None
        return sub_components(members, self.keys, self.residuals, self.params)

    # ------------------------------------------------------------------------------------ incremental
    def _index(self) -> list[dict[int, list[int]]]:
        if self._buckets is None:
            assert self.keys is not None and self.eligible is not None
            self._buckets = [{} for _ in range(self.params.bands)]
            for i in np.flatnonzero(self.eligible).tolist():
                for j, k in enumerate(self.keys[i].tolist()):
                    self._buckets[j].setdefault(k, []).append(i)
        return self._buckets

    def add(self, sites: Sequence[str], texts: Sequence[str]) -> list[int]:
        """Add ads: each joins the clusters its verified candidates are in (merging them if several), with
        the common text learned at the last :meth:`fit`. Only the touched clusters are checked again.
        Returns the indices of the clusters that changed."""
        if self.common is None or self.keys is None or self.eligible is None:
            self.fit(sites, texts)
            return sorted(set(self.labels))
        p = self.params
        start = len(self.residuals)
        res = self.common.residual_table(sites, ShingleTable.build(texts))
        new_res = res.rows()
        sigs = self.hasher.signatures(res)
        new_keys = self.hasher.band_keys(sigs)
        self.sites += list(sites)
        self.residuals += new_res
        self.keys = np.vstack([self.keys, new_keys])
        new_elig = np.fromiter((len(r) >= p.min_shingles for r in new_res), dtype=bool, count=len(new_res))
        self.eligible = np.concatenate([self.eligible, new_elig])
        self._uf.grow(len(self.residuals))
        self.labels += list(range(start, len(self.residuals)))
        buckets = self._index()
        touched: set[int] = set()
        for off in range(len(new_res)):
            i = start + off
            if not new_elig[off]:
                continue
            cands: set[int] = set()
            for j, k in enumerate(new_keys[off].tolist()):
                b = buckets[j].setdefault(k, [])
                cands.update(b)
                b.append(i)
            for c in sorted(cands):
                group = np.asarray([c, i])
                verified_union(self._uf, iter([group]), self.residuals, p.verify)
            touched.add(self._uf.find(i))
        # re-check the touched components: every ad whose raw component root was touched
        comps: dict[int, list[int]] = {}
        for i in range(len(self.residuals)):
            r = self._uf.find(i)
            if r in touched:
                comps.setdefault(r, []).append(i)
        labels = checked_labels(comps, self._sub_components, self.residuals, p)
        for i, lab in labels.items():
            self.labels[i] = lab
        return sorted({labels[i] for i in labels})

    def clusters(self, min_size: int = 2) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, lab in enumerate(self.labels):
            out.setdefault(lab, []).append(i)
        return {k: v for k, v in out.items() if len(v) >= min_size}
