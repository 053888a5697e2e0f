"""revocable, expiring, scoped staff tokens; platform credentials disabled or rotated one by one

Revision ID: 0011
Revises: 0010
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# tokens made before expiry existed live this long from the upgrade (the default expiry of new ones)
LEGACY_TOKEN_DAYS = 90


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as b:
        # every existing token gets the analyst scope: none was made after a second-factor check
        b.add_column(sa.Column("scope", sa.String(length=16), nullable=False, server_default="analyst"))
        b.add_column(sa.Column("expires_at", _when(), nullable=True))
        b.add_column(sa.Column("revoked_at", _when(), nullable=True))
        b.add_column(sa.Column("revoked_by", sa.String(length=128), nullable=True))
    with op.batch_alter_table("platforms") as b:
        b.add_column(sa.Column("api_key_active", sa.Boolean(), nullable=False, server_default=sa.true()))
        b.add_column(sa.Column("cybertip_active", sa.Boolean(), nullable=False, server_default=sa.true()))
        b.add_column(sa.Column("api_key_rotated_at", _when(), nullable=True))
        b.add_column(sa.Column("cybertip_rotated_at", _when(), nullable=True))
    now = datetime.now(UTC)
    tokens = sa.table(
        "api_tokens",
        sa.column("user_id", sa.Integer),
        sa.column("revoked", sa.Boolean),
        sa.column("expires_at", _when()),
        sa.column("revoked_at", _when()),
        sa.column("revoked_by", sa.String),
    )
    sessions = sa.table(
        "staff_sessions",
        sa.column("user_id", sa.Integer),
        sa.column("revoked", sa.Boolean),
        sa.column("revoked_at", _when()),
        sa.column("revoked_by", sa.String),
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("active", sa.Boolean))
    op.execute(
        tokens.update().where(tokens.c.expires_at.is_(None)).values(expires_at=now + timedelta(days=LEGACY_TOKEN_DAYS))
    )
    # a deactivated user's tokens and sessions end for good: reactivating the user must not revive them
    inactive = sa.select(users.c.id).where(users.c.active.is_(sa.false()))
    for t in (tokens, sessions):
        op.execute(
            t.update()
            .where(t.c.user_id.in_(inactive), t.c.revoked.is_(sa.false()))
            .values(revoked=True, revoked_at=now, revoked_by="upgrade: user inactive")
        )


def downgrade() -> None:
    with op.batch_alter_table("platforms") as b:
        b.drop_column("cybertip_rotated_at")
        b.drop_column("api_key_rotated_at")
        b.drop_column("cybertip_active")
        b.drop_column("api_key_active")
    with op.batch_alter_table("api_tokens") as b:
        b.drop_column("revoked_by")
        b.drop_column("revoked_at")
        b.drop_column("expires_at")
        b.drop_column("scope")
