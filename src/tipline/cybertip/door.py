"""The CyberTipline door as a :class:`~tipline.intake.door.Door`: one ``<report>`` XML document."""

from __future__ import annotations

from typing import ClassVar

from tipline.cybertip.parse import CybertipError, parse_report
from tipline.intake.door import Door, DoorError
from tipline.intake.schemas import ReportIn, Source


class CybertipXmlDoor(Door):
    name = "cybertip-xml"
    source: ClassVar[Source] = Source.CYBERTIP
    media_type = "application/xml"
    needs_platform = True

    def read(self, body: bytes, *, platform_id: int | None = None, platform_name: str | None = None) -> ReportIn:
        try:
            report = parse_report(body, esp_name=platform_name)
        except CybertipError as e:
            raise DoorError(f"not a CyberTipline report NCMEC's schema accepts: {e}") from None
        return report.model_copy(update={"platform_id": platform_id})

    def example(self) -> bytes:
        return (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<report>\n<incidentSummary>'
            b"<incidentType>Online Enticement of Children for Sexual Acts</incidentType>"
            b"<incidentDateTime>2026-01-05T10:00:00Z</incidentDateTime></incidentSummary>\n"
            b"<reporter><reportingPerson><firstName>T</firstName></reportingPerson></reporter>\n</report>\n"
        )
