"""The errors every service raises and every front end translates (one module, no imports).

- :class:`NotFound`: the thing named (a report, a case, an agency...) does not exist, or the caller may not
  see it. The web answers 404, the CyberTipline door its "not found" code, the CLI an error line.
- :class:`Conflict`: the thing exists but is in a state that refuses the request (a finished CyberTipline
  submission, a duplicate name). The web answers 409.
"""

from __future__ import annotations


class NotFound(LookupError):
    """The thing named does not exist (or is not the caller's to see)."""


class Conflict(ValueError):
    """The request does not fit the thing's current state."""


__all__ = ["Conflict", "NotFound"]
