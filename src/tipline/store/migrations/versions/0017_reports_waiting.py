"""reports waiting for analysis: a partial index in the order the analysis workers take them (priority,
then arrival), so claiming a batch and counting the backlog never scan the whole table

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_WHERE = sa.text("analysed_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_reports_waiting", "reports", ["priority", "id"], sqlite_where=_WHERE, postgresql_where=_WHERE)


def downgrade() -> None:
    op.drop_index("ix_reports_waiting", table_name="reports")
