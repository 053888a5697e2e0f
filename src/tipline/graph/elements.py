"""The graph view's elements (Cytoscape.js nodes and edges) around a report, an identifier, a case, a
network, or one node to expand. Excluded identifiers are shown, marked, and never expanded through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.errors import NotFound
from tipline.graph import network as net
from tipline.graph.guard import Guard, load_guard
from tipline.graph.models import CaseReport, ReportNetwork
from tipline.store import Database
from tipline.store.models import BLIND_KINDS, Entity, Mention, Report

URL_KINDS = ("url", "domain", "email", "onion")


def _defang(kind: str, value: str) -> str:
    if kind not in URL_KINDS:
        return value
    from tipline.i18n.templating import defang

    return defang(value)


@dataclass
class Elements:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncated: bool = False

    def as_list(self) -> list[dict[str, Any]]:
        return [*self.nodes.values(), *self.edges.values()]


def _add_reports(s: Session, el: Elements, rids: set[int]) -> None:
    todo = [r for r in rids if f"r{r}" not in el.nodes]
    for part in net.chunks(todo):
        for rid, prio, cat, country, at, nid in s.execute(
            select(
                Report.id,
                Report.priority,
                Report.category,
                Report.country,
                Report.received_at,
                ReportNetwork.network_id,
            )
            .outerjoin(ReportNetwork, ReportNetwork.report_id == Report.id)
            .where(Report.id.in_(part))
        ):
            el.nodes[f"r{rid}"] = {
                "group": "nodes",
                "data": {
                    "id": f"r{rid}",
                    "type": "report",
                    "label": f"#{rid}",
                    "report_id": rid,
                    "priority": prio,
                    "category": cat,
                    "country": country,
                    "at": at.isoformat(),
                    "network": nid,
                    "href": f"/reports/{rid}",
                },
                "classes": f"report p{prio}",
            }


def _add_report_entities(s: Session, el: Elements, guard: Guard, rids: set[int], max_nodes: int) -> set[int]:
    """Add the entities these reports name, with their edges; returns the ids of linking entities added."""
    from tipline.i18n.templating import entity_href

    linking: set[int] = set()
    for part in net.chunks(rids):
        rows = s.execute(
            select(Mention.report_id, Entity.id, Entity.kind, Entity.value, Entity.report_count, Entity.evidence_count)
            .join(Entity, Entity.id == Mention.entity_id)
            .where(Mention.report_id.in_(part), Entity.kind.not_in(BLIND_KINDS))
            .distinct()
        ).all()
        for rid, eid, kind, value, count, items in rows:
            key = f"e{eid}"
            if key not in el.nodes:
                if len(el.nodes) >= max_nodes:
                    el.truncated = True
                    continue
                v = guard.verdict(kind, value, int(count or 0) + int(items or 0))
                el.nodes[key] = {
                    "group": "nodes",
                    "data": {
                        "id": key,
                        "type": "entity",
                        "kind": kind,
                        "label": _defang(kind, value)[:40],
                        "entity_id": eid,
                        "reports": int(count or 0),
                        "excluded": not v.links,
                        "reason": v.reason,
                        "href": entity_href(kind, value),
                    },
                    "classes": f"entity k-{kind}" + (" excluded" if not v.links else ""),
                }
            if el.nodes[key]["data"]["excluded"] is False:
                linking.add(eid)
            el.edges[f"r{rid}-e{eid}"] = {
                "group": "edges",
                "data": {"id": f"r{rid}-e{eid}", "source": f"r{rid}", "target": key},
            }
    return linking


def _reports_of_entities(s: Session, eids: set[int], per_entity: int) -> set[int]:
    out: set[int] = set()
    for eid in sorted(eids):
        out.update(
            s.scalars(
                select(Mention.report_id)
                .where(Mention.entity_id == eid)
                .distinct()
                .order_by(Mention.report_id.desc())
                .limit(per_entity)
            )
        )
    return out


def _node_seed(s: Session, el: Elements, guard: Guard, node: str, per_entity: int, max_nodes: int) -> None:
    """Expand one node (``r<id>`` or ``e<id>``): its reports and their identifiers, nothing further."""
    nid = int(node[1:])
    if nid > 2**31 - 1:
        raise NotFound("no such node")
    if node[0] == "r":
        seed_reports = {nid}
    else:
        e = s.get(Entity, nid)
        if e is None:
            raise NotFound("no such entity")
        if guard.links(e.kind, e.value, e.degree):
            seed_reports = _reports_of_entities(s, {nid}, per_entity)
        else:
            seed_reports = set()
            el.truncated = True
    _add_reports(s, el, seed_reports)
    _add_report_entities(s, el, guard, seed_reports, max_nodes)


def _seed_reports(
    s: Session,
    *,
    report_id: int | None,
    entity: tuple[str, str] | None,
    case_id: int | None,
    network_id: int | None,
    max_nodes: int,
    per_entity: int,
) -> set[int]:
    """The reports the view starts from (raises NotFound for a subject that does not exist)."""
    if report_id is not None:
        if s.get(Report, report_id) is None:
            raise NotFound(f"no report {report_id}")
        return {report_id}
    if entity is not None:
        e = s.scalar(select(Entity).where(Entity.kind == entity[0], Entity.value == entity[1]))
        if e is None:
            raise NotFound("no such entity")
        return _reports_of_entities(s, {e.id}, per_entity)
    if case_id is not None:
        return set(s.scalars(select(CaseReport.report_id).where(CaseReport.case_id == case_id)))
    if network_id is not None:
        q = select(ReportNetwork.report_id).where(ReportNetwork.network_id == network_id).limit(max_nodes)
        seed = set(s.scalars(q))
        if not seed:
            raise NotFound(f"no network {network_id}")
        return seed
    raise NotFound("say what to show: a report, an entity, a case, a network or a node")


def _one_hop(s: Session, el: Elements, linking: set[int], seed: set[int], per_entity: int, max_nodes: int) -> None:
    """One hop further through linking entities: the reports that share them, and their edges."""
    more = _reports_of_entities(s, linking, per_entity) - seed
    room = max(0, max_nodes - len(el.nodes))
    if len(more) > room:
        el.truncated = True
        more = set(sorted(more)[:room])
    _add_reports(s, el, more)
    for part in net.chunks(more):
        for rid, eid in s.execute(
            select(Mention.report_id, Mention.entity_id)
            .where(Mention.report_id.in_(part), Mention.entity_id.in_(linking))
            .distinct()
        ):
            el.edges[f"r{rid}-e{eid}"] = {
                "group": "edges",
                "data": {"id": f"r{rid}-e{eid}", "source": f"r{rid}", "target": f"e{eid}"},
            }


def _is_node(node: str | None) -> bool:
    return node is not None and 1 < len(node) <= 11 and node[1:].isascii() and node[1:].isdigit() and node[0] in "re"


def graph_elements(
    db: Database,
    *,
    report_id: int | None = None,
    entity: tuple[str, str] | None = None,
    case_id: int | None = None,
    network_id: int | None = None,
    node: str | None = None,
    max_nodes: int = 400,
    per_entity: int = 50,
    viewer: Principal | None = None,
) -> dict[str, Any]:
    """Cytoscape.js elements around a report, an entity, a case, a whole network, or one node to expand
    (``node`` = ``r<id>`` or ``e<id>``). Excluded entities are shown (marked) but never expanded through."""
    if viewer is not None:
        with db.session() as w:
            subject = {"report": report_id, "case": case_id, "network": network_id, "node": node}
            record(w, viewer, "graph.view", None, None, **{k: v for k, v in subject.items() if v is not None})
    el = Elements()
    with db.reader() as s:
        guard = load_guard(s, db.settings)
        if report_id is None and entity is None and case_id is None and network_id is None and _is_node(node):
            _node_seed(s, el, guard, str(node), per_entity, max_nodes)
            return {"elements": el.as_list(), "truncated": el.truncated}
        seed = _seed_reports(
            s,
            report_id=report_id,
            entity=entity,
            case_id=case_id,
            network_id=network_id,
            max_nodes=max_nodes,
            per_entity=per_entity,
        )
        _add_reports(s, el, seed)
        linking = _add_report_entities(s, el, guard, seed, max_nodes)
        if report_id is not None or entity is not None:
            _one_hop(s, el, linking, seed, per_entity, max_nodes)
        return {"elements": el.as_list(), "truncated": el.truncated}
