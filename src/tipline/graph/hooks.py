"""Analysis hooks of the entity graph (see ``tipline.capability.AnalysisContext``).

- ``before_score``: the open cases that share a linking identifier with this report go to the fact
  ``graph.open_case_ids`` (the ``open_case`` triage rule raises the report).
- ``after_analysis``: the report's networks are brought up to date incrementally (cost: the size of the
  networks it touches), and each open case it touches gets a feed event.
- ``after_evidence``: an evidence item (ad, payment, partner's record) named new entities or dropped some:
  the networks around them are recomputed (an item can bridge two networks).

Both run inside the analysis transaction (``ctx.session``) and open no other session.
"""

from __future__ import annotations

from tipline.capability import AnalysisContext, EvidenceContext
from tipline.graph import cases, service
from tipline.graph import network as net
from tipline.graph.guard import analysis_guard, load_guard

OPEN_CASE_IDS = "graph.open_case_ids"
_SHARED = "graph.open_cases"
_INFO = "graph.entity_info"


def before_score(ctx: AnalysisContext) -> None:
    guard = analysis_guard(ctx.session, ctx.db.settings)
    # the entities' kinds, values and degrees, read once for both hooks (nothing between them changes the
    # counts: analysis refreshed them before scoring)
    # what analysis counted, and what a capability's hook before this one added
    info = net.entity_info(ctx.session, ctx.entity_ids, ctx.entity_info)
    ctx.notes[_INFO] = info
    shared = cases.open_cases_sharing(ctx.session, guard, ctx.report.id, ctx.entity_ids, info)
    ctx.notes[_SHARED] = shared
    ctx.score_input.facts[OPEN_CASE_IDS] = sorted(set(ctx.score_input.facts.get(OPEN_CASE_IDS, [])) | set(shared))


def after_analysis(ctx: AnalysisContext) -> None:
    info = ctx.notes.get(_INFO)
    nid = service.on_report_analysed(
        ctx.session,
        ctx.db.settings,
        ctx.report.id,
        ctx.entity_ids,
        ctx.removed_entity_ids,
        info if isinstance(info, dict) else None,
    )
    ctx.notes["graph.network_id"] = nid
    shared = ctx.notes.get(_SHARED)
    if isinstance(shared, dict) and shared:
        cases.feed_in(ctx.session, ctx.report.id, shared)


def after_evidence(ctx: EvidenceContext) -> None:
    """An evidence item's entities changed: relink the networks around them (it may bridge networks)."""
    touched = ctx.entity_ids | ctx.removed_entity_ids
    if touched:
        net.relink(ctx.session, load_guard(ctx.session, ctx.db.settings), set(), touched)
