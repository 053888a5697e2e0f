"""What a capability plugs into, declared in one place (the hook specification of tipline).

A capability (hash banks, the entity graph, routing, accounts, ...) is a package with one
``capability.py`` that builds a :class:`Capability`. The tuple of them, ``tipline.capabilities.CAPABILITIES``,
is what the app factory, the CLI, analysis, the whole-schema model list, retention, the body limits and the
report page iterate. Nothing registers itself when imported: a capability that is not in the tuple is not
there.

Every field is optional except the name; each one says below who reads it and when. Don'ts (they hold for
every callable a capability gives here):

- an analysis hook runs inside the analysis transaction (``ctx.session``): it must not open another write
  session (SQLite has one writer: it would wait on itself), must not call the network, and must not log
  report text or reporter data. A hook that raises fails the analysis; the report stays unanalysed and is
  retried (every minute while serving, and at start-up);
- a condition (triage rule kind) is a pure function of :class:`~tipline.triage.rules.ScoreInput`: no
  database, no clock, no network;
- a retention step runs inside the retention transaction and must not delete reports itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from tipline.settings import Settings
from tipline.triage.rules import RuleKind, Scored, ScoreInput

if TYPE_CHECKING:
    import typer
    from sqlalchemy import Table
    from sqlalchemy.sql.elements import ColumnElement

    from tipline.intake.door import Door
    from tipline.store import Database
    from tipline.store.models import Report


@dataclass
class AnalysisContext:
    """What the analysis hooks see of one report being analysed (``tipline.intake.service.analyse_report``).

    1. every **before-score** hook may add facts the triage rules read to ``score_input.facts``
       (hash-bank matches, open cases that share an entity, ...);
    2. the report is scored with the rules in force;
    3. every **after-analysis** hook keeps derived data current (the entity graph, jurisdiction, ...).
    """

    db: Database
    session: Session
    report: Report
    entity_ids: set[int]  # entities this report mentions now
    removed_entity_ids: set[int]  # entities it mentioned before this analysis and no longer does
    score_input: ScoreInput
    scored: Scored | None = None  # set before the after-analysis hooks run
    notes: dict[str, object] = field(default_factory=dict)
    previous_entity_ids: set[int] = field(default_factory=set)  # every entity it mentioned before this analysis
    # (kind, value, degree) of the entities of ``entity_ids`` as analysis counted them, before the hooks (a
    # hook that adds an entity to ``entity_ids`` or changes a count reads that entity itself)
    entity_info: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    # (kind, value, field) of the mentions analysis wrote, in the order written (linkable or not); a hook
    # that needs the mentions another hook adds reads them itself
    mentions: list[tuple[str, str, str]] = field(default_factory=list)


Hook = Callable[[AnalysisContext], None]


@dataclass
class EvidenceContext:
    """What the evidence hooks see of one evidence item just analysed (``tipline.evidence.service``): the
    entities it names now and those it named before and no longer does. Same rules as analysis hooks."""

    db: Database
    session: Session
    evidence_id: int
    entity_ids: set[int]
    removed_entity_ids: set[int]


EvidenceHook = Callable[[EvidenceContext], None]

ReportIdentifiers = Callable[[Session, Settings, "Report"], list[tuple[str, str, str]]]
"""Identifiers a capability finds in a report beyond its text and fields, as ``(kind, value, field)``
(media: its pictures' PDQ hashes). Called by analysis, in its transaction, before the mentions are
written; they become mentions that link like any other. Same rules as analysis hooks."""


@dataclass(frozen=True)
class Fact:
    """A fact a capability adds to ``ScoreInput.facts`` before scoring, for its rule kinds to read."""

    name: str  # the key in ScoreInput.facts, "<capability>.<fact>"
    description: str


@dataclass(frozen=True)
class Panel:
    """A panel of the staff report page: a template included in one column, with its context.

    ``context(db, report_id)`` returns what the template needs (merged into the page's context); ``None``
    for a panel that needs only the report (``r``) and the page's own values.
    """

    template: str
    column: Literal["main", "side"] = "side"
    context: Callable[[Database, int], Mapping[str, Any]] | None = None


RetentionStep = Callable[[Session, Settings, set[int]], None]
"""Called by every retention run (not a dry run), after expired reports were deleted, with the ids of the
entities the deleted reports shared with kept ones (so derived data such as networks can be brought up to
date; empty when none): a capability also drops its own expired records here (ads, payments)."""

QueueFilter = Callable[[str], "ColumnElement[bool]"]
"""A WHERE clause for a queue filter value (the queue's ``country`` filter, for instance)."""


@dataclass(frozen=True)
class SealedFiles:
    """Files a capability keeps sealed outside the database (media: uploaded files), for key rotation."""

    #: re-wrap every file's data key under the active master key; how many files changed
    rewrap: Callable[[Database], int]
    #: how many files each master key (by id) wraps
    key_usage: Callable[[Database], Mapping[str, int]]


@dataclass(frozen=True)
class Capability:
    """One capability's contributions. Read by:

    - ``models``: ``tipline.all_models`` (the whole schema, for tests and tools) and key rotation
      (``tipline.protect.keys.sealed_columns``);
    - ``routers``: ``tipline.web.app.create_app`` (API routes under /api/v1 and staff pages), each named
      ``"module:attribute"`` and imported there only: the CLI never imports the web layer (FastAPI, the
      pages: 0.6 s of every command's start);
    - ``cli``: ``tipline.cli.main`` (``register(app)`` adds the capability's commands to ``tipline``);
    - ``before_score`` / ``after_analysis`` / ``report_identifiers``: ``tipline.intake.service.analyse_report``;
    - ``after_evidence``: ``tipline.evidence.service.add_item`` (an evidence item's entities changed);
    - ``facts`` / ``rule_kinds``: the triage rules (``tipline.triage.rules.parse_rules``);
    - ``report_panels``: the staff report page (``tipline.web.pages_staff``);
    - ``retention``: ``tipline.protect.retention.run`` (every run that is not a dry run);
    - ``body_limits``: ``tipline.web.security.BodyLimits`` (path prefix -> limit from the settings; the
      route must still enforce its exact limit);
    - ``queue_filters``: ``tipline.reports.service.queue``;
    - ``on_start``: ``create_app``, once, with the app's database (load in-memory state before serving);
    - ``periodic``: the server's minute job (``tipline.web.app``), in a worker thread, outside any request:
      background work that must not wait for a person to run a command (it returns how many items it
      handled; it must bound its own work per call, and does nothing when its capability is off);
    - ``doors``: the ways reports come in that the capability adds (``tipline.capabilities.doors()``);
    - ``sealed_files``: files it keeps sealed outside the database (``tipline.protect.keys``: rotation
      re-wraps them, ``--retire`` counts them);
    - ``analysis_rows``: tables of rows that a report's analysis derives anew each time (a ``report_id``
      column): ``analyse_report`` deletes the report's rows in them with its mentions, before the hooks run
      (one statement on PostgreSQL), and the capability's hooks only insert;
    - ``entity_mentions``: tables (an ``entity_id`` column) where records that are not reports name entities
      (evidence items): ``tipline.protect.retention`` never deletes an entity still named in one when the
      last report naming it expires;
    - ``warm_up``: ``tipline.intake.worker.warm_up``, once per analysis worker before its first batch,
      outside any transaction: what the capability's hooks would otherwise do on the first report of the
      process (building a lookup table, loading a list). Done inside the first batch, it held SQLite's one
      write lock while the doors waited (200-300 ms, bench/RESULTS.md).
    """

    name: str
    description: str = ""
    models: tuple[ModuleType, ...] = ()
    routers: tuple[str, ...] = ()
    cli: Callable[[typer.Typer], None] | None = None
    before_score: Hook | None = None
    after_analysis: Hook | None = None
    after_evidence: EvidenceHook | None = None
    report_identifiers: ReportIdentifiers | None = None
    facts: tuple[Fact, ...] = ()
    rule_kinds: Mapping[str, RuleKind] = field(default_factory=dict)
    report_panels: tuple[Panel, ...] = ()
    retention: tuple[RetentionStep, ...] = ()
    body_limits: Mapping[str, Callable[[Settings], int]] = field(default_factory=dict)
    queue_filters: Mapping[str, QueueFilter] = field(default_factory=dict)
    on_start: Callable[[Database], None] | None = None
    periodic: tuple[Callable[[Database], int], ...] = ()
    doors: tuple[Door, ...] = ()
    sealed_files: SealedFiles | None = None
    analysis_rows: tuple[Table, ...] = ()
    entity_mentions: tuple[Table, ...] = ()
    warm_up: Callable[[], None] | None = None


__all__ = [
    "AnalysisContext",
    "Capability",
    "CapabilityError",
    "EvidenceContext",
    "EvidenceHook",
    "Fact",
    "Hook",
    "Panel",
    "QueueFilter",
    "ReportIdentifiers",
    "RetentionStep",
    "RuleKind",
    "SealedFiles",
    "check",
    "imported",
    "rule_kinds",
]


def imported(target: str) -> Any:
    """The object a ``"package.module:attribute"`` names (a capability's router), imported now."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def rule_kinds(capabilities: tuple[Capability, ...]) -> dict[str, RuleKind]:
    """Every rule kind the capabilities add (the core kinds are in ``tipline.triage.rules.CONDITIONS``)."""
    return {kind: rk for cap in capabilities for kind, rk in cap.rule_kinds.items()}


class CapabilityError(ValueError):
    """Two capabilities that cannot live together (a name, a rule kind or a fact declared twice)."""


def check(capabilities: tuple[Capability, ...]) -> None:
    """Refuse duplicate names, rule kinds and facts (called when the registry is built)."""
    seen: dict[str, str] = {}
    for cap in capabilities:
        keys = [f"capability {cap.name}"]
        keys += [f"rule kind {k}" for k in cap.rule_kinds]
        keys += [f"fact {f.name}" for f in cap.facts]
        for key in keys:
            if key in seen:
                raise CapabilityError(f"{key} is declared by both {seen[key]} and {cap.name}")
            seen[key] = cap.name
        declared = {f.name for f in cap.facts}
        for kind, rk in cap.rule_kinds.items():
            for fact in rk.reads:
                if fact not in declared:
                    raise CapabilityError(f"rule kind {kind} of {cap.name} reads undeclared fact {fact}")
