"""``tipline faces``: face search for victim identification (off unless TIPLINE_FACES_ENABLED=true).

tipline faces enrol GALLERY PHOTO --reason TEXT [--label ..] [--provenance ..] [--legal-basis ..] [--by NAME]
tipline faces search PHOTO --reason TEXT [--json] [--by NAME]   report media with faces near the photo's face
tipline faces scan [--limit N]                                    find the faces of stored report media
tipline faces export --reason TEXT [--by NAME]                    every gallery entry's provenance (JSON)
tipline faces groups [--status S]                                 unknown persons: faces recurring across reports
tipline faces decide GROUP confirm|dismiss --reason TEXT          an analyst's decision on a group

The command acts for the host operator (``cli``, who holds the database and its keys anyway) or, with
``--by``, for a named staff user, who must be a supervisor or an admin. Every step is audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tipline.accounts.service import Principal, Role
from tipline.clikit import database, fail, out

faces_app = typer.Typer(
    help="Face search for victim identification (off unless TIPLINE_FACES_ENABLED=true): galleries of known "
    "people, search of report media, all audited.",
    no_args_is_help=True,
)

# the host operator: whoever runs the command on the server holds the database and the master key already
CLI_OPERATOR = Principal("cli", 0, "cli", Role.ADMIN)

Reason = Annotated[str, typer.Option(help="Why (recorded in the audit log with the step; at least 8 characters).")]
By = Annotated[
    str | None, typer.Option(help="Act as this staff user (a supervisor or admin) instead of the host operator.")
]


def _actor(by: str | None) -> Principal:
    from tipline.accounts import service as accounts

    if by is None:
        return CLI_OPERATOR
    for u in accounts.list_users(database()):
        if u.name == by:
            return u
    fail(f"no staff user named {by!r} (see `tipline users list`)")


def _photo(path: Path) -> bytes:
    if not path.is_file():
        fail(f"{path} is not a file: give the path of a photo (JPEG, PNG, WebP)")
    return path.read_bytes()


@faces_app.command("enrol")
def enrol_cmd(
    gallery: Annotated[str, typer.Argument(help="The gallery (made on first use), e.g. missing-2026.")],
    photo: Annotated[Path, typer.Argument(help="A reference photo showing exactly one face.")],
    reason: Reason,
    label: Annotated[str, typer.Option(help="Who this is, as your case files name them (sealed).")] = "",
    provenance: Annotated[str, typer.Option(help="Where the photo comes from (sealed; exported for oversight).")] = "",
    legal_basis: Annotated[str, typer.Option(help="The legal basis for enrolling this person (sealed).")] = "",
    by: By = None,
) -> None:
    """Enrol a reference photo of a missing or identified child (or a suspect) in a gallery."""
    from tipline.faces import service

    db = database()
    try:
        e = service.enrol(
            db,
            _actor(by),
            gallery,
            _photo(photo),
            reason=reason,
            label=label,
            provenance=provenance,
            legal_basis=legal_basis,
        )
    except (service.FacesDisabled, service.FacesDenied, service.FacesError, ValueError) as err:
        fail(str(err))
    out.print(f"enrolled as entry #{e.entry_id} of gallery {e.gallery} (face quality {e.quality}/100)", highlight=False)


@faces_app.command("search")
def search_cmd(
    photo: Annotated[Path, typer.Argument(help="A photo of the person sought (its largest face is searched).")],
    reason: Reason,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list of matches.")] = False,
    limit: Annotated[int, typer.Option(help="Most matches listed.", min=1, max=1000)] = 50,
    by: By = None,
) -> None:
    """Report media with faces near the photo's face, best first, with the distance and a "same person?" band.
    Open a result's picture through the audited media viewer (/media/ATTACHMENT_ID)."""
    from tipline.faces import service

    db = database()
    try:
        res = service.search(db, _actor(by), _photo(photo), reason=reason, limit=limit)
    except (service.FacesDisabled, service.FacesDenied, service.FacesError, ValueError) as err:
        fail(str(err))
    if json_out:
        rows = [
            {
                "report_id": m.report_id,
                "attachment_id": m.attachment_id,
                "face_id": m.face_id,
                "distance": m.distance,
                "band": m.band,
                "quality": m.quality,
                "frame": m.frame,
            }
            for m in res.matches
        ]
        print(json.dumps(rows))
        return
    if not res.matches:
        out.print(f"no face within distance {res.threshold:g} in the report media scanned so far", highlight=False)
    for m in res.matches:
        where = f" frame {m.frame}" if m.frame is not None else ""
        out.print(
            f"report {m.report_id}  file {m.attachment_id}{where}  distance {m.distance:.3f}  {m.band}",
            highlight=False,
        )


@faces_app.command("scan")
def scan_cmd(
    limit: Annotated[int | None, typer.Option(help="Scan at most this many files now.", min=1)] = None,
) -> None:
    """Find the faces of every stored report picture and video not scanned yet (decoded in limited children)."""
    from tipline.faces import service

    try:
        res = service.scan_pending(database(), limit=limit)
    except service.FacesDisabled as err:
        fail(str(err))
    out.print(f"{res.files} files scanned, {res.faces} faces found, {res.errors} files unreadable", highlight=False)


@faces_app.command("export")
def export_cmd(reason: Reason, by: By = None) -> None:
    """Print every gallery entry's provenance, legal basis and who enrolled it (JSON, for oversight)."""
    from tipline.faces import service

    try:
        rows = service.export_provenance(database(), _actor(by), reason=reason)
    except (service.FacesDisabled, service.FacesDenied, ValueError) as err:
        fail(str(err))
    print(json.dumps(rows, indent=2, ensure_ascii=False))


@faces_app.command("groups")
def groups_cmd(
    status: Annotated[str | None, typer.Option(help="Only groups in this state: new, confirmed or dismissed.")] = None,
    by: By = None,
) -> None:
    """Unknown persons: faces that recur across reports (JSON: id, status, identifier, reports, faces)."""
    from tipline.faces import groups, service

    try:
        rows = groups.list_groups(database(), _actor(by), status=status)
    except (service.FacesDisabled, service.FacesDenied) as err:
        fail(str(err))
    print(json.dumps(rows, indent=2))


@faces_app.command("decide")
def decide_cmd(
    group: Annotated[int, typer.Argument(help="The group's id (see `tipline faces groups`).")],
    decision: Annotated[str, typer.Argument(help="confirm (its reports join networks) or dismiss.")],
    reason: Reason,
    by: By = None,
) -> None:
    """Confirm or dismiss an unknown-person group; its reports are analysed again (audited)."""
    from tipline.errors import NotFound
    from tipline.faces import groups, service

    if decision not in ("confirm", "dismiss"):
        fail("decide confirm or dismiss")
    try:
        reports = groups.decide(database(), _actor(by), group, confirm=decision == "confirm", reason=reason)
    except (service.FacesDisabled, service.FacesDenied, NotFound, ValueError) as err:
        fail(str(err))
    out.print(f"group {group} {decision}ed; reports analysed again: {', '.join(map(str, reports))}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(faces_app, name="faces")
