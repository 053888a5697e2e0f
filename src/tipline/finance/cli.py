"""``tipline finance import|screen|backtest|rules-defaults``: payment screening from the command line."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

finance_app = typer.Typer(
    help="Payment screening: import payment records (CSV, Parquet, ISO 20022 XML), screen them with the "
    "published indicators of payers for live-streamed abuse (DuckDB, or Spark), backtest on labels.",
    no_args_is_help=True,
)

RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="A screening rules TOML (default: TIPLINE_FINANCE_RULES, else the bundled defaults; "
        "`tipline finance rules-defaults` prints them).",
    ),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="duckdb (embedded, default) or spark (PySpark).")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Screen as of this moment (ISO 8601; default: the latest imported payment)."),
]


def _store():
    from tipline.clikit import settings
    from tipline.finance.store import FinanceStore

    return FinanceStore.in_data_dir(settings().ensure_data_dir())


def _rules(path: Path | None):
    from tipline.clikit import fail
    from tipline.finance.rules import RulesError, load_rules

    env = os.environ.get("TIPLINE_FINANCE_RULES")
    try:
        return load_rules(path or (Path(env) if env else None))
    except RulesError as e:
        fail(str(e))
        raise


def _as_of(value: str | None) -> int | None:
    from tipline.clikit import fail

    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--as-of {value!r} is not ISO 8601 (e.g. 2026-01-31T00:00:00+00:00)")
        raise
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def _connect(engine: str):
    from tipline.clikit import fail
    from tipline.finance.screen import ScreenError, connect

    try:
        return connect(engine, spark_master=os.environ.get("TIPLINE_SPARK_MASTER", "local[*]"))
    except ScreenError as e:
        fail(str(e))
        raise


@finance_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or ISO 20022 XML (pacs.008/pain.001) files.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, parquet or xml (default: from the extension).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the import summary as JSON.")] = False,
) -> None:
    """Import payment records into the data folder (Parquet), skipping txn_ids already imported.

    CSV/Parquet columns: txn_id, ts (ISO 8601 with the sender's UTC offset), sender_id, sender_name,
    sender_country, amount, currency, beneficiary_id, beneficiary_name, beneficiary_country, channel
    (card, bank_transfer, remittance, paypal, p2p, crypto or free text), reference. Bad rows are counted,
    listed with their line numbers and kept in the data folder's finance/rejects/ file."""
    from dataclasses import asdict

    from rich.progress import TaskID

    from tipline.clikit import err, fail, out, progress
    from tipline.finance.importer import PaymentImportError, import_payments

    store = _store()
    results = []
    for f in files:
        with progress() as bar:
            task = bar.add_task(f"import {f.name}", total=None)

            def tick(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                r = import_payments(store, f, fmt=fmt, progress=tick)
            except PaymentImportError as e:
                fail(str(e))
                return
        results.append(r)
        if not json_out:
            out.print(
                f"{f.name}: {r.rows_read:,} rows read, {r.imported:,} imported, {r.already_imported:,} already "
                f"imported, {r.duplicates_in_file:,} repeated in the file, {r.bad:,} bad"
            )
            for b in r.bad_rows[:20]:
                err.print(f"  line {b.line}: {b.error}", highlight=False)
            if r.bad > 20:
                err.print(f"  ... {r.bad - 20:,} more", highlight=False)
            if r.rejects_file:
                err.print(f"  every bad row, with its line and reason: {r.rejects_file}", highlight=False)
    if json_out:
        print(json.dumps([asdict(r) for r in results], ensure_ascii=False))


@finance_app.command("screen")
def screen_(
    engine: EngineOpt = "duckdb",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Only senders with payments imported since the last screen.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the alerts as a JSON list.")] = False,
    with_sql: Annotated[
        bool, typer.Option("--sql", help="With --json: include every rule and its compiled SQL.")
    ] = False,
    store_alerts: Annotated[
        bool,
        typer.Option(
            "--store/--no-store",
            help="Keep the alerts in the database (pages, leads, cases, entity graph); default: yes.",
        ),
    ] = True,
) -> None:
    """Screen the imported payments: one alert per sender whose fired rules make a combination the sources
    describe, with every rule's value, threshold and source, and the sender's beneficiaries. The alerts are
    kept in the database (see /finance/alerts), replacing earlier alerts of the senders screened."""
    from rich.table import Table

    from tipline.clikit import err, fail, out
    from tipline.finance.screen import ScreenError, screen

    rs = _rules(rules)
    con = _connect(engine)
    try:
        with err.status(f"screening on {engine}"):
            res = screen(_store(), rs, con=con, as_of=_as_of(as_of), incremental=incremental)
    except ScreenError as e:
        fail(str(e))
        return
    from tipline.clikit import database
    from tipline.finance.service import record_screen_output, save_alerts

    db = database()
    if store_alerts:
        stored, removed = save_alerts(db, res)
        err.print(f"{stored} alerts kept in the database, {removed} no longer alerting removed", highlight=False)
    # the output names senders: audited like a view of the alerts (the account ids, never the names)
    record_screen_output(db, "cli", [a.sender_id for a in res.alerts], how="json" if json_out else "table")
    if json_out:
        print(json.dumps([a.to_json(sql=with_sql) for a in res.alerts], ensure_ascii=False))
        return
    table = Table("sender", "name", "score", "rules fired", "beneficiaries", title=f"{len(res.alerts)} alerts")
    for a in res.alerts:
        table.add_row(
            a.sender_id, a.sender_name, f"{a.score:g}", ", ".join(r.id for r in a.fired()), str(len(a.beneficiaries))
        )
    out.print(table)
    out.print(f"{res.screened_senders:,} senders screened on {res.engine} in {res.seconds:.1f} s")


@finance_app.command("backtest")
def backtest_(
    labels: Annotated[Path, typer.Argument(help="TSV with a header: sender_id, label (1/0), optional shape.")],
    engine: EngineOpt = "duckdb",
    rules: RulesOpt = None,
    as_of: AsOfOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Precision and recall of every rule and of the alert logic on labelled senders."""
    from rich.table import Table

    from tipline.clikit import fail, out
    from tipline.finance.backtest import LabelsError, backtest, read_labels
    from tipline.finance.screen import ScreenError

    rs = _rules(rules)
    try:
        lab = read_labels(labels)
        res = backtest(_store(), rs, lab, con=_connect(engine), as_of=_as_of(as_of))
    except (LabelsError, ScreenError) as e:
        fail(str(e))
        return
    if json_out:
        print(json.dumps(res.to_json()))
        return

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    table = Table(
        "rule", "flagged", "true pos.", "precision", "recall", title=f"{res.senders} senders, {res.positives} positive"
    )
    for s in [*res.rules, res.alert]:
        table.add_row(s.name, str(s.flagged), str(s.true_positives), pct(s.precision), pct(s.recall))
    out.print(table)
    if res.by_shape:
        shapes = Table("shape", "senders", "alerted", "rate", title="alerts per shape")
        for k, (n, a) in res.by_shape.items():
            shapes.add_row(k, str(n), str(a), pct(a / n if n else None))
        out.print(shapes)


@finance_app.command("rules-defaults")
def rules_defaults() -> None:
    """Print the bundled screening rules (TOML) to copy and edit."""
    from tipline.finance.rules import DEFAULT_RULES

    print(DEFAULT_RULES.read_text(encoding="utf-8"), end="")


def register(app: typer.Typer) -> None:
    """Add ``tipline finance`` to the command line."""
    app.add_typer(finance_app, name="finance")
