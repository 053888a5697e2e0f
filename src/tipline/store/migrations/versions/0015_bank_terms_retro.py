"""hash banks: who may match and what a platform sees (partners' terms), re-enable time; retro-match runs

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("hash_banks") as b:
        # existing banks keep what they did: every platform matches and sees the label
        b.add_column(sa.Column("match_scope", sa.String(16), nullable=False, server_default="all"))
        b.add_column(sa.Column("match_platforms", sa.JSON(), nullable=False, server_default="[]"))
        b.add_column(sa.Column("platform_view", sa.String(16), nullable=False, server_default="label"))
        b.add_column(sa.Column("enabled_at", _when(), nullable=True))
    op.create_table(
        "bank_retro_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("hash_banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("bank_name", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("after_entry_id", sa.Integer(), nullable=False),
        sa.Column("upto_entry_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("last_attachment_id", sa.Integer(), nullable=False),
        sa.Column("reports_hit", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(512), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("started_at", _when(), nullable=True),
        sa.Column("heartbeat_at", _when(), nullable=True),
        sa.Column("finished_at", _when(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_bank_retro_runs_bank_id", "bank_retro_runs", ["bank_id"])


def downgrade() -> None:
    op.drop_index("ix_bank_retro_runs_bank_id", "bank_retro_runs")
    op.drop_table("bank_retro_runs")
    with op.batch_alter_table("hash_banks") as b:
        b.drop_column("enabled_at")
        b.drop_column("platform_view")
        b.drop_column("match_platforms")
        b.drop_column("match_scope")
