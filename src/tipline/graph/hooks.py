"""Analysis hooks of this capability (see ``tipline.intake.hooks``). Placeholders until it is built."""

from __future__ import annotations

from tipline.intake.hooks import AnalysisContext


def before_score(ctx: AnalysisContext) -> None:
    return None


def after_analysis(ctx: AnalysisContext) -> None:
    return None
