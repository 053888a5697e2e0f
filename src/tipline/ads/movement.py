"""Movement: where a template, a phone or a handle appeared over time, as stops (one city, one site, a
run of consecutive ads) in posting order, the way Spotlight and Traffic Jam show a poster touring."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Sighting:
    posted_at: datetime
    city: str
    site: str
    country: str = ""


@dataclass
class Stop:
    city: str
    site: str
    country: str
    first: datetime
    last: datetime
    ads: int

    def to_dict(self) -> dict[str, object]:
        return {
            "city": self.city,
            "site": self.site,
            "country": self.country,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "ads": self.ads,
        }


def timeline(sightings: Iterable[Sighting]) -> list[Stop]:
    """Consecutive ads in one city on one site make one stop; a new stop starts when either changes."""
    stops: list[Stop] = []
    for s in sorted(sightings, key=lambda s: (s.posted_at, s.city, s.site)):
        last = stops[-1] if stops else None
        if last is not None and last.city == s.city and last.site == s.site:
            last.last = s.posted_at
            last.ads += 1
        else:
            stops.append(Stop(s.city, s.site, s.country, s.posted_at, s.posted_at, 1))
    return stops


def chart(stops: list[Stop], width: int = 640, row: int = 22) -> dict[str, object]:
    """Geometry for a map-free chart: one row per city (in order of first visit), one bar per stop along
    the time axis. The page draws it as inline SVG."""
    if not stops:
        return {"width": width, "height": 0, "rows": [], "bars": []}
    t0 = min(s.first for s in stops).timestamp()
    t1 = max(s.last for s in stops).timestamp()
    span = max(t1 - t0, 1.0)
    label_w = 140
    plot = width - label_w - 10
    cities = list(dict.fromkeys(s.city for s in stops))
    bars = []
    for s in stops:
        y = cities.index(s.city) * row
        x = label_w + (s.first.timestamp() - t0) / span * plot
        w = max((s.last.timestamp() - s.first.timestamp()) / span * plot, 4.0)
        bars.append(
            {
                "x": round(x, 1),
                "y": y + 4,
                "w": round(w, 1),
                "h": row - 8,
                "city": s.city,
                "site": s.site,
                "ads": s.ads,
                "first": s.first.date().isoformat(),
                "last": s.last.date().isoformat(),
            }
        )
    rows = [{"city": c, "y": i * row + row // 2 + 4} for i, c in enumerate(cities)]
    return {
        "width": width,
        "height": len(cities) * row,
        "rows": rows,
        "bars": bars,
        "label_w": label_w,
        "start": stops[0].first.date().isoformat(),
        "end": max(s.last for s in stops).date().isoformat(),
    }
