"""``tipline agencies``, ``tipline refer``, ``tipline jurisdiction`` and ``tipline takedown`` (plus part B's
``tipline share`` and ``tipline stats``, registered from ``cli_share``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tipline.clikit import database, fail, out

if TYPE_CHECKING:
    from tipline.accounts.service import Principal

takedown_app = typer.Typer(help="Notice and takedown of reported URLs.", no_args_is_help=True)


def _principal(by: str | None) -> Principal:
    from tipline.accounts import service as accounts
    from tipline.routing.referral import CLI_PRINCIPAL

    if by is None:
        return CLI_PRINCIPAL
    for u in accounts.list_users(database()):
        if u.name == by:
            return u
    fail(f"no staff user named {by!r} (see `tipline users list`)")
    return CLI_PRINCIPAL


def agencies(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (every field).")] = False,
    country: Annotated[str | None, typer.Option(help="Only agencies covering this country (ISO code).")] = None,
) -> None:
    """List the agency directory: id, name, countries (seeded from the bundled agencies.toml on first use)."""
    from rich.table import Table

    from tipline.routing.agencies import list_agencies

    items = list_agencies(database(), country=country)
    if json_out:
        print(json.dumps([a.model_dump(mode="json") for a in items], ensure_ascii=False))
        return
    table = Table("id", "name", "countries", "formats", "contact (as of, source)", title=f"{len(items)} agencies")
    for a in items:
        countries = "all" if "*" in a.countries else ", ".join(a.countries)
        name = a.name + ("" if a.active else " (inactive)")
        table.add_row(a.id, name, countries, ", ".join(a.formats) or "unknown", _channels_text(a))
    out.print(table)
    out.print("Channels must be verified before use: open the source page and check the channel is still there.")


def _channels_text(a: Any) -> str:
    lines = []
    for key in ("web", "email", "phone"):
        ch = a.channels.get(key)
        if ch is None:
            lines.append(f"{key}: unknown")
        else:
            lines.append(f"{key}: {a.contact[key]} (as of {ch.as_of.isoformat()}, {ch.source}, by {ch.by})")
    return "\n".join(lines)


def refer(
    subject: Annotated[str, typer.Argument(help="A report id (12 or report:12) or a case (case:3).")],
    to: Annotated[str, typer.Option("--to", help="The agency's id (see `tipline agencies`).")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the package (a .zip file).")],
    fmt: Annotated[str, typer.Option("--format", help="package, cybertip, stix, misp or identifiers.")] = "package",
    by: Annotated[str | None, typer.Option(help="The staff user making the referral (default: cli).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the referral record as JSON.")] = False,
) -> None:
    """Make a referral package for an agency, record it, and write it to --out (and its SHA-256 to OUT.sha256).

    The package (zip) holds referral.json, summary.pdf, manifest.json (file hashes, identifiers with their
    sources, audit extract) and, for --format cybertip|stix|misp, the partner document(s). The reports'
    status becomes 'referred'.
    """
    from tipline.errors import NotFound
    from tipline.routing.referral import FORMATS, ReferralError, create_referral

    kind, _, ident = subject.partition(":") if ":" in subject else ("report", "", subject)
    if kind not in ("report", "case") or not ident.isdigit():
        fail(f"{subject!r} is not a report id (12, report:12) or a case (case:3)")
        return
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
        return
    if out_path.exists() and out_path.is_dir():
        fail(f"{out_path} is a folder: give a file name, e.g. {out_path / 'referral.zip'}")
        return
    db = database()
    actor = _principal(by)
    try:
        rec, pkg = create_referral(
            db,
            agency_id=to,
            fmt=fmt,
            actor=actor,
            report_id=int(ident) if kind == "report" else None,
            case_id=int(ident) if kind == "case" else None,
        )
    except (NotFound, ReferralError) as e:
        fail(str(e))
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(pkg.data)
    sums = out_path.with_name(out_path.name + ".sha256")
    sums.write_text(f"{pkg.digest}  {out_path.name}\n", encoding="utf-8")
    if json_out:
        print(json.dumps(rec.model_dump(mode="json") | {"path": str(out_path)}))
    else:
        out.print(f"referral {rec.reference} (#{rec.id}) to {rec.agency_name}: {out_path} ({rec.size:,} bytes)")
        print(f"sha256: {rec.digest}")


def jurisdiction(
    report_id: Annotated[int, typer.Argument(help="A report id.")],
    resolve: Annotated[
        bool, typer.Option(help="Resolve the hosting of its URLs first, with the configured resolver.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a report's candidate countries with their evidence (recomputed now)."""
    from tipline.errors import NotFound
    from tipline.routing.referral import refresh_jurisdiction

    try:
        cands = refresh_jurisdiction(database(), report_id, resolve=resolve)
    except NotFound as e:
        fail(str(e))
        return
    if json_out:
        print(json.dumps([c.as_dict() for c in cands], ensure_ascii=False))
        return
    if not cands:
        out.print("nothing in this report points to a country")
    for c in cands:
        out.print(f"[bold]{c.country}[/] {c.weight:.2f}", highlight=False)
        for ev in c.evidence:
            out.print(f"  {ev.kind:<8} {ev.weight:.2f}  {ev.value}  ({ev.source}: {ev.detail})", highlight=False)


CLI_REPORT_IDS = 10  # report ids a row of `tipline takedown list` shows, then how many more (--json: up to 100)


@takedown_app.command("list")
def takedown_list(
    state: Annotated[str | None, typer.Option(help="Only URLs in this state.")] = None,
    country: Annotated[str | None, typer.Option(help="Only URLs hosted in this country (ISO code).")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List reported URLs with their hosting country and takedown state (URLs defanged unless --json)."""
    from rich.table import Table

    from tipline.i18n.templating import defang
    from tipline.routing.takedown import STATES, list_takedowns

    if state is not None and state not in STATES:
        fail(f"unknown state {state!r}; states: {', '.join(STATES)}")
        return
    items, total = list_takedowns(database(), state=state, country=country, limit=limit)
    if json_out:
        print(json.dumps({"total": total, "items": [i.model_dump(mode="json") for i in items]}))
        return
    table = Table(title=f"{total} URLs")
    table.add_column("id")
    table.add_column("url", overflow="fold")
    for name in ("hosting", "state", "reports", "hours to removal"):
        table.add_column(name)
    for t in items:
        table.add_row(
            str(t.id),
            defang(t.url),
            t.hosting_country or "?",
            t.state,
            ", ".join(map(str, t.report_ids[:CLI_REPORT_IDS]))
            + (f" (+{t.report_count - CLI_REPORT_IDS:,})" if t.report_count > CLI_REPORT_IDS else ""),
            "" if t.hours_to_removal is None else f"{t.hours_to_removal:g}",
        )
    out.print(table)


@takedown_app.command("set")
def takedown_set(
    takedown_id: Annotated[int, typer.Argument(help="The URL's takedown id (see `tipline takedown list`).")],
    state: Annotated[str, typer.Argument(help="assessed, notice_sent, removed or reappeared.")],
    agency: Annotated[str | None, typer.Option(help="Who got the notice (notice_sent): an agency id.")] = None,
    at: Annotated[str | None, typer.Option(help="When it happened (ISO 8601; default now).")] = None,
    note: Annotated[str | None, typer.Option(help="A short note.")] = None,
    by: Annotated[str | None, typer.Option(help="The staff user doing it (default: cli).")] = None,
) -> None:
    """Move a URL to a new takedown state (audited)."""

    from tipline.routing.agencies import get_agency
    from tipline.routing.takedown import TakedownError, transition

    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO 8601 date and time (e.g. 2025-03-01T14:00:00+00:00)")
            return
    db = database()
    if agency is not None and get_agency(db, agency) is None:
        fail(f"no agency {agency!r} (see `tipline agencies`)")
        return
    try:
        t = transition(db, takedown_id, state, _principal(by), at=when, agency_id=agency, note=note)
    except TakedownError as e:
        fail(str(e))
        return
    out.print(f"URL {t.id} is now {t.state}")


def _when(at: str | None, option: str = "--at") -> datetime | None:
    if at is None:
        return None
    try:
        return datetime.fromisoformat(at)
    except ValueError:
        fail(f"{option} {at!r} is not an ISO 8601 date and time (e.g. 2025-03-01T14:00:00+00:00)")
        return None


def referral_sent(
    referral_id: Annotated[int, typer.Argument(help="The referral's number (#id, see `tipline refer`).")],
    how: Annotated[str, typer.Option("--how", help="email, web_form, portal, phone, in_person or cybertip_api.")],
    at: Annotated[str | None, typer.Option(help="When it was sent (ISO 8601; default: now).")] = None,
    sender: Annotated[str | None, typer.Option("--sender", help="Who sent it (default: --by).")] = None,
    channel: Annotated[str, typer.Option(help="The address, form or number used.")] = "",
    reference: Annotated[str, typer.Option(help="The reference the agency gave, if any.")] = "",
    by: Annotated[str | None, typer.Option(help="The staff user recording it (default: cli).")] = None,
) -> None:
    """Record that a referral was sent to its agency (audited); prints where the referral stands."""
    from pydantic import ValidationError

    from tipline.errors import NotFound
    from tipline.routing import delivery as dlv
    from tipline.routing.referral import get_referral

    when = _when(at)
    try:
        data = dlv.DeliveryIn(method=how, sent_at=when, sent_by=sender or "", channel=channel, reference=reference)
    except ValidationError as e:
        fail("; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))
        return
    db = database()
    try:
        dlv.record_delivery(db, referral_id, _principal(by), data)
    except (NotFound, dlv.DeliveryError) as e:
        fail(str(e))
        return
    r = get_referral(db, referral_id)
    out.print(f"referral {r.reference}: {len(r.deliveries)} deliveries; {r.delivery_state}", highlight=False)


def referral_ack(
    referral_id: Annotated[int, typer.Argument(help="The referral's number (#id).")],
    agency_person: Annotated[str, typer.Option("--from", help="Who at the agency acknowledged it.")] = "",
    note: Annotated[str, typer.Option(help="What the agency answered (e.g. its case number).")] = "",
    at: Annotated[str | None, typer.Option(help="When (ISO 8601; default: now).")] = None,
    by: Annotated[str | None, typer.Option(help="The staff user recording it (default: cli).")] = None,
) -> None:
    """Record that the agency acknowledged a referral (audited)."""
    from tipline.errors import NotFound
    from tipline.routing.referral import ReferralError, acknowledge

    when = _when(at)
    try:
        r = acknowledge(database(), referral_id, _principal(by), note=note, at=when, by_agency=agency_person)
    except (NotFound, ReferralError) as e:
        fail(str(e))
        return
    out.print(f"referral {r.reference}: {r.delivery_state}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add routing's commands to the ``tipline`` command line."""
    app.command("agencies")(agencies)
    app.command("refer")(refer)
    app.command("referral-sent")(referral_sent)
    app.command("referral-ack")(referral_ack)
    app.command("jurisdiction")(jurisdiction)
    app.add_typer(takedown_app, name="takedown")
    from tipline.routing import cli_share  # part B: tipline share, tipline stats

    cli_share.register(app)
