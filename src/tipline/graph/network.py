"""Network membership: kept current per report (incremental), or rebuilt whole (full recompute).

The graph is bipartite: reports, evidence items (``tipline.evidence``: ads, payments, partners' records)
and entities are nodes, mentions are edges, and the entities the guard excludes are left out. Evidence
items link entities like reports do, but only reports name networks: a part without a report is no
network (its entities get no row until a report joins them). A *network* is a connected part; its id is
its smallest report id (see ``graph.models``), so both paths name every network the same way and
``tests/test_graph_network.py`` checks that they agree exactly.

Incremental path (:func:`update_for_report`, called inside the analysis transaction): when a report only
*adds* links (the usual case) the networks it touches are merged union-find style: every row of the
networks other than the one with the smallest id is renamed, which costs the size of the renamed
networks, never of the graph. When a report *loses* a link (a re-analysis dropped an identifier, or an
identifier crossed its degree limit and stopped linking) its network may split: :func:`relink` recomputes
just the affected networks from their mentions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import CompoundSelect, Table, bindparam, delete, exists, insert, null, select, text, union_all, update
from sqlalchemy.orm import Session

from tipline.evidence.models import EvidenceMention
from tipline.graph.guard import Guard
from tipline.graph.models import EntityNetwork, ReportNetwork
from tipline.store import later
from tipline.store.lists import in_list
from tipline.store.models import Entity, Mention, Report

CHUNK = 900  # ids per IN (...) list

# The statements of the per-report update, built once: an analysis runs each of them once or twice per
# report, and building a select() with its IN list cost about as much of the worker's CPU as running it
# (bench/RESULTS.md, "Statements built once"). ``ids``: a list (``store.lists.in_list``: one statement
# text whatever its length).
_ENTITY_INFO = select(Entity.id, Entity.kind, Entity.value, Entity.degree).where(in_list(Entity.id, "ids"))
_ENTITY_NIDS = select(EntityNetwork.entity_id, EntityNetwork.network_id).where(in_list(EntityNetwork.entity_id, "ids"))
_REPORT_NIDS = select(ReportNetwork.report_id, ReportNetwork.network_id).where(in_list(ReportNetwork.report_id, "ids"))
_NETWORK_OF_REPORT = select(ReportNetwork.network_id).where(ReportNetwork.report_id == bindparam("report_id"))
# on the tables' columns, not the mapped classes' (here and below, for the statements every report runs): a
# select of mapped attributes goes through the ORM's compile and result set-up, 70 us more a statement for
# the same rows
_EN, _RN, _MEN = (cast(Table, m.__table__) for m in (EntityNetwork, ReportNetwork, Mention))
# both in one statement (_locked_view reads them twice a report): the entities' networks, then the report's
# own network as the row whose entity is NULL
_VIEW_NIDS: CompoundSelect = union_all(
    select(_EN.c.entity_id, _EN.c.network_id).where(in_list(_EN.c.entity_id, "ids")),
    select(null(), _RN.c.network_id).where(_RN.c.report_id == bindparam("report_id")),
)
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(:space, k)) FROM (SELECT unnest(CAST(:keys AS int[])) AS k ORDER BY k) AS o"
)
# what a per-report update takes first, in one statement: the whole graph's lock shared, the touched entities'
# keys, then the keys of the networks they (and the report) are in as this statement's snapshot saw them,
# returned. The graph's lock comes first (each row of ``e``'s join, whose arguments lock a key, needs the row
# of ``g``; MATERIALIZED: ``g`` is evaluated as itself, never folded into the join), then the entities' keys
# (``e`` is the outer side of the LEFT JOIN ON true, a nested loop: its one row, an aggregate over all the
# entity keys, is produced before any network key is taken). The networks seen are a guess:
# :func:`_locked_view` reads them again under the locks, and locks what it sees that is new (one statement
# each for the view and the network keys, which this statement saves in the usual case: two statements of
# fourteen a report).
_LOCK_TOUCHED = text(
    "WITH g AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(:graph) AS held), "
    "e AS MATERIALIZED (SELECT count(pg_advisory_xact_lock(:space, o.k)) AS n FROM g, "
    "(SELECT unnest(CAST(:keys AS int[])) AS k ORDER BY k) AS o) "
    "SELECT count(pg_advisory_xact_lock(:networks, v.nid)), array_agg(v.nid) FROM e LEFT JOIN "
    f"(SELECT nid FROM (SELECT network_id AS nid FROM {_EN.name} WHERE entity_id = ANY(CAST(:keys AS int[])) "
    f"UNION SELECT network_id FROM {_RN.name} WHERE report_id = :report_id) AS u ORDER BY nid) AS v ON true"
)
_OTHERS_NAMING = (  # the other reports that name these entities linkably, with their networks
    select(_MEN.c.report_id, _RN.c.network_id)
    .select_from(_MEN.outerjoin(_RN, _RN.c.report_id == _MEN.c.report_id))
    .where(in_list(_MEN.c.entity_id, "ids"), _MEN.c.report_id != bindparam("report_id"), _MEN.c.linkable.is_(True))
    .distinct()
)
# with them, one row of NULLs when an evidence item names one of these entities (a value that starts to link
# may bridge to an evidence item's networks): one statement, where the evidence check was one more
_OTHERS_OR_EVIDENCE: CompoundSelect = union_all(
    _OTHERS_NAMING,
    select(null(), null()).where(exists(select(EvidenceMention.id).where(in_list(EvidenceMention.entity_id, "ids")))),
)


def chunks(ids: Iterable[int], n: int = CHUNK) -> Iterator[list[int]]:
    items = sorted(ids)
    for i in range(0, len(items), n):
        yield items[i : i + n]


def entity_info(
    s: Session, ids: Iterable[int], known: dict[int, tuple[str, str, int]] | None = None
) -> dict[int, tuple[str, str, int]]:
    """(kind, value, degree) of each entity; ``known``: some of them, read since their counts last changed
    (only the others are read)."""
    wanted = set(ids)
    out = {e: known[e] for e in wanted if e in known} if known else {}
    for part in chunks(wanted - out.keys()):
        for eid, kind, value, count in s.execute(_ENTITY_INFO, {"ids": part}):
            out[eid] = (kind, value, int(count or 0))
    return out


def _entity_nids(s: Session, ids: Iterable[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in chunks(ids):
        out.update(s.execute(_ENTITY_NIDS, {"ids": part}).all())
    return out


def _view_nids(s: Session, report_id: int, touched: set[int]) -> tuple[dict[int, int], int | None]:
    """The touched entities' networks and the report's own (None: in none yet): the report's with the first
    chunk of entities."""
    members: dict[int, int] = {}
    r_nid: int | None = None
    for n, part in enumerate(list(chunks(touched)) or [[]]):
        if n:
            members.update(s.execute(_ENTITY_NIDS, {"ids": part}).all())
            continue
        for eid, nid in s.execute(_VIEW_NIDS, {"ids": part, "report_id": report_id}):
            if eid is None:
                r_nid = nid
            else:
                members[eid] = nid
    return members, r_nid


def _report_nids(s: Session, ids: Iterable[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in chunks(ids):
        out.update(s.execute(_REPORT_NIDS, {"ids": part}).all())
    return out


def network_of_report(s: Session, report_id: int) -> int | None:
    return s.scalar(_NETWORK_OF_REPORT, {"report_id": report_id})


def _rename(s: Session, old: int, new: int) -> None:
    s.execute(
        update(ReportNetwork).where(ReportNetwork.network_id == old).values(network_id=new),
        execution_options={"synchronize_session": False},
    )
    s.execute(
        update(EntityNetwork).where(EntityNetwork.network_id == old).values(network_id=new),
        execution_options={"synchronize_session": False},
    )


_GRAPH_LOCK = 7_462_302  # PostgreSQL advisory lock id of the network tables (the whole graph)
NETWORK_LOCKS = 74_623  # key space (first int of pg_advisory_xact_lock(int, int)) of one network's lock
ENTITY_LOCKS = 74_624  # key space of one entity's lock (an entity that is in no network yet)


def _postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def serialize(s: Session) -> None:
    """Take the whole graph's lock, exclusively, for the rest of this transaction: limit refreshes, full
    recomputes and relinks (splits) read, then write across networks. (SQLite has one writer already; the
    lock is re-entrant within a transaction, and taken over a shared hold of the same transaction.)"""
    if _postgres(s):
        # an analysis batch gives up a lock wait after a moment (tipline.intake.worker._analysis_connection):
        # this lock is worth the wait: it is taken rarely, and the batches that hold it shared end soon
        previous = s.scalar(text("SELECT current_setting('lock_timeout')"))
        s.execute(text("SELECT set_config('lock_timeout', '0', true)"))
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _GRAPH_LOCK})
        s.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": previous})
        s.info["graph_lock"] = "exclusive"


def share(s: Session) -> None:
    """Take the whole graph's lock shared (per-report updates run beside each other, never beside a limit
    refresh or a recompute); what each update touches is locked by :func:`lock_keys`."""
    if _postgres(s) and not s.info.get("graph_lock"):
        s.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _GRAPH_LOCK})
        s.info["graph_lock"] = "shared"


def lock_keys(s: Session, space: int, ids: Iterable[int]) -> None:
    """Lock networks (``NETWORK_LOCKS``) or entities (``ENTITY_LOCKS``) for the rest of the transaction, in
    ascending order (two updates lock what they share in the same order)."""
    keys = sorted(set(ids))
    if _postgres(s) and keys:
        s.execute(_LOCK_KEYS, {"space": space, "keys": keys})


def lock_touched(s: Session, report_id: int, touched: set[int]) -> set[int]:
    """Take what a per-report update locks before it reads (PostgreSQL; nothing on SQLite): the whole graph's
    lock shared (:func:`share`), then the touched entities' keys (``ENTITY_LOCKS``); with them, in the same
    statement, the keys of the networks those entities and the report were in a moment before
    (``_LOCK_TOUCHED``). Returns those networks: :func:`_locked_view` starts from them."""
    if not _postgres(s):
        return set()
    if not touched:
        share(s)
        return set()
    params = {"graph": _GRAPH_LOCK, "space": ENTITY_LOCKS, "networks": NETWORK_LOCKS}
    _n, nids = s.execute(_LOCK_TOUCHED, {**params, "keys": sorted(touched), "report_id": report_id}).one()
    s.info.setdefault("graph_lock", "shared")  # a transaction holding it exclusively keeps saying so
    return {n for n in nids or () if n is not None}


def _locked_view(
    s: Session, report_id: int, touched: set[int], linking: set[int], locked: set[int]
) -> tuple[dict[int, int], int | None, list[tuple[int, int | None]], bool]:
    """Read what a per-report update works on (the touched entities' networks, the report's own, the
    reports and networks that name its linking entities that are in no network yet, and whether an evidence
    item names one of those), holding the locks of all of it: on PostgreSQL the reads are repeated after
    each new lock until nothing new appears (a network renamed by another update meanwhile is seen under its
    new id). The caller holds the touched entities' locks (``ENTITY_LOCKS``) and the networks' in
    ``locked`` (:func:`lock_touched`)."""
    locked = set(locked)
    while True:
        members, r_nid = _view_nids(s, report_id, touched)
        fresh = sorted(e for e in linking if e not in members)
        others: list[tuple[int, int | None]] = []
        by_evidence = False
        for part in chunks(fresh):
            for rid, nid in s.execute(_OTHERS_OR_EVIDENCE, {"ids": part, "report_id": report_id}):
                if rid is None:
                    by_evidence = True
                else:
                    others.append((rid, nid))
        want = set(members.values()) | {n for _r, n in others if n is not None}
        if r_nid is not None:
            want.add(r_nid)
        if not _postgres(s) or want <= locked:
            return members, r_nid, others, by_evidence
        lock_keys(s, NETWORK_LOCKS, want - locked)
        locked |= want


def update_for_report(
    s: Session,
    guard: Guard,
    report_id: int,
    entity_ids: set[int],
    removed_entity_ids: set[int],
    known: dict[int, tuple[str, str, int]] | None = None,
) -> int:
    """Bring the networks up to date after ``report_id`` was (re-)analysed; returns its network id.

    ``entity_ids``: what the report mentions now; ``removed_entity_ids``: what it mentioned before and no
    longer does. ``Entity.report_count`` must already be current (``analyse_report`` refreshes it first; the
    guard limits it plus ``Entity.evidence_count``). ``known``: :func:`entity_info` of some of them, read
    since their counts were refreshed (the analysis's before-score hook read it already).
    """
    touched = set(entity_ids) | set(removed_entity_ids)
    locked = lock_touched(s, report_id, touched)  # what _locked_view reads, locked before any read
    info = entity_info(s, touched, known)
    linking = {e for e in entity_ids if e in info and guard.links(*info[e])}
    members, r_nid, others, by_evidence = _locked_view(s, report_id, touched, linking, locked)
    split = any(e in members or (e in info and guard.links(*info[e])) for e in removed_entity_ids)
    split = split or any(e in members and e not in linking for e in entity_ids)
    if split:
        relink(s, guard, {report_id}, touched)
        nid = network_of_report(s, report_id)
        assert nid is not None
        return nid
    nids = {members[e] for e in linking if e in members}
    if r_nid is not None:
        nids.add(r_nid)
    fresh = sorted(e for e in linking if e not in members)
    orphans: set[int] = set()
    # a value that starts to link: the networks of the other reports naming it join too
    for rid, nid in others:
        if nid is None:
            orphans.add(rid)  # analysed before the graph existed (or by a batch still open): relinked
        else:
            nids.add(nid)
    if fresh and by_evidence:
        orphans.add(report_id)  # an evidence item may bridge to other networks: recompute around it
    if orphans:
        relink(s, guard, {report_id} | orphans, touched)
        nid = network_of_report(s, report_id)
        assert nid is not None
        return nid
    new = min(nids | {report_id})
    for old in sorted(nids - {new}):
        _rename(s, old, new)
    if r_nid is None:
        later.insert_later(s, _RN, [{"report_id": report_id, "network_id": new}])  # with the analysis's last write
    later.insert_later(s, _EN, [{"entity_id": e, "network_id": new} for e in fresh])
    return new


def _evidence_naming(s: Session, entity_ids: Iterable[int]) -> set[int]:
    out: set[int] = set()
    for part in chunks(entity_ids):
        out.update(s.scalars(select(EvidenceMention.evidence_id).where(EvidenceMention.entity_id.in_(part)).distinct()))
    return out


def network_of_evidence(s: Session, evidence_id: int) -> int | None:
    """The network an evidence item is in: the one of the linking entities it names (one by construction)."""
    return s.scalar(
        select(EntityNetwork.network_id)
        .join(EvidenceMention, EvidenceMention.entity_id == EntityNetwork.entity_id)
        .where(EvidenceMention.evidence_id == evidence_id)
        .limit(1)
    )


_EVIDENCE_NODE = 1 << 40  # evidence item v is node -(_EVIDENCE_NODE + v); entity e is -e; report r is r


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        p = self.parent.setdefault(x, x)
        root = x
        while p != root:
            root = p
            p = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def relink(s: Session, guard: Guard, report_ids: set[int], entity_ids: set[int]) -> None:
    """Recompute the networks around some reports and entities (whose links changed) from their mentions.

    The affected set is closed before anything is written: every network those reports and entities
    belong to, every network of a report that names an entity linking now, the reports of linking
    entities that have no network yet, and the evidence items that name a linking entity (with what they
    name in turn). Cost: the size of those networks.
    """
    serialize(s)
    c = _Closure(s, guard)
    c.nids = set(_report_nids(s, report_ids).values()) | set(_entity_nids(s, entity_ids).values())
    info = entity_info(s, entity_ids)
    linking0 = [e for e in entity_ids if e in info and guard.links(*info[e])]
    c.pending = set(report_ids)
    for part in chunks(linking0):
        c.pending.update(
            s.scalars(
                select(Mention.report_id).where(Mention.entity_id.in_(part), Mention.linkable.is_(True)).distinct()
            )
        )
    c.pending_ev = _evidence_naming(s, linking0)
    c.close()
    old_r = _report_nids(s, c.reports)
    old_e: dict[int, int] = {}
    for part in chunks(c.nids):
        old_e.update(
            s.execute(
                select(EntityNetwork.entity_id, EntityNetwork.network_id).where(EntityNetwork.network_id.in_(part))
            ).all()
        )
    old_e.update(_entity_nids(s, entity_ids))
    new_r, new_e = c.networks()
    _write_diff(s, ReportNetwork, ReportNetwork.report_id, "report_id", old_r, new_r)
    gone = [e for e in old_e if e not in new_e]
    for part in chunks(gone):
        s.execute(
            delete(EntityNetwork).where(EntityNetwork.entity_id.in_(part)),
            execution_options={"synchronize_session": False},
        )
    kept = {e: n for e, n in old_e.items() if e in new_e}
    _write_diff(s, EntityNetwork, EntityNetwork.entity_id, "entity_id", kept, new_e)


class _Closure:
    """The affected set of one relink, grown until closed: the networks (``nids``), the reports and
    evidence items read so far and those still to read (``pending``, ``pending_ev``), and the links
    found (``edges``: node, entity; a node is a report id or an evidence node)."""

    def __init__(self, s: Session, guard: Guard) -> None:
        self.s = s
        self.guard = guard
        self.nids: set[int] = set()
        self.done_nids: set[int] = set()
        self.pending: set[int] = set()
        self.pending_ev: set[int] = set()
        self.reports: set[int] = set()
        self.items: set[int] = set()
        self.edges: list[tuple[int, int]] = []
        self.verdicts: dict[int, bool] = {}

    def close(self) -> None:
        while True:
            self._add_network_members()
            self.pending -= self.reports
            self.pending_ev -= self.items
            if not self.pending and not self.pending_ev:
                return
            new_links = self._read_pending()
            self.nids |= set(_report_nids(self.s, self.pending).values())
            self.reports |= self.pending
            self.items |= self.pending_ev
            self.pending, self.pending_ev = set(), set()
            self._drag_in(new_links)

    def _links(self, eid: int, kind: str, value: str, count: int | None, new_links: set[int]) -> bool:
        ok = self.verdicts.get(eid)
        if ok is None:
            ok = self.verdicts[eid] = self.guard.links(kind, value, int(count or 0))
            if ok:
                new_links.add(eid)
        return ok

    def _add_network_members(self) -> None:
        """Every report and evidence item of a network not expanded yet becomes pending."""
        for part in chunks(self.nids - self.done_nids):
            self.pending.update(
                self.s.scalars(select(ReportNetwork.report_id).where(ReportNetwork.network_id.in_(part)))
            )
            self.pending_ev.update(
                self.s.scalars(
                    select(EvidenceMention.evidence_id)
                    .join(EntityNetwork, EntityNetwork.entity_id == EvidenceMention.entity_id)
                    .where(EntityNetwork.network_id.in_(part))
                    .distinct()
                )
            )
        self.done_nids |= self.nids

    def _read_pending(self) -> set[int]:
        """The links of the pending reports and evidence items; returns the entities found linking now."""
        new_links: set[int] = set()
        for part in chunks(self.pending):
            for rid, eid, kind, value, count in self.s.execute(
                select(Mention.report_id, Mention.entity_id, Entity.kind, Entity.value, Entity.degree)
                .join(Entity, Entity.id == Mention.entity_id)
                .where(Mention.report_id.in_(part), Mention.linkable.is_(True))
            ):
                if self._links(eid, kind, value, count, new_links):
                    self.edges.append((rid, eid))
        for part in chunks(self.pending_ev):
            for vid, eid, kind, value, count in self.s.execute(
                select(
                    EvidenceMention.evidence_id,
                    EvidenceMention.entity_id,
                    Entity.kind,
                    Entity.value,
                    Entity.degree,
                )
                .join(Entity, Entity.id == EvidenceMention.entity_id)
                .where(EvidenceMention.evidence_id.in_(part))
            ):
                if self._links(eid, kind, value, count, new_links):
                    self.edges.append((-(_EVIDENCE_NODE + vid), eid))
        return new_links

    def _drag_in(self, new_links: set[int]) -> None:
        """A linking entity drags in the networks (or the network-less reports) of all that name it."""
        rows = _entity_nids(self.s, new_links)
        self.nids |= set(rows.values())
        for part in chunks([e for e in new_links if e not in rows]):
            self.pending.update(
                self.s.scalars(
                    select(Mention.report_id).where(Mention.entity_id.in_(part), Mention.linkable.is_(True)).distinct()
                )
            )
        self.pending_ev |= _evidence_naming(self.s, new_links)

    def networks(self) -> tuple[dict[int, int], dict[int, int]]:
        """The new network of each report and of each entity, from the links (union-find over both)."""
        uf = _UnionFind()
        for r in self.reports:
            uf.find(r)
        for node, eid in self.edges:
            uf.union(node, -eid)  # entities on the negative side of one id space, evidence items below them
        smallest: dict[int, int] = {}  # root -> smallest report id of its part: the network id
        for r in self.reports:
            root = uf.find(r)
            if r < smallest.get(root, r + 1):
                smallest[root] = r
        new_r = {r: smallest[uf.find(r)] for r in self.reports}
        # an entity in a part with no report (named by evidence items only) is in no network
        new_e = {e: smallest[uf.find(-e)] for _n, e in self.edges if uf.find(-e) in smallest}
        return new_r, new_e


def _write_diff(s: Session, model: Any, key_col: Any, key: str, old: dict[int, int], new: dict[int, int]) -> None:
    moved: dict[int, list[int]] = {}
    added: list[dict[str, int]] = []
    for k, nid in new.items():
        before = old.get(k)
        if before is None:
            added.append({key: k, "network_id": nid})
        elif before != nid:
            moved.setdefault(nid, []).append(k)
    for nid, keys in moved.items():
        for part in chunks(keys):
            s.execute(
                update(model).where(key_col.in_(part)).values(network_id=nid),
                execution_options={"synchronize_session": False},
            )
    if added:
        s.execute(insert(model), added)


# ------------------------------------------------------------------------------------------ full recompute


@dataclass
class RecomputeResult:
    reports: int
    mentions: int
    entities_linking: int
    entities_excluded: int
    networks: int  # with two reports or more
    largest: int  # reports in the largest network
    seconds_read: float
    seconds_compute: float
    seconds_write: float

    @property
    def seconds(self) -> float:
        return self.seconds_read + self.seconds_compute + self.seconds_write

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"seconds": round(self.seconds, 3)}


Step = Callable[[str], None]


def _raw_rows(s: Session, sql: str) -> list[tuple[Any, ...]]:
    cur = s.connection().connection.cursor()  # the DBAPI cursor: millions of rows without Row objects
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def partition(
    report_ids: np.ndarray,
    mention_r: np.ndarray,
    mention_e: np.ndarray,
    linking_entities: np.ndarray,
    evidence_v: np.ndarray | None = None,
    evidence_e: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected parts of the report–entity graph (scipy), with evidence items' mentions (``evidence_v``,
    ``evidence_e``) as more edges. Returns (report network ids aligned with ``report_ids``, linking entity
    ids that are in a part with a report, and their network ids)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    report_ids = np.unique(report_ids.astype(np.int64))
    linking_entities = np.unique(linking_entities.astype(np.int64))
    keep = np.isin(mention_e, linking_entities)
    mr, me = mention_r[keep].astype(np.int64), mention_e[keep].astype(np.int64)
    ev = np.zeros(0, dtype=np.int64) if evidence_v is None else evidence_v.astype(np.int64)
    ee = np.zeros(0, dtype=np.int64) if evidence_e is None else evidence_e.astype(np.int64)
    keep_v = np.isin(ee, linking_entities)
    ev, ee = ev[keep_v], ee[keep_v]
    ents = np.unique(np.concatenate([me, ee]))
    items = np.unique(ev)
    n_r, n_v = len(report_ids), len(items)
    rows = np.concatenate([np.searchsorted(report_ids, mr), n_r + np.searchsorted(items, ev)])
    cols = n_r + n_v + np.searchsorted(ents, np.concatenate([me, ee]))
    n = n_r + n_v + len(ents)
    g = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    _count, labels = connected_components(g, directed=False)
    big = np.iinfo(np.int64).max
    minr = np.full(_count, big, dtype=np.int64)
    np.minimum.at(minr, labels[:n_r], report_ids)
    e_nid = minr[labels[n_r + n_v :]]
    with_report = e_nid != big
    return minr[labels[:n_r]], ents[with_report], e_nid[with_report]


def recompute_all(s: Session, guard: Guard, step: Step | None = None) -> RecomputeResult:
    """Rebuild every network from the mentions (one transaction). Same partition, same ids, as the
    incremental path."""
    serialize(s)
    say = step or (lambda _m: None)
    t0 = time.perf_counter()
    say("reading mentions")
    rids = np.array(
        [r for (r,) in _raw_rows(s, "SELECT id FROM reports WHERE analysed_at IS NOT NULL")], dtype=np.int64
    )
    # an unconfirmed ambiguous reading names its entity but links nothing (as on the incremental path)
    pairs = _raw_rows(s, "SELECT DISTINCT report_id, entity_id FROM mentions WHERE linkable")
    m = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    ev_pairs = _raw_rows(s, "SELECT DISTINCT evidence_id, entity_id FROM evidence_mentions")
    v = np.array(ev_pairs, dtype=np.int64).reshape(-1, 2)
    say("reading entities")
    linking: list[int] = []
    excluded = 0
    for eid, kind, value, count in _raw_rows(s, "SELECT id, kind, value, report_count + evidence_count FROM entities"):
        if guard.links(kind, value, int(count or 0)):
            linking.append(eid)
        elif count:
            excluded += 1
    t1 = time.perf_counter()
    say("finding networks")
    all_r = np.union1d(rids, m[:, 0])
    r_nid, ents, e_nid = partition(all_r, m[:, 0], m[:, 1], np.array(linking, dtype=np.int64), v[:, 0], v[:, 1])
    t2 = time.perf_counter()
    say("writing networks")
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("TRUNCATE graph_report_networks, graph_entity_networks"))  # no FK points at them
    else:
        s.execute(delete(ReportNetwork), execution_options={"synchronize_session": False})
        s.execute(delete(EntityNetwork), execution_options={"synchronize_session": False})
    _bulk_write(s, "graph_report_networks", "report_id", all_r, r_nid)
    _bulk_write(s, "graph_entity_networks", "entity_id", ents, e_nid)
    t3 = time.perf_counter()
    sizes = np.unique(r_nid, return_counts=True)[1] if len(r_nid) else np.array([0])
    return RecomputeResult(
        reports=len(all_r),
        mentions=len(m),
        entities_linking=len(ents),
        entities_excluded=excluded,
        networks=int((sizes >= 2).sum()),
        largest=int(sizes.max()) if len(sizes) else 0,
        seconds_read=t1 - t0,
        seconds_compute=t2 - t1,
        seconds_write=t3 - t2,
    )


def _bulk_write(s: Session, table: str, key: str, keys: np.ndarray, nids: np.ndarray) -> None:
    rows = list(zip(keys.tolist(), nids.tolist(), strict=True))
    if not rows:
        return
    conn = s.connection()
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        cur = raw.cursor()  # type: ignore[union-attr]
        with cur.copy(f"COPY {table} ({key}, network_id) FROM STDIN") as copy:
            for i in range(0, len(rows), 100_000):  # text rows in big blocks: no per-row Python call
                copy.write("".join(f"{k}\t{n}\n" for k, n in rows[i : i + 100_000]))
        cur.close()
    else:
        cur = raw.cursor()  # type: ignore[union-attr]
        cur.executemany(f"INSERT INTO {table} ({key}, network_id) VALUES (?, ?)", rows)
        cur.close()


def reports_without_network(s: Session) -> int:
    """Analysed reports that have no network row (analysed before this feature: run a full recompute)."""
    q = (
        select(Report.id)
        .outerjoin(ReportNetwork, ReportNetwork.report_id == Report.id)
        .where(Report.analysed_at.is_not(None), ReportNetwork.report_id.is_(None))
        .limit(1000)
    )
    return len(list(s.scalars(q)))
