"""The template behind a cluster: the text its ads share, with slots where they differ and the values each
slot took (the way InfoShield shows a template; written from its paper's description, not its code).

The members' words are aligned to one reference member (the first) by their longest common subsequence
(``rapidfuzz.distance.LCSseq``, about 100x faster than :class:`difflib.SequenceMatcher` here); a
reference word that most members also carry at the aligned place is template text, a run of other
words is a slot, and each member's words between the slot's two template neighbours are that member's
value. Sentences that are only the site's boilerplate (learned, see
:class:`tipline.ads.cluster.CommonText`) are left out, so a footer does not show up as a slot.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import LCSseq

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
MAX_ALIGN = 30  # members aligned for the template; larger clusters use their first 30 (in posting order)


@dataclass
class Slot:
    index: int
    values: Counter[str] = field(default_factory=Counter)

    def top(self, n: int = 8) -> list[tuple[str, int]]:
        return self.values.most_common(n)


@dataclass
class Template:
    parts: list[str | Slot]  # template text and slots, in order

    @property
    def slots(self) -> list[Slot]:
        return [p for p in self.parts if isinstance(p, Slot)]

    def text(self) -> str:
        """The template as one string, slots written ``{1}``, ``{2}``, ..."""
        return " ".join(p if isinstance(p, str) else "{" + str(p.index) + "}" for p in self.parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text(),
            "slots": [{"slot": s.index, "values": dict(s.top(20))} for s in self.slots],
        }


def strip_boilerplate(text: str, is_boilerplate: Callable[[str], bool]) -> str:
    return " ".join(m.group().strip() for m in _SENTENCE.finditer(text) if not is_boilerplate(m.group()))


def build(texts: Sequence[str], is_boilerplate: Callable[[str], bool] | None = None) -> Template:
    """The template of ``texts`` (one per member, the reference first)."""
    if is_boilerplate is not None:
        texts = [strip_boilerplate(t, is_boilerplate) for t in texts]
    toks = [t.split() for t in texts[:MAX_ALIGN]]
    if not toks:
        return Template([])
    ref = toks[0]
    if len(toks) == 1:
        return Template([" ".join(ref)] if ref else [])
    maps: list[dict[int, int]] = []  # per member: reference position -> member position
    hits = [0] * len(ref)
    for mem in toks[1:]:
        m: dict[int, int] = {}
        for a, b, size in LCSseq.opcodes(ref, mem).as_matching_blocks():
            for k in range(size):
                m[a + k] = b + k
                hits[a + k] += 1
        maps.append(m)
    need = (len(toks) - 1) // 2 + 1  # a strict majority of the other members
    const = [h >= need for h in hits]
    parts: list[str | Slot] = []
    run: list[str] = []
    i = 0
    n_slot = 0
    while i < len(ref):
        if const[i]:
            run.append(ref[i])
            i += 1
            continue
        if run:
            parts.append(" ".join(run))
            run = []
        j = i
        while j < len(ref) and not const[j]:
            j += 1
        n_slot += 1
        slot = Slot(n_slot)
        slot.values[" ".join(ref[i:j])] += 1
        for mem, m in zip(toks[1:], maps, strict=True):
            lo = m.get(i - 1, -1) + 1 if i > 0 else 0
            hi = m.get(j, len(mem)) if j < len(ref) else len(mem)
            if (i == 0 or (i - 1) in m) and (j == len(ref) or j in m) and lo <= hi:
                slot.values[" ".join(mem[lo:hi])] += 1
        parts.append(slot)
        i = j
    if run:
        parts.append(" ".join(run))
    return Template(parts)
