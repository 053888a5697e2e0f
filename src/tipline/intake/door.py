"""Doors: the ways a report comes in, as one small interface (the naive reference is plain text).

A door turns what arrives (a form's JSON, a platform's JSON, a panic-button payload, a CyberTipline XML
document, a plain text) into the one shape every report has, :class:`~tipline.intake.schemas.ReportIn`,
and refuses anything else with :class:`DoorError`, whose message says what to fix. Storing and analysing
is then the same for every door (``tipline.intake.service.submit_report``). The web routes and the CLI
import handle the transport (HTTP, multipart, the CyberTipline API's XML answers) around the same
validation the doors wrap. ``tipline.capabilities.doors()`` lists the core doors and those capabilities
add (``Capability.doors``); ``tests/test_doors.py`` is the conformance test every door passes.

Don'ts for an implementation: never store anything (a door only reads); never log the body (it is a
report); never raise anything but :class:`DoorError` for bad input; keep ``example()`` synthetic.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel, ValidationError

from tipline import strict_json
from tipline.intake.schemas import Category, LiveIn, PlatformReportIn, PublicReportIn, ReportIn, Source


class DoorError(ValueError):
    """Input a door does not take; the message says what is wrong and what to do."""


class Door(ABC):
    name: ClassVar[str]
    source: ClassVar[Source]
    media_type: ClassVar[str]
    needs_platform: ClassVar[bool] = False  # the door knows its platform (API key) before it reads

    @abstractmethod
    def read(self, body: bytes, *, platform_id: int | None = None, platform_name: str | None = None) -> ReportIn:
        """The report in ``body``, or :class:`DoorError`."""

    @abstractmethod
    def example(self) -> bytes:
        """A synthetic body this door takes (for tests and docs)."""


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DoorError(f"the body is not UTF-8 text (byte {e.start}); send UTF-8") from None


def _problem(e: ValidationError) -> str:
    errors = e.errors()
    if not errors:
        return "body: invalid"
    where = ".".join(str(p) for p in errors[0]["loc"]) or "body"
    return f"{where}: {errors[0]['msg']}"


def _json_model(body: bytes, model: type[BaseModel]) -> BaseModel:
    text = _text(body)  # its own DoorError (a ValueError too): outside the try below
    try:
        data = strict_json.loads(text)
    except strict_json.RepeatedKey as e:
        raise DoorError(f"{e.msg} (line {e.lineno})") from None
    except strict_json.READ_ERRORS as e:
        raise DoorError(
            f"the body cannot be read: {strict_json.problem(e, lines=True)}; send one JSON object"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise DoorError(f"invalid report: {_problem(e)}; correct it and send it again") from None


class PlainTextDoor(Door):
    """The naive reference: the whole body is the report's text (category ``other``, from the public)."""

    name = "text"
    source = Source.PUBLIC
    media_type = "text/plain"

    def read(self, body: bytes, *, platform_id: int | None = None, platform_name: str | None = None) -> ReportIn:
        text = _text(body).strip()
        if not text:
            raise DoorError("the report is empty; write what happened")
        try:
            return PublicReportIn(category=Category.OTHER, text=text).to_report()
        except ValidationError as e:
            raise DoorError(f"invalid report: {_problem(e)}") from None

    def example(self) -> bytes:
        return b"Someone keeps sending my cousin messages and asks for photos; his number is 0917 555 0100."


class PublicFormDoor(Door):
    """The public form's fields, as the JSON the form's page posts."""

    name = "public-form"
    source = Source.PUBLIC
    media_type = "application/json"

    def read(self, body: bytes, *, platform_id: int | None = None, platform_name: str | None = None) -> ReportIn:
        model = _json_model(body, PublicReportIn)
        assert isinstance(model, PublicReportIn)
        return model.to_report()

    def example(self) -> bytes:
        return json.dumps(
            {"category": "online_enticement", "text": "A stranger asks my niece for pictures", "country": "PH"}
        ).encode()


class PlatformJsonDoor(Door):
    """A platform's report through the JSON API (``POST /api/v1/reports``)."""

    name = "platform-json"
    source = Source.PLATFORM
    media_type = "application/json"
    needs_platform = True

    def read(self, body: bytes, *, platform_id: int | None = None, platform_name: str | None = None) -> ReportIn:
        if platform_id is None:
            raise DoorError("a platform report needs its platform: send it with the platform's API key")
        model = _json_model(body, PlatformReportIn)
        assert isinstance(model, PlatformReportIn)
        return model.to_report(platform_id)

    def example(self) -> bytes:
        return json.dumps(
            {"report_id": "EX-1", "category": "trafficking_advertisement", "text": "Ad: call +63 917 555 0100"}
        ).encode()


class PanicButtonDoor(Door):
    """A live stream's panic button (``POST /api/v1/live``): frames' hashes and the accounts involved."""

    name = "panic-button"
    source = Source.LIVE
    media_type = "application/json"
    needs_platform = True

    def read(self, body: bytes, *, platform_id: int | None = None, platform_name: str | None = None) -> ReportIn:
        if platform_id is None or platform_name is None:
            raise DoorError("a panic-button report needs its platform: send it with the platform's API key")
        model = _json_model(body, LiveIn)
        assert isinstance(model, LiveIn)
        return model.to_report(platform_id, platform_name)

    def example(self) -> bytes:
        return json.dumps(
            {
                "stream_id": "S-1",
                "broadcaster": {"account": "room_host_77"},
                "note": "a child on camera, viewers paying",
            }
        ).encode()


CORE_DOORS: tuple[Door, ...] = (PlainTextDoor(), PublicFormDoor(), PlatformJsonDoor(), PanicButtonDoor())
