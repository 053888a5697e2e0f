"""The faces capability: face search for victim identification, off unless ``TIPLINE_FACES_ENABLED``."""

from __future__ import annotations

from tipline.capability import Capability
from tipline.faces import cli, groups, models, service
from tipline.settings import Settings
from tipline.store import Database


def _upload_limit(st: Settings) -> int:
    from tipline.faces.web import MULTIPART_SLACK  # read by the app, which imports the web layer anyway

    return st.max_upload_bytes + MULTIPART_SLACK


SCAN_PER_ROUND = 50  # files per minute round: a large backlog is worked off over several rounds


def _scan_new_media(db: Database) -> int:
    """The server scans new report media for faces by itself (off: nothing, not even a query)."""
    if not db.settings.faces_enabled:
        return 0
    return service.scan_pending(db, limit=SCAN_PER_ROUND).files


def _load_index(db: Database) -> None:
    if db.settings.faces_enabled:  # off: nothing is read, not even the (empty) tables
        service.index_for(db)


FACES = Capability(
    name="faces",
    description="Face search (off by default): faces of report media, galleries of known people, audited search.",
    models=(models,),
    routers=("tipline.faces.web:router",),
    cli=cli.register,
    before_score=groups.before_score,  # unknown-person identifiers back on a re-analysed report
    retention=(service.forget_old,),
    body_limits={"/api/v1/faces/": _upload_limit},
    on_start=_load_index,
    periodic=(_scan_new_media,),
)
