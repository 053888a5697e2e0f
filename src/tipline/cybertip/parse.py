"""Read CyberTipline ESP documents (``<report>``, ``<fileDetails>``) safely and map them to tipline's shapes.

Pure functions: no database, no network. Every way a document can be refused raises
:class:`CybertipError` with an NCMEC response code and a message that says what is wrong and where.

Order of the checks (each one before anything more expensive runs):

1. size, before any parsing (``max_bytes``);
2. UTF-8: the bytes must decode strictly, and a declared encoding must be UTF-8 (or its subset ASCII);
3. no DOCTYPE: the prolog is scanned and any ``<!DOCTYPE`` refused up front, so no DTD, no entity
   declaration, no external reference ever reaches the parser (billion laughs, XXE);
4. parse with lxml hardened as defusedxml recommends (``resolve_entities=False, no_network=True,
   load_dtd=False, huge_tree=False``), then the same docinfo check ``defusedxml.lxml`` made (no internal
   or external DTD) as a second line; ``defusedxml.lxml`` itself is deprecated and warns on import;
5. nesting depth (:data:`MAX_DEPTH`; libxml2 also stops at 256 without ``huge_tree``);
6. the root element, then the published XSD (loaded once, lazily, under a lock).

The mapping keeps everything: ``ReportIn.details["cybertip"]`` is a faithful dict of the whole document
(see :func:`element_to_dict`), and the structured parts a hotline works with are lifted into persons,
identifiers, IP events, URLs and labelled text.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tipline.cybertip.codes import Code
from tipline.intake.schemas import (
    MAX_LIST,
    MAX_TEXT,
    Category,
    IdentifierIn,
    IpEventIn,
    PersonIn,
    ReportIn,
    Source,
)

log = logging.getLogger(__name__)

XSD_PATH = Path(__file__).with_name("cyber_tipline.xsd")
MAX_DEPTH = 32  # the schema's deepest path is 6 elements; anything near this is hostile or broken
MAX_SCHEMA_ERRORS = 5

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

# Country-type values of the XSD that are not countries (GeoIP pseudo-codes).
_PSEUDO_COUNTRIES = frozenset({"A1", "A2", "O1", "AP", "EU"})


class CybertipError(ValueError):
    """A document tipline will not accept. ``code`` is the NCMEC response code, ``message`` says what is
    wrong and where (line and element when known)."""

    def __init__(self, code: int, message: str, *, line: int | None = None, element: str | None = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.line = line
        self.element = element

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------------------------ safe parsing


def _location(line: int | None, col: int | None = None) -> str:
    if line is None:
        return ""
    return f"line {line}, column {col}: " if col else f"line {line}: "


def _decode_utf8(xml: bytes, what: str) -> str:
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CybertipError(Code.MALFORMED_XML, f"the {what} is UTF-16; CyberTipline documents must be UTF-8")
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError as e:
        line = xml.count(b"\n", 0, e.start) + 1
        col = e.start - (xml.rfind(b"\n", 0, e.start) + 1) + 1
        bad = xml[e.start : e.start + 1].hex()
        raise CybertipError(
            Code.MALFORMED_XML,
            f"{_location(line, col)}the {what} is not valid UTF-8 ({e.reason} 0x{bad} at byte {e.start})",
            line=line,
        ) from None
    m = re.match(r"\ufeff?<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']", text[:300])
    if m and m.group(1).strip().lower() not in ("utf-8", "utf8", "us-ascii", "ascii"):
        raise CybertipError(
            Code.MALFORMED_XML,
            f"line 1: the {what} declares encoding {m.group(1)!r}; CyberTipline documents must be UTF-8",
            line=1,
        )
    return text


def _refuse_doctype(text: str, what: str) -> None:
    """Scan the prolog (XML declaration, comments, processing instructions) and refuse a DOCTYPE.

    A DOCTYPE can only stand in the prolog, so this finds every one a parser would read, in linear time,
    and never trips on the string "<!DOCTYPE" inside the document's own text or CDATA.
    """
    i, n = (1 if text.startswith("\ufeff") else 0), len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if text.startswith("<?", i):
            j = text.find("?>", i + 2)
            if j < 0:
                return
            i = j + 2
        elif text.startswith("<!--", i):
            j = text.find("-->", i + 4)
            if j < 0:
                return
            i = j + 3
        elif text[i : i + 9].upper() == "<!DOCTYPE":
            line = text.count("\n", 0, i) + 1
            raise CybertipError(
                Code.MALFORMED_XML,
                f"{_location(line)}the {what} has a DOCTYPE declaration, which is not accepted: CyberTipline "
                "documents have no DTD, and a DTD can declare entities (entity expansion, external files)",
                line=line,
            )
        else:
            return


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _parse(xml: bytes, *, max_bytes: int, root_name: str, what: str) -> etree._Element:
    if isinstance(xml, (bytearray, memoryview)):
        xml = bytes(xml)
    if not isinstance(xml, bytes):
        raise CybertipError(Code.INVALID_REQUEST, f"the {what} must be given as bytes")
    if len(xml) > max_bytes:
        raise CybertipError(
            Code.INVALID_REQUEST, f"the {what} is {len(xml):,} bytes; at most {max_bytes:,} bytes are accepted"
        )
    text = _decode_utf8(xml, what)
    if not text.strip(" \t\r\n\ufeff"):
        raise CybertipError(Code.MALFORMED_XML, f"the {what} is empty")
    _refuse_doctype(text, what)
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as e:
        line, col = e.position if e.position else (e.lineno, None)
        msg = re.sub(r",? line \d+, column \d+\s*$", "", (e.msg or str(e)).strip()).strip()
        if "Excessive depth" in msg or ("depth" in msg.lower() and "HUGE" in msg):
            msg = f"elements are nested too deeply (at most {MAX_DEPTH} levels are accepted)"
        elif "HUGE" in msg or "limit exceeded" in msg.lower():
            msg = "a text or attribute value is longer than the parser accepts (10 MB)"
        raise CybertipError(
            Code.MALFORMED_XML, f"{_location(line, col)}the {what} is not well-formed XML: {msg}", line=line
        ) from None
    except (etree.LxmlError, ValueError) as e:  # pragma: no cover - lxml's other refusals
        raise CybertipError(Code.MALFORMED_XML, f"the {what} could not be read as XML: {e}") from None
    if root is None:  # pragma: no cover - lxml returns None only for an empty document, refused above
        raise CybertipError(Code.MALFORMED_XML, f"the {what} has no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CybertipError(Code.MALFORMED_XML, f"the {what} has a DTD, which is not accepted")
    _check_depth(root, what)
    for el in root.iter(etree.Entity):  # none can survive without a DTD; checked all the same
        raise CybertipError(
            Code.MALFORMED_XML,
            f"{_location(el.sourceline)}the {what} uses an entity reference ({el.text}), which is not accepted",
            line=el.sourceline,
        )
    qname = etree.QName(root)
    if qname.namespace or qname.localname != root_name:
        got = f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
        hint = ""
        if qname.localname == "fileDetails":
            hint = " (a <fileDetails> document goes to /ispws/fileinfo)"
        elif qname.localname == "report" and not qname.namespace:
            hint = " (a <report> document goes to /ispws/submit)"
        elif qname.namespace:
            hint = "; CyberTipline documents use no XML namespace"
        raise CybertipError(
            Code.VALIDATION_FAILED,
            f"{_location(root.sourceline)}the root element is <{got}>, expected <{root_name}>{hint}",
            line=root.sourceline,
            element=qname.localname,
        )
    _validate(root, what)
    return root


def _check_depth(root: etree._Element, what: str) -> None:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            name = etree.QName(el).localname if isinstance(el.tag, str) else "?"
            raise CybertipError(
                Code.MALFORMED_XML,
                f"{_location(el.sourceline)}element <{name}> is nested {depth} levels deep in the {what}; "
                f"at most {MAX_DEPTH} are accepted",
                line=el.sourceline,
                element=name,
            )
        stack.extend((c, depth + 1) for c in el if isinstance(c.tag, str))


_schema: etree.XMLSchema | None = None
_schema_lock = threading.Lock()
_validate_lock = threading.Lock()  # an XMLSchema keeps its error log on itself: one validation at a time


def schema() -> etree.XMLSchema:
    """The CyberTipline XSD, compiled on first use (thread-safe)."""
    global _schema
    if _schema is None:
        with _schema_lock:
            if _schema is None:
                _schema = etree.XMLSchema(etree.parse(str(XSD_PATH), _parser()))
    return _schema


def _validate(root: etree._Element, what: str) -> None:
    xsd = schema()
    with _validate_lock:
        if xsd.validate(root):
            return
        errors = [(e.line, e.path, e.message) for e in xsd.error_log]
    parts = []
    for line, path, message in errors[:MAX_SCHEMA_ERRORS]:
        where = f"line {line}" + (f" ({_clean_path(path)})" if path else "")
        parts.append(f"{where}: {message}")
    more = len(errors) - MAX_SCHEMA_ERRORS
    if more > 0:
        parts.append(f"and {more} more error{'s' if more > 1 else ''}")
    first_line, first_path, first_msg = errors[0] if errors else (None, None, "")
    m = re.match(r"Element '([^']+)'", first_msg or "")
    raise CybertipError(
        Code.VALIDATION_FAILED,
        f"the {what} does not follow the CyberTipline schema: " + "; ".join(parts),
        line=first_line,
        element=m.group(1) if m else None,
    )


def _clean_path(path: str) -> str:
    return re.sub(r"\[1\]", "", path)


# ------------------------------------------------------------------------------------ dict conversion

# Elements the XSD lets repeat (maxOccurs="unbounded") are always lists, wherever the schema makes them
# lists, even when a document has one; everything else is a single value. Context matters for three names.
_ALWAYS_LIST = frozenset(
    {
        "associatedAccount",
        "details",
        "deviceId",
        "displayName",
        "email",
        "emailAddress",
        "incidentAddress",
        "intendedRecipient",
        "internetDetails",
        "nameValuePair",
        "originalFileHash",
        "personOrUserReported",
        "phone",
        "priorCTReport",
        "priorCTReports",
        "profileUrl",
        "url",
        "victim",
    }
)
_LIST_EXCEPT_UNDER = {"address": {"address", "incidentAddress"}, "ipCaptureEvent": {"fileDetails"}}
_LIST_ONLY_UNDER = {"additionalInfo": {"intendedRecipient", "fileDetails"}, "fileId": {"files"}}


def _is_list(name: str, parent: str) -> bool:
    if name in _ALWAYS_LIST:
        return True
    if name in _LIST_EXCEPT_UNDER:
        return parent not in _LIST_EXCEPT_UNDER[name]
    if name in _LIST_ONLY_UNDER:
        return parent in _LIST_ONLY_UNDER[name]
    return False


def element_to_dict(el: etree._Element) -> Any:
    """A faithful, JSON-ready conversion of a CyberTipline element.

    Element with children → dict by child name; attributes → ``"@name"`` keys; a leaf → its text (strings
    are kept as written, stripped of surrounding white space); a leaf with attributes → ``{"@attr": ...,
    "#text": ...}``. Elements the schema lets repeat are always lists (see ``_ALWAYS_LIST``).
    """
    name = etree.QName(el).localname
    attrs = {f"@{etree.QName(k).localname}": v for k, v in el.attrib.items()}
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        text = (el.text or "").strip()
        return {**attrs, "#text": text} if attrs else text
    out: dict[str, Any] = dict(attrs)
    for c in children:
        cname = etree.QName(c).localname
        value = element_to_dict(c)
        if _is_list(cname, name):
            out.setdefault(cname, []).append(value)
        elif cname in out:  # not allowed by the schema; kept rather than lost
            prev = out[cname]
            out[cname] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[cname] = value
    return out


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
        return datetime.fromisoformat(s)
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
    if s and len(s) == 2 and s.isascii() and s.isalpha() and s.upper() not in _PSEUDO_COUNTRIES:
        return s.upper()
    return None


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
        if len(self.persons) >= MAX_LIST:
            self.not_mapped.append(f"more than {MAX_LIST} persons: {detail.get('source')}")
            return None
        self.persons.append(
            PersonIn(role=role, name=name, age=age, identifiers=idents, ip_events=ips, country=country)  # type: ignore[arg-type]
        )
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
    """Map a schema-valid ``<report>`` (as converted by :func:`element_to_dict`) to a ``ReportIn``."""
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

    return ReportIn(
        source=Source.CYBERTIP,
        category=INCIDENT_TYPES.get(incident_type, Category.OTHER),
        text=text,
        language=None,
        country=country,
        escalate=bool(escalation),
        incident_at=incident_at,
        persons=m.persons,
        urls=m.urls,
        details=details,
        open_submission=True,
    )


def parse_report(xml: bytes, *, max_bytes: int = 2_000_000, esp_name: str | None = None) -> ReportIn:
    """Check, validate and map a CyberTipline ``<report>`` document.

    ``esp_name`` (the reporting platform's name, known to the door) names the service of accounts when
    the document names none (no ``espService`` and no ``incidentSummary/platform``).
    The result has ``source=cybertip`` and ``open_submission=True``; the door sets ``platform_id``.
    """
    root = _parse(xml, max_bytes=max_bytes, root_name="report", what="report")
    doc = element_to_dict(root)
    try:
        return report_from_dict(doc if isinstance(doc, dict) else {}, esp_name=esp_name)
    except ValidationError as e:  # a value the intake shape refuses and the mapper did not foresee
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise CybertipError(
            Code.VALIDATION_FAILED, f"the report has a value tipline cannot take ({where}: {first.get('msg')})"
        ) from None
    except Exception:  # pragma: no cover - a bug in the mapping must not look like a crash to the client
        log.exception("mapping a schema-valid CyberTipline report failed")
        raise CybertipError(Code.SERVER_ERROR, "the report could not be mapped (server error)") from None


# ------------------------------------------------------------------------------------ file details


class FileHash(BaseModel):
    type: str
    value: str


class FileDetails(BaseModel):
    """A ``<fileDetails>`` document: what a platform says about one uploaded file."""

    model_config = ConfigDict(extra="forbid")

    report_id: int
    file_id: str
    file_name: str | None = None
    original_file_name: str | None = None
    uploaded_to_esp_at: datetime | None = None
    location_of_file: str | None = None
    file_viewed_by_esp: bool | None = None
    exif_viewed_by_esp: bool | None = None
    publicly_available: bool | None = None
    file_relevance: str | None = None
    annotations: list[str] = Field(default_factory=list)
    industry_classification: str | None = None
    hashes: list[FileHash] = Field(default_factory=list, description="originalFileHash, with hashType")
    ip_capture_event: IpEventIn | None = None
    device_ids: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="details/nameValuePair by details@type (EXIF, HASH, or '')"
    )
    additional_info: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="the whole document, as a dict")

    def known_hashes(self) -> dict[str, str]:
        """md5 / sha1 / sha256 / pdq from ``originalFileHash`` whose type and length agree (lower-case hex)."""
        want = {"md5": 32, "sha1": 40, "sha-1": 40, "sha256": 64, "sha-256": 64, "pdq": 64}
        out: dict[str, str] = {}
        for h in self.hashes:
            kind = h.type.strip().lower()
            n = want.get(kind)
            v = h.value.strip().lower()
            if n and len(v) == n and re.fullmatch(r"[0-9a-f]+", v):
                out.setdefault(kind.replace("-", ""), v)
        return out

    def attachment_details(self) -> dict[str, Any]:
        """What the door stores on the attachment (``update_attachment_details``)."""
        d = self.model_dump(mode="json", exclude={"report_id", "file_id", "details"}, exclude_none=True)
        d = _compact(d)
        d["cybertip_file_details"] = self.details
        return {"file_details": d}


def parse_file_details(xml: bytes, *, max_bytes: int = 200_000) -> FileDetails:
    """Check, validate and map a CyberTipline ``<fileDetails>`` document."""
    root = _parse(xml, max_bytes=max_bytes, root_name="fileDetails", what="file details document")
    doc = element_to_dict(root)
    d = doc if isinstance(doc, dict) else {}
    annotations = [k for k, v in _d(d.get("fileAnnotations")).items() if _bool(v)]
    if _bool(d.get("potentialMeme")):
        annotations.append("potentialMeme")
    ips: list[IpEventIn] = []
    m = _Mapper(None, None)
    if "ipCaptureEvent" in d:
        m.ip_event(ips, d.get("ipCaptureEvent"))
    metadata: dict[str, dict[str, str]] = {}
    for det in _list(d.get("details")):
        det = _d(det)
        bucket = metadata.setdefault(str(det.get("@type", "")), {})
        for nv in _list(det.get("nameValuePair")):
            name = _s(_d(nv).get("name"))
            if name:
                bucket[name] = _s(_d(nv).get("value")) or ""
    report_id = _int(d.get("reportId"))
    file_id = _s(d.get("fileId"))
    if report_id is None or file_id is None:  # pragma: no cover - the schema requires both
        raise CybertipError(Code.VALIDATION_FAILED, "the file details document needs <reportId> and <fileId>")
    try:
        return FileDetails(
            report_id=report_id,
            file_id=file_id,
            file_name=_s(d.get("fileName")),
            original_file_name=_s(d.get("originalFileName")),
            uploaded_to_esp_at=_dt(d.get("uploadedToEspTimestamp")),
            location_of_file=_s(d.get("locationOfFile")),
            file_viewed_by_esp=_bool(d.get("fileViewedByEsp")),
            exif_viewed_by_esp=_bool(d.get("exifViewedByEsp")),
            publicly_available=_bool(d.get("publiclyAvailable")),
            file_relevance=_s(d.get("fileRelevance")),
            annotations=annotations,
            industry_classification=_s(d.get("industryClassification")),
            hashes=[
                FileHash(type=_d(h).get("@hashType", ""), value=_s(h) or "") for h in _list(d.get("originalFileHash"))
            ],
            ip_capture_event=ips[0] if ips else None,
            device_ids=[_d(x) for x in _list(d.get("deviceId"))],
            metadata=metadata,
            additional_info=[s for s in (_s(x) for x in _list(d.get("additionalInfo"))) if s],
            details=d,
        )
    except ValidationError as e:  # pragma: no cover - every field above is already typed
        raise CybertipError(Code.VALIDATION_FAILED, f"the file details could not be read: {e}") from None
