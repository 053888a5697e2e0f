"""The entity-graph capability: networks of reports linked by shared identifiers, cases, the graph view."""

from __future__ import annotations

from tipline.capability import Capability, Fact, Panel, RuleKind
from tipline.graph import cli, hooks, models, service
from tipline.graph.hooks import OPEN_CASE_IDS
from tipline.triage.rules import Rule, ScoreInput


def _open_case(rule: Rule, x: ScoreInput) -> str | None:
    """Fires when the report shares a linking identifier with an open case."""
    ids = x.facts.get(OPEN_CASE_IDS, [])
    return ", ".join(f"case {c}" for c in ids) if ids else None


GRAPH = Capability(
    name="graph",
    description="Networks (incremental, with a full-recompute twin), over-correlation guard, cases.",
    models=(models,),
    routers=("tipline.graph.web:router",),
    cli=cli.register,
    before_score=hooks.before_score,
    after_analysis=hooks.after_analysis,
    after_evidence=hooks.after_evidence,
    facts=(Fact(OPEN_CASE_IDS, "open cases that share a linking identifier with the report"),),
    rule_kinds={"open_case": RuleKind(_open_case, reads=(OPEN_CASE_IDS,))},
    report_panels=(Panel("graph/_report_panel.html", "side"),),
    # identifiers that deleted reports shared with kept ones: relink their networks
    retention=(service.forget_in,),
)
