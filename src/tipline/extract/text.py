"""Text plumbing shared by the extractors: the result collector with its span mask, the
"defanged" view of a text with an offset map back to the original, and cue-word helpers."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

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
)
_KIND_ORDER = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True)
class Found:
    kind: str  # one of KINDS
    value: str  # the ONE normalised form of this kind
    start: int  # span in the input text: text[start:end] == raw
    end: int
    confidence: float  # 0..1
    raw: str  # text[start:end]


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

    def add(self, kind: str, value: str, start: int, end: int, confidence: float, *, mask: bool = True) -> None:
        key = (kind, value, start, end)
        if key not in self._seen:
            self._seen.add(key)
            conf = round(min(1.0, max(0.0, confidence)), 3)
            self.found.append(Found(kind, value, start, end, conf, self.text[start:end]))
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


# --------------------------------------------------------------------------- defanged view

# Each rule: pattern -> replacement. Applied in one alternation pass, left to right.
_DEFANG_RULES: list[tuple[str, str]] = [
    # hxxp://, hXXps[:]//, h**p://
    (r"\bh(?:xx|\*\*)p(?=s?(?:\[?:\]?//|\[://\]))", "http"),
    (r"\[:\]//|\[://\]|\[:/\]/", "://"),
    (r"\s*[\[\(\{<]\s*(?:\.|dot|punto|tuldok)\s*[\]\)\}>]\s*", "."),
    (r"\s*[\[\(\{<]\s*(?:@|at|chiocciola)\s*[\]\)\}>]\s*", "@"),
]
_DEFANG_RE = re.compile("|".join(f"({p})" for p, _ in _DEFANG_RULES), re.IGNORECASE)
_DEFANG_REPL = [r for _, r in _DEFANG_RULES]


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
        for m in _DEFANG_RE.finditer(original):
            a, b = m.span()
            if a > pos:
                pieces.append(original[pos:a])
                starts.extend(range(pos, a))
                ends.extend(range(pos + 1, a + 1))
            repl = _DEFANG_REPL[m.lastindex - 1]
            if repl == "http":
                # keep the 's' etc. that follow; map each char of "http" onto the 4 chars of hxxp
                pieces.append(repl)
                starts.extend(range(a, a + 4))
                ends.extend(range(a + 1, a + 5))
            else:
                pieces.append(repl)
                defanged.append(len(starts))
                for _ in repl:
                    starts.append(a)
                    ends.append(b)
            pos = b
        if not starts:
            self.text = original
            self.identity = True
            self._starts = self._ends = None
            self.defanged_at = ()
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
_CUE_WORDS = {
    "telegram": r"telegram|telegrama|telegramm|telgram|telegarm|tg|tele",
    "whatsapp": r"whats\s?app|whatsap|watsapp|watsap|wapp|wa|whatsup|whatsupp",
    "skype": r"skype|skipe",
    "snapchat": r"snapchat|snap|sc|snapch",
    "kik": r"kik\s?messenger|kik",
    "discord": r"discord|dc",
    "other": (
        r"instagram|insta|ig|twitter|tiktok|tik\s?tok|facebook|fb|messenger|viber|wechat|signal"
        r"|email|e-mail|mail|threads|reddit|onlyfans|x\.com|youtube|yt"
    ),
}
_CUE_FIRST = "".join(sorted({w[0] for words in _CUE_WORDS.values() for w in words.split("|")}))
# the look-ahead on the first letter lets the engine skip most positions quickly
# A platform name inside a host or path ("wa.me/...", "discord.gg/...", "x/telegram") is not a cue.
CUE_RE = re.compile(
    rf"(?<![./@])\b(?=[{_CUE_FIRST}])(?:"
    + "|".join(rf"(?P<{name}>(?:{words})\b)" for name, words in _CUE_WORDS.items())
    + r")(?!\.[a-z])",
    re.IGNORECASE,
)


class Cues:
    """Platform cue words of a text, (start, end, platform) in order, with nearest-cue lookup."""

    __slots__ = ("items", "_ends", "_starts")

    def __init__(self, text: str) -> None:
        self.items = [(m.start(), m.end(), m.lastgroup) for m in CUE_RE.finditer(text)]
        self._ends = [ce for _, ce, _ in self.items]
        self._starts = [cs for cs, _, _ in self.items]

    def nearest(self, start: int, end: int, before: int = 40, after: int = 20) -> str | None:
        """Platform of the cue closest to text[start:end]: ending within ``before`` chars before it
        (preferred) or starting within ``after`` chars after it (counted double)."""
        best: tuple[int, str] | None = None
        k = bisect_right(self._ends, start) - 1
        if k >= 0 and start - self._ends[k] <= before:
            best = (start - self._ends[k], self.items[k][2])
        k = bisect_left(self._starts, end)
        if k < len(self.items) and self._starts[k] - end <= after:
            d = (self._starts[k] - end) * 2
            if best is None or d < best[0]:
                best = (d, self.items[k][2])
        return best[1] if best else None
