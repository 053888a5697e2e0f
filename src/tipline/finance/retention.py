"""Retention of payment screening's records, as the retention rules say (``[finance]`` in
``retention.toml``), run by ``tipline retention run`` and the server's periodic job through the
capability's retention step:

* **payments** (the Parquet store): payments made more than ``payment_days`` ago are removed from the
  files they are in (each file rewritten without them, removed when nothing is left); an import's reject
  file (the refused rows, as they were written) goes when it is that old too;
* **alerts** not held by a case: deleted ``alert_days`` after their last change (a case keeps its alerts
  as long as the case is kept).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tipline.accounts.service import record
from tipline.protect.retention import days_of
from tipline.settings import Settings, private_file

from .models import PaymentAlert, PaymentAlertIdentifier
from .store import FinanceStore

DEFAULT_PAYMENT_DAYS = 1825  # five years: what anti-money-laundering record keeping usually asks
DEFAULT_ALERT_DAYS = 730


@dataclass
class Dropped:
    payments: int = 0
    files_rewritten: int = 0
    files_removed: int = 0
    reject_files: int = 0


def drop_payments_before(store: FinanceStore, cutoff_epoch_s: int) -> Dropped:
    """Remove the payments made before ``cutoff_epoch_s`` (UTC seconds) from the store's files."""
    # imported here, not with the module: pyarrow's Parquet reader cost every `tipline` command 0.1 s at start
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = Dropped()
    if not store.payments_dir.is_dir():
        return out
    for part in sorted(store.payments_dir.glob("*.parquet")):
        oldest = pc.min(pq.read_table(part, columns=["epoch_s"]).column("epoch_s")).as_py()
        if oldest is None or oldest >= cutoff_epoch_s:
            continue
        table = pq.read_table(part)
        kept = table.filter(pc.greater_equal(table.column("epoch_s"), cutoff_epoch_s))
        out.payments += table.num_rows - kept.num_rows
        if kept.num_rows == 0:
            part.unlink()
            out.files_removed += 1
            continue
        tmp = part.with_suffix(".tmp")
        private_file(tmp)
        pq.write_table(kept, tmp)
        os.replace(tmp, part)
        out.files_rewritten += 1
    if store.rejects_dir.is_dir():
        for f in store.rejects_dir.glob("*.csv"):
            if f.stat().st_mtime < cutoff_epoch_s:
                f.unlink()
                out.reject_files += 1
    return out


def forget_old_payments(s: Session, settings: Settings, _entity_ids: set[int]) -> None:
    """Retention step (the capability's): old payments out of the Parquet store, old alerts that no case
    holds out of the database; what went is in the audit trail (counts only)."""
    now = datetime.now(UTC)
    payment_days = days_of(settings, "finance", "payment_days", DEFAULT_PAYMENT_DAYS)
    alert_days = days_of(settings, "finance", "alert_days", DEFAULT_ALERT_DAYS)
    store = FinanceStore.in_data_dir(Path(settings.data_dir))
    dropped = drop_payments_before(store, int(time.time()) - payment_days * 86400)
    cutoff = now - timedelta(days=alert_days)
    ids = list(
        s.scalars(select(PaymentAlert.id).where(PaymentAlert.updated_at < cutoff, PaymentAlert.case_id.is_(None)))
    )
    for lo in range(0, len(ids), 500):
        part = ids[lo : lo + 500]
        s.execute(delete(PaymentAlertIdentifier).where(PaymentAlertIdentifier.alert_id.in_(part)))
        s.execute(delete(PaymentAlert).where(PaymentAlert.id.in_(part)))
    if ids or dropped.payments or dropped.reject_files:
        record(
            s,
            "system",
            "finance.retention",
            "finance",
            None,
            payments=dropped.payments,
            files_rewritten=dropped.files_rewritten,
            files_removed=dropped.files_removed,
            reject_files=dropped.reject_files,
            alerts=len(ids),
            payment_days=payment_days,
            alert_days=alert_days,
        )
