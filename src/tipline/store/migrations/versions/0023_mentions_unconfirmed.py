"""an index of the mentions that link nothing (unconfirmed readings, persons' names, known pictures), by
report: after each analysis the worker looks, among the reports that share an identifier with the one just
analysed, for those with an unconfirmed reading to check again; without this index PostgreSQL read every
mention to find the few unlinked ones (1.8 ms a report after 3,000 reports, growing with the store)

The index's condition is written as the query writes it (``linkable IS false``; ``IS 0`` on SQLite): SQLite
uses a partial index only when the query's WHERE holds the index's condition term for term.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_mentions_unlinked",
        "mentions",
        ["report_id"],
        sqlite_where=sa.text("linkable IS 0"),
        postgresql_where=sa.text("linkable IS false"),
    )


def downgrade() -> None:
    op.drop_index("ix_mentions_unlinked", table_name="mentions")
