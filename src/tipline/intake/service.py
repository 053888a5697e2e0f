"""The one intake service every door calls, and the analysis that follows it.

``submit_report`` commits the report (and its files' hashes) in one transaction before it returns, so a
door answers 2xx only for a durable report. Analysis (entities, score) runs right after, in its own
transaction; a report whose analysis was cut short by a crash has ``analysed_at`` empty and is picked up
by :func:`analyse_pending` at the next start.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import anyio.to_thread
from sqlalchemy import (
    JSON,
    BindParameter,
    Boolean,
    Delete,
    Executable,
    Float,
    Insert,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from tipline.capability import AnalysisContext, rule_kinds
from tipline.errors import Conflict, NotFound
from tipline.extract import account_for, extract, normalise
from tipline.extract.platforms import UNKNOWN as UNKNOWN_PLATFORM
from tipline.extract.platforms import canonical_platform
from tipline.intake import receipts
from tipline.intake.group_commit import GroupCommit
from tipline.intake.schemas import FileIn, FileOut, ReportIn, Source
from tipline.store import Database, later, sealing
from tipline.store.lists import in_list
from tipline.store.models import Attachment, Entity, FollowUp, Mention, Report, utcnow
from tipline.store.search import index_report
from tipline.triage import RuleSet, ScoreInput, load_rules

log = logging.getLogger("tipline.intake")


class IntakeError(ValueError):
    """Input that passed the door's validation but cannot be accepted; the message says why."""


@dataclass(frozen=True)
class SubmitResult:
    report_id: int
    created: bool
    status: str
    priority: int
    receipt: str | None = None  # public reports only; shown to the reporter once


def submit_report(db: Database, report: ReportIn) -> SubmitResult:
    """Store a report durably (one commit), then analyse it unless it is an open CyberTipline submission.

    A platform's reports (the JSON API, the CyberTipline door, the panic button) arriving at once are
    committed together (:mod:`tipline.intake.group_commit`): each call still returns only after its report's
    commit. A public report is stored alone (its receipt costs an Argon2 hash that a batch would wait for)."""
    if report.platform_id is not None and report.source != Source.PUBLIC:
        res = _group_commit(db).run(report)
    else:
        res = _store_one(db, report)
    if not res.created:
        return res
    priority = res.priority
    if not report.open_submission:
        if db.settings.analyse_inline:
            priority = analyse_after_store(db, res.report_id) or priority
        else:
            wake_analysis(db, urgent=priority == 1)
    return replace(res, priority=priority)


async def submit_report_async(db: Database, report: ReportIn) -> SubmitResult:
    """:func:`submit_report` for a door on the event loop (the JSON API): a platform report waits for its
    group commit without a thread of its own; the rest (a public report, analysis inline) runs in a worker
    thread as before. The same result, durable before it returns."""
    if report.platform_id is not None and report.source != Source.PUBLIC and not db.settings.analyse_inline:
        res = await _group_commit(db).run_async(report)
        if res.created and not report.open_submission:
            wake_analysis(db, urgent=res.priority == 1)  # sets events: no I/O, fine on the loop
        return res
    return await anyio.to_thread.run_sync(submit_report, db, report)


_GROUP_LOCK = threading.Lock()


def _group_commit(db: Database) -> GroupCommit[ReportIn, SubmitResult]:
    """This database's group commit of platform reports (one per process and database)."""
    group = db.get_resource("intake.group_commit")
    if group is None:
        with _GROUP_LOCK:
            group = db.get_resource("intake.group_commit")
            if group is None:
                group = GroupCommit(lambda batch: _store_batch(db, batch))
                db.set_resource("intake.group_commit", group)
    return group  # type: ignore[no-any-return]


def _store_batch(db: Database, reports: Sequence[ReportIn]) -> list[SubmitResult | BaseException]:
    """Store a batch in one transaction; if that fails (a report stored meanwhile by another process, or one
    bad report), store each alone so that only its own caller sees its error. An error that refuses every
    write for now (:func:`_cannot_write_now`) is every caller's at once."""
    if len(reports) > 1:
        try:
            return list(_store_reports(db, reports))
        except Exception as e:  # noqa: BLE001 - retried one by one below, where each error reaches its own caller
            if _cannot_write_now(e):
                # every caller of the batch gets it at once: stored one by one, each waited for it again (a batch
                # of 100 behind a SQLite lock that another process held kept the door waiting 100 x 60 s)
                raise
            # the error's class only: a database error's message carries the statement's parameters (report data)
            log.warning("a batch of %d reports failed (%s); storing them one by one", len(reports), type(e).__name__)
    out: list[SubmitResult | BaseException] = []
    for r in reports:
        try:
            out.append(_store_one(db, r))
        except Exception as e:  # noqa: BLE001 - raised in the caller that sent this report
            out.append(e)
    return out


def _cannot_write_now(e: Exception) -> bool:
    """The database refuses every write for now, not this batch's: SQLite's write lock not had in time (held
    by another process, ``WRITER_WAIT_S``), or the connection broke (PostgreSQL away)."""
    return isinstance(e, TimeoutError) or (isinstance(e, DBAPIError) and e.connection_invalidated)


def _store_one(db: Database, report: ReportIn) -> SubmitResult:
    try:
        return _store_reports(db, [report])[0]
    except IntegrityError:
        # the same platform report arrived twice at once (another process stored it)
        if report.platform_id is None or report.external_id is None:
            raise
        with db.reader() as s:
            existing = _existing(s, report.platform_id, report.external_id)
            if existing is None:
                raise
            return SubmitResult(existing.id, False, existing.status, existing.priority)


def _store_reports(
    db: Database, reports: Sequence[ReportIn], *, uploads: Sequence[Sequence[tuple[FileIn, str | None]]] = ()
) -> list[SubmitResult]:
    """Commit new reports and their files' hashes in one transaction, with one flush. A platform report whose
    (platform, report id) is already stored, or comes earlier in the same batch, is not stored again: its
    result is the first one's (``created`` false). ``uploads``, when given, has one list per report of its
    files already hashed and kept (bulk import), each with where its bytes are."""
    results: list[SubmitResult | None] = [None] * len(reports)
    with db.session() as s:
        existing: dict[tuple[int, str], SubmitResult] = {}
        by_platform: dict[int, list[str]] = {}
        for r in reports:
            if r.platform_id is not None and r.external_id is not None:
                by_platform.setdefault(r.platform_id, []).append(r.external_id)
        for pid, ext in by_platform.items():
            for rid, ext_id, status, prio in s.execute(_STORED_ALREADY, {"platform_id": pid, "external_ids": ext}):
                existing[(pid, ext_id or "")] = SubmitResult(rid, False, status, prio)  # never None: matched by it
        first_of: dict[tuple[int, str], int] = {}
        new: list[tuple[int, str | None]] = []
        rows: list[dict[str, Any]] = []
        for i, r in enumerate(reports):
            key = (r.platform_id, r.external_id) if r.platform_id is not None and r.external_id is not None else None
            if key is not None and key in existing:
                results[i] = existing[key]
                continue
            if key is not None and key in first_of:
                continue  # the same report twice in this batch: answered as a repeat of the first, below
            if key is not None:
                first_of[key] = i
            row = _report_values(r)
            receipt = None
            if r.source == Source.PUBLIC:
                receipt = receipts.new_receipt()
                row["receipt_lookup"] = receipts.receipt_lookup(s, receipt)
            if r.contact is not None and any(r.contact.model_dump().values()):
                row["contact_sealed"] = r.contact.model_dump_json(exclude_none=True)
            new.append((i, receipt))
            rows.append(row)
        # Core INSERTs, one per table (executemany: one statement text whatever the batch's size), the ids
        # and seals given beforehand: the ORM's unit of work cost more than the writing, and on PostgreSQL
        # its many-row INSERT is a new statement text for each batch size, which the driver parses anew
        ids = sealing.seal_new_rows(s, _REPORTS, rows)
        files: list[dict[str, Any]] = []
        for (i, receipt), report_id in zip(new, ids, strict=True):
            files += (_attachment_values(report_id, f, origin="hash") for f in reports[i].files)
            for f, stored_path in uploads[i] if uploads else ():
                files.append({**_attachment_values(report_id, f, origin="upload"), "stored_path": stored_path})
            results[i] = SubmitResult(report_id, True, "new", provisional_priority(reports[i]), receipt)
        if rows:
            s.execute(insert(_REPORTS), rows)
        if files:
            sealing.seal_new_rows(s, _ATTACHMENTS, files)
            s.execute(insert(_ATTACHMENTS), files)
    for i, r in enumerate(reports):
        if results[i] is None:  # a repeat within the batch
            first = results[first_of[(r.platform_id, r.external_id)]]  # type: ignore[index]
            assert first is not None
            results[i] = replace(first, created=False)
    return results  # type: ignore[return-value]


def provisional_priority(r: ReportIn) -> int:
    """The priority a report is stored with until analysis scores it: a panic-button press or a platform's
    escalation is P1 (never left low, and analysed before any backlog), the rest P3."""
    return 1 if (r.is_live or r.escalate) else 3


def wake_analysis(db: Database, *, urgent: bool = False) -> None:
    """Tell this process's analysis worker that a report waits (no-op when there is none: workers of other
    processes are woken by the job queue, or find it at their next look). ``urgent``: a P1 report (panic
    button, escalation), which ends the pause the worker of a busy server takes to leave the door first."""
    keys = (
        ("intake.wake", "intake.remote_wake", "intake.wake_urgent") if urgent else ("intake.wake", "intake.remote_wake")
    )
    for key in keys:  # this process's worker; `tipline worker` processes
        wake = db.get_resource(key)
        if callable(wake):
            wake()


def mark_for_analysis(s: Session, row: Report) -> None:
    """Queue a stored report for (re-)analysis by the workers: it waits again (``analysed_at`` empty)."""
    row.analysed_at = None


def submit_many(
    db: Database, reports: list[ReportIn], *, uploads: Sequence[Sequence[tuple[FileIn, str | None]]] | None = None
) -> tuple[int, int]:
    """Store a chunk of platform reports (bulk import) in one transaction, none analysed: the analysis
    workers catch up behind. A report whose (platform, report id) is already stored, or repeated in the
    chunk, is skipped, so an interrupted import run again stores only what is missing. ``uploads`` (one list
    per report): files already hashed, with where their bytes are kept (``tipline.media.files.hashed``,
    ``tipline.media.storage.store_blob``). Returns (stored, skipped)."""
    if any(r.platform_id is None or r.external_id is None for r in reports):
        raise IntakeError("bulk import takes platform reports with their own report id")
    files_of = list(uploads) if uploads is not None else []
    if uploads is not None and len(files_of) != len(reports):
        raise IntakeError("bulk import: one list of uploaded files per report")
    for attempt in range(3):
        try:
            stored = sum(res.created for res in _store_reports(db, reports, uploads=files_of))
            break
        except IntegrityError:
            # PostgreSQL: another process (another import, or a helper of the same one) stored one of these
            # reports after this transaction looked; looked at again, it is skipped
            if attempt == 2:
                raise
    if stored:
        wake_analysis(db)
    return stored, len(reports) - stored


def _existing(s: Session, platform_id: int, external_id: str) -> Report | None:
    return s.scalar(select(Report).where(Report.platform_id == platform_id, Report.external_id == external_id))


# which of a platform's report ids are stored already (not the sealed columns): one statement text for any list
_STORED_ALREADY = select(Report.id, Report.external_id, Report.status, Report.priority).where(
    Report.platform_id == bindparam("platform_id"), in_list(Report.external_id, "external_ids")
)
_REPORTS: Table = Report.__table__  # type: ignore[assignment]
_ATTACHMENTS: Table = Attachment.__table__  # type: ignore[assignment]


def _report_values(r: ReportIn) -> dict[str, Any]:
    """A new report's row (its sealed values still plain: ``sealing.seal_new_rows`` binds them to the row);
    every row has the same keys (one executemany), the rest of the columns take their defaults."""
    return {
        "source": r.source.value,
        "category": r.category.value,
        "status": "new",
        "priority": provisional_priority(r),  # until analysed: a live or escalated report is never left low
        "text": r.text,
        "language": r.language,
        "country": r.country,
        "is_live": r.is_live,
        "escalate": r.escalate,
        "incident_at": r.incident_at,
        "platform_id": r.platform_id,
        "external_id": r.external_id,
        "persons": [p.model_dump(mode="json", exclude_none=True) for p in r.persons],
        "urls": list(r.urls),
        "details": r.details,  # written as JSON by its column type (a value JSON has no type for: as text)
        "submission_state": "open" if r.open_submission else "complete",
        "receipt_lookup": None,
        "contact_sealed": None,  # sealed by its column type
    }


def _attachment_values(report_id: int, f: FileIn, *, origin: str) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "origin": origin,
        "filename": f.filename,
        "media_type": f.media_type,
        "size": f.size,
        "md5": f.md5.lower() if f.md5 else None,
        "sha1": f.sha1.lower() if f.sha1 else None,
        "sha256": f.sha256.lower() if f.sha256 else None,
        "pdq": f.pdq.lower() if f.pdq else None,
        "details": json.loads(json.dumps(f.details, default=str)),
        "stored_path": None,
    }


def _attachment(report_id: int, f: FileIn, *, origin: str) -> Attachment:
    return Attachment(**_attachment_values(report_id, f, origin=origin))


# ------------------------------------------------------------------------------------------ submissions


_STATE_WORDS = {"complete": "already finished", "retracted": "already retracted", "open": "open"}


class SubmissionClosed(Conflict):
    """A CyberTipline submission that is no longer open (``state``: ``complete`` or ``retracted``)."""

    def __init__(self, report_id: int, state: str, message: str = "") -> None:
        super().__init__(message or f"report {report_id} is {_STATE_WORDS.get(state, state)}")
        self.report_id = report_id
        self.state = state


class NoSuchFile(NotFound):
    """The file named is not in the report named."""


def _own_report(s: Session, report_id: int, platform_id: int | None) -> Report:
    row = s.get(Report, report_id)
    if row is None or (platform_id is not None and row.platform_id != platform_id):
        raise NotFound(f"no report {report_id} from this platform")
    return row


def _must_be_open(row: Report, message: str = "") -> None:
    """The one submission-state check: every change to a CyberTipline submission needs it open."""
    if row.submission_state != "open":
        raise SubmissionClosed(row.id, row.submission_state, message)


def check_open_submission(db: Database, report_id: int, *, platform_id: int | None) -> None:
    """Raise :class:`NotFound` (not this platform's report) or :class:`SubmissionClosed` unless the
    submission is open."""
    with db.reader() as s:
        _must_be_open(_own_report(s, report_id, platform_id))


def _files_allowed(s: Session, report_id: int, platform_id: int | None, open_only: bool) -> bool:
    """Whether a file may be added now, and whether the report is then analysed again (a finished report of
    the JSON API or the panic button); raises :class:`SubmissionClosed` when no file may be added."""
    row = _own_report(s, report_id, platform_id)
    if row.submission_state == "open":
        return False
    later = row.source in (Source.PLATFORM.value, Source.LIVE.value)
    if row.submission_state == "complete" and later and not open_only:
        return True
    state = _STATE_WORDS[row.submission_state]
    raise SubmissionClosed(
        report_id, row.submission_state, f"report {report_id} is {state}: files are added before finish"
    )


def check_file_allowed(db: Database, report_id: int, *, platform_id: int | None, open_only: bool = False) -> None:
    """Refuse early (before slow hashing) a file the report cannot take: :class:`NotFound` (not this
    platform's report) or :class:`SubmissionClosed`."""
    with db.reader() as s:
        _files_allowed(s, report_id, platform_id, open_only)


def add_attachment(
    db: Database,
    report_id: int,
    file: FileIn,
    *,
    uploaded: bool,
    stored_path: str | None,
    platform_id: int | None,
    open_only: bool = False,
) -> int:
    """Attach a file, already hashed (``uploaded``: from its bytes, kept at ``stored_path`` or dropped; else
    the hashes a platform sent), to an open
    CyberTipline submission, or to a finished report of the JSON API or the panic button (which is then
    analysed again, so the new file's hashes are matched). ``open_only`` (the CyberTipline door): only to an
    open submission, else :class:`SubmissionClosed`. The doors call ``tipline.media.files.add_file``, which
    hashes and stores the bytes first."""
    with db.session() as s:
        reanalyse = _files_allowed(s, report_id, platform_id, open_only)
        att = _attachment(report_id, file, origin="upload" if uploaded else "hash")
        att.stored_path = stored_path
        s.add(att)
        s.flush()
        attachment_id = att.id
        if reanalyse and not db.settings.analyse_inline:
            mark_for_analysis(s, _own_report(s, report_id, platform_id))
    if reanalyse:
        analyse_or_queue(db, report_id)
    return attachment_id


def file_out(db: Database, attachment_id: int) -> FileOut:
    """What the JSON API answers about a stored file: its hashes, kind and whether the bytes are kept."""
    with db.reader() as s:
        a = s.get(Attachment, attachment_id)
        if a is None:
            raise NoSuchFile(f"no file {attachment_id}")
        d = a.details or {}
        return FileOut(
            id=a.id,
            report_id=a.report_id,
            kind=d.get("kind", "other"),
            media_type=a.media_type,
            size=a.size,
            md5=a.md5,
            sha1=a.sha1,
            sha256=a.sha256,
            pdq=a.pdq,
            pdq_quality=d.get("pdq_quality"),
            vpdq=d.get("vpdq"),
            hash_error=d.get("hash_error"),
            stored=a.stored_path is not None,
        )


def update_attachment_details(
    db: Database,
    attachment_id: int,
    details: dict[str, Any],
    *,
    platform_id: int | None,
    report_id: int | None = None,
) -> None:
    """Merge ``details`` into a file of an open submission. With ``report_id`` (the CyberTipline door names
    both), the report is checked first and the file must be in it (:class:`NoSuchFile`)."""
    with db.session() as s:
        if report_id is not None:
            _must_be_open(_own_report(s, report_id, platform_id))
        att = s.get(Attachment, attachment_id)
        if att is None or (report_id is not None and att.report_id != report_id):
            raise NoSuchFile(f"no file {attachment_id}" + (f" in report {report_id}" if report_id else ""))
        _must_be_open(_own_report(s, att.report_id, platform_id))
        merged = dict(att.details)
        merged.update(json.loads(json.dumps(details, default=str)))
        att.details = merged


def finish_submission(db: Database, report_id: int, *, platform_id: int | None) -> list[int]:
    with db.session() as s:
        row = _own_report(s, report_id, platform_id)
        _must_be_open(row)
        row.submission_state = "complete"
        ids = [a.id for a in row.attachments]
    analyse_or_queue(db, report_id)
    return ids


def retract_submission(db: Database, report_id: int, *, platform_id: int | None) -> None:
    with db.session() as s:
        row = _own_report(s, report_id, platform_id)
        _must_be_open(row)
        row.submission_state = "retracted"


# ------------------------------------------------------------------------------------------ follow-up


@dataclass
class ReporterView:
    """What a receipt holder may see: the status in plain words and the messages. Not the report itself
    (whoever finds a receipt on a child's phone must not read the report back)."""

    status: str
    received_at: datetime
    messages: list[dict[str, Any]]


def reporter_view(db: Database, report_id: int) -> ReporterView:
    with db.reader() as s:
        row = s.execute(select(Report.status, Report.received_at).where(Report.id == report_id)).one()
        messages = [
            {"at": f.at, "author": f.author, "body": f.body}
            for f in s.scalars(select(FollowUp).where(FollowUp.report_id == report_id).order_by(FollowUp.id))
        ]
    return ReporterView(row.status, row.received_at, messages)


def report_for_receipt(db: Database, receipt: str) -> int | None:
    digits = receipts.clean_receipt(receipt)
    if digits is None:
        return None
    with db.reader() as s:
        return s.scalar(select(Report.id).where(Report.receipt_lookup == receipts.receipt_lookup(s, digits)))


def add_followup(
    db: Database, report_id: int, body: str, *, author: str = "reporter", user_id: int | None = None
) -> None:
    body = body.strip()
    if not body:
        raise IntakeError("the message is empty")
    if len(body) > 20_000:
        raise IntakeError("the message is longer than 20,000 characters")
    with db.session() as s:
        report = s.get(Report, report_id)
        if report is None:
            raise NotFound(f"no report {report_id}")
        s.add(FollowUp(report_id=report_id, author=author, user_id=user_id, body=body))
        if author == "reporter" and not db.settings.analyse_inline:
            mark_for_analysis(s, report)
    if author == "reporter":
        analyse_or_queue(db, report_id)


# ------------------------------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class _Found:
    kind: str
    value: str
    field: str
    start: int | None
    end: int | None
    confidence: float
    disguise: str = ""
    alternatives: tuple[tuple[str, float], ...] = ()
    linkable: bool = True  # False: an ambiguous reading nobody has confirmed


def _file_locations(row: Report) -> list[_Found]:
    """Where each file was found (CyberTipline ``locationOfFile``, "the URL where the reported file was
    originally located"): the URL and its host, like a link field."""
    out: list[_Found] = []
    for att in row.attachments or []:
        loc = ((att.details or {}).get("file_details") or {}).get("location_of_file")
        if isinstance(loc, str) and loc.strip():
            for f in extract(loc, country=row.country):
                if f.kind in _LINK_KINDS:
                    out.append(_Found(f.kind, f.value, f"files[{att.id}].locationOfFile", None, None, f.confidence))
    return out


def _entities_of(
    row: Report, followups: Iterable[FollowUp], name_index: Callable[[str | None], str | None] | None = None
) -> list[_Found]:
    out: list[_Found] = []
    hints = tuple(p.get("country") for p in row.persons or [] if p.get("country"))
    texts = [("text", row.text or "")] + [
        (f"followup[{fu.id}]", fu.body) for fu in followups if fu.author == "reporter"
    ]
    context = _context_platform(row)
    for where, body in texts:
        for f in extract(body, country=row.country, language=row.language, hints=hints):
            value = f.value
            if context and f.kind == "account" and value.startswith(f"{UNKNOWN_PLATFORM}/"):
                # a bare @name in a report about one platform is an account on that platform
                value = f"{context}/{value.split('/', 1)[1]}"
            out.append(_Found(f.kind, value, where, f.start, f.end, f.confidence, f.disguise, f.alternatives))
    for i, url in enumerate(row.urls or []):
        # a link field (the public form's stream or ad link, a platform's URL list) is an identifier:
        # the URL, its host, and the account or handle of a profile link
        for f in extract(url, country=row.country):
            if f.kind in _LINK_KINDS:
                out.append(_Found(f.kind, f.value, f"urls[{i}]", None, None, f.confidence))
    out.extend(_file_locations(row))
    answers = (row.details or {}).get("answers") or {}
    raw = answers.get("contact")  # the ad form's "phone number, username or handle" (an account answer
    if isinstance(raw, str) and raw.strip():  # becomes a reported person, read below)
        out.extend(_answer_identifiers(row, "contact", raw))
    for pi, person in enumerate(row.persons or []):
        pcountry = person.get("country") or row.country
        index = name_index(person.get("name")) if name_index is not None else None
        if index is not None:
            # the person's name as its keyed blind index (the name stays sealed in the report): it finds
            # payment alerts that name the same person, but links no reports (names are not unique)
            out.append(_Found("name", index, f"persons[{pi}].name", None, None, 1.0, linkable=False))
        for ii, ident in enumerate(person.get("identifiers", [])):
            kind, raw = ident.get("kind", ""), ident.get("value", "")
            where = f"persons[{pi}].identifiers[{ii}]"
            if kind == "account":
                # one account however its platform was typed ("CamChatLive (videochat)", "camchatlive");
                # on Telegram, Skype, ... the handle kind of that platform
                found = account_for(ident.get("platform"), raw)
                if found is None and raw.strip():  # a display name ("Host Ops") is kept as given
                    found = ("account", f"{canonical_platform(ident.get('platform'))}/{raw.strip().lower()}")
                if found is not None:
                    out.append(_Found(found[0], found[1], where, None, None, 1.0))
                continue
            normal = normalise(kind, raw, country=pcountry)
            if normal is not None:
                out.append(_Found(kind, normal, where, None, None, 1.0))
                if kind == "url":
                    dom = normalise("domain", raw)
                    if dom:
                        out.append(_Found("domain", dom, where, None, None, 1.0))
        for ei, ev in enumerate(person.get("ip_events", [])):
            ip = ev.get("ip", "")
            for kind in ("ipv4", "ipv6"):
                normal = normalise(kind, ip)
                if normal is not None:
                    out.append(_Found(kind, normal, f"persons[{pi}].ip_events[{ei}]", None, None, 1.0))
                    break
    return out


def _context_platform(row: Report) -> str | None:
    """The platform a report is about, when it says so: the public form's "platform" answer, else the
    platform that filed it (as a platform id of ``platforms.toml``, or the squashed name)."""
    answer = ((row.details or {}).get("answers") or {}).get("platform")
    if isinstance(answer, str) and answer.strip():
        return canonical_platform(answer)
    if row.platform is not None:
        return canonical_platform(row.platform.name)
    return None


_LINK_KINDS = frozenset(
    ("url", "domain", "onion", "ipv4", "ipv6", "telegram", "whatsapp", "phone", "discord", "snapchat", "kik")
    + ("skype", "account")
)
_HANDLE_ANSWER_RE = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9._\-]{2,63}")


def _answer_identifiers(row: Report, key: str, raw: str) -> list[_Found]:
    """A form answer that holds an identifier ("Phone number, username or handle shown in the ad"): what
    extraction reads in it, or, when it is one bare name, that name as an account on the platform the
    form names (``unknown`` when none). The answer is also in the text, where extraction reads it in
    context; this reads the field on its own, so that a bare handle is not lost."""
    where = f"answers.{key}"
    found = [
        _Found(f.kind, f.value, where, None, None, f.confidence)
        for f in extract(raw, country=row.country, language=row.language)
    ]
    if not found and _HANDLE_ANSWER_RE.fullmatch(raw.strip()):
        platform = ((row.details or {}).get("answers") or {}).get("platform")
        acct = account_for(platform, raw.strip())
        if acct is not None:
            found.append(_Found(acct[0], acct[1], where, None, None, 0.9))
    return found


# A shared identifier named by more reports than this does not confirm a reading (a platform's support
# line, a classifieds domain): the graph's over-correlation guard would not link through it either.
_CONFIRM_MAX_REPORTS = 50


class Located(Protocol):
    """Where a mention was found: the report field and the offset in it (None: the whole field)."""

    @property
    def field(self) -> str: ...

    @property
    def start(self) -> int | None: ...


def reading_key(f: Located) -> str:
    """The key of an ambiguous mention in ``Report.details["readings"]`` (an analyst's choice)."""
    return f"{f.field}:{f.start if f.start is not None else ''}"


def _resolve_readings(s: Session, row: Report, found: list[_Found]) -> list[_Found]:
    """Settle the ambiguous values (a number valid in two countries): a reading is confirmed, and then
    links like any identifier, when an analyst chose it (``details["readings"]``), when the report names
    the same value unambiguously elsewhere, or when another report that shares an unambiguous identifier
    with this one names that reading; the other readings stay beside it. Otherwise the best reading is
    kept with its alternatives and does not link (``Mention.linkable`` False)."""
    if not any(f.alternatives for f in found):
        return found
    chosen: dict[str, str] = ((row.details or {}).get("readings") or {}) if isinstance(row.details, dict) else {}
    sure = {(f.kind, f.value) for f in found if not f.alternatives}
    neighbours: set[str] | None = None
    out: list[_Found] = []
    for f in found:
        if not f.alternatives:
            out.append(f)
            continue
        readings = [f.value] + [v for v, _ in f.alternatives]
        pick = chosen.get(reading_key(f))
        if pick not in readings:
            pick = next((v for v in readings if (f.kind, v) in sure), None)
        if pick is None:
            if neighbours is None:
                neighbours = _neighbour_values(s, row.id, sure, f.kind)
            pick = next((v for v in readings if v in neighbours), None)
        if pick is None:
            out.append(replace(f, linkable=False))
            continue
        # the confirmed reading first; the others stay visible beside it
        scored = [(f.value, f.confidence), *f.alternatives]
        conf = max(c for v, c in scored if v == pick)
        others = tuple((v, c) for v, c in scored if v != pick)
        out.append(replace(f, value=pick, confidence=conf, alternatives=others))
    return out


def _neighbour_values(s: Session, report_id: int, sure: set[tuple[str, str]], kind: str) -> set[str]:
    """Values of ``kind`` that reports sharing an unambiguous identifier with this one name (linkably)."""
    if not sure:
        return set()
    by_kind: dict[str, list[str]] = {}
    for k, v in sure:
        by_kind.setdefault(k, []).append(v)
    shared: set[int] = set()
    for k, values in by_kind.items():
        shared.update(
            s.scalars(
                select(Entity.id).where(
                    Entity.kind == k, Entity.value.in_(values), Entity.report_count <= _CONFIRM_MAX_REPORTS
                )
            )
        )
    if not shared:
        return set()
    others = (
        select(Mention.report_id)
        .where(Mention.entity_id.in_(shared), Mention.report_id != report_id, Mention.linkable.is_(True))
        .distinct()
    )
    return set(
        s.scalars(
            select(Entity.value)
            .join(Mention, Mention.entity_id == Entity.id)
            .where(Mention.report_id.in_(others), Entity.kind == kind, Mention.linkable.is_(True))
        )
    )


# Session.info key: a connection of its own, in autocommit, through which ``upsert_entities`` inserts new
# entities (``intake.worker.entities_committed_apart``)
ENTITY_WRITER = "intake.entity_writer"

# The statements analysis runs for every report, built once (see ``graph.network``'s): ``ids``, ``kinds``
# and ``values`` are lists (``store.lists.in_list``: one statement text whatever their length).
_REPORT: BindParameter[int] = bindparam("report_id")
# on the tables, not the mapped classes: an ORM-enabled DELETE or INSERT costs the worker about as much again
# (synchronize_session, the ORM's bulk path), and nothing in analysis reads a Mention object back; a SELECT of
# mapped attributes goes through the ORM's compile and result set-up (70 us more a statement)
_MENTION_TABLE = cast(Table, Mention.__table__)
_ENTITY_TABLE = cast(Table, Entity.__table__)
_E, _M = _ENTITY_TABLE.c, _MENTION_TABLE.c
_ENTITY_IDS = select(_E.id, _E.kind, _E.value).where(in_list(_E.kind, "kinds"), in_list(_E.value, "values"))
_DROP_MENTIONS = delete(_MENTION_TABLE).where(_MENTION_TABLE.c.report_id == _REPORT)
_ADD_MENTIONS = insert(_MENTION_TABLE)
_MENTIONED = select(Mention.entity_id, Mention.linkable).where(Mention.report_id == _REPORT)
_DROP_MENTIONS_RETURNING = _DROP_MENTIONS.returning(_MENTION_TABLE.c.entity_id, _MENTION_TABLE.c.linkable)
# FOR NO KEY UPDATE: a plain FOR UPDATE would wait on the key-share locks that other transactions' new
# mentions take on these rows (foreign keys), and two such waits deadlock
_LOCK_ENTITIES = select(Entity.id).where(in_list(Entity.id, "ids")).order_by(Entity.id).with_for_update(key_share=True)
_REPORTS_NAMING = func.count(func.distinct(Mention.report_id))
_ENTITY_COUNTS = (  # a recount: the reports naming each entity, those naming it linkably, its evidence count
    select(Entity.id, Entity.evidence_count, _REPORTS_NAMING, _REPORTS_NAMING.filter(Mention.linkable.is_(True)))
    .outerjoin(Mention, Mention.entity_id == Entity.id)
    .where(in_list(Entity.id, "ids"))
    .group_by(Entity.id, Entity.evidence_count)
)
_NAMED_NOW = _ENTITY_TABLE.c.report_count + bindparam("dr")
_ADD_TO_COUNTS = (  # analysis: the counts by difference (dr, dl: -1, 0 or +1); seen now if still named
    update(_ENTITY_TABLE)
    .where(in_list(_ENTITY_TABLE.c.id, "ids"))
    .values(
        report_count=_NAMED_NOW,
        linkable_count=_ENTITY_TABLE.c.linkable_count + bindparam("dl"),
        last_seen=case((_NAMED_NOW > 0, bindparam("now")), else_=_ENTITY_TABLE.c.last_seen),
    )
)
_COUNTS = (
    _ENTITY_TABLE.c.id,
    _ENTITY_TABLE.c.report_count,
    _ENTITY_TABLE.c.linkable_count,
    _ENTITY_TABLE.c.evidence_count,
)
_ADD_TO_COUNTS_RETURNING = _ADD_TO_COUNTS.returning(*_COUNTS)
# PostgreSQL, every entity moving alike (nearly every report): the rows locked in id order by a sub-select
# of the UPDATE itself, one statement instead of _LOCK_ENTITIES and the UPDATE (the locks are taken as the
# sorted rows come, ascending as _LOCK_ENTITIES takes them; a row another transaction changed meanwhile is
# updated in its newest version, as any UPDATE under READ COMMITTED is)
_LOCKED = _ENTITY_TABLE.alias("locked_entities")
_LOCKED_IDS = (
    select(_LOCKED.c.id)
    .where(in_list(_LOCKED.c.id, "ids"))
    .order_by(_LOCKED.c.id)
    .with_for_update(key_share=True)
    .subquery("locked")
)
_LOCK_AND_ADD_TO_COUNTS = (
    update(_ENTITY_TABLE)
    .where(_ENTITY_TABLE.c.id == _LOCKED_IDS.c.id)
    .values(
        report_count=_NAMED_NOW,
        linkable_count=_ENTITY_TABLE.c.linkable_count + bindparam("dl"),
        last_seen=case((_NAMED_NOW > 0, bindparam("now")), else_=_ENTITY_TABLE.c.last_seen),
    )
    .returning(*_COUNTS)
)
_COUNTS_NOW = select(*_COUNTS).where(in_list(_ENTITY_TABLE.c.id, "ids"))
_SHARING = (  # the other reports that name these entities linkably, through those that can confirm a reading
    select(_M.report_id)
    .select_from(_MENTION_TABLE.join(_ENTITY_TABLE, _E.id == _M.entity_id))
    .where(
        in_list(_M.entity_id, "ids"),
        # what _neighbour_values counts as shared: a reading is never confirmed through an identifier named by
        # more reports (a platform's domain), so the reports naming one are not worth checking again, and
        # reading their mentions grew with the store (42% of PostgreSQL's time after 6,000 reports)
        _E.report_count <= _CONFIRM_MAX_REPORTS,
        _M.report_id != _REPORT,
        _M.linkable.is_(True),
    )
    .distinct()
)


def upsert_entities(s: Session, pairs: set[tuple[str, str]], now: datetime) -> dict[tuple[str, str], int]:
    """The ids of these (kind, value) entities, inserting those that are new. In a session that holds an
    ``ENTITY_WRITER`` the new rows are committed at once through it, whatever ``s`` does afterwards.

    Only the entities not found are inserted: on PostgreSQL an INSERT of a value that exists waits for
    every open transaction that updated its row (the unique index check waits for an uncommitted row
    version), and each analysis updates the counts of the entities it names: two workers naming one phone
    waited on each other's whole batch, and a batch waited on itself through its ``ENTITY_WRITER``."""
    if not pairs:
        return {}
    ids = _entity_ids(s, pairs)
    missing = pairs - ids.keys()
    if missing:
        dialect = s.get_bind().dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        rows = [
            {"kind": k, "value": v, "first_seen": now, "last_seen": now, "report_count": 0} for k, v in sorted(missing)
        ]
        # parameters as a list (executemany), not .values(rows): one cached statement for any number of
        # rows, where a multi-row VALUES was compiled afresh for each report (a third of upsert's time; with
        # RETURNING, SQLAlchemy sends the rows in one multi-row INSERT of that cached statement, its
        # "insertmanyvalues"); DO NOTHING: another transaction inserted one of them since the read
        writer = s.info.get(ENTITY_WRITER)
        stmt = ins(_ENTITY_TABLE).on_conflict_do_nothing(index_elements=["kind", "value"])
        if not s.get_bind().dialect.insert_executemany_returning:
            (writer if writer is not None else s).execute(stmt, rows)
            ids.update(_entity_ids(s, missing))
            return ids
        # the ids of the rows it inserted come back with them (one round trip, not an INSERT and a SELECT);
        # only a value another transaction inserted since the read is read again
        added = (writer if writer is not None else s).execute(stmt.returning(_E.id, _E.kind, _E.value), rows)
        ids.update({(kind, value): eid for eid, kind, value in added})
        if missing - ids.keys():
            ids.update(_entity_ids(s, missing - ids.keys()))
    return ids


def _entity_ids(s: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    # one SELECT for every kind (the unique (kind, value) index serves both IN lists), where one per kind
    # cost four statements a report; a value of another kind that the lists also match is left out here
    kinds = sorted({k for k, _v in pairs})
    values = sorted({v for _k, v in pairs})
    ids: dict[tuple[str, str], int] = {}
    for eid, kind, value in s.execute(_ENTITY_IDS, {"kinds": kinds, "values": values}):
        if (kind, value) in pairs:
            ids[(kind, value)] = eid
    return ids


def analyse_or_queue(db: Database, report_id: int) -> None:
    """A stored report that waits for analysis (``analysed_at`` empty): analysed now when analysis is
    inline, else its worker is woken."""
    if db.settings.analyse_inline:
        analyse_after_store(db, report_id)
    else:
        wake_analysis(db)


def analyse_after_store(db: Database, report_id: int) -> int | None:
    """Analyse a report that is already stored; a failure is logged, not raised.

    The report is durable whatever happens here: a door must not answer 500 for a report it has kept
    (the client would retry a report we already hold). It stays unanalysed (``analysed_at`` empty) and
    the app retries it (at start-up and every minute). Returns the priority, or None when it failed.
    """
    try:
        return analyse_report(db, report_id)
    except Exception:  # noqa: BLE001 - logged with its traceback; retried by analyse_pending
        log.exception("analysis of report %d failed; it will be retried", report_id)
        return None


def analyse_report(db: Database, report_id: int, *, recheck: bool = True) -> int:
    """Extract entities, link them, score the report with the rules in force; returns its priority.

    With ``recheck``, the reports that share an identifier with this one and still hold an unconfirmed
    ambiguous reading are analysed again afterwards: this report may confirm one of their readings.
    """
    priority, waiting = _analyse(db, report_id)
    if recheck:
        for rid in waiting:
            analyse_report(db, rid, recheck=False)
    return priority


_RECHECK_MAX = 20
_READ_KINDS = ("phone", "whatsapp")  # the kinds an ambiguous reading (a number valid in two countries) is of
_WAITING = (  # reports with an unconfirmed reading (of a phone) among those sharing these entities
    select(_M.report_id)
    .select_from(_MENTION_TABLE.join(_ENTITY_TABLE, _E.id == _M.entity_id))
    # a person's name (or a known picture) names an entity without linking too: such a report has no
    # reading to confirm, and was analysed again for nothing
    .where(_M.report_id.in_(_SHARING), _M.linkable.is_(False), _E.kind.in_(_READ_KINDS))
    .distinct()
    .limit(_RECHECK_MAX)
)


@functools.cache
def _drop_analysis_rows(tables: tuple[Table, ...]) -> tuple[Delete, ...]:
    """One DELETE of a report's rows for each table (``Capability.analysis_rows``)."""
    return tuple(delete(t).where(t.c.report_id == _REPORT) for t in tables)


# PostgreSQL: the mentions written as one array a column (``m_<column>``, one element a mention), unnested
# in parallel by an INSERT ... SELECT: one statement text for any number of mentions, and one that can go in
# the WITH of the DELETE of the old ones (_drop_and_add_returning); ``alternatives`` as JSON texts
_ARRAY_COLUMNS: dict[str, Any] = {
    "entity_id": Integer(),
    "field": String(),
    "start": Integer(),
    "end": Integer(),
    "confidence": Float(),
    "disguise": String(),
    "linkable": Boolean(),
}
_NEW_MENTIONS = select(
    *(func.unnest(bindparam(f"m_{c}", type_=ARRAY(t))).label(c) for c, t in _ARRAY_COLUMNS.items()),
    sa_cast(func.unnest(bindparam("m_alternatives", type_=ARRAY(Text()))), JSON()).label("alternatives"),
    _REPORT.label("report_id"),
    bindparam("m_created_at", type_=_MENTION_TABLE.c.created_at.type).label("created_at"),
)
_ADD_MENTIONS_FROM_ARRAYS = insert(_MENTION_TABLE).from_select(
    [*_ARRAY_COLUMNS, "alternatives", "report_id", "created_at"], _NEW_MENTIONS
)


@functools.cache
def _drop_and_add_returning(tables: tuple[Table, ...]) -> Executable:
    """PostgreSQL: the report's rows of every table and its mentions deleted, and its new mentions inserted,
    in one statement (a DELETE or INSERT in a WITH runs whether or not the statement reads it; no part of
    a statement sees the rows another part writes, so the DELETE leaves the new mentions), the deleted
    mentions returned."""
    drops = (drop.cte(f"drop_{t.name}") for t, drop in zip(tables, _drop_analysis_rows(tables), strict=True))
    return _DROP_MENTIONS_RETURNING.add_cte(*drops, _ADD_MENTIONS_FROM_ARRAYS.cte("add_mentions"))


def _as_arrays(rows: list[dict[str, Any]], created_at: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {f"m_{c}": [r[c] for r in rows] for c in _ARRAY_COLUMNS}
    out["m_alternatives"] = [None if r["alternatives"] is None else json.dumps(r["alternatives"]) for r in rows]
    out["m_created_at"] = created_at
    return out


def _replace_mentions(
    s: Session, report_id: int, found: list[Any], ids: dict[tuple[str, str], int], also: tuple[Table, ...] = ()
) -> tuple[dict[int, bool], dict[int, bool], list[tuple[str, str, str]]]:
    """The report's mentions, written anew (one per entity, field and place), after its rows in ``also``
    (the capabilities' ``analysis_rows``) are deleted; returns the entities it mentioned before and those it
    mentions now, each with whether it names that entity linkably (one of its mentions of it is), and the
    (kind, value, field) of the mentions written, in order."""
    now: dict[int, bool] = {}
    seen: set[tuple[int, str, int | None]] = set()
    rows: list[dict[str, Any]] = []
    written: list[tuple[str, str, str]] = []
    for f in found:
        eid = ids[(f.kind, f.value)]
        key = (eid, f.field, f.start)
        if key in seen:
            continue
        seen.add(key)
        now[eid] = now.get(eid, False) or f.linkable
        written.append((f.kind, f.value, f.field))
        rows.append(
            {
                "entity_id": eid,
                "report_id": report_id,
                "field": f.field,
                "start": f.start,
                "end": f.end,
                "confidence": f.confidence,
                "disguise": f.disguise or None,
                "alternatives": [list(a) for a in f.alternatives] or None,
                "linkable": f.linkable,
            }
        )
    at = {"report_id": report_id}
    dialect = s.get_bind().dialect
    if dialect.name == "postgresql":  # one statement for all: the old rows of every table out, the new mentions in
        old_rows = list(s.execute(_drop_and_add_returning(also), {**at, **_as_arrays(rows, utcnow())}))
    else:
        for drop in _drop_analysis_rows(also):
            s.execute(drop, at)
        if dialect.delete_returning:  # SQLite >= 3.35: one statement, not two
            old_rows = list(s.execute(_DROP_MENTIONS_RETURNING, at))
        else:
            old_rows = list(s.execute(_MENTIONED, at))
            s.execute(_DROP_MENTIONS, at)
        if rows:  # one INSERT for all of them (executemany; every row has every key, so one statement)
            s.execute(_ADD_MENTIONS, rows)
    before: dict[int, bool] = {}
    for eid, linkable in old_rows:
        before[eid] = before.get(eid, False) or bool(linkable)
    return before, now, written


def _waiting_reports(s: Session, report_id: int, ids: dict[tuple[str, str], int], entity_ids: set[int]) -> list[int]:
    """Reports with an unconfirmed ambiguous reading that share an identifier with this one: to check again
    (this report may confirm their reading)."""
    phones = [eid for (k, _v), eid in ids.items() if k in _READ_KINDS]
    if not (entity_ids and phones):
        return []
    return list(s.scalars(_WAITING, {"ids": sorted(entity_ids), "report_id": report_id}))


def is_conflict(e: BaseException) -> bool:
    """A deadlock or serialization failure between two transactions (PostgreSQL SQLSTATE 40P01, 40001):
    PostgreSQL broke a cycle of waits by aborting this one; running it again is the remedy."""
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001", "55P03")


_CONFLICT_TRIES = 5


def _analyse(db: Database, report_id: int) -> tuple[int, list[int]]:
    rules = rules_in_force(db)
    for attempt in range(1, _CONFLICT_TRIES + 1):
        try:
            with db.session() as s:
                return analyse_in(s, db, rules, report_id)
        except Exception as e:
            if not is_conflict(e) or attempt == _CONFLICT_TRIES:
                raise
            log.info("analysis of report %d met a concurrent one (try %d); running it again", report_id, attempt)
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


def rules_in_force(db: Database) -> RuleSet:
    """The triage rules analysis scores with (the file in the settings or the data folder, else the
    defaults), with the capabilities' rule kinds. Read once per batch, not per report."""
    return load_rules(_rules_path(db), kinds=rule_kinds(db.require_capabilities()))


def analyse_in(
    s: Session, db: Database, rules: RuleSet, report_id: int, followups: list[FollowUp] | None = None
) -> tuple[int, list[int]]:
    """Analyse one report inside the write session ``s`` (one report alone, or one of a batch: the same
    steps, the same result); returns its priority and the reports with an unconfirmed reading to check
    again. ``followups``: the report's follow-ups in id order, when the caller read them already (a batch
    reads those of all its reports at once). The caller commits."""
    capabilities = db.require_capabilities()
    now = datetime.now(UTC)
    row = s.get(Report, report_id)
    if row is None:
        raise NotFound(f"no report {report_id}")
    if followups is None:
        followups = followups_of(s, [report_id]).get(report_id, [])
    found = _resolve_readings(s, row, _entities_of(row, followups, db.keyring.name_index))
    for cap in capabilities:
        if cap.report_identifiers is not None:
            found += [
                _Found(k, v, where, None, None, 1.0) for k, v, where in cap.report_identifiers(s, db.settings, row)
            ]
    ids = upsert_entities(s, {(f.kind, f.value) for f in found}, now)
    also = tuple(t for cap in capabilities for t in cap.analysis_rows)
    before, named_now, written = _replace_mentions(s, report_id, found, ids, also)
    old_entities = set(before)
    # an ambiguous reading (see _resolve_readings) names its entity, but links nothing
    entity_ids = {ids[(f.kind, f.value)] for f in found if f.linkable}
    counted = count_by_difference(s, before, named_now, now)
    named = {eid: pair for pair, eid in ids.items() if eid in entity_ids}
    others = {
        f"{k}:{v}": n for (k, v), n in sorted((named[e], n) for e, n in counted.others.items() if e in entity_ids)
    }
    victim_ages = [p["age"] for p in row.persons or [] if p.get("role") == "victim" and p.get("age") is not None]
    text = "\n".join([row.text or ""] + [fu.body for fu in followups if fu.author == "reporter"])
    ctx = AnalysisContext(
        db=db,
        session=s,
        report=row,
        entity_ids=entity_ids,
        removed_entity_ids=old_entities - entity_ids,
        previous_entity_ids=old_entities,
        entity_info={e: (*named[e], counted.degree[e]) for e in entity_ids},
        mentions=written,
        score_input=ScoreInput(
            text=text,
            language=row.language,
            category=row.category,
            source=row.source,
            is_live=row.is_live,
            escalate=row.escalate,
            victim_ages=victim_ages,
            entity_report_counts=others,
            annotations=_strs((row.details or {}).get("annotations")),
            file_annotations=_file_annotations(row),
        ),
    )
    for cap in capabilities:
        if cap.before_score is not None:
            cap.before_score(ctx)
    scored = rules.score(ctx.score_input)
    ctx.scored = scored
    values = {
        "priority": scored.priority,
        "score": scored.score,
        "reasons": [r.as_dict() for r in scored.reasons],
        "analysed_at": now,
        "updated_at": now,
    }
    with later.held(s):  # the hooks' derived rows go with the score's write, in its statement on PostgreSQL
        for key, value in values.items():  # what the hooks see on the report; written at the end
            set_committed_value(row, key, value)
        for cap in capabilities:
            if cap.after_analysis is not None:
                cap.after_analysis(ctx)
        inserts, params = later.take_held(s)
        _record_score(s, row.id, _search_body(row, text, found), inserts, {**values, **params})
    return scored.priority, _waiting_reports(s, report_id, ids, entity_ids)


_REPORT_TABLE = cast(Table, Report.__table__)
_SCORED = ("priority", "score", "reasons", "analysed_at", "updated_at")
_SET_SCORE = (
    update(_REPORT_TABLE)
    .where(_REPORT_TABLE.c.id == bindparam("report_id"))
    .values({k: bindparam(k, type_=_REPORT_TABLE.c[k].type) for k in _SCORED})
)


def _record_score(
    s: Session, report_id: int, search_body: str, inserts: tuple[Insert, ...], params: dict[str, Any]
) -> None:
    """Write the analysis's result on the report's row in one UPDATE of the table (``params``: ``_SCORED``'s
    values, and the ``inserts``'), with its words' index and the derived rows the hooks held
    (:mod:`tipline.store.later`): on PostgreSQL in one statement (:func:`~tipline.store.search.index_report`).
    The caller set the same values on the object, as already written: set there, they were written by the
    ORM's flush (its unit of work, attribute history, sealing's check of every sealed column), 8% of a
    worker's time for one UPDATE. ``updated_at`` as the column's ``onupdate`` sets it through the ORM."""
    index_report(s, report_id, search_body, along=(_SET_SCORE, *inserts), params={"report_id": report_id, **params})


_FOLLOWUPS = select(FollowUp).where(in_list(FollowUp.report_id, "ids")).order_by(FollowUp.id)  # each claim: built once


def followups_of(s: Session, report_ids: list[int]) -> dict[int, list[FollowUp]]:
    """The follow-ups of these reports, each report's in id order (the order they were written)."""
    out: dict[int, list[FollowUp]] = {}
    for fu in s.scalars(_FOLLOWUPS, {"ids": report_ids}):
        out.setdefault(fu.report_id, []).append(fu)
    return out


def _file_annotations(row: Report) -> list[str]:
    """The annotations of the report's files (CyberTipline fileAnnotations), once each, sorted."""
    return sorted(
        {x for a in row.attachments for x in _strs((a.details or {}).get("file_details", {}).get("annotations"))}
    )


def _strs(value: Any) -> list[str]:
    """The names in a stored list of annotations (anything else is ignored)."""
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class EntityCounts:
    """What :func:`count_by_difference` counted, by entity id."""

    degree: dict[int, int]  # the reports and evidence items that name it (``Entity.degree``, as now stored)
    others: dict[int, int]  # the other reports that name it linkably (entities this report names linkably)


def count_by_difference(s: Session, before: dict[int, bool], now: dict[int, bool], at: datetime) -> EntityCounts:
    """Analysis rewrote a report's mentions: ``before`` and ``now``, the entities it named, each with whether
    it named it linkably. Each entity's ``report_count`` and ``linkable_count`` move by the difference (+1
    for an entity it starts naming, -1 for one it stops naming) and are read back.

    A recount read every mention of every entity a report names: a domain named by a quarter of the reports
    made each analysis grow with the whole store (bench/RESULTS.md, "Tables that have a history"). The rows
    are locked first, in id order (two workers naming one new phone at once wait for each other, and never
    in opposite orders); the difference is exact whatever another transaction adds meanwhile, since each
    adds its own under the row's lock. Other paths that rewrite mentions (retention, face groups) recount
    (:func:`refresh_entity_stats`)."""
    touched = sorted(before.keys() | now.keys())
    if not touched:
        return EntityCounts({}, {})
    moves: dict[tuple[int, int], list[int]] = {}
    for e in touched:
        dr = (e in now) - (e in before)
        dl = int(now.get(e, False)) - int(before.get(e, False))
        moves.setdefault((dr, dl), []).append(e)
    # each UPDATE returns the counts it leaves (every entity touched is in one of them): one statement a
    # report fewer than reading them back, where the database returns what an UPDATE wrote
    returning = s.get_bind().dialect.update_returning
    counts: list[Any] = []
    if s.get_bind().dialect.name == "postgresql":
        if len(moves) == 1:
            ((dr, dl),) = moves
            counts = list(s.execute(_LOCK_AND_ADD_TO_COUNTS, {"ids": touched, "dr": dr, "dl": dl, "now": at}))
            moves = {}
        else:
            s.execute(_LOCK_ENTITIES, {"ids": touched})
    for (dr, dl), ids in sorted(moves.items()):  # at most a few statements: most entities move alike
        params = {"ids": ids, "dr": dr, "dl": dl, "now": at}
        if returning:
            counts += s.execute(_ADD_TO_COUNTS_RETURNING, params).all()
        else:
            s.execute(_ADD_TO_COUNTS, params)
    if not returning:
        counts = list(s.execute(_COUNTS_NOW, {"ids": touched}))
    degree: dict[int, int] = {}
    others: dict[int, int] = {}
    for eid, reports, linkable, evidence in counts:
        degree[eid] = int(reports) + int(evidence or 0)
        if now.get(eid) and linkable > 1:
            others[eid] = int(linkable) - 1
    return EntityCounts(degree, others)


def refresh_entity_stats(s: Session, entity_ids: set[int], now: datetime) -> dict[int, int]:
    """Recount the reports that name each entity (all of them, and those naming it linkably) from the
    mentions, after a path other than analysis rewrote them (retention, face groups); returns each entity's
    degree. On PostgreSQL the entity rows are locked first (in id order), so the count is taken after any
    other transaction counting the same entity has committed."""
    if not entity_ids:
        return {}
    ids = {"ids": sorted(entity_ids)}
    if s.get_bind().dialect.name == "postgresql":
        s.execute(_LOCK_ENTITIES, ids)
    counts: dict[int, tuple[int, int]] = {}
    degree: dict[int, int] = {}
    for eid, evidence, n, n_linkable in s.execute(_ENTITY_COUNTS, ids):
        counts[eid] = (int(n), int(n_linkable))
        degree[eid] = int(n) + int(evidence or 0)
    # Core executemany UPDATEs, no ORM objects: loading each entity to set columns cost a SELECT and a flush
    named = [{"eid": e, "n": n, "nl": nl, "now": now} for e, (n, nl) in sorted(counts.items()) if n]
    gone = [{"eid": e} for e in sorted(entity_ids) if not counts.get(e, (0, 0))[0]]
    table = _ENTITY_TABLE
    if named:
        s.execute(
            update(table)
            .where(table.c.id == bindparam("eid"))
            .values(report_count=bindparam("n"), linkable_count=bindparam("nl"), last_seen=bindparam("now")),
            named,
        )
    if gone:
        s.execute(update(table).where(table.c.id == bindparam("eid")).values(report_count=0, linkable_count=0), gone)
    return degree


def _search_body(row: Report, text: str, found: list[_Found]) -> str:
    parts = [text, " ".join(row.urls or []), row.category.replace("_", " ")]
    parts += sorted({f.value for f in found})
    return "\n".join(p for p in parts if p)


def _rules_path(db: Database) -> Any:
    st = db.settings
    if st.rules_file is not None:
        return st.rules_file
    local = st.data_dir / "triage-rules.toml"
    return local if local.exists() else None


def analyse_pending(db: Database, *, limit: int | None = None) -> int:
    """Analyse complete reports that have never been analysed (e.g. after a crash). Returns the count."""
    with db.reader() as s:
        q = select(Report.id).where(Report.analysed_at.is_(None), Report.submission_state == "complete")
        ids = list(s.scalars(q.order_by(Report.id).limit(limit)))
    # a report that fails again is logged and left for the next round; the others go on
    return sum(analyse_after_store(db, rid) is not None for rid in ids)


def complete_report_ids(db: Database) -> list[int]:
    """Every report that is in the queue's scope (complete submissions), oldest first."""
    with db.reader() as s:
        return list(s.scalars(select(Report.id).where(Report.submission_state == "complete").order_by(Report.id)))


def reanalyse_all(db: Database) -> int:
    ids = complete_report_ids(db)
    for rid in ids:
        analyse_report(db, rid)
    return len(ids)
