"""The payment-screening capability: payments imported into Parquet files, screened by rules on DuckDB or Spark."""

from __future__ import annotations

from tipline.capability import Capability
from tipline.finance import cli

FINANCE = Capability(
    name="finance",
    description="Payment screening: import (CSV, Parquet, ISO 20022), rules as Ibis expressions, alerts, backtest.",
    cli=cli.register,
)
