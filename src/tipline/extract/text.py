"""Text plumbing shared by the extractors: the result collector with its span mask, the
"defanged" view of a text with an offset map back to the original, and cue-word helpers."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from functools import lru_cache

from .found import Found as Found
from .found import new_found as new_found
from .platforms import cue_alternatives

KINDS = (
    "phone",
    "email",
    "url",
    "domain",
    "ipv4",
    "ipv6",
    "onion",
    "btc",
    "eth",
    "xmr",
    "trx",
    "telegram",
    "skype",
    "snapchat",
    "kik",
    "whatsapp",
    "discord",
    "iban",
    "mtcn",
    "account",  # a handle on a platform without a kind of its own: "<platform id>/<name>"
)
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


_MASK_RUN_RE = re.compile(rb"\x01+")


class Collector:
    """Accumulates results and the mask of characters already claimed by a more specific kind."""

    __slots__ = ("text", "mask", "found", "_seen")

    def __init__(self, text: str) -> None:
        self.text = text
        self.mask = bytearray(len(text))
        self.found: list[Found] = []
        self._seen: set[tuple[str, str, int, int]] = set()

    def free(self, start: int, end: int) -> bool:
        """True when no character of text[start:end] is masked."""
        return self.mask.find(1, start, end) < 0

    def add(
        self,
        kind: str,
        value: str,
        start: int,
        end: int,
        confidence: float,
        *,
        mask: bool = True,
        disguise: str = "",
        alternatives: tuple[tuple[str, float], ...] = (),
    ) -> None:
        key = (kind, value, start, end)
        if key not in self._seen:
            self._seen.add(key)
            conf = round(min(1.0, max(0.0, confidence)), 3)
            self.found.append(
                new_found(kind, value, start, end, conf, self.text[start:end], disguise, tuple(alternatives))
            )
        if mask:
            self.mask[start:end] = b"\x01" * (end - start)

    def masked_text(self, filler: str = "Q") -> str:
        """The text with every masked character replaced by ``filler`` (same length, same offsets)."""
        pieces = []
        pos = 0
        for m in _MASK_RUN_RE.finditer(self.mask):
            a, b = m.span()
            pieces.append(self.text[pos:a])
            pieces.append(filler * (b - a))
            pos = b
        if not pieces:
            return self.text
        pieces.append(self.text[pos:])
        return "".join(pieces)

    def masked_text_range(self, a: int, b: int, filler: str = "Q") -> str:
        """``masked_text()[a:b]`` without building the whole string."""
        if self.mask.find(1, a, b) < 0:
            return self.text[a:b]
        return "".join(filler if self.mask[k] else self.text[k] for k in range(a, b))

    def results(self) -> list[Found]:
        return sorted(self.found, key=lambda f: (f.start, f.end, _KIND_ORDER[f.kind], f.value))


# --------------------------------------------------------------------------- unicode disguises

# Labels of the ways an identifier can be disguised (``Found.disguise``). The obscured phone is an ad
# indicator with research behind it (e.g. TellFinder's disguised-number normalisation), so the label is
# kept beside the decoded value.
DISGUISES = (
    "unicode",  # fullwidth / mathematical / circled forms (NFKC) or look-alike letters (confusables)
    "digits",  # digits of another script (Thai, Arabic-Indic, Devanagari, ...)
    "invisible",  # zero-width or bidi control characters inside
    "keycap",  # emoji keycap digits (1️⃣)
    "words",  # number words ("nine one seven", "otto", "siyam")
    "letters",  # letters for digits (O for 0, l for 1)
    "spaced",  # digit by digit, or with odd separators (0917/123/4567, 0 9 1 7 ...)
    "split",  # groups on separate lines or with words between them
    "at-dot",  # "name at domain dot com", "nome chiocciola dominio punto it"
    "defanged",  # hxxp://, example[.]com
)

_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufe00\ufe01\ufe0e\ufe0f\ufeff\uffa0"
)
_KEYCAP = "\u20e3"
_NONASCII_RE = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=1)
def _confusables() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter, digit or identifier punctuation it looks like, from the
    Unicode confusables table (UTS #39) shipped by ``confusable_homoglyphs``. Only one-character
    targets, so offsets map one to one."""
    from confusable_homoglyphs.confusables import confusables_data

    out: dict[str, str] = {}
    for ch, homoglyphs in confusables_data.items():
        if len(ch) != 1 or ch.isascii():
            continue
        for h in homoglyphs:
            t = h["c"]
            if len(t) == 1 and t.isascii() and (t.isalnum() or t in "@.:/") and unicodedata.category(ch) != "Sc":
                out[ch] = t
                break
    return out


@lru_cache(maxsize=8192)
def _decode_char(c: str) -> tuple[str, str]:
    """(replacement, disguise label) for one non-ASCII character; ("", label) drops it; (c, "") keeps it."""
    if c in _INVISIBLE:
        return "", "invisible"
    if c == _KEYCAP:
        return "", "keycap"
    d = unicodedata.decimal(c, None)
    if d is not None:
        return str(d), "digits" if unicodedata.normalize("NFKC", c) == c else "unicode"
    n = unicodedata.normalize("NFKC", c)
    if n != c and n.isascii() and n.isprintable() and n.strip():
        return n, "unicode"
    t = _confusables().get(c)
    if t is not None:
        return t, "confusable"
    return c, ""


def _mixed_word(text: str, i: int) -> bool:
    """True when the word around text[i] also has an ASCII letter or digit (a look-alike letter inside a
    Latin word or a number, not a word of another script)."""
    a = i
    while a > 0 and (text[a - 1].isalnum() or text[a - 1] in "_.@"):
        a -= 1
        if text[a].isascii() and text[a].isalnum():
            return True
    b = i + 1
    while b < len(text) and (text[b].isalnum() or text[b] in "_.@"):
        if text[b].isascii() and text[b].isalnum():
            return True
        b += 1
    return False


def _joins(text: str, k: int) -> bool:
    """True when text[k] is a character an invisible one can hide inside an identifier next to."""
    if not 0 <= k < len(text):
        return False
    c = text[k]
    return c.isalnum() or c in "@.:/+_-" or c in _INVISIBLE or c == _KEYCAP


class Decoded:
    """A text with its Unicode disguises undone (invisible characters dropped, keycaps and digits of any
    script made ASCII digits, NFKC compatibility forms folded, look-alike letters inside Latin words
    replaced), with the map from every character of the decoded text back to the original.

    ASCII text is returned as it is (``identity``), at no cost.
    """

    __slots__ = ("original", "text", "identity", "_dstarts", "_ostarts", "_kept", "_labels")

    def __init__(self, original: str) -> None:
        self.original = original
        self.identity = True
        self.text = original
        # The map back to the original, one entry per piece of the decoded text (speed: not one per
        # character): where the piece starts in the decoded text, and either where it starts in the
        # original (a kept run, ``_kept``) or the one original character it replaces.
        self._dstarts: list[int] = []
        self._ostarts: list[int] = []
        self._kept: list[bool] = []
        self._labels: dict[int, str] = {}
        if original.isascii():
            return
        pieces: list[str] = []
        dstarts: list[int] = []
        ostarts: list[int] = []
        kept: list[bool] = []
        labels: dict[int, str] = {}
        pos = 0
        size = 0  # characters of the decoded text so far
        for m in _NONASCII_RE.finditer(original):
            i = m.start()
            c = original[i]
            rep, label = _decode_char(c)
            if label == "confusable":
                if not _mixed_word(original, i):
                    continue
                label = "unicode"
            elif label == "invisible" and not (_joins(original, i - 1) or _joins(original, i + 1)):
                continue  # a variation selector or joiner inside an emoji: nothing to undo there
            if not label:
                continue
            if i > pos:
                pieces.append(original[pos:i])
                dstarts.append(size)
                ostarts.append(pos)
                kept.append(True)
                size += i - pos
            if rep:
                pieces.append(rep)
                dstarts.append(size)
                ostarts.append(i)
                kept.append(False)
                size += len(rep)
            labels[i] = label
            pos = i + 1
        if not labels:
            return
        if pos < len(original):
            pieces.append(original[pos:])
            dstarts.append(size)
            ostarts.append(pos)
            kept.append(True)
        self.text = "".join(pieces)
        self._dstarts = dstarts
        self._ostarts = ostarts
        self._kept = kept
        self._labels = labels
        self.identity = False

    def _source(self, k: int) -> int:
        """The original index of decoded[k] (``k`` as a list index: negative from the end)."""
        if k < 0:
            k += len(self.text)
        if not 0 <= k < len(self.text):
            raise IndexError(k)
        p = bisect_right(self._dstarts, k) - 1
        return self._ostarts[p] + (k - self._dstarts[p]) if self._kept[p] else self._ostarts[p]

    def span(self, a: int, b: int) -> tuple[int, int]:
        """The original span of decoded[a:b] (dropped characters between kept ones included)."""
        if self.identity:
            return a, b
        if b <= a:
            s = self._source(a) if a < len(self.text) else len(self.original)
            return s, s
        start = self._source(a)
        end = self._source(b - 1) + 1
        # a dropped character right after the last kept one (a keycap, a variation selector) belongs to it
        while end < len(self.original) and self._labels.get(end) in ("keycap", "invisible"):
            end += 1
        return start, end

    def labels(self, start: int, end: int) -> list[str]:
        """Disguise labels of the original characters in [start, end)."""
        if self.identity:
            return []
        return sorted({v for k, v in self._labels.items() if start <= k < end})


# --------------------------------------------------------------------------- defanged view

# Each rule: pattern -> replacement. Applied in one alternation pass, left to right.
_DEFANG_RULES: list[tuple[str, str]] = [
    # hxxp://, hXXps[:]//, h**p://
    (r"\bh(?:xx|\*\*)p(?=s?(?:\[?:\]?//|\[://\]))", "http"),
    (r"\[:\]//|\[://\]|\[:/\]/", "://"),
    (r"\s*[\[\(\{<]\s*(?:\.|dot|punto|tuldok|ponto|point|punkt)\s*[\]\)\}>]\s*", "."),
    (r"\s*[\[\(\{<]\s*(?:@|at|chiocciola|arroba|arobase)\s*[\]\)\}>]\s*", "@"),
    (r"\\\.", "."),  # example\.com
]
# the look-ahead names every rule's first character (h, a bracket, a backslash, a space): the engine
# tries the alternation only there (the same matches, about twice as fast)
_DEFANG_RE = re.compile(r"(?=[h\[\(\{<\\\s])(?:" + "|".join(f"({p})" for p, _ in _DEFANG_RULES) + ")", re.IGNORECASE)
_DEFANG_REPL = [r for _, r in _DEFANG_RULES]
# what every defang rule needs: a bracket of [ { <, "(" before a dot/at word, "\.", or hxxp
_DEFANG_GATE = re.compile(
    r"[\[\{<]|\(\s*(?:[.@]|dot|punto|tuldok|ponto|point|punkt|at|chiocciola|arroba|arobase)\s*\)|\\\.|h(?:xx|\*\*)p",
    re.IGNORECASE,
)


def _may_be_defanged(s: str) -> bool:
    """False when :data:`_DEFANG_GATE` cannot match: each of its branches needs one of ``[ { < ( \\``,
    ``**`` or ``xx`` in any case. (Speed: a few substring tests in C spare most texts the regex.)"""
    return "[" in s or "{" in s or "<" in s or "(" in s or "\\" in s or "**" in s or "xx" in s.lower()


class View:
    """A rewritten copy of a text plus, for every character of it, the original span it came from.

    ``span(a, b)`` maps a half-open range of the view back to the original text.
    """

    __slots__ = ("text", "_starts", "_ends", "identity", "defanged_at")

    def __init__(self, original: str) -> None:
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        defanged: list[int] = []
        pos = 0
        self.text = original
        self.identity = True  # nothing was rewritten: spans map to themselves
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.defanged_at: tuple[int, ...] = ()
        if not _may_be_defanged(original) or not _DEFANG_GATE.search(original):
            return
        for m in _DEFANG_RE.finditer(original):
            a, b = m.span()
            if a > pos:
                pieces.append(original[pos:a])
                starts.extend(range(pos, a))
                ends.extend(range(pos + 1, a + 1))
            assert m.lastindex is not None  # every alternative of the pattern is a group
            repl = _DEFANG_REPL[m.lastindex - 1]
            defanged.append(len(starts))
            if repl == "http":
                # keep the 's' etc. that follow; map each char of "http" onto the 4 chars of hxxp
                pieces.append(repl)
                starts.extend(range(a, a + 4))
                ends.extend(range(a + 1, a + 5))
            else:
                pieces.append(repl)
                for _ in repl:
                    starts.append(a)
                    ends.append(b)
            pos = b
        if not starts:
            return
        if pos < len(original):
            pieces.append(original[pos:])
            starts.extend(range(pos, len(original)))
            ends.extend(range(pos + 1, len(original) + 1))
        self.text = "".join(pieces)
        self._starts = starts
        self._ends = ends
        self.identity = False
        self.defanged_at = tuple(defanged)

    def span(self, a: int, b: int) -> tuple[int, int]:
        if self.identity:
            return a, b
        if b <= a:
            s = self._starts[a] if a < len(self._starts) else (self._ends[-1] if self._ends else 0)
            return s, s
        return self._starts[a], self._ends[b - 1]

    def was_defanged(self, a: int, b: int) -> bool:
        """True when any character of view[a:b] came from a defanging rewrite."""
        k = bisect_left(self.defanged_at, a)
        return k < len(self.defanged_at) and self.defanged_at[k] < b


# --------------------------------------------------------------------------- cues

# Platform cue words. The nearest cue before an ambiguous value (an ``@name``, a phone) decides which
# platform it belongs to. Platforms that are not tipline kinds are listed so they can *win* the
# arbitration and stop an Instagram handle from being read as a Telegram one.
# Generated from platforms.toml: one group per platform, named by its entity kind or its id.
_CUE_WORDS = cue_alternatives()
_CUE_FIRST = "".join(sorted({w[0] for words in _CUE_WORDS.values() for w in words.split("|")}))
# the look-ahead on the first letter lets the engine skip most positions quickly
# A platform name inside a host or path ("wa.me/...", "discord.gg/...", "x/telegram") is not a cue.
CUE_RE = re.compile(
    rf"(?<![./@])\b(?=[{_CUE_FIRST}])(?:"
    + "|".join(rf"(?P<{name}>(?:{words})\b)" for name, words in _CUE_WORDS.items())
    + r")(?!\.[a-z])",
    re.IGNORECASE,
)


def _cue_first_words() -> frozenset[str]:
    from .platforms import platforms

    out = set()
    for p in platforms().values():
        for a in list(p.aliases) + list(p.cues):
            if a not in p.weak:
                out.add(re.split(r"[^a-z]+", a.lower())[0] or a.lower())
    return frozenset(out)


_LETTERS_RE = re.compile(r"[a-z]+")
_LETTER_WORDS_RE = re.compile(r"[^\W\d_]+")


_ASCII_LETTERS_RE = re.compile(r"[A-Za-z]+")


@lru_cache(maxsize=4)
def lower_of(text: str) -> str:
    """``text.lower()``. Speed only: the gates, the cue words and the phone scanner all need the lower-cased
    text; this computes it once per text, and hands out the same string, so that :func:`letter_words`
    finds it in its cache at once."""
    return text.lower()


@lru_cache(maxsize=4)
def letter_words(low: str) -> tuple[str, ...]:
    """The words (runs of letters of any script) of a lower-cased text. The cue gate of :class:`Cues`
    (for an ASCII text), the gates of :func:`tipline.extract.extract` and the phone scanner (is there a
    number word? which country words?) need them, for the same text: one regex pass serves them all."""
    # (speed: in an ASCII text the letters are A-Z a-z, a plain class the engine tests faster than the
    # Unicode one; the same words)
    return tuple((_ASCII_LETTERS_RE if low.isascii() else _LETTER_WORDS_RE).findall(low))


_CUE_FIRST_WORDS = _cue_first_words()
# each cue first word (letters only) where no word character stands before it: the literal first, so
# that the engine skips to it in C
_CUE_WORD_START_RES = {w: re.compile(rf"{re.escape(w)}(?<!\w{re.escape(w)})") for w in _CUE_FIRST_WORDS}


class Cues:
    """Platform cue words of a text, (start, end, platform) in order, with nearest-cue lookup."""

    __slots__ = ("items", "_ends", "_starts")

    def __init__(self, text: str, low: str | None = None) -> None:
        # gate: a set intersection of the text's words with the cue words' first words (in C) spares
        # the cue regex the texts that name no platform
        if low is None:  # ``low``: text.lower(), when the caller has it already
            low = text.lower()
        # the [a-z]+ runs of an ASCII text are its letter words (shared with the phone scanner and the gates)
        words = letter_words(low)
        # (where every letter word is a-z, those are the [a-z]+ runs as well: no second regex pass)
        present = _CUE_FIRST_WORDS.intersection(
            words if low.isascii() or "".join(words).isascii() else _LETTERS_RE.findall(low)
        )
        self.items: list[tuple[int, int, str]] = []
        if present:
            # the cue regex is tried only where a cue word starts (str.find, in C), not at every position
            starts: set[int] = set()
            if len(low) == len(text):
                # (speed: where lower-casing left every character in place, each cue word where it starts
                # a word, found by one literal scan in C: the same positions as the loop below, as
                # lower-casing never makes a word character of a non-word one or the reverse, which was
                # checked for every code point)
                for w in present:
                    starts.update(m.start() for m in _CUE_WORD_START_RES[w].finditer(low))
            else:
                for w in present:
                    i = low.find(w)
                    while i >= 0:
                        # (speed: CUE_RE begins with \b, so it cannot match right after a letter, digit or
                        # "_"; a short cue word such as "e" or "x" is found inside most words of a text)
                        prev = text[i - 1 : i] if i else ""
                        if not (prev.isalnum() or prev == "_"):
                            starts.add(i)
                        i = low.find(w, i + 1)
            last = -1
            for i in sorted(starts):
                if i < last:
                    continue
                m = CUE_RE.match(text, i)
                if m:
                    self.items.append((m.start(), m.end(), m.lastgroup or ""))
                    last = m.end()
        self._ends = [ce for _, ce, _ in self.items]
        self._starts = [cs for cs, _, _ in self.items]

    def nearest(
        self, start: int, end: int, before: int = 40, after: int = 20, skip: frozenset[int] | set[int] = frozenset()
    ) -> str | None:
        """Platform of the cue closest to text[start:end]: ending within ``before`` chars before it
        (preferred) or starting within ``after`` chars after it (counted double). Cues starting at a
        position in ``skip`` (they already name a handle of their own) are not used after the value."""
        best: tuple[int, str] | None = None
        k = bisect_right(self._ends, start) - 1
        if k >= 0 and start - self._ends[k] <= before:
            best = (start - self._ends[k], self.items[k][2])
        k = bisect_left(self._starts, end)
        if k < len(self.items) and self._starts[k] - end <= after and self._starts[k] not in skip:
            d = (self._starts[k] - end) * 2
            if best is None or d < best[0]:
                best = (d, self.items[k][2])
        return best[1] if best else None
