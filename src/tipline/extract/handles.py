"""Messaging handles named after a cue word: Telegram, Skype, Snapchat, Kik, Discord, WhatsApp.

Links (``t.me/name``, ``t.me/+<code>`` invites, ``wa.me/<digits>``, ``discord.gg/<code>``,
``snapchat.com/add/name``, ``kik.me/name``) are read by :mod:`.network`; this module reads the prose forms:

* ``skype:name`` URIs and ``live:.cid.…`` / ``live:name`` ids anywhere (they are unambiguous);
* ``@name`` — attributed to the platform whose cue word is nearest before it (or shortly after);
  an Instagram/Twitter/… cue wins the arbitration and the handle is not emitted;
* ``<cue> [id|username|is|…] [:|=|-] [@]name`` — with an explicit separator or ``@``, or a name that
  carries a digit, ``_`` or ``.`` (so "talk on kik about it" yields nothing);
* legacy Discord tags ``name#1234`` near a Discord cue;
* WhatsApp: a phone number whose nearest cue is WhatsApp (done after the phone pass).
"""

from __future__ import annotations

import re

from .network import TELEGRAM_RESERVED, messaging_handle
from .platforms import UNKNOWN, canonical_platform, platforms
from .text import Collector, Cues, Found

_NAME_RES = {
    "telegram": re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}"),
    "skype": re.compile(r"live:(?:\.cid\.)?[A-Za-z0-9._\-]{3,40}|[A-Za-z][A-Za-z0-9._,\-]{5,31}"),
    "snapchat": re.compile(r"[A-Za-z][A-Za-z0-9._\-]{1,13}[A-Za-z0-9]"),
    "kik": re.compile(r"[A-Za-z][A-Za-z0-9._]{1,19}"),
    "discord": re.compile(r"[A-Za-z0-9_.]{2,32}"),
}
_STOP = frozenset(
    "me is and the on at id username user name handle account acc not no none only also too ko niya mo ang "
    "ng sa si di il la mio tuo suo e or o my your his her their was are to for with from this that it "
    "here there please pls po call text chat add message msg dm contact group channel app link "
    "same still now yes ok okay via using use used".split()
)
# Ordinary words that follow a platform name in prose ("on kik later", "his discord server"): a
# plain-word name after a possessive cue ("my kik annasmith") must not be one of these.
_PROSE = frozenset(
    """
    about after again all also always an and any anymore app are around as asked at away back be because
    been before being but by call called calls can chat chats could daily did do does doing done down
    during each every everyday everything few first for found friend friends from full gave get gets got
    group groups had has have he her here him his how i if in instead is it its just know last later like
    link live looked lot made many may me message messages more most much my name never new next night no
    not now number of off often ok on once one only or other our out over page people photo photos please
    posted private profile really said same saw says see seen sent server she should since so some still
    story such talk talked tell than that the their them then there these they this those through time
    to today told tomorrow tonight too two until up us use used user using usually very video videos was
    we week well went were what when where which while who why will with without would year yesterday yet
    you your account accounts channel contact contacts handle id username chiamate chat con del della di
    dopo e gli ha il in la le lo ma mi mio nel non o per poi profilo si su sua suo ti tra tuo un una
    ako ang at ay ba din dito dun ito kanya kasi ko lang mga mo na naman namin natin ng ngayon niya nila
    pa po rin sa si siya sila sya yung
    """.split()
)
_POSSESSIVE_BEFORE_RE = re.compile(
    r"(?:\b(?:my|his|her|their|our|add\s+me\s+on|add\s+me|add|follow\s+me\s+on|ang|yung|ni|il\s+(?:mio|suo)"
    r"|aggiungimi\s+su|sul\s+mio|sa)\s+)$",
    re.IGNORECASE,
)
_CUE_TAIL_RE = re.compile(
    r"(?:\s*(?:(?:'s|’s|id|username|user\s*name|user|name|handle|account|acc|acct|tag|is|me|on|at|ko|ay|"
    r"niya|mio|mia|è|e|il|lo|ang|sa|profile|profilo)(?![\w@.\-])|[:=\-–—(]|[→➡⇒➜►▶👉]\ufe0f?))*\s*(@?)"
    r"([^\s,;!?()\[\]{}<>\"']+)",
    re.IGNORECASE,
)
# an arrow between a cue and a name is read as a separator, but not as an explicit one: ads use arrows as
# bullets ("Telegram 👉 precio 30 euros"), so the name after one must carry a digit, "_" or "."
_EXPLICIT_SEP_RE = re.compile(r"[:=\-–—]")
_AT_HANDLE_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.\-]{2,32})")
_SKYPE_URI_RE = re.compile(r"\bskype:([A-Za-z][A-Za-z0-9._,\-]{5,31})(?:\?[a-z]+)?", re.IGNORECASE)
_SKYPE_LIVE_RE = re.compile(r"(?<![\w:])live:(?:\.cid\.[0-9a-fA-F]{6,32}|[A-Za-z][A-Za-z0-9._\-]{2,40})")
# a Telegram link as a structured field holds it: a profile ("t.me/name", "t.me/s/name", a post
# "t.me/name/12"), an invite, a private channel's message ("t.me/c/<id>/<n>")
_TELEGRAM_LINK_RE = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.(?:me|dog)/([A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_\-]+)*)/?", re.IGNORECASE
)
# the app's own links: "tg://resolve?domain=<name>" opens a profile, "tg://join?invite=<code>" an invite
_TELEGRAM_URI_RE = re.compile(
    r"(?<![\w/])tg://(?:resolve\?domain=([A-Za-z][A-Za-z0-9_]{4,31})|join\?invite=([A-Za-z0-9_\-]{5,64}))(?![\w\-])",
    re.IGNORECASE,
)
_DISCORD_TAG_RE = re.compile(r"(?<![\w#@])([^\s#@:,;]{2,32})#(\d{4})(?!\d)")
HANDLE_KINDS = ("telegram", "skype", "snapchat", "kik", "discord")
# Platforms whose cue says nothing about a handle (a WhatsApp "handle" is a phone; "email" is a kind)
_NOT_ACCOUNTS = frozenset({"whatsapp", "email"})
_ACCOUNT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,39}")
# "name on platform" in the languages we read: en on/at, it su/sul, tl sa, es/pt en/em/no, fr sur, de auf
_ON_PLATFORM_RE = re.compile(
    r"(?<![\w@.])(@?)([A-Za-z0-9][A-Za-z0-9._\-]{2,39})\s+(?:on|at|su|sul|sa|en|em|no|na|sur|auf|in)\s+$",
    re.IGNORECASE,
)


def clean_account(platform: str | None, raw: str) -> str | None:
    """``<platform id>/<name>`` for an account on a platform without a kind of its own (the platform
    through :func:`tipline.extract.platforms.canonical_platform`; ``unknown`` when not known), name in
    lower case without ``@``; None when the name cannot be a handle."""
    name = raw.strip().lstrip("@").rstrip(".").lower()
    if "/" in name and platform is None:
        platform, _, name = name.partition("/")
    if name.startswith("$") and canonical_platform(platform) == "cashapp":
        name = name[1:]  # a cashtag is its name without the "$"
    if not name or any(c.isspace() for c in name) or len(name) > 100:
        return None
    return f"{canonical_platform(platform)}/{name}"


def account_for(platform: str | None, raw: str) -> tuple[str, str] | None:
    """(kind, value) of a handle on a platform: the platform's own kind when it has one (telegram, ...),
    else an ``account``."""
    pid = canonical_platform(platform) if platform else UNKNOWN
    p = platforms().get(pid)
    if p is not None and p.kind in HANDLE_KINDS:
        v = clean_handle(p.kind, raw)
        return (p.kind, v) if v else None
    if p is not None and p.kind is not None:
        return None  # whatsapp: a phone, read elsewhere
    v = clean_account(pid, raw)
    return ("account", v) if v else None


def clean_handle(kind: str, raw: str) -> str | None:
    """The normal form of a handle of ``kind`` or None. Lower-case for every platform except legacy
    Discord tags (kept as written), Discord invites (``discord.gg/<code>``, case kept) and Telegram
    invites (``t.me/+<code>`` also for ``t.me/joinchat/<code>``, ``t.me/addlist/<code>``, case kept)."""
    s = raw.strip().rstrip(".")
    if kind == "discord":
        m = re.fullmatch(
            r"(?:https?://)?(?:www\.)?(?:discord\.gg/|discord(?:app)?\.com/invite/)([A-Za-z0-9\-]{2,32})/?", s
        )
        if m:
            return "discord.gg/" + m.group(1)
        m = _DISCORD_TAG_RE.fullmatch(s)
        if m:
            return s
        s = s.lstrip("@").lower()
        if _NAME_RES["discord"].fullmatch(s) and ".." not in s and s not in _STOP:
            return s
        return None
    if kind == "skype":
        if s.lower().startswith("skype:"):
            s = s[6:].split("?")[0]
    elif kind == "telegram":
        m = _TELEGRAM_URI_RE.fullmatch(s)
        if m:
            return telegram_uri(m)
        m = _TELEGRAM_LINK_RE.fullmatch(s)
        if m:  # read as the same link in a text is read (t.me/+<digits> is a phone: not a handle)
            found = messaging_handle("t.me", m.group(1), "")
            return found[1] if found is not None and found[0] == "telegram" else None
        if s.lstrip("@").lower() in TELEGRAM_RESERVED:
            return None  # "joinchat", "addstickers": t.me paths, never a username
    elif kind == "snapchat":
        m = re.fullmatch(r"(?:https?://)?(?:www\.)?snapchat\.com/(?:add/|@)([^/\s]+)/?", s, re.IGNORECASE)
        if m:
            s = m.group(1)
    elif kind == "kik":
        m = re.fullmatch(r"(?:https?://)?kik\.me/([^/\s]+)/?", s, re.IGNORECASE)
        if m:
            s = m.group(1)
    s = s.lstrip("@")
    if not _NAME_RES[kind].fullmatch(s) or s.lower() in _STOP:
        return None
    return s.lower()


def telegram_uri(m: re.Match[str]) -> str:
    """The telegram value of a ``tg://`` link matched by ``_TELEGRAM_URI_RE``: the name, or the invite."""
    return m.group(1).lower() if m.group(1) else "t.me/+" + m.group(2)


def extract_handles(col: Collector, cue_list: Cues) -> None:
    """Every handle of the text, in order of certainty: unambiguous Skype and Telegram app forms, Discord
    tags, a name after its cue, "name on platform", then an ``@name`` attributed to its nearest cue."""
    _skype_forms(col)
    for m in _TELEGRAM_URI_RE.finditer(col.text) if "g://" in col.text or "G://" in col.text else ():
        if col.free(*m.span()):
            col.add("telegram", telegram_uri(m), m.start(), m.end(), 0.95)
    _discord_tags(col, cue_list)
    claimed: set[int] = set()  # cues that name a handle of their own ("IG: name")
    for cs, ce, platform in cue_list.items:
        if platform not in _NOT_ACCOUNTS and _cue_name(col, cs, ce, platform):
            claimed.add(cs)
    for cs, _ce, platform in cue_list.items:
        if platform not in _NOT_ACCOUNTS and _name_on_platform(col, cs, platform):
            claimed.add(cs)
    _at_names(col, cue_list, claimed)


def _skype_forms(col: Collector) -> None:
    """1. ``skype:name`` URIs and ``live:`` ids, anywhere."""
    text = col.text
    # (speed: the ":" test spares most texts the lower-cased copy)
    for m in _SKYPE_URI_RE.finditer(text) if ":" in text and "skype:" in text.lower() else ():
        if col.free(*m.span()):
            value = clean_handle("skype", m.group(1))
            if value:
                col.add("skype", value, m.start(), m.end(), 0.95)
    for m in _SKYPE_LIVE_RE.finditer(text) if "live:" in text else ():
        s = m.group().rstrip(".")
        if col.free(m.start(), m.start() + len(s)):
            col.add("skype", s.lower(), m.start(), m.start() + len(s), 0.95)


def _discord_tags(col: Collector, cue_list: Cues) -> None:
    """2. Legacy Discord tags (``name#1234``) near a Discord cue."""
    text = col.text
    for m in _DISCORD_TAG_RE.finditer(text) if "#" in text else ():
        if cue_list.nearest(m.start(), m.end(), before=60, after=30) == "discord" and col.free(*m.span()):
            col.add("discord", m.group(), m.start(), m.end(), 0.85)


def _cue_name(col: Collector, cs: int, ce: int, platform: str) -> bool:
    """3. cue + [filler] + name. True when the cue names its handle with an explicit separator (it then
    claims the cue: no ``@name`` later is attributed to it)."""
    text = col.text
    m = _CUE_TAIL_RE.match(text, ce, min(len(text), ce + 80))
    if not m:
        return False
    at, name = m.group(1), m.group(2)
    name_start = m.start(2)
    filler = text[ce : m.start(1)]
    # the filler is only linking words and separators, so the name belongs to this cue; a
    # paragraph break in between breaks the link
    if "\n\n" in filler:
        return False
    name = name.rstrip(".:")
    if platform == "discord" and _DISCORD_TAG_RE.fullmatch(name):
        return False  # handled above
    kind = platform if platform in HANDLE_KINDS else "account"
    if platform == "cashapp" and not at and name.startswith("$"):
        at, name = "$", name[1:]  # a cashtag: "$" marks the name as "@" does
        name_start += 1
    if kind == "account":
        bare = name.lstrip("@")
        if not _ACCOUNT_NAME_RE.fullmatch(bare) or bare.lower() in _STOP or not any(c.isalpha() for c in bare):
            return False  # "viber: 0918 765 4321" is a phone, read by the phone pass
        value = clean_account(platform, name)
    else:
        value = clean_handle(platform, name)
    if value is None:
        return False
    explicit = bool(at) or bool(_EXPLICIT_SEP_RE.search(filler))
    marked = any(c.isdigit() or c in "_." for c in name)
    if platform == "snapchat" and text[cs:ce].lower() == "sc" and not explicit:
        return False
    plain = False
    if not (explicit or marked):
        # "my kik annasmith", "add me on snap lorenzo": a plain word after a possessive cue, kept
        # at low confidence unless it is an everyday word
        if (
            filler.strip()
            or len(name) < 4
            or name.lower() in _PROSE
            or not _POSSESSIVE_BEFORE_RE.search(text, max(0, cs - 20), cs)
        ):
            return False
        plain = True
    start = m.start(1) if at == "@" else (name_start - 1 if at else name_start)
    end = name_start + len(name)
    if not col.free(start, end):
        return False
    if kind == "account" and not (explicit or marked):
        return False  # a plain word after "instagram" is prose more often than a name
    conf = 0.85 if at else (0.75 if explicit else (0.4 if plain else 0.6))
    col.add(kind, value, start, end, conf)
    return explicit


def _name_on_platform(col: Collector, cs: int, platform: str) -> bool:
    """4. "name on platform" (en on, it su, tl sa, es en, pt em, fr sur, de auf): a marked name or an
    @name. True when one is found (it claims the cue)."""
    m = _ON_PLATFORM_RE.search(col.text, max(0, cs - 45), cs)
    if not m:
        return False
    at, name = m.group(1), m.group(2).rstrip(".")
    if not (at or any(c.isdigit() or c in "_." for c in name)) or name.lower() in _PROSE:
        return False
    start, end = m.start(1), m.start(2) + len(name)
    r = account_for(platform, name)
    if r and col.free(start, end):
        col.add(r[0], r[1], start, end, 0.8 if at else 0.7)
        return True
    return False


def _at_names(col: Collector, cue_list: Cues, claimed: set[int]) -> None:
    """5. @name attributed to the nearest unclaimed cue; with none near, an account on an unknown platform."""
    text = col.text
    for m in _AT_HANDLE_RE.finditer(text) if "@" in text else ():
        name = m.group(1).rstrip(".-")
        start, end = m.start(), m.start(1) + len(name)
        if not col.free(start, end):
            continue
        platform = cue_list.nearest(start, end, before=50, after=25, skip=claimed)
        if platform in _NOT_ACCOUNTS:
            platform = None
        if platform is None:
            # a bare @name: kept when it looks like a handle (a digit, "_" or ".", or six letters or more)
            if len(name) < 4 or not (any(c.isdigit() or c in "_." for c in name) or len(name) >= 6):
                continue
            if name.lower() in _PROSE or name.lower() in _STOP or name.isdigit():
                continue
        r = account_for(platform, name)
        if r is None:
            continue
        col.add(r[0], r[1], start, end, 0.85 if platform else 0.6)


def add_whatsapp(col: Collector, cue_list: Cues) -> None:
    """A phone whose nearest cue is WhatsApp is also a ``whatsapp`` entity (same value and span)."""
    phones: list[Found] = [f for f in col.found if f.kind == "phone"]
    linked = [(f.start, f.end) for f in col.found if f.kind == "whatsapp"]
    for f in phones:
        if any(s < f.end and f.start < e for s, e in linked):
            continue  # already a wa.me link
        if cue_list.nearest(f.start, f.end, before=40, after=20) == "whatsapp":
            col.add("whatsapp", f.value, f.start, f.end, min(f.confidence, 0.9), mask=False, disguise=f.disguise)
