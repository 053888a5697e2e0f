"""protection tables: MFA, lockout, recovery codes, session stages

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("mfa_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("locked_until", _when(), nullable=True))
        b.add_column(sa.Column("last_login_at", _when(), nullable=True))
        b.add_column(sa.Column("password_changed_at", _when(), nullable=True))
    with op.batch_alter_table("staff_sessions") as b:
        b.add_column(sa.Column("stage", sa.String(length=16), nullable=False, server_default="full"))
        b.add_column(sa.Column("revoked_at", _when(), nullable=True))
        b.add_column(sa.Column("revoked_by", sa.String(length=128), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("used_at", _when(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    with op.batch_alter_table("staff_sessions") as b:
        b.drop_column("revoked_by")
        b.drop_column("revoked_at")
        b.drop_column("stage")
    with op.batch_alter_table("users") as b:
        b.drop_column("password_changed_at")
        b.drop_column("last_login_at")
        b.drop_column("locked_until")
        b.drop_column("totp_last_step")
        b.drop_column("mfa_enabled")
