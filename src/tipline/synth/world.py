"""The synthetic world: trafficking networks, platforms and the reports that name them, with ground truth.

Everything is drawn from ``random.Random(seed)`` (through sub-generators seeded from it), so one seed gives
one byte-identical world; the clock is a fixed epoch derived from the seed, never ``datetime.now()``.
See :mod:`tipline.synth.disguise` for the conventions the ground truth follows.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ..intake.schemas import Category
from . import disguise as dg
from . import identifiers as ids
from . import texts as tx
from .cybertip import CtIpEvent, CtPhone, CtReport, CtReported, build_xml

DOORS = ("public", "platform", "cybertip", "live")
DOOR_WEIGHTS = (35, 35, 20, 10)

SOURCE_COUNTRIES = ("PH", "TH", "RO", "CO", "KE")
CITIES = {
    "PH": (
        "Manila",
        "Quezon City",
        "Cebu City",
        "Lapu-Lapu City",
        "Angeles City",
        "Taguig",
        "Cagayan de Oro",
        "Davao City",
        "Bacolod",
        "Pasay",
    ),
    "TH": ("Bangkok", "Pattaya", "Chiang Mai", "Udon Thani"),
    "RO": ("Bucharest", "Iasi", "Constanta", "Craiova"),
    "CO": ("Medellin", "Cartagena", "Bogota", "Cali"),
    "KE": ("Nairobi", "Mombasa", "Kisumu", "Malindi"),
}
DEMAND_COUNTRIES = ("US", "GB", "AU", "DE", "CA", "SE", "NL", "IT", "JP", "NO")
REPORTER_COUNTRIES = {"en": ("GB", "US", "AU", "CA", "IE"), "it": ("IT",), "tl": ("PH",)}
MULE_IBAN_COUNTRIES = tuple(ids.IBAN_LAYOUT)


@dataclass(frozen=True)
class SynthPlatform:
    """A fictional online service that reports (and whose accounts are reported)."""

    name: str
    kind: str  # video_chat | live_streaming | classifieds | social | remittance
    domain: str
    support_email: str
    support_phone: str
    report_prefix: str

    @property
    def streams(self) -> bool:
        return self.kind in ("video_chat", "live_streaming")


@dataclass(frozen=True)
class Viewer:
    """A paying viewer in a demand country (not part of the network's own identifiers)."""

    account: str
    ip: str
    country: str


@dataclass
class Network:
    """A trafficking network: facilitators in a source country and the identifiers they use."""

    id: str
    country: str
    cities: list[str]
    phones: list[str]  # E.164
    whatsapp: list[str]  # E.164 (a subset of phones)
    telegram: list[str]  # as the network writes them (mixed case); normal form is lower case
    skype: list[str]
    snapchat: list[str]
    kik: list[str]
    discord: list[str]
    emails: list[str]
    wallets: list[tuple[str, str]]  # (btc|eth|trx|xmr, address in normal form)
    ibans: list[str]  # electronic form
    mtcns: list[str]
    domains: list[str]  # the network's own registered domains
    urls: list[str]  # ad pages (normal form), on own domains and on the classifieds platform
    accounts: list[tuple[str, str]]  # (platform name, account name)
    ips: list[str]
    viewers: list[Viewer]
    template: str  # the ad pattern the network reuses: {city} {price} {contact} {sig}
    signature: str
    active_from: datetime
    active_to: datetime
    entities: list[tuple[str, str]] = field(default_factory=list)

    def city_at(self, t: datetime) -> str:
        """Networks move: the city it operates from at time ``t``."""
        span = (self.active_to - self.active_from).total_seconds() or 1.0
        frac = min(max((t - self.active_from).total_seconds() / span, 0.0), 0.999)
        return self.cities[int(frac * len(self.cities))]


@dataclass
class SynthReport:
    """One report as a door receives it, plus its ground truth."""

    door: str  # public | platform | cybertip | live
    payload: dict[str, Any] | str  # JSON-ready dict, or CyberTipline XML for door == "cybertip"
    platform: str | None
    text: str
    language: str
    country: str | None
    network_id: str | None
    truth_entities: list[tuple[str, str]]
    truth_priority_hint: int
    category: Category
    incident_at: datetime
    is_live: bool = False
    escalate: bool = False
    victim_age: int | None = None
    #: (kind, normal value, surface as written) for every identifier planted in the free text
    truth_mentions: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def child_in_danger_now(self) -> bool:
        """The ground truth of P1: a child in danger now. A network's report (a child exploited: noise
        reports never are) that is live (a stream, a panic button, a reporter saying "happening now") or
        that its platform escalated. A panic button with no network behind it (the reviewer thinks the
        performer is an adult) is not. Derived from the generated values, so a seed's world is unchanged.
        ``truth_priority_hint`` is older and coarser (every panic button is 1 there)."""
        return self.network_id is not None and (self.is_live or self.escalate)


@dataclass
class World:
    seed: int
    epoch: datetime
    networks: list[Network]
    platforms: list[SynthPlatform]
    reports: list[SynthReport]
    #: identifiers that appear in many unrelated reports (platform support lines, the classifieds domain)
    hubs: list[tuple[str, str]]
    #: identifiers deliberately shared by two networks: (kind, value, network id, network id)
    shared: list[tuple[str, str, str, str]]

    @property
    def live_events(self) -> list[SynthReport]:
        return [r for r in self.reports if r.door == "live"]

    def truth_networks(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {n.id: [] for n in self.networks}
        for i, r in enumerate(self.reports):
            if r.network_id is not None:
                out[r.network_id].append(i)
        return out

    def network(self, network_id: str) -> Network:
        for n in self.networks:
            if n.id == network_id:
                return n
        raise KeyError(network_id)

    def platform(self, name: str) -> SynthPlatform:
        for p in self.platforms:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_json_default, ensure_ascii=False, sort_keys=True)


def _json_default(o: object) -> str:
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(type(o))


# ============================================================================================= generation


class _Truth:
    """Ordered, de-duplicated ground truth of one report."""

    def __init__(self) -> None:
        self.entities: dict[tuple[str, str], None] = {}
        self.mentions: list[tuple[str, str, str]] = []

    def add(self, kind: str, value: str) -> None:
        self.entities[(kind, value)] = None

    def mention(self, kind: str, value: str, surface: str) -> None:
        self.add(kind, value)
        self.mentions.append((kind, value, surface))


def _platforms(rng: random.Random) -> list[SynthPlatform]:
    specs = (
        ("ExampleChat", "video_chat", "examplechat-test.com", "EXC"),
        ("StreamHub-Test", "live_streaming", "streamhub-test.net", "SHT"),
        ("AdBoard-Test", "classifieds", "adboard-test.com", "ADB"),
        ("PixShare-Test", "social", "pixshare-test.com", "PXS"),
        ("RemitFast-Test", "remittance", "remitfast-test.com", "RMF"),
    )
    out = []
    for name, kind, dom, prefix in specs:
        phone = ids.fictional_phone(rng, rng.choice(("AU", "US")))
        out.append(SynthPlatform(name, kind, dom, f"support@{dom}", phone, prefix))
    return out


def _uniq(rng: random.Random, make: Any, taken: set[str]) -> str:
    """A value not drawn before in this world (and free of banned fragments: random base58 can spell words)."""
    while True:
        v = make(rng)
        if v.lower() not in taken and ids.clean(v):
            taken.add(v.lower())
            return v


def _ad_template(rng: random.Random) -> str:
    parts = [
        rng.choice(tx.AD_OPENERS),
        rng.choice(tx.AD_OFFERS) + ", " + rng.choice(tx.AD_PRICES) + ".",
        rng.choice(tx.AD_PAYS).capitalize() + ".",
        rng.choice(tx.AD_CLOSERS),
        rng.choice(tx.AD_SIGS),
    ]
    return " ".join(parts)


def _maybe(rng: random.Random, taken: set[str], p: float, make: Any) -> list[str]:
    """One fresh value with probability ``p``, else none."""
    return [_uniq(rng, make, taken)] if rng.random() < p else []


def _messenger_handles(rng: random.Random, taken: set[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Skype, Snapchat, Kik and Discord names (each one or none)."""
    skype = _maybe(rng, taken, 0.4, lambda r: ids.handle(r).lower())
    snapchat = _maybe(rng, taken, 0.25, lambda r: ids.handle(r, sep="").lower()[:15])
    kik = _maybe(rng, taken, 0.2, lambda r: ids.handle(r).lower()[:20])
    discord = _maybe(rng, taken, 0.2, lambda r: ids.handle(r).lower())
    return skype, snapchat, kik, discord


def _emails(rng: random.Random, domains: list[str], taken: set[str]) -> list[str]:
    """One or two addresses: on the network's own domain or at a free mail provider."""
    emails = []
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.4:
            emails.append(_uniq(rng, lambda r: f"{r.choice(('booking', 'info', 'vip', 'rooms'))}@{domains[0]}", taken))
        else:
            emails.append(_uniq(rng, lambda r: f"{ids.email_local(r)}@{r.choice(ids.FAKE_MAIL_DOMAINS)}", taken))
    return emails


def _wallets(rng: random.Random, idx: int, taken: set[str]) -> list[tuple[str, str]]:
    """Bitcoin always; Ethereum, Tron and Monero for some networks (and always for some indexes)."""
    wallets: list[tuple[str, str]] = []
    for _ in range(1 + (rng.random() < 0.3)):
        make = ids.btc_base58 if rng.random() < 0.5 else ids.btc_bech32
        wallets.append(("btc", _uniq(rng, make, taken)))
    if rng.random() < 0.35 or idx % 3 == 2:
        wallets.append(("eth", _uniq(rng, ids.eth_address, taken)))
    if rng.random() < 0.4 or idx % 4 == 1:
        wallets.append(("trx", _uniq(rng, ids.trx_address, taken)))
    if rng.random() < 0.2 or idx % 6 == 3:
        wallets.append(("xmr", _uniq(rng, ids.xmr_address, taken)))
    return wallets


def _urls(
    rng: random.Random, domains: list[str], cities: list[str], platforms: list[SynthPlatform], taken: set[str]
) -> list[str]:
    """Ad pages on the network's own domains, then on the classifieds platform."""
    adboard = next(p for p in platforms if p.kind == "classifieds")
    urls = []
    for d in domains:
        host = d if rng.random() < 0.6 else f"www.{d}"
        for _ in range(rng.randint(1, 2)):
            urls.append(
                _uniq(
                    rng,
                    lambda r, h=host: f"https://{h}/{r.choice(('rooms', 'vip', 'live', 'p'))}/{ids.rand_alnum(r, 6)}",
                    taken,
                )
            )
    for _ in range(rng.randint(1, 3)):
        slug = rng.choice(cities).lower().replace(" ", "-")
        urls.append(_uniq(rng, lambda r, s=slug: f"https://{adboard.domain}/ad/{s}/{ids.rand_alnum(r, 7)}", taken))
    return urls


def _accounts(
    rng: random.Random, platforms: list[SynthPlatform], telegram: list[str], taken: set[str]
) -> list[tuple[str, str]]:
    """Accounts on every platform but the remittance one; a Telegram name is sometimes reused."""
    accounts: list[tuple[str, str]] = []
    for p in platforms:
        if p.kind == "remittance":
            continue
        n = {"video_chat": rng.randint(1, 2), "live_streaming": 1, "classifieds": 1, "social": rng.randint(0, 1)}[
            p.kind
        ]
        for _ in range(n):
            if rng.random() < 0.2 and telegram[0].lower() not in {a.lower() for _, a in accounts}:
                accounts.append((p.name, telegram[0]))  # username reused across services
            else:
                accounts.append((p.name, _uniq(rng, ids.handle, taken)))
    return accounts


def _network(rng: random.Random, idx: int, platforms: list[SynthPlatform], epoch: datetime, taken: set[str]) -> Network:
    country = "PH" if idx % 2 == 0 else rng.choices(SOURCE_COUNTRIES, weights=(2, 1, 1, 1, 1))[0]
    cities = rng.sample(CITIES[country], rng.randint(1, 3))
    phones = [_uniq(rng, lambda r: ids.random_mobile(r, country), taken) for _ in range(rng.randint(2, 3))]
    whatsapp = [phones[0]] if rng.random() < 0.6 else []
    telegram = [_uniq(rng, ids.handle, taken) for _ in range(rng.randint(1, 2))]
    skype, snapchat, kik, discord = _messenger_handles(rng, taken)
    domains = [_uniq(rng, ids.domain, taken) for _ in range(rng.randint(1, 2))]
    emails = _emails(rng, domains, taken)
    wallets = _wallets(rng, idx, taken)
    ibans = _maybe(rng, taken, 1.0 if idx % 3 == 0 else 0.3, lambda r: ids.iban(r, r.choice(MULE_IBAN_COUNTRIES)))
    mtcns = [_uniq(rng, ids.mtcn, taken) for _ in range(rng.randint(2, 4))]
    urls = _urls(rng, domains, cities, platforms, taken)
    accounts = _accounts(rng, platforms, telegram, taken)
    ips = [_uniq(rng, ids.public_ipv4, taken) for _ in range(rng.randint(2, 3))]
    viewers = [
        Viewer(_uniq(rng, lambda r: ids.handle(r).lower(), taken), ids.public_ipv4(rng), rng.choice(DEMAND_COUNTRIES))
        for _ in range(rng.randint(4, 8))
    ]
    start = epoch - timedelta(days=90) + timedelta(minutes=rng.randrange(0, 60 * 24 * 50))
    end = start + timedelta(minutes=rng.randrange(60 * 24 * 20, int((epoch - start).total_seconds() // 60)))
    net = Network(
        id=f"N{idx + 1:02d}",
        country=country,
        cities=cities,
        phones=phones,
        whatsapp=whatsapp,
        telegram=telegram,
        skype=skype,
        snapchat=snapchat,
        kik=kik,
        discord=discord,
        emails=emails,
        wallets=wallets,
        ibans=ibans,
        mtcns=mtcns,
        domains=domains,
        urls=urls,
        accounts=accounts,
        ips=ips,
        viewers=viewers,
        template=_ad_template(rng),
        signature=rng.choice(tx.SIG_WORDS),
        active_from=start,
        active_to=end,
    )
    _refresh_entities(net)
    return net


def _refresh_entities(n: Network) -> None:
    ent: dict[tuple[str, str], None] = {}
    for p in n.phones:
        ent[("phone", p)] = None
    for p in n.whatsapp:
        ent[("whatsapp", p)] = None
    for kind in ("telegram", "skype", "snapchat", "kik", "discord"):
        for h in getattr(n, kind):
            ent[(kind, h.lower())] = None
    for e in n.emails:
        ent[("email", e.lower())] = None
    for kind, w in n.wallets:
        ent[(kind, w)] = None
    for i in n.ibans:
        ent[("iban", i)] = None
    for m in n.mtcns:
        ent[("mtcn", m)] = None
    for d in n.domains:
        ent[("domain", d)] = None
    for u in n.urls:
        ent[("url", u)] = None
    for plat, name in n.accounts:
        ent[("account", ids.norm_account(plat, name))] = None
    for ip in n.ips:
        ent[("ipv4", ip)] = None
    n.entities = list(ent)


def _share(rng: random.Random, networks: list[Network]) -> list[tuple[str, str, str, str]]:
    """A few identifiers used by two networks (a money mule, a cash-out wallet, a borrowed phone)."""
    shared: list[tuple[str, str, str, str]] = []
    if len(networks) < 2:
        return shared
    for _ in range(max(1, len(networks) // 6)):
        a, b = rng.sample(networks, 2)
        options = ["btc", "phone"] + (["iban"] if a.ibans else [])
        kind = rng.choice(options)
        if kind == "iban":
            v = a.ibans[0]
            if v not in b.ibans:
                b.ibans.append(v)
        elif kind == "btc":
            v = next(w for k, w in a.wallets if k == "btc")
            if ("btc", v) not in b.wallets:
                b.wallets.append(("btc", v))
        else:
            v = a.phones[-1]
            if v not in b.phones:
                b.phones.append(v)
        _refresh_entities(b)
        shared.append((kind, v, a.id, b.id))
    return shared


# ---------------------------------------------------------------------------------------------- reports


@dataclass
class _Content:
    """What drawing one report produced besides its platform and time: text, category and structured parts
    (``persons`` for the JSON door, ``reported`` for the CyberTipline door)."""

    category: Category
    text: str
    lang: str
    age: int | None = None
    escalate: bool = False
    is_live: bool = False
    escalate_reason: str | None = None
    country: str | None = None
    persons: list[dict[str, Any]] = field(default_factory=list)
    reported: list[CtReported] = field(default_factory=list)
    victims: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


class _Gen:
    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.w = world
        self.counters = {p.name: rng.randrange(10_000, 90_000) for p in world.platforms}
        self.streams = 0
        self._cycles: dict[str, int] = {}

    def cycle(self, key: str, options: tuple[str, ...] | list[str]) -> str:
        """Take the options in turn, so every variant appears in every world (given enough reports)."""
        i = self._cycles.get(key, 0)
        self._cycles[key] = i + 1
        return options[i % len(options)]

    # ------------------------------------------------------------------ small pieces

    def t_between(self, a: datetime, b: datetime) -> datetime:
        secs = max(int((b - a).total_seconds()), 1)
        return a + timedelta(seconds=self.rng.randrange(secs))

    def date_str(self, t: datetime, lang: str) -> str:
        r = self.rng.random()
        if r < 0.4:
            return f"{t.day:02d}/{t.month:02d}/{t.year}"
        month = tx.MONTHS[lang][t.month - 1]
        if lang == "it":
            return f"{t.day} {month}"
        if lang == "tl":
            return f"{month} {t.day}"
        return f"{month} {t.day}" if r < 0.7 else f"{t.day} {month} {t.year}"

    def time_str(self, lang: str) -> str:
        h, m = self.rng.randrange(24), self.rng.choice((0, 15, 30, 45, 10, 50))
        if lang == "en" and self.rng.random() < 0.6:
            return f"{(h % 12) or 12}:{m:02d} {'am' if h < 12 else 'pm'}"
        return f"{h:02d}:{m:02d}"

    def price_str(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"USD {self.rng.choice((10, 15, 20, 25, 30, 50, 80, 100))}"
        if r < 0.65:
            return f"PHP {self.rng.choice((500, 800, 1000, 1500, 2000, 3500)):,}"
        if r < 0.85:
            return f"€ {self.rng.choice((20, 30, 40, 60))}"
        return f"P{self.rng.choice((300, 500, 700))}"

    def age_str(self, lang: str, age: int) -> str:
        return self.cycle(f"age-{lang}", tx.AGE[lang]).format(n=age)

    def fill(self, template: str, lang: str, t: datetime, **kw: str) -> str:
        vals = {
            "date": self.date_str(t - timedelta(days=self.rng.randrange(0, 20)), lang),
            "time": self.time_str(lang),
            "price": self.price_str(),
            "order": str(self.rng.randrange(1_000_000, 999_999_999)),
            "n": str(self.rng.randrange(2, 40)),
            "adult": str(self.rng.randrange(19, 60)),
            "child": str(self.rng.randrange(10, 16)),
            "site": self.rng.choice(tx.SITES[lang]),
            "pay": self.rng.choice(tx.PAY_WORDS),
        }
        vals.update(kw)
        return template.format(**vals)

    # ------------------------------------------------------------------ identifiers in text

    def mentionables(self, n: Network, money: bool = False) -> list[tuple[str, str, float]]:
        out: list[tuple[str, str, float]] = []
        out += [("phone", p, 4.0 if not money else 2.0) for p in n.phones]
        out += [("whatsapp", p, 2.0) for p in n.whatsapp]
        out += [("telegram", h, 3.0) for h in n.telegram]
        for kind in ("skype", "snapchat", "kik", "discord"):
            out += [(kind, h, 1.0) for h in getattr(n, kind)]
        out += [("email", e, 2.0) for e in n.emails]
        out += [("url", u, 1.5) for u in n.urls]
        out += [("domain", d, 0.7) for d in n.domains]
        out += [(k, w, 1.5 if not money else 3.0) for k, w in n.wallets]
        out += [("iban", i, 1.0 if not money else 4.0) for i in n.ibans]
        out += [("mtcn", m, 0.7 if not money else 5.0) for m in n.mtcns]
        return out

    def pick(self, n: Network, k: int, money: bool = False) -> list[tuple[str, str]]:
        pool = self.mentionables(n, money)
        chosen: list[tuple[str, str]] = []
        if self.rng.random() < 0.6:  # most reports name one of the network's main contacts
            chosen.append(self.rng.choice((("phone", n.phones[0]), ("telegram", n.telegram[0]))))
        while len(chosen) < k and len(chosen) < len(pool):
            kind, v, _ = self.rng.choices(pool, weights=[wt for *_, wt in pool])[0]
            if (kind, v) not in chosen:
                chosen.append((kind, v))
        return chosen

    def render(self, kind: str, value: str, lang: str, country: str | None, truth: _Truth) -> str:
        rng = self.rng
        cue = rng.choice(tx.CUES[kind][lang]) if kind in tx.CUES else ""
        if kind == "phone":
            style = self.cycle(f"phone-{lang}", dg.PHONE_ROTATION)
            surface, _ = dg.render_phone(rng, value, lang, country == ids.phone_region(value), style)
            truth.mention("phone", value, surface)
            return f"{cue} {surface}"
        if kind == "whatsapp":
            surface = dg.render_wa(rng, value)
            truth.mention("whatsapp", value, surface)
            return f"{cue} {surface}"
        if kind == "telegram":
            phrase, surface = dg.render_telegram(rng, value, lang)
            truth.mention("telegram", value.lower(), surface)
            return phrase
        if kind in ("skype", "snapchat", "kik", "discord"):
            phrase, surface = dg.render_app_handle(rng, kind, value)
            truth.mention(kind, value.lower(), surface)
            return phrase
        if kind == "email":
            surface = dg.render_email(rng, value, lang, self.cycle(f"email-{lang}", dg.EMAIL_STYLES))
            truth.mention("email", value.lower(), surface)
            return f"{cue} {surface}"
        if kind == "url":
            parts = urlsplit(value)
            surface = dg.render_url(rng, parts.scheme, parts.netloc, parts.path)
            truth.mention("url", value, surface)
            truth.add("domain", ids.norm_domain(parts.netloc))
            return f"{cue} {surface}"
        if kind == "domain":
            surface = dg.render_domain(rng, value, lang)
            truth.mention("domain", value, surface)
            return f"{cue} {surface}"
        if kind == "eth":
            surface = value.lower() if rng.random() < 0.4 else value
            truth.mention("eth", value, surface)
            return f"{cue} {surface}"
        if kind == "btc":
            surface = value.upper() if value.startswith("bc1") and rng.random() < 0.15 else value
            truth.mention("btc", value, surface)
            return f"{cue} {surface}"
        if kind in ("trx", "xmr"):
            truth.mention(kind, value, value)
            return f"{cue} {value}"
        if kind == "iban":
            surface = dg.render_iban(rng, value)
            truth.mention("iban", value, surface)
            return f"{cue} {surface}"
        if kind == "mtcn":
            surface = dg.render_mtcn(rng, value)
            truth.mention("mtcn", value, surface)
            return f"{cue} {surface}"
        raise ValueError(kind)  # pragma: no cover

    def contacts(self, items: list[tuple[str, str]], lang: str, country: str | None, truth: _Truth) -> str:
        phrases = [self.render(k, v, lang, country, truth) for k, v in items]
        if len(phrases) == 1:
            return phrases[0]
        sep = self.rng.choice(tx.JOIN[lang])
        return sep.join(phrases)

    def text_with_contacts(
        self,
        template: str,
        items: list[tuple[str, str]],
        lang: str,
        country: str | None,
        truth: _Truth,
        t: datetime,
        **kw: str,
    ) -> str:
        if "{contacts}" in template:
            contacts = self.contacts(items, lang, country, truth)
            before = template.split("{contacts}")[0].rstrip()
            if not before or before.endswith((".", "!", "?")):
                contacts = {"en": "Contact: ", "it": "Contatti: ", "tl": "Contact: "}[lang] + contacts
            kw["contacts"] = contacts
        text = self.fill(template, lang, t, **kw)
        if text and text[-1] not in '.!?"':
            text += "."
        return text

    def ad(self, n: Network, t: datetime, truth: _Truth, country: str | None) -> str:
        """The network's ad, rendered with one of its contacts (always written in English)."""
        pool = [("telegram", h) for h in n.telegram] + [("phone", p) for p in n.phones[:2]]
        pool += [("whatsapp", p) for p in n.whatsapp] + [("email", e) for e in n.emails[:1]]
        kind, value = self.rng.choice(pool)
        contact = self.render(kind, value, "en", country, truth).strip()
        return n.template.format(
            city=n.city_at(t), price=self.rng.choice((15, 20, 25, 30, 40, 50)), contact=contact, sig=n.signature
        )

    def hub(self, lang: str, truth: _Truth) -> str:
        p = self.rng.choice(self.w.platforms)
        _, intl = ids.phone_formats(p.support_phone)
        phone_s = intl if self.rng.random() < 0.7 else p.support_phone
        truth.mention("email", p.support_email, p.support_email)
        truth.mention("phone", p.support_phone, phone_s)
        return tx.HUB[lang].format(platform=p.name, email=p.support_email, phone=phone_s)

    # ------------------------------------------------------------------ choices

    def lang_for(self, n: Network | None) -> str:
        if n is None or n.country == "PH":
            return self.rng.choices(tx.LANGS, weights=(4, 3, 3))[0]
        return self.rng.choices(("en", "it"), weights=(6, 4))[0]

    def stated_country(self, n: Network | None, lang: str) -> str | None:
        r = self.rng.random()
        if n is not None and r < 0.55:
            return n.country
        if r < 0.8:
            return self.rng.choice(REPORTER_COUNTRIES[lang])
        return None

    def report_time(self, n: Network | None) -> datetime:
        if n is not None:
            return self.t_between(n.active_from, n.active_to)
        return self.t_between(self.w.epoch - timedelta(days=90), self.w.epoch)

    def next_report_id(self, p: SynthPlatform) -> str:
        self.counters[p.name] += self.rng.randrange(1, 40)
        return f"{p.report_prefix}-{self.counters[p.name]:07d}"

    def ip_events(
        self, ips: list[str], t: datetime, truth: _Truth, k: int
    ) -> list[tuple[str, str, datetime, int | None]]:
        out = []
        for _ in range(k):
            ip = self.rng.choice(ips)
            at = t - timedelta(minutes=self.rng.randrange(5, 60 * 24 * 30))
            event = self.rng.choice(("Login", "Login", "Registration", "Upload", "Purchase"))
            port = self.rng.randrange(1024, 65535) if self.rng.random() < 0.3 else None
            truth.add("ipv4", ip)
            out.append((ip, event, at, port))
        out.sort(key=lambda e: e[2])
        return out

    def account_on(self, n: Network, platform: SynthPlatform) -> str | None:
        names = [a for p, a in n.accounts if p == platform.name]
        return self.rng.choice(names) if names else None

    def structured_ids(self, n: Network, k: int, truth: _Truth) -> list[dict[str, Any]]:
        """Identifiers a platform puts in structured fields, in unambiguous but varied spellings."""
        pool: list[tuple[str, str]] = [("phone", p) for p in n.phones] + [("whatsapp", p) for p in n.whatsapp]
        pool += [("telegram", h) for h in n.telegram] + [("email", e) for e in n.emails]
        pool += [(kind, w) for kind, w in n.wallets] + [("iban", i) for i in n.ibans]
        for kind in ("skype", "snapchat", "kik", "discord"):
            pool += [(kind, h) for h in getattr(n, kind)]
        out = []
        for kind, value in self.rng.sample(pool, min(k, len(pool))):
            shown = value
            if kind in ("phone", "whatsapp"):
                shown = ids.phone_formats(value)[1] if self.rng.random() < 0.5 else value
                truth.add(kind, value)
            elif kind == "telegram":
                shown = "@" + value if self.rng.random() < 0.5 else value
                truth.add(kind, value.lower())
            elif kind == "email":
                shown = value if self.rng.random() < 0.7 else value.capitalize()
                truth.add(kind, value.lower())
            elif kind == "eth":
                shown = value.lower() if self.rng.random() < 0.5 else value
                truth.add(kind, value)
            elif kind == "iban":
                shown = dg.render_iban(self.rng, value)
                truth.add(kind, value)
            elif kind in ("skype", "snapchat", "kik", "discord"):
                truth.add(kind, value.lower())
            else:
                truth.add(kind, value)
            out.append({"kind": kind, "value": shown})
        return out

    # ------------------------------------------------------------------ categories and priority

    def network_category(self, door: str, platform: SynthPlatform | None) -> Category:
        if door == "live":
            return Category.LIVE_STREAMED_ABUSE
        if door == "cybertip":
            return self.rng.choices(
                (Category.CHILD_SEX_TRAFFICKING, Category.ONLINE_ENTICEMENT, Category.CSAM), weights=(6, 2, 2)
            )[0]
        if platform is not None and platform.kind == "classifieds":
            return Category.TRAFFICKING_AD
        if platform is not None and platform.kind == "remittance":
            return Category.CHILD_SEX_TRAFFICKING
        return self.rng.choices(
            (
                Category.LIVE_STREAMED_ABUSE,
                Category.CHILD_SEX_TRAFFICKING,
                Category.TRAFFICKING_AD,
                Category.ONLINE_ENTICEMENT,
                Category.CSAM,
            ),
            weights=(35, 25, 20, 10, 10),
        )[0]

    @staticmethod
    def priority(network: bool, urgent: bool, child_age: int | None, category: Category) -> int:
        if urgent:
            return 1
        if network:
            if child_age is not None or category in (Category.LIVE_STREAMED_ABUSE, Category.CHILD_SEX_TRAFFICKING):
                return 2
            return 3
        if category in (Category.SEXTORTION, Category.UNSOLICITED_OBSCENE):
            return 3
        return 4

    # ------------------------------------------------------------------ doors

    def public(self, n: Network | None) -> SynthReport:
        rng = self.rng
        truth = _Truth()
        t = self.report_time(n)
        lang = self.lang_for(n)
        country = self.stated_country(n, lang)
        age: int | None = None
        imminent = False
        urls: list[str] = []
        if n is not None:
            category = self.network_category("public", None)
            template = rng.choice(tx.PUBLIC_NETWORK[lang])
            age = rng.randint(8, 16) if ("{age}" in template or rng.random() < 0.3) else None
            kw = {"city": n.city_at(t), "age": self.age_str(lang, age) if age else ""}
            if "{ad}" in template:
                category = Category.TRAFFICKING_AD
                kw["ad"] = self.ad(n, t, truth, country)
            items = self.pick(n, rng.randint(1, 3))
            text = self.text_with_contacts(template, items, lang, country, truth, t, **kw)
            text += self.fill(rng.choice(tx.EXTRA[lang]), lang, t)
            imminent = rng.random() < 0.15
            if imminent:
                text += self.cycle(f"imminent-{lang}", tx.IMMINENT[lang])
            if rng.random() < 0.3:
                u = rng.choice(n.urls)
                urls.append(u)
                truth.add("url", u)
                truth.add("domain", ids.norm_domain(urlsplit(u).netloc))
        else:
            cat_s, template = rng.choice(tx.NOISE[lang])
            category = Category(cat_s)
            text = self.fill(template, lang, t)
        if rng.random() < 0.12:
            text += self.hub(lang, truth)
        incident = t - timedelta(minutes=rng.randrange(1, 30) if imminent else rng.randrange(30, 60 * 24 * 5))
        answers = {}
        if rng.random() < 0.5:
            answers["where_seen"] = rng.choice(("Telegram", "classifieds site", "social media", "video chat"))
            answers["still_online"] = rng.choice(("yes", "no", "not sure"))
        contact = None
        if rng.random() < 0.15:
            contact = {
                "name": None,
                "email": f"reporter{rng.randrange(1000, 9999)}@{rng.choice(ids.FAKE_MAIL_DOMAINS)}",
                "phone": None,
            }
        victim_age = age if (age is not None and rng.random() < 0.6) else None
        payload = {
            "category": category.value,
            "text": text,
            "urls": urls,
            "language": lang,
            "country": country,
            "is_live": imminent,
            "incident_at": incident.isoformat(),
            "victim_age": victim_age,
            "answers": answers,
            "contact": contact,
        }
        return SynthReport(
            door="public",
            payload=payload,
            platform=None,
            text=text,
            language=lang,
            country=country,
            network_id=n.id if n else None,
            truth_entities=list(truth.entities),
            truth_priority_hint=self.priority(n is not None, imminent, age, category),
            category=category,
            incident_at=incident,
            is_live=imminent,
            victim_age=age,
            truth_mentions=truth.mentions,
        )

    def platform_report(self, n: Network | None) -> SynthReport:
        rng = self.rng
        truth = _Truth()
        plats = self.w.platforms
        p = rng.choices(
            plats,
            weights=[
                {"video_chat": 3, "live_streaming": 2, "classifieds": 2, "social": 2, "remittance": 1}[x.kind]
                for x in plats
            ],
        )[0]
        t = self.report_time(n)
        lang = rng.choices(tx.LANGS, weights=(8, 1, 1))[0]
        if p.kind == "remittance":
            lang = "en"
        country = n.country if (n is not None and rng.random() < 0.6) else None
        if n is not None:
            c = self._platform_network(n, p, t, lang, country, truth)
        else:
            c = self._platform_noise(p, t, truth)
        incident = t - timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
        payload = {
            "report_id": self.next_report_id(p),
            "category": c.category.value,
            "text": c.text,
            "language": c.lang,
            "country": country,
            "incident_at": incident.isoformat(),
            "escalate": c.escalate,
            "is_live": c.is_live,
            "reported_persons": c.persons,
            "victims": c.victims,
            "urls": c.urls,
        }
        return SynthReport(
            door="platform",
            payload=payload,
            platform=p.name,
            text=c.text,
            language=c.lang,
            country=country,
            network_id=n.id if n else None,
            truth_entities=list(truth.entities),
            truth_priority_hint=self.priority(n is not None, c.escalate, c.age, c.category),
            category=c.category,
            incident_at=incident,
            is_live=c.is_live,
            escalate=c.escalate,
            victim_age=c.age,
            truth_mentions=truth.mentions,
        )

    def _platform_network(
        self, n: Network, p: SynthPlatform, t: datetime, lang: str, country: str | None, truth: _Truth
    ) -> _Content:
        """A platform's report about a network: its text, the reported account and the victims' ages."""
        rng = self.rng
        category = self.network_category("platform", p)
        if p.kind == "remittance":
            template = rng.choice(tx.REMITTANCE_NETWORK["en"])
            items = self.pick(n, rng.randint(1, 3), money=True)
        else:
            templates = tx.PLATFORM_NETWORK[lang]
            if p.kind == "classifieds":
                templates = tuple(x for x in templates if "{ad}" in x)
            else:
                templates = tuple(x for x in templates if "{ad}" not in x) or templates
            template = rng.choice(templates)
            items = self.pick(n, rng.randint(1, 2))
        age = rng.randint(8, 16) if ("{age}" in template or rng.random() < 0.5) else None
        kw = {"city": n.city_at(t), "age": self.age_str(lang, age) if age else ""}
        if "{ad}" in template:
            kw["ad"] = self.ad(n, t, truth, country)
        c = _Content(category, self.text_with_contacts(template, items, lang, country, truth, t, **kw), lang, age)
        c.escalate = rng.random() < 0.15
        c.is_live = p.streams and rng.random() < 0.2
        c.persons.append(self._platform_person(n, p, t, truth))
        if age is not None and rng.random() < 0.7:
            c.victims.append({"age": age})
            if rng.random() < 0.2:
                c.victims.append({"age": max(age - rng.randint(1, 4), 5)})
        if p.kind == "classifieds":
            ad_urls = [u for u in n.urls if ids.norm_domain(urlsplit(u).netloc) == p.domain] or n.urls
            u = rng.choice(ad_urls)
            c.urls.append(u)
            truth.add("url", u)
            truth.add("domain", ids.norm_domain(urlsplit(u).netloc))
        return c

    def _platform_person(self, n: Network, p: SynthPlatform, t: datetime, truth: _Truth) -> dict[str, Any]:
        """The reported person of a platform's report: its account there, other identifiers, IP events."""
        rng = self.rng
        identifiers: list[dict[str, Any]] = []
        acct = self.account_on(n, p)
        if acct is not None:
            identifiers.append({"kind": "account", "value": acct, "platform": p.name})
            truth.add("account", ids.norm_account(p.name, acct))
        identifiers += self.structured_ids(n, rng.randint(0 if acct else 1, 2), truth)
        ev = self.ip_events(n.ips, t, truth, rng.randint(1, 3)) if p.kind != "remittance" else []
        return {
            "identifiers": identifiers,
            "ip_events": [{"ip": ip, "event": e, "at": at.isoformat(), "port": port} for ip, e, at, port in ev],
            "country": n.country if rng.random() < 0.5 else None,
        }

    def _platform_noise(self, p: SynthPlatform, t: datetime, truth: _Truth) -> _Content:
        """A platform's report that names no network (a one-off account)."""
        rng = self.rng
        cat_s, template = rng.choice(tx.NOISE_PLATFORM)
        category = Category(cat_s)
        c = _Content(category, self.fill(template, "en", t), "en")
        if p.kind != "remittance":
            acct = ids.handle(rng)
            truth.add("account", ids.norm_account(p.name, acct))
            ip = ids.public_ipv4(rng)
            ev = self.ip_events([ip], t, truth, 1)
            c.persons.append(
                {
                    "identifiers": [{"kind": "account", "value": acct, "platform": p.name}],
                    "ip_events": [{"ip": i, "event": e, "at": at.isoformat(), "port": port} for i, e, at, port in ev],
                }
            )
        if category == Category.UNSOLICITED_OBSCENE:
            c.age = rng.randrange(10, 16)
            c.victims.append({"age": c.age})
        return c

    def cybertip(self, n: Network | None) -> SynthReport:
        rng = self.rng
        truth = _Truth()
        plats = [p for p in self.w.platforms if p.kind in ("video_chat", "live_streaming", "social", "classifieds")]
        p = rng.choice(plats)
        t = self.report_time(n)
        incident = t - timedelta(minutes=rng.randrange(1, 60 * 24 * 3))
        c = self._cybertip_network(n, p, t, truth) if n is not None else self._cybertip_noise(p, t, truth)
        victim_ages = [c.age] if c.age is not None and rng.random() < 0.7 else []
        doc = build_xml(
            CtReport(
                category=c.category,
                platform=p.name,
                incident_at=incident,
                text=c.text,
                escalate_reason=c.escalate_reason,
                urls=c.urls,
                chat_client=p.name if p.kind != "classifieds" else None,
                reported=c.reported,
                victim_ages=victim_ages,
            )
        )
        return SynthReport(
            door="cybertip",
            payload=doc,
            platform=p.name,
            text=c.text,
            language=c.lang,
            country=c.country,
            network_id=n.id if n else None,
            truth_entities=list(truth.entities),
            truth_priority_hint=self.priority(n is not None, c.escalate_reason is not None, c.age, c.category),
            category=c.category,
            incident_at=incident,
            escalate=c.escalate_reason is not None,
            victim_age=c.age,
            truth_mentions=truth.mentions,
        )

    def _cybertip_network(self, n: Network, p: SynthPlatform, t: datetime, truth: _Truth) -> _Content:
        """A CyberTipline report about a network (always in English)."""
        rng = self.rng
        lang = "en"
        category = self.network_category("cybertip", p)
        templates = tuple(x for x in tx.PLATFORM_NETWORK["en"] if ("{ad}" in x) == (p.kind == "classifieds"))
        template = rng.choice(templates)
        age = rng.randint(8, 16) if ("{age}" in template or rng.random() < 0.5) else None
        kw = {"city": n.city_at(t), "age": self.age_str(lang, age) if age else ""}
        if "{ad}" in template:
            kw["ad"] = self.ad(n, t, truth, None)
        c = _Content(
            category, self.text_with_contacts(template, self.pick(n, 1), lang, None, truth, t, **kw), lang, age
        )
        if rng.random() < 0.15:
            c.escalate_reason = rng.choice(
                ("Child appears to be in ongoing danger.", "Live abuse appears to be ongoing.")
            )
        person = self._cybertip_person(n, p, t, truth)
        c.country = person.country
        c.reported.append(person)
        if p.kind == "classifieds" or rng.random() < 0.2:
            u = rng.choice(n.urls)
            c.urls.append(u)
            truth.add("url", u)
            truth.add("domain", ids.norm_domain(urlsplit(u).netloc))
        return c

    def _cybertip_person(self, n: Network, p: SynthPlatform, t: datetime, truth: _Truth) -> CtReported:
        """The reported person of a CyberTipline report about a network."""
        rng = self.rng
        person = CtReported(service=p.name)
        acct = self.account_on(n, p)
        if acct is not None:
            person.screen_name = acct
            truth.add("account", ids.norm_account(p.name, acct))
        for ph in rng.sample(n.phones, rng.randint(0, 1)):
            person.phones.append(CtPhone(*ids.phone_parts(ph)))
            truth.add("phone", ph)
        if rng.random() < 0.4:
            e = rng.choice(n.emails)
            person.emails.append(e)
            truth.add("email", e.lower())
        for ip, ev, at, port in self.ip_events(n.ips, t, truth, rng.randint(1, 3)):
            person.ip_events.append(CtIpEvent(ip, ev, at, port))
        if rng.random() < 0.5:
            person.country = n.country
        return person

    def _cybertip_noise(self, p: SynthPlatform, t: datetime, truth: _Truth) -> _Content:
        """A CyberTipline report that names no network (automated detection of a one-off account)."""
        rng = self.rng
        category = rng.choice((Category.UNSOLICITED_OBSCENE, Category.MISLEADING_WORDS_IMAGES))
        text = self.fill(
            "Automated detection, reviewed on {date}: adult account sent an unsolicited link to a user aged "
            "{child}; account suspended."
            if category == Category.UNSOLICITED_OBSCENE
            else "Profile uses cartoon images to draw in younger users; reviewed on {date}, {n} posts removed.",
            "en",
            t,
        )
        acct = ids.handle(rng)
        truth.add("account", ids.norm_account(p.name, acct))
        person = CtReported(service=p.name, screen_name=acct)
        for ip, ev, at, port in self.ip_events([ids.public_ipv4(rng)], t, truth, 1):
            person.ip_events.append(CtIpEvent(ip, ev, at, port))
        return _Content(category, text, "en", reported=[person])

    def live(self, n: Network | None) -> SynthReport:
        rng = self.rng
        truth = _Truth()
        plats = [p for p in self.w.platforms if p.streams]
        p = rng.choice(plats)
        t = self.report_time(n)
        lang = self.lang_for(n)
        age: int | None = None
        started = t - timedelta(minutes=rng.randrange(2, 90))
        if n is not None:
            acct = self.account_on(n, p) or n.accounts[0][1]
            b_ip = rng.choice(n.ips)
            b_country: str | None = n.country
            viewers = rng.sample(n.viewers, rng.randint(1, min(4, len(n.viewers))))
            template = rng.choice(tx.LIVE_NOTES[lang])
            age = rng.randint(8, 16) if "{age}" in template else None
            note = self.fill(template, lang, t, age=self.age_str(lang, age) if age else "")
            if rng.random() < 0.3:
                note += self.text_with_contacts(
                    tx.LIVE_CONTACT[lang], self.pick(n, 1, money=True), lang, None, truth, t
                )
            if rng.random() < 0.5:
                note += self.cycle(f"imminent-{lang}", tx.IMMINENT[lang])
        else:
            acct = ids.handle(rng)
            b_ip = ids.public_ipv4(rng)
            b_country = rng.choice(DEMAND_COUNTRIES + SOURCE_COUNTRIES)
            viewers = [
                Viewer(ids.handle(rng).lower(), ids.public_ipv4(rng), rng.choice(DEMAND_COUNTRIES))
                for _ in range(rng.randint(0, 3))
            ]
            note = tx.NOISE_LIVE[lang]
        truth.add("account", ids.norm_account(p.name, acct))
        truth.add("ipv4", b_ip)
        for v in viewers:
            truth.add("account", ids.norm_account(p.name, v.account))
            truth.add("ipv4", v.ip)
        self.streams += 1
        frames = sorted(rng.sample(range(0, 600_000, 500), rng.randint(2, 6)))
        payload = {
            "stream_id": f"{p.report_prefix.lower()}-live-{rng.randrange(16**8):08x}-{self.streams}",
            "started_at": started.isoformat(),
            "broadcaster": {"account": acct, "ip": b_ip, "country": b_country},
            "viewers": [{"account": v.account, "ip": v.ip, "country": v.country} for v in viewers],
            "frame_hashes": [{"kind": "pdq", "hash": ids.pdq_like(rng), "offset_ms": ms} for ms in frames],
            "note": note,
            "language": lang,
        }
        return SynthReport(
            door="live",
            payload=payload,
            platform=p.name,
            text=note,
            language=lang,
            country=None,
            network_id=n.id if n else None,
            truth_entities=list(truth.entities),
            truth_priority_hint=1,
            category=Category.LIVE_STREAMED_ABUSE,
            incident_at=started,
            is_live=True,
            escalate=True,
            victim_age=age,
            truth_mentions=truth.mentions,
        )


# ---------------------------------------------------------------------------------------------- entry


NETWORK_SHARE = {"public": 0.65, "platform": 0.8, "cybertip": 0.9, "live": 0.85}


def generate_world(seed: int = 1, n_networks: int = 12, n_reports: int = 400, epoch: datetime | None = None) -> World:
    """Build the world for ``seed``. Same arguments, same world (byte for byte, see :meth:`World.to_json`).

    ``epoch`` (timezone-aware) overrides the seed-derived "now" the 90 days of activity end at.
    """
    if n_networks < 1 or n_reports < 0:
        raise ValueError("need at least one network and a non-negative number of reports")
    master = random.Random(seed)
    rng_world, rng_net, rng_rep = (random.Random(master.getrandbits(64)) for _ in range(3))
    if epoch is None:
        epoch = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
            days=rng_world.randrange(365), hours=rng_world.randrange(24)
        )
    elif epoch.tzinfo is None:
        raise ValueError("epoch must be timezone-aware")
    platforms = _platforms(rng_world)
    taken: set[str] = set()
    networks = [_network(rng_net, i, platforms, epoch, taken) for i in range(n_networks)]
    shared = _share(rng_net, networks)
    hubs: list[tuple[str, str]] = []
    for p in platforms:
        hubs += [("email", p.support_email), ("phone", p.support_phone)]
    hubs.append(("domain", next(p.domain for p in platforms if p.kind == "classifieds")))
    world = World(seed=seed, epoch=epoch, networks=networks, platforms=platforms, reports=[], hubs=hubs, shared=shared)

    gen = _Gen(rng_rep, world)
    doors = rng_rep.choices(DOORS, weights=DOOR_WEIGHTS, k=n_reports)
    # Every network gets at least three reports (when there are enough), the rest are drawn at random.
    guaranteed = [networks[i % n_networks] for i in range(min(3 * n_networks, n_reports))]
    reports: list[SynthReport] = []
    builders = {"public": gen.public, "platform": gen.platform_report, "cybertip": gen.cybertip, "live": gen.live}
    for i, door in enumerate(doors):
        if i < len(guaranteed):
            net: Network | None = guaranteed[i]
        else:
            net = rng_rep.choice(networks) if rng_rep.random() < NETWORK_SHARE[door] else None
        reports.append(builders[door](net))
    reports.sort(key=lambda r: (r.incident_at, r.door, r.text))
    world.reports = reports
    return world
