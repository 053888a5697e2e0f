"""Triage: scoring rules as data, an explainable score, a priority from P1 (a child in imminent danger)
to P4, and the queue."""

from tipline.triage.rules import Rule, RuleSet, Scored, ScoreInput, load_rules

__all__ = ["Rule", "RuleSet", "ScoreInput", "Scored", "load_rules"]
