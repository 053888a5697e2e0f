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

Cost: each call reads every ``pdq`` entity once (32 bytes each) into the multi-index hash of
:mod:`tipline.media.index`; a report without pictures costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
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


def representatives(s: Session, hashes: Sequence[str], threshold: int) -> dict[str, str]:
    """Each hash (64 hex, any case) -> the ``pdq`` entity value it names: the earliest stored representative
    within ``threshold`` bits, else the first hash of ``hashes`` (in order) within it, else itself."""
    wanted = list(dict.fromkeys(h.strip().lower() for h in hashes))
    if not wanted:
        return {}
    rows = s.execute(select(Entity.id, Entity.value).where(Entity.kind == KIND).order_by(Entity.id)).all()
    stored = [(eid, v) for eid, v in rows if HEX.fullmatch(v)]
    values = [v for _eid, v in stored]
    index = _index(len(stored))
    if stored:
        index.add(values, np.arange(len(stored), dtype=np.int64))
    out: dict[str, str] = {}
    for h, hits in zip(wanted, index.query_many(wanted, radius=threshold), strict=True):
        if hits:
            out[h] = values[min(i for i, _d in hits)]  # rows are in id order: the earliest representative
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
