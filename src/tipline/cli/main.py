"""``tipline …`` commands. Each one reads TIPLINE_DATA_DIR / TIPLINE_DATABASE_URL (or --data-dir /
--database-url), creates and migrates the database on first use, and calls a service function."""

from __future__ import annotations

import contextlib
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table

from tipline import __version__
from tipline.accounts import service as accounts
from tipline.capabilities import CAPABILITIES, rule_kinds
from tipline.clikit import configure, database, err, fail, out, progress, safe_url, settings
from tipline.errors import stopped_by_ctrl_c
from tipline.settings import Settings

app = typer.Typer(
    name="tipline",
    help="tipline: hotline intake, triage and referral against cybersex trafficking.\n\n"
    "Every command uses the data folder in TIPLINE_DATA_DIR (default ./tipline-data) and the database in "
    "TIPLINE_DATABASE_URL (default: a SQLite file in the data folder); --data-dir and --database-url "
    "override them. The database is created and migrated on first use.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
users_app = typer.Typer(help="Staff accounts (admin, supervisor, analyst).", no_args_is_help=True)
tokens_app = typer.Typer(help="Staff API tokens for the JSON API.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Platform API keys and CyberTipline credentials (create); master keys of sealed data (rotate, status).",
    no_args_is_help=True,
)
import_app = typer.Typer(help="Load reports from files.", no_args_is_help=True)
rules_app = typer.Typer(help="Triage rules (a TOML file the hotline edits).", no_args_is_help=True)
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify the chain, export its signed head.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(import_app, name="import")
app.add_typer(rules_app, name="rules")
app.add_typer(audit_app, name="audit")
retention_app = typer.Typer(help="Delete what has expired, as the retention rules say.", no_args_is_help=True)
app.add_typer(retention_app, name="retention")
batch_app = typer.Typer(
    help="Batch jobs over large tables, on a snapshot (DuckDB here by default, or Spark: TIPLINE_BATCH_ENGINE).",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")


@app.callback()
def _options(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (overrides TIPLINE_DATA_DIR).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy database URL (overrides TIPLINE_DATABASE_URL).")
    ] = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    configure(Settings(**overrides), CAPABILITIES)


# ------------------------------------------------------------------------------------------ serve

WORKER_HEALTHCHECK_S = 120  # `serve --workers N`: how long uvicorn waits for a worker's answer to its ping


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option(help="Load the synthetic demo world if the database is empty.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the demo world.")] = 1,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (uvicorn's multi-process mode). More than one needs "
            "PostgreSQL; set TIPLINE_REDIS_URL too, or each process keeps rate limits of its own.",
        ),
    ] = 1,
) -> None:
    """Start the web app (public form, staff pages, JSON API, CyberTipline API).

    Client IP addresses are never logged (the access log is off): a public reporter's address is not
    recorded anywhere. Behind a reverse proxy, set TIPLINE_TRUSTED_PROXIES to its address so that rate
    limits count the clients, not the proxy; X-Forwarded-For from anyone else is ignored.
    """
    import uvicorn

    db = database()
    if workers > 1 and db.dialect != "postgresql":
        fail(
            f"--workers {workers} needs PostgreSQL: a SQLite database takes one writing process, and the "
            "processes would queue on its lock. Set TIPLINE_DATABASE_URL=postgresql+psycopg://USER@HOST/DB "
            "(see README, 'Several server processes'), or run one process (--workers 1)."
        )
    if demo:
        from tipline.demo import load_demo

        if load_demo(db, seed=seed, only_if_empty=True, console=err) is not None:
            _print_demo_logins()
    if "analyse_inline" not in settings().model_fields_set:
        # the door stores and answers; the analysis workers take the report (TIPLINE_ANALYSE_INLINE=true: inline)
        db.settings = db.settings.model_copy(update={"analyse_inline": False})
    err.print(f"tipline {__version__} on http://{host}:{port}  (data: {settings().data_dir})")
    # proxy_headers=False: uvicorn's own proxy-header handling would believe X-Forwarded-For from loopback
    # (its default, or FORWARDED_ALLOW_IPS); the app believes it only from TIPLINE_TRUSTED_PROXIES
    options: dict[str, Any] = {"access_log": False, "log_level": "warning", "proxy_headers": False}
    if workers == 1:
        from tipline.web.app import create_app

        app = create_app(db.settings, db=db)
        app.state.serving = True  # a `tipline serve` process (the lifespan freezes what start-up loaded)
        uvicorn.run(app, host=host, port=port, **options)
        return
    if not db.settings.redis_url:
        err.print(f"warning: no TIPLINE_REDIS_URL: each of the {workers} processes counts its own rate limits")
    _environment_for_workers(db.settings)
    db.dispose()  # each process opens its own connections
    # a worker imports the whole app before it answers the supervisor's health check (uvicorn's default
    # wait, 5 s, is shorter than that on a busy machine: the worker would be killed and started again)
    options["timeout_worker_healthcheck"] = WORKER_HEALTHCHECK_S
    uvicorn.run("tipline.web.app:app_from_environment", factory=True, workers=workers, host=host, port=port, **options)


def _environment_for_workers(st: Settings) -> None:
    """What the options of this run changed, in the environment that uvicorn's worker processes read their
    settings from (``tipline.web.app.app_from_environment``)."""
    import os

    os.environ["TIPLINE_DATA_DIR"] = str(Path(st.data_dir).resolve())
    if st.database_url:
        os.environ["TIPLINE_DATABASE_URL"] = st.database_url
    os.environ["TIPLINE_ANALYSE_INLINE"] = "true" if st.analyse_inline else "false"


def _print_demo_logins() -> None:
    from tipline.demo import DEMO_USERS

    table = Table(title="Demo logins (synthetic data; change them before any real use)")
    table.add_column("user")
    table.add_column("role")
    table.add_column("password")
    for name, role, password in DEMO_USERS:
        table.add_row(name, role, password)
    err.print(table)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (every command does this on first use)."""
    db = database()
    out.print(f"database at {safe_url(db.url)} is up to date")


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed: the same seed makes the same world.")] = 1,
    reports: Annotated[int, typer.Option(help="How many reports to generate.")] = 400,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Load the synthetic demo world (networks, platforms, reports through all four doors, demo logins).

    All of it is synthetic: placeholder texts, generated identifiers, no real person.
    """
    from tipline.demo import load_demo

    summary = load_demo(database(), seed=seed, n_reports=reports, console=err)
    assert summary is not None
    if json_out:
        out.print_json(json.dumps(summary))
    else:
        out.print(f"loaded {summary['reports']} reports from {len(summary['platforms'])} platforms")
        _print_demo_logins()


# ------------------------------------------------------------------------------------------ accounts


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[accounts.Role, typer.Option(help="admin, supervisor or analyst.")] = accounts.Role.ANALYST,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add a staff user. The password is read from standard input (one line) or prompted for."""
    if role == accounts.Role.PLATFORM:
        fail("platforms are not users: use `tipline keys create PLATFORM`")
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = accounts.create_user(database(), name, role, password)
    except accounts.AccountError as e:
        fail(str(e))
        return
    if json_out:
        out.print_json(json.dumps({"id": user.id, "name": user.name, "role": user.role.value}))
    else:
        out.print(f"added {user.role.value} {user.name!r}")


@users_app.command("list")
def users_list(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List staff users and their roles."""
    users = accounts.list_users(database())
    if json_out:
        out.print_json(json.dumps([{"id": u.id, "name": u.name, "role": u.role.value} for u in users]))
        return
    table = Table("id", "name", "role")
    for u in users:
        table.add_row(str(u.id), u.name, u.role.value)
    out.print(table)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="The staff user the token acts as.")],
    label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    days: Annotated[
        int | None, typer.Option(help="Days until it expires (default TIPLINE_TOKEN_DAYS, 90).", show_default=False)
    ] = None,
    scope: Annotated[
        accounts.Role | None,
        typer.Option(
            help="The most the token may do: analyst (the default), or up to the user's role with --code.",
            show_default=False,
        ),
    ] = None,
    code: Annotated[
        str | None,
        typer.Option(help="A current code of the user's authenticator app: needed for a scope above analyst."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help='Print {"token", "id", "scope", "expires_at"}.')] = False,
) -> None:
    """Create a staff API token (shown once; send it as 'Authorization: Bearer <token>'). It expires, and
    it carries the analyst scope unless the user gives a current second-factor code (--code, or typed at
    the prompt) for --scope supervisor or admin. Users whose role needs MFA must have enrolled it. Revoke
    it with `tipline tokens revoke ID`."""
    if scope is not None and scope not in accounts.STAFF_ROLES:
        fail("the scope is a staff role: analyst, supervisor or admin")
    if scope in (accounts.Role.SUPERVISOR, accounts.Role.ADMIN) and code is None and sys.stdin.isatty():
        code = typer.prompt(f"Current code from {name}'s authenticator app")
    try:
        issued = accounts.issue_token(database(), name, label=label, days=days, scope=scope, code=code)
    except accounts.AccountError as e:
        fail(str(e))
        return
    if json_out:
        print(
            json.dumps(
                {
                    "token": issued.token,
                    "id": issued.id,
                    "scope": issued.scope.value,
                    "expires_at": issued.expires_at.isoformat(),
                }
            )
        )
    else:
        print(issued.token)
        expires = f"{issued.expires_at:%Y-%m-%d %H:%M} UTC"
        err.print(
            f"token {issued.id} for {name!r}: scope {issued.scope.value}, expires {expires} "
            f"(shown once; revoke it with `tipline tokens revoke {issued.id}`)",
            highlight=False,
        )


@keys_app.command("create")
def keys_create(
    platform: Annotated[str, typer.Argument(help="The platform's name, e.g. ExampleChat.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print api_key, username and password as JSON.")] = False,
) -> None:
    """Register a platform: prints its API key (JSON API and panic button) and its CyberTipline
    Basic-auth credentials (/ispws). They are shown once: only digests are stored."""
    try:
        creds = accounts.create_platform(database(), platform)
    except accounts.AccountError as e:
        fail(str(e))
        return
    if json_out:
        print(json.dumps({"api_key": creds.api_key, "username": creds.username, "password": creds.password}))
    else:
        out.print(f"platform {creds.name!r} registered")
        print(f"api_key:  {creds.api_key}")
        print(f"username: {creds.username}")
        print(f"password: {creds.password}")


@keys_app.command("rotate")
def keys_rotate(
    retire: Annotated[
        bool,
        typer.Option(
            help="Also retire every older key (delete its key file) once no value, media file or running "
            "server uses it; refuses, saying why, while one does."
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Rotate the master key while the app serves: a new key (a new key file, or TIPLINE_MASTER_KEY as now
    set) becomes the active key for every process from its next transaction, and every sealed value's and
    media file's data key is re-wrapped under it (ciphertexts are not rewritten). Older keys stay readable
    until retired (--retire)."""
    from tipline.protect import keys

    db = database()
    total = keys.count_sealed(db)
    try:
        with progress() as bar:
            task = bar.add_task("re-wrapping data keys", total=total * (2 if retire else 1))
            res = keys.rotate(db, retire=retire, progress=lambda n: bar.advance(task, n))
    except keys.RetireRefused as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    if json_out:
        print(
            json.dumps(
                {
                    "current_key": res.new_key_id,
                    "rewrapped": res.rewrapped,
                    "by_column": res.by_column,
                    "retired": res.retired,
                    "values_per_key": res.still_used,
                }
            )
        )
        return
    out.print(f"active master key {res.new_key_id}; re-wrapped {res.rewrapped} values")
    for kid, n in sorted(res.still_used.items()):
        out.print(f"  key {kid}: {n} values")
    if res.retired:
        out.print(f"retired keys: {', '.join(res.retired)}")


@keys_app.command("status")
def keys_status(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Which master keys are configured, which is active, which are retired, how many sealed values each
    wraps, and which running servers seal with which key."""
    from tipline.protect import keys

    db = database()
    used = keys.usage(db)
    ring = db.keyring
    active, retired = keys.key_state(db)
    procs = [
        {"host": p.host, "pid": p.pid, "key": p.key_id, "seen_at": p.seen_at.isoformat()}
        for p in keys.live_processes(db)
    ]
    current = active if active in ring.ids else ring.current_id
    if json_out:
        print(
            json.dumps(
                {
                    "current": current,
                    "configured": ring.ids,
                    "retired": sorted(retired),
                    "values_per_key": used,
                    "processes": procs,
                }
            )
        )
        return
    for kid in sorted(set(ring.ids) | set(used)):
        mark = (
            " (active)"
            if kid == current
            else " (retired)"
            if kid in retired
            else ""
            if kid in ring.ids
            else " (NOT CONFIGURED)"
        )
        out.print(f"key {kid}{mark}: {used.get(kid, 0)} values")
    for p in procs:
        out.print(f"server {p['host']} pid {p['pid']} seals with {p['key']}")


@audit_app.command("verify")
def audit_verify(
    head: Annotated[
        list[Path] | None, typer.Option(help="A head exported earlier with `tipline audit head` (repeatable).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the audit chain; name the first altered, inserted or missing event. With --head, also check
    that heads exported earlier are still in the chain (catches a rewrite of the whole chain). Exits 1 on
    any problem."""
    from tipline import audit

    heads = []
    for h in head or []:
        try:
            heads.append(json.loads(h.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            fail(f"cannot read the exported head {h}: {e}")
    res = audit.verify(database(), heads=heads)
    if json_out:
        print(
            json.dumps(
                {
                    "ok": res.ok,
                    "events": res.events,
                    "head_seq": res.head_seq,
                    "head_hash": res.head_hash,
                    "problem": None if res.problem is None else res.problem.__dict__,
                }
            )
        )
    elif res.ok:
        out.print(
            f"audit chain intact: {res.events} events, head {res.head_seq} {res.head_hash[:16]}…"
            + (f"; {len(heads)} exported head(s) match" if heads else "")
        )
    else:
        assert res.problem is not None
        err.print(f"[bold red]audit chain broken:[/] {res.problem.message}", highlight=False)
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("head")
def audit_head(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the signed head to this file.")] = None,
) -> None:
    """Sign the newest event's hash (Ed25519; the key stays in the data folder) and print it as JSON, to be
    kept where the hotline cannot change it."""
    from tipline import audit

    head = audit.sign_head(database())
    doc = json.dumps(head, indent=2)
    if out_file:
        out_file.write_text(doc + "\n", encoding="utf-8")
        out.print(f"signed head {head['seq']} written to {out_file}")
    else:
        print(doc)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Delete expired reports (with their files, messages, links) and the identifiers nothing names any more,
    expire old receipts, drop ended sessions. The server also runs this daily (TIPLINE_RETENTION_INTERVAL_HOURS).
    What is done is audited."""
    from tipline.protect import retention

    try:
        res = retention.run(database(), dry_run=dry_run, actor="cli")
    except retention.RetentionError as e:
        fail(str(e))
        return
    if json_out:
        print(json.dumps(res.summary()))
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(
        f"{verb} {len(res.reports)} reports, {res.media_files} media files, {res.entities} identifiers; "
        f"{res.receipts_expired} receipts expired; {res.sessions} ended sessions removed"
    )
    for rule, n in res.by_rule.items():
        out.print(f"  rule {rule}: {n}")


@retention_app.command("show-defaults")
def retention_defaults() -> None:
    """Print the default retention rules (copy into the data folder as retention.toml and edit)."""
    from tipline.protect.retention import DEFAULT_RULES

    print(DEFAULT_RULES.read_text(encoding="utf-8"), end="")


@app.command()
def backup(path: Annotated[Path, typer.Argument(help="Where to write the encrypted backup.")]) -> None:
    """Write an encrypted backup (database snapshot + stored media) that only the master key opens. It is
    safe to run while the server serves. Keep the master key elsewhere: it is not in the backup."""
    from tipline.protect.backup import BackupError
    from tipline.protect.backup import backup as run

    try:
        info = run(database(), path)
    except BackupError as e:
        fail(str(e))
        return
    out.print(f"backup written to {info.path} ({info.bytes:,} bytes, {len(info.manifest['files'])} files)")


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A backup written by `tipline backup`.", exists=True, dir_okay=False)],
    force: Annotated[bool, typer.Option(help="Replace a database that already holds reports.")] = False,
) -> None:
    """Replace the database and stored media with a backup's. Stop the server first. The master key that
    was current when the backup was made must be configured."""
    from tipline.crypto import KeyError_
    from tipline.protect.backup import BackupError
    from tipline.protect.backup import restore as run

    try:
        header = run(database(), path, force=force)
    except (BackupError, KeyError_) as e:
        fail(str(e))
        return
    out.print(f"restored the backup of {header['created_at']} (schema {header['schema_revision']})")


# ------------------------------------------------------------------------------------------ import


@import_app.command("cybertip")
def import_cybertip(
    files: Annotated[
        list[Path],
        typer.Argument(help="CyberTipline report XML files, or one folder or zip of them (a backlog).", exists=True),
    ],
    platform: Annotated[str | None, typer.Option(help="Platform the reports come from (registered name).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
    chunk: Annotated[int, typer.Option(help="Reports stored per transaction (a folder or zip).", min=1)] = 500,
    processes: Annotated[
        int | None,
        typer.Option(
            help="Other processes that parse and store chunks of a backlog beside this one (default: one a core "
            "but one, for 10,000 documents or more; 0: this one alone).",
            min=0,
        ),
    ] = None,
) -> None:
    """Load CyberTipline report XML files (validated against the published schema, parsed safely). A folder
    or zip is a backlog: NAME.xml per report, its files in NAME/ beside it; stored in chunks, resumable
    (reports already stored are skipped), analysed behind."""
    if len(files) == 1 and (files[0].is_dir() or zipfile.is_zipfile(files[0])):
        _import_backlog(files[0], platform, json_out, chunk, processes)
        return
    if dirs := [f for f in files if f.is_dir()]:
        fail(f"{dirs[0]}: a folder; give one folder (or zip) alone to import a backlog, or XML files")
    from tipline.cybertip.importer import import_files

    db = database()
    results: list[tuple[Path, int | str]] = []
    with progress() as bar:
        task = bar.add_task("importing", total=len(files))
        for f in files:
            results.extend(import_files(db, [f], platform))
            bar.advance(task)
    bad = 0
    for path, res in results:
        ok = isinstance(res, int)
        bad += not ok
        if json_out:
            print(json.dumps({"file": str(path), "report_id": res} if ok else {"file": str(path), "error": res}))
        elif ok:
            out.print(f"{path}: report {res}")
        else:
            err.print(f"[red]{path}: {res}[/]", highlight=False)
    if bad:
        raise typer.Exit(1)


def _import_backlog(path: Path, platform: str | None, json_out: bool, chunk: int, processes: int | None) -> None:
    from rich.markup import escape

    from tipline.accounts.service import platform_by_name
    from tipline.cybertip.backlog import BacklogError, import_backlog

    if platform is None:
        fail(
            "a backlog needs --platform NAME: the platform (or hotline) it comes from, "
            "registered with `tipline keys create`"
        )
    db = database()
    p = platform_by_name(db, platform)
    if p is None:
        fail(f"no platform named {platform!r}: register it first with `tipline keys create {platform}`")
    try:
        with _resumable(), progress() as bar:
            task = bar.add_task("storing", total=None)
            res = import_backlog(
                db,
                path,
                (p.id, p.name),
                chunk=chunk,
                processes=processes,
                started=lambda n: bar.update(task, total=n),
                step=lambda n: bar.update(task, completed=n),
            )
    except BacklogError as e:
        fail(escape(str(e)))
    if json_out:
        doc = {"found": res.total, "stored": res.stored, "skipped": res.skipped, "errors": res.errors}
        print(json.dumps({**doc, "ignored": res.ignored}))
    else:
        for line in res.errors[:50]:
            err.print(f"[red]{escape(line)}[/]", highlight=False, soft_wrap=True)
        if len(res.errors) > 50:
            err.print(f"[red]... and {len(res.errors) - 50} more refused (--json lists them all)[/]", highlight=False)
        if res.ignored:
            err.print(
                f"ignored {len(res.ignored)} entries that are neither NAME.xml nor in a NAME/ folder, "
                f"e.g. {escape(res.ignored[0])}"
            )
        out.print(
            f"{res.total} report documents: stored {res.stored}, skipped {res.skipped} already stored, "
            f"{len(res.errors)} refused"
        )
        out.print(
            "analysis follows behind: `tipline status` shows what waits (`tipline worker` or the server analyses it)"
        )
    if res.errors:
        raise typer.Exit(1)


@contextlib.contextmanager
def _resumable() -> Iterator[None]:
    """Ctrl-C during a bulk import, even one a library's clean-up hid behind an error of its own: what is
    stored stays (whole chunks), and the message says that the same command resumes."""
    try:
        yield
    except BaseException as e:
        if not stopped_by_ctrl_c(e):
            raise
        fail(
            "interrupted: the reports stored so far are kept (a chunk is stored whole or not at all); run the "
            "same command again to store the rest, reports already stored are skipped",
            code=130,
        )


@import_app.command("jsonl")
def import_jsonl(
    file: Annotated[
        Path,
        typer.Argument(help="JSON lines: one report a line, in the JSON API's shape.", exists=True, dir_okay=False),
    ],
    platform: Annotated[str, typer.Option(help="Platform the reports come from (registered name).")],
) -> None:
    """Bulk-load a platform's backlog (resumable: reports already stored are skipped); analysis follows behind."""
    from tipline.accounts.service import platform_by_name
    from tipline.intake.bulk import import_jsonl as load

    db = database()
    p = platform_by_name(db, platform)
    if p is None:
        fail(f"no platform named {platform!r}: register it first with `tipline keys create PLATFORM`")
    with _resumable(), progress() as bar:
        task = bar.add_task("storing", total=file.stat().st_size)
        res = load(db, file, p.id, step=lambda at: bar.update(task, completed=at))
    for line in res.errors[:20]:
        err.print(f"[red]{file}: {line}[/]", highlight=False, soft_wrap=True)
    out.print(f"stored {res.stored}, skipped {res.skipped} already stored, {len(res.errors)} bad line(s)")
    out.print("analysis follows behind: `tipline status` shows what waits (`tipline worker` or the server analyses it)")
    if res.errors:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------ analysis


@app.command()
def extract(
    country: Annotated[str | None, typer.Option(help="Default country for phone numbers (ISO code, e.g. PH).")] = None,
    language: Annotated[str | None, typer.Option(help="Language of the text (en, it, tl, ...).")] = None,
) -> None:
    """Read text on standard input; print one JSON object per identifier found (kind, value, start, end,
    confidence; "disguise" when it was written disguised, "alternatives" when a number has other
    readings)."""
    from tipline.extract import extract as run

    text = sys.stdin.read()
    for f in run(text, country=country.upper() if country else None, language=language):
        item: dict[str, object] = {
            "kind": f.kind,
            "value": f.value,
            "start": f.start,
            "end": f.end,
            "confidence": round(f.confidence, 3),
        }
        if f.disguise:
            item["disguise"] = f.disguise
        if f.alternatives:
            item["alternatives"] = [{"value": v, "confidence": c} for v, c in f.alternatives]
        print(json.dumps(item, ensure_ascii=False))


@app.command()
def reanalyse() -> None:
    """Re-extract and re-score every report with the rules in force (after editing the rules)."""
    from tipline.intake.service import analyse_report, complete_report_ids

    db = database()
    ids = complete_report_ids(db)
    with progress() as bar:
        task = bar.add_task("re-scoring", total=len(ids))
        for rid in ids:
            analyse_report(db, rid)
            bar.advance(task)
    out.print(f"re-analysed {len(ids)} reports")


@app.command()
def status(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Reports waiting for analysis (how many, how many urgent, how many failed their last analysis), how long
    the oldest has waited, and whether this installation's extractor runs compiled (`make native`) or as
    plain Python."""
    from tipline.extract import native
    from tipline.intake.worker import backlog

    b = backlog(database())
    if json_out:
        doc = {
            "waiting": b.waiting,
            "urgent": b.urgent,
            "oldest_wait_s": round(b.oldest_age_s(), 1),
            "failing": b.failing,
            "last_error": b.last_error,
            "extractor": native.STATUS,
        }
        out.print_json(json.dumps(doc))
        return
    out.print(f"waiting for analysis: {b.waiting} report(s), {b.urgent} urgent")
    out.print(f"oldest waiting: {b.oldest_age_s():.1f} s" if b.waiting else "oldest waiting: none")
    if b.failing:
        err.print(
            f"[red]analysis failed for {b.failing} of them (latest error: {b.last_error}); they are tried again "
            "every minute: the analysis worker's log says what went wrong[/]",
            highlight=False,
        )
    out.print(f"extractor: {native.STATUS}")


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Analyse what waits now, then exit.")] = False,
    batch: Annotated[
        int | None, typer.Option(help="Most reports per batch (default: TIPLINE_ANALYSIS_BATCH_SIZE).")
    ] = None,
    wake_fd: Annotated[
        int | None,
        typer.Option(hidden=True, help="The worker that `tipline serve` starts: woken through this pipe."),
    ] = None,
    ready_fd: Annotated[
        int | None, typer.Option(hidden=True, help="... and says on this pipe when it is ready.")
    ] = None,
) -> None:
    """Analyse waiting reports in batches, most urgent first (run one or more next to `tipline serve`)."""
    from tipline.intake.worker import run_worker
    from tipline.protect.keys import Heartbeat

    db = database()
    with Heartbeat(db):  # a worker seals too: `tipline keys rotate --retire` waits for it like for a server
        if wake_fd is not None:  # started by `tipline serve`, which speaks for it
            run_worker(db, batch=batch, wake_fd=wake_fd, ready_fd=ready_fd)
            return
        n = run_worker(db, once=once, batch=batch, say=err.print)
    out.print(f"analysed {n} report(s)")


@app.command()
def queue(
    limit: Annotated[int, typer.Option(help="How many reports.")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the top of the triage queue (most urgent first)."""
    from tipline.reports.service import QueueFilter
    from tipline.reports.service import queue as run

    items, total = run(database(), QueueFilter(limit=limit))
    if json_out:
        print(json.dumps({"total": total, "items": [i.model_dump(mode="json") for i in items]}))
        return
    table = Table("id", "P", "category", "source", "received", "why", title=f"{total} open reports")
    for i in items:
        table.add_row(
            str(i.id),
            f"P{i.priority}",
            i.category.value,
            i.source.value,
            i.received_at.strftime("%Y-%m-%d %H:%M"),
            "; ".join(i.reasons[:2]),
        )
    out.print(table)


@app.command()
def overdue(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Mark the open reports past their time-to-first-action target and notify the on-duty supervisors
    (the server does this every minute; run it from cron when no server runs)."""
    from tipline.reports import shift

    try:
        res = shift.check_overdue(database())
    except ValueError as e:
        fail(str(e))
    if json_out:
        print(json.dumps({"overdue": res.overdue, "notified": res.notified, "webhook_sent": res.webhook_sent}))
        return
    out.print(
        f"{len(res.overdue)} overdue report(s); {res.notified} notification(s); {res.webhook_sent} sent to the webhook"
    )


@rules_app.command("check")
def rules_check(path: Annotated[Path, typer.Argument(help="A triage rules TOML file.", exists=True)]) -> None:
    """Check a rules file; prints its rules or says what is wrong."""
    from tipline.triage.rules import RulesError, parse_rules

    try:
        rs = parse_rules(path.read_text(encoding="utf-8"), source=str(path), kinds=rule_kinds())
    except RulesError as e:
        fail(str(e))
        return
    table = Table("id", "kind", "points", "max P", "description", title=f"{len(rs.rules)} rules")
    for r in rs.rules:
        table.add_row(r.id, r.kind, f"{r.points:g}", str(r.max_priority or ""), r.description)
    out.print(table)


@rules_app.command("show-defaults")
def rules_defaults() -> None:
    """Print the default rules file (a starting point to copy into the data folder and edit)."""
    from tipline.triage.rules import DEFAULT_RULES

    print(DEFAULT_RULES.read_text(encoding="utf-8"), end="")


@batch_app.command("list")
def batch_list() -> None:
    """The batch jobs there are."""
    from tipline.batch.jobs import JOBS

    for job in JOBS.values():
        out.print(f"{job.name}: {job.description}", highlight=False)


@batch_app.command("run")
def batch_run(
    job: Annotated[str, typer.Argument(help="The job's name (see `tipline batch list`).")],
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: TIPLINE_BATCH_ENGINE, else duckdb).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run a batch job on a snapshot of the tables it reads and print its rows."""
    from tipline.batch.jobs import ENGINES, JOBS, Engine, run

    if job not in JOBS:
        fail(f"no batch job {job!r}; `tipline batch list` shows them: {', '.join(JOBS)}")
    if engine is not None and engine not in ENGINES:
        fail(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    with err.status(f"running {job}"):
        rows = run(database(), JOBS[job], engine=cast(Engine, engine))  # checked just above
    if json_out:
        print(json.dumps(rows, default=str))
        return
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]), title=job)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    out.print(table)


# each capability adds its own commands (``tipline banks``, ``tipline networks``, ``tipline refer``...)
for _capability in CAPABILITIES:
    if _capability.cli is not None:
        _capability.cli(app)


def main() -> None:
    try:
        app()
    except Exception as e:
        if not stopped_by_ctrl_c(e):
            raise
        # a Ctrl-C that a library's clean-up hid ends as Click ends a plain one (the bulk imports say more)
        err.print("Aborted!", highlight=False)
        sys.exit(1)
