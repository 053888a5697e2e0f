"""The ads capability: classified ads as evidence, template clusters, graded indicators, movement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tipline.ads import cli, models, service
from tipline.capability import Capability, Panel
from tipline.store import Database


def _panel(db: Database, report_id: int) -> Mapping[str, Any]:
    from tipline.ads.web import report_panel  # the web layer, imported by the page that needs it

    return report_panel(db, report_id)


ADS = Capability(
    name="ads",
    description="Classified ads: import (file, API), template clusters (local or Spark), indicators by evidence.",
    models=(models,),
    routers=("tipline.ads.web:router",),
    cli=cli.register,
    report_panels=(Panel("ads/_report_panel.html", "side", _panel),),
    retention=(service.forget_old_ads,),
    body_limits={"/api/v1/ads": lambda st: 16 * 1024 * 1024},
)
