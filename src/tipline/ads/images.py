"""An ad's pictures: PDQ hashes as given, or files hashed with the media capability's own PDQ code, and
the identifiers they give the entity graph (``tipline.media.links``: near copies name one entity, flat
pictures name none)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipline.media import links
from tipline.media.hashing import MediaError, MediaLimits, hash_file
from tipline.settings import Settings
from tipline.store import Database

from .parse import AdIn, BadLine, is_path


@dataclass(frozen=True)
class Picture:
    pdq: str  # 64 lowercase hex
    quality: int | None  # 0-100 when a file was hashed here; None for a hash as given
    file: str | None = None  # the file's name (never its folder) when a file was hashed

    def stored(self, links_: bool) -> dict[str, Any]:
        return {"pdq": self.pdq, "quality": self.quality, "file": self.file, "links": links_}


def _hash_one(image: str, files_from: Path | None, settings: Settings) -> Picture | str:
    """A picture, or why the entry cannot be read (said to the person who imports)."""
    if not is_path(image):
        return Picture(image, None)
    if files_from is None:
        return f"{image[:70]!r} is a file path: this way in takes PDQ hashes only (64 hexadecimal characters)"
    path = Path(image) if Path(image).is_absolute() else files_from / image
    if not path.is_file():
        return f"no file {image!r} (a relative path is read from the import file's folder)"
    try:
        h = hash_file(path, limits=MediaLimits.from_settings(settings))
    except (MediaError, OSError) as e:
        return f"{image!r} could not be hashed: {e}"
    if h.pdq is None:
        return f"{image!r} is not a picture tipline can hash (PNG, JPEG, GIF, WebP, ...)"
    return Picture(h.pdq, h.pdq_quality, path.name)


def read_pictures(
    ads: Sequence[tuple[int, AdIn]], settings: Settings, files_from: Path | None
) -> tuple[list[tuple[int, AdIn, list[Picture]]], list[BadLine]]:
    """Each ad with its pictures; an ad with an image that cannot be read is a bad line (the others go on).
    ``files_from``: the folder relative file paths are read from; None: file paths are refused (the API)."""
    good: list[tuple[int, AdIn, list[Picture]]] = []
    bad: list[BadLine] = []
    for n, ad in ads:
        pics: list[Picture] = []
        errors: list[str] = []
        for i, image in enumerate(ad.images, 1):
            got = _hash_one(image, files_from, settings)
            if isinstance(got, Picture):
                pics.append(got)
            else:
                errors.append(f"images: image {i}: {got}")
        if errors:
            bad.append(BadLine(n, "; ".join(errors)))
        else:
            good.append((n, ad, pics))
    return good, bad


def representatives(db: Database, pictures: Sequence[Picture]) -> dict[str, str]:
    """Each usable picture's hash -> the ``pdq`` entity value it names (``tipline.media.links``)."""
    hashes = [p.pdq for p in pictures if links.usable(p.quality, db.settings)]
    if not hashes:
        return {}
    with db.reader() as s:
        return links.representatives(s, hashes, db.settings.pdq_threshold)


def identifiers(pictures: Sequence[Picture], reps: dict[str, str], settings: Settings) -> list[tuple[str, str, str]]:
    """The ``(kind, value, field)`` identifiers of an ad's pictures (flat ones name nothing)."""
    return [
        (links.KIND, reps[p.pdq], f"images[{i}]")
        for i, p in enumerate(pictures)
        if p.pdq in reps and links.usable(p.quality, settings)
    ]
