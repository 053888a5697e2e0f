"""Phone numbers: ``phonenumbers.PhoneNumberMatcher`` (Leniency.VALID) for cleanly written numbers and
our own token scanner for disguised ones (spelled-out digits in en/it/tl, letter-for-digit swaps,
spaced-out or oddly separated digits, several numbers run together).

Phases, each masking what it takes:

1. scanner over digit runs that contain a disguise (a number word, a swapped letter, an odd
   separator) — before the matcher, so the matcher cannot take half of "0917 123 456 seven";
2. ``PhoneNumberMatcher`` for the stated country, then for the fallback regions (best number type
   wins when several fallback regions accept the same digits);
3. scanner over what is left (e.g. "0917 123 4567 0918 765 4321", which the matcher rejects as one
   over-long number).

Region policy: ``country`` is the stated region. Fallback regions come from ``language``
(:data:`LANGUAGE_REGIONS`); with neither, :data:`DEFAULT_FALLBACK`. A number that validates only in a
fallback region and was not written internationally (``+``/``00``) gets confidence <= 0.5.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher, PhoneNumberType

from .text import Collector

LANGUAGE_REGIONS: dict[str, tuple[str, ...]] = {
    "it": ("IT",),
    "tl": ("PH",),
    "fil": ("PH",),
    "ceb": ("PH",),
    "en": ("US", "GB", "PH"),
    "es": ("ES", "MX"),
    "pt": ("BR", "PT"),
    "fr": ("FR",),
    "de": ("DE",),
    "nl": ("NL",),
    "ro": ("RO",),
    "ru": ("RU",),
    "uk": ("UA",),
    "th": ("TH",),
    "vi": ("VN",),
    "id": ("ID",),
    "ms": ("MY",),
}
DEFAULT_FALLBACK: tuple[str, ...] = ("US", "GB", "PH", "IT")

# --------------------------------------------------------------------------- number words

_EN_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_IT_WORDS = {
    "zero": "0",
    "uno": "1",
    "due": "2",
    "tre": "3",
    "quattro": "4",
    "cinque": "5",
    "sei": "6",
    "sette": "7",
    "otto": "8",
    "nove": "9",
}
# Tagalog numerals plus the Spanish-derived ones Filipinos commonly use for phone numbers.
_TL_WORDS = {
    "sero": "0",
    "zero": "0",
    "isa": "1",
    "dalawa": "2",
    "tatlo": "3",
    "apat": "4",
    "lima": "5",
    "anim": "6",
    "pito": "7",
    "walo": "8",
    "siyam": "9",
    "syam": "9",
    "uno": "1",
    "dos": "2",
    "tres": "3",
    "kwatro": "4",
    "kuwatro": "4",
    "kuatro": "4",
    "singko": "5",
    "sinko": "5",
    "sais": "6",
    "seis": "6",
    "siyete": "7",
    "syete": "7",
    "otso": "8",
    "nuwebe": "9",
    "nuebe": "9",
}
_MULT_WORDS = {"double": 2, "triple": 3, "doppio": 2, "triplo": 3}
_PLUS_WORDS = {"plus", "più", "piu"}
_WORDS_BY_LANG = {"en": _EN_WORDS, "it": {**_EN_WORDS, **_IT_WORDS}, "tl": {**_EN_WORDS, **_TL_WORDS}}
_WORDS_BY_LANG["fil"] = _WORDS_BY_LANG["tl"]
_ALL_WORDS = {**_EN_WORDS, **_IT_WORDS, **_TL_WORDS}


def _word_alternation(words: set[str]) -> tuple[str, str]:
    """(regex alternation grouped by first letter, the first letters). Grouping makes the engine try
    one branch per position instead of every word: the tokenizer is ~2x faster."""
    by_first: dict[str, list[str]] = {}
    for w in words:
        by_first.setdefault(w[0], []).append(w[1:])
    alt = "|".join(
        f"{first}(?:{'|'.join(sorted(rests, key=len, reverse=True))})" for first, rests in sorted(by_first.items())
    )
    firsts = "".join(sorted(by_first))
    return alt, firsts + firsts.upper()


_ALL_WORD_ALT, _WORD_FIRSTS = _word_alternation(set(_ALL_WORDS) | set(_MULT_WORDS) | _PLUS_WORDS)
# One token: a digit group (may start with '+', may contain letter-for-digit swaps), a number word,
# or a single swap letter. Tokens never touch another letter or digit.
_TOKEN_RE = re.compile(
    rf"(?=[\d+OolI{_WORD_FIRSTS}])(?<![^\W_])"
    rf"(?:(?P<num>\+?[\dOolISB]*\d[\dOolISB]*)|(?P<word>(?i:{_ALL_WORD_ALT}))|(?P<weak>[OolI]))(?![^\W_])"
)
_SWAP = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "S": "5", "B": "8"})
_GAP_OK = frozenset(" \t\u00a0.-\u2010\u2011\u2012\u2013\u2014()/_*\u00b7~|")
_ODD_GAP = frozenset("/_*\u00b7~|")

_DATE_RE = re.compile(
    r"\d{1,2}\s?[/.\-]\s?\d{1,2}\s?[/.\-]\s?\d{2,4}|\d{4}\s?[/.\-]\s?\d{1,2}\s?[/.\-]\s?\d{1,2}"
    r"|\d{4}\s\d{2}\s\d{2}|\d{1,2}[:.]\d{2}(?:[:.]\d{2})?"
    r"|(?:19|20)\d\d\s?[/.\-]\s?(?:0?[1-9]|1[0-2])\s?[/.\-]\s?\d+"  # 2026/11/0042: year/month/serial
)
_CURRENCY_BEFORE_RE = re.compile(
    r"(?:[$€£¥₱₹]|\b(?:usd|eur|php|gbp|aud|cad|jpy|inr|btc|eth|rs|p)\.?)\s*$", re.IGNORECASE
)
_UNIT_AFTER_RE = re.compile(
    r"^\s*(?:[$€£¥₱%]|(?:usd|eur|php|gbp|pesos?|piso|dollars?|euros?|euro|bucks|k|kg|km|mb|gb|"
    r"years?|yrs?|y/?o|anni|taon|taong|btc|eth|xmr|usdt|trx)\b)",
    re.IGNORECASE,
)
# Words that name a non-phone number right before it ("order #48213377", "reference is 2026/11/0042").
# Not "account" (a GCash account *is* a phone number) and not "no."/"#" alone ("Contact no.", "CP#").
_NEG_CUE_RE = re.compile(
    r"\b(?:order|ordine|orden|invoice|fattura|ref(?:erence)?|riferimento|tracking|ticket|case|id|acct|"
    r"transaction|txn|receipt|ricevuta|resibo|codice|code|pin|otp|serial|isbn|passport|passaporto|"
    r"license|licence|patente|pratica|protocollo|iban|mtcn|swift|bic)"
    r"(?:\s*(?:no\.?|n\.|nr\.?|number|numero|num\.?|#|is|è|:|\.))*\s*$",
    re.IGNORECASE,
)
_TYPE_RANK = {
    PhoneNumberType.MOBILE: 0,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: 1,
    PhoneNumberType.FIXED_LINE: 2,
    PhoneNumberType.VOIP: 3,
}

_MAX_PARSES_PER_RUN = 400
_MAX_TOKENS_PER_CANDIDATE = 24


def regions_for(country: str | None, language: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(stated regions, fallback regions) for a report."""
    supported = phonenumbers.SUPPORTED_REGIONS
    primary: tuple[str, ...] = ()
    if country and country.upper() in supported:
        primary = (country.upper(),)
    lang = (language or "").lower().replace("_", "-").split("-")[0]
    if lang:
        fallback = LANGUAGE_REGIONS.get(lang, ())
    elif primary:
        fallback = ()
    else:
        fallback = DEFAULT_FALLBACK
    return primary, tuple(r for r in fallback if r not in primary)


def _words_for(language: str | None) -> dict[str, str]:
    lang = (language or "").lower().split("-")[0]
    if not lang:
        return _ALL_WORDS
    return _WORDS_BY_LANG.get(lang, _EN_WORDS)


@lru_cache(maxsize=32768)
def _parse(digits: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        n = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    return n if phonenumbers.is_valid_number(n) else None


def e164(n: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def _type_rank(n: phonenumbers.PhoneNumber) -> int:
    return _TYPE_RANK.get(phonenumbers.number_type(n), 4)


# --------------------------------------------------------------------------- context filters


_GROUP_RE = re.compile(r"\d+")


def _bad_context(text: str, start: int, end: int, groups: list[int] | None = None) -> bool:
    """Currency/unit around the number, an order/reference cue right before it, or an ID-style
    grouping (a lone check digit at the end: "34-1234567-8"). ``groups``: digit-group lengths."""
    if groups is None:
        groups = [len(g) for g in _GROUP_RE.findall(text, start, end)]
    if len(groups) > 1 and groups[-1] == 1 and sum(g == 1 for g in groups) * 2 < len(groups):
        return True  # ...but "+63 9 1 7 1 2 3 ..." (spelled out digit by digit) is fine
    before = text[max(0, start - 24) : start]
    if _CURRENCY_BEFORE_RE.search(before):
        return True
    if _UNIT_AFTER_RE.match(text, end, min(len(text), end + 12)):
        return True
    return _NEG_CUE_RE.search(before) is not None


# --------------------------------------------------------------------------- token scanner


class _Tok:
    __slots__ = ("start", "end", "digits", "kind", "plus", "mult")

    def __init__(self, start: int, end: int, digits: str, kind: str, plus: bool = False, mult: int = 0):
        self.start, self.end, self.digits, self.kind, self.plus, self.mult = start, end, digits, kind, plus, mult


def _tokens(text: str, words: dict[str, str]) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        s = m.group()
        if kind == "num":
            plus = s.startswith("+")
            body = s[1:] if plus else s
            if body.isdigit():
                digits = body if body.isascii() else "".join(str(int(c)) for c in body)
                out.append(_Tok(m.start(), m.end(), digits, "num", plus))
                continue
            # letter swaps (O o -> 0, l I -> 1); S -> 5 and B -> 8 only between digits
            if body[0] in "SB" or body[-1] in "SB":
                continue
            digits = "".join(str(int(c)) if c.isdigit() else c for c in body).translate(_SWAP)
            out.append(_Tok(m.start(), m.end(), digits, "swap", plus))
        elif kind == "word":
            w = s.lower()
            if w in _MULT_WORDS:
                out.append(_Tok(m.start(), m.end(), "", "mult", mult=_MULT_WORDS[w]))
            elif w in _PLUS_WORDS:
                out.append(_Tok(m.start(), m.end(), "", "plusword", plus=True))
            elif w in words:
                out.append(_Tok(m.start(), m.end(), words[w], "word"))
        else:
            out.append(_Tok(m.start(), m.end(), s.translate(_SWAP), "weak"))
    return out


def _gap_ok(gap: str, prev: _Tok, nxt: _Tok) -> bool:
    if len(gap) > 3:
        return False
    if all(c in _GAP_OK for c in gap):
        return True
    # "nine one seven, one two three": a comma between spelled-out groups
    return gap.strip() == "," and (prev.kind == "word" or nxt.kind == "word")


def _runs(text: str, toks: list[_Tok]) -> list[list[_Tok]]:
    """Group tokens into runs joined by short separator gaps; apply multipliers; drop weak letters
    that do not sit among single-digit tokens or words."""
    runs: list[list[_Tok]] = []
    cur: list[_Tok] = []
    for t in toks:
        if cur and not _gap_ok(text[cur[-1].end : t.start], cur[-1], t):
            runs.append(cur)
            cur = []
        if t.kind == "plusword" and cur:
            runs.append(cur)
            cur = []
        cur.append(t)
    if cur:
        runs.append(cur)
    # multipliers: "double five" -> "55"; a dangling multiplier splits the run
    expanded: list[list[_Tok]] = []
    for run in runs:
        fixed: list[_Tok] = []
        i = 0
        while i < len(run):
            t = run[i]
            if t.kind == "mult":
                if i + 1 < len(run) and len(run[i + 1].digits) == 1:
                    nxt = run[i + 1]
                    fixed.append(_Tok(t.start, nxt.end, nxt.digits * t.mult, "word"))
                    i += 2
                    continue
                expanded.append(fixed)
                fixed = []
                i += 1
                continue
            fixed.append(t)
            i += 1
        expanded.append(fixed)
    # weak single letters need a single-digit or word neighbour ("0 9 1 o 1 2 ..."); others split
    out: list[list[_Tok]] = []
    for fixed in expanded:
        piece: list[_Tok] = []
        for k, t in enumerate(fixed):
            if t.kind == "weak":
                prev_ok = k > 0 and (len(fixed[k - 1].digits) == 1 or fixed[k - 1].kind == "word")
                next_ok = k + 1 < len(fixed) and (len(fixed[k + 1].digits) == 1 or fixed[k + 1].kind == "word")
                if not (prev_ok or next_ok):
                    out.append(piece)
                    piece = []
                    continue
            piece.append(t)
        out.append(piece)
    return [r for r in out if sum(len(t.digits) for t in r) >= 7]


class _Scanner:
    """Segments token runs into valid numbers.

    ``scan_disguised`` (phase 1) emits the segments that carry a disguise. ``scan_clean`` (phase 3)
    reads runs of plain digit groups the matcher left: it emits their segments only when they tile the
    whole run with valid numbers — several numbers written back to back ("0917 123 4567 0918 765
    4321") — or, for a single number valid only in a fallback region (which the matcher never tried),
    when ``PhoneNumberMatcher`` in that region accepts it in context. "250 300 450 500 750" or
    "TIN 123-456-789-000" do not tile, so they stay prose.
    """

    def __init__(self, col: Collector, primary: tuple[str, ...], fallback: tuple[str, ...], words: dict[str, str]):
        self.col = col
        self.primary = primary
        self.fallback = fallback
        self.runs = _runs(col.text, _tokens(col.text, words))

    def _odd(self, run: list[_Tok], i: int, j: int) -> bool:
        text = self.col.text
        return any(c in _ODD_GAP for k in range(i, j) for c in text[run[k].end : run[k + 1].start])

    def _disguised(self, run: list[_Tok], i: int, j: int) -> bool:
        """Number words, swapped letters, odd separators, or digit-by-digit spacing."""
        if any(run[k].kind != "num" for k in range(i, j + 1)) or self._odd(run, i, j):
            return True
        return sum(len(run[k].digits) == 1 for k in range(i, j + 1)) >= 5

    def _segment(self, run: list[_Tok]) -> tuple[list[tuple[int, int, str, phonenumbers.PhoneNumber]], bool]:
        """Greedy left-to-right segmentation: at each token the longest valid number, regions tried
        in order international -> stated -> fallback (best number type among fallbacks). Returns the
        segments (i, j, tier, number) and whether they cover every token of the run."""
        n = len(run)
        budget = _MAX_PARSES_PER_RUN
        prefix = [0]
        for t in run:
            prefix.append(prefix[-1] + len(t.digits))
        segs: list[tuple[int, int, str, phonenumbers.PhoneNumber]] = []
        covered = 0
        i = 0
        while i < n and budget > 0:
            t0 = run[i]
            if t0.kind == "weak" and i + 1 < n and run[i + 1].kind == "num" and len(run[i + 1].digits) > 1:
                i += 1
                continue
            found = None
            hi = min(n - 1, i + _MAX_TOKENS_PER_CANDIDATE)
            for tier in ("intl", "primary", "fallback"):
                for j in range(hi, i - 1, -1):
                    nd = prefix[j + 1] - prefix[i]
                    if nd < 7:
                        break
                    digits = "".join(run[k].digits for k in range(i, j + 1))
                    if t0.plus or digits.startswith("00"):
                        if tier != "intl":
                            continue
                        d = digits[2:] if digits.startswith("00") and not t0.plus else digits
                        if not 8 <= len(d) <= 15:
                            continue
                        budget -= 1
                        num = _parse("+" + d, None)
                        hits = [num] if num else []
                    else:
                        if tier == "intl" or nd > 15:
                            continue
                        hits = []
                        for r in self.primary if tier == "primary" else self.fallback:
                            budget -= 1
                            num = _parse(digits, r)
                            if num is not None:
                                hits.append(num)
                        if len(hits) > 1:
                            hits.sort(key=_type_rank)
                    if hits:
                        found = (i, j, tier, hits[0])
                        break
                    if budget <= 0:
                        break
                if found or budget <= 0:
                    break
            if not found:
                i += 1
                continue
            segs.append(found)
            covered += found[1] - found[0] + 1
            i = found[1] + 1
        return segs, covered == n

    def _emit(self, run: list[_Tok], seg, disguised: bool) -> None:
        i, j, tier, num = seg
        col = self.col
        start, end = run[i].start, run[j].end
        if not col.free(start, end) or _DATE_RE.fullmatch(col.text[start:end]):
            return
        if _bad_context(col.text, start, end, [len(run[k].digits) for k in range(i, j + 1)]):
            return
        if tier == "intl":
            conf = 0.85 if disguised else 0.9
        elif tier == "primary":
            conf = 0.8 if disguised else 0.85
        else:
            conf = 0.4 if disguised else 0.45
        col.add("phone", e164(num), start, end, conf)

    def scan_disguised(self) -> None:
        for run in self.runs:
            if not self._disguised(run, 0, len(run) - 1):
                continue
            segs, _ = self._segment(run)
            for seg in segs:
                if self._disguised(run, seg[0], seg[1]):
                    self._emit(run, seg, True)

    def scan_clean(self) -> None:
        col = self.col
        for run in self.runs:
            # the stretches of the run that nothing has taken yet
            free: list[list[_Tok]] = [[]]
            for t in run:
                if col.free(t.start, t.end):
                    free[-1].append(t)
                elif free[-1]:
                    free.append([])
            for sub in free:
                if not sub or any(t.kind != "num" for t in sub):
                    continue
                segs, tiled = self._segment(sub)
                if not segs or not tiled:
                    continue
                if len(segs) > 1:
                    for seg in segs:
                        self._emit(sub, seg, False)
                elif segs[0][2] == "fallback" and self._matcher_agrees(sub, segs[0]):
                    self._emit(sub, segs[0], False)
                elif segs[0][2] == "intl":
                    # "+57 . 301 . 6860097", or "00 63 917 ..." when no region is stated (the matcher's
                    # "ZZ" knows no IDD): written internationally, so the + / 00 is the evidence
                    self._emit(sub, segs[0], False)

    def _matcher_agrees(self, run: list[_Tok], seg) -> bool:
        i, j, _tier, num = seg
        start, end = run[i].start, run[j].end
        region = phonenumbers.region_code_for_number(num)
        if region not in self.fallback:
            return False
        a, b = max(0, start - _WINDOW_MARGIN), min(len(self.col.text), end + _WINDOW_MARGIN)
        window = self.col.masked_text_range(a, b)
        for m in PhoneNumberMatcher(window, region, leniency=Leniency.VALID, max_tries=50):
            if a + m.start <= start and a + m.end >= end:
                return True
        return False


# --------------------------------------------------------------------------- matcher passes


# Where the matcher can possibly find something: >= 6 digits with short separators between them.
_DIGIT_CLUSTER_RE = re.compile(r"\d(?:[ \t\u00a0.\-/()]{0,3}\d){5,}")
_WINDOW_MARGIN = 16
_LONG_GROUP_RE = re.compile(r"\d{16}")


def _windows(masked: str) -> list[tuple[int, int]]:
    """Merged windows around digit clusters; the matcher only reads these (it is the slow part)."""
    out: list[tuple[int, int]] = []
    for m in _DIGIT_CLUSTER_RE.finditer(masked):
        cluster = m.group()
        if _DATE_RE.fullmatch(cluster) or _LONG_GROUP_RE.search(cluster):
            continue  # a bare date/time, or a 16+ digit tracking/card number: nothing to find
        a, b = max(0, m.start() - _WINDOW_MARGIN), min(len(masked), m.end() + _WINDOW_MARGIN)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _matcher_pass(col: Collector, regions: tuple[str, ...], stated: bool) -> None:
    if not regions:
        return
    text = col.text
    masked = col.masked_text()
    windows = _windows(masked)
    cands = []
    for idx, region in enumerate(regions):
        for a, b in windows:
            for m in PhoneNumberMatcher(masked[a:b], region, leniency=Leniency.VALID, max_tries=500):
                rank = 0 if stated else _type_rank(m.number)
                cands.append((a + m.start, rank, idx, a + m.end, m.raw_string, m.number))
    cands.sort(key=lambda c: (c[0], c[1], c[2]))
    for start, _rank, _idx, end, raw, num in cands:
        if not col.free(start, end) or _bad_context(text, start, end):
            continue
        intl = raw.lstrip("(").startswith(("+", "00"))
        if raw.lstrip("(").startswith("00"):
            # "00" + country code is how people write international numbers everywhere, even where
            # the local IDD is longer (Colombia's 005/007/009 would read "0057..." as +7...)
            generic = _parse("+" + "".join(c for c in raw if c.isdigit())[2:], None)
            if generic is not None:
                num = generic
        conf = 0.95 if intl else (0.9 if stated else 0.5)
        col.add("phone", e164(num), start, end, conf)


def extract_phones(col: Collector, country: str | None, language: str | None) -> None:
    primary, fallback = regions_for(country, language)
    scanner = _Scanner(col, primary, fallback, _words_for(language))
    scanner.scan_disguised()
    if any(c.isdigit() for c in col.text):
        # The matcher reads the stated region only (with none, "ZZ" still finds every number written
        # with + / 00). Fallback regions are tried by the scanner, which parses each candidate once per
        # region instead of re-running the matcher over the text (3x cheaper with en's 3 regions).
        _matcher_pass(col, primary or ("ZZ",), stated=bool(primary))
    scanner.scan_clean()


def normalise_phone(raw: str, country: str | None) -> str | None:
    s = raw.strip()
    for prefix in ("tel:", "callto:", "sms:"):
        if s.lower().startswith(prefix):
            s = s[len(prefix) :]
    toks = _tokens(s, _ALL_WORDS)
    if not toks:
        return None
    rest = list(s)
    for t in toks:
        rest[t.start : t.end] = [" "] * (t.end - t.start)
    if any(c not in _GAP_OK and c != "+" for c in rest):
        return None  # something other than digits, number words and separators
    digits = "".join(t.digits for t in toks)
    plus = toks[0].plus or s.lstrip("( ").startswith("+")
    if plus:
        num = _parse("+" + digits, None)
    elif digits.startswith("00"):
        num = _parse("+" + digits[2:], None)
    elif country and country.upper() in phonenumbers.SUPPORTED_REGIONS:
        num = _parse(digits, country.upper())
    else:
        num = None
    return e164(num) if num else None
