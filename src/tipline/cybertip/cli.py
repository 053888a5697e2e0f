"""``tipline cybertip close-stale``: close the submissions their platform never finished."""

from __future__ import annotations

import typer

from tipline.clikit import database, out

cybertip_app = typer.Typer(help="The CyberTipline door's submissions.", no_args_is_help=True)


@cybertip_app.command("close-stale")
def close_stale_command() -> None:
    """Close the open submissions older than TIPLINE_CYBERTIP_STALE_HOURS (their platform never called /finish):
    each is marked 'not finished by the platform', analysed and queued, and alerted on (log and audit). The
    server does it every minute."""
    from tipline.cybertip.stale import close_stale

    ids = close_stale(database())
    out.print(f"{len(ids)} submission(s) not finished by the platform closed and queued" + (f": {ids}" if ids else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(cybertip_app, name="cybertip")
