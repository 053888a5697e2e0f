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
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tipline.cybertip.codes import Code
from tipline.cybertip.mapping import _bool, _compact, _d, _dt, _int, _list, _Mapper, _s, report_from_dict
from tipline.intake.schemas import (
    IpEventIn,
    ReportIn,
)

log = logging.getLogger(__name__)

XSD_PATH = Path(__file__).with_name("cyber_tipline.xsd")
MAX_DEPTH = 32  # the schema's deepest path is 6 elements; anything near this is hostile or broken
MAX_SCHEMA_ERRORS = 5


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


# what XML 1.0 forbids everywhere (section 2.2), CDATA sections included; libxml2 names a control character
# in text, but inside CDATA says "Unregistered error message" or "CData section not finished"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _refuse_control_characters(text: str, what: str) -> None:
    m = _NOT_XML.search(text)
    if m is None:
        return
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    raise CybertipError(
        Code.MALFORMED_XML,
        f"{_location(line, col)}the {what} contains the character U+{ord(m.group()):04X}, which XML 1.0 does not "
        "allow anywhere (CDATA sections included): remove it, or send what it stands for as text",
        line=line,
    )


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
    _refuse_control_characters(text, what)
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


# the elements nested one level deeper than allowed (the root is level 1): one XPath step a level, run by
# libxml2 in C (a walk in Python over every element was a tenth of parsing a document)
_TOO_DEEP = etree.XPath("*/" * (MAX_DEPTH - 1) + "*")


def _check_depth(root: etree._Element, what: str) -> None:
    deep = _TOO_DEEP(root)
    if not isinstance(deep, list) or not deep:
        return
    el = deep[0]
    assert isinstance(el, etree._Element)
    name = etree.QName(el).localname
    raise CybertipError(
        Code.MALFORMED_XML,
        f"{_location(el.sourceline)}element <{name}> is nested {MAX_DEPTH + 1} levels deep in the {what}; "
        f"at most {MAX_DEPTH} are accepted",
        line=el.sourceline,
        element=name,
    )


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
    return _to_dict(el, _local(el.tag))


def _local(tag: Any) -> str:
    """The local name of an element's or attribute's tag (``{namespace}name`` or ``name``): what
    ``etree.QName(...).localname`` gives, without building a QName (a document has a hundred elements)."""
    return str(tag).rpartition("}")[2]


def _to_dict(el: etree._Element, name: str) -> Any:
    attrib = el.attrib
    attrs = {f"@{_local(k)}": v for k, v in attrib.items()} if len(attrib) else {}
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        text = (el.text or "").strip()
        return {**attrs, "#text": text} if attrs else text
    out: dict[str, Any] = attrs
    for c in children:
        cname = _local(c.tag)
        value = _to_dict(c, cname)
        if _is_list(cname, name):
            out.setdefault(cname, []).append(value)
        elif cname in out:  # not allowed by the schema; kept rather than lost
            prev = out[cname]
            out[cname] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[cname] = value
    return out


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
        errors = e.errors()
        where = ".".join(str(x) for x in errors[0]["loc"]) if errors else ""
        msg = errors[0]["msg"] if errors else None
        raise CybertipError(
            Code.VALIDATION_FAILED, f"the report has a value tipline cannot take ({where}: {msg})"
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
