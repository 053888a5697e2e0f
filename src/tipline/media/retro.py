"""Retro-matching: when a list arrives, match the files already stored against it.

Every import that adds entries, and every re-enable, queues a :class:`~tipline.media.models.RetroRun`
(:func:`tipline.media.banks.queue_retro`, in the import's own transaction). A run walks the attachments of
complete reports in id order, :data:`CHUNK` at a time, matches them against the run's entries only (a
:class:`~tipline.media.matching.Matcher` scoped to ``(after_entry_id, upto_entry_id]`` of that bank) and
analyses every report it hits again, so the report's matches are recorded and its triage re-runs: the
``known-abuse-hash`` reason then says "matched list X imported on D" (:mod:`tipline.media.hooks`).

Who runs it: ``tipline banks import`` / ``enable`` (in the command, with a progress bar; ``--later`` leaves
it to the app), the bank pages (a background thread of the app; the bank page shows its progress line),
and the app at start (runs left pending or abandoned: a run saves where it is after every chunk and
resumes there). A run whose heartbeat is older than :data:`STALE_SECONDS` is taken over.

Open CyberTipline submissions are not walked: they are matched when they are finished (or found stale).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update

from tipline.intake.service import analyse_after_store
from tipline.media.matching import Matcher, queries_for_attachment
from tipline.media.models import RetroRun
from tipline.store import Database
from tipline.store.models import Attachment, Report

log = logging.getLogger("tipline.media.retro")

CHUNK = 500  # attachments per step (one read, one matcher call, one progress save)
STALE_SECONDS = 600  # a chunk of 500 files and the reports it hits is well under this

Progress = Callable[[int, int], None]  # (files done, files in all)


@dataclass(frozen=True)
class RunInfo:
    id: int
    bank_id: int
    bank_name: str
    reason: str
    state: str
    total: int
    done: int
    reports_hit: int
    created_at: datetime
    finished_at: datetime | None
    error: str | None

    @property
    def percent(self) -> int:
        return 100 if self.state == "done" or not self.total else min(100, self.done * 100 // self.total)


def _info(r: RetroRun) -> RunInfo:
    return RunInfo(
        r.id, r.bank_id, r.bank_name, r.reason, r.state, r.total, r.done, r.reports_hit, r.created_at,
        r.finished_at, r.error,
    )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def _files(after: int) -> list[ColumnElement[bool]]:
    return [Attachment.id > after, Report.submission_state == "complete"]


def _claim(db: Database, run_id: int) -> RetroRun | None:
    """Take the run (pending, or running with a heartbeat older than STALE_SECONDS); None if it is done or
    someone else is on it. One UPDATE, so two workers never both take it."""
    now = _now()
    stale = now - timedelta(seconds=STALE_SECONDS)
    with db.session() as s:
        result = s.execute(
            update(RetroRun)
            .where(
                RetroRun.id == run_id,
                or_(RetroRun.state == "pending", (RetroRun.state == "running") & (RetroRun.heartbeat_at < stale)),
            )
            .values(state="running", heartbeat_at=now)
        )
        if not isinstance(result, CursorResult) or not result.rowcount:
            return None
        run = s.get(RetroRun, run_id)
        assert run is not None
        if run.started_at is None:
            run.started_at = now
            run.total = int(
                s.scalar(
                    select(func.count(Attachment.id)).join(Report, Report.id == Attachment.report_id).where(*_files(0))
                )
                or 0
            )
        s.flush()
        s.expunge(run)
        return run


def run(db: Database, run_id: int, *, progress: Progress | None = None) -> RunInfo | None:
    """Do one run (or its rest, after a restart). Returns its final state; None if another worker has it."""
    run = _claim(db, run_id)
    if run is None:
        return None
    try:
        matcher = Matcher(db, scope={run.bank_id: (run.after_entry_id, run.upto_entry_id)})
        matcher.refresh(force=True)
        last, done, hit = run.last_attachment_id, run.done, run.reports_hit
        if progress is not None:
            progress(done, run.total)
        while True:
            reports, count, last = _step(db, matcher, last)
            if not count:
                break
            for rid in sorted(reports):
                analyse_after_store(db, rid)  # records the matches, re-runs triage; a failure is logged
            done, hit = done + count, hit + len(reports)
            _save(db, run.id, done=done, reports_hit=hit, last_attachment_id=last, heartbeat_at=_now())
            if progress is not None:
                progress(done, max(done, run.total))
        _save(db, run.id, state="done", finished_at=_now(), total=max(done, run.total), done=done)
    except Exception as e:
        log.exception("retro-match run %d failed", run.id)
        _save(db, run.id, state="failed", finished_at=_now(), error=f"{type(e).__name__}: {e}"[:500])
    return get_run(db, run.id)


def _step(db: Database, matcher: Matcher, last: int) -> tuple[set[int], int, int]:
    """Match the next CHUNK files -> (reports hit, files read, last file id)."""
    with db.reader() as s:
        atts = list(
            s.scalars(
                select(Attachment)
                .join(Report, Report.id == Attachment.report_id)
                .where(*_files(last))
                .order_by(Attachment.id)
                .limit(CHUNK)
            )
        )
        if not atts:
            return set(), 0, last
        owner = {a.id: a.report_id for a in atts}
        queries = [q for a in atts for q in queries_for_attachment(a)]
        found = matcher.match(queries, session=s, refresh=False)
    return {owner[m.query.ref] for m in found if m.query.ref in owner}, len(atts), atts[-1].id


def _save(db: Database, run_id: int, **values: object) -> None:
    with db.session() as s:
        s.execute(update(RetroRun).where(RetroRun.id == run_id).values(**values))


def waiting(db: Database) -> list[int]:
    """Runs to do: pending, or running without a heartbeat for STALE_SECONDS (their worker died)."""
    stale = _now() - timedelta(seconds=STALE_SECONDS)
    with db.reader() as s:
        return list(
            s.scalars(
                select(RetroRun.id)
                .where(
                    or_(RetroRun.state == "pending", (RetroRun.state == "running") & (RetroRun.heartbeat_at < stale))
                )
                .order_by(RetroRun.id)
            )
        )


def run_waiting(db: Database, *, progress: Callable[[RunInfo], Progress | None] | None = None) -> list[RunInfo]:
    """Do every waiting run, oldest first."""
    out = []
    for rid in waiting(db):
        info = get_run(db, rid)
        got = run(db, rid, progress=progress(info) if progress is not None and info is not None else None)
        if got is not None:
            out.append(got)
    return out


_background_lock = threading.Lock()


def in_background(db: Database) -> threading.Thread | None:
    """Do the waiting runs in a daemon thread of this process (the app); None when there are none. One
    thread per database object at a time: a second call while one works leaves the new runs to it."""
    if not waiting(db):
        return None
    with _background_lock:
        current = db.resource("media.retro_thread", lambda: _Holder())
        if current.thread is not None and current.thread.is_alive():
            current.again = True
            return current.thread

        def work() -> None:
            while True:
                current.again = False
                run_waiting(db)
                with _background_lock:
                    if not current.again:
                        current.thread = None
                        return

        t = threading.Thread(target=work, name="tipline-retro-match", daemon=True)
        current.thread = t
        t.start()
        return t


class _Holder:
    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.again = False


def get_run(db: Database, run_id: int) -> RunInfo | None:
    with db.reader() as s:
        r = s.get(RetroRun, run_id)
        return _info(r) if r is not None else None


def runs_of(db: Database, bank_id: int, *, limit: int = 5) -> list[RunInfo]:
    """The bank's latest runs, newest first (the bank page's progress lines)."""
    with db.reader() as s:
        rows = s.scalars(select(RetroRun).where(RetroRun.bank_id == bank_id).order_by(RetroRun.id.desc()).limit(limit))
        return [_info(r) for r in rows]
