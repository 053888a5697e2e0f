"""The screening rules file: one published indicator per rule (id, kind, threshold, source), and the
combinations an alert needs. Loaded and checked here; turned into Ibis expressions by
:mod:`tipline.finance.screen`.

The rule kinds are a closed set (:data:`KINDS`), each reading only amounts, times, the beneficiary's
country, channels, references and who pays whom. None reads a person's age, sex or nationality, and a
rules file cannot make one do so: unknown kinds and unknown keys are refused.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_RULES = Path(__file__).with_name("default_rules.toml")

#: kind -> the parameters it takes (besides id, kind, threshold, weight, label, source, window_days).
KINDS: dict[str, tuple[str, ...]] = {
    "count_high_risk_country": (),
    "count_risky_channel": (),
    "share_amount_between": ("min_eur", "max_eur", "min_payments"),
    "count_small_frequent": ("max_interval_days", "max_eur"),
    "escalation": ("min_payments",),
    "distinct_unrelated_beneficiaries": (),
    "max_shared_beneficiary": ("max_senders",),
    "count_reference_words": ("words",),
    "share_local_hours": ("hours", "min_payments"),
    "share_round_amounts": ("unit", "min_payments"),
}
_COMMON = ("id", "kind", "threshold", "weight", "label", "source", "window_days")
#: Words no rule may name: these are never grounds for an alert.
FORBIDDEN = ("age", "sex", "gender", "nationality", "birth", "ethnic", "religion", "sender_country")


class RulesError(ValueError):
    """The rules file is wrong; the message says where and how to fix it."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    threshold: float
    weight: float
    label: str
    source: str
    window_days: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Combination:
    id: str
    label: str
    source: str
    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    of: tuple[str, ...] = ()
    min_of: int = 0


@dataclass(frozen=True)
class RuleSet:
    window_days: int
    high_risk_countries: tuple[str, ...]
    risky_channels: tuple[str, ...]
    eur_per_unit: dict[str, float]
    rules: tuple[Rule, ...]
    combinations: tuple[Combination, ...]
    path: str = field(default="")

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def alert(self, fired: set[str]) -> list[str]:
        """The combinations the fired rules satisfy (empty: no alert)."""
        out = []
        for c in self.combinations:
            if not set(c.all) <= fired:
                continue
            if c.any and not (set(c.any) & fired):
                continue
            if len(set(c.of) & fired) < c.min_of:
                continue
            out.append(c.id)
        return out


def load_rules(path: Path | None = None) -> RuleSet:
    p = path or DEFAULT_RULES
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"{p}: no such rules file (`tipline finance rules-defaults` prints the defaults)") from None
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"{p}: not valid TOML ({e})") from None
    return parse_rules(data, str(p))


def _check_words(where: str, value: object) -> None:
    text = str(value).lower()
    for w in FORBIDDEN:
        if w in text.replace("_", " ").split() or w == text:
            raise RulesError(f"{where}: {value!r} names {w!r}; no rule may read a person's age, sex or nationality")


def parse_rules(data: dict[str, Any], where: str = "rules") -> RuleSet:
    screen = data.get("screen", {})
    try:
        window = int(screen.get("window_days", 90))
        hr = tuple(str(c).upper() for c in screen.get("high_risk_countries", []))
        ch = tuple(str(c).lower() for c in screen.get("risky_channels", []))
        fx = {str(k).upper(): float(v) for k, v in screen.get("eur_per_unit", {"EUR": 1.0}).items()}
    except (TypeError, ValueError) as e:
        raise RulesError(f"{where}: [screen] has a wrong value ({e})") from None
    if window <= 0:
        raise RulesError(f"{where}: [screen] window_days must be a positive number of days")
    rules: list[Rule] = []
    for i, r in enumerate(data.get("rule", []), 1):
        at = f"{where}: rule {i} ({r.get('id', '?')})"
        kind = r.get("kind")
        if kind not in KINDS:
            raise RulesError(f"{at}: unknown kind {kind!r}; the kinds are {', '.join(KINDS)}")
        unknown = set(r) - set(_COMMON) - set(KINDS[kind])
        if unknown:
            takes = ", ".join(KINDS[kind]) or "none"
            raise RulesError(f"{at}: unknown keys {', '.join(sorted(unknown))} for kind {kind!r} (it takes {takes})")
        if not r.get("id") or not r.get("source"):
            raise RulesError(f"{at}: every rule needs an id and the source of its indicator")
        for k in r:
            _check_words(f"{at} {k}", k)
        try:
            threshold = float(r["threshold"])
        except (KeyError, TypeError, ValueError):
            raise RulesError(f"{at}: threshold must be a number") from None
        rules.append(
            Rule(
                id=str(r["id"]),
                kind=kind,
                threshold=threshold,
                weight=float(r.get("weight", 1)),
                label=str(r.get("label", r["id"])),
                source=str(r["source"]),
                window_days=int(r.get("window_days", window)),
                params={k: r[k] for k in KINDS[kind] if k in r},
            )
        )
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise RulesError(f"{where}: rule ids must be unique")
    combos: list[Combination] = []
    for i, c in enumerate(data.get("combination", []), 1):
        at = f"{where}: combination {i} ({c.get('id', '?')})"
        named = [*c.get("all", []), *c.get("any", []), *c.get("of", [])]
        missing = [n for n in named if n not in ids]
        if missing:
            raise RulesError(f"{at}: names rules that do not exist: {', '.join(missing)}")
        n_rules = len(set(c.get("all", []))) + (1 if c.get("any") else 0) + int(c.get("min_of", 0))
        if n_rules < 2:
            raise RulesError(
                f"{at}: an alert needs at least two indicators together (the sources agree no single one is enough)"
            )
        combos.append(
            Combination(
                id=str(c["id"]),
                label=str(c.get("label", c["id"])),
                source=str(c.get("source", "")),
                all=tuple(c.get("all", [])),
                any=tuple(c.get("any", [])),
                of=tuple(c.get("of", [])),
                min_of=int(c.get("min_of", 0)),
            )
        )
    if not combos:
        raise RulesError(f"{where}: at least one [[combination]] is needed, or nothing can ever alert")
    return RuleSet(window, hr, ch, fx, tuple(rules), tuple(combos), where)
