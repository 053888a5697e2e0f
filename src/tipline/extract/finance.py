"""IBANs (ISO 13616, checksum verified with schwifty) and Western Union MTCNs (cued only)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from schwifty import IBAN, registry
from schwifty.exceptions import SchwiftyException

from .text import Collector

# Two letters, two check digits, then 11-30 alphanumerics that may be grouped by single spaces or
# hyphens ("IT60 X054 2811 ..."). The run is cut to the country's IBAN length afterwards.
IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,32}", re.IGNORECASE)
# IBAN_RE started at its check digits, the country letters looked for behind them: the engine tries the
# pattern only at digits, not at every letter (speed; see _iban_spans).
_IBAN_FROM_DIGITS_RE = re.compile(r"\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d)\d(?:[ \-]?[A-Za-z0-9]){11,32}", re.IGNORECASE)

MTCN_CUE_RE = re.compile(
    r"\b(?:mtcn|m\.t\.c\.n\.?|control\s*(?:no\.?|num(?:ber)?\.?|#|code)|money\s+transfer\s+control(?:\s+number)?"
    r"|western\s*union|numero\s+di\s+controllo|codice\s+(?:di\s+controllo|mtcn)|(?-i:WU))(?![A-Za-z])",
    re.IGNORECASE,
)
# 10 digits: 1234567890, 123-456-7890, 123 456 7890, 12345 67890
MTCN_RE = re.compile(r"(?<![\d+])(\d{3}[ \-.]?\d{3}[ \-.]?\d{4}|\d{5}[ \-.]\d{5})(?![\d])")


_STRONG = ("mtcn", "m.t", "control", "money", "numero", "codice")
_PHONE_CUE_RE = re.compile(r"\b(?:call|phone|tel|cell|mobile|number|numero|text|sms|whatsapp|viber)\b", re.IGNORECASE)


def _iban_length(cc: str) -> int | None:
    try:
        return registry.get_iban_spec(cc.upper()).iban_length
    except SchwiftyException:
        return None
    except Exception:  # pragma: no cover - registry errors of other types
        return None


def normalise_iban(raw: str) -> str | None:
    compact = re.sub(r"[\s\-]", "", raw).upper()
    if compact.startswith("IBAN"):
        compact = compact[4:].lstrip(":")
    try:
        return IBAN(compact).compact
    except (SchwiftyException, ValueError):
        return None


def _iban_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of ``IBAN_RE.finditer(text)``, found with :data:`_IBAN_FROM_DIGITS_RE`: a match of it at
    d is one of IBAN_RE at d - 2 (the same end), and the leftmost one at d >= pos + 2 is IBAN_RE's
    leftmost at or after pos."""
    pos = 0
    while (m := _IBAN_FROM_DIGITS_RE.search(text, pos + 2)) is not None:
        yield m.start() - 2, m.end()
        pos = m.end()


def extract_ibans(col: Collector) -> None:
    text = col.text
    for m_start, m_end in _iban_spans(text):
        s = text[m_start:m_end]
        length = _iban_length(s[:2])
        if length is None:
            continue
        # take exactly `length` alphanumerics from the run
        n = 0
        end = m_start
        for i, c in enumerate(s):
            if c.isalnum():
                n += 1
                if n == length:
                    end = m_start + i + 1
                    break
        else:
            continue
        if end < m_end and text[end].isalnum():
            continue  # the run goes on without a separator: not an IBAN boundary
        start = m_start
        value = normalise_iban(text[start:end])
        if value is None or not col.free(start, end):
            continue
        conf = 0.99 if text[start:end][:2].isupper() else 0.9
        col.add("iban", value, start, end, conf)


def normalise_mtcn(raw: str) -> str | None:
    digits = re.sub(r"[\s\-.]", "", raw.strip())
    if digits.lower().startswith("mtcn"):
        digits = digits[4:].lstrip(":#")
    return digits if len(digits) == 10 and digits.isdigit() else None


def extract_mtcns(col: Collector) -> None:
    text = col.text
    found_cues = list(MTCN_CUE_RE.finditer(text))
    strong_of = {id(c): c.group().lower().startswith(_STRONG) for c in found_cues}
    # strong cues (MTCN, control number) first, so "Western Union MTCN 123..." gets the strong score
    for cue in sorted(found_cues, key=lambda c: not strong_of[id(c)]):
        strong = strong_of[id(cue)]
        # the number follows the cue (within 60 chars) or, less often, precedes it (within 25)
        lo, hi = cue.end(), min(len(text), cue.end() + 60)
        cands = list(MTCN_RE.finditer(text, lo, hi))
        if not cands:
            cands = [m for m in MTCN_RE.finditer(text, max(0, cue.start() - 25), cue.start())][-1:]
        for m in cands[:1]:
            start, end = m.span(1)
            if not strong and _PHONE_CUE_RE.search(text, min(cue.end(), start), max(cue.end(), start)):
                continue  # "Western Union ... call me 415-555-0123": a phone, not an MTCN
            if not col.free(start, end):
                continue
            digits = re.sub(r"\D", "", m.group(1))
            col.add("mtcn", digits, start, end, 0.92 if strong else 0.8)
