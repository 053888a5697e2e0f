"""entities count the reports that name them linkably, beside all the reports that name them: analysis keeps
both by difference (+1/-1 as a report starts or stops naming an entity) instead of recounting every mention
of every entity a report names, which grew with the store (a domain named by a quarter of all reports)

Both counts are filled here from the mentions (``report_count`` too: analysis left it unrefreshed for an
entity that only an ambiguous reading named).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# a batch alteration rebuilds the SQLite table: it must keep AUTOINCREMENT (ids never reused, see 0018)
_KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("entities", table_kwargs=_KEEP_IDS) as b:
        b.add_column(sa.Column("linkable_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE entities SET "
        "report_count = (SELECT count(DISTINCT m.report_id) FROM mentions m WHERE m.entity_id = entities.id), "
        "linkable_count = (SELECT count(DISTINCT m.report_id) FROM mentions m "
        "WHERE m.entity_id = entities.id AND m.linkable)"
    )


def downgrade() -> None:
    with op.batch_alter_table("entities", table_kwargs=_KEEP_IDS) as b:
        b.drop_column("linkable_count")
