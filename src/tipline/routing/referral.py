"""Referral packages: from a report or a case to an agency, in the formats partners read, with a digest.

A referral is always a zip package (the bytes an agency receives) holding:

- ``referral.json``: the JSON document (reports, identifiers, files, jurisdiction, takedown states);
- ``summary.pdf``: the summary for people (:func:`tipline.routing.formats.summary_pdf`);
- for ``--format cybertip`` one ``cybertip/report-<id>.xml`` per report (schema-valid CyberTipline XML);
  ``stix``: ``stix/bundle.json`` (STIX 2.1); ``misp``: ``misp/event.json`` (MISP JSON); ``package``: none;
- ``manifest.json`` (the evidence manifest, written last): every attachment's hashes, every identifier
  with where it was found, the audit extract (who handled what, when), and the SHA-256 and size of every
  other file of the package with ``content_sha256``, the SHA-256 of those lines in ``sha256sum`` form;
- ``README.txt``: what is inside and how to check it.

The SHA-256 of the whole zip is the referral's ``digest``: recorded with the referral (to whom, when, by
whom, which format), shown to staff, written beside the file by the CLI (``PATH.sha256``), and checked again
at every download against the stored bytes (sealed at rest). Each referral sets its reports' status to
``referred`` through ``reports.service.update_report`` (audited there).

Data minimisation: the reporter's contact details never enter a package; the names of victims, intended
recipients and guardians are withheld (age, country and identifiers stay); the raw CyberTipline document a
platform sent is not copied.
"""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, Role, record
from tipline.errors import NotFound
from tipline.finance import service as finance
from tipline.intake.schemas import Status
from tipline.routing import agencies as directory
from tipline.routing import delivery as dlv
from tipline.routing import jurisdiction as jur
from tipline.routing import takedown
from tipline.routing.formats import (
    FormatError,
    Snapshot,
    canonical_json,
    summary_pdf,
)
from tipline.routing.models import JurisdictionCandidate, Referral, UrlTakedown
from tipline.routing.referral_formats import REFERRAL_FORMATS
from tipline.store import Database
from tipline.store.models import Attachment, AuditEvent, Entity, InstanceMeta, Mention, Report

FORMATS = directory.FORMATS
DETAIL_KEYS = ("answers", "incident_type", "application", "escalation", "annotations", "incident_time_description")
CLI_PRINCIPAL = Principal("cli", 0, "cli", Role.ADMIN)


class ReferralError(ValueError):
    """A referral that cannot be made; the message says why and what to do."""


class ReferralOut(BaseModel):
    id: int
    reference: str
    subject_type: str
    subject_id: int
    report_ids: list[int]
    agency_id: str
    agency_name: str
    format: str
    filename: str
    size: int
    digest: str
    created_by: str
    created_at: datetime
    acknowledged_at: datetime | None
    ack_note: str | None
    ack_by: str | None
    ack_from: str | None = None
    deliveries: list[dlv.DeliveryOut] = []
    delivery_state: str = "not_delivered"
    download_url: str


def _reference(r: Referral) -> str:
    return r.filename.rsplit(".", 1)[0]


def _out(r: Referral, agency_name: str, deliveries: list[dlv.DeliveryOut] | None = None) -> ReferralOut:
    deliveries = deliveries or []
    return ReferralOut(
        id=r.id,
        reference=_reference(r),
        subject_type=r.subject_type,
        subject_id=r.subject_id,
        report_ids=[int(x) for x in r.report_ids],
        agency_id=r.agency_id,
        agency_name=agency_name,
        format=r.format,
        filename=r.filename,
        size=r.size,
        digest=r.digest,
        created_by=r.created_by,
        created_at=r.created_at,
        acknowledged_at=r.acknowledged_at,
        ack_note=r.ack_note,
        ack_by=r.ack_by,
        ack_from=r.ack_from,
        deliveries=deliveries,
        delivery_state=dlv.state_of(deliveries, r.acknowledged_at),
        download_url=f"/api/v1/referrals/{r.id}/download",
    )


# ------------------------------------------------------------------------------------------ gathering


def _minimal_persons(persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Persons without the names of victims and of "other" people (intended recipients, who are often
    children, and parents or guardians, whose names identify the child)."""
    out = []
    for p in persons or []:
        q = dict(p)
        if q.get("role") in ("victim", "other"):
            q.pop("name", None)
        out.append(q)
    return out


def case_report_ids(s: Session, case_id: int) -> tuple[list[int], str, str]:
    """(report ids, title, TLP) of a case of the entity graph."""
    from tipline.graph.models import Case, CaseReport

    case = s.get(Case, case_id)
    if case is None:
        raise NotFound(f"there is no case {case_id}")
    ids = list(
        s.scalars(select(CaseReport.report_id).where(CaseReport.case_id == case_id).order_by(CaseReport.report_id))
    )
    return ids, case.title, case.tlp or "amber"


def _report_data(s: Session, r: Report) -> dict[str, Any]:
    mentions = s.execute(
        select(Entity.kind, Entity.value, Mention.field, Mention.start, Mention.end, Mention.confidence)
        .join(Entity, Mention.entity_id == Entity.id)
        .where(Mention.report_id == r.id)
        .order_by(Mention.id)
    ).all()
    ents: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, value, fld, start, end, conf in mentions:
        e = ents.setdefault((kind, value), {"kind": kind, "value": value, "sources": []})
        e["sources"].append({"field": fld, "start": start, "end": end, "confidence": round(conf, 3)})
    files = [
        {
            "id": a.id,
            "report_id": r.id,
            "origin": a.origin,
            "filename": a.filename,
            "media_type": a.media_type,
            "size": a.size,
            "md5": a.md5,
            "sha1": a.sha1,
            "sha256": a.sha256,
            "pdq": a.pdq,
            "added_at": a.created_at.isoformat(),
        }
        for a in s.scalars(select(Attachment).where(Attachment.report_id == r.id).order_by(Attachment.id))
    ]
    cands = [
        {"country": c.country, "weight": c.weight, "evidence": c.evidence}
        for c in s.scalars(
            select(JurisdictionCandidate)
            .where(JurisdictionCandidate.report_id == r.id)
            .order_by(JurisdictionCandidate.rank)
        )
    ]
    return {
        "id": r.id,
        "source": r.source,
        "platform": r.platform.name if r.platform else None,
        "external_id": r.external_id,
        "category": r.category,
        "status": r.status,
        "priority": r.priority,
        "score": r.score,
        "reasons": list(r.reasons or []),
        "classification": r.classification,
        "age_band": r.age_band,
        "language": r.language,
        "country": r.country,
        "is_live": r.is_live,
        "escalate": r.escalate,
        "received_at": r.received_at,
        "incident_at": r.incident_at,
        "text": r.text or "",
        "urls": list(r.urls or []),
        "persons": _minimal_persons(list(r.persons or [])),
        "details": {k: v for k, v in (r.details or {}).items() if k in DETAIL_KEYS},
        "entities": list(ents.values()),
        "files": files,
        "jurisdiction": cands,
    }


def _audit_trail(s: Session, ids: list[int], case_id: int | None) -> list[dict[str, Any]]:
    """The audit events about the referred reports (and the case), oldest first."""
    targets = [("report", str(i)) for i in ids] + ([("case", str(case_id))] if case_id is not None else [])
    conds = [(AuditEvent.target_type == t) & (AuditEvent.target_id == i) for t, i in targets]
    return [
        {
            "id": a.id,
            "at": a.at.isoformat(),
            "actor": a.actor,
            "action": a.action,
            "target_type": a.target_type,
            "target_id": a.target_id,
            "details": a.details,
            "hash": a.hash,
        }
        for a in s.scalars(select(AuditEvent).where(or_(*conds)).order_by(AuditEvent.at, AuditEvent.id))
    ]


def _takedowns_of(s: Session, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The takedown state of every URL the reports name."""
    url_values = sorted({e["value"] for r in reports for e in r["entities"] if e["kind"] == "url"})
    digests = [takedown.url_digest(u) for u in url_values]
    if not digests:
        return []
    return [
        {
            "url": t.url,
            "hosting_country": t.hosting_country,
            "hosting_ips": list(t.hosting_ips),
            "state": t.state,
            "reported_at": t.reported_at.isoformat(),
            "removed_at": t.removed_at.isoformat() if t.removed_at else None,
        }
        for t in s.scalars(select(UrlTakedown).where(UrlTakedown.url_sha256.in_(digests)).order_by(UrlTakedown.id))
    ]


def _entities_of(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every identifier of the reports, once, with the reports (and fields) that name it."""
    entities: dict[tuple[str, str], dict[str, Any]] = {}
    for r in reports:
        for e in r["entities"]:
            item = entities.setdefault((e["kind"], e["value"]), {"kind": e["kind"], "value": e["value"], "reports": []})
            item["reports"].append({"report_id": r["id"], "sources": e["sources"]})
    return sorted(entities.values(), key=lambda e: (e["kind"], e["value"]))


IDENTITY_KEY = "stix_identity"


def installation_identity(db: Database) -> tuple[str, datetime]:
    """The hotline's STIX identity (id and created time): made once per installation, kept in
    ``instance_meta``, so that every referral names the same sender."""
    with db.reader() as s:
        value = s.scalar(select(InstanceMeta.value).where(InstanceMeta.key == IDENTITY_KEY))
    if value is None:
        made = f"identity--{uuid.uuid4()}|{datetime.now(UTC).replace(microsecond=0).isoformat()}"
        try:
            with db.session() as s:
                s.add(InstanceMeta(key=IDENTITY_KEY, value=made))
        except IntegrityError:  # another process made it first: read theirs
            pass
        with db.reader() as s:
            value = s.scalar(select(InstanceMeta.value).where(InstanceMeta.key == IDENTITY_KEY))
    assert value is not None
    ident_id, _, since = value.partition("|")
    return ident_id, datetime.fromisoformat(since)


def gather(
    db: Database,
    *,
    report_id: int | None = None,
    case_id: int | None = None,
    agency_id: str,
    created_by: str,
    reference: str | None = None,
    created_at: datetime | None = None,
) -> Snapshot:
    """Read everything a referral carries, in one read transaction."""
    if (report_id is None) == (case_id is None):
        raise ReferralError("refer either one report or one case")
    agency = directory.get_agency(db, agency_id)
    if agency is None:
        raise ReferralError(f"there is no agency {agency_id!r}: see `tipline agencies` for the directory")
    if not agency.active:
        raise ReferralError(f"the agency {agency_id!r} is marked inactive in the directory")
    created_at = created_at or datetime.now(UTC).replace(microsecond=0)
    identity = installation_identity(db)
    reference = reference or f"TL-{created_at:%Y%m%d}-{secrets.token_hex(4).upper()}"
    with db.reader() as s:
        if case_id is not None:
            ids, title, tlp = case_report_ids(s, case_id)
            if not ids:
                raise ReferralError(f"case {case_id} has no reports to refer")
            subject_type, subject_id = "case", case_id
        else:
            assert report_id is not None
            ids, title, tlp = [report_id], "", "amber"
            subject_type, subject_id = "report", report_id
        rows = list(s.scalars(select(Report).where(Report.id.in_(ids)).order_by(Report.id)))
        if len(rows) != len(ids):
            missing = sorted(set(ids) - {r.id for r in rows})
            raise NotFound(f"no report {', '.join(map(str, missing))}")
        for r in rows:
            if r.submission_state != "complete":
                raise ReferralError(f"report {r.id} is a CyberTipline submission that is not finished")
        reports = [_report_data(s, r) for r in rows]
        if subject_type == "report":
            title = f"{rows[0].category} (P{rows[0].priority})"
        audit = _audit_trail(s, ids, case_id)
        tds = _takedowns_of(s, reports)
    entities = _entities_of(reports)
    merged = jur.merge(
        [
            [
                jur.Candidate(c["country"], c["weight"], [jur.Evidence.from_dict(x) for x in c["evidence"]])
                for c in r["jurisdiction"]
            ]
            for r in reports
        ]
    )
    return Snapshot(
        reference=reference,
        created_at=created_at,
        created_by=created_by,
        hotline=db.settings.hotline_operator or "tipline hotline",
        agency={"id": agency.id, "name": agency.name, "countries": agency.countries, "formats": agency.formats},
        subject_type=subject_type,
        subject_id=subject_id,
        title=title,
        tlp=tlp,
        reports=reports,
        entities=entities,
        attachments=[f for r in reports for f in r["files"]],
        jurisdiction=[c.as_dict() for c in merged],
        takedowns=tds,
        audit=audit,
        payment_alerts=finance.referral_alerts(db, case_id) if case_id is not None else [],
        identity=identity,
    )


# ------------------------------------------------------------------------------------------ building


class PackagedFile(TypedDict):
    """One file of a package as manifest.json lists it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Package:
    filename: str
    data: bytes
    digest: str
    manifest: dict[str, Any]


def _zip_entry(name: str, when: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.astimezone(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _document(snap: Snapshot, fmt: str) -> dict[str, Any]:
    return {
        "format": "tipline.referral/1",
        "reference": snap.reference,
        "created_at": snap.created_at.isoformat(),
        "created_by": snap.created_by,
        "from": snap.hotline,
        "to": snap.agency,
        "partner_format": fmt,
        "tlp": snap.tlp,
        "subject": {"type": snap.subject_type, "id": snap.subject_id, "title": snap.title},
        "jurisdiction": snap.jurisdiction,
        "reports": snap.reports,
        "takedown": snap.takedowns,
        "withheld": [
            "reporter contact details",
            "names of victims, intended recipients and guardians",
            "the platform's original CyberTipline document",
        ],
    }


README = """tipline referral {reference}
{hotline} -> {agency}, {created_at}, format: {fmt}

referral.json   the referral as data: reports, identifiers, files (hashes), candidate jurisdictions
summary.pdf     the same for people
{extra}manifest.json   evidence manifest: file hashes, identifiers and where each was found, audit extract
                (who handled what, when), and the SHA-256 of every other file of this package

Check the files:   sha256sum -c  (with the "sha256sum" lines of manifest.json), or compare each
                   file's SHA-256 with manifest.json "files"; content_sha256 is the SHA-256 of those lines.
The SHA-256 of this zip file as a whole is recorded by the sending hotline with the referral.
Withheld: reporter contact details; names of victims, intended recipients and guardians.
URLs in summary.pdf are defanged (hxxp, [.]).
TLP: {tlp}
"""


def build(snap: Snapshot, fmt: str) -> Package:
    """The package bytes for ``fmt`` (a name in ``referral_formats.REFERRAL_FORMATS``)."""
    if fmt not in FORMATS:
        raise ReferralError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    files: list[tuple[str, bytes]] = [("referral.json", canonical_json(_document(snap, fmt)))]
    files.append(("summary.pdf", summary_pdf(snap)))
    try:
        files += REFERRAL_FORMATS[fmt].documents(snap)
    except FormatError as e:
        raise ReferralError(str(e)) from None
    extra = "".join(f"{name:<15} {fmt} document\n" for name, _ in files[2:])
    if snap.payment_alerts:
        # the case's payment-screening alerts, for an FIU: CSV plus the rule evidence (values, sources, SQL)
        files.append(("payment-alerts/alerts.csv", finance.alerts_csv_from_json(snap.payment_alerts).encode("utf-8")))
        files.append(("payment-alerts/evidence.json", canonical_json({"alerts": snap.payment_alerts})))
        extra += "payment-alerts/ the case's payment alerts: alerts.csv (one line per rule that fired) and\n"
        extra += "                evidence.json (every rule with value, threshold, source and SQL; beneficiaries)\n"
    readme = README.format(
        reference=snap.reference,
        hotline=snap.hotline,
        agency=snap.agency["name"],
        created_at=snap.created_at.isoformat(),
        fmt=fmt,
        extra=extra,
        tlp=snap.tlp.upper(),
    )
    files.append(("README.txt", readme.encode("utf-8")))
    listing = [PackagedFile(name=n, size=len(b), sha256=hashlib.sha256(b).hexdigest()) for n, b in files]
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in sorted(listing, key=lambda f: f["name"]))
    manifest = {
        "format": "tipline.referral.manifest/1",
        "reference": snap.reference,
        "created_at": snap.created_at.isoformat(),
        "files": listing,
        "sha256sum": sums,
        "content_sha256": hashlib.sha256(sums.encode()).hexdigest(),
        "attachments": snap.attachments,
        "entities": snap.entities,
        "audit": snap.audit,
    }
    files.append(("manifest.json", canonical_json(manifest)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files:
            z.writestr(_zip_entry(name, snap.created_at), data)
    data = buf.getvalue()
    return Package(f"{snap.reference}.zip", data, hashlib.sha256(data).hexdigest(), manifest)


# ------------------------------------------------------------------------------------------ recording


def create_referral(
    db: Database,
    *,
    agency_id: str,
    fmt: str,
    actor: Principal,
    report_id: int | None = None,
    case_id: int | None = None,
) -> tuple[ReferralOut, Package]:
    """Build, record and return a referral; the reports' status becomes ``referred``."""
    if fmt not in FORMATS:
        raise ReferralError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    snap = gather(db, report_id=report_id, case_id=case_id, agency_id=agency_id, created_by=actor.label)
    pkg = build(snap, fmt)
    report_ids = [r["id"] for r in snap.reports]
    with db.session() as s:
        row = Referral(
            subject_type=snap.subject_type,
            subject_id=snap.subject_id,
            report_id=report_id,
            case_id=case_id,
            report_ids=report_ids,
            agency_id=agency_id,
            format=fmt,
            filename=pkg.filename,
            size=len(pkg.data),
            digest=pkg.digest,
            package=base64.b64encode(pkg.data).decode("ascii"),
            created_by=actor.label,
            created_by_user_id=actor.id if actor.kind == "user" else None,
            created_at=snap.created_at,
        )
        s.add(row)
        s.flush()
        for rid in report_ids:
            record(
                s,
                actor,
                "referral.create",
                "report",
                rid,
                referral=row.id,
                agency=agency_id,
                format=fmt,
                digest=pkg.digest,
            )
        if case_id is not None:
            record(
                s,
                actor,
                "referral.create",
                "case",
                case_id,
                referral=row.id,
                agency=agency_id,
                format=fmt,
                digest=pkg.digest,
            )
        out = _out(row, snap.agency["name"])
    from tipline.reports.service import update_report

    for rid in report_ids:
        update_report(db, rid, actor, status=Status.REFERRED)
    return out, pkg


def _agency_names(s: Session) -> dict[str, str]:
    from tipline.routing.models import Agency

    return dict(s.execute(select(Agency.id, Agency.name)).all())


def list_referrals(
    db: Database, *, report_id: int | None = None, case_id: int | None = None, limit: int = 200
) -> list[ReferralOut]:
    """Referrals, newest first; ``report_id`` includes the referrals of cases holding the report."""
    with db.reader() as s:
        q = select(Referral).order_by(Referral.created_at.desc(), Referral.id.desc())
        if case_id is not None:
            q = q.where(Referral.case_id == case_id)
        rows = list(s.scalars(q.limit(limit * 5 if report_id is not None else limit)))
        names = _agency_names(s)
        if report_id is not None:
            rows = [r for r in rows if report_id in [int(x) for x in r.report_ids]][:limit]
        sent = dlv.deliveries_of(s, [r.id for r in rows])
    return [_out(r, names.get(r.agency_id, r.agency_id), sent.get(r.id)) for r in rows]


def get_referral(db: Database, referral_id: int) -> ReferralOut:
    with db.reader() as s:
        r = s.get(Referral, referral_id)
        if r is None:
            raise NotFound(f"there is no referral {referral_id}")
        return _out(r, _agency_names(s).get(r.agency_id, r.agency_id), dlv.deliveries_of(s, [r.id]).get(r.id))


def download(db: Database, referral_id: int, actor: Principal) -> tuple[str, bytes, str]:
    """(file name, bytes, SHA-256) of a referral as recorded; audited. The bytes are checked against the
    recorded digest: a mismatch raises (the stored package was changed)."""
    with db.session() as s:
        r = s.get(Referral, referral_id)
        if r is None:
            raise NotFound(f"there is no referral {referral_id}")
        data = base64.b64decode(r.package)
        if hashlib.sha256(data).hexdigest() != r.digest:
            raise ReferralError(f"referral {referral_id}: the stored package does not match its recorded SHA-256")
        record(s, actor, "referral.download", "referral", r.id, digest=r.digest)
        return r.filename, data, r.digest


def acknowledge(
    db: Database,
    referral_id: int,
    actor: Principal,
    *,
    note: str = "",
    at: datetime | None = None,
    by_agency: str = "",
) -> ReferralOut:
    """Record that the agency acknowledged the referral (when, who there, and their words, e.g. their case
    number); ``actor`` is who records it."""
    note, by_agency = note.strip(), by_agency.strip()
    if len(note) > 2000:
        raise ReferralError("the acknowledgement note is longer than 2,000 characters")
    if len(by_agency) > 200:
        raise ReferralError("who acknowledged is longer than 200 characters")
    now = datetime.now(UTC)
    when = (at if at.tzinfo else at.replace(tzinfo=UTC)) if at is not None else now
    if when > now:
        raise ReferralError("an acknowledgement cannot be dated in the future")
    with db.session() as s:
        r = s.get(Referral, referral_id)
        if r is None:
            raise NotFound(f"there is no referral {referral_id}")
        if when < r.created_at:
            raise ReferralError("an acknowledgement cannot be dated before the referral")
        r.acknowledged_at = when
        r.ack_note = note or None
        r.ack_by = actor.label
        r.ack_from = by_agency or None
        record(s, actor, "referral.ack", "referral", r.id, at=when.isoformat())
        s.flush()
        return _out(r, _agency_names(s).get(r.agency_id, r.agency_id), dlv.deliveries_of(s, [r.id]).get(r.id))


# ------------------------------------------------------------------------------------------ jurisdiction


def report_jurisdiction(db: Database, report_id: int) -> list[jur.Candidate]:
    with db.reader() as s:
        if s.get(Report, report_id) is None:
            raise NotFound(f"there is no report {report_id}")
        rows = s.scalars(
            select(JurisdictionCandidate)
            .where(JurisdictionCandidate.report_id == report_id)
            .order_by(JurisdictionCandidate.rank)
        )
        return [jur.Candidate(c.country, c.weight, [jur.Evidence.from_dict(e) for e in c.evidence]) for c in rows]


def report_category(db: Database, report_id: int) -> str:
    with db.reader() as s:
        category = s.scalar(select(Report.category).where(Report.id == report_id))
    if category is None:
        raise NotFound(f"there is no report {report_id}")
    return str(category)


def case_jurisdiction(db: Database, case_id: int) -> list[jur.Candidate]:
    with db.reader() as s:
        ids, _, _ = case_report_ids(s, case_id)
    return jur.merge(report_jurisdiction(db, rid) for rid in ids)


def refresh_jurisdiction(db: Database, report_id: int, *, resolve: bool = False) -> list[jur.Candidate]:
    """Recompute a report's candidates now; ``resolve`` first resolves its URLs' hosting with the
    configured resolver (network resolvers included: no transaction is open while they run)."""
    from tipline.routing.hooks import store_candidates

    if resolve:
        takedown.refresh_hosting(db, report_id=report_id)
    with db.session() as s:
        row = s.get(Report, report_id)
        if row is None:
            raise NotFound(f"there is no report {report_id}")
        mentions = s.execute(
            select(Entity.kind, Entity.value, Mention.field)
            .join(Mention, Mention.entity_id == Entity.id)
            .where(Mention.report_id == report_id)
            .order_by(Mention.id)
        ).all()
        urls = sorted({v for k, v, _ in mentions if k == "url"})
        digests = [takedown.url_digest(u) for u in urls]
        hosting = {
            t.url: list(t.hosting_ips)
            for t in (s.scalars(select(UrlTakedown).where(UrlTakedown.url_sha256.in_(digests))) if digests else [])
        }
        facts = jur.ReportFacts(row.country, list(row.persons or []), [(k, v, f) for k, v, f in mentions], hosting)
        cands = jur.assess(facts)
        store_candidates(s, report_id, cands)
        return cands


def country_clause(country: str, *, min_weight: float = 0.3) -> Any:
    """A WHERE clause for the queue's country filter: the stated country, or a jurisdiction candidate of at
    least ``min_weight`` (see ``reports.service.queue``)."""
    cc = country.upper()
    sub = select(JurisdictionCandidate.report_id).where(
        JurisdictionCandidate.country == cc, JurisdictionCandidate.weight >= min_weight
    )
    return or_(Report.country == cc, Report.id.in_(sub))
