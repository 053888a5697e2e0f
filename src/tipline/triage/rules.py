"""Rules as data: loaded from TOML, checked on load, evaluated into a score with reasons.

The rule kinds are a closed set of conditions (no code in the rules file: hotlines edit it, and it
must not be able to run anything). The core kinds are in ``CONDITIONS``; a capability adds its own
(``Capability.rule_kinds``, reading the facts it put in ``ScoreInput.facts``), and the rules are parsed
against the core kinds plus those given to :func:`parse_rules` / :func:`load_rules`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_RULES = Path(__file__).with_name("default_rules.toml")

# Ages stated in text: "12 years old", "12-year-old", "12 yo", "12 anni", "12 taong gulang", "age 12"
_AGE_PATTERNS = [
    re.compile(r"\b(\d{1,2})\s*(?:-\s*)?(?:years?|yrs?)(?:\s*-?\s*old)?\b", re.I),
    re.compile(r"\b(\d{1,2})\s*y\.?o\.?\b", re.I),
    re.compile(r"\b(?:age|aged|età|edad)\s*:?\s*(\d{1,2})\b", re.I),
    re.compile(r"\b(\d{1,2})\s*anni\b", re.I),
    re.compile(r"\b(\d{1,2})\s*(?:taong\s*gulang|taon)\b", re.I),
]


def ages_in_text(text: str) -> list[int]:
    return [int(m.group(1)) for p in _AGE_PATTERNS for m in p.finditer(text)]


@dataclass
class ScoreInput:
    """What the rules may look at. Built by the analysis step from the stored report."""

    text: str
    language: str | None
    category: str
    source: str
    is_live: bool
    escalate: bool
    victim_ages: list[int]
    entity_report_counts: dict[str, int] = field(default_factory=dict)  # "kind:value" -> other reports
    # what the capabilities' before-score hooks add, by fact name ("media.hash_match_labels", ...)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reason:
    rule: str
    description: str
    points: float
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "description": self.description, "points": self.points, "detail": self.detail}


@dataclass
class Scored:
    priority: int
    score: float
    reasons: list[Reason]


Condition = Callable[["Rule", ScoreInput], str | None | bool]


@dataclass(frozen=True)
class RuleKind:
    """A rule kind: its condition, the parameters a rule of this kind must give, the facts it reads."""

    condition: Condition
    required: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()


@dataclass
class Rule:
    id: str
    description: str
    kind: str
    points: float
    max_priority: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    compiled: list[re.Pattern[str]] = field(default_factory=list)
    condition: Condition | None = None  # set by parse_rules; a core kind's when left empty

    def check(self, x: ScoreInput) -> tuple[bool, str | None]:
        result = (self.condition or CONDITIONS[self.kind])(self, x)
        if isinstance(result, str):
            return True, result
        return bool(result), None


def _live(rule: Rule, x: ScoreInput) -> bool:
    return x.is_live


def _escalated(rule: Rule, x: ScoreInput) -> bool:
    return x.escalate


def _category(rule: Rule, x: ScoreInput) -> bool:
    return x.category in rule.params["categories"]


def _source(rule: Rule, x: ScoreInput) -> bool:
    return x.source in rule.params["sources"]


def _victim_age_below(rule: Rule, x: ScoreInput) -> str | None:
    limit = int(rule.params["age"])
    ages = [a for a in x.victim_ages + ages_in_text(x.text) if a < limit]
    return f"stated age {min(ages)}" if ages else None


def _text_pattern(rule: Rule, x: ScoreInput) -> str | None:
    langs = rule.params.get("languages")
    if langs and x.language and x.language not in langs:
        return None
    for p in rule.compiled:
        m = p.search(x.text)
        if m:
            return f"“{m.group(0)}”"
    return None


def _seen_entities(rule: Rule, x: ScoreInput) -> str | None:
    n = int(rule.params.get("min_reports", 1))
    # most-shared first; among equals, identifiers a person controls before infrastructure (ips, domains)
    hits = sorted(
        (k for k, c in x.entity_report_counts.items() if c >= n),
        key=lambda k: (-x.entity_report_counts[k], k.split(":", 1)[0] in _WEAK_KINDS, k),
    )
    if not hits:
        return None
    shown = ", ".join(f"{k} ({x.entity_report_counts[k]})" for k in hits[:3])
    return shown + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")


_WEAK_KINDS = {"domain", "url", "ipv4", "ipv6", "account"}


CONDITIONS: dict[str, Condition] = {
    "live": _live,
    "escalated": _escalated,
    "category": _category,
    "source": _source,
    "victim_age_below": _victim_age_below,
    "text_pattern": _text_pattern,
    "seen_entities": _seen_entities,
}
_REQUIRED = {
    "category": ["categories"],
    "source": ["sources"],
    "victim_age_below": ["age"],
    "text_pattern": ["patterns"],
}


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the rule and the problem."""


@dataclass
class RuleSet:
    rules: list[Rule]
    thresholds: tuple[float, float, float] = (120, 70, 30)
    source: str = "defaults"

    def score(self, x: ScoreInput) -> Scored:
        reasons: list[Reason] = []
        caps: list[int] = []
        total = 0.0
        for rule in self.rules:
            fired, detail = rule.check(x)
            if fired:
                total += rule.points
                reasons.append(Reason(rule.id, rule.description, rule.points, detail))
                if rule.max_priority:
                    caps.append(rule.max_priority)
        p1, p2, p3 = self.thresholds
        ladder = 1 if total >= p1 else 2 if total >= p2 else 3 if total >= p3 else 4
        reasons.sort(key=lambda r: -r.points)
        return Scored(priority=min([ladder, *caps]), score=total, reasons=reasons)


def parse_rules(text: str, *, source: str = "rules", kinds: Mapping[str, RuleKind] | None = None) -> RuleSet:
    """The rules in ``text``, checked against the core kinds plus ``kinds`` (the capabilities' kinds)."""
    known: dict[str, RuleKind] = {k: RuleKind(c, tuple(_REQUIRED.get(k, ()))) for k, c in CONDITIONS.items()}
    known.update(kinds or {})
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"{source}: not valid TOML: {e}") from e
    pr = data.get("priority", {})
    thresholds = (float(pr.get("p1", 120)), float(pr.get("p2", 70)), float(pr.get("p3", 30)))
    if not thresholds[0] >= thresholds[1] >= thresholds[2]:
        raise RulesError(f"{source}: [priority] thresholds must satisfy p1 >= p2 >= p3")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("rule", []), start=1):
        where = f"{source}: rule #{i} ({raw.get('id', 'no id')})"
        for key in ("id", "description", "kind", "points"):
            if key not in raw:
                raise RulesError(f"{where}: missing '{key}'")
        if raw["id"] in seen:
            raise RulesError(f"{where}: the id is used twice")
        seen.add(raw["id"])
        if raw["kind"] not in known:
            raise RulesError(f"{where}: unknown kind '{raw['kind']}'; known: {', '.join(sorted(known))}")
        kind = known[raw["kind"]]
        for key in kind.required:
            if key not in raw:
                raise RulesError(f"{where}: kind '{raw['kind']}' needs '{key}'")
        mp = raw.get("max_priority")
        if mp is not None and mp not in (1, 2, 3, 4):
            raise RulesError(f"{where}: max_priority must be 1, 2, 3 or 4")
        params = {k: v for k, v in raw.items() if k not in ("id", "description", "kind", "points", "max_priority")}
        compiled = []
        for pat in params.get("patterns", []):
            try:
                compiled.append(re.compile(pat, re.I))
            except re.error as e:
                raise RulesError(f"{where}: bad pattern {pat!r}: {e}") from e
        rules.append(
            Rule(raw["id"], raw["description"], raw["kind"], float(raw["points"]), mp, params, compiled, kind.condition)
        )
    return RuleSet(rules, thresholds, source)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float, kinds: tuple[tuple[str, RuleKind], ...]) -> RuleSet:
    return parse_rules(Path(path).read_text(encoding="utf-8"), source=path, kinds=dict(kinds))


def load_rules(path: Path | None = None, *, kinds: Mapping[str, RuleKind] | None = None) -> RuleSet:
    """The rules in ``path`` (re-read when the file changes), or the defaults shipped with tipline, checked
    against the core kinds plus ``kinds`` (``tipline.capabilities.rule_kinds()``)."""
    p = path if path is not None else DEFAULT_RULES
    return _load_cached(str(p), p.stat().st_mtime, tuple(sorted((kinds or {}).items(), key=lambda kv: kv[0])))
