"""Unknown persons: faces that recur across reports, grouped, linked into the graph only once confirmed.

After a scan, each new face of good quality is compared with the faces of *other* reports; neighbours
closer than :data:`GROUP_DISTANCE` (stricter than the search threshold: a group links reports) put it in
their group (two groups it bridges are merged). A group is an identifier of a new kind, ``face``
(``unknown-person-<group id>``), mentioned by every report with a face in it:

* **new** groups: the mentions are not linkable (``Mention.linkable`` false), so the graph shows the
  identifier on the reports but links no network through it;
* an analyst **confirms** a group (audited, with a reason): its mentions become linkable and its reports
  are analysed again, so the graph joins their networks; **dismissing** it removes its mentions for good;
* a confirmed group that a new report's face joins (or that merges with another) goes back to **new**:
  the analyst confirmed those reports, not the new one, so nothing links until they decide again.

Re-analysing a report rewrites its mentions; :func:`before_score` (an analysis hook) puts the group
mentions back, linkable when confirmed, so that analysis never drops or invents a face link.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tipline.accounts import service as accounts
from tipline.accounts.service import Principal, Role
from tipline.capability import AnalysisContext
from tipline.errors import NotFound
from tipline.faces.guard import FacesDenied, require_enabled
from tipline.faces.index import FaceIndex
from tipline.faces.models import Face, FaceGroup
from tipline.store import Database
from tipline.store.models import Entity, Mention

__all__ = ["FACE_KIND", "GROUP_DISTANCE", "before_score", "decide", "entity_value", "group_faces", "list_groups"]

FACE_KIND = "face"
GROUP_DISTANCE = 0.45
GROUP_MIN_QUALITY = 40
FIELD = "faces"


def entity_value(group_id: int) -> str:
    return f"unknown-person-{group_id}"


def _vec(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4")


def _join(s: Session, face: Face, idx: FaceIndex, touched: set[int], demoted: set[int]) -> None:
    hits = [h.key for h in idx.search(_vec(face.embedding), k=30, max_distance=GROUP_DISTANCE) if h.key != face.id]
    if not hits:
        return
    near = list(
        s.scalars(
            select(Face).where(Face.id.in_(hits), Face.report_id != face.report_id, Face.quality >= GROUP_MIN_QUALITY)
        )
    )
    if not near:
        return
    ids = {f.group_id for f in [*near, face] if f.group_id is not None}
    live = set(s.scalars(select(FaceGroup.id).where(FaceGroup.id.in_(ids), FaceGroup.status != "dismissed")))
    if live:
        gid = min(live)
        others = live - {gid}
        if others:  # this face bridges groups: one person
            s.execute(update(Face).where(Face.group_id.in_(others)).values(group_id=gid))
            _drop_entities(s, others)
            s.execute(delete(FaceGroup).where(FaceGroup.id.in_(others)))
            touched -= others
    else:
        g = FaceGroup(status="new")
        s.add(g)
        s.flush()
        gid = g.id
    before = set(s.scalars(select(Face.report_id).where(Face.group_id == gid)))
    for f in [*near, face]:
        if f.group_id is None or f.group_id in live:
            f.group_id = gid
    s.flush()
    touched.add(gid)
    grp = s.get(FaceGroup, gid)
    after = set(s.scalars(select(Face.report_id).where(Face.group_id == gid)))
    if grp is not None and grp.status == "confirmed" and (after != before or (live and len(live) > 1)):
        # an analyst confirmed other reports, not these: the group waits for a new decision (and links
        # nothing meanwhile) rather than link a report nobody looked at
        grp.status, grp.decided_by = "new", None
        demoted.add(gid)


def _drop_entities(s: Session, group_ids: set[int]) -> None:
    values = [entity_value(g) for g in group_ids]
    ents = list(s.scalars(select(Entity.id).where(Entity.kind == FACE_KIND, Entity.value.in_(values))))
    if ents:
        s.execute(delete(Mention).where(Mention.entity_id.in_(ents)))
        s.execute(delete(Entity).where(Entity.id.in_(ents)))


def _sync(s: Session, gid: int) -> None:
    """The group's report count and its mentions: one per report with a face in it."""
    from tipline.intake.service import refresh_entity_stats, upsert_entities

    g = s.get(FaceGroup, gid)
    if g is None:
        return
    reports = sorted(set(s.scalars(select(Face.report_id).where(Face.group_id == gid))))
    g.reports, g.updated_at = len(reports), datetime.now(UTC)
    now = datetime.now(UTC)
    eid = upsert_entities(s, {(FACE_KIND, entity_value(gid))}, now)[(FACE_KIND, entity_value(gid))]
    s.execute(delete(Mention).where(Mention.entity_id == eid))
    if g.status != "dismissed":
        for rid in reports:
            s.add(Mention(entity_id=eid, report_id=rid, field=FIELD, linkable=g.status == "confirmed"))
    s.flush()
    refresh_entity_stats(s, {eid}, now)


def group_faces(db: Database, face_ids: list[int], idx: FaceIndex) -> set[int]:
    """Put the new faces ``face_ids`` in unknown-person groups. A confirmed group that gains a report (or
    merges with another) goes back to "new": its reports are analysed again here, so the graph unlinks
    them until an analyst confirms the grown group. Returns the groups touched."""
    touched: set[int] = set()
    demoted: set[int] = set()
    if not face_ids:
        return touched
    with db.session() as s:
        for face in s.scalars(
            select(Face).where(Face.id.in_(face_ids), Face.quality >= GROUP_MIN_QUALITY).order_by(Face.id)
        ):
            _join(s, face, idx, touched, demoted)
        for gid in sorted(touched):
            _sync(s, gid)
        if touched:
            accounts.record(
                s, "faces", "faces.group", "face_groups", None, groups=sorted(touched), reopened=sorted(demoted)
            )
        again = sorted(set(s.scalars(select(Face.report_id).where(Face.group_id.in_(demoted))))) if demoted else []
    if again:
        from tipline.intake.service import analyse_report

        for rid in again:
            analyse_report(db, rid)
    return touched


def list_groups(db: Database, actor: Principal, *, status: str | None = None) -> list[dict[str, object]]:
    """The unknown-person groups with their reports (analysts and above; audited as a view)."""
    _may(db, actor)
    with db.session() as s:
        q = select(FaceGroup).order_by(FaceGroup.id)
        if status:
            q = q.where(FaceGroup.status == status)
        out: list[dict[str, object]] = []
        for g in s.scalars(q):
            rows = s.execute(
                select(Face.report_id, func.count()).where(Face.group_id == g.id).group_by(Face.report_id)
            ).all()
            out.append(
                {
                    "id": g.id,
                    "status": g.status,
                    "identifier": f"{FACE_KIND}:{entity_value(g.id)}",
                    "reports": sorted(int(r) for r, _ in rows),
                    "faces": int(sum(n for _, n in rows)),
                    "decided_by": g.decided_by,
                }
            )
        accounts.record(s, actor, "faces.groups", "face_groups", None, listed=len(out))
    return out


def _may(db: Database, actor: Principal) -> None:
    require_enabled(db.settings)
    if not (actor.kind == "cli" or actor.can(Role.ANALYST)):
        raise FacesDenied("unknown-person groups are for staff (analyst, supervisor or admin)")


def decide(db: Database, actor: Principal, group_id: int, *, confirm: bool, reason: str) -> list[int]:
    """An analyst confirms (the group's reports join networks) or dismisses (its links go) a group; audited.
    Returns the reports analysed again."""
    from tipline.intake.service import analyse_report

    _may(db, actor)
    reason = " ".join((reason or "").split())
    if len(reason) < 8:
        raise ValueError("give the reason for this decision (at least 8 characters): it goes in the audit log")
    with db.session() as s:
        g = s.get(FaceGroup, group_id)
        if g is None:
            raise NotFound(f"no unknown-person group {group_id}")
        g.status, g.decided_by, g.updated_at = ("confirmed" if confirm else "dismissed"), actor.label, datetime.now(UTC)
        s.flush()
        if confirm:
            _sync(s, group_id)  # linkable now; a dismissed group's mentions go when its reports are re-analysed
            # (so that analysis sees the identifier removed and the graph splits what it joined)
        reports = sorted(set(s.scalars(select(Face.report_id).where(Face.group_id == group_id))))
        action = "faces.group_confirm" if confirm else "faces.group_dismiss"
        accounts.record(s, actor, action, "face_group", group_id, reason=reason, reports=reports)
    for rid in reports:  # the graph links (or unlinks) their networks through the identifier
        analyse_report(db, rid)
    return reports


def before_score(ctx: AnalysisContext) -> None:
    """Analysis hook: put back the report's group mentions (analysis rewrote its mentions); a confirmed
    group's identifier is one the graph links this report through."""
    if not ctx.db.settings.faces_enabled:
        return
    s = ctx.session
    gids: set[int] = set(
        s.scalars(
            select(FaceGroup.id)
            .join(Face, Face.group_id == FaceGroup.id)
            .where(Face.report_id == ctx.report.id, FaceGroup.status != "dismissed")
        )
    )
    if not gids:
        return
    from tipline.intake.service import refresh_entity_stats, upsert_entities

    now = datetime.now(UTC)
    pairs = {(FACE_KIND, entity_value(g)) for g in gids}
    ids = upsert_entities(s, pairs, now)
    status = dict(s.execute(select(FaceGroup.id, FaceGroup.status).where(FaceGroup.id.in_(gids))).all())
    for gid in sorted(gids):
        eid = ids[(FACE_KIND, entity_value(gid))]
        linkable = status[gid] == "confirmed"
        s.add(Mention(entity_id=eid, report_id=ctx.report.id, field=FIELD, linkable=linkable))
        if linkable:
            ctx.entity_ids.add(eid)
            ctx.removed_entity_ids.discard(eid)
    s.flush()
    # counted again: analysis counted the group identifiers after deleting the report's mentions, before
    # these were put back (a re-analysed report left its group one report short)
    refresh_entity_stats(s, set(ids.values()), now)
