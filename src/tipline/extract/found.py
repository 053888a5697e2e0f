"""What the extractor finds: one identifier in a text, with its span, normal form and confidence.

Kept out of :mod:`tipline.extract.text` so that the text plumbing can be compiled (see
:mod:`tipline.extract.native`) while ``Found`` stays a plain frozen dataclass: compiled, a dataclass
becomes a native class that :func:`new_found`'s shortcut (filling the instance dict) cannot build.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Found:
    kind: str  # one of KINDS
    value: str  # the ONE normalised form of this kind
    start: int  # span in the input text: text[start:end] == raw
    end: int
    confidence: float  # 0..1
    raw: str  # text[start:end]
    # how it was written when not plainly: comma-separated labels of :data:`DISGUISES` ("words,letters")
    disguise: str = ""
    # other readings of an ambiguous value, best first: ((value, confidence), ...); ``value`` is the
    # best reading and ``confidence`` its own
    alternatives: tuple[tuple[str, float], ...] = ()


def new_found(
    kind: str,
    value: str,
    start: int,
    end: int,
    confidence: float,
    raw: str,
    disguise: str,
    alternatives: tuple[tuple[str, float], ...],
) -> Found:
    """``Found(kind, value, start, end, confidence, raw, disguise, alternatives)``, the same object (same
    fields in the same order, equal, same repr and hash). Speed only: the frozen dataclass's ``__init__``
    sets each field with ``object.__setattr__``; this fills the instance dict directly, 5-7x faster, and
    the extractor builds one or two per text."""
    f = _object_new(Found)
    d = f.__dict__
    d["kind"] = kind
    d["value"] = value
    d["start"] = start
    d["end"] = end
    d["confidence"] = confidence
    d["raw"] = raw
    d["disguise"] = disguise
    d["alternatives"] = alternatives
    return f


_object_new = object.__new__
