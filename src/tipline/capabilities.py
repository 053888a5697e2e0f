"""The capabilities of this installation, in one tuple (the registry; see ``tipline.capability``).

The app factory (routers, body limits, start-up), the CLI (commands), analysis (hooks, facts, rule kinds),
the whole-schema model list (``tipline.all_models``), retention and the report page (panels) iterate
``CAPABILITIES``, in this order. A new capability is one ``capability.py`` in its package and one line here.
"""

from __future__ import annotations

from tipline.accounts.capability import ACCOUNTS
from tipline.ads.capability import ADS
from tipline.capability import Capability, RuleKind, check
from tipline.capability import rule_kinds as _rule_kinds
from tipline.cybertip.capability import CYBERTIP
from tipline.evidence.capability import EVIDENCE
from tipline.faces.capability import FACES
from tipline.finance.capability import FINANCE
from tipline.graph.capability import GRAPH
from tipline.intake.door import CORE_DOORS, Door
from tipline.media.capability import MEDIA
from tipline.routing.capability import ROUTING
from tipline.settings import Settings
from tipline.store import Database

CAPABILITIES: tuple[Capability, ...] = (ACCOUNTS, CYBERTIP, EVIDENCE, MEDIA, ROUTING, GRAPH, FINANCE, ADS, FACES)
check(CAPABILITIES)


def open_database(settings: Settings) -> Database:
    """The database of ``settings`` with this installation's capabilities (what the CLI and the app use)."""
    return Database.from_settings(settings, capabilities=CAPABILITIES)


def doors() -> tuple[Door, ...]:
    """Every door: the core ones (``tipline.intake.door``) and the capabilities' (names unique)."""
    found = (*CORE_DOORS, *(d for cap in CAPABILITIES for d in cap.doors))
    names = [d.name for d in found]
    if len(set(names)) != len(names):
        raise ValueError(f"two doors share a name: {sorted(names)}")
    return found


def rule_kinds() -> dict[str, RuleKind]:
    """The triage rule kinds the capabilities add to the core ones."""
    return _rule_kinds(CAPABILITIES)
