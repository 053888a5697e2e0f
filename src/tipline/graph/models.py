"""Rows of the entity graph: network membership, the over-correlation guard, cases.

Network membership is a partition of the graph whose nodes are reports and entities and whose edges are
mentions, with the entities the guard excludes taken out (they keep their mentions and pages, they just do
not link). Each part is a *network*, named after its earliest report: ``network_id`` is the smallest
report id in it, so a network's id is deterministic (the full recompute and the incremental path agree on
it) and survives growth; when two networks merge the older one's id wins.

Every analysed report has a row in ``graph_report_networks`` (a report that shares nothing is a network of
one); every entity that links (mentioned at least once, not excluded) has one in
``graph_entity_networks``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tipline.store.models import Base, User, utcnow
from tipline.store.types import SealedText


class EntityNetwork(Base):
    __tablename__ = "graph_entity_networks"
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), primary_key=True)
    network_id: Mapped[int] = mapped_column(Integer, index=True)


class ReportNetwork(Base):
    __tablename__ = "graph_report_networks"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    network_id: Mapped[int] = mapped_column(Integer, index=True)


class CorrelationExclusion(Base):
    """A warning-list entry a supervisor added: values of ``kind`` equal to ``value`` or fully matching the
    regular expression ``pattern`` never link reports (MISP's warning lists, for one hotline)."""

    __tablename__ = "correlation_exclusions"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    value: Mapped[str | None] = mapped_column(String(512), nullable=True)
    pattern: Mapped[str | None] = mapped_column(String(512), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class DegreeLimit(Base):
    """The most reports one value of ``kind`` may link; above it the value is infrastructure, not a lead.

    ``source`` is ``auto`` (derived from the degree distribution, ``details`` holds the figures) or
    ``manual`` (set by a supervisor; automatic refreshes leave it alone).
    """

    __tablename__ = "graph_degree_limits"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="auto")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    set_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status", "status", "updated_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(SealedText("cases.description"), default="")  # may name people
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | in_progress | closed
    tlp: Mapped[str] = mapped_column(String(16), default="amber")  # TLP 2.0: clear green amber amber+strict red
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(16), default="manual")  # manual | network
    origin_network_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    assignee: Mapped[User | None] = relationship()


class CaseReport(Base):
    __tablename__ = "case_reports"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128))


class CaseEvidence(Base):
    """An evidence item (``tipline.evidence``: an ad, a payment, a partner's record) in a case."""

    __tablename__ = "case_evidence"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128))


class CaseEvent(Base):
    """One line of a case's timeline. ``kind`` ``feed`` is a new report that touches the case's entities
    (the case's feed); the others record what people did (created, reports added or removed, status,
    assignee, TLP, title, notes)."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    report_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseNote(Base):
    __tablename__ = "case_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    author: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[str] = mapped_column(SealedText("case_notes.body"))  # sealed at rest like report notes
