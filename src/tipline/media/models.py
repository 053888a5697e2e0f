"""Rows of the media capability: hash banks, their entries, and the matches recorded on reports.

A **bank** is a named hash list with its provenance (where it came from, under which terms, who made it
here). Its **entries** are append-only: an import adds rows, a duplicate of an entry already in the bank
is skipped, and a bank is removed as a whole. ``revision`` grows with every import so that the in-process
index (:mod:`tipline.media.matching`) reloads only the banks that changed.

A **match** is recorded on a report when one of its files (or a hash a platform sent for it) is in an
enabled bank: exact (md5, sha1, sha256), near (PDQ within the configured Hamming distance) or a video
(vPDQ, share of matching frames). Matches keep the bank's name and the entry's hash as they were when
matched, so that they still say something after a bank is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tipline.store.models import Base, utcnow

# The hash kinds a bank may hold, with the length of their lower-case hex form (vPDQ: a list of frames).
HASH_KINDS: dict[str, int | None] = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64, "vpdq": None}
EXACT_KINDS = ("md5", "sha1", "sha256")

# The labels the pages offer; a bank or an entry may carry another label (letters, digits, spaces, '-', '_').
LABEL_ABUSE = "known abuse material"
LABEL_BENIGN = "known benign"
LABEL_REVIEW = "under review"
STANDARD_LABELS = (LABEL_ABUSE, LABEL_BENIGN, LABEL_REVIEW)

# Who may match against a bank: staff only, the platforms listed on the bank, or every platform (and staff).
SCOPE_STAFF = "staff"
SCOPE_LISTED = "listed"
SCOPE_ALL = "all"
MATCH_SCOPES = (SCOPE_STAFF, SCOPE_LISTED, SCOPE_ALL)
# What a platform sees of a match: only that something matched, the bank's category (its default label, no
# bank name, entry label or distance), or the label with the bank's name and the distance (staff see all).
VIEW_YESNO = "yesno"
VIEW_CATEGORY = "category"
VIEW_LABEL = "label"
PLATFORM_VIEWS = (VIEW_YESNO, VIEW_CATEGORY, VIEW_LABEL)


class HashBank(Base):
    """A named hash list with its provenance."""

    __tablename__ = "hash_banks"
    # ids are never reused (SQLite would reuse the highest after a delete): the matcher caches per bank id
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(256), default="")  # who gave it to us (e.g. a partner hotline)
    terms: Mapped[str] = mapped_column(Text, default="")  # under which terms we may use and share it
    description: Mapped[str] = mapped_column(Text, default="")
    default_label: Mapped[str] = mapped_column(String(64), default=LABEL_REVIEW)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # +1 at every import (the index reloads the bank)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # entries per kind, refreshed by each import
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    # the partner's terms, as the bank enforces them (see MATCH_SCOPES and PLATFORM_VIEWS)
    match_scope: Mapped[str] = mapped_column(String(16), default=SCOPE_ALL)
    match_platforms: Mapped[list[Any]] = mapped_column(JSON, default=list)  # platform ids (scope "listed")
    platform_view: Mapped[str] = mapped_column(String(16), default=VIEW_LABEL)
    enabled_at: Mapped[datetime | None] = mapped_column(nullable=True)  # last re-enabled (None: since creation)


class BankEntry(Base):
    """One hash in a bank. ``hash`` is lower-case hex; for vPDQ it is the SHA-256 of the canonical frame
    list (to spot duplicates) and the frames are in ``frames``."""

    __tablename__ = "bank_entries"
    __table_args__ = (
        # one unique index serves both duplicate checks and look-ups by (kind, hash): a second index on
        # random hashes would double the cost of a million-row import
        UniqueConstraint("kind", "hash", "bank_id", name="uq_bank_entries_kind_hash_bank"),
        Index("ix_bank_entries_bank_kind", "bank_id", "kind", "id"),
        {"sqlite_autoincrement": True},  # an index hit names an entry id: it must never name another entry
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: the bank's default label
    # vPDQ only: [{"pdq": hex, "quality": 0-100, "ts": seconds}]
    frames: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    note: Mapped[str | None] = mapped_column(String(512), nullable=True)  # provenance of this one entry
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class HashMatch(Base):
    """A file of a report (or a hash sent with it) found in a bank."""

    __tablename__ = "hash_matches"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), nullable=True)
    bank_id: Mapped[int | None] = mapped_column(
        ForeignKey("hash_banks.id", ondelete="SET NULL"), nullable=True, index=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("bank_entries.id", ondelete="SET NULL"), nullable=True, index=True
    )
    bank_name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))
    distance: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(64))
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    bank: Mapped[HashBank | None] = relationship()


class RetroRun(Base):
    """A background match of the stored files against a bank's entries ``(after_entry_id, upto_entry_id]``,
    started by an import (the new entries) or a re-enable (all of them). ``last_attachment_id`` is where it
    resumes after a restart; ``heartbeat_at`` tells a live run from an abandoned one."""

    __tablename__ = "bank_retro_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"), index=True)
    bank_name: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(16))  # import | enable
    after_entry_id: Mapped[int] = mapped_column(Integer, default=0)
    upto_entry_id: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)  # files to check (known when it starts)
    done: Mapped[int] = mapped_column(Integer, default=0)
    last_attachment_id: Mapped[int] = mapped_column(Integer, default=0)
    reports_hit: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(128), default="")
