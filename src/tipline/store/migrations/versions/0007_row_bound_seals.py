"""sealed values bound to their row: re-seal every older (column-bound) value with its row in the AAD

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (table, column, context) of every sealed column at this revision
SEALED = [
    ("users", "totp_secret_sealed", "users.totp_secret"),
    ("reports", "text", "reports.text"),
    ("reports", "contact_sealed", "reports.contact"),
    ("followups", "body", "followups.body"),
    ("report_notes", "body", "report_notes.body"),
    ("case_notes", "body", "case_notes.body"),
    ("referrals", "package", "referrals.package"),
]


def upgrade() -> None:
    from tipline.store.sealing import reseal_column

    conn = op.get_bind()
    for table, column, context in SEALED:

        def bind_to_row(ring, value, row_id, context=context.encode()):
            blob = bytes(value)
            if blob[:1] != b"\x02":
                return None  # already bound to its row
            plain = ring.open(blob, context=context)
            return ring.seal(plain, context=context, row=str(row_id), key=ring.sealed_with(blob))

        reseal_column(conn, table, column, context, reseal=bind_to_row)


def downgrade() -> None:
    from tipline.store.sealing import reseal_column

    conn = op.get_bind()
    for table, column, context in SEALED:

        def unbind(ring, value, row_id, context=context.encode()):
            blob = bytes(value)
            if blob[:1] != b"\x03":
                return None
            plain = ring.open(blob, context=context, row=str(row_id))
            return ring.seal(plain, context=context, key=ring.sealed_with(blob))

        reseal_column(conn, table, column, context, reseal=unbind)
