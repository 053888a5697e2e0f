"""``INSERT ... ON CONFLICT`` on either database: SQLAlchemy offers it per dialect only, with the same
methods (``on_conflict_do_nothing``, ``on_conflict_do_update``, ``excluded``) on both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite


def insert_for(dialect: str) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The INSERT construct of ``dialect`` (a dialect's name: ``postgresql``, else SQLite's)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
