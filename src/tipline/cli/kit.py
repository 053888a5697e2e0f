"""What every ``tipline`` command shares: the consoles, the settings and database of this run, errors that
say what to do next, and progress bars. ``tipline.cli.main`` and every capability's ``cli.py`` import
these from here (and nothing from ``cli.main``)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tipline.settings import Settings
from tipline.store import Database

err = Console(stderr=True)
out = Console()


class _State:
    settings: Settings | None = None
    db: Database | None = None


_state = _State()


def configure(st: Settings) -> None:
    """The settings of this run (from ``--data-dir`` / ``--database-url``); the database is opened anew."""
    _state.settings = st
    _state.db = None


def settings() -> Settings:
    if _state.settings is None:
        _state.settings = Settings()
    return _state.settings


def database() -> Database:
    if _state.db is None:
        st = settings()
        st.ensure_data_dir()
        db = Database.from_settings(st)
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
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def fail(message: str, code: int = 1) -> None:
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
