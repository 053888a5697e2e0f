"""``tipline networks``, ``tipline exclusions`` and ``tipline cases``.

tipline networks [--limit N] [--json]          the largest networks: id, reports, entities, countries
tipline networks show ID [--json]              one network
tipline networks recompute                     rebuild every network (and derive the degree limits)
tipline exclusions list|add|remove             the warning list (values that never link reports)
tipline cases list|show                        cases
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

import typer

from tipline.clikit import database, err, fail, out, progress


def _json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


class _View(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


V = TypeVar("V", bound=_View)


def _shown(load: Callable[[], V], json_out: bool) -> V | None:
    """The view ``load`` reads (audited as the CLI's); None when it was printed as JSON (``--json``). A view
    that is not there ends the command with its message."""
    from tipline.errors import NotFound

    try:
        v = load()
    except NotFound as e:
        fail(str(e))
    if json_out:
        _json(v.as_dict())
        return None
    return v


def _counts(label: str, key: str, rows: list[dict[str, Any]]) -> None:
    """One line: ``label: value (count), ...``."""
    out.print(f"{label}: " + ", ".join(f"{c[key]} ({c['count']})" for c in rows), highlight=False)


networks_app = typer.Typer(
    help="Networks: reports linked by the identifiers they share. Without a command: the largest ones.",
    invoke_without_command=True,
)
exclusions_app = typer.Typer(
    help="The warning list: values that never link reports (they keep their mentions and pages).",
    no_args_is_help=True,
)
cases_app = typer.Typer(help="Cases made from networks or by hand.", no_args_is_help=True)


@networks_app.callback()
def networks(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many networks to list.", min=1, max=10_000)] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the largest networks (most reports first): id, reports, entities, countries."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from tipline.graph import service

    items = service.list_networks(database(), limit=limit)
    if json_out:
        _json([n.as_dict() for n in items])
        return
    if not items:
        out.print("no network links two reports yet")
        return
    table = Table(title="Largest networks")
    for col in ("id", "reports", "entities", "countries", "top priority"):
        table.add_column(col, justify="right" if col in ("id", "reports", "entities") else "left")
    for n in items:
        table.add_row(
            str(n.id),
            str(n.reports),
            str(n.entities),
            ", ".join(n.countries),
            f"P{n.highest_priority}" if n.highest_priority else "",
        )
    out.print(table)


@networks_app.command("show")
def networks_show(
    network_id: Annotated[int, typer.Argument(help="Network id (its earliest report's id).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one network: reports, linking identifiers, excluded identifiers, countries, categories."""
    from tipline.graph import service

    v = _shown(lambda: service.network_view(database(), network_id, viewer="cli"), json_out)
    if v is None:
        return
    out.print(
        f"network {v.id}: {v.report_count} reports, {v.entity_count} identifiers, "
        f"highest priority P{v.highest_priority}",
        highlight=False,
    )
    _counts("countries", "country", v.countries)
    _counts("categories", "category", v.categories)
    if v.first_at and v.last_at:
        out.print(f"active: {v.first_at:%Y-%m-%d} to {v.last_at:%Y-%m-%d}", highlight=False)
    out.print("reports: " + " ".join(f"#{r['id']}(P{r['priority']})" for r in v.reports), highlight=False)
    out.print("identifiers that link it:", highlight=False)
    for ent in v.entities:
        out.print(f"  {ent['kind']:10} {ent['value']}  ({ent['reports']} reports)", highlight=False, markup=False)
    if v.excluded:
        out.print("identifiers left out:", highlight=False)
        for ent in v.excluded:
            out.print(
                f"  {ent['kind']:10} {ent['value']}  ({ent['reports']} reports): {ent['reason']}",
                highlight=False,
                markup=False,
            )


@networks_app.command("recompute")
def networks_recompute(
    keep_limits: Annotated[bool, typer.Option(help="Keep the stored degree limits (do not re-derive).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Rebuild every network from the mentions (after an upgrade, or to check the incremental path)."""
    from tipline.graph import service

    steps = [
        "deriving degree limits",
        "reading mentions",
        "reading entities",
        "finding networks",
        "writing networks",
    ]
    with progress() as bar:
        task = bar.add_task("recomputing networks", total=len(steps))

        def step(name: str) -> None:
            bar.update(task, description=name, completed=steps.index(name) if name in steps else 0)

        res = service.recompute(database(), refresh=not keep_limits, step=step)
        bar.update(task, description="done", completed=len(steps))
    if json_out:
        _json(res.as_dict())
    else:
        err.print(
            f"{res.networks} networks over {res.reports} reports and {res.mentions} mentions; largest "
            f"{res.largest} reports; {res.entities_excluded} identifiers excluded; {res.seconds:.2f} s",
            highlight=False,
        )


@exclusions_app.command("list")
def exclusions_list(
    builtin: Annotated[bool, typer.Option(help="Include tipline's built-in entries.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the warning list (supervisors' entries first, then the built-in ones)."""
    from tipline.graph import service

    items = service.list_exclusions(database(), builtin=builtin)
    if json_out:
        _json(items)
        return
    for x in items:
        what = x["value"] if x["value"] is not None else f"/{x['pattern']}/"
        ident = "built-in" if x["builtin"] else f"#{x['id']}"
        out.print(f"{ident:9} {x['kind']:8} {what}  ({x['added_by']}): {x['reason']}", highlight=False, markup=False)


@exclusions_app.command("add")
def exclusions_add(
    kind: Annotated[str, typer.Argument(help="Kind of identifier: phone, email, domain, btc, ...")],
    value: Annotated[str | None, typer.Argument(help="The value (normalised like the extractor does).")] = None,
    reason: Annotated[str, typer.Option(help="Why it must not link reports (shown on its page).")] = "",
    pattern: Annotated[str | None, typer.Option(help="A regular expression instead of a value.")] = None,
    by: Annotated[str, typer.Option(help="Who adds it (recorded with the entry).")] = "cli",
) -> None:
    """Add a value (or a pattern) to the warning list; the networks it touched are recomputed."""
    from tipline.graph import service
    from tipline.graph.guard import GuardError

    try:
        eid = service.add_exclusion(database(), kind, value=value, pattern=pattern, reason=reason, actor=f"cli:{by}")
    except GuardError as e:
        fail(str(e))
        return
    out.print(f"warning-list entry #{eid} added", highlight=False)


@exclusions_app.command("remove")
def exclusions_remove(
    exclusion_id: Annotated[int, typer.Argument(help="The entry's number (from `tipline exclusions list`).")],
    by: Annotated[str, typer.Option(help="Who removes it (recorded in the audit log).")] = "cli",
) -> None:
    """Remove a warning-list entry; the values it matched link again."""
    from tipline.errors import NotFound
    from tipline.graph import service

    try:
        service.remove_exclusion(database(), exclusion_id, f"cli:{by}")
    except NotFound as e:
        fail(str(e))
        return
    out.print(f"warning-list entry #{exclusion_id} removed", highlight=False)


@cases_app.command("list")
def cases_list(
    status: Annotated[str, typer.Option(help="active, open, in_progress, closed or all.")] = "active",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List cases, most recently changed first."""
    from tipline.graph import cases

    if status not in ("active", "open", "in_progress", "closed", "all"):
        fail("--status is one of active, open, in_progress, closed, all")
    items = cases.list_cases(database(), status=None if status == "all" else status)
    if json_out:
        _json([c.as_dict() for c in items])
        return
    for c in items:
        out.print(
            f"#{c.id:<5} {c.status:11} TLP:{c.tlp.upper():12} {c.reports:4} reports  "
            f"{(c.assignee or '-'):12} {c.title}",
            highlight=False,
            markup=False,
        )


@cases_app.command("show")
def cases_show(
    case_id: Annotated[int, typer.Argument(help="Case number.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a case: reports, networks, countries, categories, timeline."""
    from tipline.graph import cases

    v = _shown(lambda: cases.get_case(database(), case_id, viewer="cli"), json_out)
    if v is None:
        return
    out.print(f"case #{v.id}: {v.title}", highlight=False, markup=False)
    out.print(
        f"status {v.status}, TLP:{v.tlp.upper()}, assignee {v.assignee or '-'}, highest priority P{v.highest_priority}",
        highlight=False,
    )
    out.print(f"reports: {' '.join('#' + str(r['id']) for r in v.reports)}", highlight=False)
    out.print(f"networks: {', '.join(str(n) for n in v.networks) or '-'}", highlight=False)
    _counts("countries", "country", v.countries)
    out.print("timeline:", highlight=False)
    for ev in v.events:
        out.print(
            f"  {ev['at']:%Y-%m-%d %H:%M} {ev['actor']:20} {ev['kind']} {ev['report_id'] or ''}",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the ``tipline`` command line."""
    app.add_typer(networks_app, name="networks")
    app.add_typer(exclusions_app, name="exclusions")
    app.add_typer(cases_app, name="cases")
