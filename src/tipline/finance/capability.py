"""The payment-screening capability: payments imported into Parquet files, screened by rules on DuckDB or
Spark; alerts on the report page, in cases and in referral packages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tipline.capability import Capability, Panel
from tipline.finance import cli, models, retention
from tipline.store import Database


def _panel(db: Database, report_id: int) -> Mapping[str, Any]:
    # the panel loads its list itself (htmx) from this address, so the report page does not wait for it
    return {"finance_src": f"/reports/{report_id}/payment-alerts"}


FINANCE = Capability(
    name="finance",
    description="Payment screening: import (CSV, Parquet, ISO 20022), rules as Ibis expressions, alerts, backtest.",
    models=(models,),
    routers=("tipline.finance.web:router",),
    cli=cli.register,
    report_panels=(Panel("finance/_panel.html", "side", _panel),),
    retention=(retention.forget_old_payments,),
)
