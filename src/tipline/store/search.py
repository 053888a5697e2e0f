"""Full-text search over reports: SQLite FTS5 or PostgreSQL text search, same calls, blind index.

The index never holds report text in clear: each word (case- and accent-folded) is replaced by a keyed
hash under the search-index key (``tipline.crypto.Keyring.blind``), and queries are hashed the
same way. Exact words and whole identifiers (``+639171234567``, ``name@example.com``) are found; prefix
and fuzzy search are not possible. The index is filled by the service layer, not by triggers.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Integer, Text, bindparam, column, table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase

from tipline.crypto import keyring_for

# a whole identifier-like token, and its word parts
_TOKEN = re.compile(r"[\w@.+:/#-]+", re.UNICODE)
_PART = re.compile(r"\w+", re.UNICODE)


def _words(body: str) -> set[str]:
    out: set[str] = set()
    for tok in _TOKEN.findall(body):
        tok = tok.strip(".:/-#")
        if tok:
            out.add(tok)
            out.update(_PART.findall(tok))
    return out


# FTS5 takes REPLACE on its rowid (an earlier analysis's words go): one statement, not a DELETE first
_INDEX_SQLITE = text("INSERT OR REPLACE INTO report_search(rowid, body) VALUES (:search_rowid, :search_body)")
# PostgreSQL: an upsert, alone or with a write of the same transaction in its WITH (``index_report(along=)``);
# its parameters' names are no table's columns (an UPDATE in the WITH would take them as values to SET)
_SEARCH = table("report_search", column("rowid", Integer), column("body", Text))
_INDEX_POSTGRES = pg_insert(_SEARCH).values(rowid=bindparam("search_rowid"), body=bindparam("search_body"))
_INDEX_POSTGRES = _INDEX_POSTGRES.on_conflict_do_update(
    index_elements=["rowid"], set_={"body": _INDEX_POSTGRES.excluded.body}
)
_WITH: dict[tuple[UpdateBase, ...], Executable] = {}  # along -> the combined statement, built once each


def index_report(
    s: Session,
    report_id: int,
    body: str,
    *,
    along: UpdateBase | tuple[UpdateBase, ...] = (),
    params: dict[str, Any] | None = None,
) -> None:
    """Index the report's words (blinded), replacing what it had. ``along``: writes of the same transaction
    (UPDATEs, INSERTs or DELETEs built once, run with ``params``, where ``search_rowid`` and ``search_body``
    are this function's), run first: on PostgreSQL in the same statement (DML in a ``WITH``, none of which
    sees another's rows), one round trip instead of several."""
    dialect = s.get_bind().dialect
    ring = keyring_for(dialect)
    blinded = " ".join(sorted({ring.blind(w) for w in _words(body)}))
    values = {"search_rowid": report_id, "search_body": blinded}
    writes = along if isinstance(along, tuple) else (along,)
    if dialect.name != "postgresql":
        for write in writes:
            s.execute(write, params or {})
        s.execute(_INDEX_SQLITE, values)
        return
    index: Executable = _INDEX_POSTGRES
    if writes:
        combined = _WITH.get(writes)
        if combined is None:
            ctes = (w.cte("along" if not n else f"along_{n}") for n, w in enumerate(writes))
            combined = _WITH[writes] = _INDEX_POSTGRES.add_cte(*ctes)
        index = combined
    s.execute(index, {**(params or {}), **values})


def remove_report(s: Session, report_id: int) -> None:
    s.execute(text("DELETE FROM report_search WHERE rowid = :id"), {"id": report_id})


def search_reports(s: Session, query: str, *, limit: int = 200) -> list[int]:
    """Report ids that contain every word of ``query`` (whole words or whole identifiers)."""
    ring = keyring_for(s.get_bind().dialect)
    words = [w.strip(".:/-#") for w in _TOKEN.findall(query)][:20]
    hashes = [ring.blind(w) for w in words if w]
    if not hashes:
        return []
    if s.get_bind().dialect.name == "sqlite":
        rows = s.execute(
            text("SELECT rowid FROM report_search WHERE report_search MATCH :m ORDER BY rank LIMIT :n"),
            {"m": " ".join(hashes), "n": limit},
        )
    else:
        rows = s.execute(
            text(
                "SELECT rowid FROM report_search WHERE tsv @@ to_tsquery('simple', :q) "
                "ORDER BY ts_rank(tsv, to_tsquery('simple', :q)) DESC LIMIT :n"
            ),
            {"q": " & ".join(hashes), "n": limit},
        )
    return [r[0] for r in rows]
