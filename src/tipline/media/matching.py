"""Matching hashes against the enabled hash banks: exact, PDQ (near) and vPDQ (video).

One :class:`Matcher` per database, kept by the database object (``matcher_for``) and shared by analysis (the
media hook), ``/api/v1/match``, the panic button and ``tipline match``; :func:`matcher_for` returns it.

* **Exact** kinds (md5, sha1, sha256) are looked up in the database (index on ``(kind, hash)``): always
  current, no memory per hash.
* **PDQ** hashes are searched in memory with :class:`tipline.media.index.MIHPDQIndex` (exact multi-index
  hashing: every bank hash within ``settings.pdq_threshold`` bits is found). There is one index per
  enabled bank, so enabling or disabling a bank costs nothing and an import reloads only that bank (and
  only its new rows: entries are append-only).
* **Dihedral variants**: when the image itself is at hand, the caller passes its 8 rotated/mirrored PDQ
  hashes (:attr:`Query.variants`) and each is searched; a mirrored copy of a bank image then matches.
  Variants are on the query side: 8 searches per image cost far less than 8 times the memory for
  every bank hash (see ``bench/bench_media_matching.py``), and bank lists are hashes, not images.
* **vPDQ** follows HMA's criterion (python-threatexchange ``vpdq_index.VPDQIndex``): frames below
  ``settings.vpdq_quality_threshold`` are dropped and duplicates removed on both sides; a bank video
  matches when at least ``vpdq_match_share`` of the query's distinct frames are within ``pdq_threshold``
  of one of its frames and at least ``vpdq_bank_share`` of its frames are within that of a query frame.
* Live-stream frames (panic button) are single PDQ hashes; besides PDQ entries they are also compared with
  the frames of the banks' videos (a frame of a known video on a live stream is the crime happening again).

**Reloads.** Every bank change writes a new *banks version* token in ``instance_meta``
(:func:`tipline.media.banks.banks_version`). Each call compares it (one primary-key read) and, when it
changed, reloads under a lock while other threads keep querying the old snapshot; the new snapshot is
swapped in with one assignment, so a query never sees a half-built index. Changes made by another
process (``tipline banks import`` while the app runs) are seen on the next call.

Don'ts: no approximate index (a missed match is a missed victim); no bank hashes in logs; do not trust the
snapshot for labels or enabled flags: hits are checked against the database (a bank disabled a moment ago
must not match, a label edited a moment ago must show).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from tipline.accounts.service import record
from tipline.errors import NotFound
from tipline.media.banks import banks_version
from tipline.media.index import MIHPDQIndex, PDQIndex, hex_to_bytes
from tipline.media.models import (
    EXACT_KINDS,
    SCOPE_LISTED,
    SCOPE_STAFF,
    VIEW_CATEGORY,
    VIEW_YESNO,
    BankEntry,
    HashBank,
    HashMatch,
)
from tipline.store import Database
from tipline.store.models import Attachment, Report

if TYPE_CHECKING:
    from tipline.store.models import Report

__all__ = [
    "DIHEDRAL_NAMES",
    "Match",
    "Matcher",
    "Query",
    "match_payload",
    "live_matches",
    "match_report",
    "matcher_for",
    "queries_for_attachment",
    "queries_for_hashes",
    "record_matches",
    "report_matches",
]

# the order of part A's ``hashing.pdq_dihedral`` (pdqhash.compute_dihedral's): variant 0 is the image as it is
DIHEDRAL_NAMES = ("orig", "rot90", "rot180", "rot270", "flipX", "flipY", "transpose", "transverse")
_IN_CHUNK = 500  # values per SQL IN list
_LOAD_CHUNK = 100_000  # rows per fetch when loading a bank


@dataclass(frozen=True)
class Query:
    """One hash to look for. ``ref`` is the caller's tag (e.g. an attachment id), returned with each match.

    ``origin``: ``file`` (hashes of the file we hold), ``original`` (hashes a platform gave for the
    original file, CyberTipline ``originalFileHash``), ``frame`` (a live-stream frame), ``given``
    (hashes sent to ``/api/v1/match``).
    """

    kind: str
    hash: str | None = None
    frames: Sequence[dict[str, Any]] | None = None  # vPDQ: [{"pdq", "quality", ...}]
    variants: Sequence[str] = ()  # PDQ: the 8 dihedral variants, variant 0 first (optional)
    ref: Any = None
    origin: str = "file"
    extra: dict[str, Any] = field(default_factory=dict)  # copied into the match's details
    quality: int | None = None  # PDQ quality 0-100 when known; under settings.pdq_quality_threshold: not looked up
    named: Sequence[tuple[str, str]] = ()  # PDQ: more query-side variants, (name, hash): ("trim", hex)


@dataclass(frozen=True)
class Match:
    query: Query
    bank_id: int
    bank_name: str
    entry_id: int
    kind: str  # the bank entry's kind
    label: str
    distance: int
    details: dict[str, Any]

    def public(self, *, staff: bool = False) -> dict[str, Any]:
        """The match as the API shows it (platforms do not see bank entry ids)."""
        out: dict[str, Any] = {
            "bank": self.bank_name,
            "label": self.label,
            "kind": self.kind,
            "distance": self.distance,
            "query_kind": self.query.kind,
            "origin": self.query.origin,
        }
        if staff:
            out["bank_id"] = self.bank_id
            out["entry_id"] = self.entry_id
        out.update({k: v for k, v in self.details.items() if k not in out})
        return out


# ------------------------------------------------------------------------------------------ snapshot


@dataclass(frozen=True)
class _VideoIndex:
    frames: PDQIndex  # ids: frame row numbers
    frame_entry: np.ndarray  # frame row -> entry id
    entry_frames: dict[int, int]  # entry id -> distinct usable frames


@dataclass(frozen=True)
class _BankIndex:
    bank_id: int
    revision: int
    max_pdq_id: int
    pdq_count: int
    pdq: PDQIndex
    video: _VideoIndex | None


@dataclass(frozen=True)
class _Snapshot:
    token: str
    banks: dict[int, _BankIndex]
    loaded_at: float
    load_seconds: float


Scope = Mapping[int, tuple[int, int]]  # bank id -> (after entry id, up to entry id]


class Matcher:
    """Matches hashes against the enabled banks of one database (thread-safe; see the module docstring).

    ``scope``: only these entries of these banks (the retro-match of an import's new entries); such a
    matcher is loaded once (``refresh(force=True)``) and queried with ``refresh=False``.
    """

    def __init__(
        self, db: Database, *, index_factory: Callable[[], PDQIndex] = MIHPDQIndex, scope: Scope | None = None
    ) -> None:
        self.db = db
        self._factory = index_factory
        self._scope = dict(scope) if scope is not None else None
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self.reloads = 0

    # -- loading ------------------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Reload what changed if the banks version moved (or ``force``). True when a reload happened."""
        with self.db.reader() as s:
            token = banks_version(s)
        snap = self._snap
        if not force and snap is not None and snap.token == token:
            return False
        with self._lock:
            snap = self._snap
            if not force and snap is not None and snap.token == token:
                return False
            t0 = time.perf_counter()
            banks = self._load(snap.banks if snap is not None and not force else {})
            self._snap = _Snapshot(token, banks, time.time(), time.perf_counter() - t0)
            self.reloads += 1
            return True

    def _load(self, previous: dict[int, _BankIndex]) -> dict[int, _BankIndex]:
        with self.db.reader() as s:
            rows = s.execute(select(HashBank.id, HashBank.revision).where(HashBank.enabled)).all()
        if self._scope is not None:
            rows = [r for r in rows if r[0] in self._scope]
        out: dict[int, _BankIndex] = {}
        for bank_id, revision in rows:
            prev = previous.get(bank_id)
            if prev is not None and prev.revision == revision:
                out[bank_id] = prev
            elif prev is not None:
                out[bank_id] = self._load_bank(bank_id, revision, prev)
            else:
                out[bank_id] = self._load_bank(bank_id, revision, None)
        return out

    def _load_bank(self, bank_id: int, revision: int, prev: _BankIndex | None) -> _BankIndex:
        if prev is not None:
            # entries are append-only: add the rows after the last one loaded, then check the count (a
            # concurrent import on PostgreSQL may commit lower ids late; then reload the bank in full)
            index, after, count = prev.pdq, prev.max_pdq_id, prev.pdq_count
        else:
            index, after, count = self._factory(), 0, 0
        if self._scope is not None:
            after = max(after, self._scope[bank_id][0])
        max_id = after
        with self.db.reader() as s:
            q = (
                select(BankEntry.id, BankEntry.hash)
                .where(BankEntry.bank_id == bank_id, BankEntry.kind == "pdq", BankEntry.id > after, *self._bounds())
                .order_by(BankEntry.id)
                .execution_options(yield_per=_LOAD_CHUNK)
            )
            ids: list[np.ndarray] = []
            hashes: list[np.ndarray] = []
            for part in s.execute(q).partitions(_LOAD_CHUNK):
                ids.append(np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part)))
                hashes.append(hex_to_bytes([r[1] for r in part]))
            upto = _max(ids, after)
            in_db = s.scalar(
                select(func.count(BankEntry.id)).where(
                    BankEntry.bank_id == bank_id, BankEntry.kind == "pdq", BankEntry.id <= upto
                )
            )
            video = self._load_video(s, bank_id) if prev is None or prev.revision != revision else prev.video
        if ids:
            all_ids = np.concatenate(ids)
            index.add(np.concatenate(hashes), all_ids)
            count += int(all_ids.size)
            max_id = int(all_ids.max())
        if prev is not None and in_db != count:
            return self._load_bank(bank_id, revision, None)
        return _BankIndex(bank_id, revision, max_id, count, index, video)

    def _load_video(self, s: Session, bank_id: int) -> _VideoIndex | None:
        qmin = self.db.settings.vpdq_quality_threshold
        rows: list[str] = []
        owners: list[int] = []
        entry_frames: dict[int, int] = {}
        q = select(BankEntry.id, BankEntry.frames).where(
            BankEntry.bank_id == bank_id, BankEntry.kind == "vpdq", *self._bounds()
        )
        for entry_id, frames in s.execute(q.order_by(BankEntry.id)):
            usable = _usable_frames(frames or [], qmin)
            if not usable:
                continue  # HMA does not index a video with no usable frame either
            rows.extend(usable)
            owners.extend([entry_id] * len(usable))
            entry_frames[entry_id] = len(usable)
        if not rows:
            return None
        index = self._factory()
        index.add(rows, np.arange(len(rows), dtype=np.int64))
        return _VideoIndex(index, np.asarray(owners, dtype=np.int64), entry_frames)

    def _bounds(self) -> list[ColumnElement[bool]]:
        """The scope as a condition on bank entries (none for the installation's matcher)."""
        if self._scope is None:
            return []
        if not self._scope:
            return [BankEntry.id < 0]
        return [
            or_(
                *(
                    and_(BankEntry.bank_id == b, BankEntry.id > a, BankEntry.id <= u)
                    for b, (a, u) in self._scope.items()
                )
            )
        ]

    # -- matching -----------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        snap = self._snap
        if snap is None:
            return {"loaded": False}
        return {
            "loaded": True,
            "banks": len(snap.banks),
            "pdq_hashes": sum(b.pdq_count for b in snap.banks.values()),
            "vpdq_videos": sum(len(b.video.entry_frames) for b in snap.banks.values() if b.video),
            "reloads": self.reloads,
            "load_seconds": round(snap.load_seconds, 3),
        }

    def match(self, queries: Iterable[Query], *, session: Session | None = None, refresh: bool = True) -> list[Match]:
        """Every bank entry each query matches (one match per query and entry, the smallest distance).

        ``session``: read through the caller's transaction (the analysis hook); otherwise a read session.
        """
        qs = list(queries)
        if not qs:
            return []
        if refresh or self._snap is None:
            self.refresh()
        snap = self._snap
        assert snap is not None
        st = self.db.settings
        found: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}  # (query no, entry id) -> (distance, details)

        def hit(qi: int, entry_id: int, distance: int, details: dict[str, Any]) -> None:
            key = (qi, int(entry_id))
            old = found.get(key)
            if old is None or distance < old[0]:
                found[key] = (int(distance), details)

        exact = [(i, q) for i, q in enumerate(qs) if q.kind in EXACT_KINDS and q.hash]
        pdq = [
            (i, q) for i, q in enumerate(qs) if q.kind == "pdq" and (q.hash or q.variants) and not low_quality(q, st)
        ]
        video = [(i, q) for i, q in enumerate(qs) if q.kind == "vpdq" and q.frames]
        if pdq and snap.banks:
            self._match_pdq(snap, pdq, st.pdq_threshold, hit)
        if video and snap.banks:
            for i, q in video:
                self._match_video(snap, i, q, hit)

        def run(s: Session) -> list[Match]:
            meta = _entries(s, {eid for _qi, eid in found}, self._bounds())
            out: list[Match] = []
            for (qi, eid), (distance, details) in found.items():
                m = meta.get(eid)
                if m is None:  # bank disabled or deleted since the snapshot
                    continue
                out.append(_make(qs[qi], m, distance, details))
            out.extend(_exact(s, exact, self._bounds()))
            order = {id(q): i for i, q in enumerate(qs)}
            out.sort(key=lambda m: (order.get(id(m.query), 0), m.distance, m.bank_name, m.entry_id))
            return out

        if session is not None:
            return run(session)
        with self.db.reader() as s:
            return run(s)

    def _match_pdq(
        self,
        snap: _Snapshot,
        items: list[tuple[int, Query]],
        radius: int,
        hit: Callable[[int, int, int, dict[str, Any]], None],
    ) -> None:
        # flatten: one row per (query, variant)
        flat: list[str] = []
        owner: list[tuple[int, int | str]] = []  # (query no, variant: 0 = the hash as it is, or a name)
        for i, q in items:
            pairs: list[tuple[int | str, str]] = list(enumerate(q.variants))
            if q.hash and (not pairs or pairs[0][1].lower() != q.hash.lower()):
                pairs = [(0, q.hash), *[(v, h) for v, h in pairs if v]]  # the hash itself always goes first
            pairs.extend(q.named)
            for v, h in pairs:
                if h:
                    flat.append(h)
                    owner.append((i, v))
        if not flat:
            return
        arr = hex_to_bytes(flat)
        by_no = dict(items)
        is_frame = {i for i, q in items if q.origin == "frame"}
        for bank in snap.banks.values():
            if bank.pdq_count:
                for row, res in enumerate(bank.pdq.query_many(arr, radius=radius)):
                    i, v = owner[row]
                    for entry_id, d in res:
                        hit(i, entry_id, d, _variant_details(by_no[i], v))
            if bank.video is not None and is_frame:
                rows = [r for r, (i, _v) in enumerate(owner) if i in is_frame]
                results = bank.video.frames.query_many(arr[rows], radius=radius)
                for r, res in zip(rows, results, strict=True):
                    i, _v = owner[r]
                    for frame_row, d in res:
                        entry_id = int(bank.video.frame_entry[frame_row])
                        hit(i, entry_id, d, {"single_frame": True})

    def _match_video(
        self, snap: _Snapshot, qi: int, q: Query, hit: Callable[[int, int, int, dict[str, Any]], None]
    ) -> None:
        st = self.db.settings
        frames = _usable_frames(q.frames or [], st.vpdq_quality_threshold)
        if not frames:
            return
        arr = hex_to_bytes(frames)
        for bank in snap.banks.values():
            v = bank.video
            if v is None:
                continue
            query_hit: dict[int, set[int]] = {}
            bank_hit: dict[int, set[int]] = {}
            best: dict[int, int] = {}
            for fi, res in enumerate(v.frames.query_many(arr, radius=st.pdq_threshold)):
                for frame_row, d in res:
                    e = int(v.frame_entry[frame_row])
                    query_hit.setdefault(e, set()).add(fi)
                    bank_hit.setdefault(e, set()).add(int(frame_row))
                    best[e] = min(best.get(e, 256), int(d))
            for e, qset in query_hit.items():
                q_share = len(qset) / len(frames)
                b_share = len(bank_hit[e]) / v.entry_frames[e]
                if q_share >= st.vpdq_match_share and b_share >= st.vpdq_bank_share:
                    hit(
                        qi,
                        e,
                        best[e],
                        {
                            "query_share": round(q_share, 4),
                            "bank_share": round(b_share, 4),
                            "query_frames": len(frames),
                            "bank_frames": v.entry_frames[e],
                        },
                    )


def low_quality(q: Query, settings: Any) -> bool:
    """A PDQ query of known quality under the threshold: a flat or near-empty picture, whose hash says little
    (it would match every other flat picture). Not looked up."""
    return q.kind == "pdq" and q.quality is not None and q.quality < settings.pdq_quality_threshold


def ignored(queries: Sequence[Query], settings: Any) -> list[dict[str, Any]]:
    """What was not looked up, and why (the API says so)."""
    t = settings.pdq_quality_threshold
    return [
        {
            "query": q.ref,
            "kind": q.kind,
            "reason": f"PDQ quality {q.quality} is under {t}: the picture is too flat to match",
        }
        for q in queries
        if low_quality(q, settings)
    ]


def _variant_details(q: Query, v: int | str) -> dict[str, Any]:
    if isinstance(v, str):
        return {"variant": v}
    if not q.variants or v == 0:
        return {}
    return {"variant": DIHEDRAL_NAMES[v] if v < len(DIHEDRAL_NAMES) else v}


def _usable_frames(frames: Iterable[dict[str, Any]], quality: int) -> list[str]:
    """Distinct PDQ hashes of frames at or above the quality threshold, in order (HMA's prepare step)."""
    seen: set[str] = set()
    out: list[str] = []
    for f in frames:
        h = str(f.get("pdq") or f.get("hash") or "").lower()
        if len(h) != 64 or int(f.get("quality", 100)) < quality or h in seen:
            continue
        seen.add(h)
        out.append(h)
    return out


def _max(ids: list[np.ndarray], after: int) -> int:
    return max([after, *(int(a.max()) for a in ids if a.size)])


@dataclass(frozen=True)
class _Entry:
    entry_id: int
    bank_id: int
    bank_name: str
    kind: str
    label: str


def _entries(s: Session, ids: set[int], bounds: list[ColumnElement[bool]]) -> dict[int, _Entry]:
    out: dict[int, _Entry] = {}
    idl = sorted(ids)
    for a in range(0, len(idl), _IN_CHUNK):
        q = (
            select(BankEntry.id, BankEntry.kind, BankEntry.label, HashBank.id, HashBank.name, HashBank.default_label)
            .join(HashBank, HashBank.id == BankEntry.bank_id)
            .where(BankEntry.id.in_(idl[a : a + _IN_CHUNK]), HashBank.enabled, *bounds)
        )
        for eid, kind, label, bid, bname, dlabel in s.execute(q):
            out[eid] = _Entry(eid, bid, bname, kind, label or dlabel)
    return out


def _exact(s: Session, items: list[tuple[int, Query]], bounds: list[ColumnElement[bool]]) -> list[Match]:
    by_kind: dict[str, dict[str, list[Query]]] = {}
    for _i, q in items:
        assert q.hash is not None
        by_kind.setdefault(q.kind, {}).setdefault(q.hash.lower(), []).append(q)
    out: list[Match] = []
    for kind, wanted in by_kind.items():
        values = sorted(wanted)
        for a in range(0, len(values), _IN_CHUNK):
            stmt = (
                select(
                    BankEntry.id,
                    BankEntry.hash,
                    BankEntry.label,
                    HashBank.id,
                    HashBank.name,
                    HashBank.default_label,
                )
                .join(HashBank, HashBank.id == BankEntry.bank_id)
                .where(BankEntry.kind == kind, BankEntry.hash.in_(values[a : a + _IN_CHUNK]), HashBank.enabled, *bounds)
            )
            for eid, h, label, bid, bname, dlabel in s.execute(stmt):
                for query in wanted[h]:
                    out.append(_make(query, _Entry(eid, bid, bname, kind, label or dlabel), 0, {}))
    return out


def _make(q: Query, e: _Entry, distance: int, details: dict[str, Any]) -> Match:
    d = dict(q.extra)
    d.update(details)
    return Match(q, e.bank_id, e.bank_name, e.entry_id, e.kind, e.label, distance, d)


# ------------------------------------------------------------------------------------------ one per database


def matcher_for(db: Database) -> Matcher:
    """The matcher of this database (made on first use and kept by the database object; the app loads it
    at start, ``Capability.on_start``)."""
    return db.resource("media.matcher", lambda: Matcher(db))


# ------------------------------------------------------------------------------------------ queries


def queries_for_hashes(hashes: Any, *, dihedral: Sequence[str] | None = None, ref: Any = None) -> list[Query]:
    """Queries for part A's ``MediaHashes`` (md5, sha1, sha256, pdq, vpdq), with optional dihedral variants."""
    out = [Query(k, getattr(hashes, k).lower(), ref=ref) for k in EXACT_KINDS if getattr(hashes, k, None)]
    pdq = getattr(hashes, "pdq", None)
    if pdq:
        quality = getattr(hashes, "pdq_quality", None)
        trim = getattr(hashes, "pdq_trim", None)
        raw = getattr(hashes, "pdq_raw", None)
        named = ((("trim", trim),) if trim and dihedral else ()) + ((("raw", raw),) if raw else ())
        out.append(Query("pdq", pdq.lower(), variants=tuple(dihedral or ()), ref=ref, quality=quality, named=named))
    frames = getattr(hashes, "vpdq", None)
    if frames:
        out.append(Query("vpdq", frames=list(frames), ref=ref))
    return out


def _named(details: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The stored query-side PDQ variants of a file: border-trimmed, and the pixels as stored (``pdq_raw``)."""
    out = [(name, details.get(f"pdq_{name}")) for name in ("trim", "raw")]
    return tuple((n, h) for n, h in out if isinstance(h, str) and len(h) == 64)


def _original_hashes(details: dict[str, Any]) -> dict[str, str]:
    """CyberTipline ``originalFileHash`` values stored by ``/ispws/fileinfo`` (type and length checked)."""
    fd = details.get("file_details")
    if not isinstance(fd, dict):
        return {}
    want = {"md5": 32, "sha1": 40, "sha-1": 40, "sha256": 64, "sha-256": 64, "pdq": 64}
    out: dict[str, str] = {}
    for h in fd.get("hashes") or []:
        if not isinstance(h, dict):
            continue
        kind = str(h.get("type", "")).strip().lower()
        value = str(h.get("value", "")).strip().lower()
        n = want.get(kind)
        if n and len(value) == n and all(c in "0123456789abcdef" for c in value):
            out.setdefault(kind.replace("-", ""), value)
    return out


def queries_for_attachment(att: Attachment) -> list[Query]:
    """Every hash of one attachment: its own, its dihedral variants and vPDQ frames (``details``), and the
    original file's hashes a platform declared (CyberTipline ``fileDetails``)."""
    details = att.details or {}
    frame = "frame_offset_ms" in details
    extra = {"frame_offset_ms": details["frame_offset_ms"]} if frame else {}
    origin = "frame" if frame else "file"
    out: list[Query] = []
    mine: set[tuple[str, str]] = set()
    for k in EXACT_KINDS:
        v = getattr(att, k)
        if v:
            out.append(Query(k, v.lower(), ref=att.id, origin=origin, extra=extra))
            mine.add((k, v.lower()))
    if att.pdq:
        variants = details.get("pdq_dihedral")
        dihedral: tuple[str, ...] = ()
        if isinstance(variants, list) and all(isinstance(x, str) and len(x) == 64 for x in variants):
            dihedral = tuple(variants)
        quality = details.get("pdq_quality")
        out.append(
            Query(
                "pdq",
                att.pdq.lower(),
                variants=dihedral,
                ref=att.id,
                origin=origin,
                extra=extra,
                quality=quality if isinstance(quality, int) else None,
                named=_named(details),
            )
        )
        mine.add(("pdq", att.pdq.lower()))
    frames = details.get("vpdq")
    if isinstance(frames, list) and frames:
        out.append(Query("vpdq", frames=[f for f in frames if isinstance(f, dict)], ref=att.id, origin=origin))
    for k, v in _original_hashes(details).items():
        if (k, v) not in mine:
            out.append(Query(k, v, ref=att.id, origin="original", extra={"query_hash": v}))
    return out


# ------------------------------------------------------------------------------------------ reports


def match_payload(matches: list[Match], *, staff_view: bool) -> list[dict[str, Any]]:
    out = []
    for m in matches:
        d = m.public(staff=staff_view)
        if isinstance(m.query.ref, int):
            d["query"] = m.query.ref
        if m.query.hash and m.query.kind != "vpdq":
            d["query_hash"] = m.query.hash
        out.append(d)
    return out


def _platform_views(s: Session, bank_ids: set[int], platform_id: int | None) -> dict[int, tuple[str, str]]:
    """bank id -> (view, category) for the banks this platform may match against (the bank's terms)."""
    out: dict[int, tuple[str, str]] = {}
    if not bank_ids:
        return out
    q = select(
        HashBank.id, HashBank.match_scope, HashBank.match_platforms, HashBank.platform_view, HashBank.default_label
    ).where(HashBank.id.in_(sorted(bank_ids)))
    for bid, scope, listed, view, category in s.execute(q):
        if scope == SCOPE_STAFF or (scope == SCOPE_LISTED and platform_id not in (listed or [])):
            continue
        out[bid] = (view, category)
    return out


def shown_to_platform(item: dict[str, Any], view: str, category: str, keep: Sequence[str]) -> dict[str, Any]:
    """One match as a platform may see it: yes/no (that it matched, no bank, label or distance), the bank's
    category (its default label), or the label with bank and distance. ``keep``: the platform's own data."""
    if view == VIEW_YESNO:
        out: dict[str, Any] = {"matched": True}
    elif view == VIEW_CATEGORY:
        out = {"matched": True, "category": category}
    else:
        return {k: v for k, v in item.items() if k not in ("bank_id", "entry_id")}
    out.update({k: item[k] for k in keep if k in item})
    return out


def _dedupe(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for d in items:
        key = repr(sorted(d.items()))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def platform_payload(db: Database, matches: list[Match], platform_id: int | None) -> list[dict[str, Any]]:
    """The matches a platform sees (``/api/v1/match``): only banks whose terms let it match, each shown as
    the bank's ``platform_view`` allows."""
    with db.reader() as s:
        views = _platform_views(s, {m.bank_id for m in matches}, platform_id)
    out = []
    for m, d in zip(matches, match_payload(matches, staff_view=False), strict=True):
        if m.bank_id in views:
            view, category = views[m.bank_id]
            out.append(shown_to_platform(d, view, category, ("query", "query_hash", "query_kind")))
    return _dedupe(out)


def match_report(matcher: Matcher, s: Session, report: Report) -> list[Match]:
    """Match every attachment of a report (inside the caller's transaction)."""
    queries = [q for att in report.attachments for q in queries_for_attachment(att)]
    return matcher.match(queries, session=s)


def record_matches(s: Session, report_id: int, matches: Sequence[Match]) -> list[HashMatch]:
    """Record these matches on a report (one row per file and bank entry). Analysis calls it, and has
    deleted the report's earlier matches already (``MEDIA.analysis_rows``)."""
    best: dict[tuple[Any, int], Match] = {}
    for m in matches:
        key = (m.query.ref, m.entry_id)
        if key not in best or m.distance < best[key].distance:
            best[key] = m
    rows = []
    for m in best.values():
        details = dict(m.details)
        details["origin"] = m.query.origin
        details["query_kind"] = m.query.kind
        row = HashMatch(
            report_id=report_id,
            attachment_id=m.query.ref if isinstance(m.query.ref, int) else None,
            bank_id=m.bank_id,
            entry_id=m.entry_id,
            bank_name=m.bank_name,
            kind=m.kind,
            distance=m.distance,
            label=m.label,
            details=details,
        )
        s.add(row)
        rows.append(row)
    return rows


def report_matches(db: Database, report_id: int, *, session: Session | None = None) -> list[dict[str, Any]]:
    """The matches recorded on a report, strongest first (for its page and the API)."""

    def run(s: Session) -> list[dict[str, Any]]:
        rows = s.scalars(
            select(HashMatch).where(HashMatch.report_id == report_id).order_by(HashMatch.distance, HashMatch.id)
        )
        return [
            {
                "bank": r.bank_name,
                "bank_id": r.bank_id,
                "entry_id": r.entry_id,
                "label": r.label,
                "kind": r.kind,
                "distance": r.distance,
                "attachment_id": r.attachment_id,
                "matched_at": r.matched_at,
                "details": dict(r.details or {}),
            }
            for r in rows
        ]

    if session is not None:
        return run(session)
    with db.reader() as s:
        return run(s)


def viewed_report_matches(db: Database, report_id: int, viewer: Any) -> list[dict[str, Any]]:
    """A report's matches for a staff member (the view is audited, ``report.matches.view``); raises
    :class:`~tipline.errors.NotFound` for no such report."""
    with db.session() as s:
        if s.get(Report, report_id) is None:
            raise NotFound(f"no report {report_id}")
        record(s, viewer, "report.matches.view", "report", report_id)
        return report_matches(db, report_id, session=s)


def live_matches(
    db: Database,
    report_id: int,
    *,
    frames: Sequence[Any] = (),
    matcher: Matcher | None = None,
    platform_id: int | None = None,
) -> list[dict[str, Any]]:
    """The panic button's answer: the matches of its report's frames (bank, label, kind, distance, frame offset).

    When the report was analysed inline, the media hook has matched and recorded them: they are read back (one
    query). Otherwise (``analyse_inline`` off) ``frames`` (the request's ``FrameHashIn`` items) are matched now
    with the in-process index and recorded later by the analysis. The answer goes to the report's platform
    (``platform_id``, read from the report when not given): each bank's terms say whether it is shown and
    how (:func:`shown_to_platform`); no bank entry ids.
    """
    found = _live_recorded(db, report_id) if db.settings.analyse_inline else _live_now(db, frames, matcher)
    banks = {bid for bid, _d in found if bid is not None}
    if not banks:
        return []  # nothing matched (most presses): no more reads
    with db.reader() as s:
        if platform_id is None:  # the caller knows it (the panic button: the platform pressing it)
            platform_id = s.scalar(select(Report.platform_id).where(Report.id == report_id))
        views = _platform_views(s, banks, platform_id)
    out = []
    for bid, d in found:
        if bid in views:
            view, category = views[bid]
            out.append(shown_to_platform(d, view, category, ("frame_offset_ms", "frame_hash")))
    return _dedupe(out)


def _live_recorded(db: Database, report_id: int) -> list[tuple[int | None, dict[str, Any]]]:
    with db.reader() as s:
        rows = s.execute(
            select(HashMatch, Attachment)
            .outerjoin(Attachment, Attachment.id == HashMatch.attachment_id)
            .where(HashMatch.report_id == report_id)
            .order_by(HashMatch.distance, HashMatch.id)
        ).all()
        out: list[tuple[int | None, dict[str, Any]]] = []
        for m, att in rows:
            qkind = (m.details or {}).get("query_kind", m.kind)
            frame_hash = getattr(att, qkind, None) if att is not None and qkind in (*EXACT_KINDS, "pdq") else None
            item = {
                "bank": m.bank_name,
                "label": m.label,
                "kind": m.kind,
                "distance": m.distance,
                "frame_offset_ms": (m.details or {}).get("frame_offset_ms"),
                "frame_hash": frame_hash,
            }
            out.append((m.bank_id, item))
        return out


def _live_now(db: Database, frames: Sequence[Any], matcher: Matcher | None) -> list[tuple[int | None, dict[str, Any]]]:
    queries = []
    for i, f in enumerate(frames):
        h = str(f.hash).lower()
        if len(h) == {"md5": 32, "sha1": 40}.get(f.kind, 64):
            queries.append(Query(f.kind, h, ref=i, origin="frame", extra={"frame_offset_ms": f.offset_ms}))
    found = (matcher or matcher_for(db)).match(queries)
    return [
        (
            m.bank_id,
            {
                "bank": m.bank_name,
                "label": m.label,
                "kind": m.kind,
                "distance": m.distance,
                "frame_offset_ms": m.details.get("frame_offset_ms"),
                "frame_hash": m.query.hash,
            },
        )
        for m in found
    ]
