"""Payment screening under the retention rules: ``tipline retention run`` (the real run, every capability's
steps) drops old payments from the Parquet store and old alerts no case holds, and nothing else."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select, update

from tipline.finance import service as finance
from tipline.finance.importer import COLUMNS, import_payments
from tipline.finance.models import PaymentAlert, PaymentAlertIdentifier
from tipline.finance.rules import load_rules
from tipline.finance.screen import screen
from tipline.finance.store import FinanceStore
from tipline.graph import cases
from tipline.protect import retention
from tipline.store import Database
from tipline.store.models import AuditEvent

AU = timezone(timedelta(hours=10))


def _row(txn: str, when: datetime, sender: str, ben: str) -> list[str]:
    ts = when.astimezone(AU).replace(hour=2, minute=30).isoformat(timespec="seconds")
    return [txn, ts, sender, f"Name {sender}", "AU", "40.00", "AUD", ben, "Ana Cruz", "PH", "remittance", "school fees"]


def _payments(path: Path) -> Path:
    now = datetime.now(UTC)
    rows = []
    for sender in ("AU-77", "AU-88"):  # two payers of facilitators, in the last two months
        rows += [_row(f"{sender}-{i}", now - timedelta(days=50 - 8 * i), sender, f"fac{i % 3}") for i in range(6)]
    rows += [_row(f"old-{i}", now - timedelta(days=1000 + i), "AU-10", "fac9") for i in range(4)]  # 3 years ago
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
        fh.write("bad,2025-01-01T10:00:00,AU-10,A,AU,ten,AUD,b1,B,PH,remittance,\n")  # refused: kept in rejects/
    return path


def test_retention_drops_old_payments_and_alerts_no_case_holds(db: Database, tmp_path: Path) -> None:
    db.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (db.settings.data_dir / "retention.toml").write_text(
        (retention.DEFAULT_RULES.read_text() + "\n")
        .replace("payment_days = 1825", "payment_days = 365")
        .replace("alert_days = 730", "alert_days = 30")
    )
    store = FinanceStore.in_data_dir(db.settings.data_dir)
    imported = import_payments(store, _payments(tmp_path / "p.csv"))
    assert imported.imported == 16 and imported.rejects_file
    stored, _ = finance.save_alerts(db, screen(store, load_rules()))
    assert stored == 2
    with db.session() as s:
        alerts = {a.sender_id: a.id for a in s.scalars(select(PaymentAlert))}
    case_id = cases.create_case(db, "fin", title="Payer")
    finance.add_to_case(db, alerts["AU-88"], case_id, "fin")
    with db.session() as s:  # both alerts last changed two months ago
        s.execute(update(PaymentAlert).values(updated_at=datetime.now(UTC) - timedelta(days=60)))
    reject = Path(imported.rejects_file)
    old = (datetime.now(UTC) - timedelta(days=400)).timestamp()
    os.utime(reject, (old, old))

    retention.run(db, dry_run=True)  # a dry run touches nothing
    assert pq.read_table(store.payments_dir).num_rows == 16 and reject.exists()

    retention.run(db)
    kept = pq.read_table(store.payments_dir)
    assert kept.num_rows == 12 and "AU-10" not in set(kept.column("sender_id").to_pylist())
    assert not reject.exists()
    with db.reader() as s:
        left = {a.sender_id: a.case_id for a in s.scalars(select(PaymentAlert))}
        assert left == {"AU-88": case_id}  # the case keeps its alert; the other one is gone
        assert not s.scalars(
            select(PaymentAlertIdentifier).where(PaymentAlertIdentifier.alert_id == alerts["AU-77"])
        ).all()
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "finance.retention"))
        assert ev is not None
        assert (ev.details["payments"], ev.details["alerts"], ev.details["reject_files"]) == (4, 1, 1)
    retention.run(db)  # again: nothing more to drop
    assert pq.read_table(store.payments_dir).num_rows == 12


def test_bad_finance_retention_days_say_what_is_wrong(db: Database) -> None:
    db.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (db.settings.data_dir / "retention.toml").write_text('[finance]\npayment_days = "soon"\n')
    try:
        retention.run(db)
    except retention.RetentionError as e:
        assert "[finance] payment_days must be a whole number of days" in str(e)
    else:  # pragma: no cover - the test fails here
        raise AssertionError("a bad payment_days was accepted")
