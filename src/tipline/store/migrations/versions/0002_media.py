"""media tables: hash banks, bank entries, hash matches

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hash_banks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_label", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,  # ids never reused: the in-process index caches per bank id
    )
    op.create_table(
        "bank_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("frames", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(length=512), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["hash_banks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        # serves duplicate checks and look-ups by (kind, hash) alike
        sa.UniqueConstraint("kind", "hash", "bank_id", name="uq_bank_entries_kind_hash_bank"),
        sqlite_autoincrement=True,  # an index hit names an entry id: it must never name another entry
    )
    op.create_index("ix_bank_entries_bank_kind", "bank_entries", ["bank_id", "kind", "id"], unique=False)
    op.create_table(
        "hash_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("bank_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("bank_name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bank_id"], ["hash_banks.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hash_matches_report_id", "hash_matches", ["report_id"], unique=False)
    # bank deletion sets these to NULL: without an index PostgreSQL scans every match for each deleted entry
    op.create_index("ix_hash_matches_entry_id", "hash_matches", ["entry_id"], unique=False)
    op.create_index("ix_hash_matches_bank_id", "hash_matches", ["bank_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_hash_matches_bank_id", table_name="hash_matches")
    op.drop_index("ix_hash_matches_entry_id", table_name="hash_matches")
    op.drop_index("ix_hash_matches_report_id", table_name="hash_matches")
    op.drop_table("hash_matches")
    op.drop_index("ix_bank_entries_bank_kind", table_name="bank_entries")
    op.drop_table("bank_entries")
    op.drop_table("hash_banks")
