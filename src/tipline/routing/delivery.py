"""Delivery of a referral: how, when and by whom it was sent to the agency, the reference the agency gave,
and where it stands ("not yet delivered", "delivered, awaiting acknowledgement", "acknowledged").

Making a referral only records the package; staff send it through the agency's channel (see the agency
directory) and record each sending here. The acknowledgement stays on the referral
(:func:`tipline.routing.referral.acknowledge`). Every recording is an audit event (``referral.delivery``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.accounts.service import Principal, record
from tipline.errors import NotFound
from tipline.routing.models import Referral, ReferralDelivery
from tipline.store import Database
from tipline.store.types import Instant

METHODS = ("email", "web_form", "portal", "phone", "in_person", "cybertip_api")
STATES = ("not_delivered", "awaiting_ack", "acknowledged")


class DeliveryError(ValueError):
    """A delivery that cannot be recorded; the message says what is wrong."""


class DeliveryIn(BaseModel):
    """A sending of the referral, as the API, the page form and the CLI give it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    method: str = Field(description="email, web_form, portal, phone, in_person or cybertip_api")
    sent_at: Instant | None = Field(default=None, description="When it was sent (default: now).")
    sent_by: str = Field(default="", max_length=128, description="Who sent it (default: who records it).")
    channel: str = Field(default="", max_length=500, description="The address, form or number used.")
    reference: str = Field(default="", max_length=200, description="The agency's reference, if it gave one.")

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        v = v.strip().lower().replace("-", "_").replace(" ", "_")
        if v not in METHODS:
            raise ValueError(f"the method must be one of {', '.join(METHODS)}")
        return v


class DeliveryOut(BaseModel):
    id: int
    method: str
    channel: str
    sent_at: datetime
    sent_by: str
    reference: str
    recorded_by: str
    recorded_at: datetime


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _out(d: ReferralDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        method=d.method,
        channel=d.channel,
        sent_at=_aware(d.sent_at),
        sent_by=d.sent_by,
        reference=d.reference,
        recorded_by=d.recorded_by,
        recorded_at=_aware(d.recorded_at),
    )


def deliveries_of(s: Session, referral_ids: list[int]) -> dict[int, list[DeliveryOut]]:
    """The deliveries of each referral, oldest first."""
    out: dict[int, list[DeliveryOut]] = defaultdict(list)
    if not referral_ids:
        return out
    q = select(ReferralDelivery).where(ReferralDelivery.referral_id.in_(referral_ids))
    for d in s.scalars(q.order_by(ReferralDelivery.sent_at, ReferralDelivery.id)):
        out[d.referral_id].append(_out(d))
    return out


def state_of(deliveries: list[DeliveryOut], acknowledged_at: datetime | None) -> str:
    """``acknowledged`` once the agency acknowledged (whatever was recorded of the sending), else
    ``awaiting_ack`` after a delivery, else ``not_delivered``."""
    if acknowledged_at is not None:
        return "acknowledged"
    return "awaiting_ack" if deliveries else "not_delivered"


def record_delivery(db: Database, referral_id: int, actor: Principal, data: DeliveryIn) -> DeliveryOut:
    """Record that the referral was sent to its agency; audited (``referral.delivery``)."""
    now = datetime.now(UTC)
    when = _aware(data.sent_at) if data.sent_at is not None else now
    if when > now:
        raise DeliveryError("a delivery cannot be dated in the future")
    with db.session() as s:
        r = s.get(Referral, referral_id)
        if r is None:
            raise NotFound(f"there is no referral {referral_id}")
        if when < _aware(r.created_at):
            raise DeliveryError("a delivery cannot be dated before the referral was made")
        d = ReferralDelivery(
            referral_id=r.id,
            method=data.method,
            channel=data.channel,
            sent_at=when,
            sent_by=data.sent_by or actor.label,
            reference=data.reference,
            recorded_by=actor.label,
            recorded_at=now,
        )
        s.add(d)
        s.flush()
        record(s, actor, "referral.delivery", "referral", r.id, method=d.method, delivery=d.id, at=when.isoformat())
        return _out(d)
