"""Payment screening: payment records in (CSV, Parquet, ISO 20022), the published indicators of people who
pay for live-streamed abuse as rules (Ibis expressions on DuckDB or Spark), alerts, backtests.

``importer`` (files -> Parquet in the data folder), ``rules`` (the editable rules file), ``screen`` (rules
as Ibis expressions, alerts), ``backtest`` (precision/recall on labels), ``cli`` (``tipline finance``).
"""
