"""ids never reused on SQLite: AUTOINCREMENT on every table with an integer id

A sealed value is bound to its table, column and row id, audit events name rows by id, and report ids are
handed to platforms (the CyberTipline ``reportId``). Without AUTOINCREMENT, SQLite gives a new row the
largest id + 1, so deleting the newest row (retention, an erasure) lets the next row take its id: an old
sealed value of the deleted row (from a copy of the database) would open in the new row, and the audit
trail of the deleted row would name the new one. With AUTOINCREMENT, SQLite keeps the largest id ever
used in ``sqlite_sequence`` and never hands it out again (the flush hook of ``store/sealing.py`` reads
it too). The tables are rebuilt (Alembic batch mode, with foreign keys off during the migration, see
``env.py``); rows keep their ids. PostgreSQL already takes ids from sequences that never go back: no
change there.

Ids freed before this upgrade are not known to SQLite any more; each table continues after its largest
id at upgrade time.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# every table of revision 0017 with an integer id of its own (hash_banks and bank_entries have had
# AUTOINCREMENT since 0002; tables keyed by a name, or by another table's id, have no ids to reuse)
TABLES = (
    "users",
    "platforms",
    "reports",
    "attachments",
    "hash_matches",
    "entities",
    "mentions",
    "followups",
    "report_notes",
    "api_tokens",
    "recovery_codes",
    "audit_events",
    "cases",
    "case_events",
    "case_notes",
    "correlation_exclusions",
    "jurisdiction_candidates",
    "referrals",
    "url_takedowns",
    "finance_alerts",
    "finance_alert_identifiers",
    "evidence_items",
    "evidence_mentions",
    "ad_clusters",
    "ads",
    "ad_bands",
    "ad_common_text",
    "bank_retro_runs",
    "face_galleries",
    "face_gallery_entries",
    "face_scans",
    "face_groups",
    "faces",
)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        kwargs = {"sqlite_autoincrement": True} if autoincrement else {}
        with op.batch_alter_table(table, recreate="always", table_kwargs=kwargs):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
