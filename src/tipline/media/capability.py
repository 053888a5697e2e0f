"""The media capability: hash banks, matching of every report's files, the safe media viewer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table

from tipline.capability import Capability, Fact, Panel, RuleKind, SealedFiles
from tipline.media import cli, hooks, links, models, retro, storage
from tipline.media.hooks import HASH_MATCH_LABELS, HASH_MATCH_LATE
from tipline.media.matching import matcher_for, report_matches
from tipline.settings import Settings
from tipline.store import Database
from tipline.triage.rules import Rule, ScoreInput


def _hash_match(rule: Rule, x: ScoreInput) -> str | None:
    """Fires when a file of the report is in an enabled hash bank (``labels``: only those labels)."""
    wanted = set(rule.params.get("labels", []))
    hits = [lab for lab in x.facts.get(HASH_MATCH_LABELS, []) if not wanted or lab in wanted]
    if not hits:
        return None
    late = sorted({note for lab, note in x.facts.get(HASH_MATCH_LATE, []) if not wanted or lab in wanted})
    detail = ", ".join(sorted(set(hits)))
    return f"{detail} ({'; '.join(late)})" if late else detail


def _upload_limit(st: Settings) -> int:
    from tipline.media.web import MULTIPART_SLACK  # read by the app, which imports the web layer anyway

    return st.max_upload_bytes + MULTIPART_SLACK


def _panel(db: Database, report_id: int) -> Mapping[str, Any]:
    return {"hash_matches": report_matches(db, report_id)}


def _load_banks(db: Database) -> None:
    matcher_for(db).refresh()  # hash banks into memory before the first report or panic button
    retro.in_background(db)  # retro-matches left waiting (an import with --later, a run cut short)


MEDIA = Capability(
    name="media",
    description="Hash banks (exact, PDQ, vPDQ) matched against every report's files; the blurred viewer.",
    models=(models,),
    routers=("tipline.media.web:router",),  # its API, bank pages and the viewer's pages
    cli=cli.register,
    before_score=hooks.before_score,
    analysis_rows=(cast(Table, models.HashMatch.__table__),),  # deleted by analysis, written anew by the hook
    report_identifiers=links.report_pictures,  # its pictures link reports and ads (PDQ, near copies too)
    facts=(
        Fact(HASH_MATCH_LABELS, "labels of the hash-bank entries the report's files match"),
        Fact(HASH_MATCH_LATE, "[label, 'matched list X imported on D'] for matches found after the report came"),
    ),
    rule_kinds={"hash_match": RuleKind(_hash_match, reads=(HASH_MATCH_LABELS, HASH_MATCH_LATE))},
    report_panels=(Panel("media/report_matches.html", "main", _panel),),
    # a file to match, and a bank list uploaded on its page, may be larger than an ordinary form
    body_limits={"/api/v1/match": _upload_limit, "/banks/": _upload_limit},
    on_start=_load_banks,
    sealed_files=SealedFiles(rewrap=storage.rewrap_blobs, key_usage=storage.blob_key_usage),
)
