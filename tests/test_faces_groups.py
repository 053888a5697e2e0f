"""Unknown persons: a face recurring across reports forms a group that links them in the graph only once
an analyst confirms it (audited); re-analysis keeps the identifier; dismissal removes it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from sqlalchemy import select

from helpers import PASSWORD, bearer, entity_counts, full_token
from tipline.accounts import service as accounts
from tipline.faces import service
from tipline.graph.network import network_of_report
from tipline.intake.service import analyse_report
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import AuditEvent, Entity, Mention

DATA = Path(__file__).parent / "data" / "faces"


def encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def settings(settings: Settings) -> Settings:  # conftest's, with face search switched on
    return settings.model_copy(update={"faces_enabled": True})


def _report(client, key, rid: str, data: bytes) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/reports", json={"report_id": rid, "category": "other", "text": "seen"}, headers=key)
    report = int(r.json()["id"])
    r = client.post(f"/api/v1/reports/{report}/files", files={"file": ("p.jpg", data, "image/jpeg")}, headers=key)
    assert r.status_code == 201, r.text
    return report


def _mentions(db: Database, report_id: int) -> list[tuple[str, bool]]:
    with db.reader() as s:
        rows = s.execute(
            select(Entity.value, Mention.linkable)
            .join(Mention, Mention.entity_id == Entity.id)
            .where(Mention.report_id == report_id, Entity.kind == "face")
        ).all()
    return [(v, bool(link)) for v, link in rows]


def test_a_recurring_face_groups_reports_and_links_them_only_when_confirmed(client, db: Database, platform):
    from skimage import data

    key = bearer(platform.api_key)
    img = Image.fromarray(data.astronaut())
    a = _report(client, key, "g-1", encode(img))
    b = _report(client, key, "g-2", encode(img.resize((400, 400)).crop((20, 0, 400, 330))))
    c = _report(client, key, "g-3", (DATA / "obama.jpg").read_bytes())
    service.scan_pending(db)

    accounts.create_user(db, "ana", "analyst", PASSWORD)
    ana = bearer(full_token(db, "ana"))
    r = client.get("/api/v1/faces/groups", headers=ana)
    assert r.status_code == 200, r.text
    (group,) = [g for g in r.json() if a in g["reports"]]
    assert group["status"] == "new" and group["reports"] == [a, b] and c not in group["reports"]
    ident = f"unknown-person-{group['id']}"
    assert _mentions(db, a) == [(ident, False)] and _mentions(db, b) == [(ident, False)]
    with db.reader() as s:
        assert network_of_report(s, a) != network_of_report(s, b)  # not linked before an analyst says so

    r = client.post(f"/api/v1/faces/groups/{group['id']}/confirm", json={"reason": "same girl, checked"}, headers=ana)
    assert r.status_code == 200, r.text
    assert r.json()["reports_analysed"] == [a, b]
    assert _mentions(db, a) == [(ident, True)]
    with db.reader() as s:
        assert network_of_report(s, a) == network_of_report(s, b) != network_of_report(s, c)
    analyse_report(db, a)  # re-analysis rewrites mentions: the confirmed identifier stays
    assert _mentions(db, a) == [(ident, True)]
    with db.reader() as s:  # ... and is counted: two reports name it, a and b
        assert s.scalar(select(Entity.report_count).where(Entity.kind == "face", Entity.value == ident)) == 2
    with db.reader() as s:
        assert network_of_report(s, a) == network_of_report(s, b)

    # a new report with the same face: the confirmed group goes back to "new" and links nothing until decided
    # (mirrored: report pictures that are copies of each other link through their PDQ hash on their own,
    # tipline.media.links; a mirrored copy is another picture to PDQ but the same face)
    d = _report(client, key, "g-4", encode(ImageOps.mirror(img.resize((300, 300)))))
    service.scan_pending(db)
    (grown,) = [g for g in client.get("/api/v1/faces/groups", headers=ana).json() if a in g["reports"]]
    assert grown["id"] == group["id"] and grown["status"] == "new" and grown["reports"] == [a, b, d]
    assert _mentions(db, a) == [(ident, False)] and _mentions(db, d) == [(ident, False)]
    with db.reader() as s:
        assert len({network_of_report(s, x) for x in (a, b, d)}) == 3
    reason = {"reason": "same girl in all three"}
    r = client.post(f"/api/v1/faces/groups/{group['id']}/confirm", json=reason, headers=ana)
    assert r.json()["reports_analysed"] == [a, b, d]
    with db.reader() as s:
        assert len({network_of_report(s, x) for x in (a, b, d)}) == 1
    stored, recounted = entity_counts(db)  # face mentions rewritten by groups and by analysis: counts exact
    assert stored == recounted

    r = client.post(
        f"/api/v1/faces/groups/{group['id']}/dismiss", json={"reason": "not the same after all"}, headers=ana
    )
    assert r.status_code == 200
    assert _mentions(db, a) == [] and _mentions(db, b) == [] and _mentions(db, d) == []
    with db.reader() as s:
        assert network_of_report(s, a) != network_of_report(s, b)
        actions = list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("faces.group%")).order_by(AuditEvent.id))
        )
    assert actions == [
        "faces.group",
        "faces.groups",
        "faces.group_confirm",
        "faces.group",
        "faces.groups",
        "faces.group_confirm",
        "faces.group_dismiss",
    ]
