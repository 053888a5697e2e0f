"""Rows of routing: the agency directory, jurisdiction candidates, referrals, and URL takedowns.

- ``agencies``: seeded from ``agencies.toml`` (:mod:`tipline.routing.agencies`) when a seed id is missing,
  never by a migration; admins edit the rows, and their edits stay in the database (``origin='admin'``).
- ``jurisdiction_candidates``: for each analysed report, the countries that may have jurisdiction, each with
  a weight and the evidence behind it (recomputed at every analysis).
- ``referrals``: every package sent to an agency: to whom, when, by whom, in which format, its SHA-256, the
  exact bytes (sealed at rest), and the agency's acknowledgement (when, who at the agency, noted by whom).
- ``referral_deliveries``: each time a referral was sent to its agency (how, when, by whom, the agency's
  reference).
- ``url_takedowns``: one row per reported URL (normal form): hosting country, state and when each
  transition happened (notice and takedown).
- ``url_takedown_reports``: which reports name each URL (written anew at every analysis of a report).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tipline.store.models import Base, utcnow
from tipline.store.types import SealedText


class Agency(Base):
    """An agency or hotline a report can be referred to. ``countries`` are ISO 3166 alpha-2 codes, or
    ``["*"]`` for a body that takes reports from anywhere (INTERPOL); ``categories`` are tipline category
    codes, ``["*"]`` for all; ``formats`` the referral formats known to be accepted (empty: unknown)."""

    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(16), default="police")  # police | hotline | international
    countries: Mapped[list[Any]] = mapped_column(default=list)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    formats: Mapped[list[Any]] = mapped_column(default=list)
    mandate: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[dict[str, Any]] = mapped_column(default=dict)  # web, email, phone: public channels only
    sources: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    origin: Mapped[str] = mapped_column(String(16), default="seed")  # seed | admin
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="seed")


class JurisdictionCandidate(Base):
    """A country that may have jurisdiction over a report, with its weight (0-1) and evidence."""

    __tablename__ = "jurisdiction_candidates"
    __table_args__ = (Index("ix_jurisdiction_candidates_country", "country", "weight"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    country: Mapped[str] = mapped_column(String(2))
    weight: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Referral(Base):
    """A referral package sent to an agency. ``package`` is the exact bytes delivered (base64, sealed at
    rest); ``digest`` their SHA-256, so a download can be checked against what was recorded."""

    __tablename__ = "referrals"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(8))  # report | case
    subject_id: Mapped[int] = mapped_column(Integer)
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), nullable=True, index=True
    )
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    report_ids: Mapped[list[Any]] = mapped_column(default=list)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    format: Mapped[str] = mapped_column(String(16))  # package | cybertip | stix | misp
    filename: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    package: Mapped[str] = mapped_column(SealedText("referrals.package"))
    created_by: Mapped[str] = mapped_column(String(128))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ack_note: Mapped[str | None] = mapped_column(SealedText("referrals.ack_note"), nullable=True)
    ack_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ack_from: Mapped[str | None] = mapped_column(String(200), nullable=True)  # who at the agency


class ReferralDelivery(Base):
    """One sending of a referral to its agency: how (``method``), through which address or form
    (``channel``), when, by whom, and the reference the agency gave (its case or confirmation number)."""

    __tablename__ = "referral_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # email | web_form | portal | phone | in_person | cybertip_api
    channel: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[datetime] = mapped_column()
    sent_by: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class UrlTakedown(Base):
    """The notice-and-takedown lifecycle of one reported URL (``url`` in tipline's normal form).

    ``state`` is reported → assessed → notice_sent → removed (→ reappeared → …). The timestamp of the first
    time each state was reached is kept in its column; ``history`` has every transition (state, at, by).
    """

    __tablename__ = "url_takedowns"
    __table_args__ = (Index("ix_url_takedowns_state", "state", "hosting_country"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    url_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255), default="")
    hosting_country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    hosting_ips: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="reported")
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    assessed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    notice_sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reappeared_at: Mapped[datetime | None] = mapped_column(nullable=True)
    notice_agency_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    history: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UrlTakedownReport(Base):
    """A report that names a takedown's URL: one row each, deleted and written anew when the report is
    analysed (``ROUTING.analysis_rows``). A list on the takedown row grew with every report naming a popular
    URL, and each of them rewrote it whole, under that row's lock."""

    __tablename__ = "url_takedown_reports"
    takedown_id: Mapped[int] = mapped_column(ForeignKey("url_takedowns.id", ondelete="CASCADE"), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True, index=True)
