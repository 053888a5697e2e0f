"""Analysis hooks of the entity graph (see ``tipline.intake.hooks``).

- ``before_score``: the open cases that share a linking identifier with this report go to
  ``ctx.score_input.open_case_ids`` (the ``open_case`` triage rule raises the report).
- ``after_analysis``: the report's networks are brought up to date incrementally (cost: the size of the
  networks it touches), and each open case it touches gets a feed event.

Both run inside the analysis transaction (``ctx.session``) and open no other session.
"""

from __future__ import annotations

from tipline.graph import cases, service
from tipline.graph import models as _models  # noqa: F401  (the graph tables must be mapped whenever analysis runs)
from tipline.graph.guard import load_guard
from tipline.intake.hooks import AnalysisContext

_SHARED = "graph.open_cases"


def before_score(ctx: AnalysisContext) -> None:
    guard = load_guard(ctx.session, ctx.db.settings)
    shared = cases.open_cases_sharing(ctx.session, guard, ctx.report.id, ctx.entity_ids)
    ctx.notes[_SHARED] = shared
    ctx.score_input.open_case_ids = sorted(set(ctx.score_input.open_case_ids) | set(shared))


def after_analysis(ctx: AnalysisContext) -> None:
    nid = service.on_report_analysed(
        ctx.session, ctx.db.settings, ctx.report.id, ctx.entity_ids, ctx.removed_entity_ids
    )
    ctx.notes["graph.network_id"] = nid
    shared = ctx.notes.get(_SHARED)
    if isinstance(shared, dict) and shared:
        cases.feed_in(ctx.session, ctx.report.id, shared)
