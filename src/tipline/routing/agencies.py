"""The agency directory: who can act on a report, for which countries and categories, reached how.

The seed is ``agencies.toml`` beside this module (public facts, each with its sources; every known contact
channel with the page it was read from and an "as of" date). It is loaded into the ``agencies`` table at run
time: :func:`ensure_agencies` adds every seed agency whose id is missing and brings rows still as seeded
(``origin='seed'``) up to a newer seed; it never overwrites a row an admin edited (:func:`save_agency`, the
``/agencies`` page). Agencies are never deleted (referrals point at them): an admin marks one inactive.

A channel's provenance is not stored: it is the seed's while the row's value is the seed's, else the admin
edit's (who, and the date of the edit as its "as of").
"""

from __future__ import annotations

import functools
import re
import tomllib
import weakref
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from tipline.accounts.service import Principal, record
from tipline.intake.schemas import Category
from tipline.routing.jurisdiction import Candidate, is_country
from tipline.routing.models import Agency
from tipline.routing.referral_formats import REFERRAL_FORMATS
from tipline.store import Database
from tipline.store.upsert import insert_for

SEED_FILE = Path(__file__).with_name("agencies.toml")
FORMATS = tuple(REFERRAL_FORMATS)  # package, cybertip, stix, misp, identifiers
KINDS = ("police", "hotline", "international")
UNKNOWN = "unknown"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class AgencyError(ValueError):
    """An agency that cannot be saved; the message says what is wrong."""


class AgencyIn(BaseModel):
    """An agency as the seed file, the API and the admin form give it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=2, max_length=64, description="Stable id, lower case: country first, e.g. 'ph-picacc'.")
    name: str = Field(min_length=1, max_length=200)
    short_name: str = Field(default="", max_length=64)
    kind: str = Field(default="police", description="police, hotline or international")
    countries: list[str] = Field(default_factory=list, max_length=300, description="ISO 3166 alpha-2; '*' = all.")
    categories: list[str] = Field(default_factory=lambda: ["*"], max_length=50, description="Category codes; '*'.")
    formats: list[str] = Field(default_factory=list, max_length=4, description="package, cybertip, stix, misp.")
    mandate: str = Field(default="", max_length=4000)
    contact: dict[str, str] = Field(default_factory=dict, description="web, email, phone: public channels only.")
    sources: list[str] = Field(default_factory=list, max_length=20)
    notes: str = Field(default="", max_length=4000)
    active: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("an agency id is 2-64 lower-case letters, digits and '-', starting with a letter or digit")
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        return v

    @field_validator("countries")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        out = []
        for c in v:
            c = c.strip().upper()
            if c != "*" and not is_country(c):
                raise ValueError(f"{c!r} is not an ISO 3166 country code (or '*' for every country)")
            if c not in out:
                out.append(c)
        return out

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        known = {c.value for c in Category}
        out = []
        for c in v:
            c = c.strip()
            if c != "*" and c not in known:
                raise ValueError(f"{c!r} is not a category; use '*' or one of: {', '.join(sorted(known))}")
            if c not in out:
                out.append(c)
        return out or ["*"]

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        out = []
        for f in v:
            f = f.strip().lower()
            if f not in FORMATS:
                raise ValueError(f"{f!r} is not a referral format; use {', '.join(FORMATS)}")
            if f not in out:
                out.append(f)
        return out

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in v.items():
            if key not in ("web", "email", "phone"):
                raise ValueError(f"contact has web, email and phone only, not {key!r}")
            value = (value or "").strip()
            if not value or value == UNKNOWN:
                out[key] = UNKNOWN
                continue
            if len(value) > 500:
                raise ValueError(f"the contact {key} is longer than 500 characters")
            if key == "web" and not re.match(r"^https?://[^\s/$.?#][^\s]*$", value):
                raise ValueError("the contact web address must start with http:// or https://")
            if key == "email" and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
                raise ValueError("the contact e-mail address is not an e-mail address")
            out[key] = value
        return out

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.match(r"^https?://\S+$", s) or len(s) > 1000:
                raise ValueError(f"a source is a web address (http:// or https://), not {s[:80]!r}")
        return v


class Channel(BaseModel):
    """Where a contact channel was read and when it was known to be published there."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The public page the channel was read from (or 'edited in the directory').")
    as_of: date = Field(description="The date the channel was known to be published there, or was entered.")
    by: str = Field(default="seed", description="'seed' (the bundled file) or the admin who entered it.")


class AgencyOut(AgencyIn):
    origin: str
    updated_at: datetime
    updated_by: str
    channels: dict[str, Channel] = Field(default_factory=dict, description="Provenance of each known channel.")


def _known(contact: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in contact.items() if v and v != UNKNOWN}


def _provenance(a: Agency) -> dict[str, Channel]:
    """Each known channel's source and date: the seed's while the value is the seed's, else the edit's."""
    seeded = _seed_channels().get(a.id, ({}, {}))
    out: dict[str, Channel] = {}
    for key, value in _known(dict(a.contact)).items():
        if seeded[0].get(key) == value and key in seeded[1]:
            out[key] = seeded[1][key]
        else:
            out[key] = Channel(source="edited in the directory", as_of=a.updated_at.date(), by=a.updated_by)
    return out


def _out(a: Agency) -> AgencyOut:
    return AgencyOut(
        id=a.id,
        name=a.name,
        short_name=a.short_name,
        kind=a.kind,
        countries=list(a.countries),
        categories=list(a.categories),
        formats=list(a.formats),
        mandate=a.mandate,
        contact=dict(a.contact),
        sources=list(a.sources),
        notes=a.notes,
        active=a.active,
        origin=a.origin,
        updated_at=a.updated_at,
        updated_by=a.updated_by,
        channels=_provenance(a),
    )


# ------------------------------------------------------------------------------------------ seed


def _seed_channels_of(a: AgencyIn, raw: Any) -> dict[str, Channel]:
    """The ``channels`` table of a seed entry, checked: every known channel has a source page and a date."""
    if not isinstance(raw, dict):
        raise ValueError("channels is a table: channel = { source = URL, as_of = YYYY-MM-DD }")
    out: dict[str, Channel] = {}
    for key, value in raw.items():
        if key not in ("web", "email", "phone"):
            raise ValueError(f"channels has web, email and phone only, not {key!r}")
        try:
            ch = Channel(**{**value, "by": "seed"}) if isinstance(value, dict) else None
        except ValidationError:
            ch = None
        if ch is None:
            raise ValueError(f"the {key} channel needs source = URL and as_of = YYYY-MM-DD, not {value!r}")
        if not re.match(r"^https?://\S+$", ch.source):
            raise ValueError(f"the source of the {key} channel must be a web address, not {ch.source[:80]!r}")
        if ch.as_of > datetime.now(UTC).date():
            raise ValueError(f"the {key} channel's as_of date {ch.as_of} is in the future")
        out[key] = ch
    for key in _known(a.contact):
        if key not in out:
            raise ValueError(f"the {key} channel has no source and as_of date in channels (say where it was read)")
    return out


@functools.cache
def _seed_cached(path: str, mtime: float) -> tuple[tuple[AgencyIn, dict[str, Channel]], ...]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AgencyError(f"cannot read the agency seed file {path}: {e}") from None
    out: list[tuple[AgencyIn, dict[str, Channel]]] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("agency", [])):
        fields = {k: v for k, v in raw.items() if k != "channels"}
        try:
            a = AgencyIn(**fields)
            channels = _seed_channels_of(a, raw.get("channels", {}))
        except Exception as e:  # noqa: BLE001 - say which entry is wrong
            raise AgencyError(f"{path}: agency #{i + 1} ({raw.get('id', '?')}): {e}") from None
        if a.id in seen:
            raise AgencyError(f"{path}: agency id {a.id!r} appears twice")
        seen.add(a.id)
        out.append((a, channels))
    return tuple(out)


def seed_agencies(path: Path = SEED_FILE) -> tuple[AgencyIn, ...]:
    """The agencies of a seed file (checked: a bad entry raises :class:`AgencyError` naming it)."""
    return tuple(a for a, _ in _seed_cached(str(path), path.stat().st_mtime))


def seed_channels(path: Path = SEED_FILE) -> dict[str, dict[str, Channel]]:
    """Each seed agency's channel provenance (source page and as-of date of each known channel), by id."""
    return {a.id: ch for a, ch in _seed_cached(str(path), path.stat().st_mtime)}


def _seed_channels() -> dict[str, tuple[dict[str, str], dict[str, Channel]]]:
    return {a.id: (_known(a.contact), ch) for a, ch in _seed_cached(str(SEED_FILE), SEED_FILE.stat().st_mtime)}


_seeded: weakref.WeakSet[Database] = weakref.WeakSet()


def ensure_agencies(db: Database, *, path: Path = SEED_FILE, force: bool = False) -> int:
    """Add the seed agencies missing from the table, and bring rows still as seeded (never an admin's edit)
    up to the seed; returns how many were added. Cheap after the first call for a Database (remembered),
    unless ``force``. Must not be called inside a write session."""
    if db in _seeded and not force:
        return 0
    seed = seed_agencies(path)
    with db.reader() as s:
        have = {a.id: a for a in s.scalars(select(Agency))}
        stale = [a for a in seed if a.id in have and have[a.id].origin == "seed" and _differs(have[a.id], a)]
    missing = [a for a in seed if a.id not in have]
    now = datetime.now(UTC)
    if missing:
        rows = [{**a.model_dump(), "origin": "seed", "updated_at": now, "updated_by": "seed"} for a in missing]
        with db.session() as s:
            ins = insert_for(s.get_bind().dialect.name)
            s.execute(ins(Agency).values(rows).on_conflict_do_nothing(index_elements=["id"]))
    if stale:
        with db.session() as s:
            for a in stale:
                row = s.get(Agency, a.id)
                if row is not None and row.origin == "seed":  # an admin may have edited it meanwhile
                    for k, v in a.model_dump().items():
                        setattr(row, k, v)
                    row.updated_at = now
    _seeded.add(db)
    return len(missing)


def _differs(row: Agency, seed: AgencyIn) -> bool:
    return any(getattr(row, k) != v for k, v in seed.model_dump().items())


# ------------------------------------------------------------------------------------------ queries


def list_agencies(db: Database, *, country: str | None = None, include_inactive: bool = True) -> list[AgencyOut]:
    """The directory, by name; ``country`` keeps agencies covering it (or every country)."""
    ensure_agencies(db)
    with db.reader() as s:
        rows = list(s.scalars(select(Agency).order_by(Agency.kind, Agency.name)))
    out = [_out(a) for a in rows if include_inactive or a.active]
    if country:
        cc = country.upper()
        out = [a for a in out if cc in a.countries or "*" in a.countries]
    return out


def get_agency(db: Database, agency_id: str) -> AgencyOut | None:
    ensure_agencies(db)
    with db.reader() as s:
        a = s.get(Agency, agency_id)
        return _out(a) if a else None


def save_agency(db: Database, data: AgencyIn, actor: Principal, *, create: bool) -> AgencyOut:
    """Add (``create``) or change an agency; audited. Admins only (the caller checks the role)."""
    ensure_agencies(db)
    now = datetime.now(UTC)
    with db.session() as s:
        row = s.get(Agency, data.id)
        if create and row is not None:
            raise AgencyError(f"an agency with id {data.id!r} exists already")
        if not create and row is None:
            raise AgencyError(f"there is no agency {data.id!r}")
        before = _out(row).model_dump(mode="json") if row is not None else {}
        if row is None:
            row = Agency(id=data.id)
            s.add(row)
        for k, v in data.model_dump().items():
            setattr(row, k, v)
        row.origin = "admin"
        row.updated_at = now
        row.updated_by = actor.label
        s.flush()
        after = _out(row).model_dump(mode="json")
        changed = sorted(k for k in after if k not in ("updated_at", "updated_by") and before.get(k) != after[k])
        record(s, actor, "agency.create" if create else "agency.update", "agency", data.id, fields=changed)
        return _out(row)


def suggest(
    agencies: list[AgencyOut], candidates: list[Candidate], category: str | None, *, limit: int = 6
) -> list[dict[str, Any]]:
    """Agencies for a report's candidate countries (best candidate first), active ones taking its category.

    Global bodies (countries ``*``) come after the national ones of the top candidates.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cand in candidates:
        for a in agencies:
            if not a.active or a.id in seen or cand.country not in a.countries:
                continue
            if category and "*" not in a.categories and category not in a.categories:
                continue
            out.append({"agency": a, "country": cand.country, "weight": cand.weight})
            seen.add(a.id)
    for a in agencies:
        if a.active and a.id not in seen and "*" in a.countries:
            out.append({"agency": a, "country": "*", "weight": 0.0})
            seen.add(a.id)
    return out[:limit] if limit else out
