"""A hotline's last months for the demo world: when each report was received and where it stands now.

The world's reports happen in the ~90 days before its epoch. The demo places them, in the same order, over
the ~6 months before the moment it is loaded, more of them towards the present (a hotline's volume grows),
so statistics and queue ages show months, not one bar.
Recent reports are mostly still open (new, some being reviewed); older ones mostly closed (referred when a
network is behind them, else no action or duplicate). Deterministic: same seed, same world, same ``now``,
same timeline. The world itself (texts, identifiers) is unchanged.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tipline.synth.world import SynthReport, World

SPAN_DAYS = 175.0  # under six months, and under the shortest retention of a closed report (duplicate: 180)


@dataclass(frozen=True)
class DemoTimes:
    received_at: datetime
    incident_at: datetime
    status: str  # new | in_review | referred | no_action | duplicate
    first_action_at: datetime | None


def _delay(rng: random.Random, r: SynthReport) -> timedelta:
    """From the incident to the report reaching the hotline."""
    if r.door == "live":
        return timedelta(seconds=rng.randrange(5, 120))
    if r.door in ("platform", "cybertip"):
        return timedelta(hours=rng.uniform(0.5, 48))
    return timedelta(hours=rng.uniform(0.2, 24 * 7))


def _closed_status(rng: random.Random, r: SynthReport, age_days: float) -> str:
    if r.network_id is not None:
        status = rng.choices(("referred", "no_action", "duplicate"), weights=(70, 18, 12))[0]
    else:
        status = rng.choices(("no_action", "duplicate", "referred"), weights=(72, 22, 6))[0]
    return "no_action" if status == "duplicate" and age_days > SPAN_DAYS - 5 else status


def _state(rng: random.Random, r: SynthReport, received: datetime, now: datetime) -> tuple[str, datetime | None]:
    age_days = (now - received).total_seconds() / 86400
    if age_days < 3:
        p_closed, p_review = 0.05, 0.3
    elif age_days < 21:
        p_closed, p_review = 0.35, 0.8
    else:
        p_closed, p_review = min(0.96, 0.6 + 0.4 * age_days / SPAN_DAYS), 1.0
    urgent = r.child_in_danger_now
    acted = received + timedelta(minutes=rng.uniform(3, 40) if urgent else rng.uniform(20, 60 * 72))
    acted = min(acted, now)
    roll = rng.random()
    if roll < p_closed:
        return _closed_status(rng, r, age_days), acted
    if rng.random() < p_review:
        return "in_review", acted
    return "new", None


def _age_days(rank: int, n: int) -> float:
    """Days before ``now`` of the report of ``rank`` (0 = oldest) among ``n``: reports get more frequent
    towards the present (a density growing from 1 to 2 over the span), the newest a few hours old."""
    q = (rank + 0.5) / n
    x = math.sqrt(1 + 3 * q) - 1  # inverse of the CDF of the density (1 + x) / 1.5 over [0, 1]
    return SPAN_DAYS * (1 - x)


def demo_timeline(world: World, now: datetime, *, seed: int | None = None) -> list[DemoTimes]:
    """The received time and state of each of ``world.reports`` (same order, oldest first), ending at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(f"demo-timeline:{world.seed if seed is None else seed}")
    n = len(world.reports)
    out: list[DemoTimes] = []
    for rank, r in enumerate(world.reports):
        received = now - timedelta(days=_age_days(rank, n), minutes=rng.uniform(0, 20))
        incident = received - _delay(rng, r)
        status, acted = _state(rng, r, received, now)
        out.append(DemoTimes(received, incident, status, acted))
    return out
