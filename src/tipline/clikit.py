"""What every ``tipline`` command uses: the settings and database of this run, consoles, errors that say
what to do next, progress bars. Capabilities' command modules import it; it imports no capability.

``tipline.cli.main`` (the composition root) sets the settings and the capabilities from the global options
before any command runs (``configure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tipline.settings import Settings
from tipline.store import Database

if TYPE_CHECKING:
    from tipline.capability import Capability

err = Console(stderr=True)
out = Console()


class _State:
    settings: Settings | None = None
    db: Database | None = None
    capabilities: tuple[Capability, ...] | None = None


_state = _State()


def configure(settings: Settings, capabilities: tuple[Capability, ...]) -> None:
    """The settings and capabilities of this run (called by the ``tipline`` callback)."""
    _state.settings = settings
    _state.capabilities = capabilities
    _state.db = None


def settings() -> Settings:
    if _state.settings is None:
        _state.settings = Settings()
    return _state.settings


def database() -> Database:
    """The database of this run, created and migrated on first use (with the capabilities in use)."""
    if _state.db is None:
        st = settings()
        st.ensure_data_dir()
        db = Database.from_settings(st, capabilities=_state.capabilities)
        try:
            db.migrate()
        except Exception as e:  # noqa: BLE001 - say what to do, not a traceback
            fail(
                f"cannot open the database at {safe_url(db.url)}: {e}\n"
                "Check TIPLINE_DATABASE_URL (and that the server is running) or TIPLINE_DATA_DIR."
            )
        _state.db = db
    return _state.db


def safe_url(url: str) -> str:
    """``url`` with its password hidden."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def group(app: typer.Typer, name: str) -> typer.Typer:
    """The command group ``name`` of ``app`` (``tipline users`` ...), for a capability adding commands to it."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    raise LookupError(f"no command group {name!r}")
