"""Map a schema-valid CyberTipline ``<report>`` (as a dict, ``parse.element_to_dict``) to ``ReportIn``.

Pure functions: the parsing and its checks are ``tipline.cybertip.parse``'s; this is the mapper that lifts
what a hotline works with (persons, identifiers, IP events, URLs, labelled text) out of the document and
keeps the rest in ``details``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from tipline.intake.schemas import (
    CONTROLS_CHECKED,
    MAX_LIST,
    MAX_PERSONS,
    MAX_TEXT,
    Category,
    IdentifierIn,
    IpEventIn,
    PersonIn,
    ReportIn,
    Source,
    country_codes,
)
from tipline.store.types import plausible_instant

INCIDENT_TYPES: dict[str, Category] = {
    "Child Pornography (possession, manufacture, and distribution)": Category.CSAM,
    "Child Sex Trafficking": Category.CHILD_SEX_TRAFFICKING,
    "Child Sex Tourism": Category.CHILD_SEX_TOURISM,
    "Child Sexual Molestation": Category.CHILD_SEXUAL_MOLESTATION,
    "Misleading Domain Name": Category.MISLEADING_DOMAIN,
    "Misleading Words or Digital Images on the Internet": Category.MISLEADING_WORDS_IMAGES,
    "Online Enticement of Children for Sexual Acts": Category.ONLINE_ENTICEMENT,
    "Unsolicited Obscene Material Sent to a Child": Category.UNSOLICITED_OBSCENE,
}
"""``incidentType`` enumeration of the XSD → tipline category (the reverse serves exports)."""


# ------------------------------------------------------------------------------------ value helpers


def _s(v: Any) -> str | None:
    if isinstance(v, dict):
        v = v.get("#text")
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return None


def _list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _bool(v: Any) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get(_s(v) or "")


def _int(v: Any) -> int | None:
    s = _s(v)
    try:
        return int(s) if s is not None else None
    except ValueError:
        return None


def _dt(v: Any) -> datetime | None:
    s = _s(v)
    if not s:
        return None
    try:
        return plausible_instant(datetime.fromisoformat(s))
    except ValueError:
        return None  # e.g. a year beyond 9999, or 24:00:00, both valid xs:dateTime (kept in details)


def _date(v: Any) -> date | None:
    s = _s(v)
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", s or "")
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _country(v: Any) -> str | None:
    s = _s(v)
    # the XSD's country type also admits GeoIP pseudo-codes (A1, A2, O1, AP, EU): not in the list of countries
    if s and s.upper() in country_codes():
        return s.upper()
    return None  # not a country (the value stays in the document kept beside the report)


def _age(person: dict[str, Any], incident_at: datetime | None) -> int | None:
    age = _int(person.get("age"))
    if age is not None:
        return age if 0 <= age <= 120 else None
    dob = _date(person.get("dateOfBirth"))
    if dob is None:
        return None
    ref = incident_at.date() if incident_at else date.today()
    years = ref.year - dob.year - ((ref.month, ref.day) < (dob.month, dob.day))
    return years if 0 <= years <= 120 else None


def _name(person: dict[str, Any]) -> str | None:
    parts = [_s(person.get(k)) for k in ("firstName", "middleName", "lastName")]
    name = " ".join(p for p in parts if p)
    return name[:256] or None


def _phone_value(phone: Any) -> str | None:
    number = _s(phone)
    if not number:
        return None
    cc = _d(phone).get("@countryCallingCode")
    if cc and not number.startswith("+"):
        return f"{cc} {number}"
    return number


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}


# ------------------------------------------------------------------------------------ report mapping


def _person_detail(
    role: str, source: str, p: dict[str, Any], section: dict[str, Any], linked: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the report says about a person beyond the mapped fields, kept in ``details.persons``."""
    return {
        "source": source,
        "role": role,
        "addresses": _list(p.get("address")),
        "date_of_birth": _s(p.get("dateOfBirth")),
        **{
            k: section[k]
            for k in (
                "espService",
                "vehicleDescription",
                "groupIdentifier",
                "compromisedAccount",
                "thirdPartyUserReported",
                "priorCTReports",
                "accountTemporarilyDisabled",
                "accountPermanentlyDisabled",
                "estimatedLocation",
                "deviceId",
                "schoolName",
                "allEmailsReported",
                "profileBio",
            )
            if k in section
        },
        "associated_accounts": [
            _compact(
                {
                    "type": a.get("@type"),
                    "platform": a.get("platform"),
                    "groupIdentifier": a.get("groupIdentifier"),
                    "deviceId": a.get("deviceId"),
                }
            )
            for a in linked
        ],
    }


class _Mapper:
    def __init__(self, default_service: str | None, incident_at: datetime | None) -> None:
        self.default_service = default_service
        self.incident_at = incident_at
        self.persons: list[PersonIn] = []
        self.person_details: list[dict[str, Any]] = []
        self.text: list[str] = []
        self.urls: list[str] = []
        self.not_mapped: list[str] = []

    # -- small builders that never raise: a value the intake shape cannot hold is noted and kept in details

    def ident(self, out: list[IdentifierIn], kind: str, value: str | None, platform: str | None = None) -> None:
        value = (value or "").strip()
        if not value:
            return
        if len(out) >= MAX_LIST:
            self.not_mapped.append(f"more than {MAX_LIST} identifiers for one person: {kind} {value[:80]!r}")
            return
        try:
            ident = IdentifierIn(kind=kind, value=value, platform=(platform or None) and platform[:128])
        except ValidationError:
            self.not_mapped.append(f"{kind} {value[:80]!r} (too long or empty)")
            return
        if ident not in out:
            out.append(ident)

    def ip_event(self, out: list[IpEventIn], ev: Any) -> None:
        ev = _d(ev)
        ip = _s(ev.get("ipAddress"))
        if not ip:
            return
        if len(out) >= MAX_LIST:
            self.not_mapped.append(f"more than {MAX_LIST} IP events for one person: {ip[:64]!r}")
            return
        port = _int(ev.get("port"))
        try:
            out.append(
                IpEventIn(
                    ip=ip,
                    at=_dt(ev.get("dateTime")),
                    event=_s(ev.get("eventName")),
                    port=port if port is not None and 0 <= port <= 65535 else None,
                )
            )
        except ValidationError:
            self.not_mapped.append(f"IP address {ip[:80]!r} (too long)")

    def url(self, value: Any, where: str) -> None:
        u = _s(value)
        if not u:
            return
        if len(u) > 2048:
            self.not_mapped.append(f"{where}: a URL longer than 2048 characters")
        elif len(self.urls) >= MAX_LIST:
            self.not_mapped.append(f"{where}: more than {MAX_LIST} URLs: {u[:120]!r}")
        elif u not in self.urls:
            self.urls.append(u)

    def say(self, label: str, value: Any) -> None:
        s = _s(value)
        if s:
            self.text.append(f"{label}: {s}")

    def contact_identifiers(self, out: list[IdentifierIn], p: dict[str, Any]) -> None:
        """E-mails and phones of a person-type element (person, contactPerson, associatedAccount)."""
        for e in _list(p.get("email")):
            self.ident(out, "email", _s(e))
        for ph in _list(p.get("phone")):
            self.ident(out, "phone", _phone_value(ph))

    def account_identifiers(self, out: list[IdentifierIn], p: dict[str, Any], service: str | None) -> None:
        """screenName / espIdentifier / displayName (accounts on the service) and profile URLs."""
        for key in ("screenName", "espIdentifier"):
            self.ident(out, "account", _s(p.get(key)), service)
        for dn in _list(p.get("displayName")):
            self.ident(out, "account", _s(dn), service)
        for u in _list(p.get("profileUrl")):
            self.ident(out, "url", _s(u))

    def add_person(
        self,
        role: str,
        name: str | None,
        age: int | None,
        idents: list[IdentifierIn],
        ips: list[IpEventIn],
        country: str | None,
        detail: dict[str, Any],
    ) -> int | None:
        if len(self.persons) >= MAX_PERSONS:
            self.not_mapped.append(f"more than {MAX_PERSONS} persons: {detail.get('source')}")
            return None
        self.persons.append(PersonIn(role=role, name=name, age=age, identifiers=idents, ip_events=ips, country=country))
        self.person_details.append(_compact(detail))
        return len(self.persons) - 1

    # -- the three person-like sections of a report

    def person_section(self, role: str, section: dict[str, Any], person_key: str, source: str, label: str) -> None:
        p = _d(section.get(person_key))
        service = _s(section.get("espService")) or self.default_service
        idents: list[IdentifierIn] = []
        ips: list[IpEventIn] = []
        self.account_identifiers(idents, section, service)
        self.contact_identifiers(idents, p)
        for ev in _list(section.get("ipCaptureEvent")):
            self.ip_event(ips, ev)
        country = _country(_d(section.get("estimatedLocation")).get("countryCode"))
        if country is None:
            for a in _list(p.get("address")):
                country = _country(_d(a).get("country"))
                if country:
                    break
        linked: list[dict[str, Any]] = []
        guardians: list[dict[str, Any]] = []
        for aa in _list(section.get("associatedAccount")):
            aa = _d(aa)
            (guardians if aa.get("@type") == "Parent/Guardian" else linked).append(aa)
        for aa in linked:  # another account of the same person
            aa_service = _s(aa.get("platform")) or _s(aa.get("espService")) or service
            self.account_identifiers(idents, aa, aa_service)
            self.contact_identifiers(idents, aa)
            for ev in _list(aa.get("ipCaptureEvent")):
                self.ip_event(ips, ev)
        detail = _person_detail(role, source, p, section, linked)
        self.add_person(role, _name(p), _age(p, self.incident_at), idents, ips, country, detail)
        self.say(f"{label}: group", section.get("groupIdentifier"))
        self.say(f"{label}: vehicle", section.get("vehicleDescription"))
        self.say(f"{label}: profile bio", section.get("profileBio"))
        for a in linked:
            self.say(f"{label}: associated {a.get('@type', '')} account: profile bio", a.get("profileBio"))
            self.say(
                f"{label}: associated {a.get('@type', '')} account: additional information", a.get("additionalInfo")
            )
        for info in _list(section.get("additionalInfo")):
            self.say(f"{label}: additional information", info)
        for i, g in enumerate(guardians, 1):
            self.guardian(i, g, service, source, label)

    def guardian(self, i: int, g: dict[str, Any], service: str | None, source: str, label: str) -> None:
        """A parent's or guardian's account named with a person (``associatedAccount`` of that type)."""
        g_service = _s(g.get("platform")) or _s(g.get("espService")) or service
        g_ids: list[IdentifierIn] = []
        g_ips: list[IpEventIn] = []
        self.account_identifiers(g_ids, g, g_service)
        self.contact_identifiers(g_ids, g)
        for ev in _list(g.get("ipCaptureEvent")):
            self.ip_event(g_ips, ev)
        g_addr = [_country(_d(a).get("country")) for a in _list(g.get("address"))]
        self.add_person(
            "other",
            _name(g),
            _age({"age": g.get("approximateAge"), "dateOfBirth": g.get("dateOfBirth")}, self.incident_at),
            g_ids,
            g_ips,
            next((c for c in g_addr if c), None),
            {
                "source": f"{source}.associatedAccount(Parent/Guardian)[{i - 1}]",
                "role": "parent_or_guardian",
                "addresses": _list(g.get("address")),
            },
        )
        self.say(f"{label}: parent/guardian account {i}: additional information", g.get("additionalInfo"))


def _internet(
    m: _Mapper,
    report: dict[str, Any],
    incident_ids: list[IdentifierIn],
    incident_ips: list[IpEventIn],
    p2p_ips: list[Any],
) -> tuple[list[dict[str, Any]], str | None]:
    """Map every internetDetails entry; returns the details list and a country stated by an address."""
    entries: list[dict[str, Any]] = []
    country: str | None = None
    labels = {
        "webPageIncident": "Web page",
        "emailIncident": "E-mail",
        "newsgroupIncident": "Newsgroup",
        "chatImIncident": "Chat/IM",
        "onlineGamingIncident": "Online game",
        "cellPhoneIncident": "Cell phone",
        "nonInternetIncident": "Not on the internet",
        "peer2peerIncident": "Peer-to-peer",
    }
    for n, item in enumerate(_list(report.get("internetDetails")), 1):
        for medium, body in _d(item).items():
            b = _d(body)
            entries.append({"medium": medium, **b})
            label = f"{labels.get(medium, medium)} ({n})"
            if medium == "webPageIncident":
                for u in _list(b.get("url")):
                    m.url(u, label)
            elif medium in ("emailIncident", "newsgroupIncident"):
                for e in _list(b.get("emailAddress")):
                    m.ident(incident_ids, "email", _s(e))
                if _s(b.get("name")):
                    label += f" {_s(b.get('name'))}"
            elif medium == "chatImIncident":
                extra = [
                    f"{k}: {_s(b.get(f))}"
                    for k, f in (("client", "chatClient"), ("room", "chatRoomName"))
                    if _s(b.get(f))
                ]
                if extra:
                    label += f" [{', '.join(extra)}]"
            elif medium == "onlineGamingIncident":
                extra = [
                    f"{k}: {_s(b.get(f))}" for k, f in (("game", "gameName"), ("console", "console")) if _s(b.get(f))
                ]
                if extra:
                    label += f" [{', '.join(extra)}]"
            elif medium == "cellPhoneIncident":
                m.ident(incident_ids, "phone", _phone_value(b.get("phoneNumber")))
                if _s(b.get("latitude")) and _s(b.get("longitude")):
                    label += f" [at {_s(b.get('latitude'))}, {_s(b.get('longitude'))}]"
            elif medium == "nonInternetIncident":
                if _s(b.get("locationName")):
                    label += f" [location: {_s(b.get('locationName'))}]"
                for a in _list(b.get("incidentAddress")):
                    country = country or _country(_d(a).get("country"))
                    place = ", ".join(
                        x
                        for x in (
                            _s(_d(a).get(k)) for k in ("address", "city", "zipCode", "state", "nonUsaState", "country")
                        )
                        if x
                    )
                    m.say(f"{label}: address", place)
            elif medium == "peer2peerIncident":
                if _s(b.get("client")):
                    label += f" [client: {_s(b.get('client'))}]"
                p2p_ips.extend(_list(b.get("ipCaptureEvent")))
                m.say(f"{label}: file names", b.get("fileNames"))
            m.say(f"{label}: content", b.get("content"))
            m.say(f"{label}: additional information", b.get("additionalInfo"))
    return entries, country


def _incident_person(
    m: _Mapper, n_reported: int, p2p_ips: list[Any], incident_ids: list[IdentifierIn], incident_ips: list[IpEventIn]
) -> None:
    """The incident's own identifiers and addresses, as one person-like entry ("incident").

    The XSD says a peer-to-peer ipCaptureEvent is "an IP address used by the person or user reported":
    with exactly one reported person they are that person's; otherwise they stay with the incident."""
    if p2p_ips:
        if n_reported == 1 and m.persons and m.person_details[0].get("role") == "reported":
            target = m.persons[0].ip_events
            for ev in p2p_ips:
                m.ip_event(target, ev)
        else:
            for ev in p2p_ips:
                m.ip_event(incident_ips, ev)
    if incident_ids or incident_ips:
        m.add_person(
            "other",
            None,
            None,
            incident_ids,
            incident_ips,
            None,
            {
                "source": "internetDetails",
                "role": "incident",
                "note": "identifiers named in the incident details, not tied to one person by the report",
            },
        )


def report_from_dict(doc: dict[str, Any], *, esp_name: str | None = None) -> ReportIn:
    """Map a schema-valid ``<report>`` (as converted by :func:`element_to_dict`) to a ``ReportIn``: a document
    that ``tipline.cybertip.parse`` checked, so no string in it holds a control character (not walked again)."""
    summary = _d(doc.get("incidentSummary"))
    incident_type = _s(summary.get("incidentType")) or ""
    incident_at = _dt(summary.get("incidentDateTime"))
    application = _s(summary.get("platform"))
    m = _Mapper(application or esp_name, incident_at)

    escalation = _s(summary.get("escalateToHighPriority"))
    m.say("Escalated by the platform (child at immediate risk)", escalation)
    m.say("Incident time", summary.get("incidentDateTimeDescription"))
    m.say("Additional information", doc.get("additionalInfo"))

    incident_ids: list[IdentifierIn] = []
    incident_ips: list[IpEventIn] = []
    p2p_ips: list[Any] = []
    internet, country = _internet(m, doc, incident_ids, incident_ips, p2p_ips)

    reported = _list(doc.get("personOrUserReported"))
    for i, section in enumerate(reported, 1):
        m.person_section(
            "reported",
            _d(section),
            "personOrUserReportedPerson",
            f"personOrUserReported[{i - 1}]",
            f"Reported person {i}",
        )
    for i, section in enumerate(_list(doc.get("intendedRecipient")), 1):
        m.person_section(
            "other", _d(section), "intendedRecipientPerson", f"intendedRecipient[{i - 1}]", f"Intended recipient {i}"
        )
    for i, section in enumerate(_list(doc.get("victim")), 1):
        m.person_section("victim", _d(section), "victimPerson", f"victim[{i - 1}]", f"Victim {i}")

    _incident_person(m, len(reported), p2p_ips, incident_ids, incident_ips)

    annotations = [k for k, v in _d(summary.get("reportAnnotations")).items() if _bool(v)]
    details = _compact(
        {
            "incident_type": incident_type,
            "application": application,
            "escalation": escalation,
            "annotations": annotations,
            "incident_time_description": _s(summary.get("incidentDateTimeDescription")),
            "batched_report_reason": _d(doc.get("batchedReport")).get("@reason"),
            "reporter": doc.get("reporter"),
            "law_enforcement": doc.get("lawEnforcement"),
            "internet": internet,
            "persons": m.person_details,
            "not_mapped": m.not_mapped,
        }
    )
    details["cybertip"] = doc

    text = "\n".join(m.text)
    if len(text) > MAX_TEXT:
        marker = "\n[cut at 20,000 characters: the full text is in details.cybertip]"
        text = text[: MAX_TEXT - len(marker)] + marker
        details.setdefault("not_mapped", []).append("text longer than 20,000 characters (cut)")

    # every string here comes from the document, whose parse refused control characters
    return ReportIn.model_validate(
        {
            "source": Source.CYBERTIP,
            "category": INCIDENT_TYPES.get(incident_type, Category.OTHER),
            "text": text,
            "language": None,
            "country": country,
            "escalate": bool(escalation),
            "incident_at": incident_at,
            "persons": m.persons,
            "urls": m.urls,
            "details": details,
            "open_submission": True,
        },
        context=CONTROLS_CHECKED,
    )
