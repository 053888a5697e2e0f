"""The extractor contract: a small ABC, the production implementation, and naive references.

An :class:`Extractor` finds the identifiers of some kinds in a text. Every implementation keeps the same
contract, checked for each by the conformance test (``tests/test_extract_conformance.py``):

* ``text[f.start:f.end] == f.raw`` for every result, results sorted by start;
* ``f.kind`` is one of the extractor's ``kinds`` (all in :data:`tipline.extract.KINDS`);
* ``f.value`` is the one normal form: ``normalise(f.kind, f.value) == f.value``;
* ``0 <= f.confidence <= 1``.

:class:`Pipeline` is what tipline runs (:func:`tipline.extract.extract`, restricted to some kinds).
:class:`Naive` is the reference: one plain regular expression per kind, for the plainly written forms
only, with the same normaliser. The conformance test requires the production extractor to find, on plain
text, everything the reference finds (the anchor is python-threatexchange's trivial index beside its
real ones: the simple implementation says what the clever one must at least do).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from .text import KINDS, Found


@dataclass(frozen=True)
class Context:
    """What a report says about its text: stated country, language, regions known around it."""

    country: str | None = None
    language: str | None = None
    hints: tuple[str, ...] = ()


class Extractor(ABC):
    """Finds identifiers of :attr:`kinds` in a text."""

    kinds: ClassVar[tuple[str, ...]] = KINDS

    @abstractmethod
    def find(self, text: str, ctx: Context = Context()) -> list[Found]:  # noqa: B008 - frozen, shared
        """Every identifier of :attr:`kinds` in ``text``, sorted by start."""


class Pipeline(Extractor):
    """The production extractor (:func:`tipline.extract.extract`), optionally restricted to some kinds.

    The pipeline runs every kind together on purpose: a more specific kind masks what it takes, so an
    IBAN's digits are never also a phone. Restricting the kinds filters the results; it does not skip
    the other extractors."""

    def __init__(self, kinds: tuple[str, ...] = KINDS) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}; expected some of {KINDS}")
        self.kinds = tuple(kinds)  # type: ignore[misc]

    def find(self, text: str, ctx: Context = Context()) -> list[Found]:  # noqa: B008
        from . import extract

        wanted = set(self.kinds)
        found = extract(text, country=ctx.country, language=ctx.language, hints=ctx.hints)
        return [f for f in found if f.kind in wanted]


# Hand-written on purpose: the reference must be obviously right, so it is one readable pattern per kind
# and knows no disguise at all.
_NAIVE_PATTERNS: dict[str, str] = {
    "email": r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])",
    "url": r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]",
    "ipv4": r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])",
    "phone": r"(?<![\w+])\+\d{1,3}(?:[ -]?\d{2,4}){2,5}(?![\w])",
    "eth": r"(?<!\w)0x[0-9a-fA-F]{40}(?!\w)",
    "telegram": r"(?<![\w./])t\.me/[A-Za-z][A-Za-z0-9_]{4,31}(?![\w/])",
    "iban": r"(?<![A-Z0-9])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Z0-9])",
}


class Naive(Extractor):
    """The reference: plain forms only, one regular expression per kind, values through ``normalise``."""

    kinds: ClassVar[tuple[str, ...]] = tuple(_NAIVE_PATTERNS)

    def __init__(self) -> None:
        self._res = {k: re.compile(p) for k, p in _NAIVE_PATTERNS.items()}

    def find(self, text: str, ctx: Context = Context()) -> list[Found]:  # noqa: B008
        from . import normalise

        out: list[Found] = []
        for kind, rx in self._res.items():
            for m in rx.finditer(text):
                value = normalise(kind, m.group(), country=ctx.country)
                if value is not None:
                    out.append(Found(kind, value, m.start(), m.end(), 0.5, m.group()))
        return sorted(out, key=lambda f: (f.start, f.end, f.kind))
