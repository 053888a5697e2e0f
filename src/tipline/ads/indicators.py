"""Indicators in ads, each graded by the research behind it and shown with its source.

The phrase lists live in data files, one per language (``indicators/en.toml``, ``it.toml``, ``tl.toml``);
the grades and sources in ``indicators/sources.toml``. Three grades:

* ``validated``: held up against ads known not to be trafficking (trustworthy or professional
  self-presentation, an obscured phone, an explicitly stated ethnicity, language suggesting youth);
* ``not_evidence``: tested and not predictive or pointing the other way (movement language, a stated age
  under 23, client-screening language). Shown as "not evidence", never as a flag;
* ``untested``: practitioner lore (emoji codes, third-person wording, one phone across cities, many
  near-identical ads). Context without weight.

Nothing here scores or escalates anything: no triage rule reads these, and an ad's indicators never
change a report's priority.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

_DIGIT = re.compile(r"\d")
_WORDS = re.compile(r"[^\W_]+")
GRADES = ("validated", "not_evidence", "untested")
LANGUAGES = ("en", "it", "tl")


@dataclass(frozen=True)
class Indicator:
    id: str
    grade: str
    label_en: str
    label_it: str
    sources: tuple[str, ...]  # full citations

    def label(self, locale: str = "en") -> str:
        return self.label_it if locale == "it" else self.label_en


@dataclass(frozen=True)
class Hit:
    indicator: Indicator
    evidence: str  # the words in the ad that matched (or what was computed)

    def to_dict(self) -> dict[str, str]:
        i = self.indicator
        return {
            "id": i.id,
            "grade": i.grade,
            "label": i.label_en,
            "evidence": self.evidence,
            "source": "; ".join(i.sources),
        }


@dataclass(frozen=True)
class Catalogue:
    indicators: dict[str, Indicator]
    phrases: tuple[tuple[str, re.Pattern[str]], ...]  # (indicator id, compiled phrase list) per language
    ages: tuple[re.Pattern[str], ...]
    # phrases as word sequences, by their first word: one pass over an ad's words finds them all (21
    # word-boundary regexes per ad cost ten times more); phrases with no word (emoji) are tested as text
    by_first: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = field(default_factory=dict)
    symbols: tuple[tuple[str, str], ...] = ()


def _read(name: str) -> dict:
    return tomllib.loads(resources.files("tipline.ads").joinpath("indicators", name).read_text("utf-8"))


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    src = _read("sources.toml")
    cites = src["sources"]
    inds: dict[str, Indicator] = {}
    phrases: list[tuple[str, re.Pattern[str]]] = []
    by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    symbols: list[tuple[str, str]] = []
    ages: list[re.Pattern[str]] = []

    def add(d: dict) -> Indicator:
        if d["grade"] not in GRADES:
            raise ValueError(f"indicator {d['id']}: grade {d['grade']!r} is not one of {GRADES}")
        ind = Indicator(d["id"], d["grade"], d["label_en"], d["label_it"], tuple(cites[s] for s in d["sources"]))
        old = inds.setdefault(ind.id, ind)
        if old.grade != ind.grade:
            raise ValueError(f"indicator {ind.id}: graded {old.grade} and {ind.grade} in different files")
        return ind

    for d in src["indicator"]:
        add(d)
    for lang in LANGUAGES:
        data = _read(f"{lang}.toml")
        ages += [re.compile(p, re.IGNORECASE) for p in data.get("age_patterns", [])]
        for d in data["indicator"]:
            ind = add(d)
            alts = sorted(data_phrases(d), key=len, reverse=True)
            pat = "|".join(re.escape(p) for p in alts)
            phrases.append((ind.id, re.compile(rf"(?<!\w)(?:{pat})(?!\w)", re.IGNORECASE)))
            for ph in alts:
                words = tuple(_WORDS.findall(ph.lower()))
                if words:
                    by_first.setdefault(words[0], []).append((words, ind.id))
                else:
                    symbols.append((ph, ind.id))
    first = {w: tuple(sorted(v, key=lambda x: -len(x[0]))) for w, v in by_first.items()}
    # one search for every language's age patterns (each has one group; the one that matched is lastindex)
    age = re.compile("|".join(f"(?:{p.pattern})" for p in ages), re.IGNORECASE) if ages else None
    return Catalogue(inds, tuple(phrases), (age,) if age else (), first, tuple(symbols))


def data_phrases(d: dict) -> list[str]:
    return [p for p in d.get("phrases", []) if p.strip()]


def read_ad(text: str, *, obscured_phone: str | None = None) -> list[Hit]:
    """The indicators one ad's text carries. ``obscured_phone``: the phone as written when the extractor
    decoded a disguise (spelled out, spaced, letters for digits)."""
    cat = catalogue()
    hits: list[Hit] = []
    seen: set[str] = set()
    words = _WORDS.findall(text.lower())
    for i, w in enumerate(words):
        for phrase, ind_id in cat.by_first.get(w, ()):
            if ind_id not in seen and tuple(words[i : i + len(phrase)]) == phrase:
                seen.add(ind_id)
                hits.append(Hit(cat.indicators[ind_id], " ".join(phrase)))
    for sym, ind_id in cat.symbols:
        if ind_id not in seen and sym in text:
            seen.add(ind_id)
            hits.append(Hit(cat.indicators[ind_id], sym))
    if obscured_phone:
        hits.append(Hit(cat.indicators["obscured_phone"], obscured_phone))
    m = cat.ages[0].search(text) if cat.ages and _DIGIT.search(text) else None
    if m and m.lastindex:
        age = int(m.group(m.lastindex))
        if 16 <= age < 23:
            hits.append(Hit(cat.indicators["stated_age_under_23"], m.group()))
    return sorted(hits, key=lambda h: (GRADES.index(h.indicator.grade), h.indicator.id))


def for_cluster(per_ad: Iterable[list[Hit]], size: int, phone_cities: dict[str, set[str]]) -> list[dict[str, object]]:
    """A cluster's indicators: how many of its ads carry each, plus the cluster-level context (many
    near-identical ads; one phone across cities)."""
    cat = catalogue()
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for hits in per_ad:
        for h in {h.indicator.id: h for h in hits}.values():
            counts[h.indicator.id] += 1
            example.setdefault(h.indicator.id, h.evidence)
    if size >= 5:
        counts["near_identical_ads"] = size
        example["near_identical_ads"] = f"{size} ads"
    multi = {p: c for p, c in phone_cities.items() if len(c) > 1}
    if multi:
        counts["phone_across_cities"] = len(multi)
        p, c = sorted(multi.items())[0]
        example["phone_across_cities"] = f"{p}: {', '.join(sorted(c))}"
    out = []
    for ind_id, n in counts.items():
        ind = cat.indicators[ind_id]
        out.append(
            {
                "id": ind_id,
                "grade": ind.grade,
                "label": ind.label_en,
                "ads": n,
                "evidence": example[ind_id],
                "source": "; ".join(ind.sources),
            }
        )
    return sorted(out, key=lambda d: (GRADES.index(str(d["grade"])), str(d["id"])))
