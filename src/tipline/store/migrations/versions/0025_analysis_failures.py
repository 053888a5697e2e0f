"""reports whose analysis failed (``analysis_failures``): the workers kept them in memory only, so a report
that failed again and again waited without anybody seeing why; now ``tipline status`` and the queue page
count them, with the error's type

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_failures",
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(200), nullable=False),
    )
    op.create_index("ix_analysis_failures_last_at", "analysis_failures", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_analysis_failures_last_at", table_name="analysis_failures")
    op.drop_table("analysis_failures")
