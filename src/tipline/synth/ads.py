"""Synthetic classified ads with ground truth, for the ads capability's tests, demo and benchmark.

>>> from tipline.synth.ads import generate_ads
>>> corpus = generate_ads(seed=1, n_ads=500)

What a corpus holds (all text placeholder-level and non-explicit: companionship, dinners, conversation):

* **sites** with their own language, country, cities and boilerplate footers (every ad of a site carries
  one of the site's footers, with the site's support address and phone: text that must link nothing);
* **one-off ads**: written independently, from a small grammar with many word choices, reusing the stock
  phrases thousands of posters use ("new in town", "24/7", ...);
* **templated families**: one poster writes a template once and posts it many times with slots changed
  (name, age, city, phone rendering, price), typing noise (letters swapped, dropped, doubled), now and
  then a sentence dropped or a stock phrase added, touring from city to city over time, sometimes on two
  sites of the same language;
* **obscured phones** (spelled out, spaced, letters for digits) through :mod:`tipline.synth.disguise`.

Ground truth per ad (:class:`SynthAd`): ``family`` (None for a one-off), the poster's phones (E.164),
handle, whether the phone was obscured, the planted indicator phrases. ``Corpus.pairs_truth`` gives the
truth for pairwise precision and recall.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import identifiers as ids
from .disguise import render_phone

LANGS = ("en", "it", "tl")


@dataclass(frozen=True)
class Site:
    name: str
    language: str
    country: str
    cities: tuple[str, ...]
    prefix: str
    support_phone: str
    support_email: str
    footers: tuple[str, ...]


@dataclass
class SynthAd:
    payload: dict[str, Any]  # the import line: ad_id, posted_at, site, city, country, title, text, url, images
    language: str
    family: str | None  # ground truth: the template family, None for a one-off
    phones: list[str]  # E.164 the ad names (the poster's)
    handle: str | None  # telegram handle, lower case, when the ad names one
    obscured: bool  # the phone was written spelled out / spaced / with letters for digits
    planted: list[str] = field(default_factory=list)  # indicator phrases written into the text

    @property
    def key(self) -> tuple[str, str]:
        return (self.payload["site"], self.payload["ad_id"])


@dataclass
class Corpus:
    seed: int
    sites: list[Site]
    ads: list[SynthAd]

    def families(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, a in enumerate(self.ads):
            if a.family is not None:
                out.setdefault(a.family, []).append(i)
        return out

    def truth_labels(self) -> list[str]:
        """One label per ad: the family, or the ad's own key for a one-off."""
        return [a.family or f"one:{a.payload['site']}/{a.payload['ad_id']}" for a in self.ads]

    def payloads(self) -> list[dict[str, Any]]:
        return [a.payload for a in self.ads]


# ------------------------------------------------------------------------------------------ lexicon

_LEX: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "open": (
            "Hi gentlemen",
            "Hello there",
            "Hey guys",
            "Good day",
            "Welcome",
            "Hi everyone",
            "Greetings",
            "Hello friends",
            "Hi there",
            "Good evening",
        ),
        "adj": (
            "sweet",
            "friendly",
            "charming",
            "elegant",
            "cheerful",
            "classy",
            "gentle",
            "lovely",
            "warm",
            "relaxed",
            "stylish",
            "easygoing",
            "polite",
            "smart",
            "funny",
            "caring",
            "calm",
            "bubbly",
            "graceful",
            "kind",
            "sunny",
            "quiet",
            "playful",
            "curious",
            "honest",
            "sporty",
            "cultured",
            "lively",
            "witty",
            "thoughtful",
        ),
        "noun": ("lady", "companion", "girl", "woman", "hostess", "guide", "friend", "partner"),
        "act": (
            "dinner",
            "conversation",
            "coffee",
            "a massage",
            "walks",
            "movies",
            "dancing",
            "shopping",
            "music",
            "travel",
            "cooking",
            "wine tasting",
            "karaoke",
            "museum visits",
            "long talks",
        ),
        "time": (
            "on weekends",
            "on weekdays",
            "in the evenings",
            "in the mornings",
            "late at night",
            "in the afternoon",
            "on holidays",
            "every day",
        ),
        "place": (
            "downtown",
            "the hotel area",
            "the city centre",
            "the airport area",
            "a quiet apartment",
            "the north side",
            "the old town",
            "the riverside",
        ),
        "like": (
            "jazz",
            "sushi",
            "novels",
            "sunsets",
            "gardening",
            "yoga",
            "tennis",
            "poetry",
            "red wine",
            "chocolate",
            "beaches",
            "hiking",
            "painting",
            "salsa",
            "photography",
            "fashion",
            "cats",
            "puppies",
            "rainy days",
            "mountains",
            "board games",
            "old films",
            "street food",
            "cycling",
            "swimming",
            "theatre",
            "astronomy",
            "baking",
            "languages",
            "vinyl records",
            "tea",
            "crosswords",
            "flowers",
            "road trips",
            "pottery",
            "chess",
            "podcasts",
            "markets",
            "opera",
            "sneakers",
        ),
        "wear": (
            "a red dress",
            "a blue scarf",
            "white sneakers",
            "a black coat",
            "silver earrings",
            "a green jacket",
            "a yellow hat",
            "pearl necklaces",
            "a denim skirt",
            "golden bracelets",
        ),
    },
    "it": {
        "open": (
            "Ciao signori",
            "Buongiorno",
            "Salve a tutti",
            "Ciao ragazzi",
            "Benvenuti",
            "Ciao amici",
            "Buonasera",
            "Ciao a tutti",
        ),
        "adj": (
            "dolce",
            "simpatica",
            "elegante",
            "solare",
            "raffinata",
            "gentile",
            "allegra",
            "tranquilla",
            "educata",
            "spiritosa",
            "riservata",
            "curiosa",
            "sportiva",
            "colta",
            "vivace",
            "affettuosa",
            "carina",
            "sincera",
            "pacata",
            "brillante",
            "premurosa",
            "divertente",
        ),
        "noun": ("ragazza", "signora", "donna", "amica", "compagna", "accompagnatrice"),
        "act": (
            "cene",
            "conversazioni",
            "caffè",
            "massaggi",
            "passeggiate",
            "cinema",
            "musica",
            "viaggi",
            "shopping",
            "cucina",
            "degustazioni di vino",
            "karaoke",
            "musei",
            "chiacchierate",
        ),
        "time": ("nei weekend", "la sera", "la mattina", "il pomeriggio", "nei giorni feriali", "tutti i giorni"),
        "place": (
            "il centro",
            "la stazione",
            "la zona aeroporto",
            "la zona universitaria",
            "il centro storico",
            "la periferia nord",
        ),
        "like": (
            "il jazz",
            "il sushi",
            "i romanzi",
            "i tramonti",
            "il giardinaggio",
            "lo yoga",
            "il tennis",
            "la poesia",
            "il vino rosso",
            "il cioccolato",
            "il mare",
            "le escursioni",
            "la pittura",
            "la salsa",
            "la fotografia",
            "la moda",
            "i gatti",
            "i cuccioli",
            "la pioggia",
            "la montagna",
            "i giochi da tavolo",
            "i film vecchi",
            "il cibo di strada",
            "la bicicletta",
            "il nuoto",
            "il teatro",
            "le stelle",
            "i dolci",
            "le lingue",
            "i vinili",
            "il tè",
            "i cruciverba",
            "i fiori",
            "i viaggi in auto",
            "la ceramica",
            "gli scacchi",
            "i mercatini",
            "l'opera",
        ),
        "wear": (
            "un vestito rosso",
            "una sciarpa blu",
            "scarpe bianche",
            "un cappotto nero",
            "orecchini d'argento",
            "una giacca verde",
            "un cappello giallo",
            "una collana di perle",
        ),
    },
    "tl": {
        "open": (
            "Hello po",
            "Magandang araw",
            "Kumusta kayo",
            "Hi mga sir",
            "Mabuhay",
            "Hello mga kaibigan",
            "Magandang gabi",
            "Hi po",
        ),
        "adj": (
            "mabait",
            "masayahin",
            "maganda",
            "malambing",
            "tahimik",
            "magalang",
            "matalino",
            "masipag",
            "palakaibigan",
            "mahinhin",
            "maalaga",
            "simple",
            "masigla",
            "kalmado",
            "totoo",
            "elegante",
            "matapat",
            "magiliw",
            "masarap kausap",
            "maayos",
        ),
        "noun": ("dalaga", "babae", "kaibigan", "kasama", "binibini"),
        "act": (
            "hapunan",
            "kuwentuhan",
            "kape",
            "masahe",
            "pasyal",
            "sine",
            "musika",
            "biyahe",
            "pamimili",
            "pagluluto",
            "karaoke",
            "sayaw",
        ),
        "time": ("tuwing weekend", "sa gabi", "sa umaga", "sa hapon", "araw-araw", "tuwing Linggo"),
        "place": ("Ermita", "Malate", "Makati", "Quezon Avenue", "Cubao", "Ortigas", "Pasay", "BGC"),
        "like": (
            "jazz",
            "sushi",
            "nobela",
            "paglubog ng araw",
            "paghahalaman",
            "yoga",
            "tennis",
            "tula",
            "red wine",
            "tsokolate",
            "dagat",
            "pag-akyat ng bundok",
            "pagpipinta",
            "salsa",
            "litrato",
            "fashion",
            "pusa",
            "tuta",
            "ulan",
            "bundok",
            "board games",
            "lumang pelikula",
            "street food",
            "bisikleta",
            "paglangoy",
            "teatro",
            "bituin",
            "pagbe-bake",
            "wika",
            "tsaa",
            "bulaklak",
            "road trip",
            "chess",
            "palengke",
        ),
        "wear": (
            "pulang damit",
            "asul na bandana",
            "puting sapatos",
            "itim na jacket",
            "pilak na hikaw",
            "berdeng blusa",
            "dilaw na sombrero",
            "perlas na kuwintas",
        ),
    },
}

# Sentence patterns; {adj2}/{act2} are second, different picks. Skeleton words are shared by every ad of a
# language, so a clusterer that does not learn common text links everything through them.
_PATTERNS: dict[str, tuple[str, ...]] = {
    "en": (
        "I am {name}, a {adj} and {adj2} {noun} in {city}.",
        "My name is {name} and I am {age}.",
        "{Adj} {noun} looking for {adj2} company.",
        "Let us enjoy {act} and {act2} together.",
        "I love {act} {time}.",
        "Call me for {act} near {place}.",
        "Available {time} in {place}.",
        "I like {l1}, {l2}, {l3} and {l4}.",
        "You will recognise me by {wear} and {wear2}.",
    ),
    "it": (
        "Sono {name}, una {noun} {adj} e {adj2} a {city}.",
        "Mi chiamo {name} e ho {age} anni.",
        "{Noun} {adj} cerca compagnia {adj2}.",
        "Amo {act} e {act2}.",
        "Disponibile {time} in {place}.",
        "Chiamami per {act} vicino a {place}.",
        "Mi piacciono {l1}, {l2}, {l3} e {l4}.",
        "Mi riconosci da {wear} e {wear2}.",
    ),
    "tl": (
        "Ako si {name}, isang {adj} at {adj2} na {noun} sa {city}.",
        "{age} taong gulang ako.",
        "{Adj} na {noun} naghahanap ng {adj2} na kasama.",
        "Mahilig ako sa {act} at {act2}.",
        "Available {time} sa {place}.",
        "Tawagan mo ako para sa {act} malapit sa {place}.",
        "Gusto ko ng {l1}, {l2}, {l3} at {l4}.",
        "Makikilala mo ako sa {wear} at {wear2}.",
    ),
}

_TITLE = {
    "en": ("{Adj} {noun} in {city}", "{name}, {adj} and {adj2}", "{Adj} company {time}"),
    "it": ("{Noun} {adj} a {city}", "{name}, {adj} e {adj2}", "Compagnia {adj} {time}"),
    "tl": ("{Adj} na {noun} sa {city}", "{name}, {adj} at {adj2}", "{Adj} na kasama {time}"),
}

_CONTACT = {
    "en": ("Call or text {phone}.", "Text me at {phone}.", "Contact {phone}.", "My number: {phone}."),
    "it": ("Chiama o scrivi al {phone}.", "Scrivimi al {phone}.", "Contatto {phone}.", "Il mio numero: {phone}."),
    "tl": ("Tawag o text sa {phone}.", "I-text mo ako sa {phone}.", "Contact {phone}.", "Numero ko: {phone}."),
}
_PRICE = {"en": "Rates from {price} USD.", "it": "Prezzi da {price} euro.", "tl": "Presyo mula {price} piso."}
_HANDLE = {"en": "Telegram @{handle}", "it": "Telegram @{handle}", "tl": "Telegram @{handle}"}

# Stock phrases thousands of posters use. Some are also indicator phrases (see tipline/ads/indicators/*.toml):
# movement and screening language (tested, not evidence), trust wording (validated).
_STOCK: dict[str, tuple[str, ...]] = {
    "en": (
        "New in town!",
        "Just arrived.",
        "Available 24/7.",
        "Available now.",
        "No rush.",
        "Real photos.",
        "100% genuine.",
        "Discreet and professional.",
        "References required.",
        "Screening required.",
        "Only here for a few days.",
        "Serious callers only.",
        "No private numbers.",
        "Come and see me.",
        "First time here.",
        "Ask for specials.",
        "Satisfaction guaranteed.",
        "Limited time only.",
    ),
    "it": (
        "Appena arrivata!",
        "Nuova in città.",
        "Disponibile 24 ore su 24.",
        "Disponibile subito.",
        "Senza fretta.",
        "Foto reali.",
        "100% reale.",
        "Discreta e professionale.",
        "Solo su appuntamento.",
        "Solo per pochi giorni.",
        "No numeri privati.",
        "Referenze richieste.",
        "Massima serietà.",
        "Vieni a trovarmi.",
        "Prima volta in città.",
    ),
    "tl": (
        "Bagong dating!",
        "Bago sa lungsod.",
        "Available 24/7.",
        "Available ngayon.",
        "Walang madalian.",
        "Totoong litrato.",
        "100% totoo.",
        "Discreet at propesyonal.",
        "May screening.",
        "Ilang araw lang dito.",
        "Seryoso lang po.",
        "Walang private number.",
        "Unang beses dito.",
    ),
}
_ETHNIC = {
    "en": ("Asian", "Latina", "European", "Brazilian"),
    "it": ("asiatica", "latina", "brasiliana"),
    "tl": ("Pinay", "Filipina", "mestiza"),
}
_ETHNIC_PAT = {
    "en": "{e} {noun}, {adj} and {adj2}.",
    "it": "{Noun} {e}, {adj} e {adj2}.",
    "tl": "{E} na {noun}, {adj} at {adj2}.",
}
_YOUTH = {
    "en": ("Young and fresh.", "Youthful and sweet."),
    "it": ("Giovane e fresca.", "Giovanissima."),
    "tl": ("Bata at fresh.", "Batang-bata."),
}
_THIRD = {
    "en": "She is {adj} and she loves {act}.",
    "it": "Lei è {adj} e ama {act}.",
    "tl": "Siya ay {adj} at mahilig sa {act}.",
}

_NAMES = {
    "en": (
        "Anna",
        "Bella",
        "Chloe",
        "Daisy",
        "Emma",
        "Grace",
        "Holly",
        "Ivy",
        "Jade",
        "Kate",
        "Lily",
        "Mia",
        "Nina",
        "Olivia",
        "Ruby",
        "Sophie",
        "Tina",
        "Vicky",
        "Zoe",
        "Amber",
        "Candy",
        "Layla",
        "Stella",
    ),
    "it": (
        "Giulia",
        "Sara",
        "Chiara",
        "Francesca",
        "Martina",
        "Valentina",
        "Elena",
        "Alessia",
        "Federica",
        "Silvia",
        "Laura",
        "Marta",
        "Paola",
        "Serena",
        "Ilaria",
        "Noemi",
        "Greta",
    ),
    "tl": (
        "Maria",
        "Joy",
        "Angel",
        "Princess",
        "Kristine",
        "Jasmine",
        "Lovely",
        "Cherry",
        "Mae",
        "Rose",
        "April",
        "Liza",
        "Jenny",
        "Nica",
        "Bea",
        "Ella",
    ),
}

_SITES = (
    (
        "adboard-test.com",
        "en",
        "US",
        ("New York", "Chicago", "Houston", "Las Vegas", "Miami", "Atlanta", "Dallas", "Seattle"),
    ),
    ("citylist-test.net", "en", "GB", ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Liverpool")),
    (
        "bacheca-annunci-test.it",
        "it",
        "IT",
        ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze", "Verona", "Bari"),
    ),
    ("annunci-relax-test.it", "it", "IT", ("Roma", "Milano", "Genova", "Padova", "Palermo", "Catania")),
    (
        "classifieds-ph-test.ph",
        "tl",
        "PH",
        ("Manila", "Quezon City", "Cebu", "Davao", "Makati", "Pasay", "Angeles", "Olongapo"),
    ),
    ("pinoy-ads-test.ph", "tl", "PH", ("Manila", "Cebu", "Iloilo", "Baguio", "Cagayan de Oro")),
)
_FOOTERS = {
    "en": (
        "All advertisers confirm they are adults. Report abuse to {email} or call {phone}. {site} is not "
        "responsible for the content of ads.",
        "Posted on {site}. By using this site you accept the terms of use. Help desk {phone}.",
    ),
    "it": (
        "Tutti gli inserzionisti dichiarano di essere maggiorenni. Segnala un abuso a {email} o chiama il "
        "{phone}. {site} non è responsabile del contenuto degli annunci.",
        "Pubblicato su {site}. Usando il sito accetti le condizioni d'uso. Assistenza {phone}.",
    ),
    "tl": (
        "Lahat ng nag-post ay nasa hustong gulang. I-report ang pang-aabuso sa {email} o tumawag sa "
        "{phone}. Walang pananagutan ang {site} sa laman ng mga ad.",
        "Naka-post sa {site}. Sa paggamit ng site, tinatanggap mo ang mga tuntunin. Helpdesk {phone}.",
    ),
}
_PRICE_RANGE = {"en": (80, 400), "it": (60, 300), "tl": (1500, 8000)}


def _sites(rng: random.Random) -> list[Site]:
    out = []
    for name, lang, country, cities in _SITES:
        phone = ids.random_mobile(rng, country)
        email = f"support@{name}"
        national = render_phone(rng, phone, lang, True, "plain")[0]
        footers = tuple(f.format(email=email, phone=national, site=name) for f in _FOOTERS[lang])
        prefix = "".join(w[0] for w in name.split("-")[:2]).upper()
        out.append(Site(name, lang, country, cities, prefix, phone, email, footers))
    return out


def _fill(rng: random.Random, lang: str, pattern: str, fixed: dict[str, str]) -> str:
    lex = _LEX[lang]

    def pick(k: str, avoid: str | None = None) -> str:
        vals = lex[k]
        v = rng.choice(vals)
        while avoid is not None and v == avoid and len(vals) > 1:
            v = rng.choice(vals)
        return v

    kw = dict(fixed)
    for k in ("adj", "noun", "act", "time", "place", "wear"):
        kw.setdefault(k, pick(k))
    kw.setdefault("adj2", pick("adj", kw["adj"]))
    kw.setdefault("act2", pick("act", kw["act"]))
    kw.setdefault("wear2", pick("wear", kw["wear"]))
    likes = rng.sample(lex["like"], 4)
    for i, v in enumerate(likes, 1):
        kw.setdefault(f"l{i}", v)
    kw["Adj"] = kw["adj"][:1].upper() + kw["adj"][1:]
    kw["Noun"] = kw["noun"][:1].upper() + kw["noun"][1:]
    kw.setdefault("e", "")
    kw["E"] = kw["e"][:1].upper() + kw["e"][1:]
    return pattern.format(**kw)


_SLOT_SENTINELS = ("{name}", "{age}", "{city}")


def _typo(rng: random.Random, text: str, n: int) -> str:
    """``n`` typing slips: two letters swapped, one dropped or one doubled, in words of 4+ letters."""
    words = text.split(" ")
    cand = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for i in rng.sample(cand, min(n, len(cand))):
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        elif kind == 1:
            w = w[:j] + w[j + 1 :]
        else:
            w = w[:j] + w[j] + w[j:]
        words[i] = w
    return " ".join(words)


@dataclass
class _Poster:
    fid: str
    lang: str
    sites: list[Site]
    names: list[str]
    ages: list[int]
    route: list[str]  # cities in the order the poster tours them
    phones: list[str]
    phone_styles: tuple[str, ...]
    handle: str | None
    body: list[str]  # template sentences with {name} {age} {city} slots left in
    title: str
    price: int
    images: list[str]
    start: datetime
    span_days: float


def _template_body(rng: random.Random, lang: str, youth: bool, ethnic: bool, third: bool) -> tuple[list[str], str]:
    pats = list(_PATTERNS[lang])
    chosen = [pats[0], pats[1]] + rng.sample(pats[2:], rng.randint(4, len(pats) - 2))
    fixed = {"name": "{name}", "age": "{age}", "city": "{city}"}
    body = [rng.choice(_LEX[lang]["open"]) + "!"]
    for p in chosen:
        body.append(_fill(rng, lang, p, fixed))
    # a second personal sentence: what makes one poster's text their own
    body.append(_fill(rng, lang, _PATTERNS[lang][6 if lang != "en" else 7], fixed))
    if ethnic:
        body.append(_fill(rng, lang, _ETHNIC_PAT[lang], {**fixed, "e": rng.choice(_ETHNIC[lang])}))
    if youth:
        body.append(rng.choice(_YOUTH[lang]))
    if third:
        body.append(_fill(rng, lang, _THIRD[lang], fixed))
    body += rng.sample(_STOCK[lang], rng.randint(0, 2))
    title = _fill(rng, lang, rng.choice(_TITLE[lang]), fixed)
    return body, title


class _Gen:
    def __init__(self, rng: random.Random, sites: list[Site], epoch: datetime, days: int) -> None:
        self.rng = rng
        self.sites = sites
        self.epoch = epoch
        self.days = days
        self.by_lang: dict[str, list[Site]] = {}
        for s in sites:
            self.by_lang.setdefault(s.language, []).append(s)
        self.counter: dict[str, int] = {}
        self.phone_pool: dict[str, list[str]] = {}

    def ad_id(self, site: Site) -> str:
        n = self.counter.get(site.name, 0) + 1
        self.counter[site.name] = n
        return f"{site.prefix}-{100000 + n * 7 + self.rng.randrange(7)}"

    def phone(self, region: str) -> str:
        # Drawing and validating a number costs ~0.1 ms; keep a pool and draw from it without repeats.
        pool = self.phone_pool.setdefault(region, [])
        if not pool:
            seen: set[str] = set()
            while len(seen) < 64:
                seen.add(ids.random_mobile(self.rng, region))
            pool.extend(sorted(seen))
            self.rng.shuffle(pool)
        return pool.pop()

    def render_contact(self, lang: str, site: Site, phone: str, style: str) -> tuple[str, bool]:
        national_ok = ids.phone_region(phone) == site.country
        surface, used = render_phone(self.rng, phone, lang, national_ok, style)
        return self.rng.choice(_CONTACT[lang]).format(phone=surface), used in ("spelled", "swapped", "mixed", "spaced")

    def poster(self, i: int, phones: list[str] | None = None) -> _Poster:
        rng = self.rng
        lang = rng.choice(LANGS)
        sites = self.by_lang[lang]
        chosen = [rng.choice(sites)]
        if len(sites) > 1 and rng.random() < 0.3:
            chosen.append(next(s for s in sites if s is not chosen[0]))
        cities = list(dict.fromkeys(c for s in chosen for c in s.cities))
        route = rng.sample(cities, rng.randint(1, min(4, len(cities))))
        youth, ethnic, third = rng.random() < 0.2, rng.random() < 0.25, rng.random() < 0.2
        body, title = _template_body(rng, lang, youth, ethnic, third)
        if phones is None:
            phones = [self.phone(chosen[0].country) for _ in range(1 if rng.random() < 0.8 else 2)]
        obscure = rng.random() < 0.4
        styles = ("spelled", "swapped", "mixed", "spaced") if obscure else ("plain", "separators")
        start = self.epoch - timedelta(days=rng.uniform(0, self.days))
        return _Poster(
            fid=f"F{i:05d}",
            lang=lang,
            sites=chosen,
            names=rng.sample(_NAMES[lang], rng.randint(1, 3)),
            ages=[rng.randint(19, 34)],
            route=route,
            phones=phones,
            phone_styles=styles,
            handle=ids.handle(rng).lower() if rng.random() < 0.3 else None,
            body=body,
            title=title,
            price=rng.randrange(*_PRICE_RANGE[lang]) // 10 * 10,
            images=[ids.pdq_like(rng) for _ in range(rng.randint(0, 2))],
            start=start,
            span_days=rng.uniform(3, 45),
        )

    def family_ad(self, p: _Poster, k: int, size: int) -> SynthAd:
        rng = self.rng
        frac = k / max(size - 1, 1)
        t = p.start + timedelta(days=p.span_days * frac, minutes=rng.randrange(600))
        city = p.route[min(int(frac * len(p.route)), len(p.route) - 1)]
        site = next((s for s in p.sites if city in s.cities), p.sites[0])
        slot = {"name": rng.choice(p.names), "age": str(p.ages[0] + (1 if rng.random() < 0.1 else 0)), "city": city}
        sentences = [s.format(**slot) if any(x in s for x in _SLOT_SENTINELS) else s for s in p.body]
        if len(sentences) > 4 and rng.random() < 0.2:
            del sentences[rng.randrange(2, len(sentences))]
        if rng.random() < 0.25:
            sentences.insert(rng.randrange(1, len(sentences)), rng.choice(_STOCK[p.lang]))
        phone = rng.choice(p.phones)
        contact, obscured = self.render_contact(p.lang, site, phone, rng.choice(p.phone_styles))
        price = p.price + rng.choice((0, 0, 0, 10, 20, -10))
        sentences.append(_PRICE[p.lang].format(price=price))
        sentences.append(contact)
        if p.handle:
            sentences.append(_HANDLE[p.lang].format(handle=p.handle))
        body = " ".join(sentences)
        if rng.random() < 0.6:
            body = _typo(rng, body, rng.randint(1, 3))
        text = body + "\n\n" + rng.choice(site.footers)
        title = p.title.format(**slot)
        return self.make(site, t, city, title, text, p.lang, p.fid, [phone], p.handle, obscured, p.images)

    def one_off(self) -> SynthAd:
        rng = self.rng
        lang = rng.choice(LANGS)
        site = rng.choice(self.by_lang[lang])
        city = rng.choice(site.cities)
        fixed = {"name": rng.choice(_NAMES[lang]), "age": str(rng.randint(19, 40)), "city": city}
        pats = list(_PATTERNS[lang])
        body = [rng.choice(_LEX[lang]["open"]) + "!"]
        body += [_fill(rng, lang, p, fixed) for p in rng.sample(pats, rng.randint(3, 6))]
        body += rng.sample(_STOCK[lang], rng.randint(1, 4))
        if rng.random() < 0.1:
            body.append(_fill(rng, lang, _ETHNIC_PAT[lang], {**fixed, "e": rng.choice(_ETHNIC[lang])}))
        if rng.random() < 0.1:
            body.append(rng.choice(_YOUTH[lang]))
        rng.shuffle(body)
        phone = self.phone(site.country)
        contact, obscured = self.render_contact(
            lang, site, phone, rng.choice(("plain", "separators", "plain", "spelled", "swapped"))
        )
        body.append(_PRICE[lang].format(price=rng.randrange(*_PRICE_RANGE[lang]) // 10 * 10))
        body.append(contact)
        text = " ".join(body) + "\n\n" + rng.choice(site.footers)
        t = self.epoch - timedelta(days=rng.uniform(0, self.days))
        title = _fill(rng, lang, rng.choice(_TITLE[lang]), fixed)
        return self.make(site, t, city, title, text, lang, None, [phone], None, obscured, [])

    def make(
        self,
        site: Site,
        t: datetime,
        city: str,
        title: str,
        text: str,
        lang: str,
        family: str | None,
        phones: list[str],
        handle: str | None,
        obscured: bool,
        images: list[str],
    ) -> SynthAd:
        ad_id = self.ad_id(site)
        payload: dict[str, Any] = {
            "ad_id": ad_id,
            "posted_at": t.replace(microsecond=0).isoformat(),
            "site": site.name,
            "city": city,
            "country": site.country,
            "title": title,
            "text": text,
            "url": f"https://{site.name}/ad/{ad_id.lower()}",
        }
        if images:
            payload["images"] = list(images)
        planted = [s for s in _STOCK[lang] if s in text]
        return SynthAd(payload, lang, family, phones, handle, obscured, planted)


def generate_ads(
    seed: int = 1,
    n_ads: int = 1000,
    *,
    family_share: float = 0.4,
    max_family: int = 25,
    epoch: datetime | None = None,
    days: int = 90,
    plant_phones: list[str] | None = None,
) -> Corpus:
    """A corpus of ``n_ads`` ads: ``family_share`` of them from templated families of 2..``max_family`` ads,
    the rest one-offs. Same arguments, same corpus.

    ``plant_phones``: E.164 numbers (for example the phones of a :func:`tipline.synth.generate_world`
    network) that families use, one family per phone, so the demo's ads share phones with its reports.
    """
    if n_ads < 0 or not 0 <= family_share <= 1 or max_family < 2:
        raise ValueError("n_ads >= 0, 0 <= family_share <= 1 and max_family >= 2")
    rng = random.Random(seed)
    epoch = epoch or datetime(2025, 6, 1, tzinfo=UTC)
    sites = _sites(rng)
    gen = _Gen(rng, sites, epoch, days)
    ads: list[SynthAd] = []
    target = int(n_ads * family_share)
    i = 0
    planted = list(plant_phones or [])
    while len(ads) < target:
        size = min(rng.randint(2, max_family), target - len(ads))
        if size < 2:
            break
        p = gen.poster(i, [planted.pop(0)] if planted else None)
        ads += [gen.family_ad(p, k, size) for k in range(size)]
        i += 1
    while len(ads) < n_ads:
        ads.append(gen.one_off())
    rng.shuffle(ads)
    return Corpus(seed, sites, ads)


def pairwise_scores(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    """Pairwise precision and recall of a clustering: of the pairs put together, the share that belong
    together; of the pairs that belong together, the share put together. Counted from the contingency
    table (no pair enumeration)."""
    from collections import Counter

    if len(truth) != len(predicted):
        raise ValueError("one label per item in both lists")

    def pairs(c: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in c.values())

    tp = pairs(Counter(zip(truth, predicted, strict=True)))
    pp = pairs(Counter(predicted))
    tt = pairs(Counter(truth))
    return (tp / pp if pp else 1.0, tp / tt if tt else 1.0)
