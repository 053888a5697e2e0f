"""evidence items beyond reports (ads, payments, partners' records), their mentions, evidence in cases

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("occurred_at", _when(), nullable=True),
        sa.Column("received_at", _when(), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.Column("analysed_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_evidence_source_external"),
    )
    op.create_index("ix_evidence_items_kind", "evidence_items", ["kind"], unique=False)
    op.create_table(
        "evidence_mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("start", sa.Integer(), nullable=True),
        sa.Column("end", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_mentions_evidence_id", "evidence_mentions", ["evidence_id"], unique=False)
    op.create_index("ix_evidence_mentions_entity_item", "evidence_mentions", ["entity_id", "evidence_id"], unique=False)
    op.create_table(
        "case_evidence",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("added_at", _when(), nullable=False),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "evidence_id"),
    )
    op.create_index("ix_case_evidence_evidence_id", "case_evidence", ["evidence_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_evidence_evidence_id", table_name="case_evidence")
    op.drop_table("case_evidence")
    op.drop_index("ix_evidence_mentions_entity_item", table_name="evidence_mentions")
    op.drop_index("ix_evidence_mentions_evidence_id", table_name="evidence_mentions")
    op.drop_table("evidence_mentions")
    op.drop_index("ix_evidence_items_kind", table_name="evidence_items")
    op.drop_table("evidence_items")
