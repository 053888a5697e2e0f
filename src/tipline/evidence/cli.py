"""``tipline evidence import FILE`` (one JSON item per line) and ``tipline evidence show ID``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from tipline import strict_json
from tipline.clikit import database, err, fail, out, progress
from tipline.evidence import service
from tipline.intake.service import NotFound

evidence_app = typer.Typer(
    help="Evidence items that are not reports (ads, payments, partners' records): they link to reports "
    "through the identifiers they share.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")


@evidence_app.command("import")
def import_items(
    path: Annotated[
        Path,
        typer.Argument(
            help="A JSON Lines file: one item per line (kind, source, external_id, "
            "occurred_at, text, details, country).",
            exists=True,
            dir_okay=False,
        ),
    ],
) -> None:
    """Store (or update: same source and external id) every item of the file and link it. A bad line is
    reported with its number and nothing of the file is stored until every line is valid."""
    lines = path.read_text(encoding="utf-8").splitlines()
    items: list[service.EvidenceIn] = []
    problems: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(service.EvidenceIn.model_validate(strict_json.loads(line)))
        except ValidationError as e:
            problems.append(f"line {n}: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}")
        except strict_json.READ_ERRORS as e:
            problems.append(f"line {n}: {strict_json.problem(e)}")
    if problems:
        for p in problems[:20]:
            err.print(p, highlight=False, markup=False)
        fail(
            f"{len(problems)} of {len(lines)} lines are not valid evidence items; nothing was stored. "
            "Fix them and run the command again."
        )
    db = database()
    with progress() as bar:
        task = bar.add_task("evidence", total=len(items))
        for item in items:
            service.add_item(db, item, "cli")
            bar.advance(task)
    out.print(f"stored {len(items)} evidence items")


@evidence_app.command("show")
def show(
    evidence_id: Annotated[int, typer.Argument(help="The evidence item's id.", min=1)],
) -> None:
    """Print one evidence item (as JSON) with the entities it names."""
    try:
        item = service.get_item(database(), evidence_id)
    except NotFound as e:
        fail(f"{e}; `tipline evidence import` stores items")
    print(json.dumps(item.model_dump(mode="json"), ensure_ascii=False))
