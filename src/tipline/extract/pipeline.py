"""The extraction pipeline behind :func:`tipline.extract.extract` and :func:`tipline.extract.normalise`:
the Unicode disguises undone, cheap gates, each extractor in turn on one :class:`Collector`, spans mapped
back to the original text. (In a module of its own so that it can be compiled with the extractors: see
:mod:`tipline.extract.native`.)"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .crypto import eth_check, is_trx, is_xmr, normalise_btc, segwit_decode
from .finance import extract_ibans, extract_mtcns, normalise_iban, normalise_mtcn
from .handles import add_whatsapp, clean_account, clean_handle, extract_handles
from .network import (
    AT_WORDS,
    DOT_WORDS,
    extract_bare_urls,
    extract_emails,
    extract_ips,
    extract_onions,
    extract_scheme_urls,
    extract_spelled_domains,
    normalise_domain,
    normalise_email,
    normalise_ip,
    normalise_onion,
    normalise_url,
)
from .phones import extract_phones, normalise_phone
from .text import DISGUISES, KINDS, Collector, Cues, Decoded, Found, View, letter_words, lower_of, new_found

_DISGUISE_ORDER = {d: i for i, d in enumerate(DISGUISES)}

_B58 = "1-9A-HJ-NP-Za-km-z"
_ETH_RE = re.compile(r"(?<![\w])0[xX][0-9a-fA-F]{40}(?![\w])")
_BTC_B58_RE = re.compile(rf"(?<![\w])[13][{_B58}]{{25,34}}(?![\w])")
_BECH32_RE = re.compile(r"(?<![\w])(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87}(?![\w])")
_TRX_RE = re.compile(rf"(?<![\w])T[{_B58}]{{33}}(?![\w])")
_XMR_RE = re.compile(rf"(?<![\w])[48][{_B58}]{{94}}(?:[{_B58}]{{11}})?(?![\w])")


_WRUN_RE = re.compile(r"(?<!\w)\w{25,}(?!\w)")


def _extract_wallets(col: Collector) -> None:
    """Every wallet form is one whole word of 25 characters or more: the word runs are found once and
    each wallet pattern is tried on them only (in the order eth, bech32, xmr, base58 btc, trx)."""
    text = col.text
    for run in _WRUN_RE.finditer(text):
        a, b = run.span()
        for rx, check in _WALLET_CHECKS:
            m = rx.fullmatch(text, a, b)
            if m is None:
                continue
            r = check(m.group())
            if r and col.free(a, b):
                col.add(r[0], r[1], a, b, r[2])
                break


def _eth(s: str):
    r = eth_check(s)
    return ("eth", r[0], r[1]) if r else None


_WALLET_CHECKS = (
    (_ETH_RE, _eth),
    (_BECH32_RE, lambda s: ("btc", s.lower(), 0.99) if segwit_decode(s) else None),
    (_XMR_RE, lambda s: ("xmr", s, 0.99) if is_xmr(s) else None),
    (_BTC_B58_RE, lambda s: ("btc", s, 0.99) if normalise_btc(s) else None),
    (_TRX_RE, lambda s: ("trx", s, 0.99) if is_trx(s) else None),
)


def extract(
    text: str, *, country: str | None = None, language: str | None = None, hints: Iterable[str] = ()
) -> list[Found]:
    """All identifiers in free text, sorted by start.

    ``country``: ISO 3166 alpha-2, the report's stated country. ``language``: ``'en'|'it'|'tl'|…``.
    ``hints``: regions known from the report around the text (the reporting platform's country, a
    person's country). Together with country words and international numbers in the text they rank the
    regions a national-form phone is read in (:func:`tipline.extract.phones.region_evidence`). Number
    words of every supported language are read in every text.

    Unicode disguises (zero-width and bidi characters, keycaps, digits of other scripts, fullwidth and
    mathematical forms, look-alike letters) are undone first; spans stay in the original text and the
    disguise is named in ``Found.disguise``.
    """
    if not text:
        return []
    # (compiled, this module checks argument types as annotated: any iterable of hints is taken)
    region_hints = tuple(hints)
    dec = Decoded(text)
    found = _extract(dec.text, country, language, region_hints)
    if dec.identity:
        return found
    out = []
    for f in found:
        start, end = dec.span(f.start, f.end)
        labels = set(filter(None, f.disguise.split(","))) | set(dec.labels(start, end))
        disguise = ",".join(sorted(labels, key=lambda d: _DISGUISE_ORDER.get(d, 99)))
        out.append(new_found(f.kind, f.value, start, end, f.confidence, text[start:end], disguise, f.alternatives))
    return out


def _extract(text: str, country: str | None, language: str | None, hints: tuple[str, ...]) -> list[Found]:
    col = Collector(text)
    low = lower_of(text)  # (computed once per text, shared)
    cue_list = Cues(text, low)
    phone_fn = _link_phone
    # Cheap gates (substring tests, set tests on the text's words and one-class regex scans, in C) skip
    # the extractors whose kind cannot be in the text; most texts hold only a few kinds.
    words = letter_words(low)  # (one regex pass, shared with Cues and the phone scanner)
    if _IBAN_GATE.search(text):
        extract_ibans(col)
    if _WALLET_GATE.search(text):
        _extract_wallets(col)
    view = View(text)
    vt = view.text
    if "://" in vt or "www." in low:
        extract_scheme_urls(col, view, phone_fn)
    if "onion" in low:
        extract_onions(col, view)
    # (an at-word or a dot word between white space is one of the text's words: the set test spares
    # most texts the scan)
    if "@" in vt or (not _AT_WORD_SET.isdisjoint(words) and _AT_WORD_GATE.search(low)):
        extract_emails(col, view)
    if _DOT_LETTER_GATE.search(vt):
        extract_bare_urls(col, view, phone_fn)
    if not _DOT_WORD_SET.isdisjoint(words) and any(w in low for w in _DOT_WORDS_SPACED):
        extract_spelled_domains(col, view)
    if _IPV4_GATE.search(vt) or (":" in vt and _IPV6_GATE.search(vt)):
        extract_ips(col, view)
    extract_handles(col, cue_list)
    if (
        "mtcn" in low
        or "control" in low  # (also "controllo")
        or "money" in low
        or "western" in low
        or "codice" in low
        or "m.t.c.n" in low
        or "WU" in text
    ):
        extract_mtcns(col)
    extract_phones(col, country, language, hints, decoded=True)  # (text: decoded)
    if cue_list.items:
        add_whatsapp(col, cue_list)
    return col.results()


# The gates are written to start with their rarest character (a digit, a dot), which the regex engine
# looks for first, and to look back for the rest: "[A-Za-z]{2}\d\d" tried at every letter is slower.
# They run on the decoded text (:class:`Decoded` makes every decimal digit of any script an ASCII one),
# where \d is [0-9]; the ASCII class lets the engine skip to the candidates in C (speed).
_IBAN_GATE = re.compile(r"[0-9](?<=[A-Za-z]{2}[0-9])[0-9]")  # [A-Za-z]{2}\d\d
# every wallet form is a whole word of 25 ASCII letters and digits or more (see _extract_wallets), so
# the gate asks for 25 of them, tried only where such a run starts (ASCII classes: speed)
_WALLET_GATE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{25}")
_AT_WORD_GATE = re.compile(r"\s(?:" + "|".join(AT_WORDS) + r")\s")
_AT_WORD_SET = frozenset(AT_WORDS)
_DOT_WORD_SET = frozenset(DOT_WORDS)
_DOT_LETTER_GATE = re.compile(r"\.(?<=[^\W_]\.)[^\W\d_]")  # [^\W_]\.[^\W\d_]
_DOT_WORDS_SPACED = tuple(f" {w} " for w in DOT_WORDS)
_IPV4_GATE = re.compile(r"\.(?<=\d\.)\d{1,3}\.\d")  # \d\.\d{1,3}\.\d
# an IPv6 address (network.IPV6_RE) has two colons with at most four hex digits between them; times and
# labels ("10:30", "Contatto: ...") do not, and no longer call the IP scans (speed)
_IPV6_GATE = re.compile(r":[0-9A-Fa-f]{0,4}:")


def _link_phone(value: str) -> str | None:
    """E.164 of the digits in a wa.me / whatsapp.com/send link (always international)."""
    return normalise_phone(value, None)


def normalise(kind: str, raw: str | None, *, country: str | None = None) -> str | None:
    """Normalise a value that arrived in a structured field (e.g. a CyberTipline ``<phone>`` or
    ``<screenName>``), returning the one normal form, or None when it is not a valid value of that kind.

    Phones need ``+``/``00`` or a ``country``; without either they return None.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if raw is None:
        return None
    s = raw.strip()
    if not s:
        return None
    if kind in ("phone", "whatsapp"):
        if kind == "whatsapp":
            m = re.fullmatch(r"(?:https?://)?(?:wa\.me/|(?:api\.)?whatsapp\.com/send/?\?phone=)\+?(\d{6,15})\S*", s)
            if m:
                return normalise_phone("+" + m.group(1), None)
        return normalise_phone(s, country)
    if kind == "email":
        return normalise_email(s)
    if kind == "url":
        return normalise_url(s)
    if kind == "domain":
        return normalise_domain(s)
    if kind in ("ipv4", "ipv6"):
        r = normalise_ip(View(s).text)
        return r[1] if r and r[0] == kind else None
    if kind == "onion":
        return normalise_onion(View(s).text)
    if kind == "btc":
        return normalise_btc(s)
    if kind == "eth":
        eth = eth_check(s)
        return eth[0] if eth else None
    if kind == "xmr":
        return s if is_xmr(s) else None
    if kind == "trx":
        return s if is_trx(s) else None
    if kind == "iban":
        return normalise_iban(s)
    if kind == "mtcn":
        return normalise_mtcn(s)
    if kind == "account":
        return clean_account(None, s)
    return clean_handle(kind, s)
