"""The audit log is a hash chain: alterations, insertions, removals and whole rewrites are caught."""

from __future__ import annotations

import json
import threading

from sqlalchemy import select, text, update

from tipline import audit
from tipline.accounts import service as accounts
from tipline.store.models import AuditEvent


def _events(db, n=5):
    for i in range(n):
        accounts.create_platform(db, f"P{i}")


def test_chain_verifies_and_names_the_altered_event(db):
    _events(db)
    res = audit.verify(db)
    assert res.ok and res.events == 5 and res.head_seq == 5
    with db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(details={"name": "someone else"}))
    res = audit.verify(db)
    assert not res.ok and res.problem.kind == "altered" and res.problem.seq == 3


def test_removed_and_inserted_events_are_named(db):
    _events(db)
    with db.session() as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    res = audit.verify(db)
    assert res.problem.kind == "missing" and res.problem.seq == 2
    with db.session() as s:
        s.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))  # close the gap: now it does not follow
    res = audit.verify(db)
    assert res.problem.kind == "inserted" and res.problem.seq == 2


def test_whole_rewrite_is_caught_by_the_signed_head(db):
    _events(db, 3)
    head = audit.sign_head(db)
    assert audit.verify(db, heads=[head]).ok
    # an insider rewrites event 2 and recomputes every hash after it: the chain alone looks fine
    with db.session() as s:
        evs = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        evs[1].details = {"name": "rewritten"}
        prev = evs[0].hash
        for ev in evs[1:]:
            ev.prev_hash = prev
            ev.hash = audit.event_hash(prev, ev)
            prev = ev.hash
    assert audit.verify(db).ok
    res = audit.verify(db, heads=[head])
    assert not res.ok and res.problem.kind == "head-mismatch"
    forged = dict(head, hash=prev)
    assert audit.verify(db, heads=[forged]).problem.kind == "bad-signature"


def test_concurrent_appends_never_fork(db):
    def work(k):
        for i in range(5):
            accounts.create_platform(db, f"T{k}-{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res = audit.verify(db)
    assert res.ok and res.events == 20


def test_cli_verify_and_head(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    tipline = str(Path(sys.executable).with_name("tipline"))
    env = {**os.environ, "TIPLINE_DATA_DIR": str(tmp_path)}
    env.pop("TIPLINE_DATABASE_URL", None)
    subprocess.run([tipline, "keys", "create", "P"], env=env, check=True, capture_output=True)
    head = tmp_path / "head.json"
    subprocess.run([tipline, "audit", "head", "--out", str(head)], env=env, check=True, capture_output=True)
    assert json.loads(head.read_text())["seq"] == 1
    p = subprocess.run([tipline, "audit", "verify", "--head", str(head)], env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "intact" in p.stdout
    import sqlite3

    c = sqlite3.connect(tmp_path / "tipline.db")
    c.execute("UPDATE audit_events SET action = 'nothing' WHERE seq = 1")
    c.commit()
    c.close()
    p = subprocess.run([tipline, "audit", "verify", "--json"], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and json.loads(p.stdout)["problem"]["seq"] == 1
