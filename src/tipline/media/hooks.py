"""Analysis hooks of the media capability (see ``tipline.intake.hooks``).

``before_score`` matches every file of the report (its hashes, its dihedral PDQ variants and vPDQ frames
when part A stored them, and the original file's hashes a platform declared in CyberTipline
``fileDetails``) against the enabled hash banks, records the matches on the report (replacing those of an
earlier analysis) and gives their labels to the triage rules (``hash_match`` kind; the default
``known-abuse-hash`` rule raises a report matching "known abuse material" to P2 at least).
"""

from __future__ import annotations

from tipline.intake.hooks import AnalysisContext
from tipline.media import models  # noqa: F401 - the media tables are known whenever analysis runs
from tipline.media.matching import match_report, matcher_for, record_matches


def before_score(ctx: AnalysisContext) -> None:
    report = ctx.report
    if not report.attachments:
        record_matches(ctx.session, report.id, [])  # a file may have been removed since the last analysis
        return
    matches = match_report(matcher_for(ctx.db), ctx.session, report)
    record_matches(ctx.session, report.id, matches)
    labels = sorted({m.label for m in matches})
    for label in labels:
        if label not in ctx.score_input.hash_match_labels:
            ctx.score_input.hash_match_labels.append(label)
    ctx.notes["media.matches"] = len(matches)


def after_analysis(ctx: AnalysisContext) -> None:
    return None
