"""Evidence items: store one (by source and external id), extract the entities it names, link it.

This is the door for every source that is not a report: a classified-ads reader, payment screening, a
partner's export. Such a capability calls :func:`add_item` with an :class:`EvidenceIn`; the item is stored
(its text sealed), its entities are extracted with the same extractors as reports
(``tipline.extract``), its mentions are written, and each capability's ``after_evidence`` hook runs in the
same transaction (the graph relinks the networks around it). It never enters the triage queue; it counts
towards an identifier's ``evidence_count`` (not its report count), which the graph's degree limits add to
the reports (a site's support phone in thousands of ads links nothing).

Don'ts: do not put a report here (reports go through ``tipline.intake``); do not store media here; do
not put reporter or victim contact data in ``details`` (it is not sealed; the text is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.capability import EvidenceContext
from tipline.evidence.models import EvidenceItem, EvidenceMention
from tipline.extract import extract
from tipline.intake.schemas import CountryCode
from tipline.intake.service import NotFound, upsert_entities
from tipline.store import Database
from tipline.store.models import Entity
from tipline.store.types import Instant

MAX_TEXT = 100_000
MAX_DETAIL_FIELDS = 100

Kind = Literal["ad", "payment", "partner_record", "other"]


class EvidenceIn(BaseModel):
    """One source item that is not a report."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    source: str = Field(min_length=1, max_length=128, description="The system it came from.")
    external_id: str = Field(min_length=1, max_length=256, description="Its id in that system.")
    occurred_at: Instant | None = Field(None, description="When it was posted, paid or recorded.")
    text: str | None = Field(None, max_length=MAX_TEXT, description="Its text (sealed at rest).")
    details: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Structured fields as the source gave them (string values are read for identifiers too).",
    )
    country: CountryCode | None = Field(None, min_length=2, max_length=2, description="Where it was seen (for phones).")


class EvidenceEntityOut(BaseModel):
    kind: str
    value: str
    field: str


class EvidenceOut(BaseModel):
    id: int
    kind: str
    source: str
    external_id: str
    occurred_at: datetime | None
    received_at: datetime
    added_by: str
    entities: list[EvidenceEntityOut]


@dataclass(frozen=True)
class _Found:
    kind: str
    value: str
    field: str
    start: int | None
    end: int | None
    confidence: float


def _found_in(item: EvidenceIn) -> list[_Found]:
    out = [
        _Found(f.kind, f.value, "text", f.start, f.end, f.confidence)
        for f in extract(item.text or "", country=item.country)
    ]
    for key, value in sorted(item.details.items())[:MAX_DETAIL_FIELDS]:
        if isinstance(value, str) and value:
            out += [
                _Found(f.kind, f.value, f"details.{key}", None, None, f.confidence)
                for f in extract(value, country=item.country)
            ]
    return out


def item_id(db: Database, source: str, external_id: str) -> int | None:
    """The id of the item stored under ``source`` and ``external_id``, if any."""
    with db.reader() as s:
        return s.scalar(
            select(EvidenceItem.id).where(EvidenceItem.source == source, EvidenceItem.external_id == external_id)
        )


def add_item(
    db: Database, item: EvidenceIn, actor: Principal | str, *, identifiers: Sequence[tuple[str, str, str]] = ()
) -> int:
    """Store (or update: same source and external id) an evidence item and link it; returns its id.
    ``identifiers``: ``(kind, value, field)`` the caller found beyond the text and details (an ad's
    pictures, as ``tipline.media.links`` representatives), named like the extracted ones."""
    capabilities = db.require_capabilities()
    found = _found_in(item)  # outside the write transaction: extraction is the slow part
    found += [_Found(k, v, where, None, None, 1.0) for k, v, where in identifiers]
    now = datetime.now(UTC)
    with db.session() as s:
        row = s.scalar(
            select(EvidenceItem).where(EvidenceItem.source == item.source, EvidenceItem.external_id == item.external_id)
        )
        if row is None:
            row = EvidenceItem(source=item.source, external_id=item.external_id, added_by=_who(actor))
            s.add(row)
        row.kind, row.occurred_at, row.text, row.details = item.kind, item.occurred_at, item.text, dict(item.details)
        s.flush()
        entity_ids, removed = _write_mentions(s, row.id, found, now)
        row.analysed_at = now
        ctx = EvidenceContext(db, s, row.id, entity_ids, removed)
        for cap in capabilities:
            if cap.after_evidence is not None:
                cap.after_evidence(ctx)
        record(s, actor, "evidence.add", "evidence", row.id, kind=item.kind, source=item.source)
        return row.id


def _write_mentions(s: Session, evidence_id: int, found: list[_Found], now: datetime) -> tuple[set[int], set[int]]:
    ids = upsert_entities(s, {(f.kind, f.value) for f in found}, now)
    old = set(s.scalars(select(EvidenceMention.entity_id).where(EvidenceMention.evidence_id == evidence_id)))
    s.execute(delete(EvidenceMention).where(EvidenceMention.evidence_id == evidence_id))
    seen: set[tuple[int, str, int | None]] = set()
    for f in found:
        eid = ids[(f.kind, f.value)]
        if (eid, f.field, f.start) in seen:
            continue
        seen.add((eid, f.field, f.start))
        s.add(
            EvidenceMention(
                entity_id=eid, evidence_id=evidence_id, field=f.field, start=f.start, end=f.end, confidence=f.confidence
            )
        )
    s.flush()
    now_ids = set(ids.values())
    refresh_evidence_counts(s, now_ids | old)
    return now_ids, old - now_ids


def refresh_evidence_counts(s: Session, entity_ids: set[int]) -> None:
    """Recount the evidence items that name each entity (``Entity.evidence_count``); call it after writing
    or deleting evidence mentions, before the graph relinks (the guard reads the count)."""
    ids = sorted(entity_ids)
    for lo in range(0, len(ids), 500):
        part = ids[lo : lo + 500]
        counts = dict(
            s.execute(
                select(EvidenceMention.entity_id, func.count(func.distinct(EvidenceMention.evidence_id)))
                .where(EvidenceMention.entity_id.in_(part))
                .group_by(EvidenceMention.entity_id)
            ).all()
        )
        for n in sorted(set(counts.values()) | {0}):
            which = [e for e in part if counts.get(e, 0) == n]
            if which:
                s.execute(
                    update(Entity).where(Entity.id.in_(which)).values(evidence_count=n),
                    execution_options={"synchronize_session": False},
                )


def get_item(db: Database, evidence_id: int) -> EvidenceOut:
    with db.reader() as s:
        row = s.get(EvidenceItem, evidence_id)
        if row is None:
            raise NotFound(f"no evidence item {evidence_id}")
        mentions = s.scalars(
            select(EvidenceMention).where(EvidenceMention.evidence_id == evidence_id).order_by(EvidenceMention.id)
        )
        entities = [EvidenceEntityOut(kind=m.entity.kind, value=m.entity.value, field=m.field) for m in mentions]
        return EvidenceOut(
            id=row.id,
            kind=row.kind,
            source=row.source,
            external_id=row.external_id,
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            added_by=row.added_by,
            entities=entities,
        )


def _who(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.name
