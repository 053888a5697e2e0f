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
    # tags the sender put on the report (CyberTipline reportAnnotations: "sextortion", ...) and on its
    # files (fileAnnotations: "liveStreaming", "infant", ...), by their schema names
    annotations: list[str] = field(default_factory=list)
    file_annotations: list[str] = field(default_factory=list)
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
    #: the signals of the rules that fired ("child", "now"); P1 needs those ``[priority] p1_needs`` names
    signals: frozenset[str] = frozenset()


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
    signals: tuple[str, ...] = ()  # what the rule's firing says ("child", "now"), read by [priority] p1_needs
    min_priority: int | None = None  # the report is never more urgent than this when the rule fires

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


def _annotated(found: list[str], wanted: list[str]) -> str | None:
    hits = [a for a in wanted if a in found]
    return ", ".join(hits) if hits else None


def _report_annotation(rule: Rule, x: ScoreInput) -> str | None:
    return _annotated(x.annotations, rule.params["annotations"])


def _file_annotation(rule: Rule, x: ScoreInput) -> str | None:
    return _annotated(x.file_annotations, rule.params["annotations"])


CONDITIONS: dict[str, Condition] = {
    "live": _live,
    "escalated": _escalated,
    "category": _category,
    "source": _source,
    "victim_age_below": _victim_age_below,
    "text_pattern": _text_pattern,
    "seen_entities": _seen_entities,
    "report_annotation": _report_annotation,
    "file_annotation": _file_annotation,
}
_REQUIRED = {
    "report_annotation": ["annotations"],
    "file_annotation": ["annotations"],
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
    #: the signals a report needs (each from some rule that fired) to be P1; without them it stays at P2
    p1_needs: tuple[str, ...] = ()

    def score(self, x: ScoreInput) -> Scored:
        reasons: list[Reason] = []
        caps: list[int] = []
        floors: list[int] = []
        signals: set[str] = set()
        total = 0.0
        for rule in self.rules:
            fired, detail = rule.check(x)
            if fired:
                total += rule.points
                reasons.append(Reason(rule.id, rule.description, rule.points, detail))
                signals.update(rule.signals)
                if rule.max_priority:
                    caps.append(rule.max_priority)
                if rule.min_priority:
                    floors.append(rule.min_priority)
        p1, p2, p3 = self.thresholds
        ladder = 1 if total >= p1 else 2 if total >= p2 else 3 if total >= p3 else 4
        priority = min([ladder, *caps])
        if priority == 1 and not set(self.p1_needs) <= signals:
            priority = 2
        priority = max([priority, *floors])
        reasons.sort(key=lambda r: -r.points)
        return Scored(priority=priority, score=total, reasons=reasons, signals=frozenset(signals))


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
    rules = [
        _parse_rule(raw, f"{source}: rule #{i} ({raw.get('id', 'no id')})", known)
        for i, raw in enumerate(data.get("rule", []), start=1)
    ]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RulesError(f"{source}: rule {rule.id}: the id is used twice")
        seen.add(rule.id)
    needs = _strings(pr.get("p1_needs", []), f"{source}: [priority] p1_needs")
    given = {sig for rule in rules for sig in rule.signals}
    if set(needs) - given:
        missing = ", ".join(sorted(set(needs) - given))
        raise RulesError(
            f"{source}: [priority] p1_needs names {missing}, but no rule gives that signal (signals = [...])"
        )
    return RuleSet(rules, thresholds, source, tuple(needs))


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RulesError(f'{where} must be a list of names, like ["child", "now"]')
    return value


def _parse_rule(raw: dict[str, Any], where: str, known: Mapping[str, RuleKind]) -> Rule:
    for key in ("id", "description", "kind", "points"):
        if key not in raw:
            raise RulesError(f"{where}: missing '{key}'")
    if raw["kind"] not in known:
        raise RulesError(f"{where}: unknown kind '{raw['kind']}'; known: {', '.join(sorted(known))}")
    kind = known[raw["kind"]]
    for key in kind.required:
        if key not in raw:
            raise RulesError(f"{where}: kind '{raw['kind']}' needs '{key}'")
    mp, least = raw.get("max_priority"), raw.get("min_priority")
    for key, value in (("max_priority", mp), ("min_priority", least)):
        if value is not None and value not in (1, 2, 3, 4):
            raise RulesError(f"{where}: {key} must be 1, 2, 3 or 4")
    signals = tuple(_strings(raw.get("signals", []), f"{where}: signals"))
    fixed = ("id", "description", "kind", "points", "max_priority", "min_priority", "signals")
    params = {k: v for k, v in raw.items() if k not in fixed}
    compiled = []
    for pat in params.get("patterns", []):
        try:
            compiled.append(re.compile(pat, re.I))
        except re.error as e:
            raise RulesError(f"{where}: bad pattern {pat!r}: {e}") from e
    return Rule(
        raw["id"],
        raw["description"],
        raw["kind"],
        float(raw["points"]),
        mp,
        params,
        compiled,
        kind.condition,
        signals,
        least,
    )


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float, kinds: tuple[tuple[str, RuleKind], ...]) -> RuleSet:
    return parse_rules(Path(path).read_text(encoding="utf-8"), source=path, kinds=dict(kinds))


def load_rules(path: Path | None = None, *, kinds: Mapping[str, RuleKind] | None = None) -> RuleSet:
    """The rules in ``path`` (re-read when the file changes), or the defaults shipped with tipline, checked
    against the core kinds plus ``kinds`` (``tipline.capabilities.rule_kinds()``)."""
    p = path if path is not None else DEFAULT_RULES
    return _load_cached(str(p), p.stat().st_mtime, tuple(sorted((kinds or {}).items(), key=lambda kv: kv[0])))
