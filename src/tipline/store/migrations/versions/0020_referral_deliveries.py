"""referral deliveries: how, when and by whom a referral reached the agency, with the agency's reference;
who at the agency acknowledged it

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "referral_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "referral_id", sa.Integer(), sa.ForeignKey("referrals.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(500), nullable=False, server_default=""),
        sa.Column("sent_at", _when(), nullable=False),
        sa.Column("sent_by", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False, server_default=""),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", _when(), nullable=False),
        sqlite_autoincrement=True,
    )
    # a plain ADD COLUMN: SQLite does not rebuild the table, so its AUTOINCREMENT stays
    op.add_column("referrals", sa.Column("ack_from", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals", table_kwargs={"sqlite_autoincrement": True}) as b:
        b.drop_column("ack_from")
    op.drop_table("referral_deliveries")
