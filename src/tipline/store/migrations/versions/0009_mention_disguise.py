"""mentions keep the disguise a value was written in, the other readings of an ambiguous value, and
whether the graph may link through it

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as b:
        b.add_column(sa.Column("disguise", sa.String(64), nullable=True))
        b.add_column(sa.Column("alternatives", sa.JSON(), nullable=True))
        b.add_column(sa.Column("linkable", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("mentions") as b:
        b.drop_column("linkable")
        b.drop_column("alternatives")
        b.drop_column("disguise")
