"""face search (off by default): galleries and their entries, faces of report media, scans, unknown-person groups

Empty tables, harmless until TIPLINE_FACES_ENABLED is on: nothing reads or writes them while it is off.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "face_galleries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
    )
    op.create_table(
        "face_gallery_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("gallery_id", sa.Integer(), sa.ForeignKey("face_galleries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.LargeBinary(), nullable=False),
        sa.Column("provenance", sa.LargeBinary(), nullable=False),
        sa.Column("legal_basis", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("photo_sha256", sa.String(64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("enrolled_by", sa.String(200), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
    )
    op.create_index("ix_face_gallery_entries_gallery_id", "face_gallery_entries", ["gallery_id"])
    op.create_table(
        "face_scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("attachment_id", sa.Integer(), sa.ForeignKey("attachments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("scanned_at", _when(), nullable=False),
        sa.UniqueConstraint("attachment_id", name="uq_face_scans_attachment_id"),
    )
    op.create_table(
        "face_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("attachment_id", sa.Integer(), sa.ForeignKey("attachments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("face_groups.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
    )
    op.create_index("ix_faces_attachment_id", "faces", ["attachment_id"])
    op.create_index("ix_faces_report", "faces", ["report_id"])
    op.create_index("ix_faces_group_id", "faces", ["group_id"])


def downgrade() -> None:
    op.drop_table("faces")
    op.drop_table("face_groups")
    op.drop_table("face_scans")
    op.drop_table("face_gallery_entries")
    op.drop_table("face_galleries")
