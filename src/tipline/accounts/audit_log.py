"""The audit log as the staff pages list it.

Part of ``tipline.accounts``: callers import it through ``tipline.accounts.service``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from tipline.store import Database
from tipline.store.models import AuditEvent

# ------------------------------------------------------------------------------------------ audit log view


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]


def audit_events(db: Database, *, offset: int = 0, limit: int = 50, action: str | None = None) -> tuple[
    list[AuditRow], int
]:  # fmt: skip
    """Audit events, newest first (``action``: an exact action or a prefix ending in '.', e.g. 'login.')."""
    with db.reader() as s:
        q = select(AuditEvent)
        if action:
            q = q.where(AuditEvent.action.startswith(action, autoescape=True) if action.endswith(".") else (
                AuditEvent.action == action))  # fmt: skip
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(AuditEvent.seq.desc()).offset(offset).limit(limit))
        return [
            AuditRow(e.seq, e.at, e.actor, e.action, e.target_type, e.target_id, dict(e.details or {})) for e in rows
        ], total


def audit_actions(db: Database) -> list[str]:
    with db.reader() as s:
        return sorted(s.scalars(select(AuditEvent.action).distinct()))
