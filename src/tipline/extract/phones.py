"""Phone numbers, cleanly written or disguised: spelled-out digits (English, Italian, Tagalog, Spanish,
mixed in one number), letter-for-digit swaps, spaced-out or oddly separated digits, groups split across
lines or with a few words between them, several numbers run together. Digits of other scripts, keycaps
and look-alike characters are undone before (:class:`tipline.extract.text.Decoded`).

One tokenizer pass over the text finds every candidate (digit groups, number words, swapped letters);
``phonenumbers.parse`` is called only on candidate spans, in the regions the evidence names
(:func:`region_evidence`): the stated country, country words in the text, hints from the report, the
language, other numbers written internationally. A national-form number valid in several candidate
regions gets every reading, best first, with a confidence each (``Found.alternatives``). A number
valid only in a region with weak evidence (the language alone, or the defaults) gets <= 0.5.

Never a digit dropped: a decoded run is read whole or not at all.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

from .fastphone import valid_e164
from .text import Collector, letter_words, lower_of

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
_ES_WORDS = {
    "cero": "0",
    "uno": "1",
    "dos": "2",
    "tres": "3",
    "cuatro": "4",
    "cinco": "5",
    "seis": "6",
    "siete": "7",
    "ocho": "8",
    "nueve": "9",
}
_MULT_WORDS = {"double": 2, "triple": 3, "doppio": 2, "triplo": 3, "doble": 2}
_PLUS_WORDS = {"plus", "più", "piu"}
# Number words of every language are read in every text: people mix them ("nine one siyam ..."), and
# a run needs seven digits or more, so a stray "sei" or "lima" in prose never makes a number alone.
_ALL_WORDS = {**_EN_WORDS, **_IT_WORDS, **_TL_WORDS, **_ES_WORDS}


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


def _any_case(alt: str, longest: int) -> str:
    """A pattern matching the same strings as ``(?i:alt)`` (``alt`` in lower case, words of at most
    ``longest`` characters), faster: the lower-case alternation first, in case-sensitive literals the
    engine can skip on the first character, and the case-insensitive one only where a letter other than
    a-z stands among the first ``longest`` characters ("Nine", "NOVE"). The words may be tried in
    another order, which changes no result where it is used: in the tokens a word must end where the
    letters and digits end (at most one word can match at a position), and of the cue before a number
    only whether it matches is asked."""
    return rf"(?:{alt}|(?=[a-z]{{0,{longest - 1}}}+[^\W\d_a-z])(?i:{alt}))"


_NUMBER_WORDS = set(_ALL_WORDS) | set(_MULT_WORDS) | _PLUS_WORDS
_ALL_WORD_ALT, _WORD_FIRSTS = _word_alternation(_NUMBER_WORDS)
_ANY_CASE_WORD = _any_case(_ALL_WORD_ALT, max(map(len, _NUMBER_WORDS)))
# One token: a digit group (may start with '+', may contain letter-for-digit swaps), a number word,
# or a single swap letter. Tokens never touch another letter or digit.
_TOKEN_RE = re.compile(
    rf"(?=[\d+OolI{_WORD_FIRSTS}])(?<![^\W_])"
    rf"(?:(?P<num>\+?[\dOolISB]*\d[\dOolISB]*)|(?P<word>{_ANY_CASE_WORD})"
    # a lone O / o / l / I is a digit only beside one (two separators at most between): "0 9 l 7", not "I"
    rf"|(?P<weak>(?:(?<=\d)|(?<=\d[^\w\n])|(?<=\d[^\w\n]{{2}}))[OolI]|[OolI](?=[^\w\n]{{0,2}}[\dOolI])))"
    rf"(?![^\W_])"
)
_SWAP = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "S": "5", "B": "8"})
_GAP_OK = frozenset(" \t\u00a0.-\u2010\u2011\u2012\u2013\u2014()/_*\u00b7~|\n")
_ODD_GAP = frozenset("/_*\u00b7~|")

_DATE_RE = re.compile(
    r"\d{1,2}\s?[/.\-]\s?\d{1,2}\s?[/.\-]\s?\d{2,4}|\d{4}\s?[/.\-]\s?\d{1,2}\s?[/.\-]\s?\d{1,2}"
    r"|\d{4}\s\d{2}\s\d{2}|\d{1,2}[:.]\d{2}(?:[:.]\d{2})?"
    r"|(?:19|20)\d\d\s?[/.\-]\s?(?:0?[1-9]|1[0-2])\s?[/.\-]\s?\d+"  # 2026/11/0042: year/month/serial
)
_CURRENCY_SIGNS = "$€£¥₱₹"
_CURRENCY_WORDS = "usd|eur|php|gbp|aud|cad|jpy|inr|btc|eth|rs|p"


def _firsts(alternation: str) -> str:
    """The first characters of a regex alternation's words, for a look-ahead that spares the engine
    the alternation at most positions (the matches stay the same)."""
    return "".join(sorted({w[0] for w in alternation.split("|")}))


_CURRENCY_BEFORE_RE = re.compile(
    rf"(?=[{_CURRENCY_SIGNS}{_firsts(_CURRENCY_WORDS)}])(?:[{_CURRENCY_SIGNS}]|\b(?:{_CURRENCY_WORDS})\.?)\s*$",
    re.IGNORECASE,
)
# what _CURRENCY_BEFORE_RE matches before the white space at the end: a sign, or a word and a "."
_CURRENCY_LONGEST = max(map(len, _CURRENCY_WORDS.split("|"))) + 1
# (matched at the number's end, so no "^": with a start position "^" never matched, and this check did
# nothing; "k" only right after the digits, "25k": "0917 123 4567 k?" is "ok?")
_UNIT_AFTER_RE = re.compile(
    r"k\b|\s*(?:[$€£¥₱%]|(?:usd|eur|php|gbp|pesos?|piso|dollars?|euros?|euro|bucks|kg|km|mb|gb|"
    r"years?|yrs?|y/?o|anni|taon|taong|btc|eth|xmr|usdt|trx)\b)",
    re.IGNORECASE,
)
# an age right after a number's last group ("... 3051 14 anni"): that group is not part of the number
_AGE_AFTER_RE = re.compile(r"[ \t]*(?:years?|yrs?|y/?o|anni|taon|taong|años|anos)\b", re.IGNORECASE)
# Words that name a non-phone number right before it ("order #48213377", "reference is 2026/11/0042").
# Not "account" (a GCash account *is* a phone number) and not "no."/"#" alone ("Contact no.", "CP#").
_NEG_CUE_WORDS = (
    "order|ordine|orden|invoice|fattura|ref|reference|riferimento|tracking|ticket|case|id|acct|"
    "transaction|txn|receipt|ricevuta|resibo|codice|code|pin|otp|serial|isbn|passport|passaporto|"
    "license|licence|patente|pratica|protocollo|iban|mtcn|swift|bic"
)
_NEG_CUE_SET = set(_NEG_CUE_WORDS.split("|"))
_NEG_CUE_ALT, _NEG_CUE_FIRSTS = _word_alternation(_NEG_CUE_SET)
# Case-insensitive throughout: the words as _any_case writes them (only whether the pattern matches is
# asked), behind a look-ahead on their first letters that lets any non-ASCII one through (İ ı ſ are i s).
_NEG_CUE_RE = re.compile(
    rf"\b(?=[{_NEG_CUE_FIRSTS}\x80-\U0010ffff]){_any_case(_NEG_CUE_ALT, max(map(len, _NEG_CUE_SET)))}"
    r"(?i:(?:\s*(?:no\.?|n\.|nr\.?|number|numero|num\.?|#|is|è|:|\.))*\s*$)"
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
    return _ALL_WORDS


@lru_cache(maxsize=512)
def _national_lengths(region: str) -> frozenset[int]:
    """Digit counts a number of ``region`` can have when written nationally: its possible lengths, plus
    a national (trunk) prefix."""
    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if md is None or md.general_desc is None:
        return frozenset(range(1, 18))
    lengths = set(md.general_desc.possible_length or ())
    if not lengths:
        return frozenset(range(1, 18))
    if md.national_prefix_for_parsing:
        extra = (len(md.national_prefix),) if md.national_prefix else (1, 2, 3)
        lengths |= {n + k for n in lengths for k in extra}
    return frozenset(lengths)


@lru_cache(maxsize=1)
def _intl_lengths() -> dict[str, frozenset[int]]:
    """Country calling code -> possible national-number lengths of its regions."""
    out: dict[str, frozenset[int]] = {}
    for cc, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        lengths: set[int] = set()
        for r in regions:
            md = (
                phonenumbers.PhoneMetadata.metadata_for_nongeo_region(cc)
                if r == "001"
                else phonenumbers.PhoneMetadata.metadata_for_region(r)
            )
            if md is not None and md.general_desc is not None:
                lengths |= set(md.general_desc.possible_length or ())
        out[str(cc)] = frozenset(lengths) if lengths else frozenset(range(4, 18))
    return out


def _plausible(digits: str, region: str | None) -> bool:
    """A length check from the numbering metadata, before the (much dearer) ``phonenumbers.parse``: the
    greedy segmentation tries many spans, and most have a length no number of that region has."""
    if region is None:  # "+<digits>"
        body = digits[1:] if digits.startswith("+") else digits
        table = _intl_lengths()
        for k in (1, 2, 3):
            lengths = table.get(body[:k])
            if lengths is not None:
                return len(body) - k in lengths
        return False
    if len(digits) not in _national_lengths(region):
        return False
    shape = _national_shape(region)
    if shape is None:
        return True
    pattern, prefix, cc = shape
    if pattern.fullmatch(digits):
        return True
    if prefix and digits.startswith(prefix) and pattern.fullmatch(digits[len(prefix) :]):
        return True
    return digits.startswith(cc) and pattern.fullmatch(digits[len(cc) :]) is not None


@lru_cache(maxsize=512)
def _national_shape(region: str) -> tuple[re.Pattern[str], str, str] | None:
    """(the region's general national-number pattern, its national prefix, its country code), for the
    regions whose national prefix is a plain string (no transform rule): a candidate that matches the
    pattern neither as written, nor without the prefix, nor without the country code cannot be valid
    there. None: no shortcut for this region (``parse`` decides)."""
    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if md is None or md.general_desc is None or not md.general_desc.national_number_pattern:
        return None
    if md.national_prefix_transform_rule or (
        md.national_prefix_for_parsing and md.national_prefix_for_parsing != md.national_prefix
    ):
        return None
    return re.compile(md.general_desc.national_number_pattern), md.national_prefix or "", str(md.country_code)


@lru_cache(maxsize=32768)
def _parse(digits: str, region: str | None) -> str | None:
    """The E.164 form of ``digits`` read in ``region`` (None: written with "+"), when valid there (or,
    where the country code is shared, valid at all); see :func:`tipline.extract.fastphone.valid_e164`."""
    if not _plausible(digits, region):
        return None
    return valid_e164(digits, region)


@lru_cache(maxsize=8192)
def _type_rank_of(number: str) -> int:
    return _TYPE_RANK.get(phonenumbers.number_type(phonenumbers.parse(number)), 4)


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
    # (a match ends in white space only, so it starts _CURRENCY_LONGEST characters at most before that)
    if _CURRENCY_BEFORE_RE.search(before, max(0, len(before.rstrip()) - _CURRENCY_LONGEST)):
        return True
    if _UNIT_AFTER_RE.match(text, end, min(len(text), end + 12)):
        return True
    return _NEG_CUE_RE.search(before) is not None


# --------------------------------------------------------------------------- token scanner


class _Tok:
    __slots__ = ("start", "end", "digits", "kind", "plus", "mult")

    def __init__(self, start: int, end: int, digits: str, kind: str, plus: bool = False, mult: int = 0):
        self.start = start
        self.end = end
        self.digits = digits
        self.kind = kind
        self.plus = plus
        self.mult = mult


# The candidate pass: one compiled regex (one of the two below) finds stretches of digit groups, number
# words and swap letters joined by short separators (a superset of what _runs keeps). Only stretches
# that can hold a number (seven characters or more, a "+", a digit group of three or more, or two groups
# of two: pieces of a split number) are tokenised in Python; the rest of the text is never looked at
# again.
_NUM_TOK = r"\+?[\dOolISB]*\d[\dOolISB]*"
_SEP = r"(?:[ \t\u00a0.\-\u2010-\u2014()/_*\u00b7~|\n]{1,3}|\s?,\s?)"
_TOK_ALT = rf"(?:{_NUM_TOK}|{_ANY_CASE_WORD}|[OolI])(?![^\W_])"
_STRETCH_RE = re.compile(rf"(?=[\d+OolI{_WORD_FIRSTS}])(?<![^\W_]){_TOK_ALT}(?:{_SEP}(?<![^\W_]){_TOK_ALT})*")
# The same stretches in a text where no number word can be a token (most texts; see _no_number_words):
# the first token starts with a digit, "+" or O o l I S (the first character, then the look-behind: the
# engine skips to those characters in C instead of trying the pattern at every word).
_STRETCH_NO_WORDS_RE = re.compile(
    r"[\d+OolIS](?<![^\W_].)(?:(?<=\d)[\dOolISB]*|[\dOolISB]*\d[\dOolISB]*|(?<=[OolI]))(?![^\W_])"
    rf"(?:{_SEP}(?<![^\W_])(?:{_NUM_TOK}|[OolI])(?![^\W_]))*"
)
# _STRETCH_NO_WORDS_RE for a decoded text (:class:`tipline.extract.text.Decoded` makes every decimal digit
# of any script an ASCII one, so \d is [0-9] there): the same stretches, found faster (the engine tests
# an ASCII class instead of looking each character up in the Unicode tables)
_NUM_TOK_ASCII = r"\+?[0-9OolISB]*[0-9][0-9OolISB]*"
_STRETCH_NO_WORDS_ASCII_RE = re.compile(
    r"[0-9+OolIS](?<![^\W_].)(?:(?<=[0-9])[0-9OolISB]*|[0-9OolISB]*[0-9][0-9OolISB]*|(?<=[OolI]))(?![^\W_])"
    rf"(?:{_SEP}(?<![^\W_])(?:{_NUM_TOK_ASCII}|[OolI])(?![^\W_]))*"
)
_DIGIT3_RE = re.compile(r"\d{3}|\d\d[^\w\n]{1,3}\d\d")


def _no_number_words(text: str) -> bool:
    """True when no number word can be a token of ``text`` (so that :data:`_STRETCH_NO_WORDS_RE` finds
    its stretches): no word of the lower-cased text is a number word. A word token matches a number
    word case-insensitively, with no letter or digit on either side; lower-cased it is that number word,
    and one of the text's words, as nothing but a letter or digit lower-cases to a letter. Except with
    İ, ı or ſ: they match i and s case-insensitively but lower-case to other characters."""
    if _NUMBER_WORDS.isdisjoint(letter_words(lower_of(text))):
        return text.isascii() or not ("İ" in text or "ı" in text or "ſ" in text)
    return False


def _tokens(text: str, words: dict[str, str], decoded: bool = False) -> list[_Tok]:
    """The candidate tokens of ``text``; ``decoded``: its only decimal digits are ASCII ones (speed)."""
    out: list[_Tok] = []
    if not _no_number_words(text):
        stretch_re = _STRETCH_RE
    else:
        stretch_re = _STRETCH_NO_WORDS_ASCII_RE if decoded else _STRETCH_NO_WORDS_RE
    for st in stretch_re.finditer(text):
        s = st.group()
        if s.isdigit() and s.isascii():
            # one plain digit group (the usual stretch) is its own one token: no token regex
            if len(s) >= 3:
                out.append(_Tok(st.start(), st.end(), s, "num"))
            continue
        if len(s) < 7 and s[0] != "+" and not _DIGIT3_RE.search(s):
            continue
        out.extend(_tokens_in(text, st.start(), st.end(), words))
    return out


def _tokens_in(text: str, a: int, b: int, words: dict[str, str]) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN_RE.finditer(text, a, b):
        kind = m.lastgroup
        s = m.group()
        ms, me = m.span()
        if kind == "num":
            plus = s.startswith("+")
            body = s[1:] if plus else s
            if body.isdigit():
                digits = body if body.isascii() else "".join(str(int(c)) for c in body)
                out.append(_Tok(ms, me, digits, "num", plus))
                continue
            # letter swaps (O o -> 0, l I -> 1); S -> 5 and B -> 8 only between digits
            if body[0] in "SB" or body[-1] in "SB":
                continue
            digits = "".join(str(int(c)) if c.isdigit() else c for c in body).translate(_SWAP)
            out.append(_Tok(ms, me, digits, "swap", plus))
        elif kind == "word":
            w = s.lower()
            if w in _MULT_WORDS:
                out.append(_Tok(ms, me, "", "mult", mult=_MULT_WORDS[w]))
            elif w in _PLUS_WORDS:
                out.append(_Tok(ms, me, "", "plusword", plus=True))
            elif w in words:
                out.append(_Tok(ms, me, words[w], "word"))
        else:
            out.append(_Tok(ms, me, s.translate(_SWAP), "weak"))
    return out


def _gap_ok(gap: str, prev: _Tok, nxt: _Tok) -> bool:
    if len(gap) > 3 or gap.count("\n") > 1:
        return False
    if _GAP_OK.issuperset(gap):
        return True
    # "nine one seven, one two three": a comma between spelled-out groups
    return gap.strip() == "," and (prev.kind in ("word", "mult") or nxt.kind in ("word", "mult"))


def _runs(text: str, toks: list[_Tok]) -> list[list[_Tok]]:
    """Group tokens into runs joined by short separator gaps; apply multipliers; drop weak letters
    that do not sit among single-digit tokens or words."""
    runs: list[list[_Tok]] = []
    cur: list[_Tok] = []
    special = False  # a multiplier or a weak letter: the two passes below have work to do
    for t in toks:
        if cur:
            prev = cur[-1]
            # (a gap of more than three characters is never joined: no slice for it; one space always is)
            if t.kind == "plusword" or t.start - prev.end > 3:
                runs.append(cur)
                cur = []
            else:
                gap = text[prev.end : t.start]
                if gap != " " and not _gap_ok(gap, prev, t):
                    runs.append(cur)
                    cur = []
        if t.kind == "mult" or t.kind == "weak":
            special = True
        cur.append(t)
    if cur:
        runs.append(cur)
    if not special:
        return runs
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
    return [r for r in out if r]


# --------------------------------------------------------------------------- region evidence

# Words that place a report in a country: names, demonyms, big cities, and the payment apps and
# networks of that country, in the languages reports come in (lower case; two-word names with a space).
_COUNTRY_WORDS: dict[str, list[str]] = {
    "PH": (
        "philippines philippine pilipinas filipino filipina filipinos filipinas pinoy pinoys pinay pinays manila "
        "makati cebu davao pampanga mindanao luzon gcash paymaya cebuana filippine filippino filippina filipinas"
    ).split()
    + ["quezon city", "angeles city", "palawan express", "smart padala"],
    "IT": (
        "italy italia italie italian italiano italiana italiani italiane roma rome milano milan napoli naples torino "
        "turin palermo postepay satispay"
    ).split(),
    "US": "usa america american venmo cashapp zelle california texas florida".split()
    + ["united states", "new york", "cash app", "stati uniti", "estados unidos"],
    "GB": "england britain british london manchester".split() + ["united kingdom", "regno unito"],
    "TH": "thailand thai bangkok pattaya promptpay tailandia thailandia".split(),
    "ES": "spain españa espana spagna madrid barcelona bizum".split(),
    "MX": "mexico méxico messico mexicano mexicana guadalajara monterrey".split(),
    "CO": "colombia bogota bogotá medellin medellín".split(),
    "AU": "australia australian sydney melbourne".split(),
    "CA": "canada canadian toronto vancouver".split(),
    "DE": "germany deutschland germania berlin".split(),
    "FR": "france francia paris parigi".split(),
    "ID": "indonesia jakarta".split(),
    "VN": "vietnam hanoi saigon".split() + ["viet nam"],
    "BR": "brazil brasil brasile".split() + ["são paulo", "sao paulo"],
}
_COUNTRY_OF: dict[str, str] = {w: r for r, ws in _COUNTRY_WORDS.items() for w in ws}
_COUNTRY_FIRST: frozenset[str] = frozenset(w.split()[0] for w in _COUNTRY_OF if " " in w)
_COUNTRY_KEYS: frozenset[str] = frozenset(w for w in _COUNTRY_OF if " " not in w)
# "US", "UK", "U.S.", "U.S.A." in capitals (in lower case "us" is the pronoun)
# (?<![\w.])(?:(U\.S\.(?:A\.)?|US|USA)|(UK))(?![\w]), with the look-behind after the "U" so that the
# engine jumps from one "U" to the next
_US_UK_RE = re.compile(r"U(?<![\w.]U)(?:(\.S\.(?:A\.)?|SA?)|(K))(?!\w)")


def _country_mentions(text: str) -> dict[str, int]:
    """Region -> how many times the text names it (one lower-cased word scan, set intersections)."""
    words = letter_words(lower_of(text))
    present = _COUNTRY_KEYS.intersection(words)
    seen: dict[str, int] = {}
    for w in present:
        r = _COUNTRY_OF[w]
        seen[r] = seen.get(r, 0) + words.count(w)
    if not _COUNTRY_FIRST.isdisjoint(words):
        for i, w in enumerate(words[:-1]):
            if w in _COUNTRY_FIRST:
                pair = _COUNTRY_OF.get(f"{w} {words[i + 1]}")
                if pair is not None:
                    seen[pair] = seen.get(pair, 0) + 1
    if "U" in text:
        for m in _US_UK_RE.finditer(text):
            r = "US" if m.group(1) else "GB"
            if m.group() != "USA":  # "usa" is counted above
                seen[r] = seen.get(r, 0) + 1
    return seen


_FALLBACK_ORDER = {r: i for i, r in enumerate(DEFAULT_FALLBACK)}
# "+" or "00" not after a letter, digit or "+" ((?<![\w+])(?:\+|00), with the look-behind after the
# literal so that the engine skips to a "+" or a "0" in C)
_INTL_RE = re.compile(r"(?:\+(?<![\w+]\+)|00(?<![\w+]00))\s?([1-9]\d{0,2})")
STATED_WEIGHT = 2.0
WORD_WEIGHT = 2.0
LANGUAGE_WEIGHT = 1.0
NUMBER_WEIGHT = 1.0
DEFAULT_WEIGHT = 0.5
LOCAL_WEIGHT = 1.5  # a country named right beside a number
STRONG = 2.0  # a region with this much evidence reads numbers at full confidence
AMBIGUOUS_RATIO = 0.5  # a rival region with more than this share of the best one's evidence is a second reading
_INTL = 99.0  # the "score" of a number written with + / 00: no region needed


def region_evidence(
    text: str, country: str | None, language: str | None, hints: tuple[str, ...] = ()
) -> list[tuple[str, float]]:
    """Candidate regions for national-form numbers, best first, with their evidence score.

    The report's stated ``country`` (+2), country words in the text (+2 for the first, +0.5 for each
    more, up to +3), ``hints`` (regions from the report around the text: the reporting platform's
    country, a person's country; +1 each), the ``language`` (+1 for each region of
    :data:`LANGUAGE_REGIONS`), numbers of the text written internationally (+1 for a country that
    already has evidence). With no evidence at all, :data:`DEFAULT_FALLBACK` at 0.5 each.
    """
    supported = phonenumbers.SUPPORTED_REGIONS
    score: dict[str, float] = {}
    if country and country.upper() in supported:
        score[country.upper()] = STATED_WEIGHT
    for r, n in _country_mentions(text).items():
        score[r] = score.get(r, 0.0) + WORD_WEIGHT + min(2, n - 1) * 0.5
    for r in hints:
        if r and r.upper() in supported:
            score[r.upper()] = score.get(r.upper(), 0.0) + 1.0
    lang = (language or "").lower().replace("_", "-").split("-")[0]
    for r in LANGUAGE_REGIONS.get(lang, ()):
        score[r] = score.get(r, 0.0) + LANGUAGE_WEIGHT
    if score and ("+" in text or "00" in text):
        intl: set[str] = set()
        for m in _INTL_RE.finditer(text):
            cc = m.group(1)
            for k in (1, 2, 3):
                r = phonenumbers.region_code_for_country_code(int(cc[:k])) if len(cc) >= k else "ZZ"
                if r != "ZZ":
                    intl.add(r)
                    break
        for r in intl:
            if r in score:  # a foreign number alone does not make its country a candidate
                score[r] += NUMBER_WEIGHT
    if not score:
        score = dict.fromkeys(DEFAULT_FALLBACK, DEFAULT_WEIGHT)
    return sorted(score.items(), key=lambda kv: (-kv[1], _FALLBACK_ORDER.get(kv[0], 99), kv[0]))


# --------------------------------------------------------------------------- scanner

_Reading = tuple[str, float]  # a valid number and the evidence for its region


def _ndigits(run: list[_Tok]) -> int:
    return sum(len(t.digits) for t in run)


class _Scanner:
    """Reads phone numbers from token runs: one tokenizer pass over the text finds every candidate (digit
    groups, number words, letter swaps), and ``phonenumbers.parse`` is called only on candidate spans, in
    the regions the evidence names (no ``PhoneNumberMatcher`` over the whole text).

    A run is segmented greedily into the longest valid numbers. Never a digit dropped: a run whose
    segments leave out a spelled or swapped digit, or a lone digit, yields nothing; only whole groups of
    two or more plain digits (another number beside the phone) may stay out.
    """

    def __init__(self, col: Collector, evidence, words: dict[str, str], decoded: bool = False):
        self.col = col
        self._evidence = evidence  # () -> [(region, score)], computed once and only when a number needs it
        self._regions: list[str] | None = None
        self._places: list[tuple[int, int, str]] | None = None
        self._lengths: frozenset[int] | None = None
        self.score: dict[str, float] = {}
        self.all_runs = _runs(col.text, _tokens(col.text, words, decoded))
        self.ndigits = {id(r): sum([len(t.digits) for t in r]) for r in self.all_runs}

    @property
    def regions(self) -> list[str]:
        if self._regions is None:
            ranked = self._evidence()
            self._regions = [r for r, _ in ranked]
            self.score = dict(ranked)
        return self._regions

    def _labels(self, run: list[_Tok], i: int, j: int) -> list[str]:
        """Disguise labels of run[i..j] (see :data:`tipline.extract.text.DISGUISES`)."""
        if i == j:  # one token: no gaps, no digit-by-digit spelling
            kind = run[i].kind
            return ["words"] if kind == "word" else ["letters"] if kind == "swap" or kind == "weak" else []
        kinds = {run[k].kind for k in range(i, j + 1)}
        out = []
        if "word" in kinds:
            out.append("words")
        if "swap" in kinds or "weak" in kinds:
            out.append("letters")
        text = self.col.text
        gaps = "".join([text[run[k].end : run[k + 1].start] for k in range(i, j)])  # what stands between tokens
        lone = j - i >= 4 and sum([run[k].kind == "num" and len(run[k].digits) == 1 for k in range(i, j + 1)]) >= 5
        if lone or not _ODD_GAP.isdisjoint(gaps):  # digit by digit, or odd separators
            out.append("spaced")
        if "\n" in gaps:
            out.append("split")
        return out

    def _local(self, start: int, end: int) -> dict[str, float]:
        """Regions named right beside text[start:end] ("0917 123 4567 (Philippines)"; 20 characters before,
        15 after): a
        country word next to a number is evidence about that number (+1.5)."""
        if self._places is None:
            low = lower_of(self.col.text)
            present = _COUNTRY_KEYS.intersection(letter_words(low))
            self._places = []
            if present:
                # (?<!\w)(?:words)(?!\w), the look-behind after each word's first letter: the engine tries
                # only where one of those letters stands
                alt = "|".join(re.escape(w[0]) + r"(?<!\w.)" + re.escape(w[1:]) for w in sorted(present))
                rx = re.compile(rf"(?:{alt})(?!\w)")
                self._places = [(m.start(), m.end(), _COUNTRY_OF[m.group()]) for m in rx.finditer(low)]
        text = self.col.text
        out: dict[str, float] = {}
        for a, b, r in self._places:
            if not (start - 20 < b and a < end + 15):
                continue
            if b <= start and any(c.isdigit() for c in text[max(0, a - 15) : a]):
                continue  # "0917 ... (Philippines) and 0339 ...": the word belongs to the number before it
            out[r] = LOCAL_WEIGHT
        return out

    def _readings(self, digits: str, plus: bool, span: tuple[int, int] | None = None) -> list[_Reading]:
        if plus or digits.startswith("00"):
            d = digits[2:] if digits.startswith("00") and not plus else digits
            if not 8 <= len(d) <= 15:
                return []
            num = _parse("+" + d, None)
            return [(num, _INTL)] if num else []
        if len(digits) > 15:
            return []
        found = [(num, r) for r in self.regions if (num := _parse(digits, r)) is not None]
        if not found:
            return []
        local = self._local(*span) if span is not None else {}
        out = [(num, self.score[r] + local.get(r, 0.0)) for num, r in found]
        if len(out) > 1:
            if len({sc for _, sc in out}) == len(out):
                # no two scores equal: the number type (the tie-breaker below, a full phonenumbers parse
                # each) cannot change the order, and the stable sort on the score alone gives the same
                out.sort(key=lambda x: -x[1])
            else:
                out.sort(key=lambda x: (-x[1], _type_rank_of(x[0])))
            # the same number reached from two regions (+1 from US and CA) is one reading
            uniq: dict[str, _Reading] = {}
            for n, sc in out:
                uniq.setdefault(n, (n, sc))
            out = list(uniq.values())
        return out

    def _segment(self, run: list[_Tok]) -> list[tuple[int, int, list[_Reading]]]:
        """Greedy left-to-right segmentation into the longest valid numbers."""
        n = len(run)
        if n == 1:
            # one token (the usual run): the loop below would try just it, once; the region evidence is
            # left uncomputed where the number is written with + / 00 or has no national length
            t = run[0]
            nd = len(t.digits)
            if nd < 7 or nd > 17:
                return []
            if not (t.plus or t.digits.startswith("00")) and nd not in self._national_lengths():
                return []
            hits = self._readings(t.digits, t.plus, (t.start, t.end))
            return [(0, 0, hits)] if hits else []
        budget = _MAX_PARSES_PER_RUN
        flat = "".join([t.digits for t in run])
        prefix = [0]
        for t in run:
            prefix.append(prefix[-1] + len(t.digits))
        national = self._national_lengths()
        cost = max(1, len(self.regions))
        text = self.col.text
        breaks = []
        if text.find("\n", run[0].end, run[-1].start) >= 0:  # the gaps lie in there
            breaks = [k for k in range(n - 1) if "\n" in text[run[k].end : run[k + 1].start]]
        singles = [0]  # how many of run[:k] are lone digits (read only in runs of six tokens or more)
        if n > 5:
            for t in run:
                singles.append(singles[-1] + (t.kind == "num" and len(t.digits) == 1))
        segs: list[tuple[int, int, list[_Reading]]] = []
        i = 0
        while i < n and budget > 0:
            found = None
            hi = min(n - 1, i + _MAX_TOKENS_PER_CANDIDATE)
            intl = run[i].plus or flat.startswith("00", prefix[i])
            # a number split over two lines is read whole only when the part before the line break is not
            # a number alone of a region with strong evidence ("0917 123\n4567" yes; "632 34 55 54\n14
            # years" in a report from Spain no)
            brk = None
            if breaks:
                b = bisect_left(breaks, i)
                brk = breaks[b] if b < len(breaks) and breaks[b] < hi else None
            if brk is not None and prefix[brk + 1] - prefix[i] >= 7:
                head = flat[prefix[i] : prefix[brk + 1]]
                hits = self._readings(head, run[i].plus, (run[i].start, run[brk].end))
                if hits and hits[0][1] >= STRONG:
                    hi = brk
            for j in range(hi, i - 1, -1):
                nd = prefix[j + 1] - prefix[i]
                if nd < 7:
                    break
                if nd > 17 or (not intl and nd not in national):
                    continue  # no candidate region has numbers of that length: no parse
                if j - i >= 5 and len(run[j].digits) > 1 and singles[j] - singles[j - 4] == 4:
                    continue  # "3 8 0 1 5 2 8 7 0 6 14": a group after digit-by-digit spelling is another number
                if j > i and len(run[j].digits) <= 2 and _AGE_AFTER_RE.match(text, run[j].end):
                    continue  # "364 849 3051 14 anni": the last group is an age; the number is before it
                digits = flat[prefix[i] : prefix[j + 1]]
                budget -= cost
                hits = self._readings(digits, run[i].plus, (run[i].start, run[j].end))
                if hits:
                    found = (i, j, hits)
                    break
                if budget <= 0:
                    break
            if not found:
                i += 1
                continue
            segs.append(found)
            i = found[1] + 1
        return segs

    def _national_lengths(self) -> frozenset[int]:
        if self._lengths is None:
            self._lengths = frozenset().union(*(_national_lengths(r) for r in self.regions))
        return self._lengths

    @staticmethod
    def _whole(run: list[_Tok], segs: list[tuple[int, int, list[_Reading]]]) -> bool:
        """True when no digit of the run is dropped: every token outside the segments is a whole group of
        two or more plain digits, or a number word that is not next to a spelled-out number."""
        if len(segs) == 1 and segs[0][0] == 0 and segs[0][1] == len(run) - 1:
            return True  # one number, the whole run (the usual case)
        covered = bytearray(len(run))
        for i, j, _ in segs:
            covered[i : j + 1] = b"\x01" * (j - i + 1)
        for k, t in enumerate(run):
            if covered[k]:
                continue
            if t.kind == "num" and len(t.digits) >= 2:
                continue
            if t.kind == "word":
                nb = [run[x] for x in (k - 1, k + 1) if 0 <= x < len(run) and covered[x]]
                if all(x.kind == "num" and len(x.digits) >= 3 for x in nb):
                    continue
            if t.kind == "weak" and k in (0, len(run) - 1):
                continue  # "... pito o sa": a lone o / I at the edge is a word, not a zero or a one
            return False
        return True

    def _emit(self, run: list[_Tok], seg: tuple[int, int, list[_Reading]], extra: tuple[str, ...] = ()) -> bool:
        i, j, hits = seg
        col = self.col
        start, end = run[i].start, run[j].end
        text = col.text
        if start and text[start - 1] == "(" and text.find(")", start, end) >= 0:
            start -= 1  # "(0917)1234567": the bracket belongs to the number
        if not col.free(start, end) or _DATE_RE.fullmatch(text, start, end):
            return False
        if _bad_context(text, start, end, [len(run[k].digits) for k in range(i, j + 1)]):
            return False
        labels = self._labels(run, i, j) + list(extra)
        disguised = bool(labels)
        best, sc = hits[0]
        if sc >= _INTL:
            written = run[i].plus or run[i].digits.startswith("00")
            conf = 0.85 if disguised else (0.95 if written and j - i < 6 else 0.9)
            col.add("phone", best, start, end, conf, disguise=",".join(labels))
            return True

        def base_for(score: float) -> float:
            if score >= STRONG:
                return 0.8 if disguised else 0.9
            return 0.4 if disguised else 0.5

        # another reading is offered when its region has at least half the evidence of the best one;
        # each reading's confidence then shares in the evidence (0.7 + 0.3 * its share)
        rivals = [(n, s2) for n, s2 in hits[1:] if s2 > sc * AMBIGUOUS_RATIO]
        alternatives: tuple[tuple[str, float], ...] = ()
        conf = base_for(sc)
        if rivals:
            total = sc + sum(s2 for _, s2 in rivals)
            conf = base_for(sc) * (0.7 + 0.3 * sc / total)
            alternatives = tuple(
                (n, round(min(conf - 0.01, base_for(s2) * (0.7 + 0.3 * s2 / total)), 3)) for n, s2 in rivals
            )
        col.add("phone", best, start, end, conf, disguise=",".join(labels), alternatives=alternatives)
        return True

    def scan(self) -> None:
        col = self.col
        for run in self.all_runs:
            if self.ndigits[id(run)] < 7:
                continue
            # the stretches of the run that nothing has taken yet
            free: list[list[_Tok]] = [[]]
            if col.free(run[0].start, run[-1].end):
                free = [run]  # the usual case: nothing taken anywhere in the run
            else:
                for t in run:
                    if col.free(t.start, t.end):
                        free[-1].append(t)
                    elif free[-1]:
                        free.append([])
            for sub in free:
                if sub is not run and _ndigits(sub) < 7:
                    continue
                segs = self._segment(sub)
                if segs and self._whole(sub, segs):
                    for seg in segs:
                        self._emit(sub, seg)

    def scan_split(self) -> None:
        """Groups with a few words between them ("0917 text me 123 4567"): read as one number when every
        group has two digits or more, the groups together are valid in a region with strong evidence (or
        written with + / 00), no group alone is a number of such a region, and only one to three short
        words, no punctuation, stand between. Runs before the plain scan, which would otherwise take a
        group that is valid alone in a region with weak evidence."""
        # (speed: a group is two runs or more, the first of two to six digits; most texts have none)
        if len(self.all_runs) < 2 or not any(2 <= nd < 7 for nd in self.ndigits.values()):
            return
        col = self.col
        text = col.text
        runs = [r for r in self.all_runs if r and col.free(r[0].start, r[-1].end)]
        for a in range(len(runs)):
            first = runs[a]
            if not 2 <= self.ndigits.get(id(first), 0) < 7 or any(t.kind != "num" for t in first):
                continue
            group = [first]
            for b in range(a + 1, min(len(runs), a + 3)):
                gap_start, gap_end = group[-1][-1].end, runs[b][0].start
                nd = self.ndigits.get(id(runs[b]), 0)
                if not 2 <= nd < 9 or gap_end - gap_start > 30 or not _SPLIT_GAP_RE.fullmatch(text, gap_start, gap_end):
                    break
                group.append(runs[b])
                flat = [t for r in group for t in r]
                if sum(len(t.digits) for t in flat) < 9 or any(t.kind != "num" or len(t.digits) < 2 for t in flat):
                    continue
                span = (flat[0].start, flat[-1].end)
                hits = self._readings("".join(t.digits for t in flat), flat[0].plus, span)
                if not hits or hits[0][1] < STRONG:
                    continue
                if any(self._strong_alone(r) for r in group):
                    break
                if self._emit(flat, (0, len(flat) - 1, hits), ("split",)):
                    break

    def _strong_alone(self, run: list[_Tok]) -> bool:
        if self.ndigits.get(id(run), 0) < 7:
            return False
        span = (run[0].start, run[-1].end)
        hits = self._readings("".join(t.digits for t in run), run[0].plus, span)
        return bool(hits) and hits[0][1] >= STRONG


_SPLIT_GAP_RE = re.compile(r" +(?:[^\W\d_]{1,12} +){1,3}")


def extract_phones(
    col: Collector, country: str | None, language: str | None, hints: tuple[str, ...] = (), *, decoded: bool = False
) -> None:
    """Phones of ``col.text``; ``decoded``: the text went through :class:`tipline.extract.text.Decoded`
    (its decimal digits are all ASCII ones, which lets the candidate pass use a faster pattern)."""
    scanner = _Scanner(col, lambda: region_evidence(col.text, country, language, hints), _words_for(language), decoded)
    scanner.scan_split()
    scanner.scan()


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
    return num
