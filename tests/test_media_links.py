"""Pictures as graph identifiers (``tipline.media.links``): the stored representatives are kept in memory
per database and caught up incrementally, so they must still see what another process stored, forget
what retention deleted, and keep "the earliest representative" as the answer."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete

from tipline.capabilities import open_database
from tipline.intake.service import upsert_entities
from tipline.media import links
from tipline.store import Database
from tipline.store.models import Entity


def _near(h: str, bits: int) -> str:
    """``h`` with its first ``bits`` bits flipped."""
    n = int(h, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{n:064x}"


A = "f0e1d2c3b4a5968778695a4b3c2d1e0f" * 2
B = "0123456789abcdef" * 4  # far from A


def _store(db: Database, *values: str) -> None:
    with db.session() as s:
        upsert_entities(s, {(links.KIND, v) for v in values}, datetime.now(UTC))


def _reps(db: Database, *hashes: str) -> dict[str, str]:
    with db.reader() as s:
        return links.representatives(s, list(hashes), db.settings.pdq_threshold)


def test_representatives_follow_other_processes_and_retention(db: Database) -> None:
    assert _reps(db, _near(A, 5)) == {_near(A, 5): _near(A, 5)}  # nothing stored: itself
    _store(db, A)
    assert _reps(db, _near(A, 5)) == {_near(A, 5): A}  # caught up with the row stored since

    other = open_database(db.settings)  # another process: its own engine, its own memory
    try:
        assert _reps(other, _near(A, 3)) == {_near(A, 3): A}
        _store(other, B)  # stored by the other process
    finally:
        other.dispose()
    assert _reps(db, _near(B, 4), _near(A, 2)) == {_near(B, 4): B, _near(A, 2): A}

    _store(db, _near(A, 10))  # a later entity near A (as a full re-import could leave): A stays the answer
    assert _reps(db, _near(A, 6))[_near(A, 6)] == A

    with db.session() as s:  # retention deletes A: the later one answers, never a deleted value
        s.execute(delete(Entity).where(Entity.kind == links.KIND, Entity.value == A))
    assert _reps(db, _near(A, 6))[_near(A, 6)] == _near(A, 10)
