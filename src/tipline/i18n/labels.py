"""Human names of the stored codes (categories, statuses, sources, …), translatable.

The tables hold English msgids marked with :func:`N_` (so Babel extracts them); :func:`label` translates
one for a language and falls back to the code itself for a value it does not know (a category added
later still shows, untranslated, instead of failing).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence

from babel import Locale

from tipline.i18n import DEFAULT_LANGUAGE, gettext_for, supported
from tipline.intake.schemas import NOT_COUNTRIES, AgeBand, Category, Classification, Source, Status
from tipline.intake.schemas import country_codes as country_codes  # one list of countries, defined below i18n


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

#: the default triage rules' descriptions by rule id (a report keeps the English description it was scored
#: with; pages show it in the reader's language by its rule id; a rule of a hotline's own file shows as written)
RULE: dict[str, str] = {
    "live-abuse": N_("Abuse reported as live or ongoing"),
    "platform-escalation": N_("The reporting platform escalated the report to high priority"),
    "imminent-danger-en": N_("Imminent-danger language (English)"),
    "imminent-danger-it": N_("Imminent-danger language (Italian)"),
    "imminent-danger-tl": N_("Imminent-danger language (Tagalog)"),
    "young-child": N_("A victim stated to be under 13"),
    "minor": N_("A victim stated to be under 18"),
    "child-words": N_("The text speaks of a child"),
    "adult-said": N_("The text says the person shown is probably an adult"),
    "hands-on-category": N_("Category involving contact abuse or trafficking of a child"),
    "live-streamed-category": N_("Category: live-streamed abuse"),
    "sextortion": N_("Sextortion: the victim is under threat now"),
    "known-identifiers": N_("Identifiers already seen in other reports"),
    "known-identifiers-many": N_("Identifiers seen in three or more other reports"),
    "known-abuse-hash": N_("A file matches a hash bank of known abuse material"),
    "file-infant": N_("The sender marked a file as showing an infant"),
    "file-live-stream": N_("The sender marked a file as streamed live"),
    "sadistic-exploitation": N_("The sender tagged the report as sadistic online exploitation"),
    "sextortion-tagged": N_("The sender tagged the report as sextortion or solicitation of abuse material"),
    "spam-tagged": N_("The sender tagged the report as spam"),
    "open-case": N_("Shares an identifier with an open case"),
    "not-finished": N_("Not finished by the platform: the CyberTipline submission was closed for it"),
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


@functools.cache
def countries(lang: str) -> tuple[tuple[str, str], ...]:
    """(ISO 3166 alpha-2 code, name in ``lang``) for every country, sorted by name as a reader expects."""
    names = Locale.parse(supported(lang) or DEFAULT_LANGUAGE).territories
    items = [(c, n) for c, n in names.items() if len(c) == 2 and c.isalpha() and c not in NOT_COUNTRIES]
    return tuple(sorted(items, key=lambda item: _sort_key(item[1])))


def country_name(code: str | None, lang: str | None) -> str:
    if not code:
        return ""
    return dict(countries(supported(lang) or DEFAULT_LANGUAGE)).get(code.upper(), code)


def _sort_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def reason(rule: str, description: str, lang: str) -> str:
    """A triage reason in ``lang``: the default rule's translated description, else the stored one."""
    return gettext_for(lang)(RULE[rule]) if rule in RULE else description


#: the keys of a report's other details (CyberTipline mapping, panic button, imports), in people's words
DETAIL: dict[str, str] = {
    "incident_type": N_("Incident type (CyberTipline)"),
    "application": N_("Application or service"),
    "escalation": N_("Why the platform escalated it"),
    "annotations": N_("Tags the platform put on the report"),
    "incident_time_description": N_("Time of the incident, in the platform's words"),
    "batched_report_reason": N_("Why the report was sent in a batch"),
    "reporter": N_("The reporting company's contact"),
    "law_enforcement": N_("Law enforcement already involved"),
    "internet": N_("Where on the internet"),
    "persons": N_("People, as the document gives them"),
    "not_mapped": N_("Parts of the document not mapped"),
    "cybertip": N_("The whole CyberTipline document"),
    "stream_id": N_("Stream id"),
    "imported_from": N_("Imported from the file"),
}

#: the built-in warning list's reasons (``tipline/graph/warninglist.toml``; a test keeps the two alike):
#: shown translated; a reason a supervisor wrote shows as written
WARNING_REASONS: frozenset[str] = frozenset(
    (
        N_("North American numbers 555-0100 to 555-0199 are reserved for fiction: a placeholder, never a real line."),
        N_("Australian mobile range 0491 570-579 holds the numbers ACMA reserves for drama and fiction."),
        N_("UK mobile numbers 07700 900000-900999 are reserved by Ofcom for drama: a placeholder."),
        N_("Seven or more equal digits in a row: a placeholder typed into a form."),
        N_("A run of consecutive digits: a placeholder typed into a form."),
        N_("A role address of a service (support, abuse, no-reply...): it is the platform's, not a suspect's."),
        N_("A public e-mail service: its domain is shared by millions of unrelated people."),
        N_("A URL shortener: its domain says nothing about who made the link."),
        N_("A large platform's own domain: every report about any of its users names it."),
    )
)


def warning_reason(reason: str | None, lang: str) -> str:
    if not reason:
        return ""
    return gettext_for(lang)(reason) if reason in WARNING_REASONS else reason


#: a person of a report by role and number, as the report page says it (``PersonIn.role`` and the mapper's roles)
PERSON_NUMBERED: dict[str, str] = {
    "reported": N_("Reported person %(n)s"),
    "victim": N_("Victim %(n)s"),
    "broadcaster": N_("Broadcaster %(n)s"),
    "viewer": N_("Viewer %(n)s"),
    "reporter": N_("Reporter %(n)s"),
    "incident": N_("Incident details"),
    "other": N_("Other person %(n)s"),
}

_FIELD = re.compile(
    r"^(?:persons\[(\d+)\]\.(identifiers|ip_events)\[\d+\]|urls\[(\d+)\]|followup\[\d+\]|answers\.(.+)|text)$"
)


def field_words(field: str, roles: Sequence[str | None], lang: str) -> str:
    """Where in a report an identifier was found, in people's words (``persons[1].identifiers[0]`` is
    "Victim 1: identifiers"); a field of another shape shows as stored."""
    _ = gettext_for(lang)
    m = _FIELD.match(field)
    if m is None:
        return field
    person, part, url, answer = m.groups()
    if person is not None:
        i = int(person)
        role = roles[i] if i < len(roles) and roles[i] in PERSON_NUMBERED else "other"
        n = sum(1 for r in roles[: i + 1] if (r if r in PERSON_NUMBERED else "other") == role)
        who = _(PERSON_NUMBERED[role or "other"]) % {"n": n}
        return who + ": " + (_("identifiers") if part == "identifiers" else _("IP addresses"))
    if url is not None:
        return _("link %(n)s") % {"n": int(url) + 1}
    if field.startswith("followup["):
        return _("a message from the reporter")
    if answer is not None:
        return _("an answer on the form (%(question)s)") % {"question": answer.replace("_", " ")}
    return _("the report's text")
