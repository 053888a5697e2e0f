"""Bulk intake: a platform's or another hotline's backlog from a JSON-lines file (``tipline import jsonl``).

Each line is one report in the JSON API's shape (``PlatformReportIn``, ``report_id`` required). Lines are
validated and stored in chunks, one transaction per chunk (``service.submit_many``), without analysis:
the analysis workers (``tipline serve``'s own, ``tipline worker``) catch up behind, most urgent first.
A report already stored (same platform, same ``report_id``) is skipped, so an interrupted import run
again stores only what is missing (a chunk is stored whole or not at all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from tipline import strict_json
from tipline.intake import service
from tipline.intake.schemas import PlatformReportIn, ReportIn
from tipline.store import Database

CHUNK = 500


@dataclass
class BulkResult:
    stored: int = 0
    skipped: int = 0  # already stored (an earlier run) or repeated in the file
    errors: list[str] = field(default_factory=list)  # "line N: what is wrong"


def _problem(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "the line"
    return f"{where}: {str(first.get('msg', 'invalid')).removeprefix('Value error, ')}"


def _reports(path: Path, platform_id: int, out: BulkResult) -> Iterator[tuple[int, ReportIn]]:
    """(bytes read so far, report) for every valid line; a bad line is an error that names it."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if n == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some editors write
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                out.errors.append(f"line {n}: not UTF-8 text (byte {e.start + 1} of the line): save the file as UTF-8")
                continue
            if not line:
                continue
            try:
                report = PlatformReportIn.model_validate(strict_json.loads(line)).to_report(platform_id)
            except ValidationError as e:  # before READ_ERRORS: a ValidationError is a ValueError
                out.errors.append(f"line {n}: {_problem(e)}")
                continue
            except strict_json.READ_ERRORS as e:
                out.errors.append(f"line {n}: {strict_json.problem(e)}")
                continue
            yield f.tell(), report


def import_jsonl(
    db: Database, path: Path, platform_id: int, *, chunk: int = CHUNK, step: Callable[[int], None] | None = None
) -> BulkResult:
    """Store every valid line of ``path`` for the platform ``platform_id``; ``step(bytes_read)`` after
    each chunk (the progress bar)."""
    out = BulkResult()
    batch: list[ReportIn] = []
    at = 0
    for at, report in _reports(path, platform_id, out):
        batch.append(report)
        if len(batch) >= chunk:
            stored, skipped = service.submit_many(db, batch)
            out.stored, out.skipped, batch = out.stored + stored, out.skipped + skipped, []
            if step is not None:
                step(at)
    if batch:
        stored, skipped = service.submit_many(db, batch)
        out.stored, out.skipped = out.stored + stored, out.skipped + skipped
    if step is not None:
        step(path.stat().st_size)
    return out
