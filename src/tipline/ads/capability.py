"""The ads capability: classified ads as evidence, template clusters, graded indicators, movement."""

from __future__ import annotations

from tipline.ads import cli, models, service, web
from tipline.capability import Capability, Panel

ADS = Capability(
    name="ads",
    description="Classified ads: import (file, API), template clusters (local or Spark), indicators by evidence.",
    models=(models,),
    routers=(web.router,),
    cli=cli.register,
    report_panels=(Panel("ads/_report_panel.html", "side", web.report_panel),),
    retention=(service.forget_old_ads,),
    body_limits={"/api/v1/ads": lambda st: 16 * 1024 * 1024},
)
