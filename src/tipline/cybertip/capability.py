"""The CyberTipline door (``/ispws``): platforms that report to NCMEC's ESP API report here unchanged."""

from __future__ import annotations

from tipline.capability import Capability, Fact, RuleKind
from tipline.cybertip import cli, stale
from tipline.cybertip.door import CybertipXmlDoor
from tipline.settings import Settings
from tipline.store import Database
from tipline.triage.rules import Rule, ScoreInput

MULTIPART_SLACK = 1024 * 1024  # the multipart framing around the XML or the file


def _ispws_limit(st: Settings) -> int:
    # a report's XML or one of its files, in a multipart body; the door enforces the exact limits itself
    return max(st.max_upload_bytes, st.max_xml_bytes) + MULTIPART_SLACK


def _unfinished(rule: Rule, x: ScoreInput) -> bool:
    """Fires for a submission closed because its platform never called /finish."""
    return bool(x.facts.get(stale.UNFINISHED))


def _close_stale(db: Database) -> None:
    stale.close_stale(db)  # submissions left open while the server was down


def _close_stale_now(db: Database) -> int:
    return len(stale.close_stale(db))  # every minute while serving


CYBERTIP = Capability(
    name="cybertip",
    description="The CyberTipline ESP API door (/ispws): submissions, files, finish, retract.",
    routers=("tipline.cybertip.api:router",),
    body_limits={"/ispws/": _ispws_limit},
    doors=(CybertipXmlDoor(),),
    cli=cli.register,
    before_score=stale.before_score,
    facts=(Fact(stale.UNFINISHED, "the platform never finished the submission: closed after cybertip_stale_hours"),),
    rule_kinds={"submission_unfinished": RuleKind(_unfinished, reads=(stale.UNFINISHED,))},
    on_start=_close_stale,
    periodic=(_close_stale_now,),
)
