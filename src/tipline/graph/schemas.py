"""The JSON shapes of the graph API (``/api/v1/networks``, ``/graph``, ``/cases``, ``/exclusions``).

Each ``*Out`` is what one endpoint answers, so the OpenAPI schema describes it. Times are ISO 8601 text as
the services write them (``graph.views._jsonable``). Rows inside a view (a network's reports, a case's feed)
are objects whose keys the field descriptions name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Rows = list[dict[str, Any]]


class NetworkSummaryOut(BaseModel):
    id: int = Field(description="The network's id (its earliest report's id)")
    reports: int
    entities: int
    countries: list[str]
    highest_priority: int | None = None
    last_at: str | None = Field(default=None, description="When its latest report came in")


class NetworkOut(BaseModel):
    id: int
    report_count: int
    entity_count: int
    reports: Rows = Field(description="id, priority, category, status, country, received_at, incident_at, source")
    entities: Rows = Field(
        description="The identifiers that link its reports: id, kind, value, reports, first_seen, last_seen"
    )
    excluded: Rows = Field(
        description="Identifiers its reports share that do not link: id, kind, value, reports, reason, by"
    )
    countries: Rows = Field(description="country and count, most first")
    categories: Rows = Field(description="category and count, most first")
    highest_priority: int | None
    first_at: str | None
    last_at: str | None
    timeline: Rows = Field(description="day and reports, from the first report to the last")
    cases: Rows = Field(description="The cases that hold its reports: id, title, status")
    truncated: bool = False


class EntityGraphOut(BaseModel):
    id: int
    kind: str
    value: str
    report_count: int
    first_seen: str
    last_seen: str
    excluded: bool
    reason: str | None
    excluded_by: str | None
    exclusion_id: int | None
    degree_limit: int
    network_id: int | None = Field(description="The network it belongs to; null when excluded")
    touches_networks: list[int] = Field(description="Networks of the reports that name it")
    countries: Rows
    mentions: Rows = Field(default_factory=list)


class ElementsOut(BaseModel):
    elements: Rows = Field(description="Cytoscape.js nodes and edges ({group, data, classes})")
    truncated: bool


class LimitOut(BaseModel):
    kind: str
    limit: int | None
    source: str = Field(description="How the limit was set (auto, or manual when a supervisor pinned it)")
    details: dict[str, Any] | None
    set_by: str | None
    computed_at: str | None


class LimitSetOut(BaseModel):
    kind: str
    limit: int | None


class ExclusionOut(BaseModel):
    id: int | None = Field(description="null for a built-in entry")
    kind: str
    value: str | None
    pattern: str | None
    reason: str
    added_by: str | None
    added_at: str | None
    builtin: bool


class CreatedOut(BaseModel):
    id: int


class CaseSummaryOut(BaseModel):
    id: int
    title: str
    status: str
    tlp: str
    assignee: str | None
    reports: int
    highest_priority: int | None
    updated_at: str
    feed: int = Field(description="Reports that arrived in its networks since it was made, not yet in it")


class CaseOut(BaseModel):
    id: int
    title: str
    description: str
    status: str
    tlp: str
    assignee: str | None
    created_by: str
    created_at: str
    updated_at: str
    closed_at: str | None
    origin: str
    origin_network_id: int | None
    reports: Rows
    networks: list[int]
    countries: Rows
    categories: Rows
    highest_priority: int | None
    counts: dict[str, int]
    events: Rows
    feed: Rows
    notes: Rows
    activity: Rows
    evidence: Rows = Field(default_factory=list, description="Evidence items in the case (ads, payments, records)")


class EvidenceNetworkOut(BaseModel):
    network_id: int | None = Field(description="The network of the evidence item; null while no report links it")


class CaseChangesOut(BaseModel):
    changes: dict[str, Any] = Field(description="Each changed field with its old and new value")


class AddedOut(BaseModel):
    added: int = Field(description="How many reports were added (those already in it are not counted)")
