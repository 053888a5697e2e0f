"""Rows of payment screening in the transactional database: one alert per sender (the payments themselves
stay in Parquet files, see :mod:`tipline.finance.store`), and the identifiers each alert names, in the
normal forms of :mod:`tipline.extract`, so alerts join the entity graph (a beneficiary's phone, e-mail,
IBAN or wallet named in a report links the payer to that report's network).

The sender's name and the alert's evidence (rules with their SQL, beneficiaries with their names) are
sealed: they name people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tipline.store.models import Base, utcnow
from tipline.store.types import SealedJSON, SealedText


class PaymentAlert(Base):
    __tablename__ = "finance_alerts"
    __table_args__ = (Index("ix_finance_alerts_status_score", "status", "score"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(256), unique=True)
    sender_name: Mapped[str] = mapped_column(SealedText("finance_alerts.sender_name"), default="")
    score: Mapped[float] = mapped_column(Float)
    rules_fired: Mapped[str] = mapped_column(String(512))  # rule ids, comma-separated (no personal data)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | reviewed | dismissed
    evidence: Mapped[dict[str, Any]] = mapped_column(SealedJSON("finance_alerts.evidence"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), nullable=True)
    window_end: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentAlertIdentifier(Base):
    __tablename__ = "finance_alert_identifiers"
    __table_args__ = (Index("ix_finance_alert_identifiers_kv", "kind", "value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("finance_alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(32))  # sender | beneficiary | reference
