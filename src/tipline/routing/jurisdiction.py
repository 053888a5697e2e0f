"""Jurisdiction: which countries may act on a report, each with a weight and the evidence behind it.

Evidence kinds (:data:`WEIGHTS` holds the weight of each; a country's weight is the "noisy-or" of its
evidence, ``1 - Π(1 - w)``, so several independent clues add up but never pass 1):

==========  ==================================================================================  ========
kind        what                                                                                weight
==========  ==================================================================================  ========
``person``  a location a report gives for a person: a victim's (0.9), a reported person's or    0.4-0.9
            broadcaster's (0.8), a viewer's (0.5), anyone else's (0.4)
``stated``  the country the report states (the public form's "country", a platform's field)     0.5
``phone``   the country of a phone number's calling code and prefix (``phonenumbers``)          0.7
``ip``      the GeoLite2 country of an IP address (``geoip2fast``'s bundled data, offline):     0.3-0.6
            a reported person's or broadcaster's IP 0.6, an IP in the text 0.4, a viewer's 0.3
``hosting`` the country where a reported URL is hosted: its host's IP (literal in the URL, or    0.6
            resolved by the configured :class:`Resolver`), geolocated as above
``cctld``   the country-code top-level domain of a domain, URL (0.3) or e-mail address (0.2)   0.2-0.3
``iban``    the country of an IBAN (where the account is held)                                  0.3
==========  ==================================================================================  ========

The weights are judgement, not calibrated probabilities: ``bench/bench_routing_jurisdiction.py`` measures
how often the top candidate is right on the synthetic world, per kind. Viewers' countries are kept as
candidates on purpose: paying viewers abroad are offenders too (the demand side), only less likely to be
where the child is.

**Resolution.** Hosting needs a host's IP address. The :class:`Resolver` is pluggable: the default
(:class:`NoResolver`) resolves nothing; :class:`DictResolver` answers from records given to it (tests,
the bench, or a JSON file of host → IPs); :class:`SystemResolver` asks the system's DNS resolver and is
used only when the setting ``routing_resolver`` is ``dns`` (off by default). A resolver that uses the
network is never called inside report analysis (hooks must not touch the network, and SQLite's writer
would wait on DNS): hosting is then resolved by ``refresh(db, report_id, resolve=True)`` and remembered on
the URL's takedown row, which later analyses reuse.

Don'ts: no network call outside :class:`SystemResolver`; no report text in evidence (only identifiers
and where they were found).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import phonenumbers
import tldextract

if TYPE_CHECKING:
    from tipline.store import Database

WEIGHTS: dict[str, float] = {
    "person.victim": 0.9,
    "person.reported": 0.8,
    "person.broadcaster": 0.8,
    "person.viewer": 0.5,
    "person.other": 0.4,
    "stated": 0.5,
    "phone": 0.7,
    "ip.reported": 0.6,
    "ip.broadcaster": 0.6,
    "ip.text": 0.4,
    "ip.viewer": 0.3,
    "ip.other": 0.3,
    "hosting": 0.6,
    "cctld": 0.3,
    "cctld.email": 0.2,
    "iban": 0.3,
}
"""Weight of each evidence kind (and role); see the module docstring."""

KINDS = ("person", "stated", "phone", "ip", "hosting", "cctld", "iban")

# ccTLDs sold worldwide as generic names: they say little about a country
VANITY_CCTLDS = frozenset({"co", "io", "tv", "me", "ly", "fm", "ai", "ws", "cc", "to", "gg", "sh", "am", "im", "la"})
_CCTLD_TO_ISO = {"uk": "GB"}  # the one ccTLD that differs from the ISO code (plus .eu, which is no country)

_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


@functools.cache
def _countries() -> frozenset[str]:
    from tipline.i18n.labels import country_codes

    return country_codes()


def is_country(code: str | None) -> bool:
    return bool(code) and len(code or "") == 2 and (code or "").upper() in _countries()


def warm_up() -> None:
    """Build now what the first assessment of a process would build: the public suffix list's lookup
    table (about 130 ms), the country list and every region's phone metadata (about 40 ms)."""
    cctld_country("warm-up.example.ph")
    _countries()
    for region in phonenumbers.SUPPORTED_REGIONS:
        phonenumbers.PhoneMetadata.metadata_for_region(region)


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Evidence:
    """One clue: ``kind`` (see :data:`KINDS`), the ``country`` it points to, its ``weight``, the
    identifier or value it comes from, ``source`` (where in the report) and ``detail`` (why, in words)."""

    kind: str
    country: str
    weight: float
    value: str
    source: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "country": self.country,
            "weight": self.weight,
            "value": self.value,
            "source": self.source,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evidence:
        return cls(
            str(d["kind"]), str(d["country"]), float(d["weight"]), str(d["value"]), str(d["source"]), str(d["detail"])
        )


@dataclass
class Candidate:
    country: str
    weight: float
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({e.kind for e in self.evidence})

    def as_dict(self) -> dict[str, Any]:
        return {"country": self.country, "weight": self.weight, "evidence": [e.as_dict() for e in self.evidence]}


def combine(evidence: Iterable[Evidence]) -> list[Candidate]:
    """Candidates from evidence: one per country, weight = noisy-or of its distinct clues, best first.

    The same clue found twice (the same phone in the text and in a structured field) counts once, with the
    larger weight; locations of different people count separately.
    """
    best: dict[tuple[str, str, str], Evidence] = {}
    for e in evidence:
        key = (e.country, e.kind, e.source if e.kind == "person" else e.value)
        if key not in best or e.weight > best[key].weight:
            best[key] = e
    by_country: dict[str, list[Evidence]] = {}
    for e in best.values():
        by_country.setdefault(e.country, []).append(e)
    out = []
    for country, items in by_country.items():
        miss = 1.0
        for e in items:
            miss *= 1.0 - e.weight
        items.sort(key=lambda e: (-e.weight, e.kind, e.value))
        out.append(Candidate(country, round(1.0 - miss, 4), items))
    out.sort(key=lambda c: (-c.weight, -len(c.evidence), c.country))
    return out


# ------------------------------------------------------------------------------------------ geolocation


class GeoLookup(Protocol):
    source: str

    def country(self, ip: str) -> str | None: ...


class GeoIP:
    """Country of an IP address from the GeoLite2 data that ``geoip2fast`` ships (IPv4 and IPv6), offline.

    The data file is loaded once per process (about 0.1 s, ~12 MB in memory) on first use. Non-global
    addresses (private, documentation, loopback, ...) have no country.
    """

    DATA_FILE = "geoip2fast-ipv6.dat.gz"

    def __init__(self) -> None:
        self._db: Any = None
        self._lock = threading.Lock()
        self.source = "geoip2fast (GeoLite2 country data bundled with the package)"

    def _load(self) -> Any:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    from geoip2fast import GeoIP2Fast

                    db = GeoIP2Fast(verbose=False, geoip2fast_data_file=self.DATA_FILE)
                    self.source = f"geoip2fast {getattr(db, 'source_info', '')}".strip()
                    self._db = db
        return self._db

    def country(self, ip: str) -> str | None:
        try:
            addr = ipaddress.ip_address(ip.strip().strip("[]"))
        except ValueError:
            return None
        if not addr.is_global:
            return None
        code = str(self._load().lookup(addr.compressed).country_code or "").upper()
        return code if is_country(code) else None


@functools.cache
def default_geo() -> GeoIP:
    return GeoIP()


class DictGeo:
    """A :class:`GeoLookup` from a mapping IP → country (tests and benches that need exact answers)."""

    source = "records set up by the caller"

    def __init__(self, records: Mapping[str, str]) -> None:
        self.records = {ipaddress.ip_address(k).compressed: v.upper() for k, v in records.items()}

    def country(self, ip: str) -> str | None:
        try:
            return self.records.get(ipaddress.ip_address(ip.strip().strip("[]")).compressed)
        except ValueError:
            return None


# ------------------------------------------------------------------------------------------ resolvers


class Resolver(Protocol):
    """Host name → IP addresses, for the hosting country of reported URLs.

    ``network`` says whether :meth:`resolve` makes network queries: such a resolver is never called
    inside report analysis. ``resolve`` returns ``[]`` for a host it cannot resolve and never raises for
    that.
    """

    name: str
    network: bool

    def resolve(self, host: str) -> list[str]: ...


class NoResolver:
    """The default: resolves nothing (hosting evidence then comes only from URLs with an IP literal)."""

    name = "none"
    network = False

    def resolve(self, host: str) -> list[str]:
        return []


class DictResolver:
    """Answers from records it is given: ``{"host.example": ["192.0.2.1", ...]}``; a key ``*.example.com``
    answers for every sub-domain. No network."""

    name = "dict"
    network = False

    def __init__(self, records: Mapping[str, Iterable[str]]) -> None:
        self.records: dict[str, list[str]] = {}
        for host, ips in records.items():
            clean = []
            for ip in ips:
                try:
                    clean.append(ipaddress.ip_address(str(ip).strip()).compressed)
                except ValueError:
                    raise ValueError(f"the record for {host!r} has {ip!r}, which is not an IP address") from None
            self.records[host.strip().lower().rstrip(".")] = clean

    @classmethod
    def from_file(cls, path: Path) -> DictResolver:
        """Records from a JSON file: an object of host → list of IP addresses."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read resolver records from {path}: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ValueError(f"{path} must hold a JSON object of host name → list of IP addresses")
        return cls(data)

    def resolve(self, host: str) -> list[str]:
        h = host.strip().lower().rstrip(".")
        if h in self.records:
            return list(self.records[h])
        parts = h.split(".")
        for i in range(1, len(parts) - 1):
            wild = "*." + ".".join(parts[i:])
            if wild in self.records:
                return list(self.records[wild])
        return []


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``): real DNS queries. Off by default; enable it with
    the setting ``routing_resolver = "dns"`` where looking up reported hosts is acceptable (the queries
    reach the hosts' DNS servers, which may belong to the people reported)."""

    name = "dns"
    network = True

    def resolve(self, host: str) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return []
        out: list[str] = []
        for *_, sockaddr in infos:
            ip = ipaddress.ip_address(sockaddr[0]).compressed
            if ip not in out:
                out.append(ip)
        return out


_RESOLVER = "routing.resolver"


def use_resolver(db: Database, resolver: Resolver | None) -> None:
    """Make ``db`` use ``resolver`` (``None``: back to the setting). Tests and benches call this."""
    db.set_resource(_RESOLVER, resolver)


def resolver_from_setting(value: str | None) -> Resolver:
    """``none`` (default), ``dns`` (the system resolver), or ``file:PATH`` (a JSON of host → IPs)."""
    v = (value or "none").strip()
    if v in ("", "none", "off"):
        return NoResolver()
    if v == "dns":
        return SystemResolver()
    if v.startswith("file:"):
        return DictResolver.from_file(Path(v[5:]))
    raise ValueError(f"unknown routing_resolver {value!r}: use none, dns or file:PATH")


def resolver_for(db: Database) -> Resolver:
    found: Resolver | None = db.get_resource(_RESOLVER)
    if found is not None:
        return found
    return resolver_from_setting(db.settings.routing_resolver)


# ------------------------------------------------------------------------------------------ evidence


@dataclass
class ReportFacts:
    """What jurisdiction reads from a report: no free text, only countries and identifiers.

    ``entities`` are (kind, normal value, field) of the report's mentions; ``hosting`` maps a reported
    URL (normal form) to its host's IP addresses, as resolved (may be empty).
    """

    stated_country: str | None = None
    persons: list[dict[str, Any]] = field(default_factory=list)
    entities: list[tuple[str, str, str]] = field(default_factory=list)
    hosting: dict[str, list[str]] = field(default_factory=dict)


def _person_role(field_name: str, persons: list[dict[str, Any]]) -> str | None:
    if not field_name.startswith("persons["):
        return None
    try:
        idx = int(field_name[len("persons[") : field_name.index("]")])
    except ValueError:
        return None
    if 0 <= idx < len(persons):
        return str(persons[idx].get("role") or "reported")
    return None


def _role_key(prefix: str, role: str | None) -> str:
    if role in ("victim", "reported", "broadcaster", "viewer"):
        key = f"{prefix}.{role}"
        if key in WEIGHTS:
            return key
    return f"{prefix}.other"


def phone_country(e164: str) -> str | None:
    try:
        num = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(num)
    return region if is_country(region) else None


def cctld_country(host: str) -> tuple[str, str, str] | None:
    """(country, tld, registered domain) of a host's country-code top-level domain, or None for a generic or
    vanity one. The registered domain is the clue's value, so a URL and its domain count once."""
    r = _TLD(host.strip().strip(".").lower())
    if not r.suffix:
        return None
    tld = r.suffix.rsplit(".", 1)[-1]
    if len(tld) != 2 or tld in VANITY_CCTLDS:
        return None
    code = _CCTLD_TO_ISO.get(tld, tld.upper())
    registered = f"{r.domain}.{r.suffix}" if r.domain else r.suffix
    return (code, tld, registered) if is_country(code) else None


def url_host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    except ValueError:
        return ""


def evidence_for(facts: ReportFacts, *, geo: GeoLookup | None = None) -> list[Evidence]:
    """Every clue in ``facts``, unweighted by country (see :func:`combine`)."""
    geo = geo if geo is not None else default_geo()
    out: list[Evidence] = []
    c: str | None  # the country a clue points to (None: the clue names none)
    role: str | None  # the role of the person a clue belongs to (None: the report text)
    if facts.stated_country and is_country(facts.stated_country):
        c = facts.stated_country.upper()
        out.append(Evidence("stated", c, WEIGHTS["stated"], c, "country", "the country the report states"))
    for i, p in enumerate(facts.persons):
        c = str(p.get("country") or "").upper()
        if is_country(c):
            role = str(p.get("role") or "reported")
            key = _role_key("person", role)
            out.append(Evidence("person", c, WEIGHTS[key], c, f"persons[{i}].country", f"location given for a {role}"))
    for kind, value, where in facts.entities:
        role = _person_role(where, facts.persons)
        if kind in ("phone", "whatsapp"):
            c = phone_country(value)
            if c:
                num = phonenumbers.parse(value, None)
                out.append(
                    Evidence("phone", c, WEIGHTS["phone"], value, where, f"calling code +{num.country_code} and prefix")
                )
        elif kind in ("ipv4", "ipv6"):
            c = geo.country(value)
            if c:
                key = _role_key("ip", role) if role else "ip.text"
                who = f"a {role}'s IP address" if role else "an IP address in the report"
                out.append(Evidence("ip", c, WEIGHTS[key], value, where, f"{who}, located by {geo.source}"))
        elif kind in ("domain", "url", "email"):
            host = value.rsplit("@", 1)[-1] if kind == "email" else (url_host(value) if kind == "url" else value)
            found = cctld_country(host) if host else None
            if found:
                c, tld, registered = found
                w = WEIGHTS["cctld.email"] if kind == "email" else WEIGHTS["cctld"]
                out.append(Evidence("cctld", c, w, registered, where, f".{tld} is the country-code domain of {c}"))
        elif kind == "iban":
            c = value[:2].upper()
            if is_country(c):
                out.append(Evidence("iban", c, WEIGHTS["iban"], value, where, f"the IBAN is held in {c}"))
    for url, ips in sorted(facts.hosting.items()):
        host = url_host(url)
        for ip in ips:
            c = geo.country(ip)
            if c:
                how = "the URL's own address" if host == ip.strip("[]") else f"{host} resolves to {ip}"
                out.append(Evidence("hosting", c, WEIGHTS["hosting"], url, "urls", f"hosted in {c}: {how}"))
    return out


def assess(facts: ReportFacts, *, geo: GeoLookup | None = None) -> list[Candidate]:
    """Candidate countries for one report, best first."""
    return combine(evidence_for(facts, geo=geo))


def merge(candidate_lists: Iterable[Iterable[Candidate]]) -> list[Candidate]:
    """Candidates of a case: the evidence of all its reports combined (the same clue counts once)."""
    return combine(e for cands in candidate_lists for c in cands for e in c.evidence)


def hosting_ips(url: str, resolver: Resolver) -> list[str]:
    """IP addresses a URL is served from: the literal address in the URL, or what ``resolver`` says."""
    host = url_host(url)
    if not host or host.endswith(".onion"):
        return []
    try:
        return [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        pass
    return resolver.resolve(host)
