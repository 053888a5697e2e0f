"""Analysis hooks of the media capability (see ``tipline.capability.AnalysisContext``).

``before_score`` matches every file of the report (its hashes, its dihedral PDQ variants and vPDQ frames
when part A stored them, and the original file's hashes a platform declared in CyberTipline
``fileDetails``) against the enabled hash banks, records the matches on the report (replacing those of an
earlier analysis) and gives their labels to the triage rules (fact ``media.hash_match_labels``, rule kind
``hash_match``; the default ``known-abuse-hash`` rule raises a report matching "known abuse material" to
P2 at least).
"""

from __future__ import annotations

from tipline.capability import AnalysisContext
from tipline.media.matching import match_report, matcher_for, record_matches

HASH_MATCH_LABELS = "media.hash_match_labels"


def before_score(ctx: AnalysisContext) -> None:
    report = ctx.report
    if not report.attachments:
        record_matches(ctx.session, report.id, [])  # a file may have been removed since the last analysis
        return
    matches = match_report(matcher_for(ctx.db), ctx.session, report)
    record_matches(ctx.session, report.id, matches)
    labels: list[str] = ctx.score_input.facts.setdefault(HASH_MATCH_LABELS, [])
    for label in sorted({m.label for m in matches}):
        if label not in labels:
            labels.append(label)
    ctx.notes["media.matches"] = len(matches)
