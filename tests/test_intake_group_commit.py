"""Group commit at the doors (``tipline.intake.group_commit``): platform reports that arrive while a commit
is in flight are stored together by the next one, every caller still answered only after its own
report's commit; and the server's analysis worker leaves a busy door first (``intake.worker.Analyser``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.intake import service as intake
from tipline.intake import worker
from tipline.intake.group_commit import GroupCommit
from tipline.intake.schemas import LiveIn, PlatformReportIn
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Attachment, Report


@pytest.fixture
def qdb(settings: Settings) -> Iterator[Database]:
    database = open_database(settings.model_copy(update={"analyse_inline": False}))
    database.migrate()
    yield database
    database.dispose()


@contextlib.contextmanager
def reports_locked(db: Database) -> Iterator[None]:
    """Hold the reports table against inserts (SQLite: the one write lock) while the block runs."""
    with db.session() as s:
        if db.dialect == "postgresql":
            s.execute(text("LOCK TABLE reports IN SHARE ROW EXCLUSIVE MODE"))
        yield


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def submit_while_locked(db: Database, reports: list) -> dict[int, object]:
    """Submit ``reports`` from one thread each while inserts are held: the first leads a batch of one and
    waits on the lock, the others queue behind it; then release. Each caller's result or exception."""
    out: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            out[i] = intake.submit_report(db, reports[i])
        except Exception as e:  # noqa: BLE001 - checked by the test
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(reports))]
    group = intake._group_commit(db)
    with reports_locked(db):
        threads[0].start()
        wait_for(lambda: group.waiting == 0 and group.leading)  # the first leads, blocked on the lock
        for t in threads[1:]:
            t.start()
        wait_for(lambda: group.waiting == len(reports) - 1)
        time.sleep(0.05)
        assert not out, "no report is acknowledged before its commit"
    for t in threads:
        t.join(30)
    return out


def test_reports_arriving_during_a_commit_are_stored_by_one_commit(qdb: Database):
    p = accounts.create_platform(qdb, "GroupChat")
    reports = [
        PlatformReportIn(
            report_id=f"g{i}",
            category="other",
            text=f"call +63 917 555 {i:04d}",
            files=[{"filename": f"f{i}.jpg", "md5": f"{i:032x}"}],
        ).to_report(p.id)
        for i in range(8)
    ]
    out = submit_while_locked(qdb, reports)
    group = intake._group_commit(qdb)
    assert (group.batches, group.items) == (2, 8)  # the first alone, then the seven that waited, together
    ids = [out[i].report_id for i in range(8)]  # type: ignore[attr-defined]
    assert all(out[i].created for i in range(8)) and len(set(ids)) == 8  # type: ignore[attr-defined]
    with qdb.reader() as s:
        stored = dict(s.execute(select(Report.external_id, Report.id).where(Report.platform_id == p.id)).all())
        files = dict(s.execute(select(Attachment.report_id, Attachment.md5)).all())
        text_of_last = s.get(Report, ids[7]).text  # type: ignore[union-attr]
    assert stored == {f"g{i}": ids[i] for i in range(8)}
    assert files == {ids[i]: f"{i:032x}" for i in range(8)}  # each report's file with its own report
    assert text_of_last == "call +63 917 555 0007"
    assert worker.backlog(qdb).waiting == 8  # stored, waiting for analysis


def test_a_report_sent_twice_in_one_batch_is_stored_once(qdb: Database):
    p = accounts.create_platform(qdb, "TwiceChat")
    first = intake.submit_report(qdb, PlatformReportIn(report_id="old", category="other", text="x").to_report(p.id))
    reports = [
        PlatformReportIn(report_id=rid, category="other", text=rid).to_report(p.id) for rid in ("a", "a", "old", "b")
    ]
    lead = PlatformReportIn(report_id="lead", category="other", text="lead").to_report(p.id)
    out = submit_while_locked(qdb, [lead, *reports])
    a1, a2, old, b = (out[i] for i in range(1, 5))
    assert a1.created and not a2.created and a1.report_id == a2.report_id  # type: ignore[attr-defined]
    assert not old.created and old.report_id == first.report_id  # type: ignore[attr-defined]
    assert b.created  # type: ignore[attr-defined]
    with qdb.reader() as s:
        n = s.scalar(select(func.count(Report.id)).where(Report.platform_id == p.id))
    assert n == 4  # old, lead, a, b


def test_a_report_that_cannot_be_stored_fails_alone(qdb: Database, caplog: pytest.LogCaptureFixture):
    p = accounts.create_platform(qdb, "BadChat")
    good = [PlatformReportIn(report_id=f"ok{i}", category="other", text="fine").to_report(p.id) for i in range(3)]
    bad = PlatformReportIn(
        report_id="bad", category="other", text="no such platform", urls=["https://victim-page.example/anna"]
    ).to_report(p.id + 999)
    lead = PlatformReportIn(report_id="lead", category="other", text="lead").to_report(p.id)
    out = submit_while_locked(qdb, [lead, good[0], bad, good[1], good[2]])
    assert isinstance(out[2], IntegrityError)  # the platform does not exist: that caller gets the error
    assert all(out[i].created for i in (0, 1, 3, 4))  # type: ignore[attr-defined]
    with qdb.reader() as s:
        stored = set(s.scalars(select(Report.external_id)))
    assert stored == {"lead", "ok0", "ok1", "ok2"}
    assert "storing them one by one" in caplog.text  # the batch failed and was retried one by one...
    assert "victim-page" not in caplog.text and "victim-page" not in str(out[2])  # ...and no report data logged


def gated_group() -> tuple[GroupCommit[int, int], list[list[int]], threading.Event]:
    """A group commit of numbers, batches of at most 3: each batch is recorded, then waits for the gate;
    a negative number fails alone, the others become ten times themselves."""
    seen: list[list[int]] = []
    gate = threading.Event()

    def store(batch):
        seen.append(list(batch))
        gate.wait(10)
        return [ValueError(f"bad {x}") if x < 0 else x * 10 for x in batch]

    return GroupCommit(store, max_batch=3), seen, gate


def run_into(group: GroupCommit[int, int], results: dict[int, object], x: int) -> None:
    """``group.run(x)`` in a thread: its result, or its error's message, into ``results``."""
    try:
        results[x] = group.run(x)
    except ValueError as e:
        results[x] = str(e)


def test_group_commit_hands_the_lead_on_and_passes_each_error_to_its_caller():
    group, seen, gate = gated_group()
    results: dict[int, object] = {}
    run = functools.partial(run_into, group, results)

    threads = [threading.Thread(target=run, args=(x,)) for x in (1, 2, -3, 4, 5, 6)]
    threads[0].start()
    wait_for(lambda: seen == [[1]])
    for t in threads[1:]:
        t.start()
    wait_for(lambda: group.waiting == 5)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == {1: 10, 2: 20, -3: "bad -3", 4: 40, 5: 50, 6: 60}
    assert seen[0] == [1] and [len(b) for b in seen[1:]] == [3, 2]  # at most max_batch per commit
    assert sorted(x for b in seen for x in b) == [-3, 1, 2, 4, 5, 6]
    assert not group.leading and group.waiting == 0


def test_coroutines_and_threads_share_batches_and_each_gets_its_own_result_or_error():
    """The JSON API waits on the event loop (run_async), the CyberTipline door in threads (run): one queue.
    A coroutine that stops waiting (its client went away) leaves the others answered."""
    group, seen, gate = gated_group()
    thread_results: dict[int, object] = {}
    in_thread = functools.partial(run_into, group, thread_results)

    async def main() -> dict[int, object]:
        async def one(x: int) -> object:
            try:
                return await group.run_async(x)
            except ValueError as e:
                return str(e)

        first = asyncio.ensure_future(one(1))  # leads: its batch is stored by an executor thread
        await asyncio.to_thread(wait_for, lambda: seen == [[1]])
        rest = {x: asyncio.ensure_future(one(x)) for x in (2, -3, 7)}
        threads = [threading.Thread(target=in_thread, args=(x,)) for x in (4, -5)]
        await asyncio.to_thread(wait_for, lambda: group.waiting == 3)
        for t in threads:
            t.start()
        await asyncio.to_thread(wait_for, lambda: group.waiting == 5)
        rest[7].cancel()  # gave up waiting; stored all the same
        gate.set()
        out = {1: await first} | {x: await f for x, f in rest.items() if x != 7}
        for t in threads:
            await asyncio.to_thread(t.join, 10)
        return out

    results = asyncio.run(main())
    assert results == {1: 10, 2: 20, -3: "bad -3"}
    assert thread_results == {4: 40, -5: "bad -5"}
    assert seen[0] == [1] and [len(b) for b in seen[1:]] == [3, 2]  # at most max_batch per commit
    assert sorted(x for b in seen for x in b) == [-5, -3, 1, 2, 4, 7]
    assert not group.leading and group.waiting == 0


def test_the_json_api_waits_for_its_commit_on_the_event_loop_and_batches(qdb: Database):
    """Through the served app: concurrent JSON API reports are stored by fewer commits than reports, each
    answered with its own id once stored."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from tipline.web.app import create_app

    p = accounts.create_platform(qdb, "AsyncChat")
    group = intake._group_commit(qdb)
    with TestClient(create_app(qdb.settings, db=qdb)) as c:

        def post(i: int) -> tuple[int, int]:
            body = {"report_id": f"async-{i}", "category": "other", "text": f"report {i}"}
            r = c.post("/api/v1/reports", json=body, headers={"authorization": f"Bearer {p.api_key}"})
            return r.status_code, r.json()["id"]

        with ThreadPoolExecutor(16) as pool:
            with reports_locked(qdb):
                futures = [pool.submit(post, i) for i in range(40)]
                wait_for(lambda: group.waiting >= 10)
                time.sleep(0.05)
                assert not any(f.done() for f in futures), "no report is acknowledged before its commit"
            answers = [f.result(30) for f in futures]
    assert {a[0] for a in answers} == {201} and len({a[1] for a in answers}) == 40
    assert group.items >= 40 and group.batches < group.items
    with qdb.reader() as s:
        assert s.scalar(select(func.count(Report.id))) == 40


def test_the_server_worker_leaves_a_busy_door_first_but_not_a_panic_press(qdb: Database):
    """The analysis thread of `tipline serve` pauses after each batch while the door keeps storing; a panic
    press ends the pause and is analysed within a second; the backlog is analysed when the door calms."""
    p = accounts.create_platform(qdb, "BusyChat")
    for i in range(40):
        intake.submit_report(
            qdb, PlatformReportIn(report_id=f"back{i}", category="other", text=f"backlog {i}").to_report(p.id)
        )
    analyser = worker.Analyser(qdb, batch=4, budget_s=10).start()
    stop = threading.Event()

    def door() -> None:
        i = 0
        while not stop.is_set():
            intake.submit_report(
                qdb, PlatformReportIn(report_id=f"door{i}", category="other", text="busy").to_report(p.id)
            )
            i += 1
            time.sleep(0.005)

    t = threading.Thread(target=door)
    try:
        try:
            t.start()
            # (polled, not a fixed second: on a slow machine the first batch alone can take that long)
            wait_for(lambda: analyser.paused_s > 0.2, timeout=20)  # the worker leaves the busy door time
            t0 = time.monotonic()
            live = intake.submit_report(
                qdb, LiveIn(stream_id="busy-1", broadcaster={"account": "host9"}).to_report(p.id, p.name)
            )
            worker.wait_until_analysed(qdb, [live.report_id], timeout=5)
            assert time.monotonic() - t0 < 1.0, "the panic press waited for the worker's pause"
        finally:
            stop.set()
            t.join(10)
        worker.wait_until_analysed(qdb, timeout=60)  # the door is calm: the backlog is analysed
    finally:
        analyser.stop()  # (also when an assertion failed: a thread left running disturbs later tests)
    assert worker.backlog(qdb).waiting == 0


def test_a_worker_paused_for_its_door_resumes_when_the_door_calms_down_and_never_sleeps_off_a_burst(qdb: Database):
    """A steady stream of escalations cuts every pause the server's worker takes for its busy door, and each
    urgent batch adds to what it owes: after a long burst that debt was minutes. It is slept only while the
    door stays busy, and never more than PAUSE_MAX_S at a time; a door that fell quiet ends it."""
    analyser = worker.Analyser(qdb)  # not started: its pause alone
    analyser.wake()  # the door stored a report just now, then nothing more
    t0 = time.monotonic()
    assert analyser._pause(30.0) == (False, 0.0)
    assert time.monotonic() - t0 < worker.DOOR_BUSY_S + 0.3
    with _busy_door(analyser):
        t0 = time.monotonic()
        assert analyser._pause(30.0) == (False, 0.0)
        assert worker.PAUSE_MAX_S - 0.1 < time.monotonic() - t0 < worker.PAUSE_MAX_S + 0.5


@contextlib.contextmanager
def _busy_door(analyser: worker.Analyser) -> Iterator[None]:
    """A door that stores a report every 50 ms, as far as ``analyser`` can tell, while the block runs."""
    stop = threading.Event()

    def busy_door() -> None:
        while not stop.wait(0.05):
            analyser.wake()

    t = threading.Thread(target=busy_door)
    t.start()
    try:
        analyser.wake()
        yield
    finally:
        stop.set()
        t.join(5)


def test_an_urgent_report_ends_the_pause_a_moment_later_so_that_urgent_reports_share_a_batch(qdb: Database):
    """An urgent report cuts the pause the server's worker takes for its busy door, but only URGENT_GATHER_S
    later: the urgent reports arriving meanwhile go in the same batch (one write transaction, not one each
    while the door waits for the lock). The rest of the pause stays owed."""
    analyser = worker.Analyser(qdb)  # not started: its pause alone
    urgent = threading.Timer(0.3, analyser.wake_urgent)
    with _busy_door(analyser):
        t0 = time.monotonic()
        urgent.start()
        cut, owed = analyser._pause(30.0)
        took = time.monotonic() - t0
    urgent.cancel()
    assert cut
    assert took >= 0.35, "the pause ended as the urgent report arrived: nothing else could join its batch"
    assert took < worker.PAUSE_MAX_S - 0.5, "the urgent report did not cut the pause"
    assert 0 < owed <= worker.PAUSE_MAX_S - 0.35  # the rest stays owed


def test_a_panic_press_is_analysed_before_earlier_escalations(qdb: Database):
    p = accounts.create_platform(qdb, "OrderChat")

    def platform(rid: str, escalate: bool) -> int:
        rep = PlatformReportIn(report_id=rid, category="other", text=rid, escalate=escalate).to_report(p.id)
        return intake.submit_report(qdb, rep).report_id

    plain = platform("plain", False)
    escalations = [platform(f"esc{i}", True) for i in range(3)]
    live = intake.submit_report(qdb, LiveIn(stream_id="order-1", broadcaster={"account": "h"}).to_report(p.id, p.name))
    first = worker.analyse_batch(qdb, limit=1, budget_s=10)
    assert list(first.analysed) == [live.report_id]  # stored last, analysed first: the stream is live now
    urgent = worker.analyse_batch(qdb, limit=10, budget_s=10, urgent_only=True)
    assert list(urgent.analysed) == escalations  # then the escalations, oldest first; not the plain report
    assert list(worker.analyse_batch(qdb, limit=10, budget_s=10).analysed) == [plain]


def test_a_batch_the_database_cannot_take_now_fails_at_once_not_once_per_report(
    qdb: Database, backend: str, monkeypatch
):
    """SQLite's write lock held by another process past ``WRITER_WAIT_S``: every caller of the batch gets that
    error after one wait. The batch used to be stored again one report at a time, each waiting as long."""
    if backend != "sqlite":
        pytest.skip("the writer lock across processes is SQLite's")
    from tipline.store import db as store_db
    from tipline.store.db import WriterLock

    monkeypatch.setattr(store_db, "WRITER_WAIT_S", 0.5)
    p = accounts.create_platform(qdb, "StuckChat")
    other = WriterLock(qdb.settings.data_dir / "tipline.db-writer.lock")  # another process's writer, stuck
    reports = [PlatformReportIn(report_id=f"stuck-{i}", category="other", text="x").to_report(p.id) for i in range(8)]
    out: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            out[i] = intake.submit_report(qdb, reports[i])
        except Exception as e:  # noqa: BLE001 - checked below
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(reports))]
    group = intake._group_commit(qdb)
    with other.held():
        t0 = time.monotonic()
        threads[0].start()
        wait_for(lambda: group.leading)  # the first leads a batch of one, waiting for the lock
        for t in threads[1:]:
            t.start()
        wait_for(lambda: group.waiting == len(reports) - 1)  # the others: the next batch
        for t in threads:
            t.join(30)
        took = time.monotonic() - t0
    assert all(isinstance(e, TimeoutError) and "stayed locked" in str(e) for e in out.values()), out
    assert len(out) == len(reports)
    # one wait for the first batch, one for the second; one by one it was 1 + 7 waits (4 s)
    assert took < 2.5, f"{took:.1f} s"
    with qdb.reader() as s:
        assert s.scalar(select(func.count(Report.id))) == 0
