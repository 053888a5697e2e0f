"""``tipline banks …`` (hash banks) and ``tipline match FILE…`` (look files up in the banks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tipline.clikit import database, err, fail, out, progress
from tipline.media.banks import LABEL_REVIEW

banks_app = typer.Typer(
    help="Hash banks: named hash lists (md5, sha1, sha256, pdq, vpdq) with provenance, matched against every "
    "report's files.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Later = Annotated[
    bool,
    typer.Option(
        "--later",
        help="Leave the match of the stored files against the new entries to the running app (or `banks retro`).",
    ),
]


def _bar(label: str):
    """A progress callback for the bank service, drawing Rich bars on standard error."""

    bar = progress()
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"{label}: {stage}", total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def _retro(db: Any, quiet: bool = False) -> None:
    """Match the stored files against what the bank change queued (progress bar on standard error); the
    reports hit are analysed again and say "matched list X imported on D"."""
    from tipline.media import retro

    bar = progress()
    with bar:

        def start(info: retro.RunInfo) -> retro.Progress:
            task = bar.add_task(f"retro-match {info.bank_name}", total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        runs = retro.run_waiting(db, progress=start)
    if not quiet:
        for r in runs:
            out.print(
                f"stored files matched against {r.bank_name!r}: {r.done:,} files, {r.reports_hit:,} report(s) hit"
                + (f" ({r.state}: {r.error})" if r.state != "done" else ""),
                highlight=False,
                markup=False,
            )


def _say_low(db: Any, n: int) -> None:
    if n:
        t = db.settings.pdq_quality_threshold
        out.print(f"{n:,} PDQ hashes under quality {t} (flat pictures) were not imported", highlight=False)


def _fail_bank(e: Exception) -> None:
    from tipline.media.banks import BankImportError

    if isinstance(e, BankImportError):
        for n, problem in e.errors:
            err.print(f"line {n}: {problem}" if n > 0 else problem, highlight=False, markup=False)
        if e.total > len(e.errors):
            err.print(f"... and {e.total - len(e.errors)} more bad lines", highlight=False)
        fail(f"{e.total} of {e.lines} lines are not valid; nothing was imported")
    fail(str(e))


@banks_app.command("list")
def banks_list(json_out: Json = False) -> None:
    """List the banks with their provenance, state and hash counts."""
    from rich.table import Table

    from tipline.media.banks import list_banks

    rows = list_banks(database())
    if json_out:
        print(json.dumps([b.as_dict() for b in rows]))
        return
    table = Table("name", "label", "source", "hashes", "state", "updated", title=f"{len(rows)} hash banks")
    for b in rows:
        counts = ", ".join(f"{k} {n:,}" for k, n in b.counts.items()) or "0"
        table.add_row(
            b.name,
            b.default_label,
            b.source,
            counts,
            "enabled" if b.enabled else "DISABLED",
            b.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@banks_app.command("create")
def banks_create(
    name: Annotated[str, typer.Argument(help="Bank name (unique).")],
    source: Annotated[str, typer.Option(help="Who gave you the list.")] = "",
    terms: Annotated[str, typer.Option(help="Terms of use (e.g. whether it may be shared).")] = "",
    description: Annotated[str, typer.Option(help="What the list is.")] = "",
    label: Annotated[
        str, typer.Option(help="Default label of its entries: 'known abuse material', 'known benign', 'under review'.")
    ] = LABEL_REVIEW,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled (it matches nothing yet).")] = False,
    json_out: Json = False,
) -> None:
    """Create an empty bank."""
    from tipline.media.banks import BankError, create_bank

    try:
        b = create_bank(
            database(),
            name,
            source=source,
            terms=terms,
            description=description,
            default_label=label,
            enabled=not disabled,
        )
    except BankError as e:
        _fail_bank(e)
        return
    if json_out:
        print(json.dumps(b.as_dict()))
    else:
        out.print(f"bank {b.name!r} created ({'enabled' if b.enabled else 'disabled'}, label {b.default_label!r})")


@banks_app.command("import")
def banks_import(
    name: Annotated[str, typer.Argument(help="Bank name (created if it does not exist).")],
    file: Annotated[Path, typer.Argument(help="CSV (kind,hash[,label]) or JSON-lines file.", dir_okay=False)],
    label: Annotated[str | None, typer.Option(help="Label of lines without one (default: the bank's).")] = None,
    source: Annotated[str | None, typer.Option(help="Set the bank's source (provenance).")] = None,
    terms: Annotated[str | None, typer.Option(help="Set the bank's terms of use.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the file name or its content).")
    ] = None,
    later: Later = False,
    json_out: Json = False,
) -> None:
    """Import a hash list. Every line is checked first; a file with a bad line is not imported at all (each bad
    line is named). Hashes already in the bank are skipped. Then the stored files are matched against the new
    entries (progress bar) and the reports hit are raised."""
    from tipline.media.banks import BankError, create_bank, get_bank, import_file, update_bank

    db = database()
    try:
        if not file.is_file():
            raise BankError(f"{file} is not a file")
        try:
            get_bank(db, name)
        except BankError:
            create_bank(db, name, source=source or "", terms=terms or "", default_label=label or LABEL_REVIEW)
        else:
            if source is not None or terms is not None:
                update_bank(db, name, source=source, terms=terms)
        bar, update = _bar("import")
        with bar:
            result = import_file(db, name, file, fmt=fmt, label=label, progress=update)
    except BankError as e:
        _fail_bank(e)
        return
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        out.print(
            f"{result.added:,} hashes added to {name!r}, {result.duplicates:,} already there "
            f"({', '.join(f'{k} {n:,}' for k, n in result.by_kind.items())})"
        )
        _say_low(db, result.low_quality)
    if not later:
        _retro(db, quiet=json_out)


@banks_app.command("import-media")
def banks_import_media(
    name: Annotated[str, typer.Argument(help="Bank name (created if it does not exist).")],
    folder: Annotated[Path, typer.Argument(help="Folder of images and videos (read recursively).", file_okay=False)],
    label: Annotated[str | None, typer.Option(help="Label of the new entries (default: the bank's).")] = None,
    later: Later = False,
    json_out: Json = False,
) -> None:
    """Hash every file in a folder (md5, sha1, sha256; PDQ for images, vPDQ for videos) into a bank. Only hashes
    are stored: neither the files nor their names. Then the stored files are matched against the new entries."""
    from tipline.media.banks import BankError, create_bank, get_bank, import_media

    db = database()
    try:
        try:
            get_bank(db, name)
        except BankError:
            create_bank(db, name, default_label=label or LABEL_REVIEW)
        bar, update = _bar("media")
        with bar:
            result = import_media(db, name, folder, label=label, progress=update)
    except BankError as e:
        _fail_bank(e)
        return
    for problem in result.problems:
        err.print(problem, highlight=False, markup=False)
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        out.print(f"{result.added:,} hashes added to {name!r}, {result.duplicates:,} already there")
        _say_low(db, result.low_quality)
    if not later:
        _retro(db, quiet=json_out)


@banks_app.command("export")
def banks_export(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Write a bank's entries (kind, hash, label) with its provenance in '#' lines; `banks import` reads it back."""
    from tipline.media.banks import BankError, export_bank

    db = database()
    try:
        if out_file is None:
            n = export_bank(db, name, sys.stdout, fmt=fmt)
        else:
            tmp = out_file.with_name(out_file.name + ".part")
            with tmp.open("w", encoding="utf-8", newline="") as f:
                n = export_bank(db, name, f, fmt=fmt)
            tmp.replace(out_file)
    except BankError as e:
        _fail_bank(e)
        return
    err.print(f"{n:,} entries exported", highlight=False)


def _set(name: str, enabled: bool, later: bool = False) -> None:
    from tipline.media.banks import BankError, set_enabled

    db = database()
    try:
        b = set_enabled(db, name, enabled)
    except BankError as e:
        _fail_bank(e)
        return
    out.print(f"bank {b.name!r} {'enabled' if b.enabled else 'disabled'}")
    if enabled and not later:
        _retro(db)


@banks_app.command("enable")
def banks_enable(name: Annotated[str, typer.Argument(help="Bank name.")], later: Later = False) -> None:
    """Enable a bank: its hashes match again (running apps reload on their next match), and the stored files
    are matched against it (progress bar; the reports hit are raised)."""
    _set(name, True, later)


@banks_app.command("terms")
def banks_terms(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    scope: Annotated[
        str | None, typer.Option(help="Who may match against it: staff (only), listed (platforms named), all.")
    ] = None,
    platform: Annotated[
        list[str] | None, typer.Option("--platform", help="A platform that may match (scope listed); repeat it.")
    ] = None,
    view: Annotated[
        str | None,
        typer.Option(help="What a platform sees of a match: yesno, category (the bank's default label) or label."),
    ] = None,
    terms: Annotated[str | None, typer.Option(help="The terms text, kept beside the provenance.")] = None,
    json_out: Json = False,
) -> None:
    """Apply a partner's terms to a bank: who may match against it (staff only, listed platforms or all) and what
    a platform sees of a match (yes/no, the category, or the label). Staff always see every match."""
    from tipline.media.banks import BankError, set_visibility

    try:
        b = set_visibility(database(), name, scope=scope, platforms=platform, view=view, terms=terms)
    except BankError as e:
        _fail_bank(e)
        return
    if json_out:
        print(json.dumps(b.as_dict()))
    else:
        out.print(
            f"bank {b.name!r}: matched by {b.match_scope}"
            + (f" ({len(b.match_platforms)} platform(s))" if b.match_scope == "listed" else "")
            + f", platforms see {b.platform_view}",
            highlight=False,
        )


@banks_app.command("retro")
def banks_retro() -> None:
    """Match the stored files against the bank entries still waiting for it (imports made with --later, on
    the pages, or cut short); the reports hit are analysed again and raised."""
    from tipline.media import retro

    db = database()
    if not retro.waiting(db):
        out.print("nothing waiting: every import has been matched against the stored files")
        return
    _retro(db)


@banks_app.command("disable")
def banks_disable(name: Annotated[str, typer.Argument(help="Bank name.")]) -> None:
    """Disable a bank: it keeps its hashes but matches nothing."""
    _set(name, False)


@banks_app.command("delete")
def banks_delete(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really delete it.")] = False,
) -> None:
    """Delete a bank and its hashes (matches already recorded on reports stay)."""
    from tipline.media.banks import BankError, delete_bank

    if not yes:
        fail("deleting a bank removes its hashes for good: add --yes to do it")
    try:
        delete_bank(database(), name)
    except BankError as e:
        _fail_bank(e)
        return
    out.print(f"bank {name!r} deleted")


def match(
    files: Annotated[list[Path], typer.Argument(help="Images, videos or any files.", exists=True, dir_okay=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
) -> None:
    """Hash files and look them up in the enabled banks: per file its hashes and every match (bank, label, kind,
    distance). Images are also matched turned and mirrored. The files are not stored."""
    from rich.table import Table

    from tipline.media import hashing
    from tipline.media.matching import match_payload, matcher_for, queries_for_hashes

    db = database()
    matcher = matcher_for(db)
    bad = 0
    for path in files:
        try:
            data = path.read_bytes()
            limits = hashing.MediaLimits.from_settings(db.settings)
            h = hashing.hash_bytes(data, filename=path.name, dihedral=db.settings.pdq_dihedral, limits=limits)
            dihedral = h.pdq_dihedral if db.settings.pdq_dihedral else None
        except (OSError, hashing.MediaError) as e:
            bad += 1
            if json_out:
                print(json.dumps({"file": str(path), "error": str(e)}))
            else:
                err.print(f"{path}: {e}", highlight=False, markup=False)
            continue
        matches = match_payload(matcher.match(queries_for_hashes(h, dihedral=dihedral, ref=0)), staff_view=True)
        hashes: dict[str, Any] = {"kind": h.kind, "media_type": h.media_type, "size": h.size}
        hashes.update(md5=h.md5, sha1=h.sha1, sha256=h.sha256)
        if h.pdq:
            hashes.update(pdq=h.pdq, pdq_quality=h.pdq_quality)
        if h.vpdq:
            hashes["vpdq_frames"] = len(h.vpdq)
        if json_out:
            print(json.dumps({"file": str(path), "hashes": hashes, "matches": matches}))
            continue
        table = Table("bank", "label", "kind", "distance", "detail", title=f"{path}: {len(matches)} match(es)")
        for m in matches:
            detail = m.get("variant") or ("original file" if m.get("origin") == "original" else "")
            if "query_share" in m:
                detail = f"{m['query_share']:.0%} of frames"
            table.add_row(m["bank"], m["label"], m["kind"], str(m["distance"]), str(detail))
        out.print(table)
        if h.pdq:
            out.print(f"  pdq {h.pdq} (quality {h.pdq_quality})", highlight=False)
            if h.pdq_quality is not None and h.pdq_quality < db.settings.pdq_quality_threshold:
                out.print(f"  PDQ not looked up: quality under {db.settings.pdq_quality_threshold}", highlight=False)
        out.print(f"  md5 {h.md5}", highlight=False)
    if bad:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------ partners' hash lists
# (``tipline.media.hashlists`` reads and writes them; the bank service stores them)

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="tipline, te-signals, te-csv, plain, columns or ncmec-xml (default: detected from the first line).",
    ),
]
KindOpt = Annotated[
    str | None, typer.Option("--kind", help="md5, sha1, sha256 or pdq: the kind of a plain list's or column's hashes.")
]


@banks_app.command("import-list")
def import_list(
    name: Annotated[str, typer.Argument(help="Bank name (created if it does not exist).")],
    file: Annotated[Path, typer.Argument(help="The hash list.", dir_okay=False)],
    fmt: FormatOpt = None,
    kind: KindOpt = None,
    label: Annotated[str | None, typer.Option(help="Label of the new entries (default: the bank's).")] = None,
    source: Annotated[str | None, typer.Option(help="The bank's source, when the bank is new (provenance).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be imported; store nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Import a hash list as partners ship it: ThreatExchange signal lines or dataset CSV, plain MD5/SHA-1 lists,
    CSVs with a hash column, NCMEC hash-sharing XML, or tipline's own CSV/JSON lines. A list with a bad line is
    not imported at all. Each entry's note names the list it came from."""
    from tipline.media import hashlists
    from tipline.media.banks import BankError, BankImportError, create_bank, get_bank

    if not file.is_file():
        fail(f"{file} is not a file")
    data = file.read_bytes()
    try:
        detected = fmt or hashlists.detect(data, file.name)
        if dry_run:
            if detected == "tipline":
                fail("a tipline list is checked by `tipline banks import` itself; --dry-run reads partner formats")
            parsed = hashlists.parse(data, fmt=detected, kind=kind, filename=file.name)
            _show_preview(parsed.preview(), json_out)
            return
        db = database()
        try:
            get_bank(db, name)
        except BankError:
            create_bank(db, name, source=source or f"imported from {file.name}", default_label=label or LABEL_REVIEW)
        result = hashlists.import_list(db, name, data, fmt=detected, kind=kind, filename=file.name, label=label)
    except BankImportError as e:
        for n, problem in e.errors:
            err.print(f"line {n}: {problem}" if n > 0 else problem, highlight=False, markup=False)
        fail(f"{e.total} of {e.lines} lines are not valid; nothing was imported")
        return
    except BankError as e:
        fail(str(e))
        return
    if json_out:
        print(json.dumps({"format": detected, **result.as_dict()}))
    else:
        out.print(
            f"{result.added:,} hashes added to {name!r} from a {detected} list, {result.duplicates:,} already there"
        )


def _show_preview(preview: dict, json_out: bool) -> None:
    if json_out:
        print(json.dumps(preview))
        return
    kinds = ", ".join(f"{k} {n:,}" for k, n in preview["by_kind"].items()) or "none"
    out.print(f"{preview['format']} list: {preview['entries']:,} hashes would be imported ({kinds})", highlight=False)
    for e in preview["first"]:
        out.print(f"  {e['kind']} {e['hash']}", highlight=False)
    for s in preview["skipped"][:10]:
        out.print(f"  skipped: {s}", highlight=False)
    for p in preview["problems"][:20]:
        err.print(f"line {p['line']}: {p['problem']}", highlight=False, markup=False)
    if preview["problems"]:
        err.print(f"{len(preview['problems'])} bad line(s): the import would refuse this list", highlight=False)


@banks_app.command("export-list")
def export_list(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    fmt: Annotated[str, typer.Option("--format", help="te-signals, te-csv, plain, columns or ncmec-xml.")],
    kind: KindOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output).")] = None,
) -> None:
    """Write a bank in a partner's format (what the format cannot carry is named on standard error)."""
    from tipline.media import hashlists
    from tipline.media.banks import BankError

    try:
        text, left = hashlists.export_list(database(), name, fmt, kind=kind)
    except BankError as e:
        fail(str(e))
        return
    if out_file is None:
        print(text, end="")
    else:
        out_file.write_text(text, encoding="utf-8")
    for line in left[:20]:
        err.print(f"not written: {line}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``tipline banks …`` and ``tipline match`` to the command line."""
    app.add_typer(banks_app, name="banks")
    app.command("match")(match)
