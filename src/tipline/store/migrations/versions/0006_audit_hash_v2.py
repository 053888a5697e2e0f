"""audit events record their hash format (format 2 hashes actor_user_id too)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing events keep an empty format: they were hashed with format 1 and still verify as such
    with op.batch_alter_table("audit_events") as b:
        b.add_column(sa.Column("hash_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as b:
        b.drop_column("hash_version")
