"""routing tables: agencies, jurisdiction candidates, referrals, URL takedowns

The agency directory is seeded at run time from ``tipline/routing/agencies.toml``, never here.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("short_name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("mandate", sa.Text(), nullable=False),
        sa.Column("contact", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "jurisdiction_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("computed_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jurisdiction_candidates_report_id", "jurisdiction_candidates", ["report_id"])
    op.create_index("ix_jurisdiction_candidates_country", "jurisdiction_candidates", ["country", "weight"])
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("report_ids", sa.JSON(), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("package", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("acknowledged_at", _when(), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("ack_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referrals_report_id", "referrals", ["report_id"])
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"])
    op.create_index("ix_referrals_agency_id", "referrals", ["agency_id"])
    op.create_index("ix_referrals_created_at", "referrals", ["created_at"])
    op.create_table(
        "url_takedowns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url_sha256", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("report_ids", sa.JSON(), nullable=False),
        sa.Column("hosting_country", sa.String(length=2), nullable=True),
        sa.Column("hosting_ips", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reported_at", _when(), nullable=False),
        sa.Column("assessed_at", _when(), nullable=True),
        sa.Column("notice_sent_at", _when(), nullable=True),
        sa.Column("removed_at", _when(), nullable=True),
        sa.Column("reappeared_at", _when(), nullable=True),
        sa.Column("notice_agency_id", sa.String(length=64), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url_sha256", name="uq_url_takedowns_url_sha256"),
    )
    op.create_index("ix_url_takedowns_state", "url_takedowns", ["state", "hosting_country"])


def downgrade() -> None:
    op.drop_index("ix_url_takedowns_state", table_name="url_takedowns")
    op.drop_table("url_takedowns")
    op.drop_index("ix_referrals_created_at", table_name="referrals")
    op.drop_index("ix_referrals_agency_id", table_name="referrals")
    op.drop_index("ix_referrals_case_id", table_name="referrals")
    op.drop_index("ix_referrals_report_id", table_name="referrals")
    op.drop_table("referrals")
    op.drop_index("ix_jurisdiction_candidates_country", table_name="jurisdiction_candidates")
    op.drop_index("ix_jurisdiction_candidates_report_id", table_name="jurisdiction_candidates")
    op.drop_table("jurisdiction_candidates")
    op.drop_table("agencies")
