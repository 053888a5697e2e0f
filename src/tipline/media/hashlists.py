"""Hash lists as other systems ship them: read (detected, or named with ``--format``) and written.

Every format is parsed into the bank service's :class:`~tipline.media.banks.ParsedEntry` and stored by the
bank service itself (:func:`tipline.media.banks.import_entries`): this module only reads and writes files.

==============  ===============================================================================================
format          what it is
==============  ===============================================================================================
``tipline``     tipline's own ``kind,hash[,label]`` CSV or JSON lines (the bank service reads them itself)
``te-signals``  python-threatexchange's text lines, ``<signal type> <value> [anything]`` (``pdq 3f0c…``,
                ``video_md5 9e10…``), as ``threatexchange dataset -P`` prints them
``te-csv``      ``threatexchange dataset -P --csv``: header ``signal_type,signal_str,collab,category,tags``
``plain``       one hash per line, no header or a one-word header (``md5``); the kind comes from the length
                (32 hex: MD5, 40: SHA-1); 64 hex digits may be SHA-256 or PDQ, so such a list needs ``--kind``
``columns``     CSV whose header names the hash column(s) (``md5``, ``SHA-1``, ``pdq_hash``, ``hash`` …; any
                case); other columns are ignored; one row may give several hashes
``ncmec-xml``   NCMEC hash-sharing API XML (``queryResult`` with ``images``/``videos`` entries whose
                ``fingerprints`` hold ``md5``, ``sha1``, ``pdq`` …); deleted entries are skipped
==============  ===============================================================================================

Hashes may be upper case; lines may end in CRLF; a UTF-8 byte-order mark is dropped. A file is checked in
full first: a bad line refuses the whole file (each bad line named), as the bank service does.

Provenance per list: each entry's note names the list it came from (file name, format, the file's SHA-256
prefix) unless the list gave a note of its own, and the bank service's audit record names the file.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from defusedxml import ElementTree as SafeET

from tipline.media import banks
from tipline.media.banks import BankError, BankImportError, ImportResult, ParsedEntry, make_entry
from tipline.store import Database

FORMATS = ("tipline", "te-signals", "te-csv", "plain", "columns", "ncmec-xml")
EXPORT_FORMATS = ("te-signals", "te-csv", "plain", "columns", "ncmec-xml")

# python-threatexchange signal type names (SignalType.get_name()) and ThreatExchange API indicator types
SIGNAL_KINDS = {
    "pdq": "pdq",
    "photo_pdq": "pdq",
    "hash_pdq": "pdq",
    "video_md5": "md5",
    "photo_md5": "md5",
    "md5": "md5",
    "hash_md5": "md5",
    "sha1": "sha1",
    "hash_sha1": "sha1",
    "video_sha256": "sha256",
    "photo_sha256": "sha256",
    "sha256": "sha256",
    "hash_sha256": "sha256",
    "vpdq": "vpdq",
}
# the name tipline writes for each kind (SHA-1 has no python-threatexchange signal type)
KIND_SIGNALS = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256", "vpdq": "vpdq"}
NOT_FILE_SIGNALS = {"url", "url_md5", "raw_text", "trend_query", "text_tlsh", "pdq_ocr"}
# NCMEC fingerprint element names (FingerprintType in python-threatexchange) that tipline can match
NCMEC_KINDS = {"md5": "md5", "sha1": "sha1", "pdq": "pdq"}
KIND_NCMEC = {"md5": "md5", "sha1": "sha1", "pdq": "pdq"}

_HEXISH = re.compile(r"^[0-9a-fA-F]+$")
_SQUASH = re.compile(r"[\s_\-]+")
_COLUMN_KINDS = {
    "md5": "md5",
    "md5hash": "md5",
    "hashmd5": "md5",
    "sha1": "sha1",
    "sha1hash": "sha1",
    "hashsha1": "sha1",
    "sha256": "sha256",
    "sha256hash": "sha256",
    "hashsha256": "sha256",
    "pdq": "pdq",
    "pdqhash": "pdq",
    "hashpdq": "pdq",
}
_GENERIC_COLUMNS = {"hash", "hashvalue", "value", "signal", "signalvalue", "signalstr", "fingerprint"}
MAX_PREVIEW = 10


@dataclass
class ParsedList:
    """A list read in full: its format, entries, problems (line, text) and how many lines were read."""

    fmt: str
    entries: list[ParsedEntry] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was left out on purpose, in words
    sha256: str = ""

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.kind] = out.get(e.kind, 0) + 1
        return out

    def preview(self) -> dict[str, Any]:
        """What an import would store (the dry run)."""
        return {
            "format": self.fmt,
            "entries": len(self.entries),
            "by_kind": self.by_kind(),
            "first": [{"kind": e.kind, "hash": e.hash, "note": e.note} for e in self.entries[:MAX_PREVIEW]],
            "problems": [{"line": n, "problem": p} for n, p in self.problems],
            "skipped": self.skipped,
        }


# ------------------------------------------------------------------------------------------ detection


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BankError(f"the file is not UTF-8 text ({e.reason} at byte {e.start})") from None


def _content_lines(text: str) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if s and not s.startswith("#"):
            yield n, s


def _squash(name: str) -> str:
    return _SQUASH.sub("", name.strip().lower())


def _header_kinds(fields: list[str]) -> dict[int, str | None]:
    """Columns of a header that name a hash: index -> kind (None: a generic 'hash' column)."""
    out: dict[int, str | None] = {}
    for i, f in enumerate(fields):
        key = _squash(f)
        if key in _COLUMN_KINDS:
            out[i] = _COLUMN_KINDS[key]
        elif key in _GENERIC_COLUMNS:
            out[i] = None
    return out


def detect(data: bytes, filename: str | None = None) -> str:
    """The format of a hash list, from its first content line (the file name only breaks no tie)."""
    text = data[:65536].decode("utf-8-sig", "ignore")
    first = next((line for _n, line in _content_lines(text)), "")
    if first.startswith("<"):
        return "ncmec-xml"
    if first.startswith("{"):
        return "tipline"
    fields = [f.strip() for f in next(csv.reader([first]))] if "," in first else first.split()
    lower = [f.lower() for f in fields]
    if lower[:2] == ["kind", "hash"] or (
        len(fields) >= 2
        and "," in first
        and lower[0] in ("md5", "sha1", "sha256", "pdq", "vpdq")
        and _HEXISH.match(fields[1] or "-")
    ):
        return "tipline"
    if "signal_type" in lower and ("signal_str" in lower or "signal_value" in lower):
        return "te-csv"
    if "," in first and _header_kinds(fields):
        return "columns"
    if len(fields) >= 2 and lower[0] in SIGNAL_KINDS | dict.fromkeys(NOT_FILE_SIGNALS, ""):
        return "te-signals"
    if len(fields) == 1:
        return "plain"
    raise BankError(
        f"the format of this list was not recognised from its first line; name it with --format ({', '.join(FORMATS)})"
    )


# ------------------------------------------------------------------------------------------ parsers


def _entry(kind: str, value: str, note: str | None) -> ParsedEntry:
    return make_entry(kind, value.strip(), None, note)


def _te_signals(text: str, out: ParsedList, _kind: str | None) -> None:
    for n, line in _content_lines(text):
        parts = line.split(None, 2)
        name = parts[0].lower()
        if name in NOT_FILE_SIGNALS:
            out.skipped.append(f"line {n}: a {name} signal is not a file hash")
            continue
        if name not in SIGNAL_KINDS or len(parts) < 2:
            out.problems.append(
                (n, f"expected '<signal type> <hash>' with a file signal type ({', '.join(sorted(SIGNAL_KINDS))})")
            )
            continue
        try:
            out.entries.append(_entry(SIGNAL_KINDS[name], parts[1], None))
        except BankError as e:
            out.problems.append((n, str(e)))


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        yield reader.line_num, [c.strip() for c in row]


def _te_csv(text: str, out: ParsedList, _kind: str | None) -> None:
    rows = _rows(text)
    _n, header = next(rows, (0, []))
    cols = {h.lower(): i for i, h in enumerate(header)}
    t_col = cols["signal_type"]
    v_col = cols.get("signal_str", cols.get("signal_value"))
    assert v_col is not None
    extra = [c for c in ("collab", "category", "tags") if c in cols]
    for n, row in rows:
        if len(row) <= max(t_col, v_col):
            out.problems.append((n, f"expected {len(header)} columns, got {len(row)}"))
            continue
        name = row[t_col].lower()
        if name in NOT_FILE_SIGNALS:
            out.skipped.append(f"line {n}: a {name} signal is not a file hash")
            continue
        if name not in SIGNAL_KINDS:
            out.problems.append((n, f"unknown signal type {row[t_col]!r}"))
            continue
        note = "; ".join(f"{c} {row[cols[c]]}" for c in extra if len(row) > cols[c] and row[cols[c]]) or None
        try:
            out.entries.append(_entry(SIGNAL_KINDS[name], row[v_col], note))
        except BankError as e:
            out.problems.append((n, str(e)))


_PLAIN_KINDS = {32: "md5", 40: "sha1"}


def _plain(text: str, out: ParsedList, kind: str | None) -> None:
    lines = list(_content_lines(text))
    if lines and _squash(lines[0][1]) in {*_COLUMN_KINDS, *_GENERIC_COLUMNS}:
        kind = kind or _COLUMN_KINDS.get(_squash(lines[0][1]))
        lines = lines[1:]
    for n, line in lines:
        k = kind or _PLAIN_KINDS.get(len(line))
        if k is None:
            why = (
                "64 hexadecimal digits may be SHA-256 or PDQ: say which with --kind"
                if len(line) == 64
                else (f"{len(line)} characters is no hash length tipline knows (32: MD5, 40: SHA-1); give --kind")
            )
            out.problems.append((n, why))
            continue
        try:
            out.entries.append(_entry(k, line, None))
        except BankError as e:
            out.problems.append((n, str(e)))


def _columns(text: str, out: ParsedList, kind: str | None) -> None:
    rows = _rows(text)
    _n, header = next(rows, (0, []))
    hash_cols = _header_kinds(header)
    kind_col = next((i for i, h in enumerate(header) if _squash(h) in ("kind", "type", "hashtype", "algorithm")), None)
    for n, row in rows:
        for i, k in hash_cols.items():
            if i >= len(row) or not row[i]:
                continue
            k = k or (row[kind_col].lower().replace("-", "") if kind_col is not None and kind_col < len(row) else kind)
            k = SIGNAL_KINDS.get(k or "", k)
            if k is None:
                out.problems.append(
                    (n, f"the column {header[i]!r} does not say which hash it is: add a kind column or give --kind")
                )
                continue
            try:
                out.entries.append(_entry(k, row[i], None))
            except BankError as e:
                out.problems.append((n, f"{header[i]}: {e}"))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _ncmec_xml(text: str, out: ParsedList, _kind: str | None) -> None:
    try:
        root = SafeET.fromstring(text)
    except SafeET.ParseError as e:
        raise BankError(f"the NCMEC XML is not well-formed: {e}") from None
    except Exception as e:  # defusedxml refuses entities and DTDs
        raise BankError(f"the NCMEC XML was refused: {type(e).__name__}") from None
    n = 0
    for group in root:
        if _local(group.tag) not in ("images", "videos"):
            continue
        for item in group:
            n += 1
            tag = _local(item.tag)
            if tag.startswith("deleted"):
                out.skipped.append(f"entry {n}: deleted by NCMEC ({tag})")
                continue
            ident = next((c.text for c in item if _local(c.tag) == "id"), None)
            classification = next((c.text for c in item if _local(c.tag) == "classification"), None)
            note = f"NCMEC {tag} {ident}" + (f", classification {classification}" if classification else "")
            fps = next((c for c in item if _local(c.tag) == "fingerprints"), None)
            for fp in fps if fps is not None else []:
                name = _local(fp.tag).lower()
                if name not in NCMEC_KINDS:
                    out.skipped.append(f"entry {n}: {_local(fp.tag)} fingerprints are not matched by tipline")
                    continue
                try:
                    out.entries.append(_entry(NCMEC_KINDS[name], fp.text or "", note))
                except BankError as e:
                    out.problems.append((n, f"{_local(fp.tag)}: {e}"))


_PARSERS = {
    "te-signals": _te_signals,
    "te-csv": _te_csv,
    "plain": _plain,
    "columns": _columns,
    "ncmec-xml": _ncmec_xml,
}


def parse(data: bytes, *, fmt: str | None = None, kind: str | None = None, filename: str | None = None) -> ParsedList:
    """Read a whole hash list (any of :data:`FORMATS` but ``tipline``, which the bank service reads)."""
    fmt = fmt or detect(data, filename)
    if fmt not in _PARSERS:
        raise BankError(f"unknown list format {fmt!r}: use one of {', '.join(FORMATS)}")
    if kind is not None and kind not in ("md5", "sha1", "sha256", "pdq"):
        raise BankError(f"unknown kind {kind!r}: use md5, sha1, sha256 or pdq")
    out = ParsedList(fmt, sha256=hashlib.sha256(data).hexdigest())
    _PARSERS[fmt](_text(data), out, kind)
    where = f"list {filename or 'upload'} ({fmt}, sha256 {out.sha256[:16]})"
    out.entries = [e if e.note else dataclasses.replace(e, note=where) for e in out.entries]
    return out


def checked(parsed: ParsedList) -> ParsedList:
    """The list, or the bank service's refusal naming every bad line (nothing is stored from a bad list)."""
    if parsed.problems:
        raise BankImportError(parsed.problems[:50], len(parsed.problems), len(parsed.problems) + len(parsed.entries))
    if not parsed.entries:
        raise BankError(
            "the list holds no hash tipline can match"
            + (f" ({'; '.join(parsed.skipped[:3])})" if parsed.skipped else "")
        )
    return parsed


# ------------------------------------------------------------------------------------------ writers


@dataclass
class Row:
    kind: str
    hash: str
    label: str


def write(rows: list[Row], fmt: str, *, bank: str, kind: str | None = None) -> tuple[str, list[str]]:
    """The rows in a partner format, and what could not be written (in words)."""
    left: list[str] = []
    if fmt == "te-signals":
        lines = []
        for r in rows:
            if r.kind in KIND_SIGNALS and r.kind != "vpdq":
                lines.append(f"{KIND_SIGNALS[r.kind]} {r.hash}")
            else:
                left.append(f"{r.kind} {r.hash[:16]}…: no python-threatexchange signal type")
        return "".join(line + "\n" for line in lines), left
    if fmt == "te-csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
        for r in rows:
            if r.kind in KIND_SIGNALS and r.kind != "vpdq":
                w.writerow([KIND_SIGNALS[r.kind], r.hash, bank, "", r.label])
            else:
                left.append(f"{r.kind} {r.hash[:16]}…: no python-threatexchange signal type")
        return buf.getvalue(), left
    if fmt == "plain":
        kinds = sorted({r.kind for r in rows})
        if kind is None and len(kinds) > 1:
            raise BankError(
                f"the bank holds {', '.join(kinds)} hashes: a plain list holds one kind, say which with --kind"
            )
        k = kind or (kinds[0] if kinds else "md5")
        return "".join(f"{r.hash}\n" for r in rows if r.kind == k), [
            f"{n} {x} hash(es)" for x, n in _counts(rows).items() if x != k
        ]
    if fmt == "columns":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["md5", "sha1", "sha256", "pdq", "label"])
        cols = {"md5": 0, "sha1": 1, "sha256": 2, "pdq": 3}
        for r in rows:
            if r.kind not in cols:
                left.append(f"{r.kind} {r.hash[:16]}…: no column")
                continue
            row = ["", "", "", "", r.label]
            row[cols[r.kind]] = r.hash
            w.writerow(row)
        return buf.getvalue(), left
    if fmt == "ncmec-xml":
        return _write_ncmec(rows, bank, left), left
    raise BankError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")


def _counts(rows: list[Row]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r.kind] = out.get(r.kind, 0) + 1
    return out


def _write_ncmec(rows: list[Row], bank: str, left: list[str]) -> str:
    from xml.etree import ElementTree as ET

    ns = "https://hashsharing.ncmec.org/hashsharing/v2"
    root = ET.Element("queryResult", xmlns=ns)
    images = ET.SubElement(root, "images", maxTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    for i, r in enumerate(rows, start=1):
        if r.kind not in KIND_NCMEC:
            left.append(f"{r.kind} {r.hash[:16]}…: no NCMEC fingerprint type tipline writes")
            continue
        image = ET.SubElement(images, "image")
        ET.SubElement(image, "id").text = str(i)
        ET.SubElement(image, "member", id="0").text = bank
        fps = ET.SubElement(image, "fingerprints")
        ET.SubElement(fps, KIND_NCMEC[r.kind]).text = r.hash
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# ------------------------------------------------------------------------------------------ with the bank service


def import_list(
    db: Database,
    bank: str | int,
    data: bytes,
    *,
    fmt: str | None = None,
    kind: str | None = None,
    filename: str | None = None,
    label: str | None = None,
    by: Any = "cli",
) -> ImportResult:
    """Import a list in any format through the bank service (tipline's own formats go to it unchanged)."""
    fmt = fmt or detect(data, filename)
    if fmt == "tipline":
        return banks.import_file(db, bank, data, filename=filename, label=label, by=by)
    parsed = checked(parse(data, fmt=fmt, kind=kind, filename=filename))
    note = f"{filename or 'upload'} ({fmt}, sha256 {parsed.sha256})"
    return banks.import_entries(db, bank, parsed.entries, label=label, by=by, note=note)


def bank_rows(db: Database, bank: str | int) -> list[Row]:
    """A bank's entries as the bank service exports them (its JSON lines)."""
    import json

    rows = []
    for line in banks.export_text(db, bank, fmt="jsonl").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        obj = json.loads(line)
        if obj["kind"] != "vpdq":
            rows.append(Row(obj["kind"], obj["hash"], obj.get("label") or ""))
        else:
            rows.append(Row("vpdq", "", obj.get("label") or ""))
    return rows


def export_list(db: Database, bank: str | int, fmt: str, *, kind: str | None = None) -> tuple[str, list[str]]:
    """A bank written in a partner format, and what that format could not carry."""
    info = banks.get_bank(db, bank)
    return write(bank_rows(db, bank), fmt, bank=info.name, kind=kind)
