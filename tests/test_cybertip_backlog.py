"""A CyberTipline backlog (``tipline import cybertip DIR|ZIP``): a folder or zip of report documents with
their files, stored in chunks, resumable, bad documents named, hostile archives refused, analysis behind."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from helpers import TIPLINE, alive, child_pids, command_env, run, stopped_midway
from tipline.accounts import service as accounts
from tipline.cybertip.backlog import BacklogError, import_backlog
from tipline.errors import stopped_by_ctrl_c
from tipline.intake.schemas import Category
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Attachment, Report
from tipline.synth.cybertip import CtReport, build_xml

FILE = b"synthetic attachment bytes, not a picture"


def _env(settings: Settings) -> dict[str, str]:
    return {"TIPLINE_DATABASE_URL": settings.database_url} if settings.database_url else {}


def _doc(i: int) -> str:
    r = CtReport(
        category=Category.ONLINE_ENTICEMENT,
        platform="BacklogChat",
        incident_at=datetime(2024, 3, 1, tzinfo=UTC),
        text=f"backlog report {i}: message me at 0917 555 {i % 10000:04d}",
    )
    return build_xml(r)


def _folder(root: Path, n: int, start: int = 0) -> Path:
    """``n`` report documents in ``root/reports/``, the first with a file in its NAME/ folder, a README."""
    d = root / "reports"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        (d / f"r{i:04d}.xml").write_text(_doc(i))
    (d / f"r{start:04d}").mkdir(exist_ok=True)
    (d / f"r{start:04d}" / "chat.txt").write_bytes(FILE)
    (root / "README.txt").write_text("exported by another hotline")
    return root


def _zip(folder: Path, to: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(to, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return to


def _count(db: Database, **where: object) -> int:
    with db.reader() as s:
        q = select(func.count(Report.id))
        for k, v in where.items():
            q = q.where(getattr(Report, k) == v)
        return int(s.scalar(q) or 0)


def test_a_folder_then_the_same_as_a_zip_stores_once_names_bad_documents(
    settings: Settings, db: Database, tmp_path: Path
):
    p = accounts.create_platform(db, "BacklogChat")
    src = _folder(tmp_path / "backlog", 40)
    (src / "reports" / "broken.xml").write_text("<report><oops/></report>")
    env = _env(settings)
    r = run(
        ["import", "cybertip", str(src), "--platform", "BacklogChat"], settings.data_dir, env_extra=env, check=False
    )
    assert r.returncode == 1, r.stderr  # one document refused, by name; the 40 others stored
    assert "41 report documents: stored 40, skipped 0" in r.stdout, r.stdout
    assert "reports/broken.xml: refused (code 4100)" in r.stderr and "README.txt" in r.stderr, r.stderr
    assert _count(db, platform_id=p.id) == 40
    with db.reader() as s:
        by_file = {r.details["imported_from"]: r for r in s.scalars(select(Report))}  # details are sealed
        first = by_file["reports/r0000.xml"]
        assert first.submission_state == "complete" and first.analysed_at is None
        assert first.source == "cybertip" and "0917 555 0000" in first.text
        att = s.scalar(select(Attachment).where(Attachment.report_id == first.id))
        assert att is not None and att.filename == "chat.txt" and att.origin == "upload"
        assert att.sha256 == hashlib.sha256(FILE).hexdigest() and att.stored_path is not None

    # the same backlog again, zipped, with a new document: only the new one is stored
    (src / "reports" / "broken.xml").unlink()
    (src / "reports" / "r9999.xml").write_text(_doc(9999))
    z = _zip(src, tmp_path / "backlog.zip")
    # with a helper process (the command's own process spawns it: the CLI's entry point guards its main)
    cmd = ["import", "cybertip", str(z), "--platform", "BacklogChat", "--json", "--processes", "1", "--chunk", "10"]
    r = run(cmd, settings.data_dir, env_extra=env)
    res = json.loads(r.stdout)
    assert (res["found"], res["stored"], res["skipped"], res["errors"]) == (41, 1, 40, [])
    assert res["ignored"] == ["README.txt"]
    with db.reader() as s:
        assert s.scalar(select(func.count(Attachment.id))) == 1  # the file was not attached twice
    r = run(["import", "cybertip", str(z), "--platform", "Nobody"], settings.data_dir, env_extra=env, check=False)
    assert r.returncode != 0 and "no platform named 'Nobody'" in r.stderr
    r = run(["import", "cybertip", str(z)], settings.data_dir, env_extra=env, check=False)
    assert r.returncode != 0 and "needs --platform" in r.stderr

    r = run(["worker", "--once"], settings.data_dir, env_extra=env)  # analysis catches up behind
    assert "analysed 41 report(s)" in r.stdout
    assert _count(db, platform_id=p.id) == 41 and _count(db, analysed_at=None) == 0


def test_hostile_archives_and_entries_are_refused_by_name(db: Database, tmp_path: Path):
    p = accounts.create_platform(db, "BacklogChat")
    platform = (p.id, p.name)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("r1.xml", _doc(1))
        zf.writestr("r1/huge.bin", b"\0" * 30_000_000)  # 30 MB inflating from ~30 KB
    with pytest.raises(BacklogError, match="zip bomb"):
        import_backlog(db, bomb, platform)
    assert _count(db) == 0  # refused whole, before anything was read
    not_zip = tmp_path / "notes.bin"
    not_zip.write_bytes(b"plain bytes")
    with pytest.raises(BacklogError, match="neither a folder nor a zip"):
        import_backlog(db, not_zip, platform)

    too_big = base64.b64encode(os.urandom(db.settings.max_xml_bytes)).decode()  # does not compress: no bomb
    src = _folder(tmp_path / "hostile", 3)
    z = _zip(
        src,
        tmp_path / "hostile.zip",
        {
            "../escape.xml": _doc(100).encode(),
            "/etc/abs.xml": _doc(101).encode(),
            "big.xml": _doc(102).replace("backlog report", too_big).encode(),
            "reports/r0001/big.bin": os.urandom(db.settings.max_upload_bytes + 1),
        },
    )
    res = import_backlog(db, z, platform)
    assert (res.total, res.stored) == (4, 2), res
    errors = "\n".join(res.errors)
    assert "../escape.xml: refused: its name points outside the archive" in errors
    assert "/etc/abs.xml: refused: its name points outside the archive" in errors
    assert "big.xml: refused: the document is 2,6" in errors and "at most 2,000,000 are taken" in errors, errors
    assert "reports/r0001.xml: refused: its file reports/r0001/big.bin is" in errors
    assert not list(tmp_path.glob("escape*")) and not (tmp_path.parent / "escape.xml").exists()

    link_dir = _folder(tmp_path / "links", 2)
    (link_dir / "reports" / "stolen.xml").symlink_to(tmp_path / "hostile" / "reports" / "r0000.xml")
    res = import_backlog(db, link_dir, platform)
    assert any(e.startswith("reports/stolen.xml: refused: a link") for e in res.errors), res.errors


def test_a_file_with_an_unsafe_name_is_named_in_its_report_refusal(db: Database, tmp_path: Path):
    """The refusal names the file whose name points outside the archive, not only the report it belongs to."""
    p = accounts.create_platform(db, "BacklogChat")
    platform = (p.id, p.name)
    z = _zip(_folder(tmp_path / "one", 1), tmp_path / "one.zip", {"reports/r0000/../../x.jpg": b"not a picture"})
    res = import_backlog(db, z, platform)
    errors = "\n".join(res.errors)
    assert "reports/r0000.xml: refused: its file reports/r0000/../../x.jpg: its name points outside" in errors, errors
    assert res.stored == 0


def test_an_interrupted_import_resumes_without_duplicates(db: Database, tmp_path: Path):
    p = accounts.create_platform(db, "BacklogChat")
    z = _zip(_folder(tmp_path / "b", 60), tmp_path / "b.zip")

    def stop_after_two(done: int) -> None:
        if done >= 20:
            raise KeyboardInterrupt  # Ctrl-C after the second chunk

    with pytest.raises(KeyboardInterrupt):
        import_backlog(db, z, (p.id, p.name), chunk=10, step=stop_after_two)
    assert _count(db) == 20
    res = import_backlog(db, z, (p.id, p.name), chunk=10)
    assert (res.stored, res.skipped, res.errors) == (40, 20, [])
    with db.reader() as s:
        keys = list(s.scalars(select(Report.external_id)))
        assert len(keys) == len(set(keys)) == 60
        assert s.scalar(select(func.count(Attachment.id))) == 1


def _resumes_with_what_is_missing(settings: Settings, db: Database, z: Path, n: int) -> None:
    """Whole chunks (of 10) were stored before the import stopped; the same command stores the rest."""
    k = _count(db)
    assert 30 <= k < n and k % 10 == 0, k
    r = run(["import", "cybertip", str(z), "--platform", "BacklogChat"], settings.data_dir, env_extra=_env(settings))
    assert f"stored {n - k}, skipped {k} already stored" in r.stdout, r.stdout
    with db.reader() as s:
        keys = list(s.scalars(select(Report.external_id)))
        assert len(keys) == len(set(keys)) == n


@pytest.mark.slow
def test_a_killed_import_process_resumes_without_duplicates(settings: Settings, db: Database, tmp_path: Path):
    accounts.create_platform(db, "BacklogChat")
    n = 400
    z = _zip(_folder(tmp_path / "b", n), tmp_path / "b.zip")
    env = command_env(settings.data_dir, _env(settings))
    args = [TIPLINE, "import", "cybertip", str(z), "--platform", "BacklogChat", "--chunk", "10"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while _count(db) < 30:
            assert proc.poll() is None, "the import ended before it could be killed"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    _resumes_with_what_is_missing(settings, db, z, n)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_an_import_with_a_helper_stopped_by_ctrl_c_or_killed_leaves_nothing_running_and_resumes(
    settings: Settings, db: Database, tmp_path: Path, how: str
):
    """Ctrl-C reaches every process of the command (the terminal signals its process group): the import
    stops with a message that says how to go on, its helper ends without a traceback (it ignores Ctrl-C, even
    while it starts). A kill of the importing process alone (SIGKILL: no clean-up at all) ends its helper
    too. Either way nothing is left running, and the same command stores exactly what is missing."""
    accounts.create_platform(db, "BacklogChat")
    n = 3000
    z = _zip(_folder(tmp_path / "b", n), tmp_path / "b.zip")
    helpers: list[int] = []

    def ready(pid: int) -> bool:
        helpers[:] = child_pids(pid)
        return bool(helpers) and _count(db) >= 30

    def stop(pid: int) -> None:
        if how == "ctrl-c":
            os.killpg(pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        else:
            os.kill(pid, signal.SIGKILL)

    args = ["import", "cybertip", str(z), "--platform", "BacklogChat", "--chunk", "10", "--processes", "1"]
    code, text = stopped_midway(args, settings.data_dir, ready, stop, env_extra=_env(settings))
    if how == "ctrl-c":
        assert code == 130, text
        assert "interrupted: the reports stored so far are kept" in text and "run the same command again" in text
    else:
        assert code == -signal.SIGKILL, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    deadline = time.monotonic() + 10
    while [h for h in helpers if alive(h)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [h for h in helpers if alive(h)], "a helper process outlived the import"
    _resumes_with_what_is_missing(settings, db, z, n)


def test_ctrl_c_hidden_behind_a_database_error_still_counts_as_ctrl_c():
    """Seen in CI (1 run in about 10 on PostgreSQL): Ctrl-C arrived while SQLAlchemy pinged a pooled
    connection; the ping's clean-up raised psycopg's ProgrammingError (connection still busy), SQLAlchemy
    wrapped it, and the import ended with a traceback and status 1 instead of its resume message."""
    try:
        try:
            try:
                raise KeyboardInterrupt
            finally:
                raise psycopg.ProgrammingError("can't change 'autocommit' now: connection in transaction status ACTIVE")
        except psycopg.ProgrammingError as e:
            raise sa_exc.ProgrammingError("SELECT 1", {}, e) from e
    except sa_exc.ProgrammingError as e:
        assert stopped_by_ctrl_c(e)
    assert stopped_by_ctrl_c(KeyboardInterrupt())
    try:
        try:
            raise TypeError("no interrupt anywhere")
        except TypeError as e:
            raise ValueError("bad") from e
    except ValueError as e:
        assert not stopped_by_ctrl_c(e)


@pytest.mark.slow
def test_a_backlog_imported_by_several_processes_is_stored_as_by_one(db: Database, tmp_path: Path):
    """Chunks imported by a spawned helper process beside this one store the same reports, with the same
    refusals (listed in the chunks' order) and the same skips, as this process alone. A copy of r0000, with
    the same file, lies in another chunk, so two processes may look for it at once: it is stored once (which
    copy depends on which process came first: the same document, the same file)."""
    src = _folder(tmp_path / "backlog", 24)
    (src / "reports" / "broken.xml").write_text("<report><oops/></report>")
    (src / "reports" / "r0017-copy.xml").write_text(_doc(0))
    (src / "reports" / "r0017-copy").mkdir()
    (src / "reports" / "r0017-copy" / "chat.txt").write_bytes(FILE)
    (src / "reports" / "r0009.xml").write_text(_doc(9).replace("<incidentSummary>", "<incidentSummary><x/>"))
    got: dict[int, tuple[object, ...]] = {}
    stored: dict[int, dict[str | None, tuple[object, ...]]] = {}
    for processes in (0, 1):
        p = accounts.create_platform(db, f"BacklogChat{processes}")
        steps: list[int] = []
        res = import_backlog(db, src, (p.id, p.name), chunk=5, processes=processes, step=steps.append)
        assert steps[-1] == 26 and steps == sorted(steps), steps
        got[processes] = (res.total, res.stored, res.skipped, [e.split(":")[0] for e in res.errors])
        with db.reader() as s:
            stored[processes] = {
                r.external_id: (
                    r.text,
                    r.category,
                    r.country,
                    r.escalate,
                    {k: v for k, v in r.details.items() if k != "imported_from"},
                )
                for r in s.scalars(select(Report).where(Report.platform_id == p.id))
            }
            q = select(Attachment.sha256).join(Report, Attachment.report_id == Report.id)
            assert list(s.scalars(q.where(Report.platform_id == p.id))) == [hashlib.sha256(FILE).hexdigest()]
    assert got[0] == got[1] == (26, 23, 1, ["reports/broken.xml", "reports/r0009.xml"]), got
    assert len(stored[1]) == 23 and stored[0] == stored[1]
