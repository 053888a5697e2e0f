"""CyberTipline door: platforms that report to NCMEC's CyberTipline ESP API report to tipline unchanged.

``parse`` reads the XML safely and ``mapping`` maps it (pure), ``api`` is the ``/ispws`` router,
``importer`` loads files.
"""

from tipline.cybertip.codes import Code
from tipline.cybertip.mapping import INCIDENT_TYPES
from tipline.cybertip.parse import (
    CybertipError,
    FileDetails,
    FileHash,
    element_to_dict,
    parse_file_details,
    parse_report,
)

__all__ = [
    "INCIDENT_TYPES",
    "Code",
    "CybertipError",
    "FileDetails",
    "FileHash",
    "element_to_dict",
    "parse_file_details",
    "parse_report",
]
