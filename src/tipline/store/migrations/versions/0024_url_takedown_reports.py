"""the reports that name a takedown's URL, one row each (``url_takedown_reports``), instead of a JSON list on
the takedown row: every report naming a popular URL read and rewrote the whole list under that row's lock, so
analysing such a report cost more as the list grew, and two workers naming one URL waited on each other

The lists are copied into the new table (ids of reports that no longer exist are left out), then dropped.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# a batch alteration rebuilds the SQLite table: it must keep AUTOINCREMENT (ids never reused, see 0018)
_KEEP_IDS = {"sqlite_autoincrement": True}
_TAKEDOWNS = sa.table("url_takedowns", sa.column("id", sa.Integer), sa.column("report_ids", sa.JSON))


def upgrade() -> None:
    op.create_table(
        "url_takedown_reports",
        sa.Column("takedown_id", sa.Integer(), sa.ForeignKey("url_takedowns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.PrimaryKeyConstraint("takedown_id", "report_id"),
    )
    op.create_index("ix_url_takedown_reports_report_id", "url_takedown_reports", ["report_id"])
    bind = op.get_bind()
    rows = [
        {"t": tid, "r": int(rid)}
        for tid, ids in bind.execute(sa.select(_TAKEDOWNS.c.id, _TAKEDOWNS.c.report_ids))
        for rid in sorted({int(x) for x in ids or []})
    ]
    if rows:  # a report deleted since (retention) is left out
        bind.execute(
            sa.text(
                "INSERT INTO url_takedown_reports (takedown_id, report_id) SELECT :t, id FROM reports WHERE id = :r"
            ),
            rows,
        )
    with op.batch_alter_table("url_takedowns", table_kwargs=_KEEP_IDS) as b:
        b.drop_column("report_ids")


def downgrade() -> None:
    with op.batch_alter_table("url_takedowns", table_kwargs=_KEEP_IDS) as b:
        b.add_column(sa.Column("report_ids", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    ids: dict[int, list[int]] = {}
    for tid, rid in bind.execute(sa.text("SELECT takedown_id, report_id FROM url_takedown_reports ORDER BY 1, 2")):
        ids.setdefault(int(tid), []).append(int(rid))
    for tid, rids in ids.items():
        bind.execute(sa.update(_TAKEDOWNS).where(_TAKEDOWNS.c.id == tid).values(report_ids=rids))
    op.drop_index("ix_url_takedown_reports_report_id", table_name="url_takedown_reports")
    op.drop_table("url_takedown_reports")
