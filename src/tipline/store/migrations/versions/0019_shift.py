"""the analyst's shift: who owns a report, when it was first acted on, labels; saved queue filters;
notifications to staff (an overdue report)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


# a batch alteration rebuilds the SQLite table: it must keep AUTOINCREMENT (ids never reused, see 0018)
_KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("reports", table_kwargs=_KEEP_IDS) as b:
        b.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("assigned_at", _when(), nullable=True))
        b.add_column(sa.Column("first_action_at", _when(), nullable=True))
        b.add_column(sa.Column("labels", sa.JSON(), nullable=False, server_default="[]"))
        b.create_foreign_key("fk_reports_assignee", "users", ["assignee_id"], ["id"], ondelete="SET NULL")
        b.create_index("ix_reports_assignee_id", ["assignee_id"])
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.String(2000), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_saved_filters_user_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "staff_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("read_at", _when(), nullable=True),
        sa.UniqueConstraint("user_id", "report_id", "kind", name="uq_staff_notifications_once"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("staff_notifications")
    op.drop_table("saved_filters")
    with op.batch_alter_table("reports", table_kwargs=_KEEP_IDS) as b:
        b.drop_index("ix_reports_assignee_id")
        b.drop_constraint("fk_reports_assignee", type_="foreignkey")
        b.drop_column("labels")
        b.drop_column("first_action_at")
        b.drop_column("assigned_at")
        b.drop_column("assignee_id")
