"""Row ids are never reused (migration 0018): a sealed value is bound to its row id and audit events name
rows by id, so a new row must never take the id of a deleted one. Real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, func, select, text

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, PublicReportIn
from tipline.store.db import MIGRATIONS_DIR
from tipline.store.models import Mention, Platform, Report, User


def _report(db, text_: str) -> int:  # type: ignore[no-untyped-def]
    return intake.submit_report(
        db, PublicReportIn(category=Category.OTHER, text=text_, language="en").to_report()
    ).report_id


def test_a_deleted_newest_row_leaves_its_id_unused(db):  # type: ignore[no-untyped-def]
    """Deleting the newest report, user and platform: the next ones get new ids, and the new report's
    sealed text opens (it is bound to its own, new id)."""
    first = _report(db, "synthetic report one, call +63 917 123 4567")
    newest = _report(db, "synthetic report two")
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    accounts.create_user(db, "bea", "analyst", PASSWORD)
    accounts.create_platform(db, "FirstChat")
    accounts.create_platform(db, "SecondChat")
    with db.session() as s:
        old_user = s.scalar(select(func.max(User.id)))
        old_platform = s.scalar(select(func.max(Platform.id)))
        s.execute(delete(Report).where(Report.id == newest))
        s.execute(delete(User).where(User.id == old_user))
        s.execute(delete(Platform).where(Platform.id == old_platform))
    again = _report(db, "synthetic report three")
    accounts.create_user(db, "cid", "analyst", PASSWORD)
    accounts.create_platform(db, "ThirdChat")
    with db.reader() as s:
        assert again > newest > first
        assert s.scalar(select(func.max(User.id))) > old_user
        assert s.scalar(select(func.max(Platform.id))) > old_platform
        assert s.scalar(select(Report.text).where(Report.id == again)) == "synthetic report three"


def _autoincrement_tables(db) -> set[str]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        rows = s.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
    return {name for name, sql in rows if "AUTOINCREMENT" in (sql or "")}


def test_migration_up_and_down_keeps_every_row(db):  # type: ignore[no-untyped-def]
    """Down to 0017 and up again with data in the tables: rows (with the rows that refer to them: a rebuilt
    table is dropped and copied, which must not cascade) and ids stay; on SQLite the tables lose and regain
    AUTOINCREMENT. On PostgreSQL the migration changes nothing."""
    rid = _report(db, "synthetic report, call +63 917 123 4567 or mail someone@example.org")
    accounts.create_user(db, "ana", "analyst", PASSWORD)

    def snapshot() -> tuple[int, int, int, str | None]:
        with db.reader() as s:
            return (
                s.scalar(select(func.count()).select_from(Report)) or 0,
                s.scalar(select(func.count()).select_from(Mention)) or 0,
                s.scalar(select(func.count()).select_from(User)) or 0,
                s.scalar(select(Report.text).where(Report.id == rid)),
            )

    before = snapshot()
    assert before[1] >= 2 and before[3] is not None
    sqlite = db.write_engine.dialect.name == "sqlite"
    if sqlite:
        assert {"reports", "mentions", "users", "audit_events", "entities"} <= _autoincrement_tables(db)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = db.write_engine
    command.downgrade(cfg, "0017")
    assert snapshot() == before
    if sqlite:
        assert _autoincrement_tables(db) == {"hash_banks", "bank_entries"}
        with db.reader() as s:  # foreign keys are on again after the migration
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
    command.upgrade(cfg, "head")
    assert snapshot() == before
    if sqlite:
        assert {"reports", "mentions", "users", "audit_events", "entities"} <= _autoincrement_tables(db)


def test_every_table_with_an_integer_id_keeps_autoincrement_at_head(db):  # type: ignore[no-untyped-def]
    """A later migration that alters a table in batch mode rebuilds it on SQLite: it must keep
    AUTOINCREMENT (0019 once lost it on reports). Every table with an integer ``id`` key has it."""
    if db.write_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL takes ids from sequences that never go back")
    with db.reader() as s:
        rows = s.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
        virtual = tuple(f"{n}_" for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL"))
        with_ids = {
            t
            for t, _sql in rows
            if not t.startswith(("sqlite_", "alembic_", *virtual))  # full-text search's own tables
            and any(
                row[1] == "id" and row[5] and row[2].upper() == "INTEGER"
                for row in s.execute(text(f'PRAGMA table_info("{t}")'))
            )
        }
    assert with_ids, "no table with an integer id found"
    assert with_ids - _autoincrement_tables(db) == set()
