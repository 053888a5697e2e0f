"""What the safe media viewer (``tipline.media.viewer``, its pages) asks of the store: a stored file's
facts, and one preview or view rendered in the limited child process and audited before the bytes leave.
"""

from __future__ import annotations

from dataclasses import dataclass

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal
from tipline.media import hashing, storage
from tipline.media.isolate import ChildFailed, run_limited
from tipline.media.preview import preview_image
from tipline.store import Database
from tipline.store.models import Attachment

__all__ = ["MediaItem", "NoMedia", "media_item", "render_for"]


class NoMedia(LookupError):
    """No such attachment, or nothing that can be shown for it."""


@dataclass(frozen=True)
class MediaItem:
    id: int
    report_id: int
    origin: str
    kind: str  # image | video | other | unknown (hashes sent without the file)
    media_type: str | None
    size: int | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    pdq: str | None
    pdq_quality: int | None
    vpdq_frames: int
    width: int | None
    height: int | None
    hash_error: str | None
    stored_path: str | None
    kept: bool  # the bytes are stored and this installation shows them
    showable: bool  # kept, and an image or a video


def media_item(db: Database, attachment_id: int) -> MediaItem:
    with db.reader() as s:
        a = s.get(Attachment, attachment_id)
        if a is None:
            raise NoMedia(f"no file {attachment_id}")
        d = a.details or {}
        kind = str(d.get("kind") or ("unknown" if a.origin == "hash" else "other"))
        kept = a.stored_path is not None and db.settings.media_mode == "encrypt"
        return MediaItem(
            id=a.id,
            report_id=a.report_id,
            origin=a.origin,
            kind=kind,
            media_type=a.media_type,
            size=a.size,
            md5=a.md5,
            sha1=a.sha1,
            sha256=a.sha256,
            pdq=a.pdq,
            pdq_quality=d.get("pdq_quality"),
            vpdq_frames=len(d.get("vpdq") or []),
            width=d.get("width"),
            height=d.get("height"),
            hash_error=d.get("hash_error"),
            stored_path=a.stored_path,
            kept=kept,
            showable=kept and kind in ("image", "video"),
        )


def _best_frame(db: Database, attachment_id: int) -> int:
    """The frame number vPDQ rated best (most detail): a black first frame says nothing."""
    with db.reader() as s:
        a = s.get(Attachment, attachment_id)
        frames = ((a.details or {}).get("vpdq") or []) if a is not None else []
    best = max(frames, key=lambda f: (f.get("quality", 0), -f.get("frame", 0)), default=None)
    return int(best["frame"]) if best else 0


def render_for(db: Database, user: Principal, item: MediaItem, *, blurred: bool) -> bytes:
    """Decrypt, render and audit one preview or view (the audit event commits before the bytes leave)."""
    if not item.showable or item.stored_path is None:
        raise NoMedia("this file was not kept")
    data = storage.load_blob(db, item.stored_path)
    frame = _best_frame(db, item.id) if item.kind == "video" else 0
    limits = hashing.MediaLimits.from_settings(db.settings)
    try:  # decoded in the limited child process, like hashing
        png = run_limited(
            preview_image, (data, item.kind, blurred, frame, limits.max_pixels), limits.process, what="the file"
        )
    except ChildFailed as e:
        raise hashing.MediaLimitError(str(e), limit=e.limit) from None
    accounts.audited(
        db, user, "media.preview" if blurred else "media.view", "attachment", item.id, report_id=item.report_id
    )
    return png
