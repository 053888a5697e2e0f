"""The errors every service raises and every front end translates (one module, no imports).

- :class:`NotFound`: the thing named (a report, a case, an agency...) does not exist, or the caller may not
  see it. The web answers 404, the CyberTipline door its "not found" code, the CLI an error line.
- :class:`Conflict`: the thing exists but is in a state that refuses the request (a finished CyberTipline
  submission, a duplicate name). The web answers 409.
- :func:`stopped_by_ctrl_c`: whether an error is Ctrl-C, even one a library's clean-up hid behind its own.
"""

from __future__ import annotations


class NotFound(LookupError):
    """The thing named does not exist (or is not the caller's to see)."""


class Conflict(ValueError):
    """The request does not fit the thing's current state."""


def stopped_by_ctrl_c(e: BaseException) -> bool:
    """Whether ``e`` is Ctrl-C or an error raised while Ctrl-C was being handled. A library's clean-up can
    hide the interrupt behind an error of its own: SQLAlchemy's ping of a PostgreSQL connection, interrupted
    mid-query, sets autocommit back on a connection still busy and raises psycopg's ProgrammingError, whose
    context is the KeyboardInterrupt. Both the cause and the context of every error in the chain are looked at."""
    todo, seen = [e], set()
    while todo:
        x = todo.pop()
        if isinstance(x, KeyboardInterrupt):
            return True
        if id(x) in seen:
            continue
        seen.add(id(x))
        todo.extend(c for c in (x.__cause__, x.__context__) if c is not None)
    return False


__all__ = ["Conflict", "NotFound", "stopped_by_ctrl_c"]
