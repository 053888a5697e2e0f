"""Retention deletes what has expired and nothing else; backups round-trip, encrypted."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from helpers import bearer
from tipline import audit
from tipline.capabilities import open_database
from tipline.intake import service as intake
from tipline.intake.schemas import ContactIn, PublicReportIn
from tipline.protect import backup, retention
from tipline.settings import Settings
from tipline.store.models import Entity, FollowUp, Mention, Report

TIPLINE = str(Path(sys.executable).with_name("tipline"))


def _report(client, platform, rid, text_="contact tg @den_keeper_77 or 0917 555 0101", status=None, analyst=None):
    body = {"report_id": rid, "category": "child_sex_trafficking", "text": text_, "country": "PH"}
    r = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key)).json()["id"]
    if status:
        client.patch(f"/api/v1/reports/{r}", json={"status": status}, headers=bearer(analyst))
    return r


def _age(db, rid, days):
    with db.session() as s:
        s.execute(update(Report).where(Report.id == rid).values(updated_at=datetime.now(UTC) - timedelta(days=days)))


def test_retention_deletes_expired_reports_and_orphan_identifiers(client, db, platform, analyst_token):
    keep = _report(client, platform, "keep", "shared 0917 555 0199 and unique @keeper_only_1 telegram")
    old = _report(
        client,
        platform,
        "old",
        "shared 0917 555 0199 and unique @gone_only_22 telegram",
        status="no_action",
        analyst=analyst_token,
    )
    young = _report(client, platform, "young", status="no_action", analyst=analyst_token)
    _age(db, old, 400)
    _age(db, young, 10)
    dry = retention.run(db, dry_run=True)
    assert dry.reports == [old]
    with db.reader() as s:
        assert s.get(Report, old) is not None
    res = retention.run(db)
    assert res.reports == [old] and res.rows["mentions"] >= 2
    with db.reader() as s:
        assert s.get(Report, old) is None and s.get(Report, keep) and s.get(Report, young)
        values = set(s.scalars(select(Entity.value)))
        assert "+639175550199" in values  # still named by the kept report
        assert "gone_only_22" not in values and "keeper_only_1" in values
        assert s.scalar(select(func.count()).select_from(Mention).where(Mention.report_id == old)) == 0
    h = bearer(analyst_token)
    assert client.get("/api/v1/queue", params={"q": "gone_only_22"}, headers=h).json()["total"] == 0
    # the networks were relinked after the deletion: a full recompute changes nothing
    from sqlalchemy import text as sql

    from tipline.graph import service as graph_service

    def memberships():
        with db.reader() as s:
            return sorted(s.execute(sql("SELECT report_id, network_id FROM graph_report_networks")).all())

    before = memberships()
    assert all(rid != old for rid, _ in before)
    graph_service.recompute(db, refresh=False)
    assert memberships() == before
    assert audit.verify(db).ok
    with db.reader() as s:
        from tipline.store.models import AuditEvent

        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "retention.run"))
        assert ev.details["reports"] == 1


def test_an_identifier_an_evidence_item_still_names_outlives_the_expired_reports(client, db, platform, analyst_token):
    """The last report naming a phone expires while an ad names it too: the phone and the ad's mention stay
    (they were deleted with the report, and the ad linked no later report), and a new report naming the
    phone joins the ad's network."""
    from tipline.evidence import service as evidence
    from tipline.evidence.service import EvidenceIn
    from tipline.graph import service as graph_service

    old = _report(client, platform, "old", "call 0917 555 0177 now", status="no_action", analyst=analyst_token)
    text = "new girls, call 0917 555 0177"
    vid = evidence.add_item(db, EvidenceIn(kind="ad", source="ads:b", external_id="a1", text=text), "analyst")
    _age(db, old, 400)
    assert retention.run(db, dry_run=True).entities == 0
    res = retention.run(db)
    assert res.reports == [old] and res.entities == 0
    item = evidence.get_item(db, vid)
    assert item is not None and [(e.kind, e.value) for e in item.entities] == [("phone", "+639175550177")]
    new = _report(client, platform, "new", "the same number: 0917 555 0177")
    assert graph_service.network_id_of_report(db, new) == graph_service.network_id_of_evidence(db, vid)


def test_identifiers_nothing_names_any_more_are_swept_after_a_day(client, db, platform):
    """A report whose analysis failed leaves the new identifiers it committed apart, with no mention; an
    expired ad leaves its phone. Retention deletes an identifier nothing names, once it was last named
    over a day ago (an analysis in flight writes its identifiers before their mentions)."""
    from tipline.evidence import service as evidence
    from tipline.evidence.service import EvidenceIn

    _report(client, platform, "named", "call 0917 555 0166")
    evidence.add_item(db, EvidenceIn(kind="ad", source="ads:b", external_id="a1", text="call 0917 555 0155"), "x")
    day_ago = datetime.now(UTC) - timedelta(days=1, minutes=1)
    with db.session() as s:
        s.add_all([Entity(kind="email", value="left@example.org"), Entity(kind="email", value="new@example.org")])
        s.flush()
        s.execute(update(Entity).where(Entity.value != "new@example.org").values(last_seen=day_ago))
    assert retention.run(db, dry_run=True).entities == 1
    res = retention.run(db)
    assert res.reports == [] and res.entities == 1
    with db.reader() as s:
        assert set(s.scalars(select(Entity.value))) == {"+639175550166", "+639175550155", "new@example.org"}


def test_an_identifier_an_analysis_holds_is_left_for_the_next_run(db):
    """PostgreSQL: an identifier that an analysis in flight holds (its new mention's foreign key locks the
    row) is skipped, not waited for, and not deleted under it (the cascade would take the new mention)."""
    if db.dialect != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite has one writer: retention and analysis never overlap)")
    from sqlalchemy import text as sql

    with db.session() as s:
        s.add(Entity(kind="email", value="held@example.org", last_seen=datetime.now(UTC) - timedelta(days=2)))
    import concurrent.futures

    with db.engine.connect() as analysis, concurrent.futures.ThreadPoolExecutor(1) as pool:
        analysis.execute(sql("SELECT id FROM entities WHERE value = 'held@example.org' FOR KEY SHARE"))
        run = pool.submit(retention.run, db)
        try:
            assert run.result(timeout=30).entities == 0  # a run that waits for the lock fails here
        finally:
            analysis.rollback()
    assert retention.run(db).entities == 1


def test_receipts_expire(db):
    res = intake.submit_report(db, PublicReportIn(category="other", text="x").to_report())
    assert intake.report_for_receipt(db, res.receipt) == res.report_id
    with db.session() as s:
        s.execute(update(Report).values(received_at=datetime.now(UTC) - timedelta(days=366)))
    assert retention.run(db).receipts_expired == 1
    assert intake.report_for_receipt(db, res.receipt) is None


def test_bad_retention_rules_say_what_is_wrong(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("[[report]]\nstatus='x'\ndays=-1\n")
    with pytest.raises(retention.RetentionError, match="days"):
        retention.load_rules(p)
    p.write_text("[[report]]\nstaus='x'\n")
    with pytest.raises(retention.RetentionError, match="rule #1"):
        retention.load_rules(p)


def test_backup_round_trip_is_encrypted(settings, db, tmp_path):
    contact = ContactIn(email="reporter@example.org")
    rep = PublicReportIn(category="sextortion", text="threatened by @blackmailer_x on telegram", contact=contact)
    res = intake.submit_report(db, rep.to_report())
    intake.add_followup(db, res.report_id, "more details about the threat")
    path = tmp_path / "b.tlbk"
    info = backup.backup(db, path)
    raw = path.read_bytes()
    assert b"blackmailer" not in raw and b"SQLite format" not in raw and b"PGDMP" not in raw
    assert info.manifest["files"]
    # lose the data, restore into the same installation (same keys)
    with db.session() as s:
        s.execute(update(Report).values(status="duplicate"))
    with pytest.raises(backup.BackupError, match="--force"):
        backup.restore(db, path)
    backup.restore(db, path, force=True)
    db2 = open_database(settings)
    with db2.reader() as s:
        r = s.get(Report, res.report_id)
        assert r.status == "new" and r.text.startswith("threatened")
        assert s.scalar(select(FollowUp.body)) == "more details about the threat"
    assert audit.verify(db2).ok
    db2.dispose()


def test_backup_is_refused_when_altered_or_truncated_or_without_key(db, tmp_path, settings):
    intake.submit_report(db, PublicReportIn(category="other", text="x").to_report())
    path = tmp_path / "b.tlbk"
    backup.backup(db, path)
    data = bytearray(path.read_bytes())
    bad = tmp_path / "bad.tlbk"
    data[-40] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(backup.BackupError, match="altered"):
        backup.restore(db, bad, force=True)
    short = tmp_path / "short.tlbk"
    short.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(backup.BackupError):
        backup.restore(db, short, force=True)
    other = open_database(
        Settings(data_dir=tmp_path / "other", database_url=settings.database_url, master_key="33" * 32)
    )
    from tipline.crypto import KeyError_

    with pytest.raises(KeyError_):
        backup.restore(other, path, force=True)


def test_backup_restore_cli(tmp_path):
    env = {**os.environ, "TIPLINE_DATA_DIR": str(tmp_path / "d")}
    env.pop("TIPLINE_DATABASE_URL", None)
    subprocess.run([TIPLINE, "keys", "create", "P"], env=env, check=True, capture_output=True)
    p = subprocess.run([TIPLINE, "backup", str(tmp_path / "x.tlbk")], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([TIPLINE, "restore", str(tmp_path / "x.tlbk")], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([TIPLINE, "retention", "run", "--dry-run", "--json"], env=env, capture_output=True, text=True)
    assert p.returncode == 0 and '"dry_run": true' in p.stdout
