"""Retro-matching: a list imported (or a bank re-enabled) after reports arrived is matched against their
stored files in the background, and the reports it hits are raised with the reason "matched list X imported
on D" (service, a resumed run, the bank page's progress line, `tipline banks import` as a real process)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from helpers import PASSWORD, before_migration, css, login_as, page, run, text_of
from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import Category, FileIn, ReportIn, Source
from tipline.media import banks, retro
from tipline.media.hashing import hash_bytes
from tipline.media.models import LABEL_ABUSE, HashMatch, RetroRun
from tipline.store import Database
from tipline.store.models import Attachment, Report
from tipline.synth.images import encode, synth_image, transform


def hx(n: int) -> str:
    return secrets.token_hex(n // 2)


def jpeg(seed: int, t: str | None = None) -> bytes:
    img = synth_image(seed)
    return encode(transform(img, t) if t else img, "JPEG", quality=90)


def _report(db: Database, files: list[FileIn]) -> int:
    r = ReportIn(source=Source.PLATFORM, category=Category.CSAM, text="Shared in a group chat.", files=files)
    return intake.submit_report(db, r).report_id


def _row(db: Database, rid: int) -> Report:
    with db.reader() as s:
        row = s.get(Report, rid)
        assert row is not None
        return row


def _abuse_reason(db: Database, rid: int) -> dict | None:
    return next((x for x in _row(db, rid).reasons if x["rule"] == "known-abuse-hash"), None)


def test_a_report_stored_before_an_import_is_matched_and_raised(db):
    near = hash_bytes(jpeg(61, "jpeg50")).pdq
    md5 = hx(32)
    old = _report(db, [FileIn(pdq=hash_bytes(jpeg(61)).pdq)])
    other = _report(db, [FileIn(md5=md5)])
    unrelated = _report(db, [FileIn(pdq=hash_bytes(jpeg(62)).pdq, md5=hx(32))])
    assert _row(db, old).priority >= 3 and _abuse_reason(db, old) is None

    banks.create_bank(db, "Partner list", default_label=LABEL_ABUSE)
    result = banks.import_file(db, "Partner list", f"pdq,{near}\nmd5,{md5}\n".encode(), filename="l.csv")
    assert result.retro_run is not None
    assert retro.waiting(db) == [result.retro_run]
    assert _row(db, old).priority >= 3  # not yet: the match runs in the background

    seen: list[tuple[int, int]] = []
    (info,) = retro.run_waiting(db, progress=lambda _info: lambda done, total: seen.append((done, total)))
    assert (info.state, info.done, info.total, info.reports_hit) == ("done", 3, 3, 2)
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for rid in (old, other):
        assert _row(db, rid).priority <= 2
        reason = _abuse_reason(db, rid)
        assert reason is not None
        assert reason["detail"] == f"{LABEL_ABUSE} (matched list Partner list imported on {today})"
    with db.reader() as s:
        hit = {m.report_id for m in s.scalars(select(HashMatch))}
    assert hit == {old, other}
    assert _row(db, unrelated).priority >= 3 and _abuse_reason(db, unrelated) is None
    assert retro.waiting(db) == []

    # an import of nothing new queues nothing; a new report is matched at intake and says nothing "late"
    assert banks.import_file(db, "Partner list", f"md5,{md5}\n".encode(), filename="l.csv").retro_run is None
    new = _report(db, [FileIn(md5=md5)])
    reason = _abuse_reason(db, new)
    assert reason is not None and reason["detail"] == LABEL_ABUSE


def test_re_enabling_a_bank_matches_what_came_while_it_was_off(db):
    md5 = hx(32)
    banks.create_bank(db, "Paused", default_label=LABEL_ABUSE)
    banks.import_file(db, "Paused", f"md5,{md5}\n".encode(), filename="l.csv")
    retro.run_waiting(db)
    banks.set_enabled(db, "Paused", False)
    rid = _report(db, [FileIn(md5=md5)])
    assert _row(db, rid).priority >= 3
    banks.set_enabled(db, "Paused", True)
    (info,) = retro.run_waiting(db)
    assert info.reason == "enable" and info.reports_hit == 1
    reason = _abuse_reason(db, rid)
    assert reason is not None and "matched list Paused re-enabled on" in reason["detail"]


def test_a_run_cut_short_resumes_where_it_stopped(db):
    md5 = hx(32)
    first = _report(db, [FileIn(md5=md5)])
    second = _report(db, [FileIn(md5=md5)])
    banks.create_bank(db, "Big", default_label=LABEL_ABUSE)
    run_id = banks.import_file(db, "Big", f"md5,{md5}\n".encode(), filename="l.csv").retro_run
    with db.reader() as s:
        first_file = s.scalar(select(Attachment.id).where(Attachment.report_id == first))
    # a worker that died after its first file: running, an old heartbeat, one file done
    with db.session() as s:
        s.execute(
            update(RetroRun)
            .where(RetroRun.id == run_id)
            .values(
                state="running",
                heartbeat_at=datetime(2020, 1, 1, tzinfo=UTC),
                started_at=datetime(2020, 1, 1, tzinfo=UTC),
                total=2,
                done=1,
                last_attachment_id=first_file,
            )
        )
    assert retro.waiting(db) == [run_id]
    (info,) = retro.run_waiting(db)
    assert (info.state, info.done, info.reports_hit) == ("done", 2, 1)
    assert _row(db, second).priority <= 2 and _row(db, first).priority >= 3  # the first was the dead worker's
    assert retro.run(db, run_id) is None  # done: nobody takes it again


def _login(client, db, role: str) -> str:  # type: ignore[no-untyped-def]
    accounts.create_user(db, role, role, PASSWORD)
    login_as(client, role)
    doc = page(client.get("/queue"))
    return css(doc, "form[action='/logout'] input[name=csrf_token]")[0].get("value")


def test_an_import_on_the_bank_page_matches_in_the_background_with_a_progress_line(client, db):
    md5 = hx(32)
    rid = _report(db, [FileIn(md5=md5)])
    csrf = _login(client, db, "supervisor")
    b = banks.create_bank(db, "Page list", default_label=LABEL_ABUSE)
    r = client.post(
        f"/banks/{b.id}/import",
        data={"csrf_token": csrf},
        files={"file": ("list.csv", f"md5,{md5}\n".encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 30
    while True:
        doc = page(client.get(f"/banks/{b.id}"))
        (line,) = css(doc, "li.retro-run")
        if line.get("data-state") == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert line.get("data-state") == "done"
    assert "1 files checked, 1 reports hit" in text_of(line)
    assert _row(db, rid).priority <= 2


@pytest.mark.slow
def test_banks_import_command_matches_the_stored_files_with_a_progress_bar(sqlite_db, tmp_path):
    db = sqlite_db
    data = db.settings.data_dir
    md5 = hx(32)
    rid = _report(db, [FileIn(md5=md5)])
    f = tmp_path / "list.csv"
    f.write_text(f"md5,{md5},{LABEL_ABUSE}\n")
    r = run(["banks", "import", "Partner", str(f), "--later"], data)
    assert "report(s) hit" not in r.stdout
    r = run(["banks", "retro"], data)
    assert "stored files matched against 'Partner': 1 files, 1 report(s) hit" in r.stdout
    assert "retro-match Partner" in r.stderr  # the progress bar
    assert "nothing waiting" in run(["banks", "retro"], data).stdout
    f.write_text(f"md5,{hx(32)},{LABEL_ABUSE}\n")
    r = run(["banks", "import", "Partner", str(f)], data)
    assert "1 files, 0 report(s) hit" in r.stdout
    assert _row(db, rid).priority <= 2


@pytest.mark.parametrize("backend_url", ["sqlite", "postgres"])
def test_migration_keeps_existing_banks_open_to_platforms_and_goes_down(tmp_path, backend_url):
    from sqlalchemy import text

    with before_migration(backend_url, tmp_path, "_bank_terms_retro.py") as m:
        now = datetime.now(UTC)
        with m.engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO hash_banks (name, source, terms, description, default_label, enabled, revision, "
                    "counts, created_at, updated_at, created_by) VALUES ('old', '', 'terms', '', 'x', :t, 0, '{}', "
                    ":n, :n, 'cli')"
                ),
                {"t": True, "n": now},
            )
        m.up("head")
        with m.engine.connect() as c:
            row = c.execute(text("SELECT match_scope, platform_view, enabled_at FROM hash_banks")).one()
        assert tuple(row) == ("all", "label", None)
        m.down()
        with m.engine.connect() as c:
            assert c.execute(text("SELECT name, terms FROM hash_banks")).one() == ("old", "terms")
        m.up("head")
