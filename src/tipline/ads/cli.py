"""``tipline ads``: import ads, list their template clusters, rebuild the clusters.

tipline ads import FILE [--source NAME] [--format jsonl|csv]   import JSON lines or CSV (idempotent on site + ad id)
tipline ads clusters [--json] [--engine local|spark]          clusters of every stored ad, computed now
tipline ads rebuild [--engine local|spark]                     cluster everything again and store it
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tipline.clikit import database, err, fail, out, progress

ads_app = typer.Typer(
    help="Classified ads: import them as evidence, find the template behind many ads, follow them across cities.",
    no_args_is_help=True,
)

Engine = Annotated[
    str,
    typer.Option(
        help="Where to cluster: 'local' (this process) or 'spark' (TIPLINE_SPARK_MASTER, default local[1]). "
        "Both give the same clusters.",
    ),
]


def _engine(engine: str) -> str:
    engine = engine.lower()
    if engine == "duckdb":  # the installation's default batch engine name: the local engine here
        engine = "local"
    if engine not in ("local", "spark"):
        fail(f"unknown engine {engine!r}: use local or spark")
    return engine


@ads_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A JSON-lines file (one ad per line) or a CSV file with a header.")],
    source: Annotated[str, typer.Option(help="Who supplied the file (kept with each ad).")] = "cli",
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv (default: from the file name).")] = "",
) -> None:
    """Import ads. Fields: ad_id, posted_at (ISO 8601), site, city, country, title, text, and optionally url
    and images (PDQ hashes as 64 hex, or picture files, read from the file's folder, hashed with PDQ). Bad
    lines are reported with their line numbers and skipped; the good ones are imported. Importing the same
    ad again (same site and ad_id) updates it. Ads and reports that show one picture (near copies too) are
    linked in the entity graph."""
    from tipline.ads import service
    from tipline.ads.parse import read_lines

    if not file.is_file():
        fail(f"{file} is not a file: give the path of a JSON-lines or CSV file of ads")
    if fmt and fmt not in ("jsonl", "csv"):
        fail("--format is jsonl or csv")
    lines = list(read_lines(file.read_bytes(), fmt or None, file.name))
    db = database()
    with progress() as p:
        task = p.add_task("importing ads", total=len(lines))
        res = service.import_ads(
            db,
            lines,
            source=source,
            actor="cli",
            progress=lambda n: p.update(task, completed=n),
            files_from=file.resolve().parent,
        )
        p.update(task, completed=len(lines))
    for b in res.bad:
        err.print(f"line {b.line}: {b.error}", highlight=False, markup=False)
    out.print(
        f"{res.added} ads added, {res.updated} updated, {len(res.bad)} bad lines skipped, "
        f"{res.clusters_changed} clusters changed"
    )
    if res.warned:
        out.print(f"site boilerplate identifiers put on the warning list: {', '.join(res.warned)}")
    if res.bad:
        err.print("fix the lines above and import the file again: the good lines are not imported twice")
        raise typer.Exit(2 if res.added + res.updated else 1)


@ads_app.command("clusters")
def clusters_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    engine: Engine = "local",
) -> None:
    """Cluster every stored ad now and print the clusters: id, size, ad_ids, template, sites, cities,
    first_seen, last_seen, indicators (graded by evidence; none of them is proof)."""
    from tipline.ads import service

    items = service.compute_clusters(database(), engine=_engine(engine))
    if json_out:
        print(json.dumps(items, ensure_ascii=False, default=str))
        return
    if not items:
        out.print("no two ads share a template yet")
        return
    from rich.table import Table

    table = Table(title="Ad template clusters")
    for col in ("id", "size", "sites", "cities", "first seen", "last seen", "template"):
        table.add_column(col)
    for c in items:
        table.add_row(
            str(c["id"]),
            str(c["size"]),
            ", ".join(map(str, c["sites"])),  # type: ignore[call-overload]
            ", ".join(map(str, c["cities"]))[:40],  # type: ignore[call-overload]
            str(c["first_seen"])[:10],
            str(c["last_seen"])[:10],
            str(c["template"])[:60],
        )
    out.print(table)


@ads_app.command("rebuild")
def rebuild_cmd(engine: Engine = "local") -> None:
    """Cluster every ad from scratch, learning the boilerplate and stock phrases again, and store the
    clusters (imports between rebuilds add to clusters without one)."""
    from tipline.ads import service

    with err.status("clustering every ad"):
        res = service.rebuild(database(), engine=_engine(engine))
    out.print(f"{res['ads']} ads, {res['clusters']} clusters")


def register(app: typer.Typer) -> None:
    app.add_typer(ads_app, name="ads")
