"""Human names of the stored codes (categories, statuses, sources, …), translatable.

The tables hold English msgids marked with :func:`N_` (so Babel extracts them); :func:`label` translates
one for a language and falls back to the code itself for a value it does not know (a category added
later still shows, untranslated, instead of failing).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping

from babel import Locale

from tipline.i18n import DEFAULT_LANGUAGE, gettext_for, supported
from tipline.intake.schemas import AgeBand, Category, Classification, Source, Status


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here."""
    return message


CATEGORY: dict[str, str] = {
    Category.CSAM: N_("Child sexual abuse material"),
    Category.CHILD_SEX_TRAFFICKING: N_("Child sex trafficking"),
    Category.CHILD_SEX_TOURISM: N_("Child sex tourism"),
    Category.CHILD_SEXUAL_MOLESTATION: N_("Child sexual molestation"),
    Category.MISLEADING_DOMAIN: N_("Misleading domain name"),
    Category.MISLEADING_WORDS_IMAGES: N_("Misleading words or digital images"),
    Category.ONLINE_ENTICEMENT: N_("Online enticement of a child"),
    Category.UNSOLICITED_OBSCENE: N_("Unsolicited obscene material sent to a child"),
    Category.LIVE_STREAMED_ABUSE: N_("Live-streamed abuse"),
    Category.SEXTORTION: N_("Sextortion"),
    Category.TRAFFICKING_AD: N_("Trafficking advertisement"),
    Category.OTHER: N_("Other"),
}

STATUS: dict[str, str] = {
    Status.NEW: N_("New"),
    Status.IN_REVIEW: N_("In review"),
    Status.REFERRED: N_("Referred"),
    Status.NO_ACTION: N_("No action"),
    Status.DUPLICATE: N_("Duplicate"),
}

SOURCE: dict[str, str] = {
    Source.PUBLIC: N_("Public form"),
    Source.PLATFORM: N_("Platform"),
    Source.CYBERTIP: N_("CyberTipline XML"),
    Source.LIVE: N_("Panic button"),
}

CLASSIFICATION: dict[str, str] = {
    Classification.BASELINE: N_("Baseline illegal"),
    Classification.NATIONAL: N_("Nationally illegal"),
    Classification.NOT_ILLEGAL: N_("Not illegal"),
}

AGE_BAND: dict[str, str] = {
    AgeBand.INFANT: N_("Infant or toddler"),
    AgeBand.PREPUBESCENT: N_("Prepubescent"),
    AgeBand.PUBESCENT: N_("Pubescent"),
    AgeBand.ADULT: N_("Adult"),
    AgeBand.UNKNOWN: N_("Unknown"),
}

ROLE: dict[str, str] = {
    "admin": N_("Administrator"),
    "supervisor": N_("Supervisor"),
    "analyst": N_("Analyst"),
    "platform": N_("Platform"),
}

PERSON_ROLE: dict[str, str] = {
    "reported": N_("Reported person"),
    "victim": N_("Victim"),
    "broadcaster": N_("Broadcaster"),
    "viewer": N_("Viewer"),
    "other": N_("Other person"),
}

# what a public reporter is told about their report: four plain words, no internal detail
REPORTER_STATUS: dict[str, str] = {
    Status.NEW: N_("Received"),
    Status.IN_REVIEW: N_("Being reviewed"),
    Status.REFERRED: N_("Passed to the authorities"),
    Status.NO_ACTION: N_("Closed"),
    Status.DUPLICATE: N_("Closed"),
}

REPORTER_STATUS_EXPLAINED: dict[str, str] = {
    Status.NEW: N_("Your report is in the queue. An analyst will assess it."),
    Status.IN_REVIEW: N_("An analyst is assessing your report."),
    Status.REFERRED: N_("We have passed the information to the police or the authority responsible."),
    Status.NO_ACTION: N_("We have finished working on this report."),
    Status.DUPLICATE: N_("We have finished working on this report."),
}

ENTITY_KIND: dict[str, str] = {
    "phone": N_("Phone numbers"),
    "email": N_("E-mail addresses"),
    "url": N_("URLs"),
    "domain": N_("Domains"),
    "ipv4": N_("IPv4 addresses"),
    "ipv6": N_("IPv6 addresses"),
    "onion": N_("Onion addresses"),
    "btc": N_("Bitcoin wallets"),
    "eth": N_("Ethereum wallets"),
    "xmr": N_("Monero wallets"),
    "trx": N_("Tron wallets"),
    "telegram": N_("Telegram handles"),
    "skype": N_("Skype names"),
    "snapchat": N_("Snapchat names"),
    "kik": N_("Kik names"),
    "whatsapp": N_("WhatsApp numbers"),
    "discord": N_("Discord names"),
    "iban": N_("IBANs"),
    "mtcn": N_("Money-transfer control numbers"),
    "account": N_("Platform accounts"),
}


# How an identifier was disguised (tipline.extract.DISGUISES); an obscured phone is an ad indicator.
DISGUISE: dict[str, str] = {
    "unicode": N_("look-alike or wide characters"),
    "digits": N_("digits of another script"),
    "invisible": N_("invisible characters"),
    "keycap": N_("emoji digits"),
    "words": N_("numbers in words"),
    "letters": N_("letters for digits"),
    "spaced": N_("odd spacing or separators"),
    "split": N_("split into pieces"),
    "at-dot": N_("“at” and “dot” in words"),
    "defanged": N_("defanged"),
}


def label(table: Mapping[str, str], value: str | None, lang: str | None) -> str:
    """The translated name of ``value`` in ``table``; the value itself when the table lacks it."""
    if value is None:
        return ""
    msgid = table.get(value)
    return gettext_for(lang)(msgid) if msgid else value


# region codes in CLDR's territory list that are not countries someone would pick
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"})


@functools.cache
def countries(lang: str) -> tuple[tuple[str, str], ...]:
    """(ISO 3166 alpha-2 code, name in ``lang``) for every country, sorted by name as a reader expects."""
    names = Locale.parse(supported(lang) or DEFAULT_LANGUAGE).territories
    items = [(c, n) for c, n in names.items() if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES]
    return tuple(sorted(items, key=lambda item: _sort_key(item[1])))


@functools.cache
def country_codes() -> frozenset[str]:
    return frozenset(code for code, _ in countries(DEFAULT_LANGUAGE))


def country_name(code: str | None, lang: str | None) -> str:
    if not code:
        return ""
    return dict(countries(supported(lang) or DEFAULT_LANGUAGE)).get(code.upper(), code)


def _sort_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
