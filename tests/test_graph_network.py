"""The entity graph's core: the guard's rules, and the incremental path agreeing exactly with the full
recompute (scipy) through merges, splits, re-analyses, degree-limit crossings and warning-list changes.

Reports and mentions are written here the way ``analyse_report`` writes them (same tables, same order:
mentions, ``Entity.report_count``, then the graph's update in the same transaction), so each step is
fast and the sequence is under the test's control. ``tests/test_graph_world.py`` runs the real analysis.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from tipline.graph import cases, service
from tipline.graph import network as net
from tipline.graph.evaluate import largest_share, pairwise
from tipline.graph.guard import (
    NO_GUARD,
    Guard,
    LimitRule,
    WarningList,
    analysis_guard,
    builtin_entries,
    derive_limits,
    load_guard,
)
from tipline.graph.models import DegreeLimit, EntityNetwork, ReportNetwork
from tipline.store import Database
from tipline.store.models import Entity, Mention, Report

# ------------------------------------------------------------------------------------------ helpers


def new_report(db: Database) -> int:
    with db.session() as s:
        r = Report(source="public", category="other", text="", analysed_at=datetime.now(UTC))
        s.add(r)
        s.flush()
        return r.id


def analyse(db: Database, report_id: int, values: list[tuple[str, str]]) -> int:
    """Replace the report's mentions with ``values`` and update the graph, as analyse_report does."""
    now = datetime.now(UTC)
    with db.session() as s:
        ids = set()
        for kind, value in values:
            e = s.scalar(select(Entity).where(Entity.kind == kind, Entity.value == value))
            if e is None:
                e = Entity(kind=kind, value=value, first_seen=now, last_seen=now, report_count=0)
                s.add(e)
                s.flush()
            ids.add(e.id)
        old = set(s.scalars(select(Mention.entity_id).where(Mention.report_id == report_id)))
        s.execute(delete(Mention).where(Mention.report_id == report_id))
        for eid in sorted(ids):
            s.add(Mention(entity_id=eid, report_id=report_id, field="text"))
        s.flush()
        touched = ids | old
        counts = dict(
            s.execute(
                select(Mention.entity_id, func.count(func.distinct(Mention.report_id)))
                .where(Mention.entity_id.in_(touched))
                .group_by(Mention.entity_id)
            ).all()
        )
        for e in s.scalars(select(Entity).where(Entity.id.in_(touched))):
            e.report_count = int(counts.get(e.id, 0))
        return service.on_report_analysed(s, db.settings, report_id, ids, old - ids)


def snapshot(db: Database) -> tuple[dict[int, int], dict[int, int]]:
    with db.reader() as s:
        reps = dict(s.execute(select(ReportNetwork.report_id, ReportNetwork.network_id)).all())
        ents = dict(s.execute(select(EntityNetwork.entity_id, EntityNetwork.network_id)).all())
    return reps, ents


def assert_matches_full_recompute(db: Database) -> tuple[dict[int, int], dict[int, int]]:
    before = snapshot(db)
    with db.session() as s:
        net.recompute_all(s, load_guard(s, db.settings))
    after = snapshot(db)
    assert before[0] == after[0], "report networks differ between the incremental path and the full recompute"
    assert before[1] == after[1], "entity networks differ between the incremental path and the full recompute"
    return after


# ------------------------------------------------------------------------------------------ guard


def test_limits_follow_the_degree_distribution() -> None:
    rule = LimitRule(percentile=90, factor=5, floor=20, min_sample=10)
    # 100 ring phones with degrees 2..12 and one hub with degree 900
    phones = {d: 9 for d in range(2, 13)} | {900: 1}
    hist = {"phone": phones, "iban": {2: 3}}
    lim = derive_limits(hist, rule, default_limit=100)
    assert lim["phone"]["limit"] == 5 * 11  # P90 of the shared phones is 11: the hub does not move it
    assert lim["phone"]["pooled"] is False
    assert lim["iban"]["pooled"] is True  # three shared IBANs are too few: the pooled limit applies
    assert lim["iban"]["limit"] == lim["*"]["limit"]
    # the floor protects small samples from a cap that would split real rings
    assert derive_limits({"btc": {2: 50}}, rule, 100)["btc"]["limit"] == 20
    # nothing to derive from: the default
    assert derive_limits({}, rule, 100)["*"]["limit"] == 100


def test_warning_list_and_verdicts() -> None:
    guard = Guard(WarningList(builtin_entries()), {"domain": 30}, default_limit=50)
    assert not guard.links("phone", "+13125550161", 2)  # NANP 555-01xx: fiction
    assert not guard.links("phone", "+61491570110", 2)  # ACMA fiction range
    assert not guard.links("email", "support@examplechat-test.com", 3)  # a platform's role address
    assert not guard.links("domain", "gmail.com", 2)
    assert guard.links("domain", "mygmail.com", 2)  # patterns match the whole value only
    assert guard.links("phone", "+639171234568", 5)
    v = guard.verdict("domain", "adboard-test.com", 31)
    assert not v.links and v.by == "degree" and "31" in (v.reason or "")
    assert guard.links("domain", "adboard-test.com", 30)
    assert guard.limit("btc") == 50  # no row for the kind, no pooled row: the default
    assert NO_GUARD.links("domain", "gmail.com", 10**6)


def test_pairwise_scores() -> None:
    truth = {1: "A", 2: "A", 3: "B", 4: "B", 5: None}
    assert pairwise({1: 1, 2: 1, 3: 3, 4: 3, 5: 5}, truth).precision == 1.0
    merged = pairwise({r: 1 for r in truth}, truth)  # everything in one network
    assert merged.recall == 1.0 and merged.precision == pytest.approx(2 / 10)
    split = pairwise({r: r for r in truth}, truth)
    assert split.recall == 0.0 and split.precision == 1.0
    assert largest_share({1: 1, 2: 1, 3: 3, 4: 4}) == 0.5


# ------------------------------------------------------------------------------------------ incremental


def test_merge_split_and_names(db: Database) -> None:
    a, b, c = new_report(db), new_report(db), new_report(db)
    assert analyse(db, a, [("phone", "+639175836201")]) == a
    assert analyse(db, b, [("telegram", "ring_b")]) == b
    # c links a and b: one network, named after its earliest report
    assert analyse(db, c, [("phone", "+639175836201"), ("telegram", "ring_b")]) == a
    reps, _ = snapshot(db)
    assert reps == {a: a, b: a, c: a}
    # re-analysis drops the handle: b splits off again (and is its own network)
    assert analyse(db, c, [("phone", "+639175836201")]) == a
    reps, ents = assert_matches_full_recompute(db)
    assert reps == {a: a, b: b, c: a}
    with db.reader() as s:
        handle = s.scalar(select(Entity.id).where(Entity.value == "ring_b"))
    assert ents[handle] == b
    # a report that names nothing is a network of one
    d = new_report(db)
    assert analyse(db, d, []) == d


def test_a_value_that_crosses_its_limit_stops_linking(db: Database) -> None:
    service.set_manual_limit(db, "domain", 3, "test")
    hub = ("domain", "classifieds.example")
    rings = [[("phone", f"+63917222{i:04d}")] for i in range(5)]
    ids = []
    for i in range(5):
        r1, r2 = new_report(db), new_report(db)
        analyse(db, r1, rings[i])
        analyse(db, r2, rings[i] + ([hub] if i < 4 else []))
        ids.append((r1, r2))
        reps, _ = assert_matches_full_recompute(db)
        n_networks = len(set(reps.values()))
        if i < 2:
            assert n_networks == 1  # degree <= 3: the hub links the rings it names
        if i >= 3:
            assert n_networks == i + 1  # degree 4 > 3: it links nothing, every ring stands alone
    details = service.entity_details(db, *hub)
    assert details.excluded and details.excluded_by == "degree" and details.network_id is None
    assert len(details.touches_networks) == 4
    # raising the limit relinks at once
    service.set_manual_limit(db, "domain", 10, "test")
    reps, _ = assert_matches_full_recompute(db)
    assert len(set(reps.values())) == 2


def test_the_analysis_guard_is_read_once_a_transaction_and_again_after_a_change(db: Database) -> None:
    """A batch reads the guard once; a limit refresh inside it, or the next transaction (a supervisor's
    change committed meanwhile), reads it again."""
    with db.session() as s:
        first = analysis_guard(s, db.settings)
        assert analysis_guard(s, db.settings) is first
        s.add(DegreeLimit(kind="domain", limit=3, source="manual", details={}, set_by="test"))
        s.flush()
        assert analysis_guard(s, db.settings).limit("domain") != 3  # still the batch's guard
        service.refresh_limits_in(s, db.settings)
        after = analysis_guard(s, db.settings)
        assert after is not first and after.limit("domain") == 3
    service.set_manual_limit(db, "domain", 7, "test")
    with db.session() as s:
        assert analysis_guard(s, db.settings).limit("domain") == 7


def test_a_guard_is_built_again_only_when_its_rows_changed(db: Database) -> None:
    """On PostgreSQL each report is a transaction: the guard built for the last one serves the next while the
    warning list and the limits are unchanged (their stamp, one short row), and any committed change to them,
    an entry added or removed or a limit set, gives a guard built anew."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite reads the guard once for a whole batch, one transaction")

    def fresh() -> Guard:
        with db.session() as s:
            return analysis_guard(s, db.settings)

    with db.reader() as s:  # the first guard comes from empty tables: the stamp of none, taken without a read
        assert s.scalar(select(func.count()).select_from(DegreeLimit)) == 0
    first = fresh()
    assert fresh() is first
    service.set_manual_limit(db, "domain", 7, "test")
    limited = fresh()
    assert limited is not first and limited.limit("domain") == 7 and fresh() is limited
    entry = service.add_exclusion(db, "phone", value="+15550000099", reason="a shared line", actor="test")
    listed = fresh()
    assert listed is not limited and not listed.links("phone", "+15550000099", 2)
    service.remove_exclusion(db, entry, "test")
    unlisted = fresh()
    assert unlisted is not listed and unlisted.links("phone", "+15550000099", 2)
    with db.session() as s:  # a change inside the transaction is seen by it, and not kept after a rollback
        service.refresh_limits_in(s, db.settings)
        s.add(DegreeLimit(kind="email", limit=2, source="manual", details={}, set_by="test"))
        s.flush()
        service.forget_analysis_guard(s)
        assert analysis_guard(s, db.settings).limit("email") == 2
        s.rollback()
    assert fresh().limit("email") != 2


def test_warning_list_changes_relink(db: Database) -> None:
    a, b = new_report(db), new_report(db)
    analyse(db, a, [("email", "ops@den.example"), ("phone", "+639176290418")])
    analyse(db, b, [("email", "ops@den.example")])
    assert len(set(snapshot(db)[0].values())) == 1
    xid = service.add_exclusion(db, "email", value="ops@den.example", reason="our own test inbox", actor="test")
    reps, _ = assert_matches_full_recompute(db)
    assert reps == {a: a, b: b}
    d = service.entity_details(db, "email", "ops@den.example")
    assert d.excluded and d.reason == "our own test inbox" and d.excluded_by == "test"
    assert d.report_count == 2 and len(d.mentions) == 2  # excluded values keep their mentions
    service.remove_exclusion(db, xid, "test")
    reps, _ = assert_matches_full_recompute(db)
    assert reps == {a: a, b: a}
    assert service.add_exclusion(db, "phone", pattern=r"\+63917333\d{4}", reason="a test range", actor="t") > 0
    assert [x for x in service.list_exclusions(db) if x["pattern"] == r"\+63917333\d{4}"][0]["added_by"] == "t"


@pytest.mark.parametrize("seed", [1, 2])
def test_random_histories_match_the_full_recompute(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    service.set_manual_limit(db, "phone", 6, "test")
    pool = [("phone", f"+63917444{i:04d}") for i in range(25)]
    pool += [("telegram", f"h{i}") for i in range(10)]
    pool += [("phone", "+13125550199")]  # fiction range: never links
    reports: list[int] = []
    for step in range(90):
        if reports and rng.random() < 0.3:
            rid = rng.choice(reports)  # re-analysis with a changed set of identifiers
        else:
            rid = new_report(db)
            reports.append(rid)
        analyse(db, rid, rng.sample(pool, rng.randint(0, 3)))
        if step == 45:
            service.add_exclusion(db, "telegram", value="h1", reason="test", actor="test")
        if step % 30 == 29:
            assert_matches_full_recompute(db)
    reps, _ = assert_matches_full_recompute(db)
    assert set(reps) == set(reports)
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(DegreeLimit)) > 0  # limits were derived on the way


def test_open_cases_of_a_report(db: Database) -> None:
    a, b = new_report(db), new_report(db)
    analyse(db, a, [("phone", "+639178142637"), ("email", "support@bigsite.example")])
    cid = cases.create_case(db, "test", title="den", report_ids={a})
    analyse(db, b, [("phone", "+639178142637")])
    with db.session() as s:
        guard = load_guard(s, db.settings)
        ids = set(s.scalars(select(Entity.id)))
        phone = s.scalar(select(Entity.id).where(Entity.kind == "phone"))
        role = s.scalar(select(Entity.id).where(Entity.kind == "email"))
        assert cases.open_cases_sharing(s, guard, b, ids) == {cid: [phone]}
        # a role address (warning list) never ties a report to a case
        assert cases.open_cases_sharing(s, guard, b, {role}) == {}
        assert cases.feed_in(s, b, {cid: [phone]}) == 1
        assert cases.feed_in(s, b, {cid: [phone]}) == 0  # once per case and report
    cases.update_case(db, cid, "test", status="closed")
    with db.session() as s:
        assert cases.open_cases_sharing(s, load_guard(s, db.settings), b, ids) == {}


def test_forgetting_a_deleted_report_splits_its_network(db: Database) -> None:
    a, b, c = new_report(db), new_report(db), new_report(db)
    analyse(db, a, [("phone", "+639175836201")])
    analyse(db, b, [("telegram", "ring_b")])
    analyse(db, c, [("phone", "+639175836201"), ("telegram", "ring_b")])
    assert len(set(snapshot(db)[0].values())) == 1
    with db.session() as s:  # what a retention job does: delete, refresh degrees, then tell the graph
        ids = set(s.scalars(select(Mention.entity_id).where(Mention.report_id == a)))
        s.execute(delete(Report).where(Report.id == a))
        s.flush()
        for e in s.scalars(select(Entity).where(Entity.id.in_(ids))):
            e.report_count = len(set(s.scalars(select(Mention.report_id).where(Mention.entity_id == e.id))))
        service.forget_in(s, db.settings, ids)
    reps, _ = assert_matches_full_recompute(db)
    assert reps == {b: b, c: b}


def test_timeline_keeps_the_time_axis() -> None:
    d = datetime(2025, 3, 1, 12, tzinfo=UTC)
    days = service.timeline_of([d, d, d.replace(day=4)])
    assert [x["reports"] for x in days] == [2, 0, 0, 1] and days[0]["day"] == "2025-03-01"
    months = service.timeline_of([d, d.replace(year=2026, month=5)])
    assert months[0] == {"day": "2025-03", "reports": 1} and len(months) == 15
    assert service.timeline_of([]) == []


def test_a_per_report_update_takes_the_graph_lock_shared_before_any_key(db):
    """The shared hold of the whole graph and the first keys go in one statement: while a full recompute holds
    the graph exclusively, that statement waits with no key locked (a key held then could block another
    update that the recompute's holder waits on, and the update would run beside the recompute). The same
    statement then locks the networks it sees."""
    if db.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    import threading

    from sqlalchemy import text

    a, b = new_report(db), new_report(db)
    analyse(db, a, [("phone", "+15550000001")])
    analyse(db, b, [("phone", "+15550000001")])
    holder = db.write_engine.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": net._GRAPH_LOCK})
    done = threading.Event()

    def update() -> None:
        with db.session() as s:
            eid = s.scalar(select(Entity.id).where(Entity.value == "+15550000001"))
            assert net.lock_touched(s, b, {eid, eid + 1}) == {a}
            assert s.info["graph_lock"] == "shared"
            done.set()

    t = threading.Thread(target=update)
    t.start()
    try:
        # this database's (pg_locks shows every database's, and other tests' servers may still be analysing)
        here = "locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        keys = text(f"SELECT count(*) FROM pg_locks WHERE {here} AND classid = :space AND granted")
        waiting = text(f"SELECT count(*) FROM pg_locks WHERE {here} AND NOT granted")
        with db.engine.connect() as look:
            for _ in range(200):
                if look.execute(waiting).scalar_one():
                    break
                threading.Event().wait(0.01)
            assert look.execute(waiting).scalar_one() == 1 and not done.is_set()
            assert look.execute(keys, {"space": net.ENTITY_LOCKS}).scalar_one() == 0
            assert look.execute(keys, {"space": net.NETWORK_LOCKS}).scalar_one() == 0
        holder.rollback()
        t.join(10)
        assert done.is_set()
    finally:
        holder.close()
        t.join(10)


def test_a_per_report_update_holds_the_keys_of_what_it_touches_until_it_ends(db: Database) -> None:
    """The first statement of a per-report update locks the touched entities and the networks they and the
    report are in, and returns those networks; another transaction that wants one of them waits."""
    if db.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    from sqlalchemy import text

    a, b, c = new_report(db), new_report(db), new_report(db)
    analyse(db, a, [("phone", "+15550000002")])
    analyse(db, b, [("phone", "+15550000002")])
    analyse(db, c, [("email", "c@example.org")])
    held = text(  # what one server process holds (pg_locks shows every database's)
        "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid IN (:e, :n) "
        "AND pid = :pid"
    )
    with db.session() as s:
        keys = {"e": net.ENTITY_LOCKS, "n": net.NETWORK_LOCKS, "pid": s.scalar(text("SELECT pg_backend_pid()"))}
        phone = s.scalar(select(Entity.id).where(Entity.value == "+15550000002"))
        assert net.lock_touched(s, c, {phone}) == {a, c}  # the entity's network and the report's own
        with db.engine.connect() as look:
            got = {tuple(r) for r in look.execute(held, keys)}
        assert got == {(net.ENTITY_LOCKS, phone), (net.NETWORK_LOCKS, a), (net.NETWORK_LOCKS, c)}
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '50ms'"))
            with pytest.raises(Exception, match="lock timeout"):
                other.execute(text("SELECT pg_advisory_xact_lock(:n, :k)"), {"n": net.NETWORK_LOCKS, "k": a})
    with db.engine.connect() as look:
        assert not look.execute(held, keys).all()
