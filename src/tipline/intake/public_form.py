"""The public report form's domain rules: the incident types and their questions, what each one needs,
and the check that turns the posted fields into a :class:`~tipline.intake.schemas.ReportIn`.

No web and no i18n here: the page passes ``gettext`` (messages in the visitor's language; the msgids are
extracted from this module, ``i18n/babel.cfg``), ``number`` (a count written the visitor's way) and the
country codes it offers. ``N_`` marks labels the templates translate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from tipline.intake.schemas import MAX_TEXT, Category, ContactIn, IdentifierIn, PersonIn, PublicReportIn, ReportIn
from tipline.settings import Settings


def N_(message: str) -> str:
    """Mark a string for extraction without translating it here (as ``tipline.i18n.labels.N_``)."""
    return message


MAX_URLS = 50
MAX_URL_CHARS = 2048
# room kept in the stored text for the identifier answers copied into it (see ``_report_from``)
_ANSWER_BLOCK_RESERVE = 1_000


# ------------------------------------------------------------------------------------------ the form


@dataclass(frozen=True)
class Question:
    """One incident-specific question. Its form field is ``<type prefix>_<key>``; its answer is stored
    under ``key`` in the report's ``details.answers`` (URLs go to the report's ``urls`` instead)."""

    key: str
    label: str  # msgid
    kind: str = "text"  # text | url | urls | yesno | datetime
    hint: str | None = None  # msgid
    max_length: int = 300
    # copied into the report text under a plain English tag, so that entity extraction reads it
    identifier: bool = False


@dataclass(frozen=True)
class IncidentType:
    category: Category
    prefix: str
    label: str  # msgid
    hint: str  # msgid
    questions: tuple[Question, ...] = ()
    needs_one_of: tuple[str, ...] = ()  # answer keys, or "text" (the description): at least one given
    needs_message: str = ""  # msgid
    note: str | None = None  # msgid: advice shown with the questions
    account_role: str = "reported"

    def field(self, q: Question) -> str:
        return f"{self.prefix}_{q.key}"


_PLATFORM = Question(
    "platform",
    N_("Platform, app or website"),
    max_length=128,
    identifier=True,
    hint=N_("For example the name of the app, the game or the site."),
)

INCIDENT_TYPES: tuple[IncidentType, ...] = (
    IncidentType(
        Category.LIVE_STREAMED_ABUSE,
        "live",
        N_("A live stream of abuse"),
        N_(
            "Someone is streaming, or selling access to, a live video of a child or another person "
            "being sexually abused."
        ),
        (
            _PLATFORM,
            Question(
                "account", N_("Name of the account that streams or sells the show"), max_length=256, identifier=True
            ),
            Question("happening_now", N_("Is it happening now?"), kind="yesno"),
            Question(
                "seen_at",
                N_("When did you see it?"),
                kind="datetime",
                hint=N_("Your local time. An approximate time is fine."),
            ),
            Question("url", N_("Link to the stream or the profile, if there is one"), kind="url"),
        ),
        needs_one_of=("account", "url", "text"),
        needs_message=N_("Give the account name, a link or a description, so that we can find the stream."),
        account_role="broadcaster",
    ),
    IncidentType(
        Category.CSAM,
        "material",
        N_("Abuse images or videos at a web address"),
        N_("Pictures or videos of a child being sexually abused, on a website, a file host or a forum."),
        (
            Question(
                "urls",
                N_("Web address (URL) where you saw it"),
                kind="urls",
                hint=N_("Copy the address from the browser's address bar. One per line; you can give several."),
            ),
            Question(
                "how_found",
                N_("How did you come across it?"),
                hint=N_("For example: a search, a link someone sent you, an ad."),
            ),
        ),
        needs_one_of=("urls",),
        needs_message=N_("Give at least one web address."),
    ),
    IncidentType(
        Category.TRAFFICKING_AD,
        "ad",
        N_("An ad offering a person"),
        N_("An ad or a post that seems to offer a child, or a person who is coerced, for sex or for online shows."),
        (
            Question("url", N_("Web address (URL) of the ad"), kind="url"),
            Question(
                "contact",
                N_("Phone number, username or handle shown in the ad"),
                identifier=True,
                hint=N_("Copy it exactly as it is written, even if it is spelled out or disguised."),
            ),
            Question("city", N_("City or area named in the ad"), max_length=200),
        ),
        needs_one_of=("url", "contact"),
        needs_message=N_("Give the address of the ad, or the phone number or handle shown in it."),
    ),
    IncidentType(
        Category.SEXTORTION,
        "sextortion",
        N_("Sextortion"),
        N_(
            "Someone threatens to share sexual images of a person unless they get money, more images or something else."
        ),
        (
            _PLATFORM,
            Question("account", N_("Account name of the person making the threats"), max_length=256, identifier=True),
            Question("money", N_("Are they asking for money?"), kind="yesno"),
        ),
        needs_one_of=("account", "text"),
        needs_message=N_("Give the account name of the person making the threats, or describe what happened."),
        note=N_(
            "If this is happening to you: it is not your fault and you are not in trouble. Do not pay "
            "and do not send anything more. Stop replying, but do not delete the conversation or "
            "your account: they are evidence. Tell an adult you trust."
        ),
    ),
    IncidentType(
        Category.ONLINE_ENTICEMENT,
        "grooming",
        N_("Grooming or enticement of a child"),
        N_("An adult contacts a child online for sexual purposes, or to meet them."),
        (
            _PLATFORM,
            Question("account", N_("Account name of the adult"), max_length=256, identifier=True),
            Question("meeting", N_("Has a meeting in person been suggested?"), kind="yesno"),
        ),
        needs_one_of=("account", "text"),
        needs_message=N_("Give the account name of the adult, or describe what happened."),
    ),
    IncidentType(
        Category.OTHER,
        "other",
        N_("Something else"),
        N_("Another concern about the sexual exploitation of a child or the trafficking of a person online."),
        needs_one_of=("text",),
        needs_message=N_("Describe what you want to report."),
        note=N_("Describe what you saw in the box “What happened?” below."),
    ),
)
TYPES_BY_CATEGORY: dict[str, IncidentType] = {t.category.value: t for t in INCIDENT_TYPES}
YES_NO = (("yes", N_("Yes")), ("no", N_("No")), ("unknown", N_("I don't know")))
COMMON_FIELDS = ("category", "text", "country", "victim_age", "contact_name", "contact_email", "contact_phone")
FORM_FIELDS = frozenset(COMMON_FIELDS) | {t.field(q) for t in INCIDENT_TYPES for q in t.questions}
FIELD_ORDER: dict[str, int] = {
    name: i
    for i, name in enumerate(
        ["category", *(t.field(q) for t in INCIDENT_TYPES for q in t.questions), *COMMON_FIELDS[1:]]
    )
}
# field name -> its label (msgid), for the error summary at the top of the form
FIELD_LABELS: dict[str, str] = {
    "category": N_("What do you want to report?"),
    "text": N_("What happened?"),
    "country": N_("Country"),
    "victim_age": N_("Age of the child or victim"),
    "contact_name": N_("Name"),
    "contact_email": N_("E-mail"),
    "contact_phone": N_("Phone"),
} | {t.field(q): q.label for t in INCIDENT_TYPES for q in t.questions}

_URLISH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^\s/?#]+\.[^\s/?#]+|^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


def text_limit(settings: Settings) -> int:
    """The longest description the form takes: the stored text (at most ``MAX_TEXT``) also carries the
    identifier answers copied into it."""
    return min(settings.max_text_chars, MAX_TEXT - _ANSWER_BLOCK_RESERVE)


def _looks_like_url(value: str) -> bool:
    return (
        len(value) <= MAX_URL_CHARS
        and value.isprintable()
        and not any(c.isspace() for c in value)
        and bool(_URLISH.match(value))
    )


@dataclass
class Checked:
    report: ReportIn | None
    errors: dict[str, str]


Gettext = Callable[[str], str]


def check_report_form(
    values: dict[str, str],
    lang: str,
    settings: Settings,
    *,
    gettext: Gettext,
    number: Callable[[int], str],
    countries: Collection[str],
) -> Checked:
    """Validate the form as posted; errors are {field name: message in the page language}."""
    _ = gettext
    errors: dict[str, str] = {}
    itype = TYPES_BY_CATEGORY.get(values.get("category", ""))
    if itype is None:
        errors["category"] = _("Choose what you want to report.")
    text = values.get("text", "").strip()
    limit = text_limit(settings)
    if len(text) > limit:
        errors["text"] = _("The description is too long: %(n)s characters, at most %(max)s.") % {
            "n": number(len(text)),
            "max": number(limit),
        }
    victim_age, country, contact = _check_common(values, errors, _, countries)
    answers: dict[str, str] = {}
    urls: list[str] = []
    if itype is not None:
        answers, urls = _check_answers(itype, values, errors, _)
        given = set(answers) | ({"text"} if text else set())
        if itype.needs_one_of and not given.intersection(itype.needs_one_of) and "text" not in errors:
            first = itype.needs_one_of[0]
            field = "text" if first == "text" else itype.field(next(q for q in itype.questions if q.key == first))
            errors.setdefault(field, _(itype.needs_message))
    if errors or itype is None:
        return Checked(None, _in_form_order(errors))
    try:
        body = PublicReportIn(
            category=itype.category,
            text=text,
            urls=urls,
            language=lang,
            country=country,
            is_live=itype.category == Category.LIVE_STREAMED_ABUSE and answers.get("happening_now") == "yes",
            victim_age=victim_age,
            answers={k: v for k, v in answers.items() if k not in ("url", "urls")},
            contact=ContactIn(**{k: v or None for k, v in contact.items()}) if any(contact.values()) else None,
        )
    except ValidationError as e:
        return Checked(None, _in_form_order(_invalid(e, errors, _)))
    return Checked(_report_from(body, itype, answers), {})


# words around an approximate age, in the form's languages: "circa 10", "about 10", "ca. 10", "~10",
# "10 anni", "around 10 years old", "più o meno 10", "10?"
_AGE_BEFORE = (
    r"(?:circa|about|around|approx(?:\.|imately)?|roughly|maybe|perhaps|ca\.?|c\.|~|±|"
    r"pi[uù] o meno|intorno ai|sui|forse)"
)
_AGE_AFTER = r"(?:years?(?: old)?|yrs?\.?|y\.?o\.?|anni|ish|\?)"
_AGE = re.compile(rf"(?:{_AGE_BEFORE}\s*)?(\d{{1,3}})\s*(?:{_AGE_AFTER}\s*)*", re.IGNORECASE)


def parse_age(raw: str) -> int | None:
    """An age from 0 to 120 as a reporter writes it, exact or approximate ("10", "circa 10", "about 10",
    "ca. 10", "~10", "10 anni", "around 10 years old"); None for anything else (a range, words, > 120)."""
    m = _AGE.fullmatch(" ".join(raw.split()))
    if m is None or not m.group(1).isascii():
        return None
    age = int(m.group(1))
    return age if age <= 120 else None


def _check_common(
    values: dict[str, str], errors: dict[str, str], _: Gettext, countries: Collection[str]
) -> tuple[int | None, str | None, dict[str, str]]:
    """The fields every incident type has: the victim's age, the country, the reporter's contact."""
    raw_age = values.get("victim_age", "").strip()
    victim_age = parse_age(raw_age)
    if raw_age and victim_age is None:
        errors["victim_age"] = _('Give the age as a number from 0 to 120 ("about 10" is fine), or leave it empty.')
    country = values.get("country", "").strip().upper() or None
    if country is not None and country not in countries:
        errors["country"] = _("Choose a country from the list, or leave it empty.")
    contact = {k: values.get(f"contact_{k}", "").strip() for k in ("name", "email", "phone")}
    if len(contact["name"]) > 200:
        errors["contact_name"] = _("The name is too long (at most 200 characters).")
    email = contact["email"]
    if email and (len(email) > 320 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
        errors["contact_email"] = _("This does not look like an e-mail address.")
    if len(contact["phone"]) > 64:
        errors["contact_phone"] = _("The phone number is too long (at most 64 characters).")
    return victim_age, country, contact


def _check_answers(
    itype: IncidentType, values: dict[str, str], errors: dict[str, str], _: Gettext
) -> tuple[dict[str, str], list[str]]:
    """The incident type's own questions: answers by key, and the web addresses among them."""
    answers: dict[str, str] = {}
    urls: list[str] = []
    for q in itype.questions:
        name = itype.field(q)
        raw = values.get(name, "").strip()
        if not raw:
            continue
        if q.kind in ("url", "urls"):
            parts = raw.split()
            bad = [u for u in parts if not _looks_like_url(u)]
            if bad:
                shown = bad[0] if len(bad[0]) <= 80 else bad[0][:80] + "…"
                errors[name] = _("“%(value)s” does not look like a web address.") % {"value": shown}
            urls.extend(parts)
            answers[q.key] = "\n".join(parts)
        elif q.kind == "yesno":
            if raw in {v for v, _label in YES_NO}:
                answers[q.key] = raw
        elif q.kind == "datetime":
            try:
                datetime.fromisoformat(raw)
            except ValueError:
                errors[name] = _("Give a date and a time, or leave it empty.")
            answers[q.key] = raw
        elif len(raw) > q.max_length:
            errors[name] = _("This answer is too long (at most %(max)s characters).") % {"max": q.max_length}
        else:
            answers[q.key] = raw
    if len(urls) > MAX_URLS:
        field = next(itype.field(q) for q in itype.questions if q.kind in ("url", "urls"))
        errors[field] = _("At most %(max)s web addresses in one report.") % {"max": MAX_URLS}
    return answers, urls


def _invalid(e: ValidationError, errors: dict[str, str], _: Gettext) -> dict[str, str]:
    """What the report shape refused, on the field it came from."""
    for err in e.errors():
        loc = [str(p) for p in err.get("loc", ())]
        field = {"text": "text", "victim_age": "victim_age", "country": "country"}.get(loc[0] if loc else "")
        if loc and loc[0] == "contact" and len(loc) > 1:
            field = f"contact_{loc[1]}"
        errors.setdefault(field or "category", _("This answer is not valid."))
    return errors


def _in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """Errors in the order their fields come in the form (the summary at the top reads top to bottom)."""
    return {name: errors[name] for name in sorted(errors, key=lambda n: FIELD_ORDER.get(n, len(FIELD_ORDER)))}


def _report_from(body: PublicReportIn, itype: IncidentType, answers: dict[str, str]) -> ReportIn:
    """The intake shape, plus what the analysts' tools need from the answers: identifier answers copied
    into the text (so extraction reads them) and the named account as a reported person."""
    report = body.to_report()
    tagged = [
        f"{q.key.replace('_', ' ')}: {answers[q.key]}" for q in itype.questions if q.identifier and q.key in answers
    ]
    text = report.text
    if tagged:
        text = (text + "\n\n" if text else "") + "[form answers]\n" + "\n".join(tagged)
    persons = list(report.persons)
    if "account" in answers:
        ident = IdentifierIn(kind="account", value=answers["account"], platform=answers.get("platform"))
        persons.append(PersonIn(role=itype.account_role, identifiers=[ident]))
    return report.model_copy(update={"text": text, "persons": persons})
