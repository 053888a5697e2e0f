"""``column IN (a list given at execution)`` with one statement text, whatever the list's length.

SQLAlchemy writes a list parameter (``bindparam(..., expanding=True)``) as one placeholder per item, so a
statement run with 3 ids and with 4 is two statements: SQLAlchemy renders the placeholders at every
execution, psycopg converts each new text again (and leaves out of its cache those with more than 50
parameters), and PostgreSQL parses and plans each anew, since no text recurs often enough for psycopg to
prepare it. On PostgreSQL :func:`in_list` is written ``column = ANY(:name)`` with the list as one array
parameter: one text, converted once, prepared by psycopg after a few executions and then planned once by
the server. Elsewhere (SQLite) it is the expanding ``IN``. SQLAlchemy has no such switch of its own; this is
a compilation rule (``sqlalchemy.ext.compiler``), written for the statements analysis runs for every
report (bench/RESULTS.md, "One statement text for a list").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, all_, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class _InList(ColumnElement[bool]):
    inherit_cache = True
    type = Boolean()
    # a condition in itself: without this SQLAlchemy writes `(... IN (...)) = 1` on SQLite (no native
    # boolean), which no index serves
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
        ("negate", InternalTraversal.dp_boolean),
    ]

    def __init__(self, column: ColumnElement[Any], name: str, negate: bool) -> None:
        self.column = column
        self.name = name
        self.negate = negate


def in_list(column: Any, name: str) -> ColumnElement[bool]:
    """``column`` is one of the list given as parameter ``name`` at execution (an empty list: none)."""
    return _InList(column, name, negate=False)


def not_in_list(column: Any, name: str) -> ColumnElement[bool]:
    """``column`` is none of the list given as parameter ``name`` at execution (an empty list: any)."""
    return _InList(column, name, negate=True)


@compiles(_InList)
def _expanding(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    items = bindparam(element.name, expanding=True, type_=element.column.type)
    clause = element.column.not_in(items) if element.negate else element.column.in_(items)
    return compiler.process(clause, **kw)


@compiles(_InList, "postgresql")
def _array(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    items = bindparam(element.name, type_=ARRAY(element.column.type))
    clause = element.column != all_(items) if element.negate else element.column == any_(items)
    return compiler.process(clause, **kw)
