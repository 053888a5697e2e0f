"""A file coming in through a door (the JSON API, the panic button's report, the CyberTipline API): hashed,
kept sealed (or dropped), then attached to its report by ``tipline.intake.service.add_attachment``.

Hashing lives here, with the media capability, so intake (below the capabilities) imports no media module.
"""

from __future__ import annotations

from tipline.intake import service as intake
from tipline.intake.schemas import FileIn
from tipline.media import hashing, storage
from tipline.store import Database


def hashed(db: Database, file: FileIn, data: bytes) -> FileIn:
    """``file`` with every hash of ``data``: MD5, SHA-1, SHA-256; PDQ for an image (quality in
    ``details["pdq_quality"]``, its 8 rotated/mirrored variants in ``details["pdq_dihedral"]``); vPDQ of
    every frame of a video (``details["vpdq"]``, a list of ``{"pdq", "quality", "frame", "ts"}``). The media
    type is the sniffed one (the client's claim stays in ``details["claimed_media_type"]`` when it differs,
    and is used only when nothing was recognised). Decoded in a limited child process: a file over a limit,
    or a damaged picture, keeps its exact hashes and says why in ``details["hash_error"]``."""
    limits = hashing.MediaLimits.from_settings(db.settings)
    h = hashing.hash_bytes(data, filename=file.filename, strict=False, dihedral=True, limits=limits)
    details = dict(file.details)
    details.update(h.as_details())
    if h.pdq_dihedral is not None:
        # the 8 rotated/mirrored variants, so that analysis matches turned copies of banked images
        details["pdq_dihedral"] = h.pdq_dihedral
    if file.media_type and file.media_type != h.media_type:
        details["claimed_media_type"] = file.media_type
    return file.model_copy(
        update={
            "md5": h.md5,
            "sha1": h.sha1,
            "sha256": h.sha256,
            "size": h.size,
            "pdq": h.pdq,
            "media_type": h.media_type or file.media_type,
            "details": details,
        }
    )


def add_file(
    db: Database,
    report_id: int,
    file: FileIn,
    data: bytes | None,
    *,
    platform_id: int | None,
    open_only: bool = False,
) -> int:
    """Attach a file to a report (``tipline.intake.service.add_attachment`` says which reports take one);
    the attachment's id. With the bytes, they are hashed (:func:`hashed`), then kept encrypted or dropped
    (``settings.media_mode``, ``tipline.media.storage``). Hashing runs before the write transaction, which
    on SQLite would otherwise hold the one writer lock for as long as a video takes to decode; a refusal
    comes before the (possibly slow) hashing."""
    stored: str | None = None
    if data is not None:
        intake.check_file_allowed(db, report_id, platform_id=platform_id, open_only=open_only)
        file = hashed(db, file, data)
        stored = storage.store_blob(db, data)
    try:
        return intake.add_attachment(
            db,
            report_id,
            file,
            uploaded=data is not None,
            stored_path=stored,
            platform_id=platform_id,
            open_only=open_only,
        )
    except Exception:
        if stored is not None and not storage.blob_in_use(db, stored):
            storage.delete_blob(db, stored)
        raise
