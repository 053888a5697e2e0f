"""master-key state in the database (active and retired keys) and the heartbeats of sealing processes

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "master_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("changed_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "sealing_processes",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", _when(), nullable=False),
        sa.Column("seen_at", _when(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sealing_processes_expires_at", "sealing_processes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sealing_processes_expires_at", table_name="sealing_processes")
    op.drop_table("sealing_processes")
    op.drop_table("master_keys")
