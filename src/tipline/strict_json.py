"""JSON from outside, read strictly: an object that names a key twice is refused, not read last-wins.

RFC 8259 leaves a repeated name to the reader ("unpredictable"), and readers differ: one takes the
first value, Python and most others the last. A report whose ``report_id`` or ``category`` appears twice
could be checked by a proxy or a platform's own validator on one value and stored by tipline with the
other. Every door that reads a partner's JSON (the API's bodies, the JSON lines of a bulk import, ads,
hash lists and share files) reads it through :func:`loads`, which says which key and where.

The standard library's parser with an ``object_pairs_hook``: a check of each object's keys, a few
microseconds a report; no JSON library offers the refusal as an option.
"""

from __future__ import annotations

import json
import re
from typing import Any

ONCE = "send each key once"  # how every message of :class:`RepeatedKey` ends

# What :func:`loads` raises for a text it cannot read: not JSON (``json.JSONDecodeError``), a key twice
# (:class:`RepeatedKey`), bytes in no JSON encoding (``UnicodeDecodeError``), a number of more than 4,300
# digits (``ValueError``: Python's limit on reading an integer), nested too deep (``RecursionError``).
# Catch pydantic's ``ValidationError`` (a ``ValueError`` too) before these.
READ_ERRORS: tuple[type[Exception], ...] = (ValueError, RecursionError)


class RepeatedKey(json.JSONDecodeError):
    """A key named twice in one object: the text is JSON, the object is refused. Its message names the key;
    its position is a hint (the key's second appearance in the text, which may be in another object)."""


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return obj


def problem(e: BaseException, *, lines: bool = False) -> str:
    """What is wrong with a text that :func:`loads` refused (one of ``READ_ERRORS``), in words for whoever
    sent it. ``lines``: the text may hold several lines (say which one), not one line of a JSON-lines file."""
    if isinstance(e, RepeatedKey):
        return e.msg
    if isinstance(e, json.JSONDecodeError):
        where = f"line {e.lineno}, column {e.colno}" if lines else f"column {e.colno}"
        return f"not JSON ({e.msg} at {where})"
    if isinstance(e, RecursionError):
        return "not JSON that can be read: nested too deep (send fewer than 1,000 levels)"
    if isinstance(e, UnicodeDecodeError):
        return "not JSON text: the bytes are not UTF-8 (nor UTF-16 or UTF-32)"
    if isinstance(e, ValueError) and "digits" in str(e):
        return "a number has more than 4,300 digits: send it as a string"
    return f"not JSON ({e})"


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads`` that raises :class:`RepeatedKey` (a :class:`json.JSONDecodeError`) for a key repeated
    in one object too.

    The error's message names the key and its position points at its second appearance (at the start of
    the text where the key was written with escapes that the search below does not recognise)."""
    text = data if isinstance(data, str) else bytes(data).decode(json.detect_encoding(data), "surrogatepass")
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except _Repeated as e:
        shown = e.key if len(e.key) <= 80 else e.key[:80] + "..."
        written = re.compile(re.escape(json.dumps(e.key, ensure_ascii=False)) + r"\s*:")
        places = [m.start() for m in written.finditer(text)]
        pos = places[1] if len(places) > 1 else 0
        raise RepeatedKey(f"the key {shown!r} appears twice in one object: {ONCE}", text, pos) from None
