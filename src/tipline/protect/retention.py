"""Retention: delete what has expired, as the hotline's rules (data) say, and record what was done.

Deleting a report walks every table that references ``reports.id`` (any capability's), so a new table
with a report foreign key is covered without changing this module. Stored media files of deleted
attachments are removed from disk. SQLite runs with ``secure_delete=ON`` (``store/db.py``): freed pages
are overwritten with zeros.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, CursorResult, Result, Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from tipline.accounts.service import record
from tipline.capability import Capability
from tipline.intake.service import refresh_entity_stats
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Attachment, Base, Entity, Mention, Report, StaffSession
from tipline.store.search import remove_report

DEFAULT_RULES = Path(__file__).with_name("retention.toml")


class RetentionError(ValueError):
    pass


@dataclass
class ReportRule:
    category: str = "*"
    status: str = "*"
    submission: str = "complete"
    days: int = 365

    def matches(self, r: Report) -> bool:
        return (
            self.category in ("*", r.category)
            and self.status in ("*", r.status)
            and self.submission in ("*", r.submission_state)
        )


@dataclass
class Rules:
    reports: list[ReportRule]
    receipt_days: int | None
    session_days: int


def load_rules(path: Path | None = None) -> Rules:
    p = path or DEFAULT_RULES
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RetentionError(f"cannot read the retention rules {p}: {e}") from e
    rules = []
    for i, raw in enumerate(data.get("report", []), start=1):
        try:
            rule = ReportRule(**raw)
        except TypeError as e:
            raise RetentionError(f"{p}: report rule #{i}: {e}") from e
        if not isinstance(rule.days, int) or rule.days < 0:
            raise RetentionError(f"{p}: report rule #{i}: days must be a whole number ≥ 0")
        rules.append(rule)
    return Rules(rules, data.get("receipts", {}).get("days"), int(data.get("sessions", {}).get("days", 30)))


def days_of(settings: Settings, section: str, key: str, default: int) -> int:
    """``[section] key`` (a number of days) of the retention rules in force (``TIPLINE_RETENTION_FILE``,
    else ``<data dir>/retention.toml``, else the packaged file): how capabilities read their own rules."""
    candidates = [settings.retention_file, settings.data_dir / "retention.toml", DEFAULT_RULES]
    for p in candidates:
        if p and Path(p).is_file():
            try:
                data = tomllib.loads(Path(p).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise RetentionError(f"cannot read the retention rules {p}: {e}") from e
            days = data.get(section, {}).get(key, default)
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise RetentionError(f"{p}: [{section}] {key} must be a whole number of days >= 0")
            return days
    return default


def rules_path(db: Database) -> Path | None:
    st = db.settings
    if st.retention_file is not None:
        return st.retention_file
    local = st.data_dir / "retention.toml"
    return local if local.exists() else None


@dataclass
class RetentionResult:
    dry_run: bool
    reports: list[int] = field(default_factory=list)
    by_rule: dict[str, int] = field(default_factory=dict)
    receipts_expired: int = 0
    media_files: int = 0
    entities: int = 0
    sessions: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "reports": len(self.reports),
            "by_rule": self.by_rule,
            "receipts_expired": self.receipts_expired,
            "media_files": self.media_files,
            "entities": self.entities,
            "sessions": self.sessions,
            "rows": self.rows,
        }


def _report_children() -> list[tuple[Table, Column[Any]]]:
    """(table, column) pairs that reference reports.id, children before parents (every capability's tables
    are in the metadata: ``run`` asks the database for its capabilities, whose models are imported)."""
    out: list[tuple[Table, Column[Any]]] = []
    for table in reversed(Base.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table.name == "reports" and fk.column.name == "id" and table.name != "reports":
                out.append((table, fk.parent))
    return out


def _expired_reports(s: Session, rules: Rules, now: datetime, res: RetentionResult) -> None:
    """The reports whose first matching rule says they are kept no longer (counted per rule)."""
    for r in s.scalars(select(Report)):
        for i, rule in enumerate(rules.reports, start=1):
            if rule.matches(r):
                if r.updated_at <= now - timedelta(days=rule.days):
                    res.reports.append(r.id)
                    key = f"#{i} {rule.submission}/{rule.status}/{rule.category} {rule.days}d"
                    res.by_rule[key] = res.by_rule.get(key, 0) + 1
                break


def _expire_receipts(s: Session, cutoff: datetime, res: RetentionResult, dry_run: bool) -> None:
    """Receipts older than the cutoff stop opening their report's follow-up."""
    q = select(func.count()).select_from(Report).where(Report.receipt_lookup.isnot(None), Report.received_at <= cutoff)
    res.receipts_expired = s.scalar(q) or 0
    if not dry_run:
        s.execute(
            update(Report)
            .where(Report.receipt_lookup.isnot(None), Report.received_at <= cutoff)
            .values(receipt_lookup=None)
        )


def _stale_sessions(s: Session, now: datetime, days: int, res: RetentionResult, dry_run: bool) -> None:
    """Ended staff sessions (revoked, or idle for a day) older than ``days``."""
    q = or_(StaffSession.revoked.is_(True), StaffSession.last_seen_at <= now - timedelta(days=1))
    stale = select(StaffSession.id).where(q, StaffSession.last_seen_at <= now - timedelta(days=days))
    res.sessions = len(list(s.scalars(stale)))
    if not dry_run:
        s.execute(delete(StaffSession).where(StaffSession.id.in_(stale)))


def run(
    db: Database, *, now: datetime | None = None, dry_run: bool = False, actor: str = "retention"
) -> RetentionResult:
    capabilities = db.require_capabilities()  # their models are mapped: every table that names a report
    rules = load_rules(rules_path(db))
    now = now or datetime.now(UTC)
    res = RetentionResult(dry_run)
    with db.session() as s:
        _expired_reports(s, rules, now, res)
        if rules.receipt_days is not None:
            _expire_receipts(s, now - timedelta(days=rules.receipt_days), res, dry_run)
        ids = res.reports
        stored = select(Attachment.stored_path).where(Attachment.report_id.in_(ids), Attachment.stored_path.isnot(None))
        paths = [p for p in s.scalars(stored) if p is not None] if ids else []
        res.media_files = len(paths)
        touched = set(s.scalars(select(Mention.entity_id).where(Mention.report_id.in_(ids)))) if ids else set()
        if ids and not dry_run:
            for table, col in _report_children():
                n = _rowcount(s.execute(delete(table).where(col.in_(ids))))
                res.rows[table.name] = res.rows.get(table.name, 0) + n
            for rid in ids:
                remove_report(s, rid)
            res.rows["reports"] = _rowcount(s.execute(delete(Report).where(Report.id.in_(ids))))
        if touched:
            orphans = touched - _named(s, capabilities, touched, besides=ids if dry_run else [])
            if orphans and not dry_run:
                orphans = _delete_entities(s, capabilities, orphans)
            res.entities = len(orphans)
            if not dry_run and touched - orphans:
                # the identifiers the deleted reports shared with kept ones: fresh counts (the graph's
                # retention step below relinks their networks)
                refresh_entity_stats(s, touched - orphans, now)
        if not dry_run:
            # every run, not only when reports went: capabilities keep data with retention rules of their
            # own (old ads, old faces and gallery entries); an empty set tells the graph nothing to relink
            shared = touched - orphans if touched else set()
            for cap in capabilities:
                for step in cap.retention:
                    step(s, db.settings, shared)
        _unnamed_entities(s, capabilities, now, res, dry_run)
        _stale_sessions(s, now, rules.session_days, res, dry_run)
        if not dry_run:
            if res.reports or res.receipts_expired or res.sessions or res.entities:
                record(s, actor, "retention.run", None, None, **res.summary())
    if not dry_run:
        media_root = (db.settings.data_dir).resolve()
        for p in paths:
            f = (media_root / p).resolve()
            if media_root in f.parents and f.exists():
                f.unlink()
    return res


UNNAMED_GRACE = timedelta(days=1)  # an identifier an analysis in flight has just written has no mention yet


def _unnamed_entities(
    s: Session, capabilities: tuple[Capability, ...], now: datetime, res: RetentionResult, dry_run: bool
) -> None:
    """Identifiers that nothing names any more, last named over ``UNNAMED_GRACE`` ago: the new identifiers of
    a report whose analysis failed (they are committed apart, before its mentions), and those of evidence
    items a capability's retention step deleted (old ads). Kept, they would be personal data (phones, e-mail
    addresses) with no report behind them."""
    q = select(Entity.id).where(
        Entity.last_seen <= now - UNNAMED_GRACE, ~select(Mention.id).where(Mention.entity_id == Entity.id).exists()
    )
    for table in _mention_tables(capabilities):
        q = q.where(~select(table.c.entity_id).where(table.c.entity_id == Entity.id).exists())
    ids = set(s.scalars(q))
    if ids and not dry_run:
        ids = _delete_entities(s, capabilities, ids)
    res.entities += len(ids)


def _rowcount(result: Result[Any]) -> int:
    """Rows a DELETE removed (a DML statement's result is a cursor result; 0 when the driver cannot say)."""
    return (result.rowcount or 0) if isinstance(result, CursorResult) else 0


def _mention_tables(capabilities: tuple[Capability, ...]) -> list[Table]:
    """The tables besides reports' mentions where records name entities (``Capability.entity_mentions``)."""
    return [t for cap in capabilities for t in cap.entity_mentions]


def _named(s: Session, capabilities: tuple[Capability, ...], ids: set[int], *, besides: list[int]) -> set[int]:
    """Of the entities ``ids``, those that a report (other than ``besides``) or another record still names
    (reports' mentions, and every capability's ``entity_mentions``: evidence items)."""
    q = select(Mention.entity_id).where(Mention.entity_id.in_(ids))
    named = set(s.scalars((q.where(Mention.report_id.notin_(besides)) if besides else q).distinct()))
    for table in _mention_tables(capabilities):
        named |= set(s.scalars(select(table.c.entity_id).where(table.c.entity_id.in_(ids)).distinct()))
    return named


def _delete_entities(s: Session, capabilities: tuple[Capability, ...], entity_ids: set[int]) -> set[int]:
    """Delete the entities ``entity_ids`` that nothing names, with the rows that reference them; returns those
    deleted. On PostgreSQL each is locked first and checked again under its lock, skipping any an analysis
    holds: an analysis that names one meanwhile would otherwise have its new mention deleted by the cascade,
    and one that names it later fails on its foreign key and is retried (SQLite has one writer: no race)."""
    locked = select(Entity.id).where(Entity.id.in_(entity_ids)).with_for_update(skip_locked=True)
    ids = set(s.scalars(locked))
    ids -= _named(s, capabilities, ids, besides=[])
    if not ids:
        return ids
    for table in reversed(Base.metadata.sorted_tables):
        for fk in table.foreign_keys:
            if fk.column.table.name == "entities" and table.name != "entities":
                s.execute(delete(table).where(fk.parent.in_(ids)))
    s.execute(delete(Entity).where(Entity.id.in_(ids)))
    return ids
