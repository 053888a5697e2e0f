"""``tipline import cybertip FILE...``: load CyberTipline report XML files as finished reports.

Each file goes through the same checks as ``POST /ispws/submit`` (size, UTF-8, no DTD, depth, schema). A file
is one complete report (there is no upload step), so it is stored finished and analysed at once. Its
``external_id`` is the SHA-256 of the file, so importing the same file again for the same platform returns
the first report instead of a copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tipline.accounts import service as accounts
from tipline.cybertip.parse import CybertipError, parse_report
from tipline.intake import service as intake
from tipline.store import Database


def import_files(db: Database, paths: list[Path], platform_name: str | None) -> list[tuple[Path, int | str]]:
    """Import each file; returns (path, report id) or (path, a message saying why it was refused)."""
    platform_id: int | None = None
    if platform_name is not None:
        platform = accounts.platform_by_name(db, platform_name)
        if platform is None:
            msg = f"no platform named {platform_name!r}: register it first with `tipline keys create`"
            return [(p, msg) for p in paths]
        platform_id = platform.id
    limit = db.settings.max_xml_bytes
    results: list[tuple[Path, int | str]] = []
    for path in paths:
        try:
            with Path(path).open("rb") as f:
                data = f.read(limit + 1)  # never more than the limit, whatever the file says its size is
            report = parse_report(data, max_bytes=limit, esp_name=platform_name)
        except CybertipError as e:
            results.append((path, f"refused (code {e.code}): {e.message}"))
            continue
        except OSError as e:
            results.append((path, f"cannot read the file: {e.strerror or e}"))
            continue
        details = dict(report.details)
        details["imported_from"] = Path(path).name
        report = report.model_copy(
            update={
                "platform_id": platform_id,
                "open_submission": False,
                "external_id": f"cybertip-file-sha256:{hashlib.sha256(data).hexdigest()}",
                "details": details,
            }
        )
        results.append((path, intake.submit_report(db, report).report_id))
    return results
