"""Identifier extraction: tipline.extract beside ioc-finder and plain phonenumbers, on the same texts.

Prints throughput (KB/s) of each system and, per kind, recall and false positives with the ratio
tipline/baseline, on one or two corpora of synthetic report texts with ground truth:

* ``synth``: ``tipline.synth.generate_world`` reports (their ``truth_mentions``: what the free text
  names), when that package is importable;
* ``own``: this file's seeded generator (en/it/tl texts with disguised phones, obfuscated e-mails,
  defanged URLs, wallets, handles, IBANs, MTCNs and hard-negative noise numbers);
* ``hard``: ``tipline.synth.hard``, every disguise of issue 13 (Unicode digits, keycaps, zero-width and
  bidi characters, number words of four languages mixed, numbers split across lines or by words, at/dot
  words, defanged links, bare handles, profile links) in report/ad/chat styles with typos, emoji and two
  languages; it also prints the recall on the phones written with a disguise.

    .venv/bin/python bench/bench_extract.py [--size-kb 500] [--seed 1] [--corpus all|hard|synth|own|both]
                                            [--repeat 3] [--show-misses N]

Throughput is measured in CPU time (best of ``--repeat``), tipline's memo caches emptied before each run.

Read the ``own`` corpus with care: the same hand wrote the generator and the extractor, so it mostly
shows that the forms the extractor was built for are read; ``synth`` was written independently (by the
``tipline.synth`` author) and is the fairer test. Neither is real reporter prose.

Scoring: a prediction (kind, normalised value) is a true positive when the report's truth has it, a
false positive when neither the truth nor the *implied* set has it. Implied (neither rewarded nor
punished): the registered domain of a true URL/e-mail, the phone of a true WhatsApp number and the
WhatsApp of a true phone. ioc-finder's values are normalised with ``tipline.extract.normalise`` so
that formatting differences are not counted as misses. Every identifier here is random and synthetic.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import base58
import phonenumbers
from ioc_finder import find_iocs
from schwifty import IBAN

from tipline.extract import KINDS, extract, native, normalise
from tipline.extract import phones as _phones
from tipline.extract.crypto import eip55, onion_v3_encode, segwit_encode, xmr_encode
from tipline.extract.network import registered_domain
from tipline.extract.phones import regions_for


@dataclass
class Doc:
    text: str
    language: str
    country: str | None
    truth: set[tuple[str, str]]
    implied: set[tuple[str, str]] = field(default_factory=set)
    disguised: set[str] = field(default_factory=set)  # phones (E.164) written with a disguise


# ============================================================================ own corpus generator

_DIGIT_WORDS = {
    "en": "zero one two three four five six seven eight nine".split(),
    "it": "zero uno due tre quattro cinque sei sette otto nove".split(),
    "tl": "sero isa dalawa tatlo apat lima anim pito walo siyam".split(),
}
_PH_PREFIXES = ("917", "918", "919", "920", "921", "927", "928", "937", "939", "945", "956", "966", "977", "998")
_IT_PREFIXES = ("320", "328", "329", "333", "338", "339", "340", "345", "347", "348", "349", "366", "380", "393")
_GB_PREFIXES = ("7700", "7712", "7800", "7911", "7958")
_SUFFIXES = ("com", "net", "org", "info", "xyz", "site", "online", "it", "co.uk", "com.ph", "ph", "io")
_SYL = "ka li ma no ra te su vi lo pe da mi ko zu na ri sa to be fi ga ho".split()


def _word(rng: random.Random, n: int = 3) -> str:
    return "".join(rng.choice(_SYL) for _ in range(n))


def _handle(rng: random.Random) -> str:
    return f"{_word(rng, 2)}{rng.choice(('_', '', '.'))}{_word(rng, 2)}{rng.randrange(10, 999)}".replace(".", "_")


def _valid(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False


def _phone(rng: random.Random, region: str) -> str:
    while True:
        if region == "PH":
            e = "+63" + rng.choice(_PH_PREFIXES) + f"{rng.randrange(10**7):07d}"
        elif region == "IT":
            e = "+39" + rng.choice(_IT_PREFIXES) + f"{rng.randrange(10**7):07d}"
        elif region == "GB":
            e = "+44" + rng.choice(_GB_PREFIXES) + f"{rng.randrange(10**6):06d}"
        else:
            e = (
                "+1"
                + rng.choice(("212", "312", "415", "646", "702"))
                + f"{rng.randrange(200, 999)}{rng.randrange(10**4):04d}"
            )
        if _valid(e):
            return e


def _national(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)


def _intl(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _swap(s: str, rng: random.Random) -> str:
    table = {"0": "Oo", "1": "lI"}
    return "".join(rng.choice(table[c]) if c in table and rng.random() < 0.6 else c for c in s)


_EXTRA_WORDS = {  # other spellings people use: "oh" for zero, Spanish-Filipino numerals
    "en": {"0": ("oh", "zero")},
    "tl": {
        "1": ("uno",),
        "2": ("dos",),
        "3": ("tres",),
        "4": ("kwatro",),
        "5": ("singko",),
        "6": ("sais",),
        "7": ("siyete",),
        "8": ("otso",),
        "9": ("nuwebe",),
    },
    "it": {},
}


def _spell(g: str, lang: str, rng: random.Random) -> str:
    words = _DIGIT_WORDS[lang]
    out = []
    i = 0
    while i < len(g):
        c = g[i]
        if lang == "en" and i + 1 < len(g) and g[i + 1] == c and rng.random() < 0.3:
            out.append(f"double {words[int(c)]}")
            i += 2
            continue
        alt = _EXTRA_WORDS[lang].get(c)
        w = rng.choice(alt) if alt and rng.random() < 0.4 else words[int(c)]
        out.append(w.capitalize() if rng.random() < 0.1 else w)
        i += 1
    return " ".join(out)


def render_phone(rng: random.Random, e164: str, lang: str, national_ok: bool) -> str:
    base = _national(e164) if national_ok and rng.random() < 0.7 else _intl(e164)
    base = base.replace("(", "").replace(")", "").replace("-", " ")
    groups = base.split()
    style = rng.choice(
        ("plain", "plain", "sep", "spaced", "swap", "words", "mixed", "paren", "00", "commas", "tel", "bracketed")
    )
    if style == "plain":
        return base if rng.random() < 0.6 else "".join(groups)
    if style == "tel":
        return "tel:" + e164 if rng.random() < 0.5 else e164
    if style == "bracketed":
        return f"({base})" if rng.random() < 0.5 else f"<{''.join(groups)}>"
    if style == "commas":
        return ", ".join(g if g.startswith("+") else _spell(g, lang, rng) for g in groups)
    if style == "sep":
        return rng.choice((".", "-", " - ", "/", "_", " . ")).join(groups)
    if style == "spaced":
        flat = "".join(groups)
        head = groups[0] if flat.startswith("+") else ""
        return (head + " " if head else "") + " ".join(flat[len(head) :])
    if style == "swap":
        return " ".join(g if g.startswith("+") else _swap(g, rng) for g in groups)
    if style == "paren" and not groups[0].startswith("+"):
        return f"({groups[0]}){''.join(groups[1:])}"
    if style == "00" and groups[0].startswith("+"):
        return "00" + groups[0][1:] + " " + " ".join(groups[1:])
    out = []
    for g in groups:
        if g.startswith("+") or (style == "mixed" and rng.random() < 0.5):
            out.append(g)
        else:
            out.append(_spell(g, lang, rng))
    return " ".join(out)


def render_email(rng: random.Random, email: str, lang: str) -> str:
    local, _, dom = email.partition("@")
    r = rng.random()
    if r < 0.35:
        return email if rng.random() < 0.7 else email.capitalize()
    at = {"en": ("at", "[at]", "(at)", " @ "), "it": ("chiocciola", "[at]", "(at)"), "tl": ("at", "[at]", "(at)")}[lang]
    dot = {"en": ("dot", "[dot]", "(.)", "."), "it": ("punto", "[punto]", "[.]"), "tl": ("dot", "tuldok", "[.]")}[lang]
    a, d = rng.choice(at), rng.choice(dot)
    a_s = f" {a.strip()} " if a.strip().isalpha() or a == " @ " else a
    d_s = f" {d} " if d.isalpha() else d
    return f"{local}{a_s}{d_s.join(dom.split('.'))}"


def render_url(rng: random.Random, url: str) -> str:
    r = rng.random()
    if r < 0.5:
        return url
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if r < 0.7:
        return f"hxxp{scheme[4:]}://{host.replace('.', '[.]')}/{path}"
    if r < 0.85:
        return f"{host}/{path}"  # scheme-less
    return f"{scheme}[://]{host}/{path}"


_TEMPLATES = {
    "en": [
        "I was contacted by someone offering private video shows. Contact: {x}.",
        "The account asked my niece to move the chat to {x}. She is 13 years old.",
        "Payment was requested via {x}, around USD 25 each time.",
        "On 12/03/2026 at 21:30 the seller posted {x} and asked for 1500 PHP.",
        "Saw this in a forum thread from 2025, they keep reposting {x}.",
        "Please check {x} — it appeared in messages to several kids.",
    ],
    "it": [
        "Mi ha contattato una persona che offre dirette private. Contatto: {x}.",
        "Il profilo chiedeva a mia nipote di spostarsi su {x}. Ha 12 anni.",
        "Hanno chiesto il pagamento tramite {x}, circa 30 euro ogni volta.",
        "Il 23/11/2026 alle 22:15 il venditore ha scritto {x} e chiesto 50 €.",
        "Segnalo {x}, compare in molti annunci dal 2024.",
    ],
    "tl": [
        "May nag-alok ng private video show. Makipag-ugnayan sa {x}.",
        "Hiniling ng account na lumipat sa {x} ang pamangkin ko, 12 taong gulang siya.",
        "Humingi sila ng bayad sa {x}, mga 500 piso bawat isa.",
        "Noong 23/11/2026 ng 9:30 ng gabi ipinost nila ang {x}.",
        "Paki-check ang {x}, nakita ko ito sa maraming mensahe.",
    ],
}
_NOISE = {
    "en": [
        "She said she was 14 years old and lived with her aunt since 2019.",
        "The first message came on 2026-11-23 at 10:30, the second on 23/11/2026.",
        "They asked for $25, then 25 USD, then 1,500 pesos; order number 48213377.",
        "The video was about 12 minutes long, file clip_0425.mp4, 34.5 MB.",
        "It happened between 2019 and 2021, maybe 3 or 4 times a week, room 1204.",
        "My reference is 2026/11/0042 and the case was opened 11.11.2026.",
        "Version 2.4.1 of the app, build 1234567, on a phone with 128 GB.",
        "He said he is 45, weighs 80 kg and paid 3,000 for 2 hours.",
    ],
    "it": [
        "Ha detto di avere 14 anni e di vivere con la zia dal 2019.",
        "Il primo messaggio è arrivato il 23/11/2026 alle 10:30, prezzo 25 euro.",
        "Ordine numero 48213377 del 12.03.2026, importo € 1.250,00.",
        "Succede da 3 o 4 settimane, circa 20 minuti ogni volta, stanza 1204.",
    ],
    "tl": [
        "Sabi niya 14 taong gulang siya at nakatira sa tita niya mula 2019.",
        "Unang mensahe noong 23/11/2026, alas 10:30 ng umaga, 500 piso.",
        "Mga 3 o 4 na beses kada linggo, 20 minuto bawat isa, kuwarto 1204.",
    ],
}
# Numbers and dotted words that are NOT identifiers, several valid phone numbers in some region.
_HARD_NOISE = {
    "en": [
        "Order #4155550123 was never delivered, tracking 9405511899223197428499.",
        "Invoice no. 2025110042, ticket 7012345678, ID 0917123456.",
        "She sent PHP 2,500.00 then ₱1500 and later 25k; total 1,234,567 pesos.",
        "Coordinates 14.5995, 120.9842; flight PR 102 at 9:45pm; room 12-B.",
        "The app said v1.2.3.4 and the file was video.mp4 (e.g. clip.mov), a.m. or p.m.",
        "From 9am-5pm, 24/7 support, 3-4 times, ages 12-15, years 2019-2021.",
        "He told.me that ok.so it was fine.Love you all, see ya.",
        "Receipt 2026/11/23-0042, case 20261123001, PIN 1234.",
    ],
    "it": [
        "Ordine n. 4155550123 mai arrivato, fattura 2025110042 del 12/03/2026.",
        "Ha pagato € 1.250,00 e poi 300 euro, codice 0917123456.",
        "Dalle 9:00 alle 17:30, dal 2019 al 2021, 3-4 volte a settimana.",
    ],
    "tl": [
        "Order no. 4155550123 hindi dumating, resibo 2025110042.",
        "Nagbayad ng ₱2,500.00 at 1,500 piso noong 2026-11-23 ng 10:30.",
        "Mula 9am-5pm, edad 12-15, taong 2019-2021.",
    ],
}
_CUES = {
    "phone": {
        "en": ("call", "text me at", "mobile", "number"),
        "it": ("chiamare il", "cell.", "numero"),
        "tl": ("tawagan sa", "cp#", "i-text sa"),
    },
}


class OwnCorpus:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def _ident(self, lang: str, country: str | None) -> tuple[str, set, set]:
        rng = self.rng
        kind = rng.choices(
            KINDS,  # in tipline.extract.KINDS order
            weights=(30, 12, 8, 4, 3, 1, 2, 4, 3, 2, 2, 10, 3, 3, 3, 5, 3, 3, 3, 4),
        )[0]
        if kind == "phone":
            region = (
                country
                if country in ("PH", "IT", "GB", "US") and rng.random() < 0.8
                else rng.choice(("PH", "IT", "GB", "US"))
            )
            e = _phone(rng, region)
            s = render_phone(rng, e, lang, national_ok=(region == country))
            return f"{rng.choice(_CUES['phone'][lang])} {s}", {("phone", e)}, set()
        if kind == "whatsapp":
            region = country if country in ("PH", "IT") else "PH"
            e = _phone(rng, region)
            if rng.random() < 0.4:
                return f"{rng.choice(('https://', ''))}wa.me/{e[1:]}", {("whatsapp", e)}, {("phone", e)}
            return (
                f"WhatsApp {render_phone(rng, e, lang, national_ok=(region == country))}",
                {("whatsapp", e), ("phone", e)},
                set(),
            )
        if kind == "email":
            dom = f"{_word(rng, 2)}-{_word(rng, 1)}.{rng.choice(_SUFFIXES)}"
            e = f"{_word(rng, 2)}{rng.choice(('.', '_', ''))}{rng.randrange(1, 99)}@{dom}"
            return render_email(rng, e, lang), {("email", e)}, {("domain", registered_domain(dom) or dom)}
        if kind in ("url", "domain"):
            dom = f"{_word(rng, 3)}.{rng.choice(_SUFFIXES)}"
            host = rng.choice(("", "www.", "live.")) + dom
            if kind == "domain":
                s = dom if rng.random() < 0.6 else dom.replace(".", "[.]")
                return f"{rng.choice(('the site', 'website', 'sito', 'site'))} {s}", {("domain", dom)}, set()
            url = f"https://{host}/{rng.choice(('live', 'room', 'p', 'u'))}/{_word(rng, 2)}{rng.randrange(100)}"
            s = render_url(rng, url)
            if "://" not in s:
                url = "http://" + url[len("https://") :]  # scheme-less: the normal form adds http://
            return s, {("url", url), ("domain", dom)}, set()
        if kind == "ipv4":
            ip = f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            s = ip if rng.random() < 0.6 else ip[: ip.rfind(".")] + "[.]" + ip[ip.rfind(".") + 1 :]
            return f"IP {s}", {("ipv4", ip)}, set()
        if kind == "ipv6":
            groups = ["2001", "db8"] + [f"{rng.randrange(65536):x}" for _ in range(6)]
            import ipaddress

            ip = ipaddress.ip_address(":".join(groups)).compressed
            return f"IPv6 {ip}", {("ipv6", ip)}, set()
        if kind == "onion":
            o = onion_v3_encode(rng.randbytes(32))
            return (
                rng.choice((f"http://{o}/", o, o.replace(".onion", "[.]onion"))),
                {("onion", o)},
                {("url", f"http://{o}/")},
            )
        if kind == "btc":
            r = rng.random()
            if r < 0.5:
                a = base58.b58encode_check(rng.choice((b"\x00", b"\x05")) + rng.randbytes(20)).decode()
            else:
                a = segwit_encode(0 if r < 0.85 else 1, rng.randbytes(20 if r < 0.75 else 32))
            return f"BTC {a}", {("btc", a)}, set()
        if kind == "eth":
            a = eip55("0x" + rng.randbytes(20).hex())
            s = a if rng.random() < 0.7 else a.lower()
            return f"ETH {s}", {("eth", a)}, set()
        if kind == "xmr":
            a = xmr_encode(rng.choice((0x12, 0x2A)), rng.randbytes(64))
            return f"XMR {a}", {("xmr", a)}, set()
        if kind == "trx":
            a = base58.b58encode_check(b"\x41" + rng.randbytes(20)).decode()
            return f"USDT TRC20 {a}", {("trx", a)}, set()
        if kind == "iban":
            cc = rng.choice(("IT", "DE", "GB", "FR", "ES"))
            ib = IBAN.random(cc, random=rng).compact if hasattr(IBAN, "random") else None
            if ib is None:
                ib = IBAN.generate(cc, bank_code="05428", account_code=f"{rng.randrange(10**12):012d}").compact
            s = ib if rng.random() < 0.5 else " ".join(ib[i : i + 4] for i in range(0, len(ib), 4))
            return f"IBAN {s}", {("iban", ib)}, set()
        if kind == "mtcn":
            v = f"{rng.randrange(10**10):010d}"
            s = rng.choice((v, f"{v[:3]}-{v[3:6]}-{v[6:]}", f"{v[:3]} {v[3:6]} {v[6:]}"))
            cue = rng.choice(("MTCN", "MTCN:", "Western Union control number", "WU MTCN", "codice MTCN"))
            return f"{cue} {s}", {("mtcn", v)}, set()
        h = _handle(rng)
        if kind in ("kik", "snapchat", "skype", "discord") and rng.random() < 0.15:
            # a plain-word name with no separator, digit or "@" after the cue: the hardest form
            h = _word(rng, 4)
            return f"{rng.choice(('add me on', 'my', 'his'))} {kind} {h}", {(kind, h)}, set()
        if kind == "telegram":
            r = rng.random()
            if r < 0.3:
                return f"{rng.choice(('https://', ''))}t.me/{h}", {("telegram", h.lower())}, set()
            if r < 0.7:
                return f"{rng.choice(('Telegram', 'TG:', 'tg', 'sa telegram'))} @{h}", {("telegram", h.lower())}, set()
            return f"{rng.choice(('Telegram:', 'telegram id:', 'TG -'))} {h}", {("telegram", h.lower())}, set()
        if kind == "skype":
            if rng.random() < 0.4:
                s = f"live:.cid.{rng.randbytes(8).hex()}"
                return f"Skype {s}", {("skype", s)}, set()
            return f"{rng.choice(('Skype:', 'skype id:', 'skype'))} {h}", {("skype", h.lower())}, set()
        if kind == "snapchat":
            h = h[:15].rstrip("_")
            if rng.random() < 0.3:
                return f"snapchat.com/add/{h}", {("snapchat", h.lower())}, set()
            return f"{rng.choice(('snap:', 'SC:', 'Snapchat', 'my snap is'))} {h}", {("snapchat", h.lower())}, set()
        if kind == "kik":
            return f"{rng.choice(('kik:', 'Kik', 'kik me'))} {h}", {("kik", h.lower())}, set()
        # discord
        r = rng.random()
        if r < 0.3:
            code = "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
            return f"discord.gg/{code}", {("discord", f"discord.gg/{code}")}, set()
        if r < 0.5:
            tag = f"{_word(rng, 2).capitalize()}#{rng.randrange(1000, 9999)}"
            return f"Discord {tag}", {("discord", tag)}, set()
        return f"{rng.choice(('discord:', 'Discord', 'discord username'))} {h}", {("discord", h.lower())}, set()

    def doc(self) -> Doc:
        rng = self.rng
        lang = rng.choice(("en", "en", "it", "tl"))
        country = {"en": rng.choice(("PH", "US", "GB", None)), "it": rng.choice(("IT", None)), "tl": "PH"}[lang]
        parts = []
        truth: set = set()
        implied: set = set()
        for _ in range(rng.randrange(1, 4)):
            s, t, imp = self._ident(lang, country)
            parts.append(rng.choice(_TEMPLATES[lang]).format(x=s))
            truth |= t
            implied |= imp
        for _ in range(rng.randrange(1, 4)):
            pool = _HARD_NOISE[lang] if rng.random() < 0.35 else _NOISE[lang]
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(pool))
        return Doc(" ".join(parts), lang, country, truth, implied)


def own_corpus(size_kb: int, seed: int) -> list[Doc]:
    gen = OwnCorpus(seed)
    docs: list[Doc] = []
    total = 0
    while total < size_kb * 1024:
        d = gen.doc()
        d.implied |= _implied(d.truth)
        docs.append(d)
        total += len(d.text.encode())
    return docs


def synth_corpus(size_kb: int, seed: int) -> list[Doc] | None:
    try:
        from tipline.synth import generate_world
    except ImportError:
        return None
    docs: list[Doc] = []
    total = 0
    n = 400
    s = seed
    while total < size_kb * 1024:
        w = generate_world(seed=s, n_reports=n)
        for r in w.reports:
            mentions = getattr(r, "truth_mentions", None)
            truth = {(k, v) for k, v, *_ in mentions} if mentions is not None else set(r.truth_entities)
            truth = {(k, v) for k, v in truth if k in KINDS}
            docs.append(Doc(r.text, r.language, r.country, truth))
            total += len(r.text.encode())
            if total >= size_kb * 1024:
                break
        s += 1000
    for d in docs:
        d.implied |= _implied(d.truth)
    return docs


def hard_corpus_docs(size_kb: int, seed: int) -> list[Doc]:
    """``tipline.synth.hard``: every disguise of issue 13 in report/ad/chat styles (typos, no punctuation,
    emoji, two languages in a message). ``Doc.disguised`` holds the phones written with a disguise."""
    from tipline.synth.hard import hard_corpus

    docs: list[Doc] = []
    total = 0
    batch = 0
    while total < size_kb * 1024:
        for h in hard_corpus(seed=seed + batch, n=500):
            d = Doc(h.text, h.language, h.country, set(h.truth), set(h.implied))
            d.disguised = {v for v, dis in h.phone_disguise.items() if dis not in ("plain", "intl")}
            docs.append(d)
            total += len(h.text.encode())
            if total >= size_kb * 1024:
                break
        batch += 1000
    for d in docs:
        d.implied |= _implied(d.truth)
    return docs


def _implied(truth: set[tuple[str, str]]) -> set[tuple[str, str]]:
    out = set()
    for k, v in truth:
        if k == "url":
            n = normalise("domain", v)
            if n:
                out.add(("domain", n))
        elif k == "email":
            out.add(("domain", registered_domain(v.split("@")[1]) or v.split("@")[1]))
        elif k == "whatsapp":
            out.add(("phone", v))
        elif k == "phone":
            out.add(("whatsapp", v))
        elif k == "onion":
            out.add(("url", f"http://{v}/"))
    return out


# ============================================================================ systems

_IOC_MAP = {
    "urls": "url",
    "domains": "domain",
    "email_addresses": "email",
    "ipv4s": "ipv4",
    "ipv6s": "ipv6",
    "bitcoin_addresses": "btc",
    "monero_addresses": "xmr",
}
IOC_KINDS = set(_IOC_MAP.values())
PN_KINDS = {"phone"}


def run_tipline(d: Doc) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in extract(d.text, country=d.country, language=d.language)}


def run_ioc(d: Doc) -> set[tuple[str, str]]:
    r = find_iocs(d.text, included_ioc_types=list(_IOC_MAP))
    out = set()
    for key, kind in _IOC_MAP.items():
        for v in r.get(key, []):
            n = None
            try:
                n = normalise(kind, v)
            except Exception:  # a baseline value our normaliser chokes on is kept raw
                n = None
            if kind == "domain" and n is None:
                n = v.lower()
            out.add((kind, n or v))
            if kind == "onion" or (kind == "domain" and v.lower().endswith(".onion")):
                out.add(("onion", v.lower()))
    # ioc-finder reads onion hosts as domains; count them as onions so the comparison is fair
    return {(("onion", v) if k == "domain" and v.endswith(".onion") else (k, v)) for k, v in out}


def run_pn(d: Doc) -> set[tuple[str, str]]:
    primary, fallback = regions_for(d.country, d.language)
    region = (primary or fallback or ("ZZ",))[0]
    return {
        ("phone", phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164))
        for m in phonenumbers.PhoneNumberMatcher(d.text, region)
    }


# ============================================================================ scoring


def score(docs: list[Doc], preds: list[set]) -> tuple[Counter, Counter, Counter, list]:
    truth_n, tp, fp = Counter(), Counter(), Counter()
    misses = []
    for d, p in zip(docs, preds, strict=True):
        for k, v in d.truth:
            truth_n[k] += 1
            if (k, v) in p:
                tp[k] += 1
            else:
                misses.append((k, v, d))
        for k, v in p:
            if (k, v) not in d.truth and (k, v) not in d.implied:
                fp[k] += 1
    return truth_n, tp, fp, misses


def _clear_caches() -> None:
    """tipline's memo caches (parsed phone numbers, their number types, registered domains) start empty at
    every timed run, so that repeating the same texts does not flatter it."""
    _phones._parse.cache_clear()
    _phones._type_rank_of.cache_clear()
    registered_domain.cache_clear()


def timed(fns: list, docs: list[Doc], repeat: int) -> list[tuple[list[set], float]]:
    """For each system of ``fns``: its predictions and its best CPU time (``time.process_time``) of
    ``repeat`` runs. CPU time, not wall time: the machine is shared and other processes' load would
    otherwise decide the ratio; every system here is single-threaded Python, so CPU time is what its code
    costs. The runs take turns (tipline, ioc-finder, phonenumbers, tipline, ...), so that a slow minute
    of this VM falls on every system alike instead of on the one timed during it."""
    best = [float("inf")] * len(fns)
    out: list[list[set]] = [[] for _ in fns]
    for _ in range(max(1, repeat)):
        for k, fn in enumerate(fns):
            _clear_caches()
            t0 = time.process_time()
            out[k] = [fn(d) for d in docs]
            best[k] = min(best[k], time.process_time() - t0)
    return list(zip(out, best, strict=True))


def _fmt_ratio(a: float, b: float | None) -> str:
    if b is None:
        return "-"
    if b == 0:
        return "inf" if a > 0 else "-"
    return f"{a / b:.2f}"


def report(name: str, docs: list[Doc], show_misses: int, repeat: int) -> None:
    kb = sum(len(d.text.encode()) for d in docs) / 1024
    (tl_pred, tl_t), (ioc_pred, ioc_t), (pn_pred, pn_t) = timed([run_tipline, run_ioc, run_pn], docs, repeat)
    print(f"\n=== corpus: {name} — {len(docs)} texts, {kb:.0f} KB (best of {repeat} runs)")
    print(
        f"throughput  tipline.extract {kb / tl_t:6.0f} KB/s | ioc-finder {kb / ioc_t:6.0f} KB/s "
        f"(x{ioc_t / tl_t:.2f}) | phonenumbers.PhoneNumberMatcher {kb / pn_t:6.0f} KB/s (x{pn_t / tl_t:.2f})"
    )
    print("            (x = tipline throughput / baseline throughput)")
    tn, ttp, tfp, misses = score(docs, tl_pred)
    _, itp, ifp, _ = score(docs, ioc_pred)
    _, ptp, pfp, _ = score(docs, pn_pred)
    hdr = (
        f"{'kind':10} {'truth':>6} | {'tipline R':>9} {'FP':>5} | {'ioc R':>7} {'FP':>5} {'R x':>6} "
        f"| {'pn R':>7} {'FP':>5} {'R x':>6}"
    )
    print("R = recall, FP = false positives (predictions in neither the truth nor the implied set),")
    print("R x = tipline recall / baseline recall; '-' = the baseline has no such kind")
    print(hdr)
    print("-" * len(hdr))
    tot = Counter()
    for k in KINDS:
        n = tn[k]
        if not n and not tfp[k] and not ifp[k]:
            continue
        r = ttp[k] / n if n else 0.0
        ir = (itp[k] / n if n else 0.0) if k in IOC_KINDS else None
        pr = (ptp[k] / n if n else 0.0) if k in PN_KINDS else None
        ioc_s = f"{ir:7.1%} {ifp[k]:5d} {_fmt_ratio(r, ir):>6}" if k in IOC_KINDS else f"{'-':>7} {'-':>5} {'-':>6}"
        pn_s = f"{pr:7.1%} {pfp[k]:5d} {_fmt_ratio(r, pr):>6}" if k in PN_KINDS else f"{'-':>7} {'-':>5} {'-':>6}"
        print(f"{k:10} {n:6d} | {r:9.1%} {tfp[k]:5d} | {ioc_s} | {pn_s}")
        tot["n"] += n
        tot["tp"] += ttp[k]
        tot["fp"] += tfp[k]
        if k in IOC_KINDS:
            tot["ioc_n"] += n
            tot["ioc_tp"] += itp[k]
            tot["ioc_fp"] += ifp[k]
            tot["tl_ioc_tp"] += ttp[k]
            tot["tl_ioc_fp"] += tfp[k]
    print("-" * len(hdr))
    p = tot["tp"] / max(1, tot["tp"] + tot["fp"])
    print(f"tipline overall: recall {tot['tp'] / max(1, tot['n']):.1%}, precision {p:.1%} ({tot['fp']} FP)")
    if tot["ioc_n"]:
        print(
            f"on ioc-finder's kinds: tipline recall {tot['tl_ioc_tp'] / tot['ioc_n']:.1%} ({tot['tl_ioc_fp']} FP) "
            f"vs ioc-finder {tot['ioc_tp'] / tot['ioc_n']:.1%} ({tot['ioc_fp']} FP)"
        )
    dis_n = sum(len(d.disguised) for d in docs)
    if dis_n:
        dis_tl = sum(("phone", v) in p for d, p in zip(docs, tl_pred, strict=True) for v in d.disguised)
        dis_pn = sum(("phone", v) in p for d, p in zip(docs, pn_pred, strict=True) for v in d.disguised)
        print(
            f"phones written with a disguise: {dis_n} | tipline recall {dis_tl / dis_n:.1%} "
            f"| phonenumbers recall {dis_pn / dis_n:.1%}"
        )
    if show_misses:
        print(f"first {show_misses} tipline misses:")
        for k, v, d in misses[:show_misses]:
            print(f"  {k:9} {v:45} | {d.language} {d.country} | {d.text[:160]!r}")
        fps = defaultdict(list)
        for d, pr in zip(docs, tl_pred, strict=True):
            for k, v in pr:
                if (k, v) not in d.truth and (k, v) not in d.implied:
                    fps[k].append((v, d))
        print("tipline false positives (up to 3 per kind):")
        for k, lst in fps.items():
            for v, d in lst[:3]:
                print(f"  {k:9} {v:45} | {d.language} {d.country} | {d.text[:160]!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-kb", type=int, default=500, help="text per corpus (KB)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", choices=("all", "both", "synth", "own", "hard"), default="all")
    ap.add_argument("--show-misses", type=int, default=0, help="print the first N misses and some FPs")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per system (best is shown)")
    args = ap.parse_args(argv)
    # the extractor's hot modules run compiled (mypyc) when built from these sources (`make native`);
    # TIPLINE_PURE_PYTHON=1 runs them as Python, the same code with the same results
    print(f"tipline.extract: {native.STATUS}")
    if args.corpus in ("all", "hard"):
        report(
            "tipline.synth.hard (issue 13 disguises)",
            hard_corpus_docs(args.size_kb, args.seed),
            args.show_misses,
            args.repeat,
        )
    if args.corpus in ("all", "both", "synth"):
        docs = synth_corpus(args.size_kb, args.seed)
        if docs is None:
            print("tipline.synth is not importable: synth corpus skipped")
        else:
            report("tipline.synth", docs, args.show_misses, args.repeat)
    if args.corpus in ("all", "both", "own"):
        report("own generator (bench_extract.py)", own_corpus(args.size_kb, args.seed), args.show_misses, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
