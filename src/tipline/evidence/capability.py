"""The evidence capability: source items that are not reports, linked through the entities they name."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from tipline.capability import Capability
from tipline.evidence import cli, models

EVIDENCE = Capability(
    name="evidence",
    description="Evidence items beyond reports (ads, payments, partners' records): stored, extracted, linked.",
    models=(models,),
    routers=("tipline.evidence.web:router",),
    cli=cli.register,
    # an ad's phone outlives the expired reports that named it too (else the ad would link no later report)
    entity_mentions=(cast(Table, models.EvidenceMention.__table__),),
)
