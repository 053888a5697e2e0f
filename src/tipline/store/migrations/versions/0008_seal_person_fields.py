"""seal every field that names or describes a person: report details and persons, attachment file names
and details, case descriptions, referral acknowledgement notes (bound to their rows like the others)

Revision ID: 0008
Revises: 0007

PostgreSQL: the columns become ``bytea`` (their text kept as UTF-8 bytes, then sealed). SQLite: column
types are only declarations there, so the columns keep theirs and hold the sealed blobs.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, column, context, JSON?, nullable)
COLUMNS = [
    ("reports", "details", "reports.details", True, False),
    ("reports", "persons", "reports.persons", True, False),
    ("attachments", "details", "attachments.details", True, False),
    ("attachments", "filename", "attachments.filename", False, True),
    ("cases", "description", "cases.description", False, False),
    ("referrals", "ack_note", "referrals.ack_note", False, True),
]


def _plain(value, is_json):
    if isinstance(value, memoryview | bytes | bytearray):
        value = bytes(value).decode("utf-8")
    if is_json and not isinstance(value, str):
        value = json.dumps(value)
    if is_json:  # the same compact form the column type writes
        value = json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
    return value.encode("utf-8")


def upgrade() -> None:
    from tipline.store.sealing import reseal_column

    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for table, column, context, is_json, _nullable in COLUMNS:
        if pg:
            cast = f"convert_to({column}::text, 'UTF8')"
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea USING {cast}")

        def seal(ring, value, row_id, context=context.encode(), is_json=is_json):
            if isinstance(value, memoryview | bytes | bytearray) and bytes(value)[:1] == b"\x03":
                return None  # sealed already
            return ring.seal(_plain(value, is_json), context=context, row=str(row_id))

        reseal_column(conn, table, column, context, reseal=seal)


def downgrade() -> None:
    from tipline.store.sealing import reseal_column

    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for table, column, context, is_json, _nullable in COLUMNS:

        def unseal(ring, value, row_id, context=context.encode()):
            return ring.open(bytes(value), context=context, row=str(row_id))

        reseal_column(conn, table, column, context, reseal=unseal)
        if pg:
            kind = "json" if is_json else "text"
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind} USING convert_from({column}, 'UTF8')::{kind}"
            )
        else:  # SQLite: back to text values
            t = sa.table(table, sa.column("id"), sa.column(column))
            for row_id, value in conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].isnot(None))).all():
                text = bytes(value).decode("utf-8")
                conn.execute(t.update().where(t.c.id == row_id).values({column: text}))
