"""Face search services: scan report media, enrol reference faces in galleries, search, view a result.

Guard rails (README "Face search"), enforced here so that every front end gets them:

* **off by default**: while ``faces_enabled`` is false every function refuses with :class:`FacesDisabled`
  (nothing detected, stored, enrolled or searched);
* **supervisors only** enrol, search, view a result and export the provenance (:class:`FacesDenied`,
  itself an audit event ``faces.denied``);
* **every step is an audit event with its reason** (``faces.enrol``, ``faces.search``, ``faces.view``,
  ``faces.export``, ``faces.group``), written in the same transaction as what it records;
* **only report media**: faces come from files attached to reports and from the photos supervisors enrol;
  nothing reads staff or reporter accounts, and no attribute but identity is estimated;
* **retention**: faces and gallery entries older than ``faces_retention_days`` are deleted
  (:func:`forget_old`, a retention step).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.errors import NotFound
from tipline.faces.detect import DetectedFace, FacesError, faces_in_bytes
from tipline.faces.guard import FacesDenied, FacesDisabled, band, require_enabled
from tipline.faces.index import FaceIndex
from tipline.faces.model import MODEL_NAME
from tipline.faces.models import Face, FaceGallery, FaceScan, GalleryEntry
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Attachment

log = logging.getLogger(__name__)

__all__ = [
    "FacesDenied",
    "FacesDisabled",
    "FacesError",
    "Match",
    "SearchResult",
    "band",
    "enrol",
    "export_provenance",
    "forget_old",
    "check_actor",
    "index_for",
    "scan_attachment",
    "scan_pending",
    "search",
    "view_result",
]

REASON_MIN = 8


def check_actor(db: Database, actor: Principal, action: str) -> None:
    """Face search is on and ``actor`` may do ``action`` (a supervisor, or the host operator's CLI); a
    refused attempt is audited. The web layer calls it before it reads an uploaded photo."""
    require_enabled(db.settings)
    if not (actor.kind == "cli" or actor.can(Role.SUPERVISOR)):  # cli: the host operator (tipline.faces.cli)
        accounts.audited(db, actor, "faces.denied", "faces", None, wanted=action)
        raise FacesDenied(f"only supervisors may {action.replace('_', ' ')} faces (your role: {actor.role.value})")


def _check(db: Database, actor: Principal, action: str, reason: str) -> str:
    check_actor(db, actor, action)
    reason = " ".join((reason or "").split())
    if len(reason) < REASON_MIN:
        raise ValueError(
            f"give the reason for this {action} (at least {REASON_MIN} characters): it goes in the audit log"
        )
    return reason


def _vec(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4")


# ------------------------------------------------------------------------------------------ index


@dataclass
class _Loaded:
    index: FaceIndex
    last_id: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _load_since(db: Database, loaded: _Loaded) -> int:
    """Append the faces added since the last load (by any process); the number of faces in the database."""
    with db.reader() as s:
        count = int(s.scalar(select(func.count()).select_from(Face)) or 0)
        rows = s.execute(select(Face.id, Face.embedding).where(Face.id > loaded.last_id).order_by(Face.id)).all()
    if rows:
        loaded.index.add([r[0] for r in rows], np.stack([_vec(r[1]) for r in rows]))
        loaded.last_id = int(rows[-1][0])
    return count


def index_for(db: Database) -> FaceIndex:
    """The index of report faces of this database (kept by the database object), brought up to date: faces
    added since are appended; when some were deleted (retention, a deleted report) it is built again."""
    loaded = db.resource("faces.index", lambda: _Loaded(FaceIndex()))
    with loaded.lock:
        if _load_since(db, loaded) != len(loaded.index):
            loaded.index, loaded.last_id = FaceIndex(), 0
            _load_since(db, loaded)
        return loaded.index


# ------------------------------------------------------------------------------------------ scanning


@dataclass(frozen=True)
class ScanSummary:
    files: int
    faces: int
    errors: int


def _faces_of_file(db: Database, att: Attachment) -> tuple[list[DetectedFace], int, str | None]:
    from tipline.media import storage

    if not att.stored_path:
        return [], 0, "the file's bytes are not kept (media_mode hashes_only or hashes sent without a file)"
    try:
        data = storage.load_blob(db, att.stored_path)
        found = faces_in_bytes(data, db.settings)
    except (FacesError, storage.MediaStorageError) as e:
        return [], 0, str(e)[:500]
    return found.faces, found.frames, None


def scan_attachment(db: Database, attachment_id: int) -> int:
    """Find and keep the faces of one stored file (once: a file already scanned is left alone). The file is
    decoded in the limited child before the write transaction. Returns how many faces it has."""
    require_enabled(db.settings)
    with db.reader() as s:
        att = s.get(Attachment, attachment_id)
        if att is None:
            raise NotFound(f"no file {attachment_id}")
        done = s.scalar(select(FaceScan.faces).where(FaceScan.attachment_id == attachment_id))
        if done is not None:
            return int(done)
        report_id = att.report_id
        faces, frames, error = _faces_of_file(db, att)
    try:
        new_ids = _keep_faces(db, attachment_id, report_id, faces, frames, error)
    except IntegrityError:  # another process scanned the file meanwhile (face_scans: one row per file)
        return len(faces)
    if new_ids:  # recurring faces across reports: unknown-person groups (linked once an analyst confirms)
        from tipline.faces.groups import group_faces

        group_faces(db, new_ids, index_for(db))
    return len(faces)


def _keep_faces(
    db: Database, attachment_id: int, report_id: int, faces: list[DetectedFace], frames: int, error: str | None
) -> list[int]:
    with db.session() as s:
        if s.scalar(select(FaceScan.id).where(FaceScan.attachment_id == attachment_id)) is not None:
            return []  # another process scanned it meanwhile
        s.add(FaceScan(attachment_id=attachment_id, model=MODEL_NAME, faces=len(faces), frames=frames, error=error))
        rows = [
            Face(
                attachment_id=attachment_id,
                report_id=report_id,
                frame=f.frame,
                box=list(f.box),
                quality=f.quality,
                embedding=f.embedding,
            )
            for f in faces
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def scan_pending(db: Database, *, limit: int | None = None) -> ScanSummary:
    """Scan every stored picture and video of the reports not scanned yet (oldest first)."""
    require_enabled(db.settings)
    with db.reader() as s:
        q = (
            select(Attachment.id)
            .where(Attachment.stored_path.is_not(None), ~Attachment.id.in_(select(FaceScan.attachment_id)))
            .order_by(Attachment.id)
        )
        ids = list(s.scalars(q.limit(limit) if limit else q))
    faces = errors = 0
    for aid in ids:
        n = scan_attachment(db, aid)
        faces += n
    with db.reader() as s:
        errors = int(
            s.scalar(
                select(func.count())
                .select_from(FaceScan)
                .where(FaceScan.attachment_id.in_(ids), FaceScan.error.is_not(None))
            )
            or 0
        )
    return ScanSummary(files=len(ids), faces=faces, errors=errors)


# ------------------------------------------------------------------------------------------ galleries


def _one_face(photo: bytes, settings: Settings, *, what: str) -> DetectedFace:
    found = faces_in_bytes(photo, settings)
    if found.kind != "image":
        raise FacesError(f"the {what} is not a picture tipline decodes (JPEG, PNG, WebP, ...)")
    if not found.faces:
        raise FacesError(f"no face was found in the {what}: use a clearer, frontal photo of at least 80 x 80 pixels")
    return max(found.faces, key=lambda f: f.box[2] * f.box[3])


@dataclass(frozen=True)
class Enrolled:
    entry_id: int
    gallery: str
    quality: int
    box: tuple[int, int, int, int]


def enrol(
    db: Database,
    actor: Principal,
    gallery: str,
    photo: bytes,
    *,
    reason: str,
    label: str = "",
    provenance: str = "",
    legal_basis: str = "",
) -> Enrolled:
    """Enrol the one face of ``photo`` in ``gallery`` (made on first use), with its provenance and legal basis."""
    reason = _check(db, actor, "enrol", reason)
    gallery = gallery.strip()
    if not gallery or len(gallery) > 100:
        raise ValueError("give a gallery name of 1 to 100 characters (for example missing-2026)")
    found = faces_in_bytes(photo, db.settings)
    if found.kind != "image":
        raise FacesError("the photo is not a picture tipline decodes (JPEG, PNG, WebP, ...)")
    if len(found.faces) != 1:
        raise FacesError(
            f"the photo shows {len(found.faces)} faces; a reference photo must show exactly one: "
            "crop it to the person to enrol"
            if found.faces
            else "no face was found in the photo: use a clearer, frontal photo of at least 80 x 80 pixels"
        )
    face = found.faces[0]
    now = datetime.now(UTC)
    with db.session() as s:
        g = s.scalar(select(FaceGallery).where(FaceGallery.name == gallery))
        if g is None:
            g = FaceGallery(name=gallery, created_by=actor.label)
            s.add(g)
            s.flush()
        entry = GalleryEntry(
            gallery_id=g.id,
            label=label.strip() or "(no label)",
            provenance=provenance.strip() or "(not given)",
            legal_basis=legal_basis.strip() or "(not given)",
            reason=reason,
            embedding=face.embedding,
            photo_sha256=hashlib.sha256(photo).hexdigest(),
            quality=face.quality,
            box=list(face.box),
            enrolled_by=actor.label,
            created_at=now,
            expires_at=now + timedelta(days=db.settings.faces_retention_days),
        )
        s.add(entry)
        s.flush()
        accounts.record(s, actor, "faces.enrol", "face_gallery_entry", entry.id, gallery=gallery, reason=reason)
        return Enrolled(entry.id, gallery, face.quality, face.box)


# ------------------------------------------------------------------------------------------ search


@dataclass(frozen=True)
class Match:
    face_id: int
    report_id: int
    attachment_id: int
    distance: float
    band: str
    quality: int
    frame: int | None
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class SearchResult:
    query_box: tuple[int, int, int, int]
    query_quality: int
    threshold: float
    index: str
    matches: list[Match]


def _matches(db: Database, hits: list[Any], threshold: float) -> list[Match]:
    if not hits:
        return []
    dist = {h.key: h.distance for h in hits}
    with db.reader() as s:
        rows = s.execute(
            select(Face.id, Face.report_id, Face.attachment_id, Face.quality, Face.frame, Face.box).where(
                Face.id.in_(list(dist))
            )
        ).all()
    out = [
        Match(fid, rid, aid, round(dist[fid], 4), band(dist[fid], threshold), q, fr, (b[0], b[1], b[2], b[3]))
        for fid, rid, aid, q, fr, b in rows
    ]
    return sorted(out, key=lambda m: (m.distance, m.face_id))


def search(db: Database, actor: Principal, photo: bytes, *, reason: str, limit: int = 50) -> SearchResult:
    """Report media with faces near the (largest) face of ``photo``, best first, within the threshold."""
    reason = _check(db, actor, "search", reason)
    face = _one_face(photo, db.settings, what="photo")
    idx = index_for(db)
    threshold = db.settings.faces_threshold
    hits = idx.search(_vec(face.embedding), k=limit, max_distance=threshold)
    matches = _matches(db, hits, threshold)
    with db.session() as s:
        accounts.record(
            s,
            actor,
            "faces.search",
            "faces",
            None,
            reason=reason,
            photo_sha256=hashlib.sha256(photo).hexdigest(),
            matches=len(matches),
            reports=sorted({m.report_id for m in matches}),
        )
    return SearchResult(face.box, face.quality, threshold, idx.kind, matches)


def view_result(db: Database, actor: Principal, face_id: int, *, reason: str) -> Match:
    """One search result opened (audited with its reason); the picture itself opens in the media viewer."""
    reason = _check(db, actor, "view", reason)
    with db.session() as s:
        f = s.get(Face, face_id)
        if f is None:
            raise NotFound(f"no face {face_id}")
        m = Match(
            f.id, f.report_id, f.attachment_id, 0.0, "", f.quality, f.frame, (f.box[0], f.box[1], f.box[2], f.box[3])
        )
        accounts.record(s, actor, "faces.view", "face", f.id, report_id=f.report_id, reason=reason)
    return m


# ------------------------------------------------------------------------------------------ oversight, retention


def export_provenance(db: Database, actor: Principal, *, reason: str) -> list[dict[str, Any]]:
    """Every gallery entry's provenance for oversight (no embedding, no photo): audited."""
    reason = _check(db, actor, "export", reason)
    with db.session() as s:
        rows = s.execute(
            select(GalleryEntry, FaceGallery.name).join(FaceGallery, FaceGallery.id == GalleryEntry.gallery_id)
        ).all()
        out = [
            {
                "entry_id": e.id,
                "gallery": name,
                "label": e.label,
                "provenance": e.provenance,
                "legal_basis": e.legal_basis,
                "reason": e.reason,
                "enrolled_by": e.enrolled_by,
                "enrolled_at": e.created_at.isoformat(),
                "expires_at": e.expires_at.isoformat(),
                "photo_sha256": e.photo_sha256,
                "quality": e.quality,
            }
            for e, name in rows
        ]
        accounts.record(s, actor, "faces.export", "faces", None, reason=reason, entries=len(out))
    return sorted(out, key=lambda d: d["entry_id"])


def forget_old(s: Session, settings: Settings, _entity_ids: set[int]) -> None:
    """Retention step: faces of report media and gallery entries past ``faces_retention_days`` (entries by
    their own expiry) are deleted, whether or not face search is on now."""
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=settings.faces_retention_days)
    s.execute(delete(Face).where(Face.created_at < cutoff))
    s.execute(delete(GalleryEntry).where(GalleryEntry.expires_at < now))
