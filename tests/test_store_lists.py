"""``in_list`` / ``not_in_list``: a list parameter, on the real databases, with one statement text on
PostgreSQL whatever the list's length."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select

from tipline.store import Database
from tipline.store.lists import in_list, not_in_list
from tipline.store.models import Entity, utcnow

NAMED = select(Entity.value).where(in_list(Entity.id, "ids"), in_list(Entity.kind, "kinds")).order_by(Entity.value)
OTHERS = select(Entity.value).where(not_in_list(Entity.id, "ids")).order_by(Entity.value)


def _entities(db: Database) -> dict[str, int]:
    now = utcnow()
    rows = [
        {"kind": kind, "value": value, "first_seen": now, "last_seen": now, "report_count": 0, "evidence_count": 0}
        for kind, value in [("phone", "+1"), ("phone", "+2"), ("email", "a@b.example"), ("url", "https://x.example/")]
    ]
    with db.session() as s:
        s.execute(insert(Entity), rows)
    with db.reader() as s:
        return {v: i for i, v in s.execute(select(Entity.id, Entity.value))}


def test_a_list_parameter_selects_what_it_names_and_what_it_does_not(db: Database) -> None:
    ids = _entities(db)
    with db.reader() as s:

        def named(which: list[str], kinds: list[str]) -> list[str]:
            return list(s.scalars(NAMED, {"ids": [ids[v] for v in which], "kinds": kinds}))

        def others(which: list[str]) -> list[str]:
            return list(s.scalars(OTHERS, {"ids": [ids[v] for v in which]}))

        assert named(["+1"], ["phone"]) == ["+1"]
        assert named(["+1", "+2", "a@b.example"], ["phone", "email"]) == ["+1", "+2", "a@b.example"]
        assert named(["+1", "a@b.example"], ["email"]) == ["a@b.example"]
        assert named([], ["phone"]) == []  # an empty list names nothing
        assert others(["+1", "a@b.example"]) == ["+2", "https://x.example/"]
        assert others([]) == sorted(ids)  # ... and excludes nothing


def test_postgresql_runs_one_statement_text_whatever_the_length(db: Database) -> None:
    ids = sorted(_entities(db).values())
    texts: set[str] = set()

    def seen(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if "FROM entities" in statement:
            texts.add(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.reader() as s:
            for n in range(1, len(ids) + 1):
                assert len(s.scalars(NAMED, {"ids": ids[:n], "kinds": ["phone", "email", "url"]}).all()) == n
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    # SQLite: an expanding IN, one text a length; PostgreSQL: `= ANY(array)`, one text
    assert len(texts) == (1 if db.dialect == "postgresql" else len(ids))
    if db.dialect == "postgresql":
        assert "= ANY (" in texts.pop()


def test_sqlite_reads_a_list_through_the_index(sqlite_db: Database) -> None:
    """Written as a condition of its own (SQLAlchemy writes `(x IN (...)) = 1` for a boolean expression it
    does not know, which SQLite reads by scanning the whole table)."""
    ids = sorted(_entities(sqlite_db).values())
    ran: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        ran.append((statement, parameters))

    query = select(Entity.value).where(in_list(Entity.id, "ids"), not_in_list(Entity.id, "skip"))
    event.listen(sqlite_db.engine, "before_cursor_execute", seen)
    try:
        with sqlite_db.reader() as s:
            assert len(s.scalars(query, {"ids": ids[:3], "skip": ids[:1]}).all()) == 2
            statement, parameters = ran[-1]
            plan = " ".join(
                str(row[-1]) for row in s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", seen)
    assert "SEARCH entities USING INTEGER PRIMARY KEY" in plan, plan
