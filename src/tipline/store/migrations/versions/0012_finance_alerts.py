"""payment-screening alerts and the identifiers they name

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finance_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sender_id", sa.String(length=256), nullable=False, unique=True),
        sa.Column("sender_name", sa.LargeBinary(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rules_fired", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.LargeBinary(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("window_end", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_finance_alerts_status_score", "finance_alerts", ["status", "score"])
    op.create_table(
        "finance_alert_identifiers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("finance_alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
    )
    op.create_index("ix_finance_alert_identifiers_alert_id", "finance_alert_identifiers", ["alert_id"])
    op.create_index("ix_finance_alert_identifiers_kv", "finance_alert_identifiers", ["kind", "value"])


def downgrade() -> None:
    op.drop_table("finance_alert_identifiers")
    op.drop_table("finance_alerts")
