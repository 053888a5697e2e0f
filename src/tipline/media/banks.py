"""Hash banks: named hash lists with provenance, imported from files or from a folder of media.

An import is checked in full before anything is stored: every line is parsed and validated, and a file
with bad lines is refused as a whole, with each bad line named (line number and problem). A clean file is
then stored in chunks of :data:`CHUNK` rows, each in its own short transaction, so that a million-line
import never holds SQLite's single write lock for long (the panic button and the doors keep answering).
Entries a bank already holds (same kind and hash) are skipped and counted as duplicates.

Every change (create, import, enable, disable, delete) changes the installation's *banks version* (a
random token in ``instance_meta``) in the same transaction. The in-process matcher of every app node
compares it on each call and reloads what changed (:mod:`tipline.media.matching`).

File formats (UTF-8; blank lines and lines starting with ``#`` are skipped):

* CSV: ``kind,hash[,label]``, an optional ``kind,hash,label`` header. ``kind`` is md5, sha1, sha256, pdq or
  vpdq; ``hash`` is hex (any case); a vPDQ ``hash`` is its frames separated by ``;`` or spaces, each
  ``pdqhex[:quality[:seconds]]``.
* JSON lines: ``{"kind": ..., "hash": ..., "label": ..., "note": ...}``; a vPDQ ``hash`` may also be a list
  of frames (``{"pdq", "quality", "ts"}`` objects or HMA's ``"pdqhex,quality,seconds"`` strings).

Don't: store file names of imported media (they are often explicit), log hashes with report data, or
bypass :func:`_bump` when changing banks (the app nodes would keep matching against old lists).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tipline import strict_json
from tipline.accounts.service import Principal, record
from tipline.media.models import (
    HASH_KINDS,
    MATCH_SCOPES,
    PLATFORM_VIEWS,
    SCOPE_LISTED,
    BankEntry,
    HashBank,
    RetroRun,
)
from tipline.media.models import LABEL_REVIEW as LABEL_REVIEW  # the label for entries to be reviewed
from tipline.media.models import STANDARD_LABELS as STANDARD_LABELS  # the labels the bank pages offer
from tipline.store import Database
from tipline.store.models import InstanceMeta
from tipline.store.upsert import insert_for

if TYPE_CHECKING:  # hashing loads numpy and Pillow: only the file imports need it
    from tipline.media.hashing import MediaLimits

VERSION_KEY = "media.banks_version"
CHUNK = 20_000  # rows per insert transaction (about 0.3 s of SQLite write lock)
MAX_ERRORS = 50  # bad lines named in one refusal (the total is always given)
MAX_LINE_CHARS = 8_000_000  # a vPDQ line of a 10-hour video at one frame a second is ~2.6 MB
MAX_FRAMES = 100_000

_HEX = re.compile(r"^[0-9a-f]+$")
_NAME = re.compile(r"^[\w][\w .\-()]{0,127}$")
_LABEL = re.compile(r"^[\w][\w \-]{0,63}$")
_KIND_ALIASES = {"sha-1": "sha1", "sha-256": "sha256", "md-5": "md5"}
_JSON_KEYS = {"kind", "hash", "label", "note", "frames", "quality"}

Progress = Callable[[str, int, int | None], None]  # (stage, done, total or None)


class BankError(ValueError):
    """A bank operation that cannot be done; the message says why and what to do."""


class BankImportError(BankError):
    """A file with bad lines; nothing of it was stored. ``errors``: (line number, problem), the first ones."""

    def __init__(self, errors: list[tuple[int, str]], total: int, lines: int) -> None:
        self.errors = errors
        self.total = total
        self.lines = lines
        shown = "; ".join(f"line {n}: {msg}" for n, msg in errors[:5])
        more = f" (and {total - 5} more bad lines)" if total > 5 else ""
        super().__init__(f"{total} of {lines} lines are not valid, nothing was imported: {shown}{more}")


@dataclass(frozen=True)
class BankInfo:
    id: int
    name: str
    source: str
    terms: str
    description: str
    default_label: str
    enabled: bool
    revision: int
    counts: dict[str, int]
    created_at: datetime
    updated_at: datetime
    created_by: str
    match_scope: str = "all"
    match_platforms: tuple[int, ...] = ()
    platform_view: str = "label"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "terms": self.terms,
            "description": self.description,
            "default_label": self.default_label,
            "enabled": self.enabled,
            "revision": self.revision,
            "counts": dict(self.counts),
            "total": self.total,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "created_by": self.created_by,
            "match_scope": self.match_scope,
            "match_platforms": list(self.match_platforms),
            "platform_view": self.platform_view,
        }


@dataclass
class ImportResult:
    bank: str
    lines: int = 0  # entries read (not counting blank and comment lines)
    added: int = 0
    duplicates: int = 0  # already in the bank, or repeated in the file
    low_quality: int = 0  # PDQ hashes under settings.pdq_quality_threshold: not imported
    by_kind: dict[str, int] = field(default_factory=dict)  # entries read, per kind
    problems: list[str] = field(default_factory=list)  # media import: files not (fully) hashed, and why
    retro_run: int | None = None  # the background match of the stored files against the new entries

    def as_dict(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "lines": self.lines,
            "added": self.added,
            "duplicates": self.duplicates,
            "low_quality": self.low_quality,
            "by_kind": dict(self.by_kind),
            "problems": list(self.problems),
            "retro_run": self.retro_run,
        }


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    kind: str
    hash: str
    label: str | None = None
    frames: list[dict[str, Any]] | None = None
    note: str | None = None
    quality: int | None = None  # PDQ only, when the list gives it (under the threshold: not imported)


# ------------------------------------------------------------------------------------------ version


def banks_version(s: Session) -> str:
    """The installation's banks version: a token that changes with every bank change."""
    return s.scalar(select(InstanceMeta.value).where(InstanceMeta.key == VERSION_KEY)) or ""


def _bump(s: Session) -> None:
    token = secrets.token_hex(8)
    ins = insert_for(s.get_bind().dialect.name)
    s.execute(
        ins(InstanceMeta)
        .values(key=VERSION_KEY, value=token)
        .on_conflict_do_update(index_elements=["key"], set_={"value": token})
    )


# ------------------------------------------------------------------------------------------ validation


def clean_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise BankError(
            "a bank name is 1-128 letters, digits, spaces, '.', '-', '_' or brackets (first a letter or digit)"
        )
    return name


def clean_label(label: str, what: str = "label") -> str:
    label = " ".join((label or "").split())
    if not _LABEL.match(label):
        raise BankError(f"a {what} is 1-64 letters, digits, spaces, '-' or '_' (e.g. 'known abuse material')")
    return label


def _hex(value: str, n: int, kind: str) -> str:
    v = value.strip().lower()
    if len(v) != n:
        raise BankError(f"{kind} hashes have {n} hexadecimal characters; this one has {len(v)}")
    if not _HEX.match(v):
        raise BankError(f"the {kind} hash is not hexadecimal")
    return v


def _kind(value: Any) -> str:
    if not isinstance(value, str):
        raise BankError("'kind' must be text: md5, sha1, sha256, pdq or vpdq")
    k = value.strip().lower()
    k = _KIND_ALIASES.get(k, k)
    if k not in HASH_KINDS:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise BankError(f"unknown kind {shown!r}: use md5, sha1, sha256, pdq or vpdq")
    return k


def _frame(raw: Any, i: int) -> dict[str, Any]:
    """One vPDQ frame from a dict, an HMA ``hex,quality,ts`` string or a ``hex:quality:ts`` string."""
    quality: Any  # a JSON value or a string: int() and float() below say whether it is a number
    ts: Any
    if isinstance(raw, dict):
        pdq = raw.get("pdq", raw.get("hash"))
        quality = raw.get("quality", 100)
        ts = raw.get("ts", raw.get("timestamp", float(i)))
    elif isinstance(raw, str):
        parts = re.split(r"[:,]", raw.strip())
        if not 1 <= len(parts) <= 3:
            raise BankError(f"vPDQ frame {i + 1} is not pdqhex[:quality[:seconds]]")
        pdq = parts[0]
        quality = parts[1] if len(parts) > 1 else 100
        ts = parts[2] if len(parts) > 2 else float(i)
    else:
        raise BankError(f"vPDQ frame {i + 1} is neither an object nor a string")
    if not isinstance(pdq, str):
        raise BankError(f"vPDQ frame {i + 1} has no PDQ hash")
    try:
        pdq = _hex(pdq, 64, "PDQ")
    except BankError as e:
        raise BankError(f"vPDQ frame {i + 1}: {e}") from None
    try:
        q = int(quality)
        t = float(ts)
    except (TypeError, ValueError):
        raise BankError(f"vPDQ frame {i + 1}: quality must be an integer and seconds a number") from None
    if not 0 <= q <= 100:
        raise BankError(f"vPDQ frame {i + 1}: quality must be 0-100")
    if not 0 <= t < 1e7:
        raise BankError(f"vPDQ frame {i + 1}: seconds must be 0 or more")
    return {"pdq": pdq, "quality": q, "ts": round(t, 3)}


def parse_frames(value: Any) -> list[dict[str, Any]]:
    """vPDQ frames from a list, a JSON list (HMA's signal string) or ``hex:q:ts`` items separated by ';' or spaces."""
    if isinstance(value, str):
        v = value.strip()
        if v.startswith("["):
            try:
                value = strict_json.loads(v)
            except strict_json.READ_ERRORS:
                raise BankError("the vPDQ frames look like JSON but are not valid JSON") from None
        else:
            value = [x for x in re.split(r"[;\s]+", v) if x]
    if not isinstance(value, list) or not value:
        raise BankError("a vPDQ entry needs at least one frame")
    if len(value) > MAX_FRAMES:
        raise BankError(f"a vPDQ entry has at most {MAX_FRAMES} frames")
    return [_frame(x, i) for i, x in enumerate(value)]


def frames_digest(frames: list[dict[str, Any]]) -> str:
    """The SHA-256 that identifies a vPDQ entry (its frames in order, canonical form)."""
    canon = "\n".join(f"{f['pdq']},{f['quality']},{f['ts']:.3f}" for f in frames)
    return hashlib.sha256(canon.encode()).hexdigest()


def frames_text(frames: list[dict[str, Any]]) -> str:
    return ";".join(f"{f['pdq']}:{f['quality']}:{f['ts']:g}" for f in frames)


def _quality(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        q = int(value)
    except (TypeError, ValueError):
        raise BankError("the PDQ quality must be an integer 0-100") from None
    if not 0 <= q <= 100 or isinstance(value, bool):
        raise BankError("the PDQ quality must be an integer 0-100")
    return q


def make_entry(kind: Any, value: Any, label: Any = None, note: Any = None, quality: Any = None) -> ParsedEntry:
    """Validate one entry (raises :class:`BankError` naming the problem). A PDQ ``value`` may carry its
    quality as ``hex:quality``; ``quality`` gives it separately (JSON lines' ``"quality"``)."""
    k = _kind(kind)
    lab = None
    if label is not None and label != "":
        if not isinstance(label, str):
            raise BankError("'label' must be text")
        lab = clean_label(label)
    if note is not None and (not isinstance(note, str) or len(note) > 512):
        raise BankError("'note' must be text of at most 512 characters")
    if k == "vpdq":
        frames = parse_frames(value)
        return ParsedEntry(k, frames_digest(frames), lab, frames, note or None)
    if not isinstance(value, str):
        raise BankError(f"the {k} hash must be text")
    if quality is not None and k != "pdq":
        raise BankError("'quality' is for PDQ hashes only")
    if k == "pdq" and ":" in value:
        value, _, given = value.partition(":")
        quality = given if quality is None else quality
    n = HASH_KINDS[k]
    assert n is not None
    return ParsedEntry(k, _hex(value, n, k), lab, None, note or None, _quality(quality) if k == "pdq" else None)


# ------------------------------------------------------------------------------------------ parsing


def _lines(raw: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, BOM dropped, blank and '#' lines skipped."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
    try:
        yield from enumerate(text, start=1)
    finally:
        with contextlib.suppress(ValueError):  # the file may be closed already
            text.detach()


def _detect(raw: IO[bytes], filename: str | None) -> str:
    suffix = Path(filename or "").suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    head = raw.read(4096)
    raw.seek(0)
    for line in head.decode("utf-8", "ignore").splitlines():
        line = line.strip().lstrip("\ufeff")
        if line and not line.startswith("#"):
            return "jsonl" if line.startswith("{") else "csv"
    return "csv"


def parse_entries(raw: IO[bytes], fmt: str) -> Generator[tuple[int, ParsedEntry | str], None, None]:
    """(line number, entry or problem) for every entry line of a bank file."""
    if fmt not in ("csv", "jsonl"):
        raise BankError(f"unknown format {fmt!r}: use csv or jsonl")
    first = True
    try:
        for n, line in _lines(raw):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if len(line) > MAX_LINE_CHARS:
                yield n, f"the line is longer than {MAX_LINE_CHARS:,} characters"
                continue
            try:
                if fmt == "jsonl":
                    yield n, _json_entry(stripped)
                else:
                    fields = next(csv.reader([stripped], skipinitialspace=True))
                    if first and fields and fields[0].strip().lower() == "kind":
                        first = False
                        continue
                    yield n, _csv_entry(fields)
            except BankError as e:
                yield n, str(e)
            first = False
    except UnicodeDecodeError as e:
        yield -1, f"the file is not UTF-8 text ({e.reason} at byte {e.start})"
    except csv.Error as e:
        yield -1, f"the file is not valid CSV: {e}"


def _csv_entry(fields: list[str]) -> ParsedEntry:
    if not 2 <= len(fields) <= 3:
        raise BankError(f"expected kind,hash[,label], got {len(fields)} field(s)")
    return make_entry(fields[0], fields[1], fields[2].strip() if len(fields) == 3 else None)


def _json_entry(line: str) -> ParsedEntry:
    try:
        obj = strict_json.loads(line)
    except strict_json.READ_ERRORS as e:
        raise BankError(strict_json.problem(e)) from None
    if not isinstance(obj, dict):
        raise BankError('expected a JSON object such as {"kind": "pdq", "hash": "..."}')
    unknown = sorted(set(obj) - _JSON_KEYS)
    if unknown:
        raise BankError(f"unknown key(s) {', '.join(map(repr, unknown))}: use kind, hash, label, note")
    if "kind" not in obj:
        raise BankError("missing 'kind'")
    value = obj.get("hash", obj.get("frames"))
    if value is None:
        raise BankError("missing 'hash'")
    return make_entry(obj["kind"], value, obj.get("label"), obj.get("note"), obj.get("quality"))


# ------------------------------------------------------------------------------------------ banks


def _info(b: HashBank) -> BankInfo:
    return BankInfo(
        id=b.id,
        name=b.name,
        source=b.source,
        terms=b.terms,
        description=b.description,
        default_label=b.default_label,
        enabled=b.enabled,
        revision=b.revision,
        counts={k: int(v) for k, v in (b.counts or {}).items() if v},
        created_at=b.created_at,
        updated_at=b.updated_at,
        created_by=b.created_by,
        match_scope=b.match_scope or "all",
        match_platforms=tuple(int(x) for x in b.match_platforms or ()),
        platform_view=b.platform_view or "label",
    )


def _find(s: Session, bank: str | int) -> HashBank:
    if isinstance(bank, int):
        row = s.get(HashBank, bank)
    else:
        row = s.scalar(select(HashBank).where(HashBank.name == bank.strip()))
    if row is None:
        raise BankError(f"there is no bank {bank!r} (see `tipline banks list`; `tipline banks create` makes one)")
    return row


def _actor(by: Principal | str) -> str:
    return by.name if isinstance(by, Principal) else by


def create_bank(
    db: Database,
    name: str,
    *,
    source: str = "",
    terms: str = "",
    description: str = "",
    default_label: str = LABEL_REVIEW,
    enabled: bool = True,
    by: Principal | str = "cli",
) -> BankInfo:
    name = clean_name(name)
    label = clean_label(default_label, "default label")
    if len(source) > 256:
        raise BankError("the source is at most 256 characters")
    if len(terms) > 20_000 or len(description) > 20_000:
        raise BankError("terms and description are at most 20,000 characters each")
    try:
        with db.session() as s:
            if s.scalar(select(HashBank.id).where(HashBank.name == name)) is not None:
                raise BankError(f"a bank named {name!r} already exists")
            row = HashBank(
                name=name,
                source=source.strip(),
                terms=terms.strip(),
                description=description.strip(),
                default_label=label,
                enabled=enabled,
                revision=0,
                counts={},
                created_by=_actor(by),
            )
            s.add(row)
            s.flush()
            record(s, by, "bank.create", "bank", row.id, name=name, source=row.source, label=label)
            _bump(s)
            return _info(row)
    except IntegrityError:
        raise BankError(f"a bank named {name!r} already exists") from None


def list_banks(db: Database) -> list[BankInfo]:
    with db.reader() as s:
        return [_info(b) for b in s.scalars(select(HashBank).order_by(HashBank.name))]


def get_bank(db: Database, bank: str | int) -> BankInfo:
    with db.reader() as s:
        return _info(_find(s, bank))


def set_enabled(db: Database, bank: str | int, enabled: bool, *, by: Principal | str = "cli") -> BankInfo:
    """Enable or disable a bank: a disabled bank keeps its entries but matches nothing."""
    with db.session() as s:
        row = _find(s, bank)
        if row.enabled != enabled:
            row.enabled = enabled
            row.updated_at = datetime.now(UTC)
            if enabled:
                row.enabled_at = row.updated_at
            record(s, by, "bank.enable" if enabled else "bank.disable", "bank", row.id, name=row.name)
            _bump(s)
            if enabled:  # the files that arrived while it was off were never matched against it
                queue_retro(s, row, "enable", 0, by)
        s.flush()
        return _info(row)


def update_bank(
    db: Database,
    bank: str | int,
    *,
    source: str | None = None,
    terms: str | None = None,
    description: str | None = None,
    default_label: str | None = None,
    by: Principal | str = "cli",
) -> BankInfo:
    """Change a bank's provenance or default label (audited with the old and new values)."""
    with db.session() as s:
        row = _find(s, bank)
        changes: dict[str, Any] = {}
        if source is not None and source.strip() != row.source:
            if len(source) > 256:
                raise BankError("the source is at most 256 characters")
            changes["source"] = [row.source, source.strip()]
            row.source = source.strip()
        if terms is not None and terms.strip() != row.terms:
            changes["terms"] = True
            row.terms = terms.strip()
        if description is not None and description.strip() != row.description:
            changes["description"] = True
            row.description = description.strip()
        if default_label is not None:
            label = clean_label(default_label, "default label")
            if label != row.default_label:
                changes["default_label"] = [row.default_label, label]
                row.default_label = label
        if changes:
            row.updated_at = datetime.now(UTC)
            record(s, by, "bank.update", "bank", row.id, name=row.name, **changes)
            _bump(s)
        s.flush()
        return _info(row)


def set_visibility(
    db: Database,
    bank: str | int,
    *,
    scope: str | None = None,
    platforms: Iterable[str | int] | None = None,
    view: str | None = None,
    terms: str | None = None,
    by: Principal | str = "cli",
) -> BankInfo:
    """Apply a partner's terms to a bank: who may match against it (``scope``: staff only, the listed
    ``platforms`` (names or ids), or all) and what a platform sees of a match (``view``: yes/no, the bank's
    category, or the label). Audited with the old and new values."""
    from tipline.store.models import Platform

    with db.session() as s:
        row = _find(s, bank)
        changes: dict[str, Any] = {}
        if scope is not None:
            if scope not in MATCH_SCOPES:
                raise BankError(f"unknown scope {scope!r}: use {', '.join(MATCH_SCOPES)}")
            if scope != row.match_scope:
                changes["match_scope"] = [row.match_scope, scope]
                row.match_scope = scope
        if platforms is not None:
            ids: list[int] = []
            for p in platforms:
                pid = s.scalar(
                    select(Platform.id).where(Platform.id == p if isinstance(p, int) else Platform.name == p)
                )
                if pid is None:
                    raise BankError(f"there is no platform {p!r} (see `tipline platforms list`)")
                ids.append(int(pid))
            ids = sorted(set(ids))
            if ids != sorted(row.match_platforms or []):
                changes["match_platforms"] = [list(row.match_platforms or []), ids]
                row.match_platforms = ids
        if view is not None:
            if view not in PLATFORM_VIEWS:
                raise BankError(f"unknown view {view!r}: use {', '.join(PLATFORM_VIEWS)}")
            if view != row.platform_view:
                changes["platform_view"] = [row.platform_view, view]
                row.platform_view = view
        if terms is not None and terms.strip() != row.terms:
            if len(terms) > 20_000:
                raise BankError("the terms are at most 20,000 characters")
            changes["terms"] = True
            row.terms = terms.strip()
        if row.match_scope == SCOPE_LISTED and not row.match_platforms:
            raise BankError("'listed platforms' needs at least one platform: name one (or choose another scope)")
        if changes:
            row.updated_at = datetime.now(UTC)
            record(s, by, "bank.visibility", "bank", row.id, name=row.name, **changes)
            _bump(s)
        s.flush()
        return _info(row)


def delete_bank(db: Database, bank: str | int, *, by: Principal | str = "cli") -> None:
    """Remove a bank and its entries. Matches already recorded on reports stay (with the bank's name)."""
    with db.session() as s:
        row = _find(s, bank)
        counts = dict(row.counts or {})
        record(s, by, "bank.delete", "bank", row.id, name=row.name, counts=counts)
        s.delete(row)
        _bump(s)


# ------------------------------------------------------------------------------------------ import


def _open(source: str | os.PathLike[str] | bytes | IO[bytes]) -> tuple[IO[bytes], str | None, bool]:
    if isinstance(source, bytes):
        return io.BytesIO(source), None, True
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        if not p.is_file():
            raise BankError(f"{p} is not a file")
        return p.open("rb"), p.name, True
    if not source.seekable():
        raise BankError("the bank file must be seekable (it is read twice: to check it, then to store it)")
    name = getattr(source, "name", None)
    return source, name if isinstance(name, str) else None, False


def import_file(
    db: Database,
    bank: str | int,
    source: str | os.PathLike[str] | bytes | IO[bytes],
    *,
    fmt: str | None = None,
    filename: str | None = None,
    label: str | None = None,
    by: Principal | str = "cli",
    progress: Progress | None = None,
) -> ImportResult:
    """Import a CSV or JSON-lines file into a bank (see the module docstring for the formats).

    ``label`` is given to lines without one (those without either take the bank's default label). The
    whole file is checked first; a file with a bad line raises :class:`BankImportError` and stores nothing.
    """
    default = clean_label(label) if label else None
    raw, name, close = _open(source)
    filename = filename or name
    try:
        fmt = fmt or _detect(raw, filename)
        with db.reader() as s:
            info = _info(_find(s, bank))
        # pass 1: check every line
        errors: list[tuple[int, str]] = []
        bad = lines = 0
        by_kind: dict[str, int] = {}
        sha = hashlib.sha256()
        for n, item in parse_entries(io.BufferedReader(_Hashing(raw, sha)), fmt):
            if isinstance(item, str):
                bad += 1
                if len(errors) < MAX_ERRORS:
                    errors.append((n, item))
                if n < 0:
                    break
            else:
                lines += 1
                by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
            if progress is not None and (lines + bad) % 20_000 == 0:
                progress("checking", lines + bad, None)
        if bad:
            raise BankImportError(errors, bad, lines + bad)
        if progress is not None:
            progress("checking", lines, lines)
        # pass 2: store
        raw.seek(0)
        parsed = parse_entries(raw, fmt)
        entries = (item for _n, item in parsed if not isinstance(item, str))
        result = ImportResult(bank=info.name, lines=lines, by_kind=by_kind)
        try:
            return _store(
                db,
                info,
                entries,
                default,
                result,
                by,
                progress,
                "bank.import",
                file=filename or "upload",
                sha256=sha.hexdigest(),
                fmt=fmt,
            )
        finally:
            entries.close()
            parsed.close()
    finally:
        if close:
            raw.close()


class _Hashing(io.RawIOBase):
    """A read-through wrapper that hashes what is read (the file's SHA-256 goes in the audit log)."""

    def __init__(self, raw: IO[bytes], sha: Any) -> None:
        self._raw = raw
        self._sha = sha

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        self._sha.update(data)
        return n


def _store(
    db: Database,
    info: BankInfo,
    entries: Iterable[ParsedEntry],
    default_label: str | None,
    result: ImportResult,
    by: Principal | str,
    progress: Progress | None,
    action: str,
    **details: Any,
) -> ImportResult:
    """Insert in chunks, then :func:`_finish` (also when interrupted: the rows already committed stay, and
    the audit event and the new banks version say so, so that every app node loads them)."""
    total = result.lines
    now = datetime.now(UTC)
    done = 0
    before = _count(db, info.id)
    after_id = _max_id(db, info.id)
    chunk: list[dict[str, Any]] = []
    qmin = db.settings.pdq_quality_threshold
    try:
        for e in entries:
            if e.quality is not None and e.quality < qmin:
                result.low_quality += 1  # a flat picture's hash would match every flat picture
                continue
            chunk.append(
                {
                    "bank_id": info.id,
                    "kind": e.kind,
                    "hash": e.hash,
                    "label": e.label or default_label,
                    "frames": e.frames,
                    "note": e.note,
                    "added_at": now,
                }
            )
            if len(chunk) >= CHUNK:
                _insert(db, chunk)
                done += len(chunk)
                chunk = []
                if progress is not None:
                    progress("importing", done, total)
        if chunk:
            _insert(db, chunk)
            done += len(chunk)
        if progress is not None:
            progress("importing", done, total)
    except BaseException:
        result.added = _count(db, info.id) - before
        result.duplicates = max(0, done - result.added)
        _finish(db, info.id, by, action, result, after_id, interrupted=True, **details)
        raise
    result.added = _count(db, info.id) - before
    result.duplicates = done - result.added
    _finish(db, info.id, by, action, result, after_id, **details)
    return result


_INSERT_SQL = (
    "INSERT INTO bank_entries (bank_id, kind, hash, label, frames, note, added_at) VALUES ({p}) "
    "ON CONFLICT (kind, hash, bank_id) DO NOTHING"
)


def _insert(db: Database, rows: list[dict[str, Any]]) -> None:
    """One chunk in one transaction, through the driver's executemany (SQLAlchemy's per-row parameter
    processing would triple the time of a million-row import). Same SQL on SQLite and PostgreSQL."""
    with db.session() as s:
        conn = s.connection()
        dialect = conn.dialect
        added = BankEntry.__table__.c.added_at.type.bind_processor(dialect)
        when = rows[0]["added_at"]
        when = added(when) if added is not None else when
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = _INSERT_SQL.format(p=", ".join([mark] * 7))
        params = [
            (
                r["bank_id"],
                r["kind"],
                r["hash"],
                r["label"],
                None if r["frames"] is None else json.dumps(r["frames"], separators=(",", ":")),
                r["note"],
                when,
            )
            for r in rows
        ]
        conn.exec_driver_sql(sql, params)


def _count(db: Database, bank_id: int) -> int:
    with db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(BankEntry).where(BankEntry.bank_id == bank_id)) or 0)


def _max_id(db: Database, bank_id: int) -> int:
    with db.reader() as s:
        return int(s.scalar(select(func.max(BankEntry.id)).where(BankEntry.bank_id == bank_id)) or 0)


def queue_retro(s: Session, bank: HashBank, reason: str, after_id: int, by: Principal | str) -> int | None:
    """Queue a background match of the stored files against the bank's entries after ``after_id`` (an
    import: its new entries; a re-enable: all). Run by :mod:`tipline.media.retro`; None when there is
    nothing to match (no new entry, or the bank is disabled: re-enabling it queues one)."""
    if not bank.enabled:
        return None
    upto = int(s.scalar(select(func.max(BankEntry.id)).where(BankEntry.bank_id == bank.id)) or 0)
    if upto <= after_id:
        return None
    run = RetroRun(
        bank_id=bank.id,
        bank_name=bank.name,
        reason=reason,
        after_entry_id=after_id,
        upto_entry_id=upto,
        state="pending",
        created_by=_actor(by),
    )
    s.add(run)
    s.flush()
    return run.id


def _finish(
    db: Database,
    bank_id: int,
    by: Principal | str,
    action: str,
    result: ImportResult,
    after_id: int = 0,
    **details: Any,
) -> None:
    """After an import: new revision and counts, audit event, banks version (the app nodes reload), and the
    retro-match of the new entries queued."""
    with db.session() as s:
        counts = dict(
            s.execute(
                select(BankEntry.kind, func.count()).where(BankEntry.bank_id == bank_id).group_by(BankEntry.kind)
            ).all()
        )
        s.execute(
            update(HashBank)
            .where(HashBank.id == bank_id)
            .values(
                revision=HashBank.revision + 1,
                counts={k: int(v) for k, v in counts.items()},
                updated_at=datetime.now(UTC),
            )
        )
        record(
            s,
            by,
            action,
            "bank",
            bank_id,
            lines=result.lines,
            added=result.added,
            duplicates=result.duplicates,
            problems=len(result.problems),
            low_quality=result.low_quality,
            **details,
        )
        _bump(s)
        bank = s.get(HashBank, bank_id)
        if bank is not None and result.added:
            result.retro_run = queue_retro(s, bank, "import", after_id, by)


def import_entries(
    db: Database,
    bank: str | int,
    entries: Iterable[ParsedEntry],
    *,
    label: str | None = None,
    by: Principal | str = "cli",
    note: str = "entries",
) -> ImportResult:
    """Add already-validated entries (from :func:`make_entry`) to a bank; for tests and other services."""
    items = list(entries)
    with db.reader() as s:
        info = _info(_find(s, bank))
    result = ImportResult(bank=info.name, lines=len(items))
    for e in items:
        result.by_kind[e.kind] = result.by_kind.get(e.kind, 0) + 1
    return _store(db, info, items, clean_label(label) if label else None, result, by, None, "bank.import", file=note)


def media_entries(path: Path, limits: MediaLimits | None = None) -> tuple[list[ParsedEntry], str | None]:
    """The bank entries of one media file: its exact hashes, its PDQ (images) and its vPDQ (videos); and why
    the perceptual hash is missing when the file looks like media but cannot be decoded (or is over a limit:
    ``limits``, a ``hashing.MediaLimits``, default the settings' defaults)."""
    from tipline.media.hashing import hash_file

    h = hash_file(path, strict=False, limits=limits)
    out = [ParsedEntry(k, v) for k, v in (("md5", h.md5), ("sha1", h.sha1), ("sha256", h.sha256)) if v]
    if h.pdq:
        out.append(ParsedEntry("pdq", h.pdq.lower(), quality=h.pdq_quality))
    frames = h.vpdq
    if frames:
        fr = parse_frames([dict(f) for f in frames])
        out.append(ParsedEntry("vpdq", frames_digest(fr), None, fr))
    return out, h.error


def import_media(
    db: Database,
    bank: str | int,
    folder: str | os.PathLike[str],
    *,
    label: str | None = None,
    by: Principal | str = "cli",
    progress: Progress | None = None,
) -> ImportResult:
    """Hash every file under ``folder`` (recursively, hidden files skipped) and add its hashes to a bank.

    The media and their names are not stored: only hashes. A damaged picture or video still gets its exact
    hashes; it and any unreadable file are listed in ``result.problems`` (path relative to the folder, and
    why), shown to the operator and never stored.
    """
    root = Path(folder)
    if not root.is_dir():
        raise BankError(f"{root} is not a folder")
    default = clean_label(label) if label else None
    with db.reader() as s:
        info = _info(_find(s, bank))
    from tipline.media.hashing import MediaLimits

    limits = MediaLimits.from_settings(db.settings)
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and not any(x.startswith(".") for x in p.relative_to(root).parts)
    )
    entries: list[ParsedEntry] = []
    problems: list[str] = []
    for i, p in enumerate(files, start=1):
        try:
            found, error = media_entries(p, limits)
            entries.extend(found)
            if error:
                problems.append(f"{p.relative_to(root)}: exact hashes only ({error})")
        except Exception as e:  # noqa: BLE001 - one unreadable file must not stop the others
            problems.append(f"{p.relative_to(root)}: not hashed ({type(e).__name__})")
        if progress is not None:
            progress("hashing", i, len(files))
    by_kind: dict[str, int] = {}
    for entry in entries:
        by_kind[entry.kind] = by_kind.get(entry.kind, 0) + 1
    result = ImportResult(bank=info.name, lines=len(entries), by_kind=by_kind, problems=problems)
    return _store(db, info, entries, default, result, by, progress, "bank.import_media", files=len(files))


# ------------------------------------------------------------------------------------------ export


def export_bank(db: Database, bank: str | int, out: TextIO, *, fmt: str = "csv") -> int:
    """Write a bank's entries (with each entry's label, the bank's default where it has none) to ``out``.

    The file starts with ``#`` lines that carry the bank's provenance; :func:`import_file` reads it back.
    Returns the number of entries written.
    """
    if fmt not in ("csv", "jsonl"):
        raise BankError(f"unknown format {fmt!r}: use csv or jsonl")
    with db.reader() as s:
        b = _find(s, bank)
        for line in _provenance(b):
            out.write(f"# {line}\n")
        writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(["kind", "hash", "label"])
        n = 0
        q = (
            select(BankEntry.kind, BankEntry.hash, BankEntry.label, BankEntry.frames, BankEntry.note)
            .where(BankEntry.bank_id == b.id)
            .order_by(BankEntry.id)
            .execution_options(yield_per=10_000)
        )
        for kind, h, label, frames, note in s.execute(q):
            lab = label or b.default_label
            value = frames_text(frames) if kind == "vpdq" and frames else h
            if writer is not None:
                writer.writerow([kind, value, lab])
            else:
                obj: dict[str, Any] = {"kind": kind, "hash": frames if kind == "vpdq" else h, "label": lab}
                if note:
                    obj["note"] = note
                out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
        return n


def _provenance(b: HashBank) -> list[str]:
    lines = [f"tipline hash bank {b.name!r}, exported {datetime.now(UTC).isoformat(timespec='seconds')}"]
    if b.source:
        lines.append(f"source: {' '.join(b.source.split())}")
    if b.terms:
        lines.append(f"terms: {' '.join(b.terms.split())}")
    lines.append(f"default label: {b.default_label}")
    return lines


def export_text(db: Database, bank: str | int, *, fmt: str = "csv") -> str:
    buf = io.StringIO()
    export_bank(db, bank, buf, fmt=fmt)
    return buf.getvalue()
