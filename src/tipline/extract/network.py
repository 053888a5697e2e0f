"""URLs, domains, e-mail addresses, IP addresses and onion services (plain, defanged or obfuscated)."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import tldextract

from .crypto import onion_v3_valid
from .platforms import platform_of_host
from .text import Collector, View

# Bundled public-suffix snapshot only: no fetch, no cache directory.
_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)

# Hosts of the messaging services themselves. A link to one of them yields the *handle* (telegram,
# whatsapp, discord, snapchat, kik) — never a ``domain`` entity, which would link every report that
# mentions Telegram to every other one.
MESSAGING_DOMAINS = frozenset(
    {
        "t.me",
        "telegram.me",
        "telegram.dog",
        "telegram.org",
        "wa.me",
        "whatsapp.com",
        "discord.gg",
        "discord.com",
        "discordapp.com",
        "snapchat.com",
        "kik.me",
        "kik.com",
        "skype.com",
    }
)
# Profile links of the platforms without a kind of their own: they yield the URL and an ``account``
# ("instagram/name"), never a ``domain`` (which would link every report that names Instagram).
PROFILE_DOMAINS = frozenset(
    {
        "instagram.com",
        "instagr.am",
        "facebook.com",
        "fb.com",
        "fb.me",
        "m.me",
        "tiktok.com",
        "x.com",
        "twitter.com",
        "onlyfans.com",
        "line.me",
        "wechat.com",
        "qq.com",
        "viber.com",
        "signal.me",
        "signal.group",
        "threads.net",
        "youtube.com",
        "youtu.be",
        "reddit.com",
        "cash.app",
        "cash.me",
        "venmo.com",
        "paypal.me",
        "paypal.com",
    }
)
_PROFILE_RESERVED = frozenset(
    "p reel reels explore stories accounts tv direct about help legal privacy terms login signup share "
    "groups pages watch events marketplace photo photos video videos story.php permalink.php sharer "
    "sharer.php dialog i home search hashtag intent settings messages notifications tag music discover "
    "live embed shorts channel results r user u c ti".split()
)

# Suffixes that are also everyday words in en/it/tl ("told.me", "ako.sa", "ok.so"). A bare domain
# ending in one of these needs extra evidence (a cue word, a defang, a digit or hyphen in the name,
# three or more labels).
_WORDY_SUFFIXES = frozenset(
    "in me it is at to be no us am so do go my on as na ng sa ba pa mo si ni il la ci se ma ne de es by ai id".split()
)
# Suffixes that are more often file extensions than domains in a report ("clip.mov", "notes.md").
_FILE_SUFFIXES = frozenset("zip mov py sh rs pl md ps ai so mp pdf doc jpg png gif txt exe".split())
_COMMON_TLDS = frozenset(
    "com net org info biz io co xyz top online site app dev me tv cc ws club shop store live link "
    "page blog name pro mobi asia icu vip".split()
)
_SITE_CUE_RE = re.compile(
    r"\b(?:site|website|web|sito|link|domain|dominio|visit|visita|url|page|pagina|go\s+to|vai\s+su|"
    r"punta|bisita|(?:www|https?)(?![:./])|server|host|portal|link\s+niya)\b",
    re.IGNORECASE,
)

_HLABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_TLD_LABEL = r"[^\W\d_]{2,24}"
_URL_CHARS = r"[^\s<>\"'`{}|\\^\[\]]"

SCHEME_URL_RE = re.compile(rf"\b(?:(?:https?|ftp)://|www\.){_URL_CHARS}+", re.IGNORECASE)
BARE_URL_RE = re.compile(
    rf"(?<![\w@./:%+-])((?:{_HLABEL}\.)+{_TLD_LABEL})(?![\w@-]|\.[^\W_])(:\d{{2,5}})?(/{_URL_CHARS}*)?",
    re.IGNORECASE,
)
ONION_RE = re.compile(
    rf"(?<![\w.])(?:[\w-]+\.)*([a-z2-7]{{56}}|[a-z2-7]{{16}})\.onion\b(/{_URL_CHARS}*)?", re.IGNORECASE
)

_LOCAL = r"[\w%+\-](?:[\w.%+\-]{0,63}[\w%+\-])?"
# "at" and "dot" as people write them in every language we read: en/tl at, dot, tuldok; it chiocciola,
# punto; es/pt arroba, punto/ponto; fr arobase, point; de at, punkt
AT_WORDS = ("at", "chiocciola", "chiocciolina", "arroba", "arobase")
DOT_WORDS = ("dot", "punto", "tuldok", "ponto", "point", "punkt")
_AT = rf"(?:@|\s@\s|\s+(?:{'|'.join(AT_WORDS)})\s+)"
_DOT = rf"(?:\.|\s\.\s|\s+(?:{'|'.join(DOT_WORDS)})\s+)"
_DOT_RE = re.compile(_DOT, re.IGNORECASE)
EMAIL_RE = re.compile(
    rf"(?<![\w.%+\-@])(?P<local>{_LOCAL})(?P<at>{_AT})(?P<domain>{_HLABEL}(?:{_DOT}{_HLABEL})+)",
    re.IGNORECASE,
)
# Words that precede " at " in ordinary sentences ("meet me at home dot ..."): never a local part
# when the @ is spelled as a word.
_WORD_AT_STOP = frozenset(
    "me us him her them it you i we they look looking is was were are am be meet stay stayed lives live "
    "living arrive arrived here there home work works working school located based ako siya kami tayo sila "
    "niya ci sono siamo vediamo sta stanno e and or o to the a an".split()
)
# Words after which the English " at " names a place, not a mailbox: an object pronoun ("find me at"), a
# noun or adverb of place ("my backup at", "live at", "the mirror at", "il mio sito at", "nandito at") or a
# "find me" verb ("trovami at"). The host spelled after them is a site: a domain, never an e-mail's
# ("my backup at stream-vip2 dot net"), and the phrase is a site cue for it. Mailbox words ("info",
# "contact", "support", "admin", "rooms", "shop") are not listed: "info at example dot com" stays an
# e-mail, and so does a listed word right after an e-mail cue ("e-mail: backup at ...").
_AT_PRONOUNS = frozenset("me us him her them you it ako kami".split())
_AT_PLACE = _AT_PRONOUNS | frozenset(
    """
    here there now also still only exclusively available hosted posted uploaded
    backup backups mirror mirrors site sites website websites homepage page pages stream streams streaming
    live livestream online channel channels server servers link links profile gallery album videos vids pics
    photos
    sito pagina canale profilo diretta qui qua trovami cercami seguimi trovaci seguici guardami
    sitio página canal perfil aquí aqui encuéntrame encuentrame búscame buscame sígueme sigueme síguenos
    dito doon dun nandito andito nandoon nandun andun nandyan andyan
    """.split()
)
# A place phrase right before a host ("find me at", "trovami su", "encuéntrame en", "nasa"): a site cue.
# A pronoun after "meet"/"see" is a meeting place ("meet me at home dot com" is a sentence).
_PLACE_CUE_RE = re.compile(
    rf"(?:(?<!meet\s)(?<!see\s)\b(?:{'|'.join(sorted(_AT_PRONOUNS))})\s+at"
    rf"|\b(?:{'|'.join(sorted(_AT_PLACE - _AT_PRONOUNS))})\s+at|\b(?:trova|cerca|segui|guarda)(?:mi|ci)\s+(?:su|sul|in)"
    r"|\b(?:encu[eé]ntra|b[uú]sca|s[ií]gue)(?:me|nos)\s+en|\bnasa(?:\s+(?:ang|sa))?"
    r"|\bhanapin\s+(?:mo|nyo|niyo|ninyo)\s+(?:ako|kami)\s+sa)\s+$",
    re.IGNORECASE,
)

SPELLED_DOMAIN_RE = re.compile(
    rf"(?<![\w@.-])({_HLABEL}(?:\s+(?:{'|'.join(DOT_WORDS)})\s+{_HLABEL})+)(?![\w@-])", re.IGNORECASE
)
_SPELLED_DOT_RE = re.compile(rf"\s+(?:{'|'.join(DOT_WORDS)})\s+", re.IGNORECASE)

_HANDLE_CUE_BEFORE_RE = re.compile(
    r"\b(?:skype|skipe|kik|snap(?:chat)?|discord|insta(?:gram)?|ig|tiktok|twitter|line(?:\s+id)?|wechat|viber"
    r"|threads|onlyfans)\s*(?:id|name|user(?:\s*name)?|handle|account)?\s*[:=\-]\s*@?$",
    re.IGNORECASE,
)

IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
IPV6_RE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])")

TELEGRAM_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
# t.me paths that are not usernames: invites, sticker/theme/emoji sets, proxies, service pages
TELEGRAM_RESERVED = frozenset(
    "joinchat addlist addstickers addemoji addtheme share proxy socks iv setlanguage confirmphone login "
    "contact invoice giftcode boost bg".split()
)
# An invite code (``t.me/+<code>``, ``t.me/joinchat/<code>``; ``t.me/addlist/<code>`` a folder of chats)
# names a private group or channel: a ``telegram`` entity "t.me/+<code>" / "t.me/addlist/<code>", case
# kept (the code is case-sensitive), never a username. ``t.me/+<digits>`` opens the chat of a phone number.
# ``t.me/c/<id>/<message>`` links to a message of a private channel: "t.me/c/<id>" names that channel.
TELEGRAM_INVITE_RE = re.compile(r"[A-Za-z0-9_\-]{5,64}")
SNAP_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._\-]{2,14}")
KIK_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._]{1,19}")
DISCORD_INVITE_RE = re.compile(r"[A-Za-z0-9\-]{2,32}")


@lru_cache(maxsize=65536)
def registered_domain(host: str) -> str | None:
    """Registered domain (``example.co.uk``) of a host name, from the bundled public-suffix list."""
    host = host.strip(".").lower()
    if not host or ".." in host:
        return None
    r = _TLD(host)
    if not r.suffix or not r.domain or r.suffix == "onion":
        return None
    return f"{r.domain}.{r.suffix}"


def _trim_url(s: str) -> str:
    while s:
        c = s[-1]
        if c in ".,;:!?'\"*":
            s = s[:-1]
        elif c == ")" and s.count("(") < s.count(")"):
            s = s[:-1]
        else:
            break
    return s


def normalise_ip(s: str) -> tuple[str, str] | None:
    try:
        ip = ipaddress.ip_address(s.strip().strip("[]"))
    except ValueError:
        return None
    return ("ipv4" if ip.version == 4 else "ipv6"), ip.compressed


def normalise_onion(s: str) -> str | None:
    s = s.strip().lower()
    m = re.fullmatch(r"(?:https?://)?(?:[\w-]+\.)*([a-z2-7]{56}|[a-z2-7]{16})\.onion/?", s)
    if not m:
        return None
    label = m.group(1)
    if len(label) == 56 and not onion_v3_valid(label):
        return None
    return label + ".onion"


class ParsedUrl:
    __slots__ = ("normal", "host", "host_start", "host_end", "path", "query")

    def __init__(self, normal: str, host: str, host_start: int, host_end: int, path: str, query: str):
        self.normal, self.host, self.host_start, self.host_end = normal, host, host_start, host_end
        self.path, self.query = path, query


def parse_url(s: str) -> ParsedUrl | None:
    """Normalise a URL string (defanged already): scheme + lower-case host + path (+ query), no
    fragment, http:// when the scheme is missing. ``host_start``/``host_end`` index into ``s``."""
    has_scheme = "://" in s[:10]
    full = s if has_scheme else "http://" + s
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError:
        return None
    hostname = parts.hostname or ""  # (a computed property: read once, for speed)
    host = hostname.rstrip(".")
    if not host:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ftp"):
        return None
    netloc_start = (s.find("//") + 2) if has_scheme else 0
    netloc = parts.netloc
    at = netloc.rfind("@")
    hs = netloc_start + at + 1
    he = hs + len(hostname)
    if not hostname.isascii():
        # urlsplit lower-cases the host, and a lower-cased letter can be longer ("İ" -> "i̇"): measure the
        # host as written (after any user info, before a port), never past the end of ``s``
        he = min(len(s), hs + len(netloc[at + 1 :].partition(":")[0]))
    host = host.lower()
    path = parts.path or "/"
    normal = f"{scheme}://{host}{':' + str(port) if port else ''}{path}"
    if parts.query:
        normal += "?" + parts.query
    return ParsedUrl(normal, host, hs, he, parts.path, parts.query)


_MAY_BE_IP_RE = re.compile(r"[0-9:]")


def host_kind(host: str) -> tuple[str, str] | None:
    """('domain', registered) / ('ipv4'|'ipv6', ip) / ('onion', name) for a URL host, or None."""
    # (speed: an IP address has an ASCII digit or a ":"; ipaddress raises, slowly, on every host name)
    ip = normalise_ip(host) if _MAY_BE_IP_RE.search(host) else None
    if ip:
        return ip
    if host.endswith(".onion"):
        o = normalise_onion(host)
        return ("onion", o) if o else None
    reg = registered_domain(host)
    return ("domain", reg) if reg else None


def messaging_handle(host: str, path: str, query: str) -> tuple[str, str] | None:
    """(kind, value) for a link to a messaging service profile/invite, else None."""
    reg = registered_domain(host) or host
    segs = [p for p in path.split("/") if p]
    if reg in ("t.me", "telegram.me", "telegram.dog"):
        invite = telegram_invite(segs)
        if invite is not None:
            return invite
        if len(segs) > 1 and segs[0] == "c" and segs[1].isdigit():
            return "telegram", f"t.me/c/{segs[1]}"  # a private channel's message link: the channel, by its id
        if segs and segs[0] == "s" and len(segs) > 1:
            segs = segs[1:]
        if segs and TELEGRAM_NAME_RE.fullmatch(segs[0]) and segs[0].lower() not in TELEGRAM_RESERVED:
            return "telegram", segs[0].lower()
        return None
    if reg == "wa.me" and segs and segs[0].removeprefix("+").isdigit():
        return "whatsapp", "+" + segs[0].removeprefix("+")  # wa.me/<digits>, also written wa.me/+<digits>
    if reg == "whatsapp.com" and segs[:1] == ["send"]:
        phone = parse_qs(query).get("phone", [""])[0].lstrip("+")
        if phone.isdigit():
            return "whatsapp", "+" + phone
        return None
    if reg in ("discord.gg",) and segs and DISCORD_INVITE_RE.fullmatch(segs[0]):
        return "discord", "discord.gg/" + segs[0]
    if reg in ("discord.com", "discordapp.com") and len(segs) > 1 and segs[0] == "invite":
        if DISCORD_INVITE_RE.fullmatch(segs[1]):
            return "discord", "discord.gg/" + segs[1]
        return None
    if reg == "snapchat.com" and segs:
        name = segs[1] if segs[0] == "add" and len(segs) > 1 else segs[0].lstrip("@") if segs[0][0] == "@" else ""
        if name and SNAP_NAME_RE.fullmatch(name):
            return "snapchat", name.lower()
        return None
    if reg == "kik.me" and segs and KIK_NAME_RE.fullmatch(segs[0]):
        return "kik", segs[0].lower()
    return None


def telegram_invite(segs: list[str]) -> tuple[str, str] | None:
    """(kind, value) of a Telegram invite path (its segments after the host): ("telegram", "t.me/+<code>")
    for ``+<code>`` and ``joinchat/<code>`` (two spellings of one invite), ("telegram",
    "t.me/addlist/<code>") for a folder invite, ("phone", "+<digits>") for ``+<digits>``, else None."""
    code, form = "", "+"
    if segs and segs[0].startswith("+"):
        code = segs[0][1:]
        if code.isdigit():
            return ("phone", segs[0]) if len(segs) == 1 else None
    elif len(segs) >= 2 and segs[0].lower() in ("joinchat", "addlist"):
        code, form = segs[1], ("+" if segs[0].lower() == "joinchat" else "addlist/")
    if code and len(segs) <= (1 if segs[0].startswith("+") else 2) and TELEGRAM_INVITE_RE.fullmatch(code):
        return "telegram", f"t.me/{form}{code}"
    return None


def profile_account(host: str, path: str, query: str) -> str | None:
    """``<platform>/<name>`` of a profile link on a platform without a kind of its own, else None."""
    pid = platform_of_host(host)
    if pid is None:
        return None
    segs = [p for p in path.split("/") if p]
    name = ""
    if pid == "facebook" and segs[:1] == ["profile.php"]:
        name = parse_qs(query).get("id", [""])[0]
    elif pid == "line" and len(segs) >= 3 and segs[-3:-1] == ["ti", "p"]:
        name = segs[-1].lstrip("~@")
    elif pid == "reddit" and len(segs) >= 2 and segs[0] in ("user", "u"):
        name = segs[1]
    elif pid == "youtube" and segs and segs[0].startswith("@"):
        name = segs[0][1:]
    elif pid == "instagram" and len(segs) >= 2 and segs[0] == "stories":
        name = segs[1]
    elif pid in ("tiktok", "threads") and segs and segs[0].startswith("@"):
        name = segs[0][1:]
    elif pid == "cashapp" and segs and segs[0].startswith("$"):
        name = segs[0][1:]  # cash.app/$cashtag
    elif pid in ("venmo", "paypal") and len(segs) >= 2 and segs[0].lower() in ("u", "paypalme"):
        name = segs[1]  # venmo.com/u/name, paypal.com/paypalme/name
    elif pid == "paypal" and host.lower().removeprefix("www.") == "paypal.me" and segs:
        name = segs[0]  # paypal.me/name (paypal.com/signin and the like name nobody)
    elif (
        pid in ("instagram", "facebook", "x", "onlyfans", "wechat")
        and segs
        and segs[0].lower() not in _PROFILE_RESERVED
    ):
        name = segs[0].lstrip("@")
    if not name or not _PROFILE_NAME_RE.fullmatch(name):
        return None
    return f"{pid}/{name.lower()}"


_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")


def _emit_url(col: Collector, view: View, a: int, b: int, s: str, conf: float, phone_fn) -> bool:
    """Emit url (+ domain/ip/onion, or the messaging handle) for view[a:b] == s. True if emitted."""
    pu = parse_url(s)
    if pu is None:
        return False
    hk = host_kind(pu.host)
    if hk is None:
        return False
    start, end = view.span(a, b)
    if not col.free(start, end):
        return False
    dis = "defanged" if view.was_defanged(a, b) else ""
    hs, he = view.span(a + pu.host_start, a + pu.host_end)
    reg = hk[1] if hk[0] == "domain" else None
    if reg in MESSAGING_DOMAINS:
        handle = messaging_handle(pu.host, pu.path, pu.query)
        if handle is not None:
            kind, value = handle
            if kind == "phone":
                phone = phone_fn(value)  # t.me/+<digits>: the chat of a phone number
                if phone is None:
                    col.add("url", pu.normal, start, end, conf, disguise=dis)
                    return True
                col.add("phone", phone, start, end, conf, disguise=dis)
                return True
            if kind == "whatsapp":
                phone = phone_fn(value)
                if phone is None:
                    return False
                col.add("whatsapp", phone, start, end, conf, disguise=dis)
                # the digits part of the link is the phone
                digits = value[1:]
                off = s.find(digits)
                ps, pe = view.span(a + off, a + off + len(digits)) if off >= 0 else (start, end)
                col.add("phone", phone, ps, pe, conf, mask=False)
            else:
                col.add(kind, value, start, end, conf, disguise=dis)
            return True
        col.add("url", pu.normal, start, end, conf, disguise=dis)  # e.g. chat.whatsapp.com/<code>: the URL
        return True
    if reg in PROFILE_DOMAINS:
        col.add("url", pu.normal, start, end, conf, disguise=dis)
        acct = profile_account(pu.host, pu.path, pu.query)
        if acct:
            col.add("account", acct, start, end, conf, mask=False, disguise=dis)
        return True
    col.add("url", pu.normal, start, end, conf, disguise=dis)
    host_conf = conf
    if hk[0] == "onion":
        host_conf = 0.99 if len(hk[1]) == 62 else 0.3  # v3 checksum verified / v2
    col.add(hk[0], hk[1], hs, he, host_conf, mask=False, disguise=dis)
    return True


def extract_scheme_urls(col: Collector, view: View, phone_fn) -> None:
    for m in SCHEME_URL_RE.finditer(view.text):
        s = _trim_url(m.group())
        a, b = m.start(), m.start() + len(s)
        conf = 0.95 if s[:4].lower() != "www." else 0.9
        _emit_url(col, view, a, b, s, conf, phone_fn)


def extract_onions(col: Collector, view: View) -> None:
    for m in ONION_RE.finditer(view.text):
        label = m.group(1).lower()
        if len(label) == 56:
            if not onion_v3_valid(label):
                continue
            conf = 0.99
        else:
            conf = 0.3
        path = _trim_url(m.group(2) or "")
        a = m.start()
        b = m.end(1) + len(".onion") + len(path)
        start, end = view.span(a, b)
        if not col.free(start, end):
            continue
        value = label + ".onion"
        if len(path) > 1:
            col.add("url", "http://" + view.text[a : m.end(1) + 6].lower() + path, start, end, conf)
        hs, he = view.span(m.start(1), m.end(1) + 6)
        col.add("onion", value, hs, he, conf, mask=False)
        col.mask[start:end] = b"\x01" * (end - start)


def _split_domain(domain_text: str) -> list[tuple[str, int, int, str]]:
    """Labels of an (obfuscated) domain: (label, start, end, separator before it)."""
    out = []
    pos = 0
    sep = ""
    for m in _DOT_RE.finditer(domain_text):
        out.append((domain_text[pos : m.start()], pos, m.start(), sep))
        sep = m.group()
        pos = m.end()
    out.append((domain_text[pos:], pos, len(domain_text), sep))
    return out


def _is_title(label: str) -> bool:
    return len(label) > 1 and label[0].isupper() and label[1:].islower()


def _cut_at_case_change(labels: list) -> list:
    """Drop labels from the first Title-case one that follows a lower-case one: "gmail.com.Me" is a
    missing space before a new sentence, not the host gmail.com.me."""
    for i in range(1, len(labels)):
        if _is_title(labels[i][0]) and labels[i - 1][0].islower():
            return labels[:i]
    return labels


# an "@", or an at-word followed by a name and a dot (or a dot word): "anna at example dot com"
_AT_FIND_RE = re.compile(
    rf"@|\s(?:{'|'.join(AT_WORDS)})\s+[\w-]+(?:\.|\s*[\[\(]|\s+(?:{'|'.join(DOT_WORDS)})\s)", re.IGNORECASE
)
# an at-word of AT_WORDS between white space, as EMAIL_RE's spelled "@" has it: written to start with the
# word's first letter (only a/A and c/C fold to "a" and "c"), which the engine looks for first (speed)
_AT_WORD_SPACED_RE = re.compile(
    r"[ac](?<=\s[ac])(?:(?<=a)(?:t|rroba|robase)|(?<=c)(?:hiocciola|hiocciolina))\s", re.IGNORECASE
)


def _email_matches(text: str):
    """EMAIL_RE matches, looked for only in windows around an "@" or an at-word (a local part is at most
    64 characters before it): most of a text is never scanned. A match whose local part is a word of a
    sentence ("reach me at ...", :func:`_not_a_mailbox`) is dropped and the search goes on from the name
    after the at-word, so "reach me at john dot doe at gmail dot com" still finds the address."""
    # (speed: with no at-word in the text, every match holds an "@", at most 66 characters after its start
    # (a local part of 65 and one white space), and the "@"s are found with str.find, in C)
    sign_only = _AT_WORD_SPACED_RE.search(text) is None
    windows: list[list[int]] = []
    for fa, fb in _at_signs(text) if sign_only else (f.span() for f in _AT_FIND_RE.finditer(text)):
        a, b = max(0, fa - 70), min(len(text), fb + 300)
        if windows and a <= windows[-1][1]:
            windows[-1][1] = b
        else:
            windows.append([a, b])
    last = -1
    for a, b in windows:
        pos = a
        while True:
            if sign_only:
                at = text.find("@", pos, b)
                if at < 0:
                    break
                pos = max(pos, at - 66)  # (no match starts between pos and here)
            m = EMAIL_RE.search(text, pos, b)
            if m is None:
                break
            pos = m.end()
            if m.start() < last:
                continue
            if _not_a_mailbox(text, m):
                pos = m.start("domain")
                continue
            last = m.end()
            yield m


def _at_signs(text: str):
    """(start, end) of each "@" of the text."""
    at = text.find("@")
    while at >= 0:
        yield at, at + 1
        at = text.find("@", at + 1)


def _not_a_mailbox(text: str, m: re.Match[str]) -> bool:
    """True when the local part of a match with a spelled at-word is a word of a sentence: a word that
    precedes " at " in prose ("look at", "meet me at") or a place before the English "at" ("my backup at
    stream-vip2 dot net", "live at ..."), and no spelled-dot label before it makes it a longer name
    ("john dot doe at ...")."""
    at = m.group("at").strip().lower()
    if at not in AT_WORDS:
        return False
    local = m.group("local").lower()
    if local not in _WORD_AT_STOP:
        if not (at == "at" and local in _AT_PLACE):
            return False
        if _MAIL_CUE_BEFORE_RE.search(text, max(0, m.start() - 30), m.start()):
            return False  # "e-mail backup at ...": the word after an e-mail cue is the mailbox
    return _spelled_local(text, m.start(), local)[0] == m.start()


_MAIL_CUE_BEFORE_RE = re.compile(
    r"\b(?:e-?mail|mail|correo|posta|indirizzo|address)\s*(?:is|ay|è|es|:|-)?\s*$", re.IGNORECASE
)


# a local-part label and a spelled dot right before the local part: "john dot doe at gmail dot com"
_SPELLED_LOCAL_BEFORE_RE = re.compile(
    rf"(?<![\w.%+\-@])([\w%+\-]{{1,64}})\s+(?:{'|'.join(DOT_WORDS)})\s+$", re.IGNORECASE
)


def _spelled_local(text: str, start: int, local: str) -> tuple[int, str]:
    """(start, local part) with the labels spelled with dot words before it ("john dot doe" + " at ..."):
    only when the "@" itself is spelled, and up to the 64 characters a local part may have."""
    while True:
        m = _SPELLED_LOCAL_BEFORE_RE.search(text, max(0, start - 80), start)
        if m is None or len(m.group(1)) + 1 + len(local) > 64:
            return start, local
        start, local = m.start(1), f"{m.group(1)}.{local}"


def extract_emails(col: Collector, view: View) -> None:
    text = view.text
    for m in _email_matches(text):
        at = m.group("at")
        word_at = at.strip().lower() in AT_WORDS
        local = m.group("local")
        a = m.start()
        if word_at:
            a, local = _spelled_local(text, a, local)
        labels = _cut_at_case_change(_split_domain(m.group("domain")))
        for k in range(_host_labels([lab for lab, *_ in labels]), 1, -1):
            host = ".".join(lab for lab, *_ in labels[:k]).lower()
            if registered_domain(host):
                break
        else:
            continue
        seps = [sep for *_, sep in labels[1:k]]
        b = m.start("domain") + labels[k - 1][2]
        start, end = view.span(a, b)
        if not col.free(start, end):
            continue
        defanged = view.was_defanged(a, b)
        if word_at or any("." not in sep for sep in seps):
            conf, disguise = 0.7, "at-dot"  # "name at domain dot com"
        elif at != "@" or any(sep != "." for sep in seps) or defanged:
            conf = 0.85  # "name @ domain . com", "name[at]domain[.]com"
            disguise = "defanged" if defanged else "spaced"
        else:
            conf, disguise = 0.95, ""
        col.add("email", f"{local.lower()}@{host}", start, end, conf, disguise=disguise)


# [^\W_]\.[^\W\d_], written to start with the dot, which the engine looks for first (speed); the match
# starts one character before m.start()
_DOT_LETTER_RE = re.compile(r"\.(?<=[^\W_]\.)[^\W\d_]")


def _bare_url_matches(text: str):
    """BARE_URL_RE matches, looked for only around a letter-dot-letter (a host name has one)."""
    windows: list[list[int]] = []
    pos = 0
    while (m := _DOT_LETTER_RE.search(text, pos)) is not None:
        ms = m.start() - 1
        a = max(0, ms - 255)
        ws = text.rfind(" ", a, ms)
        a = ws + 1 if ws >= 0 else a
        nl = text.rfind("\n", a, ms)
        a = nl + 1 if nl >= 0 else a
        b = len(text)
        if windows and a <= windows[-1][1]:
            windows[-1][1] = b
        else:
            windows.append([a, b])
        break_at = text.find(" ", m.end())
        windows[-1][1] = len(text) if break_at < 0 else break_at
        if break_at < 0:
            break
        # (speed: a match before the space at break_at has no space between it and break_at, so it
        # would leave the window as it is; the next one that can change a window starts after it)
        pos = break_at
    last = -1
    for a, b in windows:
        for m in BARE_URL_RE.finditer(text, a, b):
            if m.start() >= last:
                last = m.end()
                yield m


def extract_bare_urls(col: Collector, view: View, phone_fn) -> None:
    text = view.text
    for m in _bare_url_matches(text):
        host = m.group(1)
        path = _trim_url(m.group(3) or "")
        port = m.group(2) or ""
        a = m.start()
        if not port and not path:
            labels = _cut_at_case_change([(lab,) for lab in host.split(".")])
            if len(labels) < 2:
                continue
            host = ".".join(lab for (lab,) in labels)  # "example.com.Then" -> "example.com"
        if "_" in host:
            continue  # no host name has "_": "cool_guy.ph" is a handle, not a domain
        b = m.start(1) + len(host) + len(port) + len(path)
        if not path and not port and _HANDLE_CUE_BEFORE_RE.search(text, max(0, a - 30), a):
            continue  # "skype: anna.belle.ph": a name with dots after a platform cue, not a domain
        reg = registered_domain(host)
        if reg is None:
            continue
        start, end = view.span(a, b)
        if not col.free(start, end):
            continue
        if reg in PROFILE_DOMAINS and len(path) <= 1:
            continue  # "instagram.com" in prose names the platform, not an identifier
        if reg in MESSAGING_DOMAINS or reg in PROFILE_DOMAINS:
            _emit_url(col, view, a, b, text[a:b], 0.9, phone_fn)
            continue
        labels = host.split(".")
        suffix_last = labels[-1].lower()
        defanged = view.was_defanged(a, b)
        name_label = reg.split(".")[0]
        if len(path) > 1:
            if not (defanged or len(name_label) >= 2):
                continue
            _emit_url(col, view, a, b, text[a:b], 0.85 if defanged else 0.8, phone_fn)
            continue
        # a bare domain in prose
        if not defanged:
            tld = labels[-1]
            if tld[0].isupper() and not tld.isupper() and labels[-2][:1].islower():
                continue  # "thanks.Love" -> a missing space, not a domain
            if len(name_label) < 2:
                continue
            cue = _SITE_CUE_RE.search(text, max(0, a - 40), a) is not None or _place_cue(text, a)
            evidence = cue or len(labels) >= 3 or any(c.isdigit() or c == "-" for c in name_label)
            common = suffix_last in _COMMON_TLDS or len(suffix_last) == 2
            if not evidence and (suffix_last in _WORDY_SUFFIXES or suffix_last in _FILE_SUFFIXES or not common):
                # "told.me", "clip.mov", "mom.dad" (.dad is a gTLD): a missing space, a file, a typo
                continue
            conf = 0.6 if common else 0.45
            if cue:
                conf += 0.1
        else:
            conf = 0.85
        if host.lower().rstrip(".").removeprefix("www.") != reg:
            # a host below the registered domain ("bad1.example.com"): the host is the identifier (as a URL,
            # "http://bad1.example.com/") as well as its registered domain
            _emit_url(col, view, a, b, text[a:b], conf, phone_fn)
            continue
        col.add("domain", reg, start, end, conf, disguise="defanged" if defanged else "")


def _host_labels(labels: list[str]) -> int:
    """How many of the first ``labels`` a host name can hold (253 characters at most): a chain of words
    joined by dots ("a dot b dot c ...", thousands long) is never tried whole, longest first (that was
    quadratic in the chain)."""
    size = -1
    for k, label in enumerate(labels):
        size += len(label) + 1
        if size > 253:
            return k
    return len(labels)


def _place_cue(text: str, a: int) -> bool:
    """A place phrase ("find me at", "my backup at", "trovami su", "nasa") right before text[a:]."""
    return _PLACE_CUE_RE.search(text, max(0, a - 40), a) is not None


def extract_spelled_domains(col: Collector, view: View) -> None:
    """``example dot com`` / ``esempio punto it``: needs a site cue before it or a digit/hyphen in the
    name (so "the dot com bubble" stays prose)."""
    text = view.text
    for m in SPELLED_DOMAIN_RE.finditer(text):
        labels = _SPELLED_DOT_RE.split(m.group(1))
        bounds = [(x.start(), x.end()) for x in _SPELLED_DOT_RE.finditer(m.group(1))]
        for k in range(_host_labels(labels), 1, -1):
            host = ".".join(labels[:k]).lower()
            reg = registered_domain(host)
            if reg:
                break
        else:
            continue
        name = reg.split(".")[0]
        a = m.start(1)
        b = a + bounds[k - 2][1] + len(labels[k - 1])  # end of the k-th label
        cue = _SITE_CUE_RE.search(text, max(0, a - 40), a) is not None or _place_cue(text, a)
        if not (cue or any(c.isdigit() or c == "-" for c in name)) or len(name) < 3:
            continue
        start, end = view.span(a, b)
        if col.free(start, end):
            col.add("domain", reg, start, end, 0.7 if cue else 0.55, disguise="at-dot")


def extract_ips(col: Collector, view: View) -> None:
    text = view.text
    for m in IPV4_RE.finditer(text):
        ip = normalise_ip(m.group())
        if ip is None:
            continue
        a, b = m.span()
        if text[max(0, a - 8) : a].lower().rstrip().endswith(("v", "version", "ver", "ver.")):
            continue
        start, end = view.span(a, b)
        if col.free(start, end):
            d = view.was_defanged(a, b)
            col.add("ipv4", ip[1], start, end, 0.95 if d else 0.9, disguise="defanged" if d else "")
    for m in IPV6_RE.finditer(text):
        s = m.group()
        if s.count(":") < 2 or sum(1 for g in s.split(":") if g) < 2 or not any(c.isdigit() for c in s):
            continue
        ip = normalise_ip(s)
        if ip is None or ip[0] != "ipv6":
            continue
        start, end = view.span(*m.span())
        if col.free(start, end):
            col.add("ipv6", ip[1], start, end, 0.9)


# --------------------------------------------------------------------------- normalise helpers


def normalise_email(raw: str) -> str | None:
    view = View(raw.strip())
    m = EMAIL_RE.fullmatch(view.text)
    if not m:
        return None
    labels = _split_domain(m.group("domain"))
    host = ".".join(lab for lab, *_ in labels).lower()
    if registered_domain(host) is None:
        return None
    return f"{m.group('local').lower()}@{host}"


def normalise_url(raw: str) -> str | None:
    s = View(raw.strip()).text
    if not s or any(c.isspace() for c in s):
        return None
    pu = parse_url(s)
    if pu is None or host_kind(pu.host) is None:
        return None
    return pu.normal


def normalise_domain(raw: str) -> str | None:
    s = View(raw.strip()).text
    if "/" in s or "@" in s:
        pu = parse_url(s.split("@")[-1] if "://" not in s else s)
        if pu is None:
            return None
        s = pu.host
    if not re.fullmatch(rf"(?:{_HLABEL}\.)+{_TLD_LABEL}\.?", s, re.IGNORECASE):
        return None
    return registered_domain(s)
