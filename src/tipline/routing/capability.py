"""The routing capability: jurisdiction, agencies, referrals, takedown, sharing, statistics."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from tipline.capability import Capability, Panel
from tipline.routing import cli, hooks, jurisdiction, models
from tipline.routing.referral import country_clause

ROUTING = Capability(
    name="routing",
    description="Jurisdiction candidates with evidence, agency directory, referral packages, takedown, "
    "keyed-hash sharing with partners, statistics.",
    models=(models,),
    routers=("tipline.routing.web:router",),
    cli=cli.register,
    after_analysis=hooks.after_analysis,
    analysis_rows=(
        cast(Table, models.JurisdictionCandidate.__table__),
        cast(Table, models.UrlTakedownReport.__table__),
    ),  # deleted by analysis, written anew by the hook
    # the panel loads itself from /reports/<id>/routing-panel (htmx), so the page does not wait for it
    report_panels=(Panel("routing/report_panel.html", "side"),),
    # the queue's country filter: the stated country or a weighty jurisdiction candidate
    queue_filters={"country": country_clause},
    warm_up=jurisdiction.warm_up,
)
