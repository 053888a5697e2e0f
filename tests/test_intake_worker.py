"""Analysis behind the door (``tipline.intake.worker``): the door stores and answers, workers analyse in
batches, most urgent first, and a report's analysis is the same whether analysed alone or in a batch."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, select, text, update

from helpers import PASSWORD, PG_SERVER, css, entity_counts, login_as, page, run, serve_app, text_of
from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.cybertip.parse import parse_report
from tipline.graph.guard import POOLED
from tipline.graph.models import DegreeLimit, ReportNetwork
from tipline.intake import service as intake
from tipline.intake import worker
from tipline.intake.schemas import LiveIn, PlatformReportIn, PublicReportIn
from tipline.routing.models import JurisdictionCandidate
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import AnalysisFailure, Entity, Mention, Report
from tipline.synth import generate_world
from tipline.web.app import create_app


def queued(settings: Settings) -> Settings:
    return settings.model_copy(update={"analyse_inline": False})


@pytest.fixture
def qdb(settings: Settings) -> Iterator[Database]:
    """The test's database with analysis queued (as ``tipline serve`` runs it)."""
    database = open_database(queued(settings))
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def other_db(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A second, empty database on the same backend (analysis queued)."""
    if backend == "sqlite":
        database = open_database(Settings(data_dir=tmp_path / "other", analyse_inline=False))
        database.migrate()
        yield database
        database.dispose()
        return
    name = f"tipline_test_other_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    database = open_database(
        Settings(data_dir=tmp_path / "other", database_url=f"{PG_SERVER}/{name}", analyse_inline=False)
    )
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def store_world(db: Database, n_reports: int = 90, seed: int = 11) -> list[int]:
    """Store a synthetic world's reports through every door's service path, none analysed; returns ids."""
    assert not db.settings.analyse_inline
    world = generate_world(seed=seed, n_reports=n_reports)
    pids = {p.name: accounts.create_platform(db, p.name) for p in world.platforms}
    ids = []
    for r in world.reports:
        p = pids.get(r.platform or "")
        if r.door == "public":
            res = intake.submit_report(db, PublicReportIn(**r.payload).to_report())
        elif r.door == "platform":
            assert p is not None
            res = intake.submit_report(db, PlatformReportIn(**r.payload).to_report(p.id))
        elif r.door == "live":
            assert p is not None
            res = intake.submit_report(db, LiveIn(**r.payload).to_report(p.id, p.name))
        else:
            assert p is not None
            rep = parse_report(r.payload.encode() if isinstance(r.payload, str) else r.payload)
            res = intake.submit_report(db, rep.model_copy(update={"platform_id": p.id}))
            intake.finish_submission(db, res.report_id, platform_id=p.id)
        ids.append(res.report_id)
    return ids


def analysis_of(db: Database) -> dict[str, Any]:
    """Everything analysis decides, by report id: priority, score, reasons, mentions, networks (as a
    partition), jurisdiction candidates."""
    with db.reader() as s:
        reports = {
            r.id: (r.priority, round(r.score or 0, 6), r.reasons, r.analysed_at is not None)
            for r in s.scalars(select(Report).order_by(Report.id))
        }
        mentions = sorted(
            (m.report_id, e.kind, e.value, m.field, m.start, m.linkable)
            for m, e in s.execute(select(Mention, Entity).join(Entity, Entity.id == Mention.entity_id))
        )
        nets: dict[int, set[int]] = {}
        for rid, nid in s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)):
            nets.setdefault(nid, set()).add(rid)
        juris = sorted(
            (j.report_id, j.country, round(j.weight, 6), j.rank) for j in s.scalars(select(JurisdictionCandidate))
        )
        limits = {
            d.kind: (d.limit, d.source, (d.details or {}).get("next_refresh_at_report"))
            for d in s.scalars(select(DegreeLimit))
        }
    return {
        "reports": reports,
        "mentions": mentions,
        "networks": sorted(sorted(v) for v in nets.values()),
        "jurisdiction": juris,
        "limits": limits,
    }


def _refresh_schedule(ids: list[int], every: int) -> list[int]:
    """The reports at which analysis derives the degree limits again (graph.service.on_report_analysed): the
    first, then each report at or past the one due (the report count doubled, at most ``every`` later)."""
    at: list[int] = []
    due = 0
    for rid in ids:
        if rid >= due:
            at.append(rid)
            due = rid + max(1, min(rid, every))
    return at


def test_a_report_is_analysed_the_same_alone_or_in_a_batch(qdb: Database, other_db: Database):
    alone_ids = store_world(qdb)
    batch_ids = store_world(other_db)
    assert alone_ids == batch_ids
    assert worker.backlog(qdb).waiting == len(alone_ids)
    refreshed: list[int] = []
    for rid in alone_ids:  # one by one, each in its own transaction (what inline analysis does)
        intake.analyse_report(qdb, rid)
        with qdb.reader() as s:
            due = s.scalar(select(DegreeLimit.details).where(DegreeLimit.kind == POOLED))["next_refresh_at_report"]
        if not refreshed or due != refreshed[-1]:
            refreshed.append(due)
    # the limits were derived again exactly when due (the schedule read with the guard, once a transaction)
    every = qdb.settings.graph_limits_refresh_every
    expected = _refresh_schedule(alone_ids, every)
    assert len(expected) > 4 and refreshed == [r + max(1, min(r, every)) for r in expected]
    # the same reports, in the same order, in batches of 16 (one transaction each), on a database driver
    # that cannot return what a DELETE or an UPDATE wrote (SQLite before 3.35): the statements that read it
    # back instead give the same analysis
    dialect = other_db.write_engine.dialect
    assert dialect.delete_returning and dialect.update_returning  # what the other database uses
    dialect.delete_returning = dialect.update_returning = False
    for i in range(0, len(batch_ids), 16):
        res = worker.analyse_ids(other_db, batch_ids[i : i + 16])
        assert not res.failed
    alone, batched = analysis_of(qdb), analysis_of(other_db)
    assert all(done for *_, done in alone["reports"].values())
    assert len(alone["mentions"]) > 100 and len(alone["networks"]) > 3  # the world links: this proves something
    for key in ("reports", "mentions", "networks", "jurisdiction", "limits"):
        assert alone[key] == batched[key], key
    assert worker.backlog(other_db).waiting == 0
    for db in (qdb, other_db):  # counts kept by difference, re-analyses (confirmed readings) included
        stored, recounted = entity_counts(db)
        assert stored == recounted and len(recounted) > 100


def _backlog_then_a_live_press(db: Database, name: str, n: int) -> tuple[accounts.PlatformCredentials, list[int], Any]:
    """A platform's ``n`` ordinary reports, then one panic-button press (P1): all waiting for analysis."""
    p = accounts.create_platform(db, name)
    backlog_ids = [
        intake.submit_report(
            db, PlatformReportIn(report_id=f"b{i}", category="other", text=f"backlog {i}").to_report(p.id)
        ).report_id
        for i in range(n)
    ]
    live = intake.submit_report(
        db, LiveIn(stream_id=f"s-{name}", broadcaster={"account": "host1"}, note="live now").to_report(p.id, p.name)
    )
    return p, backlog_ids, live


def test_the_worker_takes_the_most_urgent_first(qdb: Database):
    p, backlog_ids, live = _backlog_then_a_live_press(qdb, "UrgentChat", 12)
    escalated = intake.submit_report(
        qdb, PlatformReportIn(report_id="e1", category="other", text="imminent", escalate=True).to_report(p.id)
    )
    assert live.priority == 1 and escalated.priority == 1  # provisional, as stored, before any analysis
    b = worker.backlog(qdb)
    assert (b.waiting, b.urgent) == (14, 2) and b.oldest_age_s() >= 0
    first = worker.analyse_batch(qdb, limit=2, budget_s=10)
    assert set(first.analysed) == {live.report_id, escalated.report_id}
    rest = worker.analyse_batch(qdb, limit=100, budget_s=10)
    assert sorted(rest.analysed) == backlog_ids
    assert worker.backlog(qdb) == worker.Backlog(0, 0, None)


def test_a_panic_press_comes_before_a_platforms_reports_of_live_streams(qdb: Database):
    """A platform's reports may be of live streams too (``is_live``), escalated (P1): a panic-button press
    stored after many of them is still claimed first (it waited behind them on PostgreSQL), and they keep
    their place before the rest of the backlog."""
    p, backlog_ids, _ = _backlog_then_a_live_press(qdb, "StreamChat", 3)
    streams = [
        intake.submit_report(
            qdb,
            PlatformReportIn(
                report_id=f"stream-{i}", category="other", text="live show now", escalate=True, is_live=True
            ).to_report(p.id),
        ).report_id
        for i in range(6)
    ]
    press = intake.submit_report(
        qdb, LiveIn(stream_id="s-late", broadcaster={"account": "host2"}, note="live now").to_report(p.id, p.name)
    ).report_id
    with qdb.reader() as s:
        assert all(r.is_live and r.priority == 1 for r in s.scalars(select(Report).where(Report.id.in_(streams))))
    first = worker.analyse_batch(qdb, limit=2, budget_s=10)
    assert press in first.analysed and not set(first.analysed) & set(streams)  # the two presses first
    urgent = worker.analyse_batch(qdb, limit=100, budget_s=10, urgent_only=True)
    assert sorted(urgent.analysed) == streams  # then the platform's escalations, before the backlog
    assert sorted(worker.analyse_batch(qdb, limit=100, budget_s=10).analysed) == backlog_ids


def test_claims_in_two_open_transactions_take_different_reports_the_live_press_first(qdb: Database, backend: str):
    """A claim (the live presses, then the rest in priority order) locks on PostgreSQL only the reports it
    returns, and a second worker's claim skips them, whichever part returned them."""
    if backend != "postgres":
        pytest.skip("one writer at a time on SQLite: a claim there locks nothing")
    _p, backlog_ids, press = _backlog_then_a_live_press(qdb, "ClaimChat", 4)
    live = press.report_id
    with qdb.session() as first, qdb.session() as second:
        assert worker.claim(first, 1) == [live]  # the live press, not the oldest report
        assert worker.claim(second, 2) == backlog_ids[:2]  # the press is locked: skipped
        # ... and so are the second's (its own it names in ``skip``, as a batch does)
        assert worker.claim(first, 2, {live}) == backlog_ids[2:]
        assert worker.claim(second, 5, backlog_ids[:2]) == []
        assert worker.claim(second, 5, backlog_ids[:2], urgent_only=True) == []
    with qdb.session() as again:  # both ended: every report waits again
        assert worker.claim(again, 2) == [live, backlog_ids[0]]
        assert worker.claim(again, 9, {live}, urgent_only=True) == []  # P1 only: no other


def test_a_report_another_worker_took_after_the_claim_is_passed_over(qdb: Database, backend: str):
    """On PostgreSQL a claim takes a few reports, and each later one is taken with its row by its own
    transaction: one that another worker is analysing (its row locked) or has analysed since is passed
    over, not waited for and not analysed twice."""
    if backend != "postgres":
        pytest.skip("SQLite: the batch is one transaction, its claim holds the only write lock")
    _p, ids, _press = _backlog_then_a_live_press(qdb, "PassChat", 6)
    busy, done = ids[1], ids[2]  # the third and fourth of the batch's first claim (of worker.CLAIM)
    other = create_engine(qdb.settings.database_url)
    held = other.connect()
    takes: list[int] = []

    def meanwhile(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "SKIP LOCKED" not in statement or "reports.id = " not in statement:
            return
        takes.append(params["id"])
        if len(takes) == 2:  # the claim's second report (its first is the live press): another worker acts on
            # the next two (the claim's locks ended with the first report's transaction)
            held.execute(text("SELECT id FROM reports WHERE id = :id FOR UPDATE"), {"id": busy})
            with other.begin() as c:
                c.execute(text("UPDATE reports SET analysed_at = now(), score = -1 WHERE id = :id"), {"id": done})

    event.listen(qdb.engine, "before_cursor_execute", meanwhile)
    try:
        started = time.monotonic()
        res = worker.analyse_batch(qdb, limit=100, budget_s=10)
        took = time.monotonic() - started
    finally:
        event.remove(qdb.engine, "before_cursor_execute", meanwhile)
        held.rollback()
        held.close()
        other.dispose()
    assert busy in takes and done in takes  # both were tried ...
    assert not {busy, done} & {*res.analysed, *res.failed, *res.busy}  # ... and passed over
    assert set(res.analysed) == set(ids + [_press.report_id]) - {busy, done} and not res.failed and not res.busy
    assert took < 5  # the locked one was not waited for
    with qdb.reader() as s:
        assert s.get(Report, done).score == -1  # the other worker's analysis stands
        assert not s.scalars(select(Mention).where(Mention.report_id == done)).all()
    assert worker.backlog(qdb).waiting == 1  # the one the other worker held (and gave back) waits
    assert worker.analyse_batch(qdb, limit=100, budget_s=10).analysed.keys() == {busy}


PHONE = ("phone", "+639170000001")


def test_naming_an_entity_that_another_batch_counts_does_not_wait_for_that_batch(qdb: Database, backend: str):
    """An analysis that names an entity whose row another open transaction updated (a worker's batch
    counting its reports) gets its id at once: only new entities are inserted (an INSERT of an existing
    value waited for the other transaction to end)."""
    if backend != "postgres":
        pytest.skip("one writer at a time on SQLite")
    now = datetime.now(UTC)
    with qdb.session() as s:
        eid = intake.upsert_entities(s, {PHONE}, now)[PHONE]
    with qdb.engine.connect() as other:
        tx = other.begin()  # the other batch: it counted the phone, and has not committed
        other.execute(update(Entity).where(Entity.id == eid).values(report_count=3))
        try:
            with qdb.session() as s:
                s.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait fails the test, not hangs it
                started = time.monotonic()
                got = intake.upsert_entities(s, {PHONE, ("email", "host@example.org")}, now)
                assert time.monotonic() - started < 1
        finally:
            tx.rollback()
    assert got[PHONE] == eid and ("email", "host@example.org") in got


def test_a_batch_commits_the_new_entities_it_names_at_once_and_keeps_them_if_it_fails(qdb: Database, backend: str):
    """In a worker's batch on PostgreSQL a new entity is committed at once, apart from the batch: another
    transaction inserting the same value does not wait for the batch; the batch, which then counts the
    entity (updating its row), names it again without waiting for itself; a batch rolled back leaves the
    entity, mentioned by nothing."""
    if backend != "postgres":
        pytest.skip("one writer at a time on SQLite: nothing to commit apart")
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError, match="the batch fails"):
        with qdb.session() as s, worker.entities_committed_apart(s):
            eid = intake.upsert_entities(s, {PHONE}, now)[PHONE]
            with qdb.reader() as r:  # seen by another transaction while the batch is open
                assert r.scalar(select(Entity.id).where(Entity.kind == "phone", Entity.value == PHONE[1])) == eid
            intake.refresh_entity_stats(s, {eid}, now)  # the batch locks and updates the row
            s.execute(text("SET LOCAL lock_timeout = '2s'"))
            again = intake.upsert_entities(s, {PHONE, ("email", "host@example.org")}, now)
            assert again[PHONE] == eid
            raise RuntimeError("the batch fails")
    with qdb.reader() as r:
        kept = {(e.kind, e.value): e.report_count for e in r.scalars(select(Entity))}
    assert kept == {PHONE: 0, ("email", "host@example.org"): 0}


def test_a_batch_commits_once_on_sqlite_and_each_report_on_postgres(qdb: Database, backend: str):
    """On SQLite a batch is one transaction (one flush for all its reports, one write lock); on PostgreSQL
    each report is committed alone, without waiting for its flush, so what it locked is released before
    the next report (a batch that held its reports' locks made the other workers wait or give up)."""
    from sqlalchemy import event

    ids = store_world(qdb, n_reports=12, seed=3)
    commits: list[str] = []
    backends: set[int] = set()

    def on_commit(conn: Any) -> None:
        if conn.dialect.name == "postgresql":
            commits.append(conn.exec_driver_sql("SHOW synchronous_commit").scalar())
            backends.add(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        else:
            commits.append("sqlite")

    event.listen(qdb.write_engine, "commit", on_commit)
    try:
        res = worker.analyse_batch(qdb, limit=len(ids), budget_s=60)
    finally:
        event.remove(qdb.write_engine, "commit", on_commit)
    assert sorted(res.analysed) == ids
    if backend == "postgres":
        assert commits == ["off"] * len(ids)
        assert len(backends) == 1  # the batch's transactions ran on one connection, in turn
        # given back to the pool with its settings reset: a door's transaction on it waits for its flush
        pool = qdb.write_engine.pool
        held = [qdb.write_engine.connect() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
        try:
            (conn,) = [c for c in held if c.exec_driver_sql("SELECT pg_backend_pid()").scalar() in backends]
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
        finally:
            for c in held:
                c.close()
    else:
        assert commits == ["sqlite"]


def test_a_claim_reads_the_waiting_index_in_order_not_every_stored_report(qdb: Database, backend: str):
    """A claim is an ordered range of the partial index of waiting reports (ix_reports_waiting): its cost
    must not grow with the reports already analysed. SQLite's planner took the index on submission_state
    and sorted every finished report at every claim (a fifth of a 9,000-report drain)."""
    from sqlalchemy import event

    if backend != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by its statistics (the plan was checked by hand: the same index)")
    ids = store_world(qdb, n_reports=30, seed=3)
    worker.analyse_ids(qdb, ids[:20])
    seen: list[tuple[str, Any]] = []

    def on_execute(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().startswith("SELECT reports.id"):
            seen.append((statement, params))

    event.listen(qdb.write_engine, "before_cursor_execute", on_execute)
    try:
        with qdb.session() as s:
            assert worker.claim(s, 2, {ids[25]}) == ids[20:22]
            assert worker.claim(s, 2, (), urgent_only=True) == []
    finally:
        event.remove(qdb.write_engine, "before_cursor_execute", on_execute)
    assert len(seen) == 4
    with qdb.reader() as r:
        for statement, params in seen:
            plan = " | ".join(
                row[3] for row in r.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
            assert "ix_reports_waiting" in plan and "TEMP B-TREE" not in plan, plan


def test_the_entity_writer_connects_only_for_a_new_entity(qdb: Database, backend: str):
    """A batch that names only known entities opens no second connection (most batches: an idle poll, a
    stream of known identifiers); the first new entity opens it, and the batch's end closes it."""
    if backend != "postgres":
        pytest.skip("one writer at a time on SQLite: nothing to commit apart")
    now = datetime.now(UTC)
    with qdb.session() as s:
        intake.upsert_entities(s, {PHONE}, now)
    pool = qdb.write_engine.pool  # the same engine as the reader's on PostgreSQL
    with qdb.session() as s, worker.entities_committed_apart(s):
        writer = s.info[intake.ENTITY_WRITER]
        intake.upsert_entities(s, {PHONE}, now)
        assert writer.conn is None
        out = pool.checkedout()
        intake.upsert_entities(s, {("email", "new@example.org")}, now)
        assert writer.conn is not None and pool.checkedout() == out + 1
    assert writer.conn is None and pool.checkedout() == 0


def test_queued_app_answers_before_analysis_and_its_worker_analyses(qdb: Database):
    """End to end through the app ``tipline serve`` builds (create_app with analysis queued): the door
    answers 201 with the stored report, the app's own worker thread analyses it, a panic press is analysed
    within a second while a backlog waits."""
    p = accounts.create_platform(qdb, "QueuedChat")
    key = {"Authorization": f"Bearer {p.api_key}"}
    app = create_app(qdb.settings, db=qdb)
    with TestClient(app) as c:
        assert app.state.analyser is not None
        r = c.post(
            "/api/v1/reports",
            json={"report_id": "q1", "category": "other", "text": "call +63 917 555 0199"},
            headers=key,
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        worker.wait_until_analysed(qdb, [rid], timeout=20)
        with qdb.reader() as s:
            values = set(
                s.scalars(
                    select(Entity.value).join(Mention, Mention.entity_id == Entity.id).where(Mention.report_id == rid)
                )
            )
        assert "+639175550199" in values
        # a backlog stored behind the app's back (as a bulk import does), then a panic press
        for i in range(60):
            intake.submit_report(
                qdb, PlatformReportIn(report_id=f"bulk{i}", category="other", text=f"bulk {i}").to_report(p.id)
            )
        t0 = time.monotonic()
        r = c.post("/api/v1/live", json={"stream_id": "panic-1", "broadcaster": {"account": "host2"}}, headers=key)
        assert r.status_code == 201 and r.json()["priority"] == 1
        worker.wait_until_analysed(qdb, [r.json()["id"]], timeout=20)
        assert time.monotonic() - t0 < 1.0, "the panic press waited behind the backlog"
        worker.wait_until_analysed(qdb, timeout=60)
    assert worker.backlog(qdb).waiting == 0


def test_a_failing_report_is_retried_later_and_does_not_block_the_batch(qdb: Database):
    p = accounts.create_platform(qdb, "FailChat")
    ids = [
        intake.submit_report(
            qdb, PlatformReportIn(report_id=f"f{i}", category="other", text=f"r {i}").to_report(p.id)
        ).report_id
        for i in range(3)
    ]
    caps = qdb.capabilities
    assert caps is not None
    from dataclasses import replace

    def explode(ctx: Any) -> None:
        if ctx.report.id == ids[1]:
            raise RuntimeError("hook failure")

    broken = (*caps, replace(caps[0], name="explode", before_score=explode, models=(), routers=(), cli=None))
    qdb.capabilities = broken
    accounts.create_user(qdb, "sup", "supervisor", PASSWORD)
    try:
        an = worker.Analyser(qdb, batch=10, budget_s=10)
        res = an.step()
        assert sorted(res.analysed) == [ids[0], ids[2]] and res.failed == [ids[1]]
        assert not an.step().failed  # not tried again at once
        assert worker.analyse_batch(qdb, budget_s=10).failed == [ids[1]]  # another worker's try: a second attempt
        with pytest.raises(TimeoutError):
            worker.wait_until_analysed(qdb, [ids[1]], timeout=0.1)

        # the failure is seen where people look: `tipline status` and the queue page (only the error's type)
        b = worker.backlog(qdb)
        assert (b.waiting, b.failing, b.last_error) == (1, 1, "builtins.RuntimeError")
        with qdb.reader() as s:
            assert s.execute(select(AnalysisFailure.report_id, AnalysisFailure.attempts)).all() == [(ids[1], 2)]
        env = {"TIPLINE_DATABASE_URL": qdb.url} if qdb.dialect == "postgresql" else {}
        status = json.loads(run(["status", "--json"], qdb.settings.data_dir, env_extra=env).stdout)
        assert (status["failing"], status["last_error"]) == (1, "builtins.RuntimeError"), status
        human = " ".join(run(["status"], qdb.settings.data_dir, env_extra=env).stderr.split())
        assert "analysis failed for 1 of them (latest error: builtins.RuntimeError)" in human, human
        with TestClient(create_app(qdb.settings, db=qdb)) as client:  # its own worker fails on the report too
            login_as(client, "sup")
            queue = client.get("/queue")
            (note,) = css(page(queue), "#analysis-failing")
            assert "Analysis failed for 1 of them (latest error: builtins.RuntimeError)" in text_of(note)
            assert "hook failure" not in queue.text  # the error's message can quote a report: never shown
    finally:
        qdb.capabilities = caps
    assert worker.analyse_batch(qdb, budget_s=10).analysed.keys() == {ids[1]}
    assert worker.backlog(qdb).failing == 0
    with TestClient(create_app(qdb.settings, db=qdb)) as client:
        login_as(client, "sup")
        assert not css(page(client.get("/queue")), "#analysis-failing")


def test_a_worker_warms_each_capability_up_once_before_its_first_batch(qdb: Database, caplog):
    """What a capability's hooks would build on the first report of a process (the public suffix list's
    table, phone metadata) is built before the first batch, outside its transaction; a warm-up that fails
    is logged and the worker goes on."""
    from dataclasses import replace

    from tipline.routing import jurisdiction

    caps = qdb.capabilities
    assert caps is not None
    assert {c.name: c.warm_up for c in caps}["routing"] is jurisdiction.warm_up
    calls: list[str] = []

    def cold() -> None:
        calls.append("cold")
        raise RuntimeError("no table today")

    extra = (
        replace(caps[0], name="counts", warm_up=lambda: calls.append("counts"), models=(), routers=(), cli=None),
        replace(caps[0], name="cold", warm_up=cold, models=(), routers=(), cli=None),
    )
    qdb.capabilities = (*caps, *extra)
    try:
        p = accounts.create_platform(qdb, "WarmChat")
        rid = intake.submit_report(
            qdb, PlatformReportIn(report_id="w1", category="other", text="call +63 917 555 0100").to_report(p.id)
        ).report_id
        with caplog.at_level("ERROR", logger="tipline.intake.worker"):
            assert worker.run_worker(qdb, once=True) == 1  # warmed up, then analysed
            assert worker.run_worker(qdb, once=True) == 0
        assert calls == ["counts", "cold"]  # once for this database in this process
        assert "warming up cold for analysis failed" in caplog.text
        worker.wait_until_analysed(qdb, [rid], timeout=1)
    finally:
        qdb.capabilities = caps


@pytest.mark.slow
def test_queued_app_under_uvicorn_with_concurrent_clients_loses_nothing(qdb: Database):
    p = accounts.create_platform(qdb, "ManyChat")
    key = {"Authorization": f"Bearer {p.api_key}"}
    app = create_app(qdb.settings, db=qdb)
    acked: list[int] = []
    with serve_app(app) as base:
        import concurrent.futures as cf

        def post(i: int) -> int:
            with httpx.Client(timeout=30) as c:
                body = {"report_id": f"m{i}", "category": "other", "text": f"call +63 917 555 {i % 7 + 100:04d}"}
                r = c.post(f"{base}/api/v1/reports", json=body, headers=key)
                assert r.status_code == 201, r.text
                return int(r.json()["id"])

        with cf.ThreadPoolExecutor(8) as ex:
            acked = list(ex.map(post, range(80)))
        worker.wait_until_analysed(qdb, acked, timeout=60)
    with qdb.reader() as s:
        nets = dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all())
    assert len(set(acked)) == 80 and all(rid in nets for rid in acked)
    assert len({nets[rid] for rid in acked}) == 7  # the seven shared numbers: seven networks


@pytest.mark.slow
def test_two_worker_processes_on_postgresql_agree_with_the_full_recompute(qdb: Database, backend: str):
    """Two ``tipline worker`` processes analyse one backlog at once (no global graph lock: each update
    locks the networks and entities it touches); nothing fails, every report is analysed once, entity
    counts are right, and the networks equal a full recompute."""
    if backend != "postgres":
        pytest.skip("concurrent workers are a PostgreSQL set-up (SQLite has one writer)")
    import subprocess
    import sys

    from sqlalchemy import func

    from tipline.graph import network as net
    from tipline.graph.guard import load_guard
    from tipline.graph.models import EntityNetwork

    ids = store_world(qdb, n_reports=160, seed=5)
    env = {**os.environ, "TIPLINE_DATA_DIR": str(qdb.settings.data_dir), "TIPLINE_DATABASE_URL": qdb.url}
    tipline = str(Path(sys.executable).with_name("tipline"))
    procs = [
        subprocess.Popen(
            [tipline, "worker", "--once", "--batch", "4"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err and "failed" not in err, err
    done = [int(out.split("analysed ")[1].split()[0]) for out, _ in outs]
    worker.wait_until_analysed(qdb, ids, timeout=60)  # a report that met a deadlock went to a later batch
    assert sum(done) >= len(ids) - 5 and min(done) > 0, done  # both took part
    with qdb.reader() as s:
        stored = dict(s.execute(select(Entity.id, Entity.report_count)).all())
        counted = dict(
            s.execute(
                select(Mention.entity_id, func.count(func.distinct(Mention.report_id))).group_by(Mention.entity_id)
            ).all()
        )
        before = (
            dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all()),
            dict(s.execute(select(EntityNetwork.entity_id, EntityNetwork.network_id)).all()),
        )
    assert {e: n for e, n in stored.items() if n} == counted
    assert entity_counts(qdb)[0] == entity_counts(qdb)[1]  # and those naming them linkably
    with qdb.session() as s:
        net.recompute_all(s, load_guard(s, qdb.settings))
    with qdb.reader() as s:
        after = (
            dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all()),
            dict(s.execute(select(EntityNetwork.entity_id, EntityNetwork.network_id)).all()),
        )
    assert len(set(before[0].values())) < len(before[0])  # some networks join several reports
    assert before == after


@pytest.mark.slow
def test_a_tipline_worker_process_is_woken_through_the_job_queue(qdb: Database, backend: str):
    """PostgreSQL: a server's door queues a procrastinate wake-up; a ``tipline worker`` process (which
    otherwise looks only every 30 s) hears it at once and analyses the report."""
    if backend != "postgres":
        pytest.skip("tipline worker processes are woken through procrastinate on PostgreSQL")
    import subprocess
    import sys

    from tipline.intake import jobs

    p = accounts.create_platform(qdb, "WakeChat")
    env = {**os.environ, "TIPLINE_DATA_DIR": str(qdb.settings.data_dir), "TIPLINE_DATABASE_URL": qdb.url}
    tipline = str(Path(sys.executable).with_name("tipline"))
    proc = subprocess.Popen([tipline, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wake = jobs.RemoteWake(qdb).start()
    qdb.set_resource("intake.remote_wake", wake)
    try:
        assert proc.stderr is not None
        assert "woken through procrastinate" in proc.stderr.readline()
        time.sleep(1.0)  # its first look found nothing: it now sleeps until woken (or 30 s)
        t0 = time.monotonic()
        live = intake.submit_report(
            qdb, LiveIn(stream_id="wake-1", broadcaster={"account": "host9"}, note="now").to_report(p.id, p.name)
        )
        worker.wait_until_analysed(qdb, [live.report_id], timeout=20)
        assert time.monotonic() - t0 < 10.0, "the worker was not woken by the queue (it waited for its 30 s look)"
        later = intake.submit_report(
            qdb, PlatformReportIn(report_id="w2", category="other", text="call +63 917 555 0123").to_report(p.id)
        )
        worker.wait_until_analysed(qdb, [later.report_id], timeout=10)
    finally:
        qdb.set_resource("intake.remote_wake", None)
        wake.stop()
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "analysed 2 report(s)" in out and "Traceback" not in err, (out, err)


def test_a_busy_door_defers_one_wake_up_while_one_waits(qdb: Database, backend: str):
    """PostgreSQL: while a wake-up job waits (no worker has taken it yet), the server defers no other: it
    looks first, where a deferral refused by procrastinate's queueing lock is an error in the server's log."""
    if backend != "postgres":
        pytest.skip("wake-ups go through procrastinate on PostgreSQL")
    from tipline.intake import jobs

    wake = jobs.RemoteWake(qdb).start()
    try:
        for _ in range(15):  # doors storing reports, no worker running
            wake()
            time.sleep(0.04)
        deadline = time.monotonic() + 10
        while wake.deferrals == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        wake.stop()
    with qdb.reader() as s:
        waiting = s.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE queueing_lock = :t AND status = 'todo'"),
            {"t": jobs.TASK},
        )
    assert waiting == 1
    assert wake.deferrals == 1


def test_processes_starting_together_on_a_new_database_install_the_queue_once(other_db: Database, backend: str):
    """PostgreSQL: ``tipline serve --workers N`` and workers beside it, first started on a new database, each
    install procrastinate's schema if it is missing; unlocked, all but one failed on its CREATE TYPE."""
    if backend != "postgres":
        pytest.skip("the job queue is PostgreSQL's")
    from tipline.intake import jobs

    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def install() -> None:
        app = jobs.make_app(other_db)
        with app.open():
            start.wait()
            try:
                jobs.ensure_schema(other_db, app)
            except BaseException as e:  # noqa: BLE001 - listed below, with the others
                errors.append(e)

    threads = [threading.Thread(target=install) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with other_db.reader() as s:
        assert s.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))


def _batch_open(db: Database) -> bool:
    """Whether another connection holds an open write transaction (a worker's batch in flight)."""
    if db.dialect == "postgresql":
        with db.reader() as s:
            n = s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                )
            )
        return bool(n)
    import sqlite3

    con = sqlite3.connect(db.settings.data_dir / "tipline.db", timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")  # refused while a writer (the worker's batch) holds the lock
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        con.close()


def _analysed(db: Database, ids: list[int]) -> int:
    from sqlalchemy import func

    with db.reader() as s:
        return int(s.scalar(select(func.count(Report.id)).where(Report.id.in_(ids), Report.analysed_at.is_not(None))))


@pytest.mark.slow
def test_sigkill_of_a_worker_mid_batch_loses_nothing(qdb: Database, other_db: Database):
    """A ``tipline worker`` process is SIGKILLed while a batch is open (some reports analysed by earlier
    batches, not all); started again, it analyses every report, and the result is what an uninterrupted
    run gives: no report lost or stuck, no mention twice, entity counts right, networks equal to a full
    recompute."""
    import signal
    import subprocess
    import sys

    from sqlalchemy import func

    from tipline.graph import network as net
    from tipline.graph.guard import load_guard

    ids = store_world(qdb, n_reports=160, seed=5)
    assert store_world(other_db, n_reports=160, seed=5) == ids
    env = {**os.environ, "TIPLINE_DATA_DIR": str(qdb.settings.data_dir), "TIPLINE_ANALYSIS_BATCH_MS": "60000"}
    env.pop("TIPLINE_DATABASE_URL", None)
    if qdb.dialect == "postgresql":
        env["TIPLINE_DATABASE_URL"] = qdb.url
    tipline = str(Path(sys.executable).with_name("tipline"))

    batch = 20

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [tipline, "worker", "--batch", str(batch)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def mid_run() -> bool:
        """Two batches committed, a batch open, and more than one batch still waiting after it: the open one may
        commit before the kill lands (CI once saw all 160 analysed when the last batch was the open one)."""
        return 2 * batch <= _analysed(qdb, ids) <= len(ids) - 3 * batch and _batch_open(qdb)

    proc = start()
    try:
        deadline = time.monotonic() + 300
        # batches have committed and the next one is open: kill it in the middle
        while not mid_run():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the worker never got past its first batches"
            time.sleep(0.005)  # a batch of 20 takes tens of milliseconds
        # catch a transaction open (a batch of 40 on SQLite, a report on PostgreSQL): a fixed sleep could
        # land between two (a batch of 40 now takes a fraction of a second); it may still commit before the
        # signal lands, and the checks below hold either way
        while not _batch_open(qdb) and time.monotonic() < deadline:
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = _analysed(qdb, ids)
    assert 2 * batch <= done < len(ids), done  # some, not all: the kill came mid-run
    if qdb.dialect == "sqlite":
        assert done % batch == 0, done  # the batch in flight was rolled back whole (no half batch)
    # on PostgreSQL each report is a transaction of its own (worker.analyse_batch): the one in flight was
    # rolled back whole, which the comparison with an uninterrupted run below checks (no mention twice,
    # counts and networks right)
    proc = start()  # started again: it takes what the killed batch left waiting
    try:
        worker.wait_until_analysed(qdb, ids, timeout=300)
    finally:
        proc.terminate()
        proc.wait(30)
    worker.run_worker(other_db, once=True, batch=batch)  # the same backlog, never interrupted
    killed, clean = analysis_of(qdb), analysis_of(other_db)
    assert all(done for *_, done in killed["reports"].values())
    assert len(killed["mentions"]) == len(set(killed["mentions"])) > 100  # no mention twice
    for key in ("reports", "mentions", "networks", "jurisdiction", "limits"):
        assert killed[key] == clean[key], key
    with qdb.reader() as s:
        stored = {e: n for e, n in s.execute(select(Entity.id, Entity.report_count)).all() if n}
        counted = dict(
            s.execute(
                select(Mention.entity_id, func.count(func.distinct(Mention.report_id))).group_by(Mention.entity_id)
            ).all()
        )
    assert stored == counted
    before = killed["networks"]
    with qdb.session() as s:
        net.recompute_all(s, load_guard(s, qdb.settings))
    assert analysis_of(qdb)["networks"] == before


def test_tipline_worker_once_waits_a_moment_for_a_report_another_transaction_holds(qdb: Database, backend: str):
    """`tipline worker --once` tries a report that waited on another worker's locks again after a moment
    (``BUSY_RETRY_S``), not in a loop of claims as fast as the database answers, and analyses it once the
    other transaction ends."""
    if backend != "postgres":
        pytest.skip("one writer at a time on SQLite: no lock waits between workers")
    rid = intake.submit_report(
        qdb, PublicReportIn(category="other", text="they call from +63 917 555 0142", country="PH").to_report()
    ).report_id
    now = datetime.now(UTC)
    with qdb.session() as s:
        eid = intake.upsert_entities(s, {("phone", "+639175550142")}, now)[("phone", "+639175550142")]
    claims: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if "SKIP LOCKED" in statement:
            claims.append(statement)

    event.listen(qdb.engine, "before_cursor_execute", count)
    other = create_engine(qdb.settings.database_url)
    try:
        with other.connect() as c:
            tx = c.begin()  # another worker's transaction counting the same phone: its row stays locked
            c.execute(text("SELECT id FROM entities WHERE id = :id FOR UPDATE"), {"id": eid})
            done = threading.Event()
            analysed: list[int] = []
            t = threading.Thread(target=lambda: (analysed.append(worker.run_worker(qdb, once=True)), done.set()))
            t.start()
            time.sleep(1.0)
            tries = len(claims)
            tx.rollback()
        assert done.wait(30), "the worker did not finish once the lock was released"
    finally:
        event.remove(qdb.engine, "before_cursor_execute", count)
        other.dispose()
    assert analysed == [1]
    assert 2 <= tries <= 25, tries  # tried again (each try: a claim and a take) about every BUSY_RETRY_S
    with qdb.reader() as s:
        assert s.get(Report, rid).analysed_at is not None


def test_analysis_writes_each_capabilitys_rows_anew_and_routing_reads_the_mentions_it_wrote(
    qdb: Database, backend: str
) -> None:
    """Analysis deletes a report's rows in every capability's ``analysis_rows`` (its hash matches, its
    jurisdiction candidates) with its mentions, on PostgreSQL in that one statement, and the hooks only
    insert: a candidate left from an earlier analysis is gone after the next. The routing hook builds its
    candidates from the mentions analysis wrote (``AnalysisContext.mentions``), not from a read of them: the
    same candidates as a refresh that reads the stored mentions. On PostgreSQL the entities' counts, moving
    alike, are locked and moved by one statement."""
    from tipline.routing.hooks import MAX_CANDIDATES
    from tipline.routing.referral import refresh_jurisdiction, report_jurisdiction

    ids = store_world(qdb, n_reports=40, seed=5)
    worker.analyse_batch(qdb, limit=len(ids), budget_s=60)

    def as_rows(cands: list[Any]) -> list[tuple[str, float, list[dict[str, Any]]]]:
        return [(c.country, round(c.weight, 9), [e.as_dict() for e in c.evidence]) for c in cands]

    with_candidates = 0
    for rid in ids:
        stored = report_jurisdiction(qdb, rid)
        with_candidates += bool(stored)
        assert as_rows(stored) == as_rows(refresh_jurisdiction(qdb, rid)[:MAX_CANDIDATES]), rid
    assert with_candidates >= len(ids) // 2  # the comparison compared something

    rid = ids[0]
    with qdb.session() as s:  # a candidate an earlier analysis left, and the report queued again
        s.add(JurisdictionCandidate(report_id=rid, country="ZZ", weight=9.0, rank=99, evidence=[]))
        row = s.get(Report, rid)
        assert row is not None
        intake.mark_for_analysis(s, row)
    statements: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(qdb.write_engine, "before_cursor_execute", on_execute)
    try:
        assert list(worker.analyse_batch(qdb, limit=1, budget_s=60).analysed) == [rid]
    finally:
        event.remove(qdb.write_engine, "before_cursor_execute", on_execute)
    assert "ZZ" not in [c.country for c in report_jurisdiction(qdb, rid)]
    deletes = [d for d in statements if "DELETE" in d]
    tables = ("hash_matches", "jurisdiction_candidates", "mentions")
    if backend == "postgres":
        (one,) = [d for d in deletes if any(f"DELETE FROM {t} " in d for t in tables)]
        assert all(f"DELETE FROM {t} " in one for t in tables)
        # its entities move alike (named before and now): locked, in id order, by the UPDATE of their counts
        (locks,) = [x for x in statements if "FOR NO KEY UPDATE" in x and "entities" in x]
        assert locks.startswith("UPDATE entities SET")
    else:
        assert sorted(t for d in deletes for t in tables if f"DELETE FROM {t} " in d) == sorted(tables)
