"""Column types: UTC datetimes, and sealed text (envelope-encrypted at rest, clear in Python)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy import DateTime, LargeBinary, Text, TypeDecorator, cast, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from tipline.crypto import keyring_for

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones: "tomorrow" can be today somewhere


def check_instant(value: datetime) -> datetime:
    """A date and time a sender gives us (when an incident happened, an ad was posted, a referral was sent):
    it must be expressible in UTC (the store keeps UTC; "9999-12-31T23:59-14:00" is not) and plausible,
    from 1900 to tomorrow. The value is returned as given (a naive one is read as UTC by the store)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range: it cannot be written in UTC") from None
    if utc < EARLIEST:
        raise ValueError(f"the date {value.isoformat()} is before 1900: check the year")
    if utc > datetime.now(UTC) + FUTURE_SLACK:
        raise ValueError(f"the date {value.isoformat()} is in the future: check the year and the time zone")
    return value


def plausible_instant(value: datetime | None) -> datetime | None:
    """``value`` when :func:`check_instant` accepts it, else None (for formats whose own schema allows any
    year: the raw value stays in the document kept beside the report)."""
    if value is None:
        return None
    try:
        return check_instant(value)
    except ValueError:
        return None


# a datetime field of an input model: refused with a clear message when implausible (see check_instant)
Instant = Annotated[datetime, AfterValidator(check_instant)]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which stores naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Sealing:
    """A value on its way into a sealed column, with the row it belongs to and the master key to seal it with.

    Only the flush hook of :mod:`tipline.store.sealing` makes these (it knows the row's primary key and the
    installation's sealing key); a plain value reaching a sealed column any other way is refused, so nothing
    is ever sealed without its row."""

    __slots__ = ("key", "row", "value")

    def __init__(self, value: Any, row: str, key: str | None) -> None:
        self.value, self.row, self.key = value, row, key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealing) and (self.value, self.row) == (other.value, other.row)

    __hash__ = None  # type: ignore[assignment]


class _hex(FunctionElement[str]):
    """Hexadecimal text of a binary value (SQLite ``hex``, PostgreSQL ``encode(..., 'hex')``)."""

    type = Text()
    inherit_cache = True


@compiles(_hex)
def _hex_default(element: _hex, compiler: Any, **kw: Any) -> str:
    return f"hex({compiler.process(element.clauses, **kw)})"


@compiles(_hex, "postgresql")
def _hex_pg(element: _hex, compiler: Any, **kw: Any) -> str:
    return f"encode({compiler.process(element.clauses, **kw)}, 'hex')"


class _SealedRead(TypeDecorator[Any]):
    """The result type of a sealed column as selected: ``<row key>:<hex of the blob>`` (see ``column_expression``)."""

    impl = Text
    cache_ok = True

    def __init__(self, sealed: SealedText) -> None:
        super().__init__()
        self.sealed = sealed

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        if value is None:
            return None
        row, _, hexblob = value.partition(":")
        if not hexblob:  # SQLite: hex(NULL) is '' (a sealed value is never empty)
            return None
        blob = bytes.fromhex(hexblob)
        return self.sealed.decode(keyring_for(dialect).open(blob, context=self.sealed.context, row=row))


class SealedText(TypeDecorator[str]):
    """Text stored as an envelope-encrypted blob (``tipline.crypto``), bound to its table, column
    and row: each SELECT reads the row's primary key with the blob (``column_expression``) and the blob opens
    only there. It cannot be searched or compared in SQL: search goes through the blind index.

    Values are written through the ORM (the flush hook of ``tipline.store.sealing`` binds them to their
    row); raw blobs only by key rotation and migrations, with ``type_coerce(col, LargeBinary)``."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context.encode()

    def encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return data.decode("utf-8")

    def column_expression(self, colexpr: Any) -> Any:
        table = getattr(colexpr, "table", None)
        base = getattr(table, "element", table)
        pks = list(getattr(base, "primary_key", []))
        if table is None or len(pks) != 1 or pks[0].name not in table.c:
            raise RuntimeError(
                f"the sealed column {self.context.decode()} must be selected with its table's primary key "
                "in the same FROM (sealed values are bound to their row)"
            )
        row = cast(table.c[pks[0].name], Text)
        return type_coerce(row.concat(":").concat(_hex(colexpr)), _SealedRead(self))

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Sealing):
            raise RuntimeError(
                f"a value for the sealed column {self.context.decode()} was written without its row: write it "
                "through an ORM session of tipline.store.Database (its flush binds sealed values to their row)"
            )
        return keyring_for(dialect).seal(self.encode(value.value), context=self.context, row=value.row, key=value.key)

    def process_result_value(self, value: bytes | None, dialect: Any) -> Any:  # pragma: no cover - see _SealedRead
        raise RuntimeError(f"the sealed column {self.context.decode()} was read without its row")


class SealedJSON(SealedText):
    """A JSON document (dict or list) sealed like :class:`SealedText`."""

    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)
