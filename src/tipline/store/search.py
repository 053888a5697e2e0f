"""Full-text search over reports: SQLite FTS5 or PostgreSQL text search, same calls.

The index is filled by the service layer (not by triggers) so that text sealed at rest can be indexed
from its clear form; the index tables are staff-only like the reports themselves.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

_WORD = re.compile(r"[\w@.+:/-]+", re.UNICODE)


def index_report(s: Session, report_id: int, body: str) -> None:
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("DELETE FROM report_search WHERE rowid = :id"), {"id": report_id})
        s.execute(text("INSERT INTO report_search(rowid, body) VALUES (:id, :body)"), {"id": report_id, "body": body})
    else:
        s.execute(
            text(
                "INSERT INTO report_search(rowid, body) VALUES (:id, :body) "
                "ON CONFLICT (rowid) DO UPDATE SET body = EXCLUDED.body"
            ),
            {"id": report_id, "body": body},
        )


def remove_report(s: Session, report_id: int) -> None:
    s.execute(text("DELETE FROM report_search WHERE rowid = :id"), {"id": report_id})


def search_reports(s: Session, query: str, *, limit: int = 200) -> list[int]:
    """Report ids whose text, URLs or identifiers contain every word of ``query`` (best match first)."""
    words = _WORD.findall(query)[:20]
    if not words:
        return []
    if s.get_bind().dialect.name == "sqlite":
        # quote each word: user input never reaches FTS5's query syntax
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = s.execute(
            text("SELECT rowid FROM report_search WHERE report_search MATCH :m ORDER BY rank LIMIT :n"),
            {"m": match, "n": limit},
        )
    else:
        rows = s.execute(
            text(
                "SELECT rowid FROM report_search WHERE tsv @@ plainto_tsquery('simple', :q) "
                "ORDER BY ts_rank(tsv, plainto_tsquery('simple', :q)) DESC LIMIT :n"
            ),
            {"q": " ".join(words), "n": limit},
        )
    return [r[0] for r in rows]
