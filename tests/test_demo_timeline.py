"""The demo world spread over months: received times reach ~6 months back, more recent reports still open,
older ones mostly closed, the same timeline for the same seed; loaded so by ``load_demo`` (SQLite and
PostgreSQL), with the queue's overdue marks only on young open reports."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta

from rich.console import Console
from sqlalchemy import select

from tipline.demo import load_demo
from tipline.reports import shift
from tipline.store import Database
from tipline.store.models import Report
from tipline.synth import generate_world
from tipline.synth.timeline import SPAN_DAYS, demo_timeline

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OPEN = {"new", "in_review"}


def test_the_timeline_spans_months_recent_open_old_closed_and_is_the_same_for_a_seed() -> None:
    world = generate_world(seed=1, n_reports=400)
    tl = demo_timeline(world, NOW)
    assert tl == demo_timeline(generate_world(seed=1, n_reports=400), NOW)
    assert tl != demo_timeline(generate_world(seed=2, n_reports=400), NOW)
    ages = [(NOW - t.received_at) / timedelta(days=1) for t in tl]
    assert 0 < min(ages) < 1 and 150 < max(ages) <= SPAN_DAYS + 1
    months = Counter(int(a // 30) for a in ages)
    assert set(months) == {0, 1, 2, 3, 4, 5} and months[0] > months[5]  # more of them lately, none older
    assert all(a.received_at <= b.received_at for a, b in zip(tl, tl[1:], strict=False))  # world order kept
    assert all(t.incident_at <= t.received_at <= NOW for t in tl)
    recent = [t for t, a in zip(tl, ages, strict=True) if a < 21]
    old = [t for t, a in zip(tl, ages, strict=True) if a > 90]
    share_open = [sum(t.status in OPEN for t in group) / len(group) for group in (recent, old)]
    print(f"\nopen: {share_open[0]:.2f} of the last 3 weeks, {share_open[1]:.2f} of those over 90 days old")
    assert share_open[0] > 0.5 and share_open[1] < 0.2
    assert all(t.first_action_at is not None for t in tl if t.status != "new")
    assert all(t.status in OPEN for t in tl if t.first_action_at is None)
    closed = Counter(t.status for t in tl if t.status not in OPEN)
    assert set(closed) == {"referred", "no_action", "duplicate"}


def test_load_demo_places_reports_over_months_and_only_young_ones_are_overdue(db: Database) -> None:
    load_demo(db, seed=3, n_reports=60, console=Console(file=io.StringIO()), ads=False, now=NOW)
    with db.reader() as s:
        rows = list(s.scalars(select(Report).order_by(Report.id)))
    assert len(rows) == 60
    expected = demo_timeline(generate_world(seed=3, n_reports=60), NOW)
    got = [(r.received_at.replace(tzinfo=UTC), r.status) for r in rows]
    assert got == [(t.received_at, t.status) for t in expected]
    received = [r.received_at.replace(tzinfo=UTC) for r in rows]
    assert (NOW - min(received)).days >= 150
    goal = shift.targets(db.settings)
    overdue = [r for r in rows if shift.is_overdue(r, goal, NOW)]
    assert all(r.status == "new" and (NOW - r.received_at.replace(tzinfo=UTC)).days < 30 for r in overdue)
