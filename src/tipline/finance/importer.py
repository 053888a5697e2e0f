"""``tipline finance import``: payment records from CSV, Parquet or ISO 20022 XML into Parquet files.

The file is read as a stream in batches (:data:`BATCH_ROWS` rows); every batch is checked column by
column in DuckDB (vectorised, not row by row in Python) and its good rows appended to a staging Parquet
file. When the whole file is read, one DuckDB statement keeps the first row of every ``txn_id`` that is
not already stored and writes them as the batch's part file; re-importing a file adds nothing. Bad rows
are counted, kept with their line and reason in ``rejects/batch-<n>.csv``, and reported: never dropped
in silence. Nothing reaches the transactional database.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .iso20022 import Iso20022Error, iter_transfers
from .store import PAYMENT_SCHEMA, FinanceStore

COLUMNS = (
    "txn_id",
    "ts",
    "sender_id",
    "sender_name",
    "sender_country",
    "amount",
    "currency",
    "beneficiary_id",
    "beneficiary_name",
    "beneficiary_country",
    "channel",
    "reference",
)
REQUIRED = ("txn_id", "ts", "sender_id", "amount", "currency", "beneficiary_id")
BATCH_ROWS = 200_000
MAX_REPORTED = 1000
#: Words that end a firm's name; a firm has no surname.
FIRM_SUFFIXES = "ltd|limited|inc|llc|gmbh|srl|spa|s.p.a.|bv|b.v.|co|corp|corporation|plc|sa|ag|pty|company"

Progress = Callable[[int, int], None]


class PaymentImportError(ValueError):
    """The file cannot be imported at all (nothing was imported); the message says what to do."""


@dataclass
class BadRow:
    line: int
    error: str


@dataclass
class ImportResult:
    file: str
    batch: int
    rows_read: int = 0
    imported: int = 0
    duplicates_in_file: int = 0
    already_imported: int = 0
    bad: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)  # the first MAX_REPORTED
    rejects_file: str | None = None


# -------------------------------------------------------------------------------------------- readers


def _csv_rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(line, values or None, error)``; the header is checked first."""
    size = max(1, path.stat().st_size)
    raw = path.open("rb")
    with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise PaymentImportError(
                f"{path.name} is empty; expected a header line with {', '.join(COLUMNS)}"
            ) from None
        except UnicodeDecodeError:
            raise PaymentImportError(f"{path.name} is not UTF-8 text; save it as UTF-8 CSV and import again") from None
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise PaymentImportError(
                f"{path.name}: the header lacks {', '.join(missing)}; the columns are {', '.join(COLUMNS)} "
                "(any order, extra columns ignored)"
            )
        pos = [header.index(c) for c in COLUMNS]
        width = len(header)
        n = 0
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise PaymentImportError(
                    f"{path.name}: after line {reader.line_num} the file is not UTF-8; nothing was imported. "
                    "Save it as UTF-8 and import again"
                ) from None
            except csv.Error as e:
                yield reader.line_num, None, f"not a CSV row ({e})"
                continue
            n += 1
            if progress and n % 50_000 == 0:
                progress(raw.tell(), size)
            if not rec:
                continue
            if len(rec) != width:
                yield reader.line_num, None, f"{len(rec)} fields where the header has {width}"
                continue
            yield reader.line_num, [rec[i] for i in pos], ""
        if progress:
            progress(size, size)


def _parquet_rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, list[str] | None, str]]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise PaymentImportError(f"{path.name} is not a readable Parquet file ({e})") from None
    names = [n.lower() for n in pf.schema_arrow.names]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise PaymentImportError(
            f"{path.name}: the columns {', '.join(missing)} are missing; expected {', '.join(COLUMNS)}"
        )
    total = max(1, pf.metadata.num_rows)
    line = 0
    for rb in pf.iter_batches(batch_size=BATCH_ROWS, columns=[pf.schema_arrow.names[names.index(c)] for c in COLUMNS]):
        cols = [c.cast(pa.string()).to_pylist() for c in rb.columns]
        for values in zip(*cols, strict=True):
            line += 1
            yield line, ["" if v is None else v for v in values], ""
        if progress:
            progress(line, total)


def _xml_rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, list[str] | None, str]]:
    total = 1
    with path.open("rb") as fh:  # lines, for the progress bar (one fast pass; iterparse has no position)
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            total += chunk.count(b"\n")
    n = 0
    for line, row in iter_transfers(path):
        n += 1
        if progress and n % 10_000 == 0:
            progress(min(line, total), total)
        yield line, [row[c] for c in COLUMNS], ""
    if progress:
        progress(total, total)


def _reader(
    path: Path, fmt: str | None
) -> Callable[[Path, Progress | None], Iterator[tuple[int, list[str] | None, str]]]:
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind in ("csv", "txt"):
        return _csv_rows
    if kind in ("parquet", "pq"):
        return _parquet_rows
    if kind in ("xml", "pacs008", "pain001"):
        return _xml_rows
    raise PaymentImportError(
        f"{path.name}: unknown format {kind!r}; give a .csv, .parquet or .xml (ISO 20022 pacs.008/pain.001) file, "
        "or say which with --format csv|parquet|xml"
    )


# -------------------------------------------------------------------------------------------- checks

_CHECK_SQL = """
WITH r AS (
  SELECT *, trim(ts) AS t,
         regexp_extract(trim(ts), '(Z|[+-]\\d\\d:?\\d\\d)$') AS tz
  FROM batch
), c AS (
  SELECT *,
    CASE
      WHEN coalesce(trim(txn_id), '') = '' THEN 'txn_id is empty'
      WHEN NOT regexp_full_match(t, '\\d{4}-\\d\\d-\\d\\d[T ]\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?(Z|[+-]\\d\\d:?\\d\\d)')
        THEN 'ts is not ISO 8601 with the sender''s UTC offset (e.g. 2026-01-31T21:05:00+08:00)'
      WHEN try_cast(t AS TIMESTAMPTZ) IS NULL THEN 'ts is not a real date and time'
      WHEN coalesce(trim(sender_id), '') = '' THEN 'sender_id is empty'
      WHEN try_cast(trim(amount) AS DOUBLE) IS NULL THEN 'amount is not a number (use a dot for decimals)'
      WHEN NOT isfinite(try_cast(trim(amount) AS DOUBLE)) OR try_cast(trim(amount) AS DOUBLE) <= 0
        THEN 'amount is not a positive number'
      WHEN NOT regexp_full_match(upper(trim(currency)), '[A-Z]{3}')
        THEN 'currency is not a three-letter ISO 4217 code'
      WHEN coalesce(trim(beneficiary_id), '') = '' THEN 'beneficiary_id is empty'
      WHEN NOT regexp_full_match(upper(trim(coalesce(sender_country, ''))), '([A-Z]{2})?')
        THEN 'sender_country is not a two-letter ISO 3166 code'
      WHEN NOT regexp_full_match(upper(trim(coalesce(beneficiary_country, ''))), '([A-Z]{2})?')
        THEN 'beneficiary_country is not a two-letter ISO 3166 code'
      ELSE NULL
    END AS error
  FROM r
)
SELECT line, error FROM c WHERE error IS NOT NULL OR pre_error <> ''
"""

_SURNAME = f"""CASE WHEN regexp_matches(lower(trim({{c}})), '\\b({FIRM_SUFFIXES})\\.?$') THEN ''
  ELSE lower(regexp_extract(trim({{c}}), '([^\\s]+)$')) END"""

_GOOD_SQL = f"""
WITH r AS (
  SELECT *, trim(ts) AS t, regexp_extract(trim(ts), '(Z|[+-]\\d\\d:?\\d\\d)$') AS tz FROM batch
  WHERE pre_error = ''
)
SELECT
  trim(txn_id) AS txn_id,
  t AS ts,
  CAST(epoch(CAST(t AS TIMESTAMPTZ)) AS BIGINT) AS epoch_s,
  CAST(CASE WHEN tz = 'Z' THEN 0 ELSE (CASE WHEN tz[1] = '-' THEN -1 ELSE 1 END)
       * (CAST(tz[2:3] AS INTEGER) * 60 + CAST(right(tz, 2) AS INTEGER)) END AS INTEGER) AS utc_offset_min,
  CAST(substr(t, 12, 2) AS INTEGER) AS local_hour,
  CAST(substr(t, 9, 2) AS INTEGER) AS local_day,
  CAST(isodow(CAST(substr(t, 1, 10) AS DATE)) AS INTEGER) AS local_dow,
  trim(sender_id) AS sender_id,
  trim(coalesce(sender_name, '')) AS sender_name,
  {_SURNAME.format(c="coalesce(sender_name, '')")} AS sender_surname,
  upper(trim(coalesce(sender_country, ''))) AS sender_country,
  CAST(trim(amount) AS DOUBLE) AS amount,
  upper(trim(currency)) AS currency,
  trim(beneficiary_id) AS beneficiary_id,
  trim(coalesce(beneficiary_name, '')) AS beneficiary_name,
  {_SURNAME.format(c="coalesce(beneficiary_name, '')")} AS beneficiary_surname,
  upper(trim(coalesce(beneficiary_country, ''))) AS beneficiary_country,
  lower(trim(coalesce(channel, ''))) AS channel,
  trim(coalesce(reference, '')) AS reference,
  CAST($batch AS BIGINT) AS batch,
  line
FROM r
WHERE line NOT IN (SELECT line FROM bad)
"""


def _check(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[int, list[str] | None, str]], batch: int
) -> tuple[pa.Table, list[BadRow]]:
    data: dict[str, list[object]] = {c: [] for c in COLUMNS}
    lines: list[int] = []
    pre: list[str] = []
    for line, values, error in rows:
        lines.append(line)
        pre.append(error)
        for c, v in zip(COLUMNS, values or [""] * len(COLUMNS), strict=True):
            data[c].append(v)
    arrow = pa.table(
        {
            "line": pa.array(lines, pa.int64()),
            **{c: pa.array(v, pa.string()) for c, v in data.items()},
            "pre_error": pa.array(pre, pa.string()),
        }
    )
    con.register("batch", arrow)
    try:
        bad_tbl = con.sql(_CHECK_SQL).to_arrow_table()
        bad_lines = bad_tbl.column("line").to_pylist()
        bad_errs = bad_tbl.column("error").to_pylist()
        pre_by_line = {ln: e for ln, e in zip(lines, pre, strict=True) if e}
        bad = [
            BadRow(ln, pre_by_line.get(ln) or err or "unreadable row")
            for ln, err in zip(bad_lines, bad_errs, strict=True)
        ]
        con.register("bad", pa.table({"line": pa.array([b.line for b in bad], pa.int64())}))
        good = con.sql(_GOOD_SQL, params={"batch": batch}).to_arrow_table()
    finally:
        con.unregister("batch")
    return good, bad


# -------------------------------------------------------------------------------------------- import


def import_payments(
    store: FinanceStore,
    path: Path,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ImportResult:
    """Import one file; see the module docstring. Raises :class:`PaymentImportError` when nothing can be
    imported (unknown format, missing columns, not UTF-8, malformed XML): then nothing was written."""
    if not path.is_file():
        raise PaymentImportError(f"{path} is not a file")
    read = _reader(path, fmt)
    store.ensure()
    state = store.state()
    batch = int(state.get("next_batch", 1))
    result = ImportResult(file=path.name, batch=batch)
    staging = store.root / f".staging-{batch:06d}.parquet"
    rejects = store.rejects_dir / f"batch-{batch:06d}.csv"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    staging_schema = PAYMENT_SCHEMA.append(pa.field("line", pa.int64()))
    writer = pq.ParquetWriter(staging, staging_schema)
    rej_fh = None
    try:
        buf: list[tuple[int, list[str] | None, str]] = []

        def flush() -> None:
            nonlocal rej_fh
            good, bad = _check(con, buf, batch)
            result.rows_read += len(buf)
            buf.clear()
            if good.num_rows:
                writer.write_table(good.cast(staging_schema))
            if bad:
                if rej_fh is None:
                    rej_fh = rejects.open("w", newline="", encoding="utf-8")
                    os.chmod(rejects, 0o600)
                    csv.writer(rej_fh).writerow(["line", "error"])
                w = csv.writer(rej_fh)
                for b in bad:
                    w.writerow([b.line, b.error])
                result.bad += len(bad)
                room = MAX_REPORTED - len(result.bad_rows)
                result.bad_rows.extend(bad[: max(0, room)])

        try:
            for item in read(path, progress):
                buf.append(item)
                if len(buf) >= batch_rows:
                    flush()
        except Iso20022Error as e:
            raise PaymentImportError(str(e)) from None
        if buf:
            flush()
        writer.close()
        result.imported, result.duplicates_in_file, result.already_imported = _merge(con, store, staging, batch)
    except BaseException:
        if rej_fh is not None:
            rej_fh.close()
            rejects.unlink(missing_ok=True)
        raise
    finally:
        if writer.is_open:
            writer.close()
        staging.unlink(missing_ok=True)
        con.close()
    if rej_fh is not None:
        rej_fh.close()
        result.rejects_file = str(rejects)
    state["next_batch"] = batch + 1
    store.save_state(state)
    return result


def _merge(con: duckdb.DuckDBPyConnection, store: FinanceStore, staging: Path, batch: int) -> tuple[int, int, int]:
    """Write the staging rows whose ``txn_id`` is new as the batch's part file: ``(imported, duplicates in
    the file, already imported)``."""
    stage = f"read_parquet('{_q(staging)}')"
    n_stage, n_distinct = con.execute(f"SELECT count(*), count(DISTINCT txn_id) FROM {stage}").fetchone() or (0, 0)
    existing = ""
    already = 0
    if store.has_payments():
        existing = f"AND txn_id NOT IN (SELECT txn_id FROM read_parquet('{_q(store.glob)}'))"
        stored = f"SELECT txn_id FROM read_parquet('{_q(store.glob)}')"
        row = con.execute(f"SELECT count(DISTINCT txn_id) FROM {stage} WHERE txn_id IN ({stored})").fetchone()
        already = int(row[0]) if row else 0
    imported = int(n_distinct) - already
    if imported:
        cols = ", ".join(PAYMENT_SCHEMA.names)
        part = store.part(batch)
        tmp = part.with_suffix(".tmp")
        con.execute(
            f"""COPY (SELECT {cols} FROM {stage} WHERE true {existing}
                QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY line) = 1 ORDER BY sender_id, epoch_s)
                TO '{_q(tmp)}' (FORMAT parquet)"""
        )
        os.chmod(tmp, 0o600)
        os.replace(tmp, part)
    return imported, int(n_stage) - int(n_distinct), already


def _q(p: Path | str) -> str:
    return str(p).replace("'", "''")
