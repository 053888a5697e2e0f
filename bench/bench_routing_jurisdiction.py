"""Jurisdiction accuracy on the synthetic world: top-1 and top-3, per evidence kind, and against a baseline.

Every report of ``tipline.synth.generate_world`` goes through the real intake (the same service calls as the
four doors, into a temporary SQLite database), so extraction, the analysis hook and the stored candidates are
what is measured. Truth: for a report about a trafficking network, the network's (source) country, which is
where its facilitators and victims are; reports about no network have no truth and are left out.

What ``tipline.synth`` does with countries (read before trusting a number):

* a network's phones are mobile numbers of its country, so ``phone`` evidence is strong by construction;
* the stated country of a public report is the network's country 55% of the time, else the reporter's (25%)
  or none; platforms state it 60% of the time; CyberTipline reports give the reported person's estimated
  location 50% of the time; panic-button events give the broadcaster's country (always) and viewers' (demand
  countries) too;
* IP addresses are random global unicast addresses, unrelated to any country: ``ip`` evidence can only be
  right by chance here (it is measured to show exactly that, not as a claim about geolocation);
* domains use random public suffixes (``.ph``, ``.com.ph``, ``.it``, ``.co.uk``, generic ones), unrelated
  to the network's country: ``cctld`` is mostly noise here too;
* mule IBANs are drawn from several countries: ``iban`` is weak by construction;
* nothing is hosted anywhere: ``hosting`` is measured in a second, controlled run where each network
  domain is given a hosting address (drawn from the GeoLite2 data itself, so that run checks the plumbing
  — resolver → takedown row → evidence → candidate — not geolocation accuracy).

Baseline: the report's stated country alone (what the queue's country filter reads today).

    .venv/bin/python bench/bench_routing_jurisdiction.py [--seed 1] [--reports 400] [--networks 12]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from tipline.capabilities import open_database
from tipline.cybertip.parse import parse_report
from tipline.intake import service as intake
from tipline.intake.schemas import LiveIn, PlatformReportIn, PublicReportIn
from tipline.routing import jurisdiction as jur
from tipline.routing.models import UrlTakedown
from tipline.routing.referral import report_jurisdiction
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Report
from tipline.synth import generate_world

HOSTING_COUNTRIES = ("US", "NL", "DE", "FR", "SG", "RU", "CA", "GB")


def _ips_by_country(seed: int, wanted: tuple[str, ...]) -> dict[str, str]:
    """A random global IPv4 address per wanted country, found by sampling and geolocating (seeded)."""
    rng = random.Random(seed)
    geo = jur.default_geo()
    found: dict[str, str] = {}
    for _ in range(200_000):
        ip = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        c = geo.country(ip)
        if c in wanted and c not in found:
            found[c] = ip
            if len(found) == len(wanted):
                break
    return found


def load(db: Database, world, platforms: dict[str, int]) -> dict[int, object]:  # type: ignore[no-untyped-def]
    ids: dict[int, object] = {}
    for r in world.reports:
        pid = platforms.get(r.platform or "")
        if r.door == "public":
            rep = PublicReportIn(**r.payload).to_report()
        elif r.door == "platform":
            rep = PlatformReportIn(**r.payload).to_report(pid)  # type: ignore[arg-type]
        elif r.door == "live":
            rep = LiveIn(**r.payload).to_report(pid, r.platform)  # type: ignore[arg-type]
        else:
            rep = parse_report(r.payload.encode()).model_copy(update={"platform_id": pid, "open_submission": False})
        ids[intake.submit_report(db, rep).report_id] = r
    return ids


def evaluate(db: Database, ids: dict[int, object], world) -> dict[str, object]:  # type: ignore[no-untyped-def]
    n = top1 = top3 = base = 0
    by_door: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    kind_hits: Counter[str] = Counter()
    kind_seen: Counter[str] = Counter()
    with db.reader() as s:
        stated = dict(s.execute(select(Report.id, Report.country)).all())
    for rid, r in ids.items():
        if r.network_id is None:  # type: ignore[attr-defined]
            continue
        truth = world.network(r.network_id).country  # type: ignore[attr-defined]
        cands = report_jurisdiction(db, rid)
        order = [c.country for c in cands]
        n += 1
        ok1, ok3 = bool(order) and order[0] == truth, truth in order[:3]
        top1 += ok1
        top3 += ok3
        base += stated.get(rid) == truth
        d = by_door[r.door]  # type: ignore[attr-defined]
        d[0] += 1
        d[1] += ok1
        d[2] += ok3
        evidence = [e for c in cands for e in c.evidence]
        for kind in jur.KINDS:
            only = jur.combine(e for e in evidence if e.kind == kind)
            if only:
                kind_seen[kind] += 1
                kind_hits[kind] += only[0].country == truth
    return {
        "n": n,
        "top1": top1,
        "top3": top3,
        "base": base,
        "by_door": dict(by_door),
        "kind_seen": kind_seen,
        "kind_hits": kind_hits,
    }


def pct(a: int, b: int) -> str:
    return f"{a / b:6.1%}" if b else "   n/a"


def run(world, seed: int, records: dict[str, list[str]] | None):  # type: ignore[no-untyped-def]
    from tipline.accounts import service as accounts

    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Settings(data_dir=Path(tmp)))
        db.migrate()
        platforms = {p.name: accounts.create_platform(db, p.name).id for p in world.platforms}
        if records is not None:
            jur.use_resolver(db, jur.DictResolver(records))
        t0 = time.perf_counter()
        ids = load(db, world, platforms)
        load_s = time.perf_counter() - t0
        res = evaluate(db, ids, world)
        with db.reader() as s:
            rows = list(s.scalars(select(UrlTakedown)))
        facts = []
        for rid in ids:
            facts.append([e for c in report_jurisdiction(db, rid) for e in c.evidence])
        t1 = time.perf_counter()
        for _ in range(5):
            for ev in facts:
                jur.combine(ev)
        res["combine_us"] = (time.perf_counter() - t1) / (5 * max(len(facts), 1)) * 1e6
        res["load_s"] = load_s
        res["takedowns"] = [(t.host, t.hosting_country) for t in rows]
        db.dispose()
    return res


def report(title: str, res: dict[str, object]) -> None:
    n = int(res["n"])  # type: ignore[call-overload]
    t1, t3, b = int(res["top1"]), int(res["top3"]), int(res["base"])  # type: ignore[call-overload]
    print(f"--- {title}: {n} reports about a network (loaded through intake + analysis in {res['load_s']:.1f} s)")
    print(f"{'':28}{'top-1':>8}{'top-3':>8}")
    print(f"{'tipline (all evidence)':28}{pct(t1, n):>8}{pct(t3, n):>8}")
    print(f"{'baseline: stated country':28}{pct(b, n):>8}{'':>8}")
    print(f"ratio tipline/baseline (top-1): {t1 / b:.2f}x" if b else "ratio: the baseline is never right")
    print("per door:")
    for door, (dn, d1, d3) in sorted(res["by_door"].items()):  # type: ignore[attr-defined]
        print(f"  {door:10} n={dn:4}  top-1 {pct(d1, dn)}  top-3 {pct(d3, dn)}")
    print("per evidence kind (that kind's evidence alone; coverage = share of the reports that have it):")
    seen, hits = res["kind_seen"], res["kind_hits"]
    for kind in jur.KINDS:
        k_n = seen[kind]  # type: ignore[index]
        print(f"  {kind:8} coverage {pct(k_n, n)}  top-1 {pct(hits[kind], k_n)}")  # type: ignore[index]
    print(f"combine() per report: {res['combine_us']:.1f} µs\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reports", type=int, default=400)
    ap.add_argument("--networks", type=int, default=12)
    args = ap.parse_args()

    world = generate_world(seed=args.seed, n_networks=args.networks, n_reports=args.reports)
    print(
        f"jurisdiction on the synthetic world: seed {args.seed}, {len(world.reports)} reports, {args.networks} networks"
    )
    print("(timings are noisy: other work shares this 2-core machine)\n")
    report("default (no host resolution)", run(world, args.seed, None))

    # controlled hosting: every network host (and the classifieds site) served from a chosen country
    rng = random.Random(args.seed)
    addr = _ips_by_country(args.seed, HOSTING_COUNTRIES)
    hosting_truth: dict[str, str] = {}
    records: dict[str, list[str]] = {}
    for net in world.networks:
        for u in net.urls:
            host = (urlsplit(u).hostname or "").lower()
            if host not in hosting_truth:
                c = rng.choice(sorted(addr))
                hosting_truth[host] = c
                records[host] = [addr[c]]
    res = run(world, args.seed, records)
    report(
        f"with hosting resolved ({len(records)} hosts placed in {len(addr)} countries unrelated to the networks)", res
    )
    hosted = [(h, c) for h, c in res["takedowns"] if h in hosting_truth]  # type: ignore[attr-defined]
    ok = sum(c == hosting_truth[h] for h, c in hosted)
    print(f"hosting plumbing: {ok}/{len(hosted)} takedown rows got the hosting country their host was given")
    return 0


if __name__ == "__main__":
    sys.exit(main())
