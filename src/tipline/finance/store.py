"""Where payment records live: Parquet files under ``<data dir>/finance/`` (never row by row in the
transactional database), one file per import batch, plus a small state file (next batch number, last
screened batch).

``payments/part-<batch>.parquet`` hold the normalised columns (:data:`PAYMENT_SCHEMA`);
``rejects/batch-<batch>.csv`` the rows an import refused, with their line and reason.

These files are **not encrypted** (names, account ids and references in clear): DuckDB and Spark read them
directly. They are protected by the data folder's permissions and the ``[finance]`` retention rule only;
README ("Security") gives the risk and the ways to close it (Parquet modular encryption, or sealed name
columns plus the keyed name index).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tipline.settings import private_dir, private_file

#: The columns a payment has once imported. ``epoch_s`` is UTC seconds; ``utc_offset_min`` the sender's
#: offset as written in ``ts``; ``local_hour``/``local_day``/``local_dow`` the sender's clock and calendar
#: (read from ``ts`` as written). Surnames are the lower-cased last word of a person's name (empty for a
#: firm), used only to tell relatives from unrelated parties.
PAYMENT_SCHEMA = pa.schema(
    [
        ("txn_id", pa.string()),
        ("ts", pa.string()),
        ("epoch_s", pa.int64()),
        ("utc_offset_min", pa.int32()),
        ("local_hour", pa.int32()),
        ("local_day", pa.int32()),
        ("local_dow", pa.int32()),
        ("sender_id", pa.string()),
        ("sender_name", pa.string()),
        ("sender_surname", pa.string()),
        ("sender_country", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("beneficiary_id", pa.string()),
        ("beneficiary_name", pa.string()),
        ("beneficiary_surname", pa.string()),
        ("beneficiary_country", pa.string()),
        ("channel", pa.string()),
        ("reference", pa.string()),
        ("batch", pa.int64()),
    ]
)


@dataclass(frozen=True)
class FinanceStore:
    root: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FinanceStore:
        return cls(data_dir / "finance")

    @property
    def payments_dir(self) -> Path:
        return self.root / "payments"

    @property
    def rejects_dir(self) -> Path:
        return self.root / "rejects"

    @property
    def glob(self) -> str:
        return str(self.payments_dir / "*.parquet")

    def ensure(self) -> FinanceStore:
        for d in (self.root, self.payments_dir, self.rejects_dir):
            private_dir(d)
        return self

    def has_payments(self) -> bool:
        return self.payments_dir.is_dir() and any(self.payments_dir.glob("*.parquet"))

    def part(self, batch: int) -> Path:
        return self.payments_dir / f"part-{batch:06d}.parquet"

    # -- state -----------------------------------------------------------------------------------------
    @property
    def _state_path(self) -> Path:
        return self.root / "state.json"

    def state(self) -> dict[str, int]:
        try:
            return dict(json.loads(self._state_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {"next_batch": 1, "screened_batch": 0}

    def save_state(self, state: dict[str, int]) -> None:
        self.ensure()
        tmp = self._state_path.with_suffix(".tmp")
        private_file(tmp)
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self._state_path)
