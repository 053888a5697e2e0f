"""A harder synthetic corpus for extraction: every disguise of issue 13, in the styles people write
reports, ads and chat messages in (typos, no punctuation, emoji, lower case, two languages in one
message), with ground truth.

    >>> from tipline.synth.hard import hard_corpus
    >>> docs = hard_corpus(seed=1, n=50)
    >>> sorted(docs[0].truth)[:1]  # doctest: +SKIP

Everything is synthetic: numbers are random but valid in format, names and domains are invented, and
the texts never describe abuse. It is our own corpus, written by the same team as the extractor: good at
catching regressions on the forms listed here, not a measure of text written elsewhere.

Conventions of the truth (those of ``tipline.extract``): a phone is ``phone`` in E.164 whatever its
disguise; an e-mail is ``email``; a URL is ``url`` (its ``domain`` is implied, see ``implied``); a
profile link on Instagram/TikTok/X/OnlyFans is ``url`` + ``account``; ``t.me/<name>`` is ``telegram``;
a bare ``@name`` is ``account`` ``unknown/<name>``; "platform: name" and "name on platform" are the
platform's handle kind or an ``account``. National phone formats appear only with evidence of the
region in the report (stated country, or the country named in the text).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import phonenumbers

from . import identifiers as ids

#: phone disguises of the corpus (issue 13); "plain" and "intl" are the undisguised controls
PHONE_DISGUISES = (
    "plain",
    "intl",
    "words",
    "mixed-words",
    "letters",
    "spaced",
    "separators",
    "lines",
    "words-between",
    "fullwidth",
    "mathematical",
    "thai-digits",
    "arabic-digits",
    "keycaps",
    "zero-width",
    "bidi",
)
LANGS = ("en", "it", "tl", "es")
_WORDS = {
    "en": "zero one two three four five six seven eight nine".split(),
    "it": "zero uno due tre quattro cinque sei sette otto nove".split(),
    "tl": "sero isa dalawa tatlo apat lima anim pito walo siyam".split(),
    "es": "cero uno dos tres cuatro cinco seis siete ocho nueve".split(),
}
_AT = {"en": ("at", "(at)", "[at]"), "it": ("chiocciola", "[at]"), "tl": ("at", "(at)"), "es": ("arroba", "[arroba]")}
_DOT = {"en": ("dot", "[dot]", "(.)"), "it": ("punto", "[punto]"), "tl": ("dot", "tuldok"), "es": ("punto", "[.]")}
_COUNTRY_NAME = {
    "PH": {"en": "the Philippines", "it": "nelle Filippine", "tl": "sa Pilipinas", "es": "en Filipinas"},
    "IT": {"en": "Italy", "it": "in Italia", "tl": "sa Italy", "es": "en Italia"},
    "US": {"en": "the USA", "it": "negli Stati Uniti", "tl": "sa America", "es": "en Estados Unidos"},
    "ES": {"en": "Spain", "it": "in Spagna", "tl": "sa Spain", "es": "en España"},
    "TH": {"en": "Thailand", "it": "in Thailandia", "tl": "sa Thailand", "es": "en Tailandia"},
}
_HOME = {"en": ("PH", "US"), "it": ("IT",), "tl": ("PH",), "es": ("ES",)}
_EMOJI = ("😘", "🔥", "💋", "❤️", "😍", "📲", "👉", "✨", "💯", "🙏")
_PLATFORM_CUES = {  # (how the platform is written, entity kind, platform id for accounts)
    "instagram": ("IG", "account", "instagram"),
    "tiktok": ("TikTok", "account", "tiktok"),
    "onlyfans": ("OnlyFans", "account", "onlyfans"),
    "telegram": ("Telegram", "telegram", None),
    "snapchat": ("snap", "snapchat", None),
    "kik": ("Kik", "kik", None),
}
_ON = {"en": "on", "it": "su", "tl": "sa", "es": "en"}
_AND = {"en": " and ", "it": " e anche ", "tl": " pati ", "es": " y también "}
_PROFILE = {
    "instagram": "https://www.instagram.com/{h}/",
    "tiktok": "https://www.tiktok.com/@{h}",
    "onlyfans": "https://onlyfans.com/{h}",
    "x": "https://x.com/{h}",
}

# messages around the identifiers, in the styles of real reports, ads and chat; {x} is an identifier
_STYLES = {
    "report": {
        "en": "I want to report an account that sells shows of kids, they gave me {x} and asked money",
        "it": "Vorrei segnalare un profilo che vende dirette con minori, mi hanno dato {x}",
        "tl": "Gusto ko po i-report ang account na nagbebenta ng show, binigay nila {x}",
        "es": "Quiero denunciar una cuenta que vende shows, me dieron {x}",
    },
    "ad": {
        "en": "NEW GIRLS {e} private show {e} msg {x} {e}",
        "it": "NUOVE RAGAZZE {e} show privato {e} scrivi {x}",
        "tl": "BAGO {e} private show {e} msg lang {x}",
        "es": "CHICAS NUEVAS {e} show privado {e} escribe {x}",
    },
    "chat": {
        "en": "hi po {e} txt me {x} ok",
        "it": "ciao {e} scrivimi {x} dai",
        "tl": "hello po {e} text mo ako {x} ha",
        "es": "hola {e} escribeme {x} va",
    },
}
# numbers and words that are not identifiers (the false-positive side)
_NOISE = {
    "en": (
        "shes 14 yrs old",
        "price 1500 php or 25 usd",
        "on 23/11/2026 at 21:30",
        "order no 48213377",
        "room 1204 2nd floor",
        "from 9am-5pm 3-4 times",
        "paid 3,000 for 2 hours",
    ),
    "it": ("ha 13 anni", "prezzo 50 euro", "il 23/11/2026 alle 22:15", "ordine n. 4155550123", "stanza 1204"),
    "tl": ("14 taong gulang", "500 piso lang", "noong 23/11/2026 ng 9:30", "kuwarto 1204", "resibo 2025110042"),
    "es": ("tiene 14 años", "precio 30 euros", "el 23/11/2026 a las 21:30", "pedido 48213377", "cuarto 1204"),
}


@dataclass
class HardDoc:
    text: str
    language: str
    country: str | None
    truth: set[tuple[str, str]] = field(default_factory=set)
    implied: set[tuple[str, str]] = field(default_factory=set)
    #: phone value -> the disguise it was written in (the "disguised forms" recall is measured on these)
    phone_disguise: dict[str, str] = field(default_factory=dict)


def _valid_mobile(rng: random.Random, region: str) -> str:
    while True:
        e = ids.random_mobile(rng, region)
        if phonenumbers.is_valid_number(phonenumbers.parse(e)):
            return e


def _typo(rng: random.Random, s: str) -> str:
    """One swap of two adjacent letters in a word of four letters or more (never inside an identifier:
    only the template text gets typos)."""
    words = s.split(" ")
    cand = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not cand:
        return s
    i = rng.choice(cand)
    w = words[i]
    k = rng.randrange(len(w) - 1)
    words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    return " ".join(words)


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_MATH = str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
_THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
_ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_DIGIT_SCRIPTS = {"fullwidth": _FULLWIDTH, "mathematical": _MATH, "thai-digits": _THAI, "arabic-digits": _ARABIC}


def render_phone(rng: random.Random, e164: str, lang: str, national: bool, disguise: str) -> str:
    """The surface of a phone in one of :data:`PHONE_DISGUISES` (national form when ``national``)."""
    nat, intl = ids.phone_formats(e164)
    base = nat if national else intl
    base = base.replace("(", "").replace(")", "").replace("-", " ")
    groups = base.split()
    cc = groups[0] if groups[0].startswith("+") else ""
    body = groups[1:] if cc else groups
    head = [cc] if cc else []
    if disguise in ("plain", "intl"):
        return base
    if disguise in _DIGIT_SCRIPTS:
        return base.translate(_DIGIT_SCRIPTS[disguise])
    if disguise == "words":
        return " ".join(head + [" ".join(_WORDS[lang][int(d)] for d in g) for g in body])
    if disguise == "mixed-words":
        other = rng.choice([x for x in LANGS if x != lang])
        out = []
        for g in body:
            words = _WORDS[rng.choice((lang, other))]
            out.append(" ".join(words[int(d)] for d in g))
        return " ".join(head + out)
    if disguise == "letters":
        swap = {"0": "O", "1": "l"}
        return " ".join(head + ["".join(swap.get(d, d) if rng.random() < 0.7 else d for d in g) for g in body])
    if disguise == "spaced":
        return " ".join(head + [" ".join("".join(body))])
    if disguise == "separators":
        return rng.choice(("/", ".", "_", "~", " - ")).join(head + body)
    if disguise == "lines":
        k = max(1, len(groups) // 2)
        return " ".join(groups[:k]) + "\n" + " ".join(groups[k:])
    if disguise == "words-between":
        k = max(1, len(groups) // 2)
        filler = {"en": "text me", "it": "scrivi a", "tl": "text mo", "es": "escribe al"}[lang]
        return " ".join(groups[:k]) + f" {filler} " + " ".join(groups[k:])
    if disguise == "keycaps":
        return " ".join("".join(f"{d}\ufe0f\u20e3" if d.isdigit() else d for d in g) for g in groups)
    if disguise == "zero-width":
        return "".join(c + ("\u200b" if c.isdigit() and rng.random() < 0.4 else "") for c in base)
    if disguise == "bidi":
        return "\u202d" + base + "\u202c"
    raise ValueError(disguise)


def _email(rng: random.Random, lang: str) -> tuple[str, str]:
    local, dom = ids.email_local(rng), ids.domain(rng, ("com", "net", "ph", "it", "info"))
    value = f"{local}@{dom}"
    r = rng.random()
    if r < 0.25:
        return value, value
    if r < 0.7:
        at, dot = rng.choice(_AT[lang]), rng.choice(_DOT[lang])
        at_s = at if at.startswith(("(", "[")) else f" {at} "
        dot_s = dot if dot.startswith(("(", "[")) else f" {dot} "
        return value, f"{local}{at_s}{dot_s.join(dom.split('.'))}"
    if r < 0.85:  # a Cyrillic look-alike inside the local part
        i = next((k for k, c in enumerate(local) if c in "aoe"), None)
        if i is not None:
            local_s = local[:i] + {"a": "\u0430", "o": "\u043e", "e": "\u0435"}[local[i]] + local[i + 1 :]
            return value, f"{local_s}@{dom}"
        return value, value
    return value, f"{local}\u200b@{dom}"


def _url(rng: random.Random) -> tuple[str, str, str]:
    host = ids.domain(rng, ("com", "net", "xyz", "online", "site"))
    path = f"/room/{ids.rand_alnum(rng, 5)}"
    value = f"https://{host}{path}"
    r = rng.random()
    if r < 0.35:
        surface = value
    elif r < 0.6:
        surface = f"hxxps://{host.replace('.', '[.]')}{path}"
    elif r < 0.8:
        surface = f"https[://]{host}{path}"
    else:
        surface = f"https://{host.replace('.', '(.)')}{path}"
    return value, surface, ids.norm_domain(host)


def _handle(rng: random.Random, lang: str) -> tuple[set[tuple[str, str]], str]:
    h = ids.handle(rng, min_len=6).lower()
    r = rng.random()
    if r < 0.25:
        return {("account", f"unknown/{h}")}, f"@{h}"
    if r < 0.45:
        pid = rng.choice(tuple(_PROFILE))
        url = _PROFILE[pid].format(h=h)
        return {("url", url), ("account", f"{pid}/{h}")}, url
    if r < 0.55:
        return {("telegram", h)}, f"t.me/{h}"
    pid = rng.choice(tuple(_PLATFORM_CUES))
    written, kind, acct = _PLATFORM_CUES[pid]
    value = f"{acct}/{h}" if kind == "account" else h
    if rng.random() < 0.5:
        return {(kind, value)}, f"{written}: {h}"
    return {(kind, value)}, f"{h} {_ON[lang]} {written}"


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.k = 0

    def doc(self) -> HardDoc:
        rng = self.rng
        lang = rng.choice(LANGS)
        style = rng.choice(tuple(_STYLES))
        doc = HardDoc("", lang, None)
        pieces: list[str] = []
        for _ in range(rng.randrange(1, 3)):
            pieces.append(self._ident(doc))
        template = _STYLES[style][lang]
        if rng.random() < 0.5:
            template = _typo(rng, template)
        # two identifiers are joined by a word ("and"), as people write them: back to back, two numbers
        # would be one run of digits that nobody could split
        text = template.format(x=_AND[lang].join(pieces), e=rng.choice(_EMOJI)).replace("{e}", rng.choice(_EMOJI))
        extra = [rng.choice(_NOISE[lang]) for _ in range(rng.randrange(1, 3))]
        if rng.random() < 0.3:  # a second language in the same message
            other = rng.choice([x for x in LANGS if x != lang])
            extra.append(rng.choice(_NOISE[other]))
        parts = [text] + extra
        rng.shuffle(parts)
        joiner = rng.choice((" ", "  ", " " + rng.choice(_EMOJI) + " ", "\n"))
        doc.text = joiner.join(parts)
        if style in ("chat", "ad") and rng.random() < 0.5:
            doc.text = doc.text.lower() if style == "chat" else doc.text
        return doc

    def _ident(self, doc: HardDoc) -> str:
        rng = self.rng
        lang = doc.language
        r = rng.random()
        if r < 0.55:
            self.k += 1
            disguise = PHONE_DISGUISES[self.k % len(PHONE_DISGUISES)]
            region = rng.choice(_HOME[lang] + ("PH", "IT", "TH", "ES", "US"))
            e = _valid_mobile(rng, region)
            national = disguise != "intl" and rng.random() < 0.7
            named = ""
            if national:
                # the region must be recoverable: stated, or named in the text
                if doc.country in (None, region) and rng.random() < 0.6:
                    doc.country = region
                else:
                    named = _COUNTRY_NAME.get(region, {}).get(lang, "")
                    if not named:
                        national = False
            surface = render_phone(rng, e, lang, national, disguise)
            doc.truth.add(("phone", e))
            doc.implied.add(("whatsapp", e))
            doc.phone_disguise[e] = disguise
            return f"{surface} ({named})" if named else surface
        if r < 0.7:
            value, surface = _email(rng, lang)
            doc.truth.add(("email", value))
            doc.implied.add(("domain", ids.norm_domain(value.split("@")[1])))
            return surface
        if r < 0.82:
            value, surface, dom = _url(rng)
            doc.truth.add(("url", value))
            doc.implied.add(("domain", dom))
            return surface
        truth, surface = _handle(rng, lang)
        doc.truth |= truth
        return surface


def hard_corpus(seed: int = 1, n: int = 1000) -> list[HardDoc]:
    """``n`` documents of the harder corpus (deterministic for a seed)."""
    g = _Gen(seed)
    return [g.doc() for _ in range(n)]
