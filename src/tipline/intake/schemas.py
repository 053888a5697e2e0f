"""The one shape every intake door produces, and the platform-facing API shapes.

Door-specific input (form fields, platform JSON, CyberTipline XML, panic-button JSON) is validated by
pydantic here or in the door, then converted to :class:`ReportIn`. Row models (``tipline.store.models``)
never leave the service layer; responses use the ``*Out`` shapes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tipline.extract.text import KINDS
from tipline.store.types import Instant

MAX_TEXT = 20_000
MAX_LIST = 200
# the most persons a report holds: what the largest door brings, a live stream's broadcaster and its 500 viewers
# (a platform's 200 reported persons and 200 victims fit too); 200 made a press from a stream with 199 or more
# viewers fail inside the request, a 500, and the urgent report was not stored
MAX_PERSONS = 501

# Entity kinds an identifier may have (tipline.extract's kinds plus platform accounts).
ENTITY_KINDS = (*KINDS, "account")


class Source(StrEnum):
    PUBLIC = "public"
    PLATFORM = "platform"
    CYBERTIP = "cybertip"
    LIVE = "live"


class Category(StrEnum):
    """CyberTipline incident types plus the ones this field needs."""

    CSAM = "child_sexual_abuse_material"
    CHILD_SEX_TRAFFICKING = "child_sex_trafficking"
    CHILD_SEX_TOURISM = "child_sex_tourism"
    CHILD_SEXUAL_MOLESTATION = "child_sexual_molestation"
    MISLEADING_DOMAIN = "misleading_domain_name"
    MISLEADING_WORDS_IMAGES = "misleading_words_or_images"
    ONLINE_ENTICEMENT = "online_enticement"
    UNSOLICITED_OBSCENE = "unsolicited_obscene_material_to_child"
    LIVE_STREAMED_ABUSE = "live_streamed_abuse"
    SEXTORTION = "sextortion"
    TRAFFICKING_AD = "trafficking_advertisement"
    OTHER = "other"


class Status(StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    REFERRED = "referred"
    NO_ACTION = "no_action"
    DUPLICATE = "duplicate"


class Classification(StrEnum):
    """INHOPE assessment terms."""

    BASELINE = "baseline_illegal"
    NATIONAL = "nationally_illegal"
    NOT_ILLEGAL = "not_illegal"


class AgeBand(StrEnum):
    """Youngest apparent age band (INHOPE/ICCAM style)."""

    INFANT = "infant_toddler"
    PREPUBESCENT = "prepubescent"
    PUBESCENT = "pubescent"
    ADULT = "adult"
    UNKNOWN = "unknown"


# C0 control characters but tab and line ends (the ones XML 1.0 cannot carry either), and lone surrogates
# (from JSON "\ud800" escapes): no door has a use for them, PostgreSQL refuses NUL in text, and a lone
# surrogate cannot be encoded as UTF-8
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


MAX_DEPTH = 64  # lists and objects inside free data (a file's details): deeper is refused, not recursed into


def strip_control(value: Any, depth: int = 0) -> Any:
    """``value`` with control characters removed from every string in it (dict keys and lists included).
    ValueError when lists and objects are nested more than :data:`MAX_DEPTH` deep."""
    if isinstance(value, str):
        return _CONTROL.sub("", value) if _CONTROL.search(value) else value
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep: flatten it")
    if isinstance(value, list):
        return [strip_control(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {strip_control(k, depth + 1): strip_control(v, depth + 1) for k, v in value.items()}
    return value


# region codes in CLDR's territory list that are not countries someone would pick
NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"})


@functools.cache
def country_codes() -> frozenset[str]:
    """ISO 3166 alpha-2 codes of every country and territory (CLDR's list, through Babel)."""
    from babel import Locale

    names = Locale.parse("en").territories
    return frozenset(c for c in map(str, names) if len(c) == 2 and c.isalpha() and c not in NOT_COUNTRIES)


def check_country(value: str) -> str:
    code = value.strip().upper()
    if code not in country_codes():
        raise ValueError(f"{value[:20]!r} is not an ISO 3166 country code: give two letters such as PH, IT or US")
    return code


# a stated country: two letters of ISO 3166, upper-cased ("ph" -> "PH"), refused when no country has them
CountryCode = Annotated[str, AfterValidator(check_country)]


def check_urls(urls: list[str]) -> list[str]:
    """Every URL of a report stripped, and none empty or over 2,048 characters: an empty one (or one of
    control characters only) would become an identifier of nothing."""
    out = []
    for i, u in enumerate(urls):
        u = u.strip()
        if not u:
            raise ValueError(f"urls[{i}] is empty: leave it out of the list, or give the address")
        if len(u) > 2048:
            raise ValueError(f"urls[{i}] is longer than 2048 characters")
        out.append(u)
    return out


# Validation context (``model_validate(..., context=CONTROLS_CHECKED)``) for a model built only from text
# that was refused whole if it held a control character or a lone surrogate, by a parser that also bounded
# its nesting: a CyberTipline XML document (XML 1.0 cannot carry them; ``tipline.cybertip.parse`` refuses
# the document). Its fields are not walked again: the walk over every string of a report's details (the
# whole document) was a seventh of parsing one.
CONTROLS_CHECKED: dict[str, bool] = {"controls_checked": True}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, v: Any, info: ValidationInfo) -> Any:
        """Every free-text field of every door, nested ones included, loses its control characters before
        it is checked (so a value of only control characters is empty, and refused where one is needed)."""
        if info.context is not None and info.context.get("controls_checked"):
            return v
        if isinstance(v, str):
            return _CONTROL.sub("", v) if _CONTROL.search(v) else v
        if isinstance(v, list | dict) and info.field_name and _holds_only_models(cls, info.field_name):
            return v  # the nested models strip their own fields: walking them here too doubled the cost
        return strip_control(v)


def _leaf_types(t: Any) -> Iterator[Any]:
    args = get_args(t)
    if not args:
        yield t
        return
    for a in args:
        yield from _leaf_types(a)


@functools.cache
def _holds_only_models(cls: type[BaseModel], name: str) -> bool:
    """Whether every value the field can hold is a model of ours (``list[PersonIn] | None``), not free data
    (``dict[str, Any]``), whose strings only :func:`strip_control` cleans."""
    field = cls.model_fields.get(name)
    leaves = [t for t in _leaf_types(field.annotation if field else Any) if t is not type(None)]
    return bool(leaves) and all(isinstance(t, type) and issubclass(t, _Strict) for t in leaves)


class IdentifierIn(_Strict):
    """An identifier given in a structured field (not found in free text)."""

    kind: str = Field(max_length=32, description="Entity kind, e.g. phone, email, telegram, account, btc.")
    value: str = Field(min_length=1, max_length=512)
    platform: str | None = Field(default=None, max_length=128, description="For kind=account: the service.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        v = v.lower()
        if v not in ENTITY_KINDS:
            raise ValueError(f"unknown identifier kind {v!r}; use one of: {', '.join(ENTITY_KINDS)}")
        return v


class IpEventIn(_Strict):
    ip: str = Field(max_length=64)
    at: Instant | None = None
    event: str | None = Field(default=None, max_length=64, description="Login, Registration, Upload, ...")
    port: int | None = Field(default=None, ge=0, le=65535)


class PersonIn(_Strict):
    role: Literal["reported", "victim", "broadcaster", "viewer", "other"] = "reported"
    name: str | None = Field(default=None, max_length=256)
    age: int | None = Field(default=None, ge=0, le=120)
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=MAX_LIST)
    ip_events: list[IpEventIn] = Field(default_factory=list, max_length=MAX_LIST)
    country: CountryCode | None = Field(default=None, min_length=2, max_length=2)


class FileIn(_Strict):
    """A file the report refers to: uploaded, or known by its hashes only."""

    filename: str | None = Field(default=None, max_length=512)
    media_type: str | None = Field(default=None, max_length=128)
    size: int | None = Field(default=None, ge=0)
    md5: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")
    sha1: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{40}$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    pdq: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    details: dict[str, Any] = Field(default_factory=dict)


class ContactIn(_Strict):
    """A public reporter's optional contact details (stored sealed, shown only to staff)."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


class ReportIn(_Strict):
    """The internal report every door produces."""

    source: Source
    category: Category = Category.OTHER
    text: str = Field(default="", max_length=MAX_TEXT)
    language: str | None = Field(default=None, max_length=16)
    country: CountryCode | None = Field(
        default=None, min_length=2, max_length=2, description="Stated country (ISO 3166)."
    )
    is_live: bool = False
    escalate: bool = False
    incident_at: Instant | None = None
    platform_id: int | None = None
    external_id: str | None = Field(default=None, max_length=200)
    persons: list[PersonIn] = Field(default_factory=list, max_length=MAX_PERSONS)
    urls: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    files: list[FileIn] = Field(default_factory=list, max_length=1000)
    contact: ContactIn | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    open_submission: bool = Field(
        default=False, description="True while a CyberTipline submission is not yet finished."
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return check_urls(v)


# ---------------------------------------------------------------- platform JSON API (POST /api/v1/reports)


class PlatformPersonIn(_Strict):
    name: str | None = Field(default=None, max_length=256)
    age: int | None = Field(default=None, ge=0, le=120)
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=MAX_LIST)
    ip_events: list[IpEventIn] = Field(default_factory=list, max_length=MAX_LIST)
    country: CountryCode | None = Field(default=None, min_length=2, max_length=2)


class PlatformReportIn(_Strict):
    """A report a platform sends as JSON. `report_id` is the platform's own id: sending the same id twice
    returns the first report (idempotent)."""

    report_id: str = Field(min_length=1, max_length=200, description="The platform's own report id.")
    category: Category
    text: str = Field(default="", max_length=MAX_TEXT, description="What the platform saw, in words.")
    language: str | None = Field(default=None, max_length=16)
    country: CountryCode | None = Field(default=None, min_length=2, max_length=2)
    incident_at: Instant | None = None
    escalate: bool = Field(default=False, description="The platform believes a child is in imminent danger.")
    is_live: bool = False
    reported_persons: list[PlatformPersonIn] = Field(default_factory=list, max_length=MAX_LIST)
    victims: list[PlatformPersonIn] = Field(default_factory=list, max_length=MAX_LIST)
    urls: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    files: list[FileIn] = Field(default_factory=list, max_length=1000)

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return check_urls(v)

    def to_report(self, platform_id: int) -> ReportIn:
        persons = [PersonIn(role="reported", **p.model_dump()) for p in self.reported_persons]
        persons += [PersonIn(role="victim", **p.model_dump()) for p in self.victims]
        return ReportIn(
            source=Source.PLATFORM,
            category=self.category,
            text=self.text,
            language=self.language,
            country=self.country,
            incident_at=self.incident_at,
            escalate=self.escalate,
            is_live=self.is_live,
            platform_id=platform_id,
            external_id=self.report_id,
            persons=persons,
            urls=self.urls,
            files=self.files,
        )


# ---------------------------------------------------------------- panic button (POST /api/v1/live)


class FrameHashIn(_Strict):
    kind: Literal["pdq", "md5", "sha1", "sha256"] = "pdq"
    hash: str = Field(pattern=r"^[0-9a-fA-F]{32,64}$")
    offset_ms: int | None = Field(default=None, ge=0)


class LiveAccountIn(_Strict):
    account: str = Field(min_length=1, max_length=256, description="The account name on the platform.")
    ip: str | None = Field(default=None, max_length=64)
    country: CountryCode | None = Field(default=None, min_length=2, max_length=2)


class LiveIn(_Strict):
    """A panic button pressed inside a live stream."""

    # 195: the report keeps it as its platform report id "live:<stream_id>", a 200-character column (a longer
    # id was accepted here and then failed inside the request, a 500)
    stream_id: str = Field(min_length=1, max_length=195, description="The platform's id of the stream.")
    started_at: Instant | None = None
    broadcaster: LiveAccountIn
    viewers: list[LiveAccountIn] = Field(default_factory=list, max_length=MAX_PERSONS - 1)
    frame_hashes: list[FrameHashIn] = Field(default_factory=list, max_length=500)
    note: str = Field(default="", max_length=4000, description="What the person who pressed the button saw.")
    language: str | None = Field(default=None, max_length=16)

    def to_report(self, platform_id: int, platform_name: str) -> ReportIn:
        def person(role: str, a: LiveAccountIn) -> PersonIn:
            ip_events = [IpEventIn(ip=a.ip, event="Live stream")] if a.ip else []
            ident = IdentifierIn(kind="account", value=a.account, platform=platform_name)
            return PersonIn(role=role, identifiers=[ident], ip_events=ip_events, country=a.country)

        return ReportIn(
            source=Source.LIVE,
            category=Category.LIVE_STREAMED_ABUSE,
            text=self.note,
            language=self.language,
            is_live=True,
            escalate=True,
            incident_at=self.started_at,
            platform_id=platform_id,
            external_id=f"live:{self.stream_id}",
            persons=[person("broadcaster", self.broadcaster)] + [person("viewer", v) for v in self.viewers],
            files=[
                FileIn(**{h.kind: h.hash.lower()}, details={"frame_offset_ms": h.offset_ms})
                for h in self.frame_hashes
                if len(h.hash) == {"md5": 32, "sha1": 40}.get(h.kind, 64)
            ],
            details={"stream_id": self.stream_id},
        )


# ---------------------------------------------------------------- public form


class PublicReportIn(_Strict):
    """What the public form posts (after the door has read the form fields)."""

    category: Category
    text: str = Field(default="", max_length=MAX_TEXT)
    urls: list[str] = Field(default_factory=list, max_length=50)
    language: str | None = Field(default=None, max_length=16)
    country: CountryCode | None = Field(default=None, min_length=2, max_length=2)
    is_live: bool = False
    incident_at: Instant | None = None
    victim_age: int | None = Field(default=None, ge=0, le=120)
    answers: dict[str, str] = Field(default_factory=dict, description="Answers to incident-specific questions.")
    contact: ContactIn | None = None

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return check_urls(v)

    def to_report(self) -> ReportIn:
        persons = [PersonIn(role="victim", age=self.victim_age)] if self.victim_age is not None else []
        return ReportIn(
            source=Source.PUBLIC,
            category=self.category,
            text=self.text,
            language=self.language,
            country=self.country,
            is_live=self.is_live,
            incident_at=self.incident_at,
            persons=persons,
            urls=self.urls,
            contact=self.contact,
            details={"answers": self.answers} if self.answers else {},
        )


# ---------------------------------------------------------------- responses


class SubmitOut(BaseModel):
    id: int
    status: Status
    priority: int
    created: bool = Field(description="False when this was a repeat of an earlier submission (idempotent).")


class EntityOut(BaseModel):
    kind: str
    value: str
    confidence: float
    field: str
    start: int | None = None
    end: int | None = None
    disguise: str | None = Field(
        default=None, description='How the value was written when not plainly, e.g. "words,letters".'
    )
    alternatives: list[tuple[str, float]] = Field(
        default_factory=list,
        description="Other readings of an ambiguous value (a number valid in two countries), best first, "
        "each with its confidence. While there are some, reports are not linked through this mention.",
    )
    linkable: bool = True


class ReasonOut(BaseModel):
    rule: str
    description: str
    points: float
    detail: str | None = None


class ReportOut(BaseModel):
    id: int
    source: Source
    category: Category
    status: Status
    priority: int
    score: float
    reasons: list[ReasonOut]
    language: str | None
    country: str | None
    is_live: bool
    escalate: bool
    received_at: datetime
    incident_at: datetime | None
    text: str
    classification: Classification | None
    age_band: AgeBand | None
    external_id: str | None
    platform: str | None
    entities: list[EntityOut]
    persons: list[dict[str, Any]]
    urls: list[str]
    files: list[dict[str, Any]]
    details: dict[str, Any]


class QueueItemOut(BaseModel):
    id: int
    priority: int
    score: float
    category: Category
    source: Source
    status: Status
    language: str | None
    country: str | None
    received_at: datetime
    summary: str
    reasons: list[str]
    reason_rules: list[str] = Field(default_factory=list, description="the rule id of each reason, in order")
    assignee: str | None = Field(default=None, description="the staff user who owns the report")
    labels: list[str] = Field(default_factory=list)
    due_at: datetime | None = Field(default=None, description="time-to-first-action target (open reports)")
    overdue: bool = Field(default=False, description="open, past its target, and nobody has acted on it")


class FileOut(BaseModel):
    id: int
    report_id: int
    kind: str = Field(description="image | video | other (sniffed from the bytes)")
    media_type: str | None
    size: int | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    pdq: str | None = Field(description="PDQ hash of an image (64 hex characters)")
    pdq_quality: int | None = Field(description="PDQ quality 0-100 (below 50: unreliable)")
    vpdq: list[dict[str, object]] | None = Field(
        description='vPDQ of a video: one {"pdq", "quality", "frame", "ts"} per frame'
    )
    hash_error: str | None = Field(description="Why the perceptual hash is missing, when it is")
    stored: bool = Field(description="Whether the bytes are kept (encrypted); false with media_mode=hashes_only")
