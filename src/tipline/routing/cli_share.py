"""``tipline share …`` (privacy-preserving overlap with a partner) and ``tipline stats`` (statistics, CSV, PNG).

Registered by the routing capability's ``register(app)``: ``cli_share.register(app)``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tipline.clikit import database, err, fail, out, settings

share_app = typer.Typer(
    help="Find identifiers in common with a partner hotline without showing them the others "
    "(keyed hashes with a per-pair key, or private set intersection).",
    no_args_is_help=True,
)
psi_app = typer.Typer(
    help="Private set intersection (no shared key): request -> respond -> finish. Only the requester learns "
    "the overlap; the responder learns only the request's size.",
    no_args_is_help=True,
)
share_app.add_typer(psi_app, name="psi")

PartnerOpt = Annotated[str, typer.Option("--partner", help="The partner's short name, e.g. hotline-it.")]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File holding the pair key (hex). Default: $TIPLINE_SHARE_KEY_<PARTNER>, "
        "else <data dir>/share-keys/<partner>.key.",
        dir_okay=False,
    ),
]
KindOpt = Annotated[
    list[str] | None, typer.Option("--kind", help="Only identifiers of this kind (repeat for several).")
]
ExcludeOpt = Annotated[
    Path | None,
    typer.Option(
        "--exclude",
        help="File of identifiers never to share or match, one 'kind:value' a line (platform support lines, "
        "the classifieds site's own domain...).",
        exists=True,
        dir_okay=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _excluded(path: Path | None) -> set[tuple[str, str]]:
    from tipline.routing import share

    if path is None:
        return set()
    return share.parse_exclusions(share.iter_lines(path), str(path))


def _key(partner: str, key_file: Path | None) -> Any:
    from tipline.routing import share

    return share.load_key(partner, settings(), key_file=key_file)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (hash exports and PSI files are for one partner)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _print_overlap(result: Any, json_out: bool) -> None:

    if json_out:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return
    if result.mode == "psi-size":
        out.print(
            f"{result.count} identifier(s) in common with {result.partner!r} "
            f"(size only; ours: {result.mine}, theirs: {result.theirs})"
        )
        return
    out.print(
        f"{result.count} identifier(s) in common with {result.partner!r} "
        f"(ours: {result.mine}, theirs: {result.theirs}; mode: {result.mode})"
    )
    if not result.matches:
        return
    # plain lines, not a table: identifiers are copied from here and must never be wrapped or cut
    for m in result.matches:
        out.print(f"{m.kind}\t{m.value}", highlight=False, soft_wrap=True)
        reps = ", ".join(f"#{r.id} P{r.priority} {r.category} {r.status}" for r in m.reports[:5])
        if len(m.reports) > 5:
            reps += f", +{len(m.reports) - 5} more"
        out.print(f"\treports: {reps or '-'}", highlight=False, soft_wrap=True)


def _run(fn: Any, *args: Any, **kw: Any) -> Any:
    """Call a share/stats function; its errors become a one-line message and exit code 1."""
    from tipline.routing.share import ShareError
    from tipline.routing.stats import StatsError

    try:
        return fn(*args, **kw)
    except (ShareError, StatsError) as e:
        fail(str(e))


# ------------------------------------------------------------------------------------------ keyed hashes


@share_app.command("keygen")
def keygen(partner: PartnerOpt) -> None:
    """Make a new random key for one partner pair (<data dir>/share-keys/<partner>.key, mode 0600).

    Give the file to the partner over a secure channel (in person, or an encrypted message), never with
    the hash files; compare the key id printed here by phone."""
    from tipline.routing import share

    path = _run(share.generate_key, settings(), partner)
    key = _run(share.load_key, partner, settings())
    out.print(f"key for {partner!r} written to {path} (key id {key.key_id})")


@share_app.command("key-id")
def key_id(partner: PartnerOpt, key_file: KeyFileOpt = None) -> None:
    """Print the public id of a pair key: both partners see the same id when they hold the same key."""
    k = _key_checked(partner, key_file)
    print(k.key_id)


def _key_checked(partner: str, key_file: Path | None) -> Any:
    return _run(_key, partner, key_file)


@share_app.command("export")
def export(
    partner: PartnerOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the JSON Lines file ('-': stdout).")],
    key_file: KeyFileOpt = None,
    kind: KindOpt = None,
    exclude: ExcludeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write our identifiers as keyed hashes for one partner: {"kind", "h"} per line, sorted by hash.

    Whoever holds the pair key can test guesses against this file (every phone number of a country is
    few enough to try): send it only to that partner."""
    import io

    from tipline.routing import share

    key = _key_checked(partner, key_file)
    excluded = _run(_excluded, exclude)
    buf = io.StringIO()
    summary = _run(share.export_hashes, database(), key, buf, kinds=kind, exclude=excluded)
    if str(out_file) == "-":
        sys.stdout.write(buf.getvalue())
    else:
        _write_private(out_file, buf.getvalue().encode())
    info = {"partner": summary.partner, "key_id": summary.key_id, "count": summary.count, "by_kind": summary.by_kind}
    if json_out and str(out_file) != "-":
        print(json.dumps(info))
    else:
        where = "standard output" if str(out_file) == "-" else str(out_file)
        err.print(f"wrote {summary.count} keyed hashes for {partner!r} to {where} (key id {summary.key_id})")


@share_app.command("overlap")
def overlap(
    theirs: Annotated[Path, typer.Argument(help="The partner's hash file (from their `tipline share export`).")],
    partner: PartnerOpt,
    key_file: KeyFileOpt = None,
    kind: KindOpt = None,
    exclude: ExcludeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Our identifiers that are also in the partner's hash file, each with the local reports naming it."""
    from tipline.routing import share

    key = _key_checked(partner, key_file)
    excluded = _run(_excluded, exclude)
    hashes = _run(share.read_hash_file, share.iter_lines(theirs), str(theirs))
    result = _run(share.overlap, database(), key, hashes, source=str(theirs), kinds=kind, exclude=excluded)
    _print_overlap(result, json_out)


# ------------------------------------------------------------------------------------------ PSI


@psi_app.command("request")
def psi_request(
    partner: PartnerOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the request (send it to the partner).")],
    size_only: Annotated[
        bool, typer.Option("--size-only", help="Learn only how many identifiers are in common, not which.")
    ] = False,
    kind: KindOpt = None,
    exclude: ExcludeOpt = None,
) -> None:
    """Step 1: blind our identifiers into a request file. The one-time key stays in the data folder."""
    from tipline.routing import share

    excluded = _run(_excluded, exclude)
    req = _run(share.psi_request, database(), partner, reveal=not size_only, kinds=kind, exclude=excluded)
    _write_private(out_file, req.data)
    err.print(
        f"wrote a PSI request with {req.items} identifiers to {out_file}; send it to {partner!r}, then run "
        "`tipline share psi finish RESPONSE` on their answer"
    )


@psi_app.command("respond")
def psi_respond(
    request_file: Annotated[Path, typer.Argument(help="The partner's request file.", exists=True, dir_okay=False)],
    partner: PartnerOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the response (send it back).")],
    max_items: Annotated[
        int, typer.Option(help="Refuse requests with more identifiers than this (a guard against guessing).")
    ] = 1_000_000,
    kind: KindOpt = None,
    exclude: ExcludeOpt = None,
) -> None:
    """Step 2: answer a partner's request. We learn only how many identifiers it holds."""
    from tipline.routing import share

    excluded = _run(_excluded, exclude)
    data = _read_file(request_file)
    resp = _run(
        share.psi_respond, database(), partner, data, source=str(request_file), max_items=max_items, kinds=kind,
        exclude=excluded,
    )  # fmt: skip
    _write_private(out_file, resp.data)
    err.print(f"answered a request of {resp.their_items} identifiers with our {resp.my_items}; wrote {out_file}")


@psi_app.command("finish")
def psi_finish(
    response_file: Annotated[Path, typer.Argument(help="The partner's response.", exists=True, dir_okay=False)],
    json_out: JsonOpt = False,
) -> None:
    """Step 3: the identifiers in common (or their number), linked to our reports."""
    from tipline.routing import share

    data = _read_file(response_file)
    result = _run(share.psi_finish, database(), data, source=str(response_file))
    _print_overlap(result, json_out)


def _read_file(path: Path, limit: int = 512 * 1024 * 1024) -> bytes:

    try:
        if path.stat().st_size > limit:
            fail(f"{path} is larger than {limit // (1024 * 1024)} MiB")
        return path.read_bytes()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror or e}")
        raise


# ------------------------------------------------------------------------------------------ stats


def stats_command(
    json_out: JsonOpt = False,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", help="Write one CSV per chart into this folder.", file_okay=False)
    ] = None,
    png_dir: Annotated[
        Path | None, typer.Option("--png", help="Write one PNG per chart into this folder.", file_okay=False)
    ] = None,
    period: Annotated[str, typer.Option(help="day, week (from Monday), month or year.")] = "month",
    since: Annotated[str, typer.Option(help="First day counted (YYYY-MM-DD, UTC).")] = "",
    until: Annotated[str, typer.Option(help="Last day counted, included (YYYY-MM-DD, UTC).")] = "",
    lang: Annotated[str, typer.Option(help="Language of labels in JSON, CSV and PNG (en, it).")] = "en",
) -> None:
    """Statistics: reports over time by category, source and country; queue age; referrals by agency;
    time to takedown. Counts only (no report text, no identifier)."""
    from rich.table import Table

    from tipline.i18n import supported
    from tipline.routing import stats
    from tipline.routing.web_stats import label_module, labeller, parse_query, png_note, stats_json

    language = supported(lang)
    if language is None:
        fail(f"unknown language {lang!r}")
        return
    try:
        q = parse_query(period, since, until)
    except ValueError as e:
        fail(str(e))
        return
    db = database()
    if json_out:
        print(json.dumps(_run(stats_json, db, q, language), ensure_ascii=False))
    charts = _run(stats.all_charts, db, q)
    label, words = labeller(language), label_module(language)
    for folder, ext in ((csv_dir, "csv"), (png_dir, "png")):
        if folder is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for name, c in charts.items():
            path = folder / f"{name}.{ext}"
            if ext == "csv":
                path.write_text(stats.to_csv(c, label), encoding="utf-8")
            else:
                path.write_bytes(
                    stats.to_png(
                        c,
                        title=str(words.titles[name]),
                        y_label=str(words.y_labels[c.value_name]),
                        label=label,
                        note=png_note(words, c, since, until),
                    )
                )
        if not json_out:
            out.print(f"wrote {len(charts)} {ext.upper()} files to {folder}")
    if json_out:
        return
    table = Table("chart", "total", "largest series", "notes", title=f"statistics by {q.period}")
    for name, c in charts.items():
        top = max(c.series, key=lambda s: sum(s.values), default=None)
        biggest = f"{label(c.series_name, top.key)}: {sum(top.values)}" if top else "-"
        notes = ", ".join(f"{k}={v}" for k, v in c.extra.items() if k not in ("agency_ids", "as_of") and v is not None)
        table.add_row(name, str(c.total), biggest, notes)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``tipline share …`` and ``tipline stats`` to the command line."""
    app.add_typer(share_app, name="share")
    app.command("stats")(stats_command)
