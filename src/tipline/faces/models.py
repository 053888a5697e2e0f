"""Rows of face search (migration 0016; the tables stay empty while ``faces_enabled`` is off).

Every embedding is sealed like any field that describes a person (``SealedVector``: AES-GCM, bound to its
table, column and row); so are a gallery entry's label, provenance, legal basis and reason. Boxes, quality
and counts are not personal. The in-memory index (:mod:`tipline.faces.index`) is built from the opened
embeddings when the app starts and kept current as faces are added.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tipline.store.models import Base, utcnow
from tipline.store.types import SealedText


class SealedVector(SealedText):
    """A float32 vector sealed like :class:`SealedText` (little-endian bytes inside the seal)."""

    cache_ok = True

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        return np.asarray(value, dtype="<f4").tobytes()

    def decode(self, data: bytes) -> Any:
        return bytes(data)


class FaceGallery(Base):
    """A gallery of known people (missing or identified children, suspects), with why it exists."""

    __tablename__ = "face_galleries"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GalleryEntry(Base):
    """One enrolled reference face: who enrolled it, from what (provenance), under what legal basis, why."""

    __tablename__ = "face_gallery_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    gallery_id: Mapped[int] = mapped_column(ForeignKey("face_galleries.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(SealedText("face_gallery_entries.label"))
    provenance: Mapped[str] = mapped_column(SealedText("face_gallery_entries.provenance"))
    legal_basis: Mapped[str] = mapped_column(SealedText("face_gallery_entries.legal_basis"))
    reason: Mapped[str] = mapped_column(SealedText("face_gallery_entries.reason"))
    embedding: Mapped[bytes] = mapped_column(SealedVector("face_gallery_entries.embedding"))
    photo_sha256: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    box: Mapped[list[int]] = mapped_column(JSON)
    enrolled_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class FaceScan(Base):
    """That a stored file was searched for faces (once per file and model), and what came of it."""

    __tablename__ = "face_scans"
    id: Mapped[int] = mapped_column(primary_key=True)
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), unique=True)
    model: Mapped[str] = mapped_column(String(64))
    faces: Mapped[int] = mapped_column(Integer, default=0)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaceGroup(Base):
    """An "unknown person": faces close to each other across two or more reports. Its links join the graph's
    networks only once an analyst confirms the group (``status`` confirmed); dismissed groups never link."""

    __tablename__ = "face_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | confirmed | dismissed
    reports: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Face(Base):
    """A face found in a report's stored file (a picture, or a frame of a video)."""

    __tablename__ = "faces"
    __table_args__ = (Index("ix_faces_report", "report_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    frame: Mapped[int | None] = mapped_column(Integer, nullable=True)
    box: Mapped[list[int]] = mapped_column(JSON)
    quality: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(SealedVector("faces.embedding"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("face_groups.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
