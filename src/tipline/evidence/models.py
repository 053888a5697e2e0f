"""Rows of evidence items: source items that are not reports, and the entities they name.

An evidence item is what a capability that reads other sources (classified ads, payment screening, a
partner's records) keeps of one item: its kind, where it came from (``source``) and its id there
(``external_id``, unique per source: importing the same item twice updates it), when it happened, its text
(sealed at rest) and structured details. Its mentions link it to entities exactly as a report's do, so it
joins the same networks and can be added to cases; it never enters the triage queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tipline.store.models import Base, Entity, utcnow
from tipline.store.types import SealedText

KINDS = ("ad", "payment", "partner_record", "other")


class EvidenceItem(Base):
    __tablename__ = "evidence_items"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_evidence_source_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # one of KINDS
    source: Mapped[str] = mapped_column(String(128))  # the system it came from ("ads:example-board", ...)
    external_id: Mapped[str] = mapped_column(String(256))  # its id in that system
    occurred_at: Mapped[datetime | None] = mapped_column(nullable=True)  # when it was posted or paid
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str | None] = mapped_column(SealedText("evidence_items.text"), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # structured fields, as the source gave them
    added_by: Mapped[str] = mapped_column(String(128))
    analysed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EvidenceMention(Base):
    """Where an evidence item names an entity (the twin of ``store.models.Mention`` for reports)."""

    __tablename__ = "evidence_mentions"
    __table_args__ = (Index("ix_evidence_mentions_entity_item", "entity_id", "evidence_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(128))
    start: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    entity: Mapped[Entity] = relationship()
