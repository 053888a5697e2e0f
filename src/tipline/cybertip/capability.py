"""The CyberTipline door (``/ispws``): platforms that report to NCMEC's ESP API report here unchanged."""

from __future__ import annotations

from tipline.capability import Capability
from tipline.cybertip.api import router
from tipline.cybertip.door import CybertipXmlDoor
from tipline.settings import Settings

MULTIPART_SLACK = 1024 * 1024  # the multipart framing around the XML or the file


def _ispws_limit(st: Settings) -> int:
    # a report's XML or one of its files, in a multipart body; the door enforces the exact limits itself
    return max(st.max_upload_bytes, st.max_xml_bytes) + MULTIPART_SLACK


CYBERTIP = Capability(
    name="cybertip",
    description="The CyberTipline ESP API door (/ispws): submissions, files, finish, retract.",
    routers=(router,),
    body_limits={"/ispws/": _ispws_limit},
    doors=(CybertipXmlDoor(),),
)
