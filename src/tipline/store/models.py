"""Row models. They stay inside services: web and CLI see the pydantic shapes in ``intake.schemas``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy import (
    true as sa_true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from tipline.store.types import SealedJSON, SealedText, UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Platform(Base):
    """An electronic service provider that reports by API (JSON, CyberTipline XML, panic button)."""

    __tablename__ = "platforms"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # High-entropy generated secrets: a SHA-256 digest is enough (argon2 is for human passwords) and
    # keeps per-request authentication fast enough for the panic button.
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cybertip_username: Mapped[str] = mapped_column(String(64), unique=True)
    cybertip_password_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # each credential can be disabled (and enabled again) or rotated on its own (accounts.service)
    api_key_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    cybertip_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    api_key_rotated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cybertip_rotated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | supervisor | analyst | platform
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # slots for the protection issue (MFA): kept here so the migration history stays linear
    totp_secret_sealed: Mapped[str | None] = mapped_column(SealedText("users.totp_secret"), nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # MFA (tipline.accounts.service): the secret above is confirmed once ``mfa_enabled``; the last TOTP
    # time step accepted, so that a code is never accepted twice
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ApiToken(Base):
    """A staff bearer token for the JSON API (SHA-256 of a random token; the token is shown once)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # the most the token may do (a staff role; the user's own role caps it too). Above analyst only when
    # the user gave a second-factor code as the token was made (accounts.service.issue_token)
    scope: Mapped[str] = mapped_column(String(16), default="analyst", server_default="analyst")
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user: Mapped[User] = relationship()


class StaffSession(Base):
    """A server-side login session for the staff pages (the cookie carries only its random id)."""

    __tablename__ = "staff_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    csrf_token: Mapped[str] = mapped_column(String(64))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # "password": password right, second factor still to give; "enrol": must enrol a second factor
    # before anything else; "full": logged in
    stage: Mapped[str] = mapped_column(String(16), default="full", server_default="full")
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user: Mapped[User] = relationship()


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("platform_id", "external_id", name="uq_reports_platform_external"),
        Index("ix_reports_queue", "submission_state", "status", "priority", "received_at"),
        # the analysis workers' backlog, in the order they take it (tipline.intake.worker)
        Index(
            "ix_reports_waiting",
            "priority",
            "id",
            sqlite_where=sql_text("analysed_at IS NULL"),
            postgresql_where=sql_text("analysed_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[int] = mapped_column(Integer, default=3)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(SealedText("reports.text"), default="")
    language: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    is_live: Mapped[bool] = mapped_column(Boolean, default=False)
    escalate: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    incident_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    receipt_lookup: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    contact_sealed: Mapped[str | None] = mapped_column(SealedText("reports.contact"), nullable=True)
    # people named by the report (victims, reporters, suspects) and the whole source document (a
    # CyberTipline report keeps its narratives, names, ages, e-mails and IPs here): sealed like the text
    persons: Mapped[list[Any]] = mapped_column(SealedJSON("reports.persons"), default=list)
    urls: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(SealedJSON("reports.details"), default=dict)
    classification: Mapped[str | None] = mapped_column(String(32), nullable=True)
    age_band: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # complete | open (CyberTipline submission not finished) | retracted
    submission_state: Mapped[str] = mapped_column(String(16), default="complete")
    analysed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # the shift (tipline.reports.shift): who owns the report, since when, when staff first acted on it
    # (claimed, assigned, status changed), and free labels
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_reports_assignee"), nullable=True, index=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_action_at: Mapped[datetime | None] = mapped_column(nullable=True)
    labels: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")

    platform: Mapped[Platform | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    attachments: Mapped[list[Attachment]] = relationship(back_populates="report", order_by="Attachment.id")
    mentions: Mapped[list[Mention]] = relationship(back_populates="report", order_by="Mention.id")
    # read with the report by the analysis workers (one statement a report fewer); written as FollowUp rows
    followups: Mapped[list[FollowUp]] = relationship(order_by="FollowUp.id", viewonly=True)


class Attachment(Base):
    """A file of a report: uploaded (``origin='upload'``) or known only by hashes (``origin='hash'``)."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(16), default="hash")
    # sealed: an original file name can name a person; the details keep the CyberTipline file details
    # (uploader IP capture events, EXIF) beside the hashing results
    filename: Mapped[str | None] = mapped_column(SealedText("attachments.filename"), nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    sha1: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stored_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(SealedJSON("attachments.details"), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    report: Mapped[Report] = relationship(back_populates="attachments")


#: entity kinds whose value is a keyed blind index (a person's name as an HMAC, ``Keyring.name_index``): they
#: find matches (a payment alert that names a reported person) but are never listed (their value is a hash)
BLIND_KINDS: tuple[str, ...] = ("name",)


class Entity(Base):
    """One identifier in its normal form (``kind`` + ``value``), shared by every report that names it."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_entities_kind_value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(512))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    # the reports that name it linkably (a mention with ``linkable``): an ambiguous reading, a known picture
    # or an unconfirmed face group names an entity without linking through it. Both counts are kept by
    # difference as analysis writes a report's mentions (``intake.service.count_by_difference``), and
    # recounted where other paths rewrite mentions (``refresh_entity_stats``)
    linkable_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # evidence items (``tipline.evidence``: ads, payments, partners' records) that name it; the graph's
    # guard limits ``report_count + evidence_count`` (see ``degree``)
    evidence_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @hybrid_property
    def degree(self) -> int:
        """Reports and evidence items that name it: what the graph's degree limits count."""
        return int(self.report_count or 0) + int(self.evidence_count or 0)

    @degree.inplace.expression
    @classmethod
    def _degree_expression(cls) -> ColumnElement[int]:
        return cls.report_count + cls.evidence_count


class Mention(Base):
    """Where a report names an entity: a field (``text`` or a structured path) and, for text, a span."""

    __tablename__ = "mentions"
    __table_args__ = (
        Index("ix_mentions_entity_report", "entity_id", "report_id"),
        # the few mentions that link nothing, by report: the readings to check again (intake.service._WAITING);
        # the condition as that query writes it (SQLite uses a partial index only for the same term)
        Index(
            "ix_mentions_unlinked",
            "report_id",
            sqlite_where=sql_text("linkable IS 0"),
            postgresql_where=sql_text("linkable IS false"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(128))
    start: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    # how the value was written when not plainly ("words,letters"; see tipline.extract.DISGUISES)
    disguise: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the other readings of an ambiguous value: [[value, confidence], ...], best first
    alternatives: Mapped[list[Any] | None] = mapped_column(nullable=True)
    # False for an ambiguous reading not yet confirmed (by another identifier or an analyst): the
    # entity is known but the graph does not link reports through this mention
    linkable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    entity: Mapped[Entity] = relationship()
    report: Mapped[Report] = relationship(back_populates="mentions")


class FollowUp(Base):
    """A message on a report after intake: from the reporter (by receipt) or from staff to the reporter."""

    __tablename__ = "followups"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(16))  # reporter | staff
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    body: Mapped[str] = mapped_column(SealedText("followups.body"))


class AnalysisFailure(Base):
    """A report whose analysis failed: the workers try it again every minute, and ``tipline status`` and the
    queue page count it while it still waits (a row of a report analysed since is ignored, and deleted by the
    next failure's record). Only the error's type is kept: an error's message can quote the report."""

    __tablename__ = "analysis_failures"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=1)
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    error: Mapped[str] = mapped_column(String(200))  # the exception's type, e.g. builtins.KeyError


class ReportNote(Base):
    """An analyst's internal note on a report (never shown to the reporter)."""

    __tablename__ = "report_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[str] = mapped_column(SealedText("report_notes.body"))
    user: Mapped[User | None] = relationship()


class AuditEvent(Base):
    """Who did what to which object, when. ``prev_hash``/``hash`` are kept for the tamper-evident chain."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # position in the hash chain (tipline.audit)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the hash format (tipline.audit.HASH_VERSION); empty: format 1, before actor_user_id was hashed
    hash_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class InstanceMeta(Base):
    """Per-installation values that every app node must share (e.g. the receipt-lookup salt)."""

    __tablename__ = "instance_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RecoveryCode(Base):
    """A single-use MFA recovery code of a staff user (Argon2id digest; the code is shown once)."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class MasterKeyState(Base):
    """Which master key seals (``active``, one row) and which are ``retired`` (never to seal again): read by
    every transaction that seals (``tipline.store.sealing``), written by ``tipline keys rotate``."""

    __tablename__ = "master_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # active | retired
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SealingProcess(Base):
    """A running server and the master key it seals with now (its heartbeat): ``--retire`` waits for
    every live one to seal with the new key."""

    __tablename__ = "sealing_processes"
    id: Mapped[str] = mapped_column(String(160), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SavedFilter(Base):
    """A queue filter a user saved under a name (the query string of /queue); each user sees their own."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_filters_user_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffNotification(Base):
    """Something a staff member must see (kind ``overdue``: a report past its time-to-first-action
    target), once per user, report and kind."""

    __tablename__ = "staff_notifications"
    __table_args__ = (UniqueConstraint("user_id", "report_id", "kind", name="uq_staff_notifications_once"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)
