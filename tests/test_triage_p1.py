"""P1 means a child in danger now: measured against the synthetic world's truth, and the CyberTipline
escalation (with a child victim and files tagged ``liveStreaming`` / ``infant``) that must be P1.

The demo world (seed 1, 400 reports) enters through the doors' services (``load_demo``) and is scored
by the default rules; its truth is ``SynthReport.child_in_danger_now`` (a network's report, live or
escalated by its platform). The floors: precision >= 0.9 (P1 stands out: at most one P1 in ten is not a
child in danger now) and no true P1 lost (recall 1.0: a missed P1 is a child left waiting). On SQLite
only: the scores do not depend on the backend, and the load takes a minute or two.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from helpers import XML, answer, basic, submit_cybertip
from tipline.demo import load_demo
from tipline.reports import service as reports
from tipline.store import Database
from tipline.store.models import Report
from tipline.synth import generate_world

DATA = Path(__file__).parent / "data" / "cybertip"


def test_p1_precision_and_recall_on_the_demo_world(sqlite_db: Database) -> None:
    load_demo(sqlite_db, seed=1, n_reports=400, console=Console(file=io.StringIO()), ads=False)
    world = generate_world(seed=1, n_reports=400)
    with sqlite_db.reader() as s:
        rows = s.execute(select(Report.id, Report.priority, Report.reasons).order_by(Report.id)).all()
    # load_demo submits the world's reports in order, one report each: report i+1 is world.reports[i]
    assert len(rows) == len(world.reports)
    p1 = {rid for rid, prio, _ in rows if prio == 1}
    truth = {rid for (rid, _, _), r in zip(rows, world.reports, strict=True) if r.child_in_danger_now}
    hits = p1 & truth
    precision = len(hits) / len(p1) if p1 else 0.0
    recall = len(hits) / len(truth)
    print(
        f"\nP1 on the demo world: {len(p1)} of {len(rows)} reports; a child in danger now: {len(truth)}; "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    wrong = {rid: [x["rule"] for x in reasons] for rid, prio, reasons in rows if rid in p1 - truth}
    lost = {rid: [x["rule"] for x in reasons] for rid, prio, reasons in rows if rid in truth - p1}
    assert precision >= 0.9, f"P1 that is not a child in danger now: {wrong}"
    assert not lost, f"true P1 reports below P1: {lost}"
    # the panic buttons whose note says the performer is probably an adult are not P1
    adult_notes = [
        rid for (rid, prio, _), r in zip(rows, world.reports, strict=True) if r.door == "live" and not r.network_id
    ]
    assert adult_notes and not set(adult_notes) & p1


def _escalated_cybertip(client, platform, *, escalate: bool) -> int:  # type: ignore[no-untyped-def]
    """A CyberTipline report: a victim of 15, one file tagged liveStreaming and infant; escalated or not."""
    body = (DATA / "rich_report.xml").read_text()
    body = body.replace("<age>9</age>", "<age>15</age>")
    if not escalate:
        start = body.index("<escalateToHighPriority>")
        end = body.index("</escalateToHighPriority>") + len("</escalateToHighPriority>")
        body = body[:start] + body[end:]
    rid = submit_cybertip(client, platform, body.encode())
    up = client.post(
        "/ispws/upload",
        data={"id": str(rid)},
        files={"file": ("capture.jpg", b"synthetic test file", "image/jpeg")},
        auth=basic(platform),
    )
    file_id = answer(up)["fileId"]
    details = (DATA / "file_details.xml").read_text()
    details = details.replace("<reportId>1</reportId>", f"<reportId>{rid}</reportId>")
    details = details.replace("<fileId>1</fileId>", f"<fileId>{file_id}</fileId>")
    details = details.replace("<generativeAi>true</generativeAi>", "<infant>true</infant>")
    fi = client.post("/ispws/fileinfo", content=details.encode(), headers=XML, auth=basic(platform))
    assert answer(fi)["responseCode"] == 0
    done = client.post("/ispws/finish", data={"id": str(rid)}, auth=basic(platform))
    assert answer(done)["responseCode"] == 0
    return rid


def test_escalated_cybertip_report_with_a_child_and_tagged_files_is_p1(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    got = reports.get_report(db, _escalated_cybertip(client, platform, escalate=True))
    fired = {r.rule: r for r in got.reasons}
    assert got.priority == 1, fired
    assert {"platform-escalation", "minor", "file-infant", "file-live-stream", "sextortion-tagged"} <= set(fired)
    assert fired["file-infant"].detail == "infant" and fired["file-live-stream"].detail == "liveStreaming"
    assert fired["sextortion-tagged"].detail == "sextortion"


def test_tagged_files_weigh_but_do_not_make_p1_without_now(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    """The same report not escalated: the rules still read the file tags, but nothing says "now"."""
    got = reports.get_report(db, _escalated_cybertip(client, platform, escalate=False))
    fired = {r.rule for r in got.reasons}
    assert {"file-infant", "file-live-stream"} <= fired and "platform-escalation" not in fired
    assert got.priority == 2
