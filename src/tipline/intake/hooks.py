"""Extension points of report analysis, declared in one place.

``analyse_report`` (``tipline.intake.service``) extracts a report's entities and links them, then:

1. calls every **before-score** hook, which may add facts the triage rules read to ``ctx.score_input``
   (hash-bank matches, open cases that share an entity, ...);
2. scores the report with the rules in force;
3. calls every **after-analysis** hook (keep the entity graph current, compute jurisdiction, ...).

All hooks run inside the analysis transaction (``ctx.session``): what they write commits with the
report's score, or not at all. Don'ts: a hook must not open another write session (SQLite has one
writer: it would wait on itself), must not call the network, and must not log report text or reporter
data. A hook that raises fails the analysis; the report then stays unanalysed and is retried at start-up.

The lists are explicit (no import-time discovery): add a capability's hook here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tipline.triage.rules import Scored, ScoreInput

if TYPE_CHECKING:
    from tipline.store import Database
    from tipline.store.models import Report


@dataclass
class AnalysisContext:
    db: Database
    session: Session
    report: Report
    entity_ids: set[int]  # entities this report mentions now
    removed_entity_ids: set[int]  # entities it mentioned before this analysis and no longer does
    score_input: ScoreInput
    scored: Scored | None = None  # set before the after-analysis hooks run
    notes: dict[str, object] = field(default_factory=dict)


Hook = Callable[[AnalysisContext], None]


def before_score_hooks() -> list[Hook]:
    from tipline.graph import hooks as graph
    from tipline.media import hooks as media

    return [media.before_score, graph.before_score]


def after_analysis_hooks() -> list[Hook]:
    from tipline.graph import hooks as graph
    from tipline.routing import hooks as routing

    return [graph.after_analysis, routing.after_analysis]
