"""Bulk intake (``tipline import jsonl``): batched, resumable, bad lines named, analysis behind it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers import run, stopped_midway
from tipline.accounts import service as accounts
from tipline.extract import native
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Report
from tipline.synth import generate_world


def _env(settings: Settings) -> dict[str, str]:
    return {"TIPLINE_DATABASE_URL": settings.database_url} if settings.database_url else {}


def test_import_jsonl_is_resumable_names_bad_lines_and_analysis_catches_up(
    settings: Settings, db: Database, tmp_path: Path
):
    accounts.create_platform(db, "BulkChat")
    world = generate_world(seed=3, n_reports=900)
    lines = [
        json.dumps(dict(r.payload, report_id=f"bulk-{i}")) for i, r in enumerate(world.reports) if r.door == "platform"
    ]
    assert len(lines) > 300
    first = tmp_path / "first.jsonl"  # an import cut short: only the first part got in
    first.write_text("\n".join(lines[:200]) + "\n")
    whole = tmp_path / "all.jsonl"
    whole.write_text(
        "\n".join(lines[:150] + ["{not json", json.dumps({"report_id": "x", "category": "nope"})] + lines[150:]) + "\n"
    )
    env = _env(settings)

    r = run(["import", "jsonl", str(first), "--platform", "BulkChat"], settings.data_dir, env_extra=env)
    assert "stored 200, skipped 0" in r.stdout
    r = run(["import", "jsonl", str(whole), "--platform", "BulkChat"], settings.data_dir, env_extra=env, check=False)
    assert r.returncode == 1  # two bad lines, named; everything else stored
    assert f"stored {len(lines) - 200}, skipped 200" in r.stdout, r.stdout
    assert "line 151: not JSON" in r.stderr and "line 152: category" in r.stderr, r.stderr
    with db.reader() as s:
        assert s.scalar(select(func.count(Report.id))) == len(lines)
        assert s.scalar(select(func.count(Report.id)).where(Report.analysed_at.is_not(None))) == 0

    status = json.loads(run(["status", "--json"], settings.data_dir, env_extra=env).stdout)
    assert status["waiting"] == len(lines) and status["oldest_wait_s"] >= 0
    assert status["extractor"] == native.STATUS  # the command-line process loads what this one loads
    r = run(["import", "jsonl", str(first), "--platform", "Nobody"], settings.data_dir, env_extra=env, check=False)
    assert r.returncode != 0 and "no platform named 'Nobody'" in r.stderr

    r = run(["worker", "--once"], settings.data_dir, env_extra=env)
    assert f"analysed {len(lines)} report(s)" in r.stdout
    assert json.loads(run(["status", "--json"], settings.data_dir, env_extra=env).stdout)["waiting"] == 0
    with db.reader() as s:
        assert s.scalar(select(func.count(Report.id)).where(Report.analysed_at.is_(None))) == 0


def test_lines_that_are_not_utf8_out_of_range_or_too_deep_are_named_and_the_rest_stored(
    settings: Settings, db: Database, tmp_path: Path
):
    """Each of these aborted the import with a traceback (and lost the chunk's good lines): now each is a
    line-numbered message and every other line is stored."""
    accounts.create_platform(db, "BulkChat")
    deep = '{"a":' * 200 + "1" + "}" * 200
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"  # a byte-order mark before the first line
        + b'{"report_id":"ok-1","category":"other","text":"fine"}\n'
        + b'{"report_id":"bad-utf8","category":"other","text":"\xc3\x28"}\n'
        + b'{"report_id":"bad-date","category":"other","incident_at":"9999-12-31T23:59:59-14:00"}\n'
        + b'{"report_id":"bad-deep","category":"other","files":[{"md5":"'
        + b"0" * 32
        + b'","details":'
        + deep.encode()
        + b"}]}\n"
        + b'{"report_id":"future","category":"other","incident_at":"2999-01-01T00:00:00Z"}\n'
        + b'{"report_id":"ok-2","category":"other","text":"also fine"}\n'
        + b'{"report_id":"twice","category":"other","report_id":"again"}\n'
    )
    r = run(
        ["import", "jsonl", str(path), "--platform", "BulkChat"],
        settings.data_dir,
        env_extra=_env(settings),
        check=False,
    )
    assert r.returncode == 1 and "stored 2, skipped 0" in r.stdout, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "line 2: not UTF-8 text (byte 52 of the line)" in r.stderr, r.stderr
    assert "line 3: incident_at: the date is out of range" in r.stderr
    assert "line 4: files.0.details: nested more than 64 levels deep" in r.stderr
    assert "line 5: incident_at: the date 2999-01-01T00:00:00+00:00 is in the future" in r.stderr
    assert "line 7: the key 'report_id' appears twice in one object: send each key once" in r.stderr
    with db.reader() as s:
        assert set(s.scalars(select(Report.external_id))) == {"ok-1", "ok-2"}


def test_import_jsonl_names_every_line_it_cannot_read_and_stores_the_rest(
    settings: Settings, db: Database, tmp_path: Path
):
    """A line Python's JSON reader refuses for a reason other than syntax (a number of over 4,300 digits,
    nesting deeper than it can follow, a key twice) is named with what to do, like a syntax error: the
    import goes on, and no traceback."""
    accounts.create_platform(db, "OddChat")
    good = json.dumps({"report_id": "fine-1", "category": "other", "text": "an ordinary report"})
    f = tmp_path / "odd.jsonl"
    f.write_text(
        "\n".join(
            [
                '{"report_id": "long-1", "category": "other", "text": "x", "n": ' + "7" * 5000 + "}",
                good,
                json.dumps({"report_id": "no-such-category", "category": "nope", "text": "x"}),
                "[" * 100_000 + "]" * 100_000,
                '{"report_id": "twice", "report_id": "again", "category": "other", "text": "x"}',
            ]
        )
        + "\n"
    )
    r = run(
        ["import", "jsonl", str(f), "--platform", "OddChat"], settings.data_dir, env_extra=_env(settings), check=False
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "stored 1, skipped 0" in r.stdout, r.stdout
    err = " ".join(r.stderr.split())  # the console wraps long lines
    assert "line 1: a number has more than 4,300 digits: send it as a string" in err, err
    assert "line 3: category" in err, err  # after a valid line: that line is not stored twice
    assert "line 4: not JSON that can be read: nested too deep" in err, err
    assert "line 5: the key 'report_id' appears twice in one object" in err, err
    with db.reader() as s:
        assert list(s.scalars(select(Report.external_id))) == ["fine-1"]


def test_a_chunk_that_meets_a_report_another_process_stores_meanwhile_skips_it(db: Database, backend: str):
    """PostgreSQL: another transaction inserts one of a chunk's reports after the chunk looked for it and
    commits while the chunk waits on the unique index; the chunk is looked at again and that report skipped,
    the rest stored (without the second look the whole chunk failed on the unique constraint)."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer: a chunk looks and inserts under the same lock")
    import threading

    from sqlalchemy import create_engine, text

    from tipline.intake.schemas import PlatformReportIn
    from tipline.intake.service import submit_many

    p = accounts.create_platform(db, "RaceChat")

    def report(rid: str):  # type: ignore[no-untyped-def]
        return PlatformReportIn(report_id=rid, category="other", text=f"report {rid}").to_report(p.id)

    assert submit_many(db, [report("seed")]) == (1, 0)
    cols = [c.name for c in Report.__table__.columns if c.name not in ("id", "external_id")]
    other = create_engine(db.url)
    with other.connect() as c:  # another process's insert of "r2", not committed yet
        c.execute(
            text(
                f"INSERT INTO reports ({', '.join(cols)}, external_id) SELECT {', '.join(cols)}, 'r2' FROM reports"
                " WHERE external_id = 'seed'"
            )
        )
        got: list[object] = []
        t = threading.Thread(target=lambda: got.append(submit_many(db, [report("r1"), report("r2"), report("r3")])))
        t.start()
        time.sleep(1.0)  # the chunk looked (r2 not there), inserted, and now waits on r2's unique key
        assert t.is_alive()
        c.commit()
        t.join(30)
    other.dispose()
    assert got == [(2, 1)]
    with db.reader() as s:
        ids = sorted(s.scalars(select(Report.external_id).where(Report.platform_id == p.id)))
    assert ids == ["r1", "r2", "r3", "seed"]


@pytest.mark.slow
def test_ctrl_c_stops_import_jsonl_with_whole_chunks_kept_and_the_same_command_resumes(
    settings: Settings, db: Database, tmp_path: Path
):
    """Ctrl-C (the terminal signals the command's process group) mid-import: status 130, a message that says
    how to go on and no traceback; whole chunks of 500 are stored, and the same command stores the rest."""
    accounts.create_platform(db, "BulkChat")
    world = generate_world(seed=5, n_reports=300)
    payloads = [r.payload for r in world.reports if r.door == "platform"]
    n = 30_000
    path = tmp_path / "big.jsonl"
    path.write_text(
        "".join(json.dumps(dict(payloads[i % len(payloads)], report_id=f"big-{i}")) + "\n" for i in range(n))
    )
    code, text = stopped_midway(
        ["import", "jsonl", str(path), "--platform", "BulkChat"],
        settings.data_dir,
        lambda _pid: _count(db) >= 1000,
        lambda pid: os.killpg(pid, signal.SIGINT),  # what Ctrl-C in a terminal does
        env_extra=_env(settings),
    )
    assert code == 130, text
    assert "interrupted: the reports stored so far are kept" in text and "run the same command again" in text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    k = _count(db)
    assert 1000 <= k < n and k % 500 == 0, k
    r = run(["import", "jsonl", str(path), "--platform", "BulkChat"], settings.data_dir, env_extra=_env(settings))
    assert f"stored {n - k}, skipped {k} already stored" in r.stdout, r.stdout
    assert _count(db) == n


def _count(db: Database) -> int:
    with db.reader() as s:
        return int(s.scalar(select(func.count(Report.id))) or 0)
