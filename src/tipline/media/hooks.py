"""Analysis hooks of the media capability (see ``tipline.capability.AnalysisContext``).

``before_score`` matches every file of the report (its hashes, its dihedral PDQ variants and vPDQ frames
when part A stored them, and the original file's hashes a platform declared in CyberTipline
``fileDetails``) against the enabled hash banks, records the matches on the report (replacing those of an
earlier analysis) and gives their labels to the triage rules (fact ``media.hash_match_labels``, rule kind
``hash_match``; the default ``known-abuse-hash`` rule raises a report matching "known abuse material" to
P2 at least).

A match with an entry imported (or a bank re-enabled) after the report arrived was found by a
retro-match (:mod:`tipline.media.retro`): fact ``media.hash_match_late`` carries ``[label, "matched list X
imported on D"]`` pairs, and the rule's reason says so.

A file that matches a bank is known, circulating material: the reports that show it come from strangers
who saw the same picture go round, not from one network. Its picture identifier (``pdq``, see
:mod:`tipline.media.links`) stays on the report (searchable, counted on the entity's page) but links
nothing: the mention is made unlinkable here, before the entity graph is updated. A report whose picture a
later bank import matches (retro-match) is analysed again and leaves the network it joined through that
picture. Pictures in no bank, the new material an analyst most wants to connect, link as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tipline.capability import AnalysisContext
from tipline.media.matching import Match, match_report, matcher_for, record_matches
from tipline.media.models import BankEntry, HashBank
from tipline.store.models import Entity, Mention

HASH_MATCH_LABELS = "media.hash_match_labels"
HASH_MATCH_LATE = "media.hash_match_late"


def before_score(ctx: AnalysisContext) -> None:
    report = ctx.report
    if not report.attachments:  # (the matches of an earlier analysis are gone: MEDIA.analysis_rows)
        return
    matches = match_report(matcher_for(ctx.db), ctx.session, report)
    record_matches(ctx.session, report.id, matches)
    labels: list[str] = ctx.score_input.facts.setdefault(HASH_MATCH_LABELS, [])
    for label in sorted({m.label for m in matches}):
        if label not in labels:
            labels.append(label)
    _unlink_known_pictures(ctx, matches)
    late = late_notes(ctx.session, matches, report.received_at)
    if late:
        ctx.score_input.facts.setdefault(HASH_MATCH_LATE, []).extend(late)
    ctx.notes["media.matches"] = len(matches)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def late_notes(s: Session, matches: Sequence[Match], received_at: datetime) -> list[list[str]]:
    """``[label, note]`` for each bank that matched only because of an import (or a re-enable) made after
    the report arrived: "matched list X imported on D" (D the import's date, UTC)."""
    if not matches:
        return []
    received = _utc(received_at)
    ids = sorted({m.entry_id for m in matches})
    when = {
        eid: (_utc(added), _utc(enabled) if enabled is not None else None)
        for eid, added, enabled in s.execute(
            select(BankEntry.id, BankEntry.added_at, HashBank.enabled_at)
            .join(HashBank, HashBank.id == BankEntry.bank_id)
            .where(BankEntry.id.in_(ids))
        )
    }
    out: dict[tuple[str, str], None] = {}
    for m in matches:
        added, enabled = when.get(m.entry_id, (None, None))
        if added is not None and added > received:
            out[(m.label, f"matched list {m.bank_name} imported on {added:%Y-%m-%d}")] = None
        elif enabled is not None and enabled > received:
            out[(m.label, f"matched list {m.bank_name} re-enabled on {enabled:%Y-%m-%d}")] = None
    return [[label, note] for label, note in out]


def _unlink_known_pictures(ctx: AnalysisContext, matches: Sequence[Match]) -> None:
    """The picture identifiers of the report's bank-matched files link nothing (see the module's text)."""
    fields = {f"files[{m.query.ref}].pdq" for m in matches if isinstance(m.query.ref, int)}
    if not fields:
        return
    s, rid = ctx.session, ctx.report.id
    known = Mention.report_id == rid, Mention.field.in_(fields), Mention.linkable.is_(True)
    ids = set(s.scalars(select(Mention.entity_id).where(*known)))
    if not ids:
        return
    s.execute(update(Mention).where(*known).values(linkable=False))
    still = set(
        s.scalars(
            select(Mention.entity_id).where(
                Mention.report_id == rid, Mention.entity_id.in_(ids), Mention.linkable.is_(True)
            )
        )
    )
    unlinked = ids - still
    if unlinked:  # the report no longer names these linkably (analysis counted it as naming them so)
        s.execute(update(Entity).where(Entity.id.in_(unlinked)).values(linkable_count=Entity.linkable_count - 1))
    counts = ctx.score_input.entity_report_counts
    for eid, kind, value in s.execute(select(Entity.id, Entity.kind, Entity.value).where(Entity.id.in_(unlinked))):
        ctx.entity_ids.discard(eid)
        counts.pop(f"{kind}:{value}", None)
        if eid in ctx.previous_entity_ids:
            ctx.removed_entity_ids.add(eid)  # it may have linked this report before: the graph splits there
