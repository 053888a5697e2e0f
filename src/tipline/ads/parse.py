"""Reading ads to import: JSON lines, or CSV with the same fields. A bad line is reported with its line
number and never stops the good ones."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tipline import strict_json
from tipline.store.types import Instant

_PDQ = re.compile(r"[0-9a-f]{64}")


def is_path(image: str) -> bool:
    """An ``images`` entry that names a file (it has a folder or an extension), not a PDQ hash."""
    return "/" in image or "\\" in image or "." in image


FIELDS = ("ad_id", "posted_at", "site", "city", "country", "title", "text", "url", "images")


class AdIn(BaseModel):
    """One ad as a site shows it. ``ad_id`` is the site's own id, kept as given; (site, ad_id) is unique."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    ad_id: str = Field(min_length=1, max_length=200)
    posted_at: Instant
    site: str = Field(min_length=1, max_length=200)
    city: str = Field(default="", max_length=200)
    country: str = Field(default="", max_length=2)
    title: str = Field(default="", max_length=1000)
    text: str = Field(default="", max_length=50_000)
    url: str | None = Field(default=None, max_length=2000)
    images: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("posted_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        if v and (len(v) != 2 or not v.isalpha()):
            raise ValueError("country must be a two-letter ISO 3166 code, e.g. IT, PH, US")
        return v.upper()

    @field_validator("site")
    @classmethod
    def _site(cls, v: str) -> str:
        return v.lower()

    @field_validator("images", mode="before")
    @classmethod
    def _images(cls, v: Any) -> Any:
        if isinstance(v, str):  # CSV: one cell, separated by spaces or semicolons
            return [x for x in v.replace(";", " ").split() if x]
        return v

    @field_validator("images")
    @classmethod
    def _image_kinds(cls, v: list[str]) -> list[str]:
        out = []
        for i, x in enumerate(v):
            if is_path(x):
                out.append(x)
            elif _PDQ.fullmatch(x.lower()):
                out.append(x.lower())
            else:
                raise ValueError(
                    f"image {i + 1} ({x[:70]!r}) is neither a PDQ hash (64 hexadecimal characters, {len(x)} given) "
                    "nor a file path (a name with an extension, such as photos/ad-1.jpg)"
                )
        return out

    def text_all(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str


def _why(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "line"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def read_lines(data: bytes, fmt: str | None = None, name: str = "") -> Iterator[tuple[int, AdIn | BadLine]]:
    """(line number, ad or bad line) for each record; ``fmt`` ``jsonl``/``csv`` or guessed from ``name``
    and the first byte."""
    text = data.decode("utf-8-sig", errors="replace")
    if fmt is None:
        fmt = "csv" if name.lower().endswith(".csv") or (text[:1] not in ("{", "[", " ", "\n", "")) else "jsonl"
    if fmt == "csv":
        yield from _csv(text)
    elif fmt == "jsonl":
        yield from _jsonl(text)
    else:
        raise ValueError(f"unknown format {fmt!r}: use jsonl or csv")


def _jsonl(text: str) -> Iterator[tuple[int, AdIn | BadLine]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = strict_json.loads(line)
        except strict_json.READ_ERRORS as e:
            yield n, BadLine(n, strict_json.problem(e))
            continue
        if not isinstance(obj, dict):
            yield n, BadLine(n, 'not a JSON object: each line must be one ad {"ad_id": ..., ...}')
            continue
        try:
            yield n, AdIn.model_validate(obj)
        except ValidationError as e:
            yield n, BadLine(n, _why(e))


def _csv(text: str) -> Iterator[tuple[int, AdIn | BadLine]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [f for f in ("ad_id", "posted_at", "site") if f not in (reader.fieldnames or [])]
    if missing:
        yield 1, BadLine(1, f"the CSV header lacks {', '.join(missing)}; expected columns: {', '.join(FIELDS)}")
        return
    for row in reader:
        n = reader.line_num
        if None in row:
            yield n, BadLine(n, "more cells than header columns")
            continue
        clean = {k: v for k, v in row.items() if k and v not in (None, "")}
        try:
            yield n, AdIn.model_validate(clean)
        except ValidationError as e:
            yield n, BadLine(n, _why(e))
