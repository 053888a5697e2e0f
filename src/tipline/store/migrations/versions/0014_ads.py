"""classified ads: ads beside their evidence items, template clusters, LSH band keys, learned common text

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ad_clusters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_seen", _when(), nullable=False),
        sa.Column("last_seen", _when(), nullable=False),
        sa.Column("summary", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )
    op.create_table(
        "ads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("evidence_id", sa.Integer(), sa.ForeignKey("evidence_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("ad_id", sa.String(200), nullable=False),
        sa.Column("posted_at", _when(), nullable=False),
        sa.Column("city", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("imported_at", _when(), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("obscured_phone", sa.String(200), nullable=True),
        sa.Column("residual", sa.LargeBinary(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), sa.ForeignKey("ad_clusters.id", ondelete="SET NULL"), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.UniqueConstraint("site", "ad_id", name="uq_ads_site_ad_id"),
        sa.UniqueConstraint("evidence_id", name="uq_ads_evidence_id"),
    )
    op.create_index("ix_ads_site", "ads", ["site"])
    op.create_index("ix_ads_posted_at", "ads", ["posted_at"])
    op.create_index("ix_ads_city", "ads", ["city"])
    op.create_index("ix_ads_cluster_id", "ads", ["cluster_id"])
    op.create_index("ix_ads_rank", "ads", ["rank"])
    op.create_table(
        "ad_bands",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ad_pk", sa.Integer(), sa.ForeignKey("ads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_ad_bands_band_key", "ad_bands", ["band", "key"])
    op.create_index("ix_ad_bands_ad_pk", "ad_bands", ["ad_pk"])
    op.create_table(
        "ad_common_text",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("shingle", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_ad_common_text_site", "ad_common_text", ["site"])


def downgrade() -> None:
    op.drop_table("ad_common_text")
    op.drop_table("ad_bands")
    op.drop_table("ads")
    op.drop_table("ad_clusters")
