"""The synthetic world: deterministic, valid for every door, honest ground truth, nothing explicit."""

from __future__ import annotations

import ipaddress
import re
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import base58
import phonenumbers
import pytest
import tldextract
from Crypto.Hash import keccak
from lxml import etree
from schwifty import IBAN

import tipline
from tipline.extract.platforms import canonical_platform
from tipline.intake.schemas import Category, LiveIn, PlatformReportIn, PublicReportIn
from tipline.synth import World, generate_world

SHARED_XSD = Path("/work/shared/cybertipline/cyber_tipline.xsd")
PACKAGED_XSD = Path(tipline.__file__).parent / "cybertip" / "cyber_tipline.xsd"

EXPLICIT_TERMS = (
    "sex",
    "porn",
    "nude",
    "naked",
    "xxx",
    "nsfw",
    "genital",
    "masturb",
    "orgasm",
    "erotic",
    "rape",
    "pedo",
    "sesso",
    "sessual",
    "nuda",
    "nudo",
    "stupro",
    "hubad",
    "kantot",
    "jakol",
)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=1)


# ------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_world_byte_for_byte() -> None:
    a, b = generate_world(seed=7, n_networks=5, n_reports=120), generate_world(seed=7, n_networks=5, n_reports=120)
    assert a.to_json() == b.to_json()
    assert a.reports == b.reports


def test_different_seed_different_world() -> None:
    a, b = generate_world(seed=7, n_networks=5, n_reports=120), generate_world(seed=8, n_networks=5, n_reports=120)
    assert a.to_json() != b.to_json()
    assert a.epoch != b.epoch or a.networks[0].phones != b.networks[0].phones


def test_default_world_is_fast() -> None:
    t0 = time.perf_counter()
    w = generate_world()
    assert time.perf_counter() - t0 < 2.0
    assert len(w.networks) == 12 and len(w.reports) == 400


# ------------------------------------------------------------------------------------------ shape


def test_doors_mixed_and_helpers(world: World) -> None:
    doors = Counter(r.door for r in world.reports)
    n = len(world.reports)
    for door, share in (("public", 0.35), ("platform", 0.35), ("cybertip", 0.20), ("live", 0.10)):
        assert abs(doors[door] / n - share) < 0.07, doors
    assert world.live_events == [r for r in world.reports if r.door == "live"]
    truth = world.truth_networks()
    assert set(truth) == {net.id for net in world.networks}
    for nid, idxs in truth.items():
        assert all(world.reports[i].network_id == nid for i in idxs)
    assert any(r.network_id is None for r in world.reports)  # noise


def test_every_network_in_at_least_three_reports(world: World) -> None:
    for nid, idxs in world.truth_networks().items():
        assert len(idxs) >= 3, nid


def test_networks_mostly_philippines_and_ids(world: World) -> None:
    countries = Counter(n.country for n in world.networks)
    assert countries["PH"] >= len(world.networks) / 2
    assert [n.id for n in world.networks] == [f"N{i:02d}" for i in range(1, 13)]
    assert {p.name for p in world.platforms} >= {"ExampleChat", "StreamHub-Test", "AdBoard-Test"}


def test_languages_cues_and_ages(world: World) -> None:
    by_lang = Counter(r.language for r in world.reports)
    assert all(by_lang[lang] > 10 for lang in ("en", "it", "tl")), by_lang
    texts = " ".join(r.text for r in world.reports)
    for cue in ("is happening now", "sta succedendo adesso", "ngayon na"):  # imminent danger
        assert cue in texts.lower(), cue
    assert re.search(r"about \d+ years old", texts)
    assert re.search(r"circa \d+ anni", texts)
    assert re.search(r"mga \d+ taong gulang", texts)
    for words in ("nine", "nove", "siyam"):  # spelled digits in all three languages
        assert re.search(rf"\b{words}\b", texts), words
    assert "chiocciola" in texts and ("[at]" in texts or " at " in texts)
    assert "hxxp" in texts and "t.me/" in texts and "wa.me/" in texts


def test_timestamps_before_seeded_epoch(world: World) -> None:
    for r in world.reports:
        assert r.incident_at.tzinfo is not None
        assert world.epoch - timedelta(days=96) <= r.incident_at <= world.epoch
    assert world.reports == sorted(world.reports, key=lambda r: r.incident_at)


def test_priority_hints(world: World) -> None:
    for r in world.reports:
        assert r.truth_priority_hint in (1, 2, 3, 4)
        if r.door == "live" or r.escalate:
            assert r.truth_priority_hint == 1
        if r.network_id is None and r.door != "live":
            assert r.truth_priority_hint >= 3
    assert {r.truth_priority_hint for r in world.reports} == {1, 2, 3, 4}


# ------------------------------------------------------------------------------------------ door payloads


def test_payloads_validate_with_intake_schemas(world: World) -> None:
    ids_per_platform: dict[str, set[str]] = {}
    for r in world.reports:
        assert isinstance(r.category, Category)
        if r.door == "public":
            m = PublicReportIn(**r.payload)
            assert m.text == r.text and r.platform is None
            m.to_report()
        elif r.door == "platform":
            m2 = PlatformReportIn(**r.payload)
            assert m2.text == r.text and r.platform
            m2.to_report(platform_id=1)
            seen = ids_per_platform.setdefault(r.platform, set())
            assert m2.report_id not in seen
            seen.add(m2.report_id)
        elif r.door == "live":
            m3 = LiveIn(**r.payload)
            assert m3.note == r.text and r.platform
            assert m3.frame_hashes and all(len(h.hash) == 64 for h in m3.frame_hashes)
            m3.to_report(platform_id=1, platform_name=r.platform)
        else:
            assert r.door == "cybertip" and isinstance(r.payload, str)


def test_cybertip_xml_validates_against_xsd(world: World) -> None:
    xsd_path = PACKAGED_XSD if PACKAGED_XSD.exists() else SHARED_XSD
    schema = etree.XMLSchema(etree.parse(str(xsd_path)))
    docs = [r for r in world.reports if r.door == "cybertip"]
    assert docs
    for r in docs:
        doc = etree.fromstring(r.payload.encode())
        assert schema.validate(doc), (schema.error_log, r.payload)
        assert doc.findtext("additionalInfo") == r.text
        assert doc.find("incidentSummary/incidentDateTime") is not None
        assert doc.find("reporter/reportingPerson") is not None
        for ip in doc.iter("ipAddress"):
            assert ("ipv4", ip.text) in r.truth_entities
        for age in doc.iter("age"):
            assert int(age.text) == r.victim_age
    assert any(d.payload.find("escalateToHighPriority") >= 0 for d in docs)
    assert any("<victim>" in d.payload for d in docs)


# ------------------------------------------------------------------------------------------ identifiers


def _all_entities(world: World) -> set[tuple[str, str]]:
    out = {e for n in world.networks for e in n.entities}
    out |= {e for r in world.reports for e in r.truth_entities}
    return out


def test_phones_valid(world: World) -> None:
    phones = {v for k, v in _all_entities(world) if k in ("phone", "whatsapp")}
    assert len(phones) > 20
    for p in phones:
        num = phonenumbers.parse(p)
        assert phonenumbers.is_valid_number(num), p
        assert phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) == p


_B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_ok(addr: str) -> bool:
    hrp, data = addr[: addr.rindex("1")], addr[addr.rindex("1") + 1 :]
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_B32.index(c) for c in data]
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= gen[i]
    return chk == 1


def _keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _xmr_decode(s: str) -> bytes:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    sizes = {11: 8, 7: 5}
    out = b""
    for i in range(0, len(s), 11):
        chunk = s[i : i + 11]
        n = 0
        for c in chunk:
            n = n * 58 + alphabet.index(c)
        out += n.to_bytes(sizes[len(chunk)], "big")
    return out


def test_wallets_and_ibans_checksums(world: World) -> None:
    ents = _all_entities(world)
    kinds = Counter(k for k, _ in ents)
    for k in ("btc", "eth", "trx", "xmr", "iban", "mtcn"):
        assert kinds[k] > 0, k
    for kind, v in ents:
        if kind == "btc":
            if v.startswith("bc1"):
                assert v == v.lower() and _bech32_ok(v), v
            else:
                assert base58.b58decode_check(v)[0] in (0, 5), v
        elif kind == "eth":
            h = v[2:].lower()
            digest = _keccak(h.encode()).hex()
            assert v == "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(h))
        elif kind == "trx":
            assert v.startswith("T") and base58.b58decode_check(v)[0] == 0x41
        elif kind == "xmr":
            raw = _xmr_decode(v)
            assert len(v) == 95 and raw[0] == 0x12 and _keccak(raw[:-4])[:4] == raw[-4:]
        elif kind == "iban":
            assert IBAN(v).compact == v
        elif kind == "mtcn":
            assert re.fullmatch(r"\d{10}", v)


def test_other_normal_forms(world: World) -> None:
    ext = tldextract.TLDExtract(suffix_list_urls=())
    everything = _all_entities(world)
    for kind, v in everything:
        if kind == "domain":
            r = ext(v)
            assert r.suffix and r.top_domain_under_public_suffix == v == v.lower(), v
        elif kind == "url":
            assert re.fullmatch(r"https?://[a-z0-9.-]+/\S+", v), v
            assert ("domain", ext(v).top_domain_under_public_suffix) in everything
        elif kind in ("telegram", "skype", "snapchat", "kik", "discord", "email"):
            assert v == v.lower() and not v.startswith("@"), v
        elif kind == "ipv4":
            ip = ipaddress.IPv4Address(v)
            assert ip.is_global and not ip.is_multicast
        elif kind == "account":
            platform, _, name = v.partition("/")
            assert v == v.lower() and platform in {canonical_platform(p.name) for p in world.platforms} and name, v


_WORD_DIGITS = {}
for _words in (
    "zero one two three four five six seven eight nine",
    "zero uno due tre quattro cinque sei sette otto nove",
    "sero isa dalawa tatlo apat lima anim pito walo siyam",
):
    for _i, _w in enumerate(_words.split()):
        _WORD_DIGITS[_w] = str(_i)


def _decode_phone(surface: str) -> str:
    out = ""
    for tok in re.findall(r"\+|[A-Za-z]+|\d+", surface):
        if tok == "+":
            out += "+"
        elif tok.lower() in _WORD_DIGITS:
            out += _WORD_DIGITS[tok.lower()]
        elif tok.isdigit():
            out += tok
        else:  # letter-for-digit swaps
            assert set(tok) <= set("OolI") or tok.isdigit(), (tok, surface)
            out += tok.translate(str.maketrans("OolI", "0011"))
    return out


def test_disguised_phones_decode_to_their_truth(world: World) -> None:
    styles = Counter()
    for r in world.reports:
        for kind, value, surface in r.truth_mentions:
            if kind != "phone":
                continue
            digits = _decode_phone(surface)
            region = phonenumbers.region_code_for_number(phonenumbers.parse(value))
            if digits.startswith("00"):
                digits = "+" + digits[2:]
            if digits.startswith("+"):
                styles["intl"] += 1
                assert digits == value, (surface, value)
            else:  # national: only when the report states the phone's own country
                styles["national"] += 1
                assert r.country == region, (surface, r.country, value)
                num = phonenumbers.parse(digits, region)
                assert phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) == value
            if any(w in surface.lower().split() for w in _WORD_DIGITS):
                styles["spelled"] += 1
            if re.search(r"\d[Ol]|[Ol]\d", surface):
                styles["swapped"] += 1
    assert len(styles) == 4 and min(styles.values()) > 3, styles


def test_text_mentions_are_in_the_text(world: World) -> None:
    for r in world.reports:
        for kind, value, surface in r.truth_mentions:
            assert surface in r.text, (kind, surface, r.text)
            assert (kind, value) in r.truth_entities


def test_truth_matches_networks(world: World) -> None:
    hubs = set(world.hubs)
    network_entities = {e for n in world.networks for e in n.entities}
    for r in world.reports:
        if r.network_id is None:
            assert not (set(r.truth_entities) & (network_entities - hubs)), r.text
            continue
        net = world.network(r.network_id)
        allowed = set(net.entities) | hubs
        for v in net.viewers:
            allowed |= (
                {("account", f"{canonical_platform(r.platform)}/{v.account}"), ("ipv4", v.ip)} if r.platform else set()
            )
        extra = set(r.truth_entities) - allowed
        assert not extra, (r.door, extra)
        assert r.truth_entities, r


def test_structured_fields_are_in_truth(world: World) -> None:
    for r in world.reports:
        truth = set(r.truth_entities)
        if r.door == "platform":
            for person in r.payload["reported_persons"]:
                for ev in person["ip_events"]:
                    assert ("ipv4", ev["ip"]) in truth
                for ident in person["identifiers"]:
                    if ident["kind"] == "account":
                        assert ("account", f"{canonical_platform(ident['platform'])}/{ident['value'].lower()}") in truth
                    else:
                        assert any(k == ident["kind"] for k, _ in truth), ident
            for u in r.payload["urls"]:
                assert ("url", u) in truth
        if r.door == "live":
            b = r.payload["broadcaster"]
            assert ("account", f"{canonical_platform(r.platform)}/{b['account'].lower()}") in truth
            assert ("ipv4", b["ip"]) in truth
        if r.door == "public":
            for u in r.payload["urls"]:
                assert ("url", u) in truth


def test_reports_of_a_network_are_linkable(world: World) -> None:
    """Within each network, the reports share identifiers: most reports share one with another report."""
    for nid, idxs in world.truth_networks().items():
        net = set(world.network(nid).entities)
        counts = Counter(e for i in idxs for e in set(world.reports[i].truth_entities) & net)
        linked = sum(1 for i in idxs if any(counts[e] > 1 for e in world.reports[i].truth_entities if e in net))
        assert linked >= 0.6 * len(idxs), nid


def test_shared_identifiers_and_hubs(world: World) -> None:
    assert world.shared
    for kind, value, a, b in world.shared:
        assert (kind, value) in world.network(a).entities and (kind, value) in world.network(b).entities
    hub_reports = Counter(h for r in world.reports for h in r.truth_entities if h in set(world.hubs))
    assert sum(hub_reports.values()) >= 15
    hub_networks = {r.network_id for r in world.reports if set(r.truth_entities) & set(world.hubs)}
    assert len(hub_networks) >= 4  # hubs cut across unrelated networks and noise


def test_noise_has_ordinary_numbers_but_no_identifiers(world: World) -> None:
    noise = [r for r in world.reports if r.network_id is None and r.door in ("public",)]
    assert noise
    with_numbers = [r for r in noise if re.search(r"\d{2,}", r.text)]
    assert len(with_numbers) >= len(noise) / 2
    hubs = set(world.hubs)
    assert all(set(r.truth_entities) <= hubs for r in noise)


# ------------------------------------------------------------------------------------------ decency


def test_texts_contain_no_explicit_terms(world: World) -> None:
    for text in [r.text for r in world.reports] + [n.template for n in world.networks]:
        low = text.lower()
        for term in EXPLICIT_TERMS:
            assert term not in low, (term, text)
