"""Load the synthetic world (``tipline.synth``) through the same service calls the four doors make.

Everything loaded is synthetic: placeholder texts, generated identifiers, made-up platforms. The reports are
then spread over the last ~6 months (:mod:`tipline.synth.timeline`): received times, and the recent ones
mostly open, the older ones mostly closed, so statistics and queue ages look like a hotline's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import func, select, update

from tipline.accounts import service as accounts
from tipline.intake import service as intake
from tipline.intake.schemas import LiveIn, PlatformReportIn, PublicReportIn
from tipline.store import Database
from tipline.store.models import Report

# Demo logins, printed by `make run`. Demo only: a real deployment creates its own users.
# Admins and supervisors enrol a TOTP authenticator at their first login.
DEMO_USERS = [
    ("admin", "admin", "demo-password-one-1"),
    ("supervisor", "supervisor", "demo-password-two-2"),
    ("analyst", "analyst", "demo-password-three-3"),
]


def load_demo(
    db: Database,
    *,
    seed: int = 1,
    n_reports: int = 400,
    only_if_empty: bool = False,
    console: Console | None = None,
    ads: bool = True,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Load the demo world; returns a summary, or None when ``only_if_empty`` and reports exist.
    ``ads=False`` loads the reports only (the ads come after them and change none of their scores).
    The reports' received times end at ``now`` (default: the present) and reach ~6 months back."""
    from tipline.cybertip.parse import parse_report
    from tipline.synth import generate_world

    if only_if_empty:
        with db.reader() as s:
            if s.scalar(select(func.count()).select_from(Report)):
                return None
    existing = {u.name for u in accounts.list_users(db)}
    for name, role, password in DEMO_USERS:
        if name not in existing:
            accounts.create_user(db, name, role, password, by="demo")
    world = generate_world(seed=seed, n_reports=n_reports)
    platform_ids: dict[str, tuple[int, str]] = {}
    for p in world.platforms:
        found = accounts.platform_by_name(db, p.name)
        if found is None:
            creds = accounts.create_platform(db, p.name, by="demo")
            platform_ids[p.name] = (creds.id, creds.name)
        else:
            platform_ids[p.name] = (found.id, found.name)
    counts: dict[str, int] = {}
    ids: list[int] = []
    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    with prog:
        task = prog.add_task("loading demo reports", total=len(world.reports))
        for r in world.reports:
            pid, pname = platform_ids.get(r.platform or "", (None, None))
            payload = r.payload
            if r.door == "public":
                res = intake.submit_report(db, PublicReportIn.model_validate(payload).to_report())
            elif r.door == "platform":
                assert pid is not None
                res = intake.submit_report(db, PlatformReportIn.model_validate(payload).to_report(pid))
            elif r.door == "live":
                assert pid is not None and pname is not None
                res = intake.submit_report(db, LiveIn.model_validate(payload).to_report(pid, pname))
            else:
                assert r.door == "cybertip" and isinstance(payload, str)
                rep = parse_report(payload.encode())
                rep = rep.model_copy(update={"platform_id": pid})
                res = intake.submit_report(db, rep)
                intake.finish_submission(db, res.report_id, platform_id=pid)
            ids.append(res.report_id)
            counts[r.door] = counts.get(r.door, 0) + 1
            prog.advance(task)
        spread_over_months(db, world, ids, now or datetime.now(UTC))
        n_ads = load_demo_ads(db, world, seed=seed, prog=prog) if ads else 0
    return {
        "seed": seed,
        "reports": len(world.reports),
        "by_door": counts,
        "platforms": sorted(platform_ids),
        "ads": n_ads,
    }


def spread_over_months(db: Database, world: Any, ids: list[int], now: datetime) -> None:
    """Give the loaded reports (``ids[i]`` is ``world.reports[i]``) their place in the demo's last months:
    received and incident times, status, first action (:func:`tipline.synth.timeline.demo_timeline`)."""
    from tipline.synth.timeline import demo_timeline

    rows: dict[int, dict[str, Any]] = {}
    for rid, t in zip(ids, demo_timeline(world, now), strict=True):
        rows[rid] = {
            "id": rid,
            "received_at": t.received_at,
            "incident_at": t.incident_at,
            "status": t.status,
            "first_action_at": t.first_action_at,
        }
    if rows:
        with db.session() as s:
            s.execute(update(Report), list(rows.values()))


def load_demo_ads(db: Database, world: Any, *, seed: int, n_ads: int = 600, prog: Progress | None = None) -> int:
    """Synthetic classified ads whose templated families use the world's network phones, so ads and
    reports share phones (and the ads' clusters link to the networks)."""
    from tipline.ads import service as ads
    from tipline.ads.parse import AdIn
    from tipline.synth.ads import generate_ads

    phones = [p for n in world.networks for p in n.phones[:1]]
    corpus = generate_ads(seed=seed, n_ads=n_ads, max_family=12, plant_phones=phones, epoch=world.epoch)
    lines = [(i + 1, AdIn.model_validate(a.payload)) for i, a in enumerate(corpus.ads)]
    task = prog.add_task("loading demo ads", total=len(lines)) if prog is not None else None

    def step(n: int) -> None:
        if prog is not None and task is not None:
            prog.update(task, completed=n)

    res = ads.import_ads(db, lines, source="demo", actor="demo", progress=step)
    return res.added + res.updated
