"""entities count the evidence items (ads, payments, partners' records) that name them, beside the reports:
the graph's over-correlation guard limits the sum (a site's support phone in 10,000 ads and 2 reports is
infrastructure, not one operation's phone)

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# a batch alteration rebuilds the SQLite table: it must keep AUTOINCREMENT (ids never reused, see 0018)
_KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("entities", table_kwargs=_KEEP_IDS) as b:
        b.add_column(sa.Column("evidence_count", sa.Integer(), nullable=False, server_default="0"))
    # an ad's site was read from its details as an identifier (its domain): once evidence items count, every
    # ad of a site would link to every other through it; ads no longer name it (run `tipline networks
    # recompute` after this upgrade)
    op.execute(
        "DELETE FROM evidence_mentions WHERE field = 'details.site' "
        "AND evidence_id IN (SELECT id FROM evidence_items WHERE kind = 'ad')"
    )
    op.execute(
        "UPDATE entities SET evidence_count = (SELECT count(DISTINCT m.evidence_id) FROM evidence_mentions m "
        "WHERE m.entity_id = entities.id) WHERE id IN (SELECT entity_id FROM evidence_mentions)"
    )


def downgrade() -> None:
    with op.batch_alter_table("entities", table_kwargs=_KEEP_IDS) as b:
        b.drop_column("evidence_count")
