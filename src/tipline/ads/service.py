"""Ads as evidence: import (idempotent on site and ad id), cluster (incrementally, or a full rebuild on
either engine), search, cluster views, ads that share identifiers with a report, a case from a cluster.

Each ad is an evidence item (``tipline.evidence``): its title and text are sealed there, its identifiers
extracted with the same extractors as reports, its mentions join the entity graph (so an ad and a report
that share a phone are in one network). The site's own boilerplate (footers, disclaimers) is learned from
the ads; the identifiers in it (the site's support phone and address) go on the graph's warning list, so
they link nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.crypto import keyring_for
from tipline.errors import NotFound
from tipline.evidence.models import EvidenceItem, EvidenceMention
from tipline.evidence.service import EvidenceIn, add_item, refresh_evidence_counts
from tipline.extract import extract
from tipline.graph import cases
from tipline.graph import network as net
from tipline.graph.guard import GuardError
from tipline.graph.models import CorrelationExclusion
from tipline.graph.service import add_exclusion, guard_for
from tipline.media import links
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Entity, Mention

from . import engine as eng
from . import images
from . import template as tpl
from .cluster import CommonText, Params, checked_labels, sub_components
from .models import Ad, AdBand, AdCluster, AdCommonText
from .parse import AdIn, BadLine
from .shingles import Hasher, ShingleTable, from_bytes, to_bytes, tokens

SOURCE_PREFIX = "ads:"
_PARAMS = Params()


def _who(actor: Principal | str) -> str:
    return actor.label if isinstance(actor, Principal) else actor


# ------------------------------------------------------------------------------------------ import


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    bad: list[BadLine] = field(default_factory=list)
    clusters_changed: int = 0
    warned: list[str] = field(default_factory=list)  # identifiers of learned boilerplate put on the warning list

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "bad": [{"line": b.line, "error": b.error} for b in self.bad],
            "clusters_changed": self.clusters_changed,
            "warning_list_added": self.warned,
        }


def _common(s: Session) -> CommonText | None:
    rows = s.execute(select(AdCommonText.site, AdCommonText.shingle)).all()
    if not rows:
        return None
    glob = [h for site, h in rows if site == ""]
    per: dict[str, list[int]] = {}
    for site, h in rows:
        if site:
            per.setdefault(site, []).append(h)
    return CommonText(
        np.sort(np.asarray(glob, dtype=np.uint32)),
        {k: np.sort(np.asarray(v, dtype=np.uint32)) for k, v in per.items()},
    )


def _merge_common(stored: CommonText | None, learned: CommonText) -> CommonText:
    """Site boilerplate learned from a batch adds to what the last rebuild learned; stock phrases stay
    the rebuild's (a batch is too small to say what every poster writes)."""
    if stored is None:
        return CommonText(np.empty(0, np.uint32), learned.site_common)
    sites = dict(stored.site_common)
    for site, arr in learned.site_common.items():
        sites[site] = np.union1d(sites.get(site, np.empty(0, np.uint32)), arr).astype(np.uint32)
    return CommonText(stored.global_common, sites, stored.n_ads)


def boilerplate_blocks(text: str, is_boilerplate: Callable[[str], bool]) -> list[str]:
    """The runs of consecutive sentences of ``text`` that are all site boilerplate (a footer), whole: an
    address cut by a sentence break ("help@site." / "com") is read in one piece."""
    blocks: list[str] = []
    start: int | None = None
    end = 0
    for m in tpl._SENTENCE.finditer(text):
        if is_boilerplate(m.group()):
            start = m.start() if start is None else start
            end = m.end()
        elif start is not None:
            blocks.append(text[start:end])
            start = None
    if start is not None:
        blocks.append(text[start:end])
    return blocks


def _boilerplate_identifiers(ads: Sequence[AdIn], common: CommonText) -> set[tuple[str, str]]:
    """Identifiers written in a site's boilerplate (a footer's support phone and address)."""
    bp = eng.Boilerplate(common)
    out: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()
    for ad in ads:
        for block in boilerplate_blocks(ad.text, bp.test(ad.site)):
            if (ad.site, block) not in seen:
                seen.add((ad.site, block))
                out.update((f.kind, f.value) for f in extract(block, country=ad.country or None))
    return out


def _warn(db: Database, idents: set[tuple[str, str]], actor: Principal | str) -> list[str]:
    with db.reader() as s:
        listed = {(k, v) for k, v in s.execute(select(CorrelationExclusion.kind, CorrelationExclusion.value))}
    added = []
    for kind, value in sorted(idents - listed):
        try:
            add_exclusion(db, kind, value=value, reason="ads: a site's own boilerplate (footer) names it", actor=actor)
            added.append(f"{kind}:{value}")
        except GuardError:  # already listed under another spelling
            pass
    return added


def _words(ring: Any, text: str) -> str:
    return " ".join(sorted({ring.blind(w)[:12] for w in set(tokens(text)) if len(w) > 1}))


def _obscured(text: str, country: str | None) -> tuple[list[str], str | None]:
    phones, obscured = [], None
    for f in extract(text, country=country):
        if f.kind in ("phone", "whatsapp") and f.value not in phones:
            phones.append(f.value)
            if f.disguise and obscured is None:
                obscured = f.raw
    return phones, obscured


def import_ads(
    db: Database,
    lines: Iterable[tuple[int, AdIn | BadLine]],
    *,
    source: str,
    actor: Principal | str,
    progress: Callable[[int], None] | None = None,
    files_from: Path | None = None,
) -> ImportResult:
    """Store every good ad (added, or updated when its site already has its id), report every bad line,
    then let the new ads join clusters. ``progress(n)`` is called after each ad. ``files_from``: the
    folder the ads' image file paths are read from (None: only PDQ hashes are taken)."""
    res = ImportResult()
    numbered: list[tuple[int, AdIn]] = []
    for n, item in lines:
        if isinstance(item, BadLine):
            res.bad.append(item)
        else:
            numbered.append((n, item))
    good, bad_pictures = images.read_pictures(numbered, db.settings, files_from)
    res.bad = sorted(res.bad + bad_pictures, key=lambda b: b.line)
    ads = [ad for _n, ad, _p in good]
    if not ads:
        return res
    reps = images.representatives(db, [p for _n, _a, pics in good for p in pics])
    with db.reader() as s:
        stored = _common(s)
    texts = [a.text_all() for a in ads]
    learned = CommonText.learn([a.site for a in ads], ShingleTable.build(texts), _PARAMS)
    common = _merge_common(stored, learned)
    res.warned = _warn(db, _boilerplate_identifiers(ads, common), actor)
    residuals = common.residual_table([a.site for a in ads], ShingleTable.build(texts))
    hasher = Hasher(_PARAMS.num_perm, _PARAMS.bands, _PARAMS.rows, _PARAMS.seed)
    keys = hasher.band_keys(hasher.signatures(residuals))
    touched: list[int] = []
    for i, ad in enumerate(ads):
        pics = good[i][2]
        pk, new = _store_one(db, ad, source, actor, residuals.row(i), keys[i], (pics, reps))
        res.added += new
        res.updated += not new
        touched.append(pk)
        if progress:
            progress(i + 1)
    res.clusters_changed = join_clusters(db, touched)
    return res


def _store_one(
    db: Database,
    ad: AdIn,
    source: str,
    actor: Principal | str,
    residual: np.ndarray,
    keys: np.ndarray,
    pictures: tuple[list[images.Picture], dict[str, str]],
) -> tuple[int, bool]:
    text = ad.text_all()
    country = ad.country or None
    # the ad's own URL and site stay on the ad row (the site is in the evidence item's source too), not in the
    # details the extractor reads: every ad of a site would otherwise name the site's domain and link to
    # every other one
    details: dict[str, str | int | float | bool | None] = {"city": ad.city, "country": ad.country}
    ev = EvidenceIn(
        kind="ad",
        source=SOURCE_PREFIX + ad.site,
        external_id=ad.ad_id,
        occurred_at=ad.posted_at,
        text=text,
        details=details,
        country=country,
    )
    pics, reps = pictures
    found = images.identifiers(pics, reps, db.settings)
    evidence_id = add_item(db, ev, actor, identifiers=found)
    phones, obscured = _obscured(text, country)
    with db.session() as s:
        ring = keyring_for(s.get_bind().dialect)
        row = s.scalar(select(Ad).where(Ad.site == ad.site, Ad.ad_id == ad.ad_id))
        new = row is None
        if row is None:
            rank = (s.scalar(select(func.max(Ad.rank))) or 0) + 1
            row = Ad(site=ad.site, ad_id=ad.ad_id, evidence_id=evidence_id, source=source, rank=rank)
            s.add(row)
        row.posted_at, row.city, row.country, row.url = ad.posted_at, ad.city, ad.country, ad.url
        linked = {where for _k, _v, where in found}
        row.images = [p.stored(f"images[{i}]" in linked) for i, p in enumerate(pics)]
        row.phones, row.obscured_phone = phones, obscured
        row.residual = to_bytes(residual)
        row.words = _words(ring, text)
        s.flush()
        s.execute(delete(AdBand).where(AdBand.ad_pk == row.id))
        if len(residual) >= _PARAMS.min_shingles:
            s.add_all(AdBand(ad_pk=row.id, band=j, key=int(k)) for j, k in enumerate(keys.tolist()))
        record(s, actor, "ads.import", "ad", row.id, site=ad.site, new=new)
        return row.id, new


# ------------------------------------------------------------------------------------------ clustering


def _candidates(s: Session, pks: list[int]) -> set[int]:
    out: set[int] = set(pks)
    mine = s.execute(select(AdBand.band, AdBand.key).where(AdBand.ad_pk.in_(pks))).all()
    for lo in range(0, len(mine), 200):
        part = mine[lo : lo + 200]
        conds = [(AdBand.band == b) & (AdBand.key == k) for b, k in part]
        out.update(s.scalars(select(AdBand.ad_pk).where(or_(*conds))))
    return out


def join_clusters(db: Database, pks: list[int]) -> int:
    """New or changed ads join the clusters of their verified candidates (merging clusters they bridge);
    only those clusters are checked again and summarised. Returns how many clusters changed."""
    if not pks:
        return 0
    with db.session() as s:
        cands = _candidates(s, pks)
        cids = set(s.scalars(select(Ad.cluster_id).where(Ad.id.in_(cands), Ad.cluster_id.is_not(None))))
        if cids:
            cands |= set(s.scalars(select(Ad.id).where(Ad.cluster_id.in_(cids))))
        rows = s.execute(select(Ad.id, Ad.rank, Ad.residual, Ad.cluster_id).where(Ad.id.in_(cands))).all()
        order = sorted(rows, key=lambda r: (r.rank, r.id))
        local = {r.id: i for i, r in enumerate(order)}
        res = [from_bytes(r.residual) for r in order]
        band_rows = s.execute(select(AdBand.ad_pk, AdBand.band, AdBand.key).where(AdBand.ad_pk.in_(cands))).all()
        keys = np.zeros((len(order), _PARAMS.bands), dtype=np.int64)
        has = np.zeros(len(order), dtype=bool)
        for pk, band, key in band_rows:
            keys[local[pk], band] = key
            has[local[pk]] = True
        members = [i for i in range(len(order)) if has[i]]
        groups = sub_components(members, keys, res, _PARAMS) if members else {}
        labels = checked_labels(groups, lambda m: sub_components(m, keys, res, _PARAMS), res, _PARAMS)
        by_label: dict[int, list[int]] = {}
        for i, lab in labels.items():
            by_label.setdefault(lab, []).append(i)
        old = {r.id: r.cluster_id for r in order}
        changed = _assign(s, [[order[i].id for i in sorted(v)] for v in by_label.values() if len(v) >= 2], old)
        lone = [order[i].id for lab, v in by_label.items() for i in v if len(v) < 2]
        lone += [r.id for r in order if not has[local[r.id]]]
        if lone:
            s.execute(update(Ad).where(Ad.id.in_(lone)).values(cluster_id=None))
        s.flush()
        for cid in changed:
            _summarise(s, cid)
        _drop_empty(s)
        return len(changed)


def _assign(s: Session, groups: list[list[int]], old: dict[int, int | None]) -> set[int]:
    """Give each group a cluster: the oldest (smallest) existing cluster among its ads that no other group
    took (a cluster that split keeps its id for one part), else a new one."""
    changed: set[int] = set()
    used: set[int] = set()
    now = datetime.now(UTC)
    for g in sorted(groups):
        prev = sorted({c for pk in g if (c := old.get(pk)) is not None and c not in used})
        if prev:
            cid = prev[0]
        else:
            row = AdCluster(size=len(g), first_seen=now, last_seen=now, summary={})
            s.add(row)
            s.flush()
            cid = row.id
        used.add(cid)
        if len(prev) > 1 or any(old.get(pk) != cid for pk in g):
            changed.add(cid)
        s.execute(update(Ad).where(Ad.id.in_(g)).values(cluster_id=cid))
    return changed


def _drop_empty(s: Session) -> None:
    used = select(Ad.cluster_id).where(Ad.cluster_id.is_not(None)).distinct()
    s.execute(delete(AdCluster).where(AdCluster.id.not_in(used)))


def _records(s: Session, where: Any) -> list[eng.AdRecord]:
    q = (
        select(Ad, EvidenceItem.id, EvidenceItem.text)
        .join(EvidenceItem, EvidenceItem.id == Ad.evidence_id)
        .where(where)
        .order_by(Ad.rank, Ad.id)
    )
    out = []
    for ad, _eid, text in s.execute(q):
        title, _, body = (text or "").partition("\n")
        out.append(
            eng.AdRecord(
                ad.site,
                ad.ad_id,
                ad.posted_at,
                ad.city,
                ad.country,
                title,
                body,
                tuple(ad.phones),
                ad.obscured_phone,
                pk=ad.id,
            )
        )
    return out


def _summarise(s: Session, cid: int) -> None:
    members = _records(s, Ad.cluster_id == cid)
    if len(members) < 2:
        return
    members.sort(key=lambda r: (r.posted_at, r.site, r.ad_id))
    common = _common(s) or CommonText(np.empty(0, np.uint32), {})
    summary = eng.summary(cid, members, common)
    row = s.get(AdCluster, cid)
    assert row is not None
    row.size = len(members)
    row.first_seen, row.last_seen = members[0].posted_at, max(m.posted_at for m in members)
    row.summary = summary
    row.updated_at = datetime.now(UTC)


def all_records(db: Database) -> list[eng.AdRecord]:
    with db.reader() as s:
        return _records(s, Ad.id.is_not(None))


def compute_clusters(db: Database, *, engine: str = "local", spark: Any = None) -> list[dict[str, object]]:
    """Cluster every stored ad from scratch on ``engine`` (``local`` or ``spark``) without storing anything."""
    recs = all_records(db)
    if engine == "spark":
        from . import spark as ads_spark

        session = spark or ads_spark.session(db.settings.spark_master)
        ordered, labels, common = ads_spark.cluster_records(session, recs)
        return eng.summaries(ordered, labels, common)
    if engine != "local":
        raise ValueError(f"unknown engine {engine!r}: use local or spark")
    ordered, cl = eng.cluster_records(recs)
    assert cl.common is not None
    return eng.summaries(ordered, cl.labels, cl.common)


def rebuild(db: Database, *, engine: str = "local", spark: Any = None) -> dict[str, int]:
    """Cluster every ad from scratch (learning the common text again) and store the result."""
    recs = all_records(db)
    if engine == "spark":
        from . import spark as ads_spark

        session = spark or ads_spark.session(db.settings.spark_master)
        ordered, labels, common = ads_spark.cluster_records(session, recs)
    elif engine == "local":
        ordered, cl = eng.cluster_records(recs)
        labels = cl.labels
        assert cl.common is not None
        common = cl.common
    else:
        raise ValueError(f"unknown engine {engine!r}: use local or spark")
    residuals = common.residual_table([r.site for r in ordered], ShingleTable.build([r.text_all for r in ordered]))
    hasher = Hasher(_PARAMS.num_perm, _PARAMS.bands, _PARAMS.rows, _PARAMS.seed)
    keys = hasher.band_keys(hasher.signatures(residuals))
    summaries = eng.summaries(ordered, labels, common)
    with db.session() as s:
        s.execute(update(Ad).values(cluster_id=None))
        s.execute(delete(AdCluster))
        s.execute(delete(AdBand))
        s.execute(delete(AdCommonText))
        s.add_all(AdCommonText(site="", shingle=int(h)) for h in common.global_common.tolist())
        for site, arr in common.site_common.items():
            s.add_all(AdCommonText(site=site, shingle=int(h)) for h in arr.tolist())
        pk_of = {(r.site, r.ad_id): r.pk for r in ordered}
        cluster_of: dict[int, int] = {}
        for summ in summaries:
            row = AdCluster(
                size=summ["size"], first_seen=ordered[0].posted_at, last_seen=ordered[0].posted_at, summary={}
            )
            s.add(row)
            s.flush()
            row.first_seen = datetime.fromisoformat(str(summ["first_seen"]))
            row.last_seen = datetime.fromisoformat(str(summ["last_seen"]))
            row.summary = {**summ, "id": row.id}
            for site, ad_id in summ["keys"]:  # type: ignore[attr-defined]
                pk = pk_of[(site, ad_id)]
                assert pk is not None
                cluster_of[pk] = row.id
        rows = []
        bands = []
        for i, r in enumerate(ordered):
            res = residuals.row(i)
            rows.append({"id": r.pk, "rank": i + 1, "residual": to_bytes(res), "cluster_id": cluster_of.get(r.pk or 0)})
            if len(res) >= _PARAMS.min_shingles:
                bands += [{"ad_pk": r.pk, "band": j, "key": int(k)} for j, k in enumerate(keys[i].tolist())]
        if rows:
            s.execute(update(Ad), rows)
        if bands:
            s.execute(insert(AdBand), bands)
        record(s, "system", "ads.rebuild", "ads", None, ads=len(ordered), clusters=len(summaries), engine=engine)
    return {"ads": len(ordered), "clusters": len(summaries)}


# ------------------------------------------------------------------------------------------ reading


def stored_clusters(db: Database, *, limit: int | None = None) -> list[dict[str, Any]]:
    with db.reader() as s:
        q = select(AdCluster.id, AdCluster.summary).order_by(AdCluster.size.desc(), AdCluster.id)
        if limit:
            q = q.limit(limit)
        return [{**(summ or {}), "id": cid} for cid, summ in s.execute(q)]


@dataclass
class AdRow:
    id: int
    evidence_id: int
    site: str
    ad_id: str
    posted_at: datetime
    city: str
    country: str
    title: str
    cluster_id: int | None
    phones: list[str]
    url: str | None


def _row(ad: Ad, text: str | None) -> AdRow:
    return AdRow(
        ad.id,
        ad.evidence_id,
        ad.site,
        ad.ad_id,
        ad.posted_at,
        ad.city,
        ad.country,
        (text or "").partition("\n")[0],
        ad.cluster_id,
        list(ad.phones),
        ad.url,
    )


def _rows(s: Session, q: Any) -> list[AdRow]:
    return [_row(ad, text) for ad, text in s.execute(q)]


def _naming(s: Session, identifier: str, pdq_threshold: int) -> Any:
    """Evidence items that name ``identifier`` however it is typed: read by the extractor (a national phone
    in each country the ads come from), a handle or value as stored, or a picture's PDQ hash."""
    raw = identifier.strip()
    values = {f.value for f in extract(raw)} | {raw.lower().lstrip("@"), raw}
    if links.is_pdq_hex(raw):  # a picture's PDQ hash: the entity of its copies (within the match threshold)
        values |= set(links.representatives(s, [raw], pdq_threshold).values())
    for country in s.scalars(select(Ad.country).distinct()):
        if country:
            values |= {f.value for f in extract(raw, country=country)}
    name = raw.lower().lstrip("@").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # an account is stored as platform/name: a bare handle finds it on any platform
    ent = select(Entity.id).where(Entity.value.in_(values) | Entity.value.like("%/" + name, escape="\\"))
    return select(EvidenceMention.evidence_id).where(EvidenceMention.entity_id.in_(ent))


def search_ads(
    db: Database,
    *,
    text: str = "",
    identifier: str = "",
    site: str = "",
    city: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cluster_id: int | None = None,
    limit: int = 200,
) -> list[AdRow]:
    """Ads by words of their text (whole words, through the blind index), an identifier they name (phone,
    handle, e-mail, URL, wallet: written any way the extractor reads), site, city, posting time, cluster."""
    with db.reader() as s:
        q = select(Ad, EvidenceItem.text).join(EvidenceItem, EvidenceItem.id == Ad.evidence_id)
        if text.strip():
            ring = keyring_for(s.get_bind().dialect)
            for w in sorted({w for w in tokens(text) if len(w) > 1})[:10]:
                q = q.where(Ad.words.contains(ring.blind(w)[:12]))
        if identifier.strip():
            q = q.where(Ad.evidence_id.in_(_naming(s, identifier, db.settings.pdq_threshold)))
        if site.strip():
            q = q.where(Ad.site == site.strip().lower())
        if city.strip():
            q = q.where(func.lower(Ad.city) == city.strip().lower())
        if since:
            q = q.where(Ad.posted_at >= since)
        if until:
            q = q.where(Ad.posted_at <= until)
        if cluster_id is not None:
            q = q.where(Ad.cluster_id == cluster_id)
        return _rows(s, q.order_by(Ad.posted_at.desc(), Ad.id.desc()).limit(limit))


@dataclass
class LinkedReport:
    report_id: int
    kind: str
    value: str
    network_id: int | None


@dataclass
class ClusterView:
    id: int
    summary: dict[str, Any]
    ads: list[AdRow]
    reports: list[LinkedReport]
    networks: list[int]
    chart: dict[str, Any]
    pictures: list[PictureLink] = field(default_factory=list)


@dataclass
class PictureLink:
    """A picture the cluster's ads show (a ``pdq`` entity: copies within the match threshold), with how
    many of its ads, other ads and reports show it too."""

    value: str
    ads_here: int
    ads_elsewhere: int
    reports: int


def _pictures(s: Session, evidence_ids: list[int]) -> list[PictureLink]:
    here = func.count(func.distinct(EvidenceMention.evidence_id))
    q = (
        select(Entity.value, Entity.evidence_count, Entity.report_count, here)
        .join(EvidenceMention, EvidenceMention.entity_id == Entity.id)
        .where(EvidenceMention.evidence_id.in_(evidence_ids), Entity.kind == links.KIND)
        .group_by(Entity.id, Entity.value, Entity.evidence_count, Entity.report_count)
        .order_by(here.desc(), Entity.value)
        .limit(50)
    )
    return [PictureLink(v, int(n), max(0, int(total or 0) - int(n)), int(r or 0)) for v, total, r, n in s.execute(q)]


def _linked(s: Session, db: Database, evidence_ids: list[int], limit: int = 200) -> list[LinkedReport]:
    """Reports that name an identifier these evidence items name, through identifiers the guard lets link."""
    from tipline.graph.models import ReportNetwork

    guard = guard_for(db, s)
    q = (
        select(Mention.report_id, Entity.kind, Entity.value, Entity.degree, ReportNetwork.network_id)
        .join(Entity, Entity.id == Mention.entity_id)
        .join(EvidenceMention, EvidenceMention.entity_id == Mention.entity_id)
        .outerjoin(ReportNetwork, ReportNetwork.report_id == Mention.report_id)
        .where(EvidenceMention.evidence_id.in_(evidence_ids), Mention.linkable)
        .distinct()
        .order_by(Mention.report_id)
        .limit(limit * 4)
    )
    out: list[LinkedReport] = []
    seen: set[tuple[int, str, str]] = set()
    for rid, kind, value, count, nid in s.execute(q):
        if (rid, kind, value) in seen or not guard.links(kind, value, int(count or 0)):
            continue
        seen.add((rid, kind, value))
        out.append(LinkedReport(rid, kind, value, nid))
    return out[:limit]


def cluster_view(db: Database, cluster_id: int) -> ClusterView:
    from .movement import Sighting, chart, timeline

    with db.reader() as s:
        row = s.get(AdCluster, cluster_id)
        if row is None:
            raise NotFound(f"no ad cluster {cluster_id}")
        summary = dict(row.summary or {})
        q = (
            select(Ad, EvidenceItem.text)
            .join(EvidenceItem, EvidenceItem.id == Ad.evidence_id)
            .where(Ad.cluster_id == cluster_id)
            .order_by(Ad.posted_at, Ad.id)
        )
        ads = _rows(s, q)
        reports = _linked(s, db, [a.evidence_id for a in ads])
        nets = sorted({r.network_id for r in reports if r.network_id is not None})
        stops = timeline(Sighting(a.posted_at, a.city, a.site, a.country) for a in ads)
        pictures = _pictures(s, [a.evidence_id for a in ads])
        return ClusterView(cluster_id, summary, ads, reports, nets, chart(stops), pictures)


def ads_for_report(db: Database, report_id: int, limit: int = 50) -> list[tuple[AdRow, str, str]]:
    """Ads that name an identifier the report names (through identifiers the guard lets link)."""
    with db.reader() as s:
        guard = guard_for(db, s)
        q = (
            select(Ad, EvidenceItem.text, Entity.kind, Entity.value, Entity.degree)
            .join(EvidenceItem, EvidenceItem.id == Ad.evidence_id)
            .join(EvidenceMention, EvidenceMention.evidence_id == Ad.evidence_id)
            .join(Entity, Entity.id == EvidenceMention.entity_id)
            .join(Mention, Mention.entity_id == Entity.id)
            .where(Mention.report_id == report_id, Mention.linkable)
            .order_by(Ad.posted_at.desc())
            .limit(limit * 4)
        )
        out: list[tuple[AdRow, str, str]] = []
        seen: set[int] = set()
        for ad, text, kind, value, count in s.execute(q):
            if ad.id in seen or not guard.links(kind, value, int(count or 0)):
                continue
            seen.add(ad.id)
            out.append((_row(ad, text), kind, value))
        return out[:limit]


def open_case(db: Database, cluster_id: int, actor: Principal | str) -> int:
    """A case from a cluster: its ads as evidence, and the reports that share their identifiers."""
    view = cluster_view(db, cluster_id)
    tmpl = str(view.summary.get("template", ""))[:60]
    title = f"Ad template cluster {cluster_id}: {view.summary.get('size', len(view.ads))} ads"
    case_id = cases.create_case(
        db,
        actor,
        title=title,
        report_ids={r.report_id for r in view.reports},
        description=f"Opened from ad cluster {cluster_id} ({', '.join(view.summary.get('sites', []))}). {tmpl}",
    )
    cases.add_evidence(db, case_id, {a.evidence_id for a in view.ads}, actor)
    with db.session() as s:
        record(s, actor, "ads.cluster.case", "case", case_id, cluster=cluster_id)
    return case_id


# ------------------------------------------------------------------------------------------ retention

DEFAULT_AD_DAYS = 730


def ad_retention_days(settings: Settings) -> int:
    """``[ads] days`` of the retention rules in force."""
    from tipline.protect.retention import days_of

    return days_of(settings, "ads", "days", DEFAULT_AD_DAYS)


def forget_old_ads(s: Session, settings: Settings, _entity_ids: set[int]) -> None:
    """Retention step: ads posted more than ``[ads] days`` ago go (with their evidence items and mentions);
    the networks around what they named are relinked; clusters left with fewer than two ads go too."""
    from datetime import timedelta

    from tipline.graph.guard import load_guard

    cutoff = datetime.now(UTC) - timedelta(days=ad_retention_days(settings))
    old = s.execute(select(Ad.id, Ad.evidence_id).where(Ad.posted_at < cutoff)).all()
    if not old:
        return
    ev_ids = [e for _, e in old]
    ents: set[int] = set()
    for lo in range(0, len(ev_ids), 500):
        part = ev_ids[lo : lo + 500]
        ents |= set(s.scalars(select(EvidenceMention.entity_id).where(EvidenceMention.evidence_id.in_(part))))
        s.execute(delete(AdBand).where(AdBand.ad_pk.in_([a for a, _ in old[lo : lo + 500]])))
        s.execute(delete(Ad).where(Ad.evidence_id.in_(part)))
        s.execute(delete(EvidenceMention).where(EvidenceMention.evidence_id.in_(part)))
        s.execute(delete(EvidenceItem).where(EvidenceItem.id.in_(part)))
    small = select(Ad.cluster_id).where(Ad.cluster_id.is_not(None)).group_by(Ad.cluster_id).having(func.count() < 2)
    s.execute(update(Ad).where(Ad.cluster_id.in_(small)).values(cluster_id=None))
    _drop_empty(s)
    if ents:
        refresh_evidence_counts(s, ents)
        net.relink(s, load_guard(s, settings), set(), ents)
    record(s, "system", "ads.retention", "ads", None, deleted=len(old), before=cutoff.isoformat())
