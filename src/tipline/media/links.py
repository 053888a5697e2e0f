"""Pictures as identifiers of the entity graph: a report's files and an ad's images link through their PDQ.

Two copies of one picture (re-encoded, resized, a little cropped) have PDQ hashes a few bits apart, never
the same string, so a PDQ hash cannot be an entity value as it is. Each hash is mapped to a
**representative**: the value of the earliest ``pdq`` entity (smallest id) within ``settings.pdq_threshold``
bits (the matcher's threshold, 31), else the hash itself, which then becomes the representative of the
copies that come after it. Every copy within the threshold of one representative names the same entity,
so reports and ads that show one picture link exactly as reports that name one phone do (the guard's
warning list and degree limits apply: a stock photo on thousands of ads links nothing).

The choice, and its price: representatives are balls of radius 31 around the first hash seen, not a
transitive closure (two copies 20 bits apart may fall on either side of a ball's edge and not link; a
chain of small edits never drags unrelated pictures together); the mapping depends on arrival order; two
transactions that see one new picture at the same moment may each make a representative (the two then
do not link until a full re-import). Hashes of low quality (under ``settings.pdq_quality_threshold``: flat
or near-empty pictures, which all look alike to PDQ) link nothing; a hash of unknown quality (a hex string
a platform or an ad import gave) is kept, as the matcher keeps it. A report's file that matches a hash
bank links nothing (known, circulating material; :mod:`tipline.media.hooks` makes its mention unlinkable).

Cost: the stored representatives are kept in memory, per database, in the exact index of
:mod:`tipline.media.index` (32 bytes each); each call reads only the ``pdq`` entities added since the last
call (by id, re-reading a window below the highest id seen for rows another process committed late) and
everything again every ``_RELOAD_S`` seconds (rows retention deleted); a report without pictures costs
nothing. (Before, each call read every ``pdq`` entity: O(pictures) per report.)
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tipline.media.index import LinearPDQIndex, MIHPDQIndex, PDQIndex
from tipline.store.models import Entity

if TYPE_CHECKING:
    from tipline.settings import Settings
    from tipline.store.models import Report

KIND = "pdq"  # the entity kind of a picture (its value: the representative PDQ hash, 64 lowercase hex)
HEX = re.compile(r"[0-9a-f]{64}")
_MIH_FROM = 50_000  # stored representatives from which the multi-index beats a scan


def is_pdq_hex(value: str) -> bool:
    return HEX.fullmatch(value.strip().lower()) is not None


def usable(quality: int | None, settings: Settings) -> bool:
    """Whether a PDQ hash of this quality may link (unknown quality: yes, as the matcher does)."""
    return quality is None or int(quality) >= settings.pdq_quality_threshold


def _index(n: int) -> PDQIndex:
    return MIHPDQIndex() if n >= _MIH_FROM else LinearPDQIndex()


_RELOAD_S = 300.0  # everything read again after this long (representatives deleted by retention go)
_WINDOW = 2_000  # ids re-read below the highest seen (another process's rows committed after ours)


@dataclass
class _Stored:
    """The ``pdq`` entities of one database as this process last read them (index ids: entity ids)."""

    index: PDQIndex
    top: int = 0  # highest entity id read
    recent: set[int] = field(default_factory=set)  # ids read within _WINDOW of ``top``
    loaded: float | None = None  # time.monotonic() of the last full read
    lock: threading.Lock = field(default_factory=threading.Lock)


_STORED: weakref.WeakKeyDictionary[Engine, _Stored] = weakref.WeakKeyDictionary()
_STORED_LOCK = threading.Lock()


def _stored_for(s: Session) -> _Stored:
    bind = s.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine  # a session on a held connection: its engine
    with _STORED_LOCK:
        st = _STORED.get(engine)
        if st is None:
            st = _STORED[engine] = _Stored(LinearPDQIndex())
        return st


def _catch_up(s: Session, st: _Stored) -> None:
    """Bring ``st`` up to what ``s`` sees (caller holds ``st.lock``)."""
    now = time.monotonic()
    if st.loaded is None or now - st.loaded > _RELOAD_S:
        n = s.scalar(select(func.count()).select_from(Entity).where(Entity.kind == KIND)) or 0
        st.index, st.top, st.recent, st.loaded = _index(n), 0, set(), now
    lo = max(0, st.top - _WINDOW)
    rows = s.execute(
        select(Entity.id, Entity.value).where(Entity.id > lo, Entity.kind == KIND).order_by(Entity.id)
    ).all()
    new = [(eid, v) for eid, v in rows if eid not in st.recent and HEX.fullmatch(v)]
    if new:
        st.index.add([v for _e, v in new], np.array([e for e, _v in new], dtype=np.int64))
        st.recent.update(e for e, _v in new)
    if rows:
        st.top = max(st.top, rows[-1][0])
    st.recent = {e for e in st.recent if e > st.top - _WINDOW}


def representatives(s: Session, hashes: Sequence[str], threshold: int) -> dict[str, str]:
    """Each hash (64 hex, any case) -> the ``pdq`` entity value it names: the earliest stored representative
    within ``threshold`` bits, else the first hash of ``hashes`` (in order) within it, else itself."""
    wanted = list(dict.fromkeys(h.strip().lower() for h in hashes))
    if not wanted:
        return {}
    st = _stored_for(s)
    with st.lock:
        _catch_up(s, st)
        found = st.index.query_many(wanted, radius=threshold)
    candidates = {h: sorted(i for i, _d in hits) for h, hits in zip(wanted, found, strict=True) if hits}
    ids = {i for c in candidates.values() for i in c}
    value_of: dict[int, str] = {}
    for part in _chunks(sorted(ids)):
        value_of.update((i, v) for i, v in s.execute(select(Entity.id, Entity.value).where(Entity.id.in_(part))))
    out: dict[str, str] = {}
    for h, c in candidates.items():
        first = next((i for i in c if i in value_of), None)  # a representative retention deleted is skipped
        if first is not None:
            out[h] = value_of[first]  # the earliest representative (entity ids grow)
    fresh = _index(0)
    fresh_values: list[str] = []
    for h in wanted:
        if h in out:
            continue
        hits = fresh.query(h, radius=threshold)
        if hits:
            out[h] = fresh_values[min(i for i, _d in hits)]
        else:
            fresh.add([h], np.array([len(fresh_values)], dtype=np.int64))
            fresh_values.append(h)
            out[h] = h
    return out


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[k : k + size] for k in range(0, len(ids), size)]


def report_pictures(s: Session, settings: Settings, report: Report) -> list[tuple[str, str, str]]:
    """The ``(kind, value, field)`` identifiers of a report's pictures: each file's PDQ hash of usable
    quality, as its representative (``tipline.capability.Capability.report_identifiers``)."""
    files: list[tuple[int, str]] = []
    for att in report.attachments or []:
        details: dict[str, Any] = att.details or {}
        if att.pdq and is_pdq_hex(att.pdq) and usable(details.get("pdq_quality"), settings):
            files.append((att.id, att.pdq.lower()))
    if not files:
        return []
    reps = representatives(s, [h for _i, h in files], settings.pdq_threshold)
    return [(KIND, reps[h], f"files[{aid}].pdq") for aid, h in files]
