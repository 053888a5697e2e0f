"""Analysis hooks of routing (see ``tipline.capability.AnalysisContext``).

``after_analysis`` keeps, for the report just analysed, its URLs' takedown rows and its jurisdiction
candidates current, inside the analysis transaction. It never calls the network: with a network resolver
(``routing_resolver = "dns"``) it uses the hosting addresses an earlier ``refresh`` stored.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from tipline.capability import AnalysisContext
from tipline.routing import jurisdiction as jur
from tipline.routing.models import JurisdictionCandidate
from tipline.routing.takedown import sync_report_urls
from tipline.store import later

MAX_CANDIDATES = 20

# built once (they run for every analysed report; see ``graph.network``), on the table, not the mapped class:
# the ORM's bulk DELETE and INSERT paths cost the worker more than the statements themselves
_CANDIDATES = cast(Table, JurisdictionCandidate.__table__)
_DROP_CANDIDATES = delete(_CANDIDATES).where(_CANDIDATES.c.report_id == bindparam("report_id"))


def after_analysis(ctx: AnalysisContext) -> None:
    s = ctx.session
    row = ctx.report
    entities = ctx.mentions
    urls = sorted({v for k, v, _ in entities if k == "url"})
    # its links to the takedowns of URLs it named before were deleted with its mentions (ROUTING.analysis_rows)
    hosting = sync_report_urls(s, row.id, urls, row.received_at, jur.resolver_for(ctx.db))
    facts = jur.ReportFacts(
        stated_country=row.country, persons=list(row.persons or []), entities=entities, hosting=hosting
    )
    store_candidates(s, row.id, jur.assess(facts), cleared=True)  # ROUTING.analysis_rows


def store_candidates(s: Session, report_id: int, candidates: list[jur.Candidate], *, cleared: bool = False) -> None:
    """Replace a report's jurisdiction candidates with these (``cleared``: the old ones are deleted already)."""
    if not cleared:
        s.execute(_DROP_CANDIDATES, {"report_id": report_id})
    rows = [
        {
            "report_id": report_id,
            "country": c.country,
            "weight": c.weight,
            "rank": rank,
            "evidence": [e.as_dict() for e in c.evidence],
        }
        for rank, c in enumerate(candidates[:MAX_CANDIDATES], 1)
    ]
    # inside an analysis: with its last write (one executemany INSERT here otherwise; no ORM objects: the ORM
    # flushed one INSERT per candidate)
    later.insert_later(s, _CANDIDATES, rows)
