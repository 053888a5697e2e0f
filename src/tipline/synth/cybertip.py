"""Build CyberTipline report XML documents (the ESP reporting schema) for synthetic reports.

Only elements whose meaning is unambiguous are used, so the ground truth of what a report names is clear:
phones and e-mails of the reported person, ``espService`` + ``screenName`` (a platform ``account``),
``ipCaptureEvent`` addresses, ``webPageIncident`` URLs, victim ages, and the free text in the report's
``additionalInfo``. The document is returned as ``str`` without an XML declaration, so that both
``lxml.etree.fromstring(doc)`` and ``doc.encode()`` work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from ..intake.schemas import Category

INCIDENT_TYPES: dict[Category, str] = {
    Category.CSAM: "Child Pornography (possession, manufacture, and distribution)",
    Category.CHILD_SEX_TRAFFICKING: "Child Sex Trafficking",
    Category.CHILD_SEX_TOURISM: "Child Sex Tourism",
    Category.CHILD_SEXUAL_MOLESTATION: "Child Sexual Molestation",
    Category.MISLEADING_DOMAIN: "Misleading Domain Name",
    Category.MISLEADING_WORDS_IMAGES: "Misleading Words or Digital Images on the Internet",
    Category.ONLINE_ENTICEMENT: "Online Enticement of Children for Sexual Acts",
    Category.UNSOLICITED_OBSCENE: "Unsolicited Obscene Material Sent to a Child",
}


@dataclass
class CtPhone:
    calling_code: str  # "+63"
    national: str  # "9171234567"


@dataclass
class CtIpEvent:
    ip: str
    event: str  # Login, Registration, Purchase, Upload, Other, Unknown
    at: datetime
    port: int | None = None


@dataclass
class CtReported:
    service: str
    screen_name: str | None = None
    phones: list[CtPhone] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    ip_events: list[CtIpEvent] = field(default_factory=list)
    country: str | None = None


@dataclass
class CtReport:
    category: Category
    platform: str
    incident_at: datetime
    text: str
    escalate_reason: str | None = None
    urls: list[str] = field(default_factory=list)
    chat_client: str | None = None
    reporter_first: str = "Trust"
    reporter_last: str = "Safety Team"
    reported: list[CtReported] = field(default_factory=list)
    victim_ages: list[int] = field(default_factory=list)


def _dt(d: datetime) -> str:
    return d.isoformat()


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        el.text = text
    return el


def build_xml(r: CtReport) -> str:
    root = etree.Element("report")
    summ = _sub(root, "incidentSummary")
    _sub(summ, "incidentType", INCIDENT_TYPES[r.category])
    _sub(summ, "platform", r.platform)
    if r.escalate_reason:
        _sub(summ, "escalateToHighPriority", r.escalate_reason)
    _sub(summ, "incidentDateTime", _dt(r.incident_at))
    if r.urls:
        web = _sub(_sub(root, "internetDetails"), "webPageIncident")
        for u in r.urls:
            _sub(web, "url", u)
    if r.chat_client or not r.urls:
        chat = _sub(_sub(root, "internetDetails"), "chatImIncident")
        _sub(chat, "chatClient", r.chat_client or r.platform)
    rep = _sub(root, "reporter")
    person = _sub(rep, "reportingPerson")
    _sub(person, "firstName", r.reporter_first)
    _sub(person, "lastName", r.reporter_last)
    for p in r.reported:
        el = _sub(root, "personOrUserReported")
        if p.phones or p.emails:
            pp = _sub(el, "personOrUserReportedPerson")
            for ph in p.phones:
                _sub(pp, "phone", ph.national, type="Mobile", countryCallingCode=ph.calling_code)
            for e in p.emails:
                _sub(pp, "email", e)
        _sub(el, "espService", p.service)
        if p.screen_name:
            _sub(el, "screenName", p.screen_name)
        for ev in p.ip_events:
            ip = _sub(el, "ipCaptureEvent")
            _sub(ip, "ipAddress", ev.ip)
            _sub(ip, "eventName", ev.event)
            _sub(ip, "dateTime", _dt(ev.at))
            if ev.port is not None:
                _sub(ip, "port", str(ev.port))
        if p.country:
            loc = _sub(el, "estimatedLocation")
            _sub(loc, "countryCode", p.country)
    for age in r.victim_ages:
        v = _sub(root, "victim")
        _sub(_sub(v, "victimPerson"), "age", str(age))
    _sub(root, "additionalInfo", r.text)
    return etree.tostring(root, encoding="unicode", pretty_print=True)
