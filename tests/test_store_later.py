"""Rows held until a step's last write (``tipline.store.later``): an analysis's derived rows go with its score's
statement (on PostgreSQL in its WITH, as arrays), with the column defaults an INSERT of them alone gets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, func, select

from tipline.routing.models import JurisdictionCandidate
from tipline.store import Database, later
from tipline.store.models import Report
from tipline.store.search import index_report, search_reports

_CANDIDATES = cast(Table, JurisdictionCandidate.__table__)


def _report(db: Database) -> int:
    with db.session() as s:
        r = Report(source="public", category="other", text="", analysed_at=datetime.now(UTC))
        s.add(r)
        s.flush()
        return r.id


def _candidates(db: Database, report_id: int) -> list[tuple[str, float, int, object, bool]]:
    with db.reader() as s:
        q = select(_CANDIDATES.c.country, _CANDIDATES.c.weight, _CANDIDATES.c.rank, _CANDIDATES.c.evidence)
        q = q.add_columns(_CANDIDATES.c.computed_at.is_not(None)).where(_CANDIDATES.c.report_id == report_id)
        return [tuple(r) for r in s.execute(q.order_by(_CANDIDATES.c.rank))]  # type: ignore[misc]


def test_rows_held_go_with_the_last_write(db: Database) -> None:
    rid = _report(db)
    rows = [
        {"report_id": rid, "country": "IE", "weight": 0.5, "rank": 1, "evidence": [{"kind": "stated", "value": "IE"}]},
        {"report_id": rid, "country": "PH", "weight": 0.25, "rank": 2, "evidence": []},
    ]
    with db.session() as s, later.held(s):
        later.insert_later(s, _CANDIDATES, rows)
        assert s.scalar(select(func.count()).select_from(_CANDIDATES)) == 0  # held, not written
        inserts, params = later.take_held(s)
        if db.dialect == "postgresql":
            assert len(inserts) == 1 and params[f"{_CANDIDATES.name}__country"] == ["IE", "PH"]
        else:
            assert inserts == () and params == {}  # inserted by take_held, one executemany
        index_report(s, rid, "held words", along=inserts, params=params)
        assert later.take_held(s) == ((), {})  # taken once
    assert _candidates(db, rid) == [
        ("IE", 0.5, 1, [{"kind": "stated", "value": "IE"}], True),
        ("PH", 0.25, 2, [], True),  # computed_at: the column's default, applied in the WITH too
    ]
    with db.reader() as s:
        assert search_reports(s, "held") == [rid]


def test_rows_are_written_at_once_outside_a_step_and_dropped_with_a_failed_one(db: Database) -> None:
    rid = _report(db)
    row = {"report_id": rid, "country": "IE", "weight": 0.5, "rank": 1}
    with db.session() as s:
        later.insert_later(s, _CANDIDATES, [row])
        assert s.scalar(select(func.count()).select_from(_CANDIDATES)) == 1
    with pytest.raises(RuntimeError), db.session() as s, later.held(s):
        later.insert_later(s, _CANDIDATES, [dict(row, rank=2)])
        raise RuntimeError("the step failed")
    with db.session() as s:
        later.insert_later(s, _CANDIDATES, [dict(row, rank=3)])  # no step open: written at once
    assert [r[2] for r in _candidates(db, rid)] == [1, 3]
    with db.session() as s, later.held(s), pytest.raises(ValueError, match="differ in their columns"):
        later.insert_later(s, _CANDIDATES, [row, {"report_id": rid, "country": "PH", "weight": 0.1, "rank": 4, "x": 1}])
        later.take_held(s)
