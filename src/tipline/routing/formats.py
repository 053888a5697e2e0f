"""The partner formats of a referral, built from a :class:`Snapshot` (pure functions, no database).

- **CyberTipline report XML** (:func:`cybertip_xml`): one ``<report>`` per tipline report, built with lxml
  and validated against the published schema by ``tipline.cybertip.parse`` before it leaves.
- **STIX 2.1** (:func:`stix_bundle`): the ``stix2`` library; identifiers that STIX has an observable for
  (URL, domain, e-mail, IP, account, file hashes) become observables, phones and PDQ hashes tipline's
  extension observables (``routing.stix_ext``), the rest go into a note; candidate countries become
  ``location`` objects; each object once; the hotline's identity is the same in every referral of an
  installation; everything is marked with the case's TLP (AMBER by default).
- **MISP** (:func:`misp_event`): a MISP event in MISP JSON, built offline with ``pymisp``'s ``MISPEvent``
  and ``MISPObject`` (no server).
- **PDF** (:func:`summary_pdf`): the summary for people, with ``fpdf2``.

fpdf2 rather than reportlab: pure Python (no C extension to build), a small API that covers what a
summary needs (text, tables, Unicode TrueType fonts with subsetting), released often (2.8.x in 2026),
and its dependencies (Pillow, defusedxml, fontTools) are ones tipline has or needs anyway. Its licence is
LGPL-3.0 (a dependency used as a library; reportlab would be BSD). A Unicode font is taken from Debian's
``fonts-dejavu-core`` when present; without it the core Helvetica font is used and characters outside
Latin-1 are replaced by ``?`` (the JSON document always has the exact text). Characters the font lacks are
replaced before fpdf2 sees them, so fpdf2 never logs them (its missing-glyph warning quotes the text).
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers
from lxml import etree

from tipline.extract.platforms import UNKNOWN as UNKNOWN_PLATFORM
from tipline.intake.schemas import Category
from tipline.routing import stix_ext

# ------------------------------------------------------------------------------------------ snapshot


@dataclass
class Snapshot:
    """Everything a referral carries, read in one transaction (see ``referral.gather``)."""

    reference: str
    created_at: datetime
    created_by: str
    hotline: str
    agency: dict[str, Any]
    subject_type: str  # report | case
    subject_id: int
    title: str
    tlp: str
    reports: list[dict[str, Any]]
    entities: list[dict[str, Any]]  # {"kind", "value", "reports": [{"report_id", "sources": [...]}]}
    attachments: list[dict[str, Any]]
    jurisdiction: list[dict[str, Any]]  # candidates of the whole subject (merged)
    takedowns: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    payment_alerts: list[dict[str, Any]] = field(default_factory=list)  # a case's alerts (tipline.finance)
    identity: tuple[str, datetime] | None = None  # the hotline's STIX identity id and its created time


# ------------------------------------------------------------------------------------------ CyberTipline

CT_INCIDENT_TYPES: dict[str, str] = {
    Category.CSAM: "Child Pornography (possession, manufacture, and distribution)",
    Category.CHILD_SEX_TRAFFICKING: "Child Sex Trafficking",
    Category.CHILD_SEX_TOURISM: "Child Sex Tourism",
    Category.CHILD_SEXUAL_MOLESTATION: "Child Sexual Molestation",
    Category.MISLEADING_DOMAIN: "Misleading Domain Name",
    Category.MISLEADING_WORDS_IMAGES: "Misleading Words or Digital Images on the Internet",
    Category.ONLINE_ENTICEMENT: "Online Enticement of Children for Sexual Acts",
    Category.UNSOLICITED_OBSCENE: "Unsolicited Obscene Material Sent to a Child",
    # tipline's own categories, mapped to the nearest CyberTipline incident type (the original is kept in
    # additionalInfo): live-streamed abuse sold to viewers is cybersex trafficking; NCMEC counts
    # sextortion as online enticement
    Category.LIVE_STREAMED_ABUSE: "Child Sex Trafficking",
    Category.TRAFFICKING_AD: "Child Sex Trafficking",
    Category.SEXTORTION: "Online Enticement of Children for Sexual Acts",
}
"""tipline category → CyberTipline ``incidentType``; ``other`` has none (classify the report first)."""

_CT_EVENTS = {"login": "Login", "registration": "Registration", "purchase": "Purchase", "upload": "Upload"}


class FormatError(ValueError):
    """The subject cannot be written in this format; the message says why and what to do."""


@functools.cache
def _xsd_countries() -> frozenset[str]:
    from tipline.cybertip.parse import XSD_PATH

    root = etree.parse(str(XSD_PATH), etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    values = root.xpath("//xs:simpleType[@name='country']//xs:enumeration/@value", namespaces=ns)
    return frozenset(str(v) for v in values if len(str(v)) == 2)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        el.text = _xml_text(text)
    return el


def _xml_text(s: str) -> str:
    # characters XML 1.0 cannot hold (control characters) are dropped
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", s)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        return datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        return None


def _phone_parts(value: str) -> tuple[str, str] | None:
    try:
        num = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    national = str(num.national_number)
    if num.italian_leading_zero:
        national = "0" * (num.number_of_leading_zeros or 1) + national
    return f"+{num.country_code}", national


def _split_name(name: str) -> tuple[str | None, str | None]:
    parts = name.strip().rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0] or None)


def _ct_person(el: etree._Element, p: dict[str, Any], *, with_name: bool) -> list[str]:
    """A CyberTipline ``person`` element's children; returns identifiers it could not hold."""
    rest: list[str] = []
    if with_name and p.get("name"):
        first, last = _split_name(str(p["name"]))
        if first:
            _sub(el, "firstName", first)
        if last:
            _sub(el, "lastName", last)
    for ident in p.get("identifiers", []):
        if ident.get("kind") in ("phone", "whatsapp"):
            parts = _phone_parts(str(ident.get("value", "")))
            if parts:
                _sub(el, "phone", parts[1], type="Mobile", countryCallingCode=parts[0])
            else:
                rest.append(f"{ident.get('kind')}: {ident.get('value')}")
    for ident in p.get("identifiers", []):
        if ident.get("kind") == "email":
            _sub(el, "email", str(ident.get("value", "")))
    if p.get("age") is not None:
        _sub(el, "age", str(int(p["age"])))
    return rest


def _ct_section(root: etree._Element, tag: str, person_tag: str, p: dict[str, Any], role_note: str) -> None:
    section = _sub(root, tag)
    person = etree.Element(person_tag)
    rest = _ct_person(person, p, with_name=tag != "victim")
    if len(person) or tag == "victim":
        section.append(person)
    accounts = [i for i in p.get("identifiers", []) if i.get("kind") == "account"]
    if accounts and tag != "victim":
        first = accounts[0]
        if first.get("platform"):
            _sub(section, "espService", str(first["platform"]))
        _sub(section, "screenName", str(first.get("value", "")))
        rest += [f"account on {a.get('platform') or '?'}: {a.get('value')}" for a in accounts[1:]]
    elif accounts:
        rest += [f"account on {a.get('platform') or '?'}: {a.get('value')}" for a in accounts]
    for ident in p.get("identifiers", []):
        if ident.get("kind") == "url" and tag != "victim":
            _sub(section, "profileUrl", str(ident.get("value", "")))
    for ev in p.get("ip_events", []):
        ip = _sub(section, "ipCaptureEvent")
        _sub(ip, "ipAddress", str(ev.get("ip", "")))
        name = str(ev.get("event") or "")
        _sub(ip, "eventName", _CT_EVENTS.get(name.lower(), "Other" if name else "Unknown"))
        when = _iso(ev.get("at"))
        if when:
            _sub(ip, "dateTime", when)
        if ev.get("port") is not None:
            _sub(ip, "port", str(int(ev["port"])))
    other = [
        f"{i.get('kind')}: {i.get('value')}"
        for i in p.get("identifiers", [])
        if i.get("kind") not in ("phone", "whatsapp", "email", "account", "url")
    ]
    rest += other
    country = str(p.get("country") or "").upper()
    if country in _xsd_countries():
        loc = _sub(section, "estimatedLocation")
        _sub(loc, "countryCode", country)
    info = [role_note] + ([f"Other identifiers: {'; '.join(rest)}"] if rest else [])
    _sub(section, "additionalInfo", " ".join(info))


def _ct_internet(root: Any, report: dict[str, Any]) -> set[str]:
    """``internetDetails``: the report's URLs, and the e-mails and phones of its text that no person
    section carries (returned: the identifier values the person sections carry)."""
    entity_values = {
        kind: [e["value"] for e in report.get("entities", []) if e["kind"] == kind]
        for kind in ("url", "email", "phone")
    }
    urls = list(dict.fromkeys([*report.get("urls", []), *entity_values["url"]]))
    if urls:
        web = _sub(_sub(root, "internetDetails"), "webPageIncident")
        for u in urls:
            _sub(web, "url", u)
    person_values = {
        str(i.get("value")) for p in report.get("persons", []) for i in p.get("identifiers", []) if i.get("value")
    }
    text_emails = [e for e in entity_values["email"] if e not in person_values]
    if text_emails:
        mail = _sub(_sub(root, "internetDetails"), "emailIncident")
        for e in text_emails:
            _sub(mail, "emailAddress", e)
    for phone in entity_values["phone"]:
        parts = _phone_parts(phone)
        if parts and phone not in person_values:
            cell = _sub(_sub(root, "internetDetails"), "cellPhoneIncident")
            _sub(cell, "phoneNumber", parts[1], type="Mobile", countryCallingCode=parts[0])
    if not len(root.findall("internetDetails")) and report.get("platform"):
        chat = _sub(_sub(root, "internetDetails"), "chatImIncident")
        _sub(chat, "chatClient", str(report["platform"]))
    return person_values


_CT_ROLES = {
    "reported": "Reported person.",
    "broadcaster": "Broadcaster of the live stream.",
    "viewer": "Viewer of the live stream.",
}


def _ct_reported(report: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The one ``personOrUserReported`` (the schema's note: "0 or 1"; clients keep one) and the others.

    The first reported person, else the first broadcaster, is the one; the rest go into the report's
    ``additionalInfo`` ("any additional notes on this incident not covered by any other section")."""
    persons = report.get("persons", [])
    ranked = [p for p in persons if p.get("role") == "reported"] + [
        p for p in persons if p.get("role") == "broadcaster"
    ]
    return (ranked[0], ranked[1:]) if ranked else (None, [])


def _ct_person_words(p: dict[str, Any]) -> str:
    parts = [
        f"{i.get('kind')}" + (f" on {i['platform']}" if i.get("platform") else "") + f": {i.get('value')}"
        for i in p.get("identifiers", [])
    ]
    parts += [f"IP {ev.get('ip')}" + (f" at {ev['at']}" if ev.get("at") else "") for ev in p.get("ip_events", [])]
    if p.get("country"):
        parts.append(f"estimated location {p['country']}")
    return "; ".join(parts) or "no identifiers"


def _ct_info(
    report: dict[str, Any],
    person_values: set[str],
    sectioned: tuple[str, ...],
    extra: list[dict[str, Any]] | None = None,
) -> list[str]:
    """``additionalInfo``: what the schema has no element for (reported persons after the first, other
    persons, loose identifiers, candidate jurisdictions, file hashes, the report text)."""
    category = report["category"]
    info = [
        f"tipline report {report['id']} ({report['source']}), category {category}, priority P{report.get('priority')}, "
        f"status {report.get('status')}.",
    ]
    for n, p in enumerate(extra or [], start=2):
        role = "broadcaster of the live stream" if p.get("role") == "broadcaster" else "reported person"
        info.append(f"Reported person {n} ({role}): {_ct_person_words(p)}.")
    others = [p for p in report.get("persons", []) if p.get("role") not in sectioned]
    for p in others:
        ids = "; ".join(f"{i.get('kind')}: {i.get('value')}" for i in p.get("identifiers", []))
        ips = "; ".join(str(ev.get("ip")) for ev in p.get("ip_events", []))
        if ids or ips:
            info.append(f"Other person or incident identifiers: {ids}{'; IPs: ' + ips if ips else ''}.")
    loose = [
        f"{e['kind']}: {e['value']}"
        for e in report.get("entities", [])
        if e["kind"] not in ("url", "email", "phone", "domain") and e["value"] not in person_values
    ]
    if loose:
        info.append("Identifiers in the report text: " + "; ".join(loose) + ".")
    cands = report.get("jurisdiction", [])[:3]
    if cands:
        info.append("Candidate jurisdictions: " + ", ".join(f"{c['country']} ({c['weight']:.2f})" for c in cands) + ".")
    for f in report.get("files", []):
        hashes = ", ".join(f"{k.upper()} {f[k]}" for k in ("md5", "sha1", "sha256", "pdq") if f.get(k))
        if hashes:
            info.append(f"File {f['id']}: {hashes}.")
    if report.get("text"):
        info.append("Report text:\n" + report["text"])
    return info


def cybertip_xml(snap: Snapshot, report: dict[str, Any]) -> bytes:
    """One tipline report as a CyberTipline ``<report>`` document (UTF-8 bytes, schema-valid)."""
    category = report["category"]
    incident = CT_INCIDENT_TYPES.get(category)
    if incident is None:
        raise FormatError(
            f"report {report['id']} has the category {category!r}, which has no CyberTipline incident type: "
            "classify it (choose its category) before a CyberTipline referral, or refer it as a package"
        )
    root = etree.Element("report")
    summ = _sub(root, "incidentSummary")
    _sub(summ, "incidentType", incident)
    if report.get("platform"):
        _sub(summ, "platform", str(report["platform"]))
    if report.get("escalate") or report.get("is_live") or report.get("priority") == 1:
        why = [r["description"] for r in report.get("reasons", [])[:3]]
        reason = f"tipline priority P{report.get('priority')}" + (f": {'; '.join(why)}" if why else "")
        _sub(summ, "escalateToHighPriority", reason)
    _sub(summ, "incidentDateTime", _iso(report.get("incident_at")) or _iso(report["received_at"]) or "")
    person_values = _ct_internet(root, report)
    reporter = _sub(root, "reporter")
    person = _sub(reporter, "reportingPerson")
    _sub(person, "lastName", snap.hotline)
    _sub(
        reporter,
        "companyTemplate",
        f"Referral {snap.reference} from {snap.hotline} (tipline report {report['id']}), "
        f"made {snap.created_at.isoformat()} for {snap.agency['name']}. "
        "The file hashes and chain of custody are in the referral package's manifest.",
    )
    primary, extra = _ct_reported(report)
    if primary is not None:
        note = _CT_ROLES[primary["role"]]
        if extra:
            note += f" {len(extra)} other reported person(s) are described in the report's additionalInfo."
        _ct_section(root, "personOrUserReported", "personOrUserReportedPerson", primary, note)
    for p in report.get("persons", []):
        if p.get("role") == "viewer":  # they received the stream: the schema's intended recipients
            _ct_section(root, "intendedRecipient", "intendedRecipientPerson", p, _CT_ROLES["viewer"])
    for p in report.get("persons", []):
        if p.get("role") == "victim":
            _ct_section(root, "victim", "victimPerson", p, "Victim (name withheld by the hotline).")
    info = _ct_info(report, person_values, (*_CT_ROLES, "victim"), extra)
    _sub(root, "additionalInfo", "\n".join(info))
    xml = etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    from tipline.cybertip.parse import CybertipError, parse_report

    try:
        parse_report(xml, max_bytes=10_000_000)
    except CybertipError as e:  # a bug here, not the user's: say so plainly
        raise FormatError(f"the CyberTipline XML for report {report['id']} does not validate: {e}") from None
    return bytes(xml)


# ------------------------------------------------------------------------------------------ STIX 2.1


def _tlp_stix(tlp: str) -> Any:
    import stix2

    return {"clear": stix2.TLP_WHITE, "white": stix2.TLP_WHITE, "green": stix2.TLP_GREEN, "red": stix2.TLP_RED}.get(
        tlp, stix2.TLP_AMBER
    )


def _stix_account(kind: str, value: str) -> Any:
    """A ``user-account``: ``account_type`` from STIX's vocabulary where the platform has a value, else the
    platform in tipline's ``account-platform`` extension (a value outside the vocabulary fails --strict)."""
    import stix2

    platform, login = account_parts(kind, value)
    known = stix_ext.account_type(platform)
    if known is not None:
        return stix2.UserAccount(account_login=login, account_type=known)
    return stix2.UserAccount(account_login=login, extensions=stix_ext.platform_extension(platform))


def _stix_observable(kind: str, value: str) -> Any:
    """The STIX cyber-observable of an identifier, or None for a kind STIX (and tipline's extensions) has no
    type for."""
    import stix2

    if kind == "url":
        return stix2.URL(value=value)
    if kind in ("domain", "onion"):
        return stix2.DomainName(value=value)
    if kind == "email":
        return stix2.EmailAddress(value=value)
    if kind == "ipv4":
        return stix2.IPv4Address(value=value)
    if kind == "ipv6":
        return stix2.IPv6Address(value=value)
    if kind in ("phone", "whatsapp"):
        number = _phone_number(value)
        if number is None:
            return None
        # stix2 is untyped: its CustomObservable decorator gives the class a constructor mypy cannot see
        return stix_ext.PhoneNumber(id=f"phone-number--{uuid.uuid4()}", **number)  # type: ignore[call-arg]
    link = invite_link(kind, value)
    if link is not None:
        return stix2.URL(value=link)
    if kind in ("account", "telegram", "skype", "snapchat", "kik", "discord"):
        return _stix_account(kind, value)
    return None


def invite_link(kind: str, value: str) -> str | None:
    """The link of a group invite (a ``telegram`` value "t.me/+CODE" or "t.me/addlist/CODE", a ``discord``
    value "discord.gg/CODE"): it names a private group, not an account, so partners get it as a URL."""
    if (kind == "telegram" and value.startswith("t.me/")) or (kind == "discord" and value.startswith("discord.gg/")):
        return "https://" + value
    return None


def _phone_number(value: str) -> dict[str, str] | None:
    try:
        num = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    out = {"value": phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)}
    region = phonenumbers.region_code_for_number(num)
    if region and region != "ZZ":
        out["country_code"] = region
    return out


def _stix_locations(r: dict[str, Any], common: dict[str, Any]) -> list[Any]:
    """A report's five best candidate jurisdictions, with their evidence in words."""
    import stix2

    out = []
    for c in r.get("jurisdiction", [])[:5]:
        why = "; ".join(ev["detail"] + f" ({ev['value']})" for ev in c["evidence"][:6])
        desc = f"candidate jurisdiction, weight {c['weight']:.2f}: {why}"
        out.append(stix2.Location(country=c["country"], description=desc, **common))
    return out


def _hotline_identity(snap: Snapshot) -> Any:
    """The hotline as a STIX identity: the same id and ``created`` in every referral of this installation."""
    import stix2

    if snap.identity is not None:
        ident_id, since = snap.identity
    else:  # a snapshot made without an installation (tests of the format alone): stable per hotline name
        ident_id, since = f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, 'tipline:' + snap.hotline)}", snap.created_at
    return stix2.Identity(id=ident_id, name=snap.hotline, identity_class="organization", created=since, modified=since)


class _Objects:
    """A bundle's objects, each once: observables by (kind, value), everything by id."""

    def __init__(self) -> None:
        self.by_id: dict[str, Any] = {}
        self.by_value: dict[tuple[str, str], Any] = {}
        self.extensions: set[str] = set()

    def add(self, obj: Any) -> Any:
        existing = self.by_id.get(obj.id)
        if existing is not None:
            return existing
        self.by_id[obj.id] = obj
        for ext in getattr(obj, "extensions", None) or {}:
            if ext.startswith("extension-definition--"):
                self.extensions.add(ext)
        return obj

    def observable(self, kind: str, value: str) -> Any:
        key = ("phone" if kind == "whatsapp" else kind, value)
        if key not in self.by_value:
            obj = _stix_observable(kind, value)
            self.by_value[key] = self.add(obj) if obj is not None else None
        return self.by_value[key]

    def file(self, f: dict[str, Any]) -> list[str]:
        """The file and its PDQ hash (refs)."""
        import stix2

        refs: list[str] = []
        hashes = {name: f[k] for k, name in (("md5", "MD5"), ("sha1", "SHA-1"), ("sha256", "SHA-256")) if f.get(k)}
        file_obj = None
        if hashes:
            file_obj = self.add(
                stix2.File(hashes=hashes, size=f.get("size") or None, mime_type=f.get("media_type") or None)
            )
            refs.append(file_obj.id)
        if f.get("pdq"):
            key = ("pdq", f["pdq"] + (file_obj.id if file_obj is not None else ""))
            if key not in self.by_value:
                props: dict[str, Any] = {"value": f["pdq"]}
                if f.get("pdq_quality") is not None:
                    props["quality"] = int(f["pdq_quality"])
                if file_obj is not None:
                    props["file_ref"] = file_obj.id
                # stix2's CustomObservable (untyped) makes the constructor: mypy sees the bare class
                obj = stix_ext.PdqHash(id=f"pdq-hash--{uuid.uuid4()}", **props)  # type: ignore[call-arg]
                self.by_value[key] = self.add(obj)
            refs.append(self.by_value[key].id)
        return refs


def _stix_report(snap: Snapshot, r: dict[str, Any], objs: _Objects, common: dict[str, Any], ident: Any) -> Any:
    import stix2

    refs: list[str] = []
    other: list[str] = []
    for e in r.get("entities", []):
        obj = objs.observable(e["kind"], e["value"])
        if obj is not None:
            refs.append(obj.id)
        else:
            other.append(f"{e['kind']}: {e['value']}")
    for f in r.get("files", []):
        refs += objs.file(f)
    for loc in _stix_locations(r, common):
        refs.append(objs.add(loc).id)
    refs = list(dict.fromkeys(refs)) or [ident.id]
    rep = objs.add(
        stix2.Report(
            name=f"tipline report {r['id']}: {r['category']} (P{r.get('priority')})",
            description=r.get("text") or "(no text)",
            published=snap.created_at,
            report_types=["threat-report"],
            labels=["child-sexual-exploitation", r["category"].replace("_", "-")],
            object_refs=refs,
            external_references=[{"source_name": "tipline", "external_id": f"{snap.reference}/report-{r['id']}"}],
            **common,
        )
    )
    if other:
        abstract = "Identifiers without a STIX observable type"
        objs.add(stix2.Note(abstract=abstract, content="\n".join(other), object_refs=[rep.id], **common))
    return rep


def stix_bundle(snap: Snapshot) -> bytes:
    """The subject as a STIX 2.1 bundle (JSON bytes): each object once, phones and PDQ hashes as tipline's
    extension observables with their extension definitions; ``stix2.parse`` reads it once
    ``tipline.routing.stix_ext`` is imported (it registers them)."""
    import stix2

    marking = _tlp_stix(snap.tlp)
    ident = _hotline_identity(snap)
    common = {
        "created_by_ref": ident.id,
        "object_marking_refs": [marking],
        "created": snap.created_at,
        "modified": snap.created_at,
    }
    objs = _Objects()
    objs.add(ident)
    report_sdos = [_stix_report(snap, r, objs, common, ident) for r in snap.reports]
    if snap.subject_type == "case":
        objs.add(
            stix2.Grouping(
                name=f"tipline case {snap.subject_id}: {snap.title}",
                context="suspicious-activity",
                object_refs=[r.id for r in report_sdos],
                **common,
            )
        )
    objects = list(objs.by_id.values())
    used = [e for e in stix_ext.EXTENSIONS if e.id in objs.extensions]
    if used:
        objects += [stix_ext.project_identity(), *(stix_ext.definition(e) for e in used)]
    objects.append(marking)
    text: str = stix2.Bundle(objects=objects).serialize(pretty=True)  # stix2 is untyped
    return text.encode("utf-8")


# ------------------------------------------------------------------------------------------ MISP


_MISP_TYPES = {
    "url": "url",
    "domain": "domain",
    "onion": "domain",
    "email": "email",
    "phone": "phone-number",
    "whatsapp": "phone-number",
    "btc": "btc",
    "xmr": "xmr",
    "iban": "iban",
    "mtcn": "text",
}


def account_parts(kind: str, value: str) -> tuple[str, str]:
    """An account entity's platform id and login: ``account`` values are "<platform id>/<login>", a handle
    kind of its own (telegram, skype, ...) is its platform."""
    if kind != "account":
        return kind, value
    svc, sep, login = value.partition("/")
    return (svc, login) if sep and login else (UNKNOWN_PLATFORM, value)


# MISP's user-account "account-type" is free text with suggested values; a platform that has one takes it
_MISP_ACCOUNT_TYPES = {"x": "twitter"}


def misp_account_type(platform: str) -> str:
    """The MISP ``account-type`` of a platform id: MISP's suggested name where it has one (X is "twitter"),
    else the platform id itself (MISP takes any text), and "unknown" only when the platform is unknown."""
    return _MISP_ACCOUNT_TYPES.get(platform, platform or UNKNOWN_PLATFORM)


def misp_event(snap: Snapshot) -> bytes:
    """The subject as one MISP event (MISP JSON), built offline with pymisp."""
    from pymisp import MISPEvent, MISPObject

    ev = MISPEvent()
    ev.info = f"tipline referral {snap.reference}: {snap.title}"
    ev.distribution = 0  # this organisation only: the receiving agency decides how to share further
    ev.threat_level_id = 1 if any(r.get("priority") == 1 for r in snap.reports) else 2
    ev.analysis = 1
    ev.set_date(snap.created_at.date())
    ev.add_tag(f"tlp:{'clear' if snap.tlp == 'clear' else snap.tlp}")
    for cat in sorted({r["category"] for r in snap.reports}):
        ev.add_tag(f'tipline:category="{cat}"')
    for e in snap.entities:
        where = "; ".join(
            f"report {x['report_id']}: " + ", ".join(sorted({src["field"] for src in x["sources"]}))
            for x in e["reports"]
        )
        kind, value = e["kind"], e["value"]
        if kind in ("ipv4", "ipv6"):
            ev.add_attribute("ip-src", value, comment=where, to_ids=False)
        elif kind in _MISP_TYPES:
            comment = f"{kind} ({where})" if _MISP_TYPES[kind] == "text" else where
            ev.add_attribute(_MISP_TYPES[kind], value, comment=comment, to_ids=False)
        elif kind in ("eth", "trx"):
            # coin-address's "address" is typed btc; other chains go in its generic "address-crypto" (text)
            obj = MISPObject("coin-address", strict=True)
            obj.add_attribute("address-crypto", value)
            obj.add_attribute("symbol", kind.upper())
            obj.comment = where
            ev.add_object(obj)
        elif (link := invite_link(kind, value)) is not None:
            ev.add_attribute("url", link, comment=f"{kind} group invite ({where})", to_ids=False)
        elif kind == "telegram":
            obj = MISPObject("telegram-account")
            obj.add_attribute("username", value)
            obj.comment = where
            ev.add_object(obj)
        else:  # accounts and other handles
            svc, login = account_parts(kind, value)
            obj = MISPObject("user-account", strict=True)
            obj.add_attribute("username", login)
            obj.add_attribute("account-type", misp_account_type(svc))
            obj.add_attribute("description", f"{kind} on {svc}")
            obj.comment = where
            ev.add_object(obj)
    for f in snap.attachments:
        if not any(f.get(k) for k in ("md5", "sha1", "sha256")):
            continue
        obj = MISPObject("file")
        for k in ("md5", "sha1", "sha256"):
            if f.get(k):
                obj.add_attribute(k, f[k])
        if f.get("size") is not None:
            obj.add_attribute("size-in-bytes", int(f["size"]))
        if f.get("media_type"):
            obj.add_attribute("mimetype", f["media_type"])
        obj.comment = f"report {f['report_id']}, file {f['id']}" + (f", PDQ {f['pdq']}" if f.get("pdq") else "")
        ev.add_object(obj)
    for c in snap.jurisdiction[:5]:
        obj = MISPObject("geolocation")
        obj.add_attribute("countrycode", c["country"])
        obj.add_attribute(
            "text",
            f"candidate jurisdiction, weight {c['weight']:.2f}: " + "; ".join(e["detail"] for e in c["evidence"][:6]),
        )
        ev.add_object(obj)
    for r in snap.reports:
        body = [
            f"# tipline report {r['id']}",
            f"- category: {r['category']}; priority P{r.get('priority')}; status {r.get('status')}",
            f"- source: {r['source']}",
            f"- received: {_iso(r['received_at'])}; incident: {_iso(r.get('incident_at')) or 'unknown'}",
            "",
            r.get("text") or "(no text)",
        ]
        ev.add_event_report(f"tipline report {r['id']}", "\n".join(body))
    # MISP's own JSON (what its import and pymisp's schemas read): the event inside a top-level "Event"
    return json.dumps({"Event": json.loads(ev.to_json())}, indent=2, ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------------------------------ PDF

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class _Pdf:
    def __init__(self, snap: Snapshot) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_creation_date(snap.created_at)
        self.pdf.set_title(f"tipline referral {snap.reference}")
        self.pdf.set_author(snap.hotline)
        self.pdf.set_auto_page_break(True, margin=15)
        regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        self.unicode = regular.exists() and bold.exists()
        if self.unicode:
            self.pdf.add_font("body", "", str(regular))
            self.pdf.add_font("body", "B", str(bold))
            self.family = "body"
        else:
            self.family = "helvetica"
        self.pdf.add_page()
        self.set(10)
        self._cmap: set[int] | None = None

    def set(self, size: float, style: str = "") -> None:
        self.pdf.set_font(self.family, style, size)

    def clean(self, text: str) -> str:
        text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
        if self.unicode:
            if self._cmap is None:
                from fpdf.fonts import TTFFont

                font = self.pdf.current_font
                assert isinstance(font, TTFFont)  # the body font was added from a TrueType file (self.unicode)
                self._cmap = set(font.cmap)
            cmap = self._cmap
            return "".join(c if c in "\n\t" or ord(c) in cmap else "?" for c in text)
        return text.encode("latin-1", "replace").decode("latin-1")

    def h(self, text: str, size: float = 13) -> None:
        from fpdf.enums import XPos, YPos

        self.pdf.ln(2)
        self.set(size, "B")
        self.pdf.multi_cell(0, size * 0.5, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set(10)
        self.pdf.ln(1)

    def p(self, text: str, size: float = 9.5) -> None:
        from fpdf.enums import XPos, YPos

        self.set(size)
        self.pdf.multi_cell(0, size * 0.5, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def table(self, header: list[str], rows: list[list[str]], widths: tuple[int, ...] | None = None) -> None:
        if not rows:
            self.p("(none)")
            return
        self.set(8)
        with self.pdf.table(col_widths=widths, text_align="LEFT", line_height=4) as t:
            row = t.row()
            for cell in header:
                row.cell(self.clean(cell))
            for r in rows:
                row = t.row()
                for cell in r:
                    row.cell(self.clean(cell))
        self.set(10)


def _pdf_report(d: _Pdf, r: dict[str, Any]) -> None:
    """One report's section of the summary: facts, why its priority, text, identifiers, file hashes."""
    from tipline.i18n.templating import defang

    d.h(f"Report {r['id']} - {r['category']} - P{r.get('priority')}")
    d.p(
        f"Source: {r['source']}{' (' + r['platform'] + ')' if r.get('platform') else ''}; "
        f"status {r.get('status')}; "
        f"received {_iso(r['received_at'])}; incident {_iso(r.get('incident_at')) or 'unknown'}; "
        f"language {r.get('language') or 'unknown'}; stated country {r.get('country') or 'none'}"
        + ("; LIVE" if r.get("is_live") else "")
    )
    if r.get("reasons"):
        d.p("Why this priority: " + "; ".join(f"{x['description']} (+{x['points']:g})" for x in r["reasons"]))
    d.p("Text: " + defang_text(r.get("text") or "(no text)"))
    d.table(
        ["kind", "value", "found in"],
        [
            [
                e["kind"],
                defang(e["value"]) if e["kind"] in ("url", "domain", "email", "onion") else e["value"],
                ", ".join(sorted({s["field"] for s in e["sources"]})),
            ]
            for e in r.get("entities", [])
        ],
        (20, 80, 40),
    )
    if r.get("files"):
        d.p("Files (hashes only):")
        d.table(
            ["file", "type", "SHA-256 / MD5"],
            [
                [str(f["id"]), f.get("media_type") or "?", f.get("sha256") or f.get("md5") or f.get("pdq") or "?"]
                for f in r["files"]
            ],
            (15, 30, 95),
        )


def summary_pdf(snap: Snapshot) -> bytes:
    """The referral for people: who, what, why these countries, identifiers, files and handling."""
    from tipline.i18n.templating import defang

    d = _Pdf(snap)
    d.h(f"Referral {snap.reference}", 16)
    d.p(
        f"From: {snap.hotline}    To: {snap.agency['name']} ({snap.agency['id']})\n"
        f"Made: {snap.created_at.isoformat()} by {snap.created_by}    TLP: {snap.tlp.upper()}\n"
        f"Subject: {snap.subject_type} {snap.subject_id} - {snap.title}\n"
        "URLs below are defanged (hxxp, [.]) so that nobody opens them by accident. The exact values, the file "
        "hashes, the identifiers with their sources and the audit extract are in referral.json and manifest.json; "
        "manifest.json has the SHA-256 of every file in this package."
    )
    if snap.notes:
        d.p("Notes: " + " ".join(snap.notes))
    d.h("Candidate jurisdictions")
    d.table(
        ["country", "weight", "evidence"],
        [
            [
                c["country"],
                f"{c['weight']:.2f}",
                "; ".join(
                    f"{e['kind']}: {defang(e['value']) if e['kind'] in ('hosting', 'cctld') else e['value']}"
                    for e in c["evidence"][:8]
                ),
            ]
            for c in snap.jurisdiction[:10]
        ],
        (15, 15, 110),
    )
    for r in snap.reports:
        _pdf_report(d, r)
    if snap.takedowns:
        d.h("Reported URLs: notice and takedown")
        d.table(
            ["URL", "hosting", "state"],
            [[defang(t["url"]), t.get("hosting_country") or "unknown", t["state"]] for t in snap.takedowns],
            (95, 20, 25),
        )
    d.h("Handling (audit extract)")
    d.table(
        ["when (UTC)", "who", "what", "object"],
        [
            [a["at"][:19].replace("T", " "), a["actor"], a["action"], f"{a['target_type']} {a['target_id']}"]
            for a in snap.audit[-60:]
        ],
        (35, 35, 40, 30),
    )
    if len(snap.audit) > 60:
        d.p(f"({len(snap.audit) - 60} earlier events are in manifest.json)")
    return bytes(d.pdf.output())


def defang_text(text: str) -> str:
    from tipline.i18n.templating import defang_text as _dt

    return _dt(text)


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2, default=str).encode("utf-8")
