"""Jurisdiction: evidence kinds, weights and their combination, resolvers, offline geolocation, and accuracy on
synthetic reports whose country is known (printed)."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from tipline.intake import service as intake
from tipline.intake.schemas import Category, PlatformReportIn, PublicReportIn
from tipline.routing import jurisdiction as jur
from tipline.routing.models import JurisdictionCandidate, UrlTakedown, UrlTakedownReport
from tipline.routing.referral import refresh_jurisdiction, report_jurisdiction
from tipline.settings import Settings


def facts(**kw):  # type: ignore[no-untyped-def]
    return jur.ReportFacts(**kw)


def top(cands: list[jur.Candidate]) -> str | None:
    return cands[0].country if cands else None


# ------------------------------------------------------------------------------------------ evidence kinds


def test_phone_codes_point_to_their_country():
    cands = jur.assess(facts(entities=[("phone", "+639171234567", "text"), ("whatsapp", "+66812345678", "text")]))
    got = {c.country: c for c in cands}
    assert set(got) == {"PH", "TH"}
    assert got["PH"].evidence[0].kind == "phone" and got["PH"].weight == jur.WEIGHTS["phone"]


def test_stated_and_person_locations_weigh_by_role():
    persons = [
        {"role": "victim", "country": "PH"},
        {"role": "viewer", "country": "AU"},
        {"role": "reported", "country": "ph"},
    ]
    cands = jur.assess(facts(stated_country="IT", persons=persons))
    got = {c.country: c.weight for c in cands}
    assert top(cands) == "PH"
    # victim 0.9 and reported person 0.8 combine: 1 - 0.1 * 0.2
    assert math.isclose(got["PH"], 0.98)
    assert got["IT"] == jur.WEIGHTS["stated"] and got["AU"] == jur.WEIGHTS["person.viewer"]


def test_cctld_counts_country_codes_but_not_generic_or_vanity_domains():
    ents = [
        ("domain", "example.com.ph", "text"),
        ("url", "https://shop.example.co.uk/a", "urls[0]"),
        ("email", "someone@mail.example.it", "text"),
        ("domain", "example.com", "text"),
        ("domain", "example.io", "text"),
        ("domain", "example.eu", "text"),
    ]
    cands = jur.assess(facts(entities=ents))
    got = {c.country: c for c in cands}
    assert set(got) == {"PH", "GB", "IT"}  # .uk is GB; .com, .io (vanity) and .eu (no country) give nothing
    assert got["IT"].weight == jur.WEIGHTS["cctld.email"] < got["PH"].weight == jur.WEIGHTS["cctld"]


def test_ip_geolocation_is_offline_and_ignores_non_global_addresses():
    geo = jur.default_geo()
    # the bundled GeoLite2 data (no network): well-known anycast resolvers of two countries
    assert geo.country("8.8.8.8") == "US"
    assert geo.country("1.1.1.1") == "AU"
    assert geo.country("2001:4860:4860::8888") == "US"
    for private in ("10.1.2.3", "192.168.0.1", "127.0.0.1", "203.0.113.9", "2001:db8::1", "not an ip"):
        assert geo.country(private) is None
    persons = [{"role": "reported"}, {"role": "viewer"}]
    ents = [("ipv4", "8.8.8.8", "persons[0].ip_events[0]"), ("ipv4", "1.1.1.1", "persons[1].ip_events[0]")]
    got = {c.country: c.weight for c in jur.assess(facts(persons=persons, entities=ents))}
    assert got == {"US": jur.WEIGHTS["ip.reported"], "AU": jur.WEIGHTS["ip.viewer"]}


def test_iban_and_dict_geo():
    geo = jur.DictGeo({"198.51.100.7": "ke"})
    ents = [("iban", "DE89370400440532013000", "text"), ("ipv4", "198.51.100.7", "text")]
    got = {c.country: c for c in jur.assess(facts(entities=ents), geo=geo)}
    assert set(got) == {"DE", "KE"}
    assert got["KE"].evidence[0].detail.endswith("records set up by the caller")


def test_the_same_clue_twice_counts_once_and_many_clues_never_pass_one():
    ents = [("phone", "+639171234567", "text"), ("phone", "+639171234567", "persons[0].identifiers[0]")]
    one = jur.assess(facts(entities=ents))
    assert len(one[0].evidence) == 1 and one[0].weight == jur.WEIGHTS["phone"]
    many = [("phone", f"+63917123456{i}", "text") for i in range(9)]
    w = jur.assess(facts(entities=many))[0].weight
    assert 0.99 < w <= 1.0


def test_candidates_are_sorted_best_first_and_merge_combines_reports():
    a = jur.assess(facts(stated_country="TH"))
    b = jur.assess(facts(entities=[("phone", "+66812345678", "text")], stated_country="PH"))
    merged = jur.merge([a, b])
    assert [c.country for c in merged] == ["TH", "PH"]
    assert math.isclose(merged[0].weight, 1 - 0.5 * 0.3)


def test_evidence_holds_no_report_text():
    text = "a secret sentence the reporter wrote"
    cands = jur.assess(facts(stated_country="PH", entities=[("phone", "+639171234567", "text")]))
    assert text not in json.dumps([c.as_dict() for c in cands])


# ------------------------------------------------------------------------------------------ resolvers


def test_resolvers(tmp_path):
    assert jur.NoResolver().resolve("example.com") == []
    r = jur.DictResolver({"ads.example.net": ["192.0.2.1"], "*.example.org": ["2001:DB8::1"]})
    assert r.resolve("ADS.example.net.") == ["192.0.2.1"]
    assert r.resolve("a.b.example.org") == ["2001:db8::1"]
    assert r.resolve("example.org") == [] and r.resolve("other.example") == []
    with pytest.raises(ValueError, match="not an IP address"):
        jur.DictResolver({"x.example": ["nope"]})
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"files.example.com": ["8.8.4.4"]}))
    assert jur.resolver_from_setting(f"file:{path}").resolve("files.example.com") == ["8.8.4.4"]
    assert isinstance(jur.resolver_from_setting(None), jur.NoResolver)
    assert jur.resolver_from_setting("dns").network is True
    with pytest.raises(ValueError, match="unknown routing_resolver"):
        jur.resolver_from_setting("bogus")
    # a URL with an address in it needs no resolver; onion services are never resolved
    assert jur.hosting_ips("http://[2001:4860:4860::8888]/x", jur.NoResolver()) == ["2001:4860:4860::8888"]
    assert jur.hosting_ips("http://abc.onion/x", r) == []


def test_the_routing_resolver_setting_chooses_the_resolver(db, tmp_path, monkeypatch):
    assert isinstance(jur.resolver_for(db), jur.NoResolver)  # the default: nothing is resolved
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"files.example-host.com": ["8.8.8.8"]}))
    monkeypatch.setenv("TIPLINE_ROUTING_RESOLVER", f" file:{path}")
    assert Settings().routing_resolver == f"file:{path}"
    assert Settings(routing_resolver="DNS").routing_resolver == "dns"
    with pytest.raises(ValidationError, match="unknown routing_resolver 'bogus': use none, dns or file:PATH"):
        Settings(routing_resolver="bogus")
    db.settings.routing_resolver = f"file:{path}"
    assert jur.resolver_for(db).resolve("files.example-host.com") == ["8.8.8.8"]


def test_hosting_country_from_records_the_test_sets_up(db):
    jur.use_resolver(db, jur.DictResolver({"files.example-host.com": ["8.8.8.8"]}))
    try:
        rid = intake.submit_report(
            db,
            PublicReportIn(
                category=Category.CSAM, text="see the link", urls=["https://files.example-host.com/a/1"]
            ).to_report(),
        ).report_id
    finally:
        jur.use_resolver(db, None)
    cands = report_jurisdiction(db, rid)
    assert top(cands) == "US" and cands[0].evidence[0].kind == "hosting"
    with db.reader() as s:
        t = s.scalar(select(UrlTakedown))
        assert t is not None and t.hosting_country == "US" and t.hosting_ips == ["8.8.8.8"]
        assert list(s.scalars(select(UrlTakedownReport.report_id))) == [rid]


def test_a_network_resolver_never_runs_inside_analysis(db):
    calls: list[str] = []

    class CountingNetworkResolver:
        name = "counting"
        network = True

        def resolve(self, host: str) -> list[str]:
            calls.append(host)
            return ["1.1.1.1"]

    jur.use_resolver(db, CountingNetworkResolver())
    try:
        rid = intake.submit_report(
            db, PublicReportIn(category=Category.CSAM, urls=["https://cdn.example-host.net/x"]).to_report()
        ).report_id
        assert calls == []  # analysis did not resolve
        assert report_jurisdiction(db, rid) == []
        cands = refresh_jurisdiction(db, rid, resolve=True)  # the explicit refresh does, outside a transaction
        assert calls == ["cdn.example-host.net"] and top(cands) == "AU"
        # and a later analysis reuses what the refresh stored, without resolving again
        intake.analyse_report(db, rid)
        assert calls == ["cdn.example-host.net"] and top(report_jurisdiction(db, rid)) == "AU"
    finally:
        jur.use_resolver(db, None)


def test_analysis_stores_candidates_and_reanalysis_replaces_them(db):
    res = intake.submit_report(
        db,
        PlatformReportIn(
            report_id="J-1",
            category=Category.LIVE_STREAMED_ABUSE,
            text="host reachable on +63 917 123 4567",
            reported_persons=[{"identifiers": [{"kind": "phone", "value": "+639171234567"}], "country": "PH"}],
            victims=[{"age": 12, "country": "PH"}],
        ).to_report(None),  # type: ignore[arg-type]
    )
    with db.reader() as s:
        rows = list(s.scalars(select(JurisdictionCandidate).where(JurisdictionCandidate.report_id == res.report_id)))
    assert [r.country for r in rows] == ["PH"] and rows[0].rank == 1
    kinds = {e["kind"] for e in rows[0].evidence}
    assert kinds == {"phone", "person"}
    intake.analyse_report(db, res.report_id)
    with db.reader() as s:
        assert s.scalar(select(JurisdictionCandidate.id).where(JurisdictionCandidate.report_id == res.report_id))
        n = len(list(s.scalars(select(JurisdictionCandidate).where(JurisdictionCandidate.report_id == res.report_id))))
    assert n == 1


# ------------------------------------------------------------------------------------------ synthetic world


def test_accuracy_on_synthetic_reports_with_known_countries(sqlite_db, capsys):
    """Network reports of the synthetic world: the network's country is the truth. Printed per door."""
    from tipline.cybertip.parse import parse_report
    from tipline.intake.schemas import LiveIn
    from tipline.synth import generate_world

    world = generate_world(seed=7, n_networks=6, n_reports=70)
    truth: dict[int, tuple[str, str, str | None]] = {}
    for r in world.reports:
        if r.network_id is None:
            continue
        if r.door == "public":
            rep = PublicReportIn(**r.payload).to_report()  # type: ignore[arg-type]
        elif r.door == "platform":
            rep = PlatformReportIn(**r.payload).to_report(None)  # type: ignore[arg-type]
        elif r.door == "live":
            rep = LiveIn(**r.payload).to_report(None, r.platform or "x")  # type: ignore[arg-type]
        else:
            rep = parse_report(r.payload.encode()).model_copy(update={"open_submission": False})  # type: ignore[union-attr]
        rid = intake.submit_report(sqlite_db, rep).report_id
        truth[rid] = (world.network(r.network_id).country, r.door, r.country)
    top1 = top3 = baseline = 0
    for rid, (country, _door, stated) in truth.items():
        cands = [c.country for c in report_jurisdiction(sqlite_db, rid)]
        top1 += bool(cands) and cands[0] == country
        top3 += country in cands[:3]
        baseline += stated == country
    n = len(truth)
    with capsys.disabled():
        print(
            f"\njurisdiction on {n} synthetic network reports: top-1 {top1 / n:.1%}, top-3 {top3 / n:.1%}; "
            f"stated country alone {baseline / n:.1%}"
        )
    # phones are in the network's country, so jurisdiction must beat the stated country by far
    assert top1 / n >= 0.7 and top3 / n >= 0.85
    assert top1 > baseline
