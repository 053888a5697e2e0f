"""Analysis behind the door: reports waiting for analysis, taken in batches, most urgent first.

A door stores a report and answers (``intake.service.submit_report``); when ``analyse_inline`` is off (what
``tipline serve`` runs) the report waits, ``analysed_at`` empty, and a worker analyses it:

- the **backlog** is the reports table itself (complete submissions with ``analysed_at`` empty, partial
  index ``ix_reports_waiting``): a report waits exactly as long as it is durable, so nothing acknowledged
  can be lost between the door's commit and a queue, and a killed worker's batch (rolled back) is simply
  still waiting;
- a **batch** is one write transaction on SQLite, and one transaction per report on PostgreSQL (see
  :func:`analyse_batch`): reports are claimed a few at a time (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so workers never take the same report; there each later report of a claim is taken again,
  with its row, by the transaction that analyses it, and passed over if another worker took it meanwhile)
  in priority order (a panic-button press or a platform escalation is P1 when stored), each analysed in a
  savepoint with exactly the steps of ``analyse_report`` (``service.analyse_in``), until the batch is full
  or its time budget is spent. A report that fails is rolled back to its savepoint, logged, and retried a
  minute later;
- :class:`Analyser` is the loop; ``tipline serve`` runs it in a child process of its own
  (:class:`AnalysisProcess`, woken through a pipe), or in a thread beside the door (``create_app`` outside
  ``tipline serve``, or ``TIPLINE_ANALYSIS_PROCESS=false``); ``tipline worker`` runs the same loop in a
  process of its own (PostgreSQL), woken through the job queue.

:func:`wait_until_analysed` is for tests and scripts that post reports to a queued app and then read
their analysis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select as io_select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Executable,
    Select,
    Table,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from tipline.extract import extract
from tipline.intake import service
from tipline.store import Database
from tipline.store.lists import in_list, not_in_list
from tipline.store.models import AnalysisFailure, FollowUp, Report
from tipline.store.upsert import insert_for
from tipline.triage import RuleSet

log = logging.getLogger("tipline.intake.worker")

WAKE = "intake.wake"  # Database resource: the callable a door calls after a commit (the worker's wake-up)
WAKE_URGENT = "intake.wake_urgent"  # ... and after committing a P1 report (it ends a pause, see Analyser)
DOOR_BUSY_S = 0.5  # the door stored a report this recently: it is busy, the worker of its process pauses
DOOR_SHARE = 0.75  # the share of a busy server process left to its door (the worker pauses 3x its batch)
BUSY_BATCH_S = 0.02  # the server's analysis process on SQLite holds the write lock this long while the door is busy
PAUSE_MAX_S = 2.0  # the longest pause for a busy door: what the worker owes beyond it is forgiven
RETRY_AFTER_S = 60.0  # a report whose analysis failed is tried again after this
URGENT_GATHER_S = 0.1  # a pause for a busy door ends this long after an urgent report arrived (see Analyser._pause)
CLAIM = 4  # reports claimed at a time inside a batch: an urgent arrival is claimed by the next claim


def waiting_clause() -> ColumnElement[bool]:
    """Reports waiting for analysis: complete submissions never analysed (or marked for re-analysis)."""
    return Report.analysed_at.is_(None) & (Report.submission_state == "complete")


@dataclass(frozen=True)
class Backlog:
    """What waits for analysis: how many reports, how many urgent (P1: panic button, escalation), and
    when the oldest arrived; of those, how many failed their last analysis (tried again every minute) and
    the type of the latest failure's error."""

    waiting: int
    urgent: int
    oldest_received_at: datetime | None
    failing: int = 0
    last_error: str | None = None

    def oldest_age_s(self, now: datetime | None = None) -> float:
        if self.oldest_received_at is None:
            return 0.0
        at = self.oldest_received_at
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        return max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())


def backlog(db: Database) -> Backlog:
    with db.reader() as s:
        waiting, urgent = s.execute(
            select(func.count(Report.id), func.count(Report.id).filter(Report.priority <= 1)).where(waiting_clause())
        ).one()
        oldest_id = s.scalar(select(func.min(Report.id)).where(waiting_clause()))
        oldest = s.scalar(select(Report.received_at).where(Report.id == oldest_id)) if oldest_id else None
        failing, last_error = 0, None
        if waiting:
            failures = (
                select(AnalysisFailure.error)
                .join(Report, Report.id == AnalysisFailure.report_id)
                .where(waiting_clause())  # a failure row of a report analysed since does not count
            )
            failing = int(s.scalar(select(func.count()).select_from(failures.subquery())) or 0)
            if failing:
                last_error = s.scalar(failures.order_by(AnalysisFailure.last_at.desc()).limit(1))
    return Backlog(int(waiting or 0), int(urgent or 0), oldest, failing, last_error)


_WARM_TEXT = (  # synthetic: the kinds of identifier the extractor and the hooks first meet in a report
    "warm-up: call +63 917 555 0100 or 0917 555 0100, write to someone@example.org, see "
    "https://example.ph/x and www.example.co.uk"
)
WARMED = "intake.warmed"  # Database resource: this process warmed up for that database's capabilities


def warm_up(db: Database) -> None:
    """Once per process and database, before the first batch and outside any transaction: what the first
    analysis would otherwise do under the batch's locks (on SQLite the one write lock, which the doors
    wait for): the extractor's first run (its lazy imports and tables) and each capability's ``warm_up``
    (the public suffix list's lookup table, phone metadata). A warm-up that fails is logged and skipped:
    the first batch then pays for it, as before."""
    if db.get_resource(WARMED):
        return
    db.set_resource(WARMED, True)
    started = time.perf_counter()
    steps: list[tuple[str, Callable[[], object]]] = [("extraction", lambda: extract(_WARM_TEXT))]
    steps += [(cap.name, cap.warm_up) for cap in db.capabilities or () if cap.warm_up is not None]
    for name, step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - an optimisation only
            log.exception("warming up %s for analysis failed; the first batch will do it", name)
    log.debug("analysis warmed up in %.0f ms", (time.perf_counter() - started) * 1000)


def error_kind(e: BaseException) -> str:
    """What an analysis failure keeps of its error: the type's name (its message can quote the report)."""
    t = type(e)
    return f"{t.__module__}.{t.__qualname__}"[:200]


def record_failures(db: Database, errors: dict[int, str]) -> None:
    """Note the reports whose analysis failed (report id -> :func:`error_kind`), counting the attempts, in a
    transaction of its own (the batch's may have been rolled back); drop the notes of reports analysed since.
    A note that cannot be written is logged, never raised: the report waits and is tried again all the same."""
    if not errors:
        return
    now = datetime.now(UTC)
    rows = [{"report_id": rid, "attempts": 1, "first_at": now, "last_at": now, "error": e} for rid, e in errors.items()]
    insert = insert_for(db.dialect)
    stmt = insert(AnalysisFailure)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AnalysisFailure.report_id],
        set_={
            "attempts": AnalysisFailure.attempts + 1,
            "last_at": stmt.excluded.last_at,
            "error": stmt.excluded.error,
        },
    )
    analysed = select(Report.id).where(Report.id == AnalysisFailure.report_id, Report.analysed_at.is_not(None))
    try:
        with db.session() as s:
            s.execute(delete(AnalysisFailure).where(analysed.exists()))
            # a report deleted meanwhile (retention) has no note to keep: insert only those still stored
            kept = set(s.scalars(select(Report.id).where(Report.id.in_(sorted(errors)))))
            if kept:
                s.execute(stmt, [r for r in rows if r["report_id"] in kept])
    except Exception:  # noqa: BLE001 - the note is for people; the retry does not depend on it
        log.exception("could not note the failed analysis of %d report(s)", len(errors))


def claim(s: Session, limit: int, skip: Collection[int] = (), urgent_only: bool = False) -> list[int]:
    """Take up to ``limit`` waiting reports, most urgent first, then oldest, inside the write session ``s``:
    on PostgreSQL their rows stay locked (and skipped by every other worker) until ``s`` ends. Among the
    urgent (P1), panic-button presses come before platform escalations: a stream is live now.
    ``urgent_only``: P1 reports only."""
    statements = _CLAIMS[s.get_bind().dialect.name == "postgresql"]
    # two queries, each an ordered range of the partial index ix_reports_waiting (priority, id): one ORDER BY
    # with is_live in it would sort the whole backlog at every claim
    live = list(s.scalars(statements[0], {"skip": sorted(skip), "n": limit}))
    if len(live) == limit:
        return live
    rest = statements[2 if urgent_only else 1]
    return live + list(s.scalars(rest, {"skip": sorted({*skip, *live}), "n": limit - len(live)}))


def _claim_statements(postgres: bool) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The claim's queries (live panic presses; the rest in priority order; the rest, P1 only), built once:
    a claim runs for every report on PostgreSQL, and building them cost a tenth of a worker's time."""
    # on the table's columns, not the mapped class's: a claim runs for every few reports, and a select of
    # mapped attributes costs 70 us more (the ORM's compile and result set-up; see graph.network)
    table = cast(Table, Report.__table__)
    r = table.c
    waiting = r.analysed_at.is_(None) & (r.submission_state == "complete")
    if not postgres:
        # SQLite's planner preferred the index on submission_state, and sorted every finished report at
        # every claim (a drain of 9,000 reports spent a fifth of its time there); this term, written so
        # that no index serves it (SQLite has no index hint SQLAlchemy writes), leaves it the waiting index
        waiting = r.analysed_at.is_(None) & ((r.submission_state + "") == "complete")
    skip = not_in_list(r.id, "skip")
    n: BindParameter[int] = bindparam("n")
    # the panic button's presses (source "live"), not every report of a live stream: a platform's own reports
    # may be live streams too (is_live), and with them in this tier the presses waited behind them (on
    # PostgreSQL with the server's worker, 43 of 45 presses took over a second; bench/RESULTS.md). The term is
    # written so that no index serves it (reports.source has one): the waiting index's range stays the plan
    press = (r.source + "") == "live"
    live = select(r.id).where(waiting, skip, r.priority == 1, r.is_live, press).order_by(r.id)
    rest = select(r.id).where(waiting, skip).order_by(r.priority, r.id)
    out = (live.limit(n), rest.limit(n), rest.where(r.priority == 1).limit(n))
    if postgres:
        return cast(
            tuple[Select[Any], Select[Any], Select[Any]],
            tuple(q.with_for_update(skip_locked=True, of=table) for q in out),
        )
    return out


_CLAIMS = {False: _claim_statements(False), True: _claim_statements(True)}


@dataclass
class BatchResult:
    analysed: dict[int, int] = field(default_factory=dict)  # report id -> priority
    failed: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # failed report id -> error_kind()
    busy: list[int] = field(default_factory=list)  # deadlock with another worker: in the next batch
    rechecked: int = 0

    def __len__(self) -> int:
        return len(self.analysed) + len(self.failed) + len(self.busy)


def _savepoint_undone(s: Session) -> None:
    """A report's savepoint was rolled back: what the graph's hooks noted in ``s.info`` inside it goes too
    (a graph lock taken there, limits refreshed there; the guard is read again)."""
    s.info.pop("graph_lock", None)
    s.info.pop("graph.guard", None)


def _one(
    s: Session,
    db: Database,
    rules: RuleSet,
    report_id: int,
    out: BatchResult,
    followups: list[FollowUp] | None = None,
    *,
    alone: bool = False,
) -> None:
    """Analyse one report of a batch in a savepoint, then the reports it may confirm a reading of (each in
    its own savepoint), in the order ``analyse_report`` follows alone. ``followups``: the report's, read
    with the rest of its claim. ``alone``: the report is its transaction's only one (PostgreSQL): no
    savepoint (two statements), a failure rolls the transaction back."""
    try:
        with contextlib.nullcontext() if alone else s.begin_nested():
            priority, recheck = service.analyse_in(s, db, rules, report_id, followups)
    except Exception as e:  # noqa: BLE001 - logged; the report stays waiting and is retried
        if alone:
            s.rollback()
        _savepoint_undone(s)
        if service.is_conflict(e):  # two workers waited on each other (PostgreSQL broke the cycle): the next batch
            log.info("analysis of report %d met a concurrent one; it goes to the next batch", report_id)
            out.busy.append(report_id)
        else:
            log.exception("analysis of report %d failed; it will be retried", report_id)
            out.failed.append(report_id)
            out.errors[report_id] = error_kind(e)
        return
    out.analysed[report_id] = priority
    for other in recheck:
        try:
            with s.begin_nested():
                service.analyse_in(s, db, rules, other)
            out.rechecked += 1
        except Exception as e:  # noqa: BLE001 - the other report keeps its earlier analysis
            _savepoint_undone(s)
            if service.is_conflict(e):  # it waited on another worker: it keeps its reading for now
                log.info("re-analysis of report %d met a concurrent one; left for later", other)
            else:
                log.exception("re-analysis of report %d failed", other)


def analyse_batch(
    db: Database, *, limit: int = 32, budget_s: float = 0.05, skip: Collection[int] = (), urgent_only: bool = False
) -> BatchResult:
    """Claim and analyse waiting reports: at most ``limit``, and no new claim once ``budget_s`` has passed.
    ``urgent_only``: P1 reports only.

    On SQLite the batch is one write transaction, claimed ``CLAIM`` reports at a time: one commit (one
    flush) for all of them, and the batch holds the one write lock, which the doors wait behind at most
    about ``budget_s``. On PostgreSQL each report is a transaction of its own, committed without waiting
    for its flush (:func:`_analysis_connection`): an analysis holds the rows and advisory locks of what it names
    until it commits, and a batch that held them for all its reports made another worker wait for, or give
    up, every report that shared an identifier with any of them. Two `tipline worker` processes on the
    synthetic stream: 119-126 -> 188-199 reports/s (bench/RESULTS.md)."""
    rules = service.rules_in_force(db)
    out = BatchResult()
    started = time.perf_counter()

    def more() -> bool:
        return len(out) < limit and time.perf_counter() - started < budget_s

    def done() -> set[int]:
        return {*skip, *out.analysed, *out.failed, *out.busy}

    with _entity_writer(db) as writer:
        if db.dialect == "postgresql":
            with _analysis_connection(db) as conn:
                size = lambda: min(CLAIM, limit - len(out))  # noqa: E731
                _one_per_transaction(db, conn, rules, out, writer, more, size, done, urgent_only)
            record_failures(db, out.errors)
            return out
        with db.session() as s, _writing_through(s, writer):  # SQLite: the batch is one transaction
            while more():
                ids = claim(s, min(CLAIM, limit - len(out)), done(), urgent_only)
                if not ids:
                    break
                held = {r.id: r for r in _load(s, ids)}
                for rid in ids:
                    _one(s, db, rules, rid, out, list(held[rid].followups) if rid in held else None)
                del held
    record_failures(db, out.errors)
    return out


def _one_per_transaction(
    db: Database,
    conn: Connection,
    rules: RuleSet,
    out: BatchResult,
    writer: _EntityWriter | None,
    more: Callable[[], bool],
    size: Callable[[], int],
    done: Callable[[], set[int]],
    urgent_only: bool,
) -> None:
    """PostgreSQL: each report analysed in a transaction of its own. A claim takes a few reports (``size``)
    and locks them for its transaction (the first report's); each later one is taken, and locked, with its
    row (``_TAKE_ONE``: still waiting, not locked by another worker) by the transaction that analyses it. A
    report that another worker's claim took meanwhile is passed over. One claim (two statements) and one
    read of the follow-ups served one report each: three statements a report fewer. The transactions run in
    turn on one connection (``conn``, :func:`_analysis_connection`)."""
    ahead: list[int] = []
    passed: set[int] = set()
    while more():
        with db.session_on(conn) as s, _writing_through(s, writer):
            row: Report | None = None
            while row is None:
                if not ahead:
                    ahead = claim(s, size(), done() | passed, urgent_only)
                    if not ahead:
                        return
                rid = ahead.pop(0)
                row = s.scalars(_TAKE_ONE, {"id": rid}).unique().one_or_none()
                if row is None:  # analysed, or being analysed, by another worker since the claim: the next
                    passed.add(rid)
            _one(s, db, rules, rid, out, list(row.followups), alone=True)


def _load(s: Session, ids: list[int]) -> list[Report]:
    """The claimed reports, their files, follow-ups and platform in three statements (analysis then finds
    them in the session: one report alone cost four); one report in one statement, the rest joined. The
    list holds them: the session keeps only objects something refers to."""
    if len(ids) == 1:
        return list(s.scalars(_LOAD_ONE, {"id": ids[0]}).unique())
    return list(s.scalars(_LOAD, {"ids": ids}).unique())


# built once (on PostgreSQL a report is taken with its row for every report; building the options cost a
# tenth of it)
_LOAD = (
    select(Report)
    .where(in_list(Report.id, "ids"))
    .options(selectinload(Report.attachments), selectinload(Report.followups), joinedload(Report.platform))
)
_LOAD_ONE = (  # by its id, not a list of one: PostgreSQL plans `id = ANY(list)` anew at each execution
    select(Report)
    .where(Report.id == bindparam("id"))
    .options(joinedload(Report.attachments), joinedload(Report.followups), joinedload(Report.platform))
)
_TAKE_ONE = _LOAD_ONE.where(waiting_clause()).with_for_update(skip_locked=True, of=Report)


@contextlib.contextmanager
def entities_committed_apart(s: Session) -> Iterator[None]:
    """PostgreSQL: inside this block, the new entities that analysis in ``s`` names are inserted and
    committed at once, through a connection of their own (``service.ENTITY_WRITER``), not in the batch.

    An entity inserted by a batch and not yet committed is a row of the unique (kind, value) index that
    every other transaction inserting the same value must wait for: with two workers on the synthetic
    stream, that wait was half of all the time the workers spent waiting (sampled from
    ``pg_stat_activity``), and a batch holds its inserts for its whole budget. An entity is a name (a kind
    and a value, counts 0 until a mention is counted): committed alone, it is an entity that nothing
    mentions yet when the batch fails, like one whose last mention a re-analysis dropped.

    The inserts commit with ``synchronous_commit`` off (no flush of their own), like the worker's own
    transactions (:func:`_analysis_connection`): a transaction that mentions such an entity commits after it, later
    in the log, so a database crash that keeps the mention keeps the entity."""
    bind = s.get_bind()
    with _entity_writer(bind if isinstance(bind, Engine) else bind.engine) as writer, _writing_through(s, writer):
        yield


@contextlib.contextmanager
def _writing_through(s: Session, writer: _EntityWriter | None) -> Iterator[None]:
    """``upsert_entities`` in ``s`` inserts new entities through ``writer`` (None: in ``s`` itself)."""
    s.info[service.ENTITY_WRITER] = writer
    try:
        yield
    finally:
        s.info.pop(service.ENTITY_WRITER, None)


@contextlib.contextmanager
def _entity_writer(db: Database | Engine) -> Iterator[_EntityWriter | None]:
    """The connection of :func:`entities_committed_apart` for a batch's transactions (PostgreSQL; None on
    SQLite, where one writer at a time has nothing to commit apart)."""
    engine = db if isinstance(db, Engine) else db.write_engine
    if engine.dialect.name != "postgresql":
        yield None
        return
    writer = _EntityWriter(engine)
    try:
        yield writer
    finally:
        writer.close()


class _EntityWriter:
    """The connection of :func:`entities_committed_apart`, opened at the first new entity: most batches
    name none (an idle poll, a stream of known identifiers), and opening it cost a checkout with its ping
    and three statements a batch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def execute(self, statement: Executable, rows: list[dict[str, Any]]) -> CursorResult[Any]:
        if self.conn is None:
            self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # a wait here is for another transaction's insert of the same value: an autocommit one ends at
            # once; a long one (a bulk evidence import, or a batch that waits on this one: PostgreSQL sees
            # no cycle through two connections of one client) is given up after ENTITY_WAIT_MS, and the
            # report goes to the next batch
            _outside_transactions(self.conn, _settings(ENTITY_WAIT_MS))
        return self.conn.execute(statement, rows)

    def close(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            _outside_transactions(conn, _RESET)
        finally:
            conn.close()


ENTITY_WAIT_MS = 50
LOCK_WAIT_MS = 10
BUSY_RETRY_S = 0.2  # a batch whose reports all waited on another worker: the next try


@contextlib.contextmanager
def _analysis_connection(db: Database) -> Iterator[Connection]:
    """PostgreSQL: the connection a batch's transactions run on in turn, with the worker's settings for as
    long as the batch holds it (see below), given back to the pool with them reset. One checkout (the pool
    pings a connection it hands out: a round trip) and one statement of settings a batch, where each
    report's transaction cost both.

    A worker's transaction commits without waiting for its flush (``synchronous_commit`` off), and a lock
    wait in it gives up after ``LOCK_WAIT_MS`` (that report goes to the next batch).

    Analysis is derived from stored reports and commits all or nothing: a database crash may lose the last
    few analyses committed, and their reports are then simply waiting again (``analysed_at`` empty), to be
    analysed anew. What a door acknowledged is never in such a transaction (its commit waits for the flush).
    The wait for the flush kept every lock of the transaction held meanwhile.

    Lock waits: two workers' transactions can wait on each other (one holds the graph locks of a report
    and waits for an entity row the other holds; the other waits for those locks), and PostgreSQL would
    break the cycle only after ``deadlock_timeout`` (1 s). Outside a cycle a wait lasts until the other
    transaction commits: when a batch was one transaction it held its locks for about ``budget_s``, and
    on the synthetic stream (most reports share an identifier with another) a worker waited most of that
    time. After ``LOCK_WAIT_MS`` the report goes to the next batch and the worker goes on with the rest of
    its claim (bench/RESULTS.md, "Two workers that wait less on each other"). The whole graph's exclusive
    lock (limit refreshes, splits) is
    still waited for (``graph.network.serialize``)."""
    conn = db.write_engine.connect()
    try:
        _outside_transactions(conn, _settings(LOCK_WAIT_MS))
        yield conn
    finally:
        try:
            conn.rollback()  # what a failure left open, if anything
            _outside_transactions(conn, _RESET)
        except Exception:  # noqa: BLE001 - a connection that broke is not given back to the pool
            conn.invalidate()
        finally:
            conn.close()


def _settings(lock_wait_ms: int) -> str:
    """The session settings of a connection a worker holds (its batch's, its entity writer's)."""
    return f"SET synchronous_commit = off; SET lock_timeout = '{lock_wait_ms}ms'"


_RESET = "RESET synchronous_commit; RESET lock_timeout"  # before the connection goes back to the pool


def _outside_transactions(conn: Connection, settings: str) -> None:
    """Session settings, set through the driver in autocommit (psycopg runs the statements of a string that
    has no parameters together, never prepared): no transaction is spent on them, and none of the caller's
    is left open. The connection's own autocommit mode is kept."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    was = raw.autocommit
    raw.autocommit = True
    try:
        raw.execute(settings, prepare=False)  # type: ignore[attr-defined]
    finally:
        raw.autocommit = was


def analyse_ids(db: Database, report_ids: Iterable[int]) -> BatchResult:
    """Analyse the reports named, in this order, in one transaction (a batch): the same result as
    ``analyse_report`` on each in turn (``tests/test_intake_worker.py`` checks it)."""
    rules = service.rules_in_force(db)
    out = BatchResult()
    with db.session() as s, entities_committed_apart(s):
        for rid in report_ids:
            _one(s, db, rules, rid, out)
    return out


class Analyser:
    """The analysis worker of one process: a thread that analyses waiting reports in batches, and sleeps
    until a door wakes it (``Database.resource(WAKE)``) or ``idle_s`` passes (reports stored by another
    process, retries)."""

    def __init__(
        self,
        db: Database,
        *,
        batch: int | None = None,
        budget_s: float | None = None,
        idle_s: float = 1.0,
        on_batch: Callable[[BatchResult], None] | None = None,
        door_share: float = 0.0,
        busy_budget_s: float | None = None,
    ) -> None:
        """``door_share``: while this process's door (or the server this worker serves) is busy, pause after
        each batch so that the door keeps this share of the time (0: never pause); ``busy_budget_s``: the
        batch budget meanwhile (default: ``budget_s``)."""
        self.db = db
        self.batch = batch or db.settings.analysis_batch_size
        self.budget_s = budget_s if budget_s is not None else db.settings.analysis_batch_ms / 1000
        self.busy_budget_s = min(self.budget_s, busy_budget_s) if busy_budget_s is not None else self.budget_s
        self.door_share = door_share
        self.idle_s = idle_s
        self.on_batch = on_batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry: dict[int, float] = {}  # report id -> when to try again
        self._urgent = threading.Event()
        self._door_at = float("-inf")  # when this process's door (or the server's, through a pipe) last stored
        self.analysed = 0
        self.paused_s = 0.0

    def wake(self) -> None:
        self._door_at = time.monotonic()
        self._wake.set()

    def wake_urgent(self) -> None:
        self._urgent.set()

    def start(self, *, door_share: float = DOOR_SHARE) -> Analyser:
        """Run in a thread of this process. Beside a server's door (the default): when the door is busy (it
        stored a report in the last ``DOOR_BUSY_S``), the worker pauses after each batch so that the door
        keeps ``door_share`` of the process (one interpreter lock: a worker that never paused made every
        request wait behind its batches, and the door answered half as many). An urgent report ends the
        pause; the backlog is analysed when the door calms down, or by `tipline worker` processes on
        PostgreSQL. A process with no door of its own passes ``door_share=0``."""
        self.db.set_resource(WAKE, self.wake)
        self.db.set_resource(WAKE_URGENT, self.wake_urgent)
        self.door_share = door_share
        self._thread = threading.Thread(target=self.run, name="tipline-analyser", daemon=True)
        self._thread.start()
        return self

    def run_forever(self) -> None:
        """The loop in the calling thread (``tipline worker``), until :meth:`stop`."""
        self.db.set_resource(WAKE, self.wake)
        self.run()

    def ask_to_stop(self) -> None:
        """End the loop after its batch in flight, and nothing more: what a SIGTERM handler calls. The handler
        runs in the loop's own thread, between two of its instructions, perhaps inside ``Database.resource``
        building the hash matcher; :meth:`stop` takes that lock too (not reentrant), and a worker stopped
        then hung until it was killed."""
        self._stop.set()
        self._wake.set()
        self._urgent.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.ask_to_stop()
        if self._thread is not None and self._thread is not threading.current_thread() and timeout > 0:
            self._thread.join(timeout)
        if self.db.get_resource(WAKE) == self.wake:
            self.db.set_resource(WAKE, None)
        if self.db.get_resource(WAKE_URGENT) == self.wake_urgent:
            self.db.set_resource(WAKE_URGENT, None)

    def door_busy(self) -> bool:
        """The door stored a report in the last ``DOOR_BUSY_S`` and this worker leaves it a share."""
        return self.door_share > 0 and time.monotonic() - self._door_at < DOOR_BUSY_S

    def step(self, *, urgent_only: bool = False) -> BatchResult:
        """One batch (what the loop does each turn); the reports that failed wait RETRY_AFTER_S.
        ``urgent_only``: P1 reports only (a panic press that ended the worker's pause for a busy door)."""
        now = time.monotonic()
        self._retry = {rid: at for rid, at in self._retry.items() if at > now}
        budget = self.busy_budget_s if self.door_busy() else self.budget_s
        res = analyse_batch(self.db, limit=self.batch, budget_s=budget, skip=self._retry, urgent_only=urgent_only)
        for rid in res.failed:
            self._retry[rid] = now + RETRY_AFTER_S
        self.analysed += len(res.analysed)
        if self.on_batch is not None and len(res):
            self.on_batch(res)
        return res

    def run(self) -> None:
        warm_up(self.db)
        urgent_only, owed = False, 0.0  # after a pause cut short by an urgent report: that report, then the rest
        while not self._stop.is_set():
            self._wake.clear()
            self._urgent.clear()
            started = time.monotonic()
            try:
                res = self.step(urgent_only=urgent_only)
            except Exception:  # noqa: BLE001 - the database may be briefly away: keep the worker alive
                log.exception("analysis batch failed; retrying")
                res = BatchResult()
                self._stop.wait(self.idle_s)
            if self.door_busy() and (res.analysed or urgent_only):
                owed += (time.monotonic() - started) * self.door_share / (1 - self.door_share)
                urgent_only, owed = self._pause(owed)
            elif not res.analysed:
                urgent_only, owed = False, 0.0
                # reports that waited on another worker's locks: again soon, not after idle_s
                self._wake.wait(BUSY_RETRY_S if res.busy else self.idle_s)
            else:
                urgent_only, owed = False, 0.0

    def _pause(self, seconds: float) -> tuple[bool, float]:
        """Leave the busy door the process for ``seconds`` (at most ``PAUSE_MAX_S``), unless an urgent report
        arrives or the door calms down (it stored nothing for ``DOOR_BUSY_S``): (cut short by an urgent
        report, the rest of the pause still owed).

        An urgent report ends the pause ``URGENT_GATHER_S`` after it arrived, not at once: the urgent reports
        arriving meanwhile are analysed in the same batch. Cut at once, each escalation of a busy platform
        stream was a batch of its own, a write transaction (on SQLite the one write lock and a flush) that
        the door waited behind: with the gathering the door of `tipline serve` on SQLite took x1.06-1.36 the
        reports/s, and a panic press waited 0.3 s at p99 to be analysed instead of 0.04 s (bench/RESULTS.md,
        "Urgent reports gathered").

        Each urgent report cuts the pause, and the batch that follows adds to what is owed: under a steady
        stream of escalations the debt grew for as long as the burst lasted. Once the door fell quiet, with
        nothing left to cut it, the worker slept it off: after the bench's half-minute of doors, most of a
        minute asleep with 7,600 reports waiting beside an idle process (bench/RESULTS.md)."""
        seconds = min(seconds, PAUSE_MAX_S)
        paused = time.monotonic()
        end, cut = paused + seconds, False
        while not self._stop.is_set():
            now = time.monotonic()
            calm_at = self._door_at + DOOR_BUSY_S  # the door is quiet from then on, unless it stores again
            if now >= end or now >= calm_at:
                break
            if cut:  # the urgent reports that arrive meanwhile go in the same batch
                self._stop.wait(min(end, calm_at) - now)
            elif self._urgent.wait(min(end, calm_at) - now):
                cut = True
                end = min(end, time.monotonic() + URGENT_GATHER_S)
        waited = time.monotonic() - paused
        self.paused_s += waited
        return cut, max(0.0, seconds - waited) if cut else 0.0


def wait_until_analysed(db: Database, report_ids: Iterable[int] | None = None, *, timeout: float = 30.0) -> None:
    """Wait until the reports named (default: every waiting report) are analysed; ``TimeoutError`` after
    ``timeout`` seconds. For tests and scripts that post to a queued app and then read the analysis."""
    ids = sorted(set(report_ids)) if report_ids is not None else None
    deadline = time.monotonic() + timeout
    while True:
        with db.reader() as s:
            q = select(func.count(Report.id)).where(waiting_clause())
            if ids is not None:
                q = q.where(Report.id.in_(ids))
            left = int(s.scalar(q) or 0)
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} report(s) still waiting for analysis after {timeout:g} s")
        time.sleep(0.02)


def run_worker(
    db: Database,
    *,
    once: bool = False,
    batch: int | None = None,
    say: Callable[[str], None] | None = None,
    wake_fd: int | None = None,
    ready_fd: int | None = None,
) -> int:
    """``tipline worker``: analyse waiting reports until stopped (SIGTERM or Ctrl-C end the batch in
    flight cleanly; SIGKILL rolls it back and the reports wait for the next worker). With ``once``: until
    nothing is waiting. ``wake_fd``: the worker of a ``tipline serve`` (:class:`AnalysisProcess`), woken
    through that pipe, until the pipe closes (``ready_fd``: where it says that it is ready). Returns how
    many reports it analysed."""
    import signal

    if wake_fd is not None:
        return _run_for_server(db, wake_fd, batch, ready_fd)
    an = Analyser(db, batch=batch)
    if once:
        warm_up(db)
        while True:
            res = an.step()
            if res.analysed:
                continue
            if not res.busy:
                return an.analysed
            # every report taken waited on another worker's locks: tried again after a moment, not at once
            # (a loop of claims and lock waits as fast as the database answers, for as long as those last)
            time.sleep(BUSY_RETRY_S)
    if db.dialect == "postgresql":
        return _run_with_queue(db, an, say)
    previous = signal.signal(signal.SIGTERM, lambda *_: an.ask_to_stop())
    if say is not None:
        say(f"analysis worker on {db.dialect}: batches of {an.batch}, {an.budget_s * 1000:g} ms budget")
    try:
        an.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        an.stop(timeout=0)  # its wake-up hooks leave the database's resources
    return an.analysed


def _run_with_queue(db: Database, an: Analyser, say: Callable[[str], None] | None) -> int:
    """PostgreSQL: the analyser in a thread, looking every ``jobs.SWEEP_S``; procrastinate's worker in this
    thread, waking it for every job a server queued (``intake.jobs``)."""
    import signal

    from tipline.intake import jobs

    an.idle_s = jobs.SWEEP_S
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # no door in this process: a job is a server's wake-up, not a reason to pause (with the door's share, a
    # worker woken by a busy server's jobs paused three times each batch)
    an.start(door_share=0.0)
    if say is not None:
        say(f"analysis worker on postgresql: batches of {an.batch}, woken through procrastinate ({jobs.QUEUE})")
    try:
        jobs.run_queue_worker(db, stop, on_job=an.wake)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        an.stop()
    return an.analysed


# ------------------------------------------------------------------ the server's worker in a process of its own

WAKE_BYTE, URGENT_BYTE = b".", b"!"  # written to the pipe by the server's door: a report, a P1 report
READY_BYTE = b"r"  # written by the child once it analyses
READY_S = 120.0  # how long a starting server waits for it (importing tipline on a busy machine takes a while)


class AnalysisProcess:
    """The analysis worker of ``tipline serve`` in a child process (``tipline worker --wake-fd``) instead of
    a thread beside the door.

    In a thread, the worker and the door share one interpreter lock, so one core: the door paused analysis
    to keep three quarters of it, and still answered about half of what it answers alone
    (bench/RESULTS.md). A child has its own interpreter and takes another core. The door wakes it by
    writing a byte to a pipe (``!`` for a P1 report; a write that would block is dropped, the child is
    awake anyway): no broker, no round trip, and when the server dies, even by SIGKILL, the child reads the
    end of the pipe and stops after its batch in flight (which commits or rolls back whole). On SQLite the
    child still shares the one write lock with the door: while the door is busy it holds it at most
    ``BUSY_BATCH_S`` at a time and leaves it ``DOOR_SHARE`` of the time (a P1 report, though, ends the
    pause, as in a thread). A child that dies is started again. The child loads its own hash-bank index:
    memory for two copies. Written by hand: a pipe and a subprocess; a process pool would keep its own
    queue of tasks, where the backlog is the reports table."""

    def __init__(self, db: Database, *, restart_after_s: float = 1.0) -> None:
        self.db = db
        self.restart_after_s = restart_after_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe = -1  # the write end of the child's wake-up pipe
        self._ready = -1  # the read end of the pipe on which the child says it is ready
        self._watch: threading.Thread | None = None

    def start(self) -> AnalysisProcess:
        """Start the child; :meth:`ready` waits until it analyses (a server starts answering only then)."""
        self._spawn()
        self.db.set_resource(WAKE, self.wake)
        self.db.set_resource(WAKE_URGENT, self.wake_urgent)
        self._watch = threading.Thread(target=self._supervise, name="tipline-analysis-process", daemon=True)
        self._watch.start()
        return self

    def ready(self, timeout: float = READY_S) -> bool:
        """Wait until the child has opened the database and analyses: it takes seconds to import tipline, and
        a server that answered before would leave its first panic presses waiting (2.3 s in the bench)."""
        with self._lock:  # the fd is this call's from here: a child started again meanwhile does not close it
            fd, self._ready = self._ready, -1
        if fd < 0:
            return True
        try:
            got, _, _ = io_select.select([fd], [], [], timeout)
            ok = bool(got) and os.read(fd, 1) == READY_BYTE
        finally:
            os.close(fd)
        if not ok:  # it ended (its own error is above in the log), or took too long: analysis waits for the next
            log.warning("the analysis worker process did not start (or took over %g s); serving meanwhile", timeout)
        return ok

    def wake(self) -> None:
        self._send(WAKE_BYTE)

    def wake_urgent(self) -> None:
        self._send(URGENT_BYTE)

    def _send(self, byte: bytes) -> None:
        with self._lock:  # the pipe is replaced when a child is started again
            if self._pipe < 0:
                return
            with contextlib.suppress(BlockingIOError, BrokenPipeError):  # full: the child is busy anyway
                os.write(self._pipe, byte)

    def _spawn(self) -> None:
        read, write = os.pipe()
        os.set_blocking(write, False)
        ready_read, ready_write = os.pipe()
        # the server's own database, whichever way it was named (`tipline --data-dir X serve` sets no variable)
        env = {**os.environ, "TIPLINE_DATA_DIR": str(Path(self.db.settings.data_dir).resolve())}
        if self.db.settings.database_url:
            env["TIPLINE_DATABASE_URL"] = self.db.settings.database_url
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tipline", "worker", "--wake-fd", str(read), "--ready-fd", str(ready_write)],
                pass_fds=(read, ready_write),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            os.close(write)
            os.close(ready_read)
            raise
        finally:
            os.close(read)
            os.close(ready_write)
        with self._lock:
            # a child started again: nobody waits for the one before (unless ready() took it: then it is ready's)
            old_ready, self._ready = self._ready, ready_read
            old, self._proc, self._pipe = self._pipe, proc, write
            if self._stopping.is_set():  # stopped while this one started: it reads the end of its pipe at once
                self._pipe = -1
                os.close(write)
        for fd in (old, old_ready):
            if fd >= 0:
                os.close(fd)

    def _supervise(self) -> None:
        pause = self.restart_after_s / 2  # doubled before the first wait
        while True:
            proc = self._proc
            assert proc is not None
            born = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            # one that cannot start (a bad setting, a database away) is tried again less and less often
            pause = self.restart_after_s if time.monotonic() - born > 60 else min(pause * 2, 60.0)
            log.warning("the analysis worker process ended (exit status %s); another in %g s", code, pause)
            if self._stopping.wait(pause):
                return
            try:
                self._spawn()
            except OSError:
                log.exception("could not start the analysis worker process; trying again")

    def stop(self, timeout: float = 30.0) -> None:
        """Close the pipe (the child ends after its batch in flight) and wait for the child."""
        self._stopping.set()
        with self._lock:
            pipe, self._pipe = self._pipe, -1
            ready, self._ready = self._ready, -1  # a child started again, whose readiness nobody waited for
        for fd in (pipe, ready):
            if fd >= 0:
                os.close(fd)
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the analysis worker process did not stop in %g s; terminating it", timeout)
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(5)
        if self.db.get_resource(WAKE) == self.wake:
            self.db.set_resource(WAKE, None)
        if self.db.get_resource(WAKE_URGENT) == self.wake_urgent:
            self.db.set_resource(WAKE_URGENT, None)


def _run_for_server(db: Database, wake_fd: int, batch: int | None, ready_fd: int | None) -> int:
    """The child's side of :class:`AnalysisProcess`: the analyser in this thread, the pipe read by another.
    The server owns this process: Ctrl-C (sent to the whole terminal's group) is left to the server, which
    closes the pipe; SIGTERM ends the batch in flight, then the process."""
    import signal

    sqlite = db.is_sqlite
    an = Analyser(
        db,
        batch=batch,
        # SQLite: the door's share of the one write lock; PostgreSQL: no lock to share, and a core of its own
        door_share=DOOR_SHARE if sqlite else 0.0,
        busy_budget_s=BUSY_BATCH_S if sqlite else None,
    )

    def read_wakes() -> None:
        while True:
            try:
                got = os.read(wake_fd, 4096)
            except OSError:
                got = b""
            if not got:  # the server closed the pipe, or died
                an.stop(timeout=0)
                return
            an.wake()
            if URGENT_BYTE in got:
                an.wake_urgent()

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: an.ask_to_stop())
    threading.Thread(target=read_wakes, name="tipline-wake-pipe", daemon=True).start()
    if ready_fd is not None:
        with contextlib.suppress(OSError):  # the server stopped waiting: it serves all the same
            os.write(ready_fd, READY_BYTE)
        os.close(ready_fd)
    an.run()
    return an.analysed
