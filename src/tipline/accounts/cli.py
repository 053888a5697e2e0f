"""Staff-account commands of the protection issue: ``tipline users unlock|reset-mfa`` and
``tipline sessions list|revoke``. Each one is an audit event (actor ``cli``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the commands to ``tipline users`` and a new ``tipline sessions`` group."""
    from tipline.cli.main import users_app

    users_app.command("unlock")(users_unlock)
    users_app.command("reset-mfa")(users_reset_mfa)
    users_app.command("revoke-sessions")(users_revoke_sessions)
    sessions_app = typer.Typer(help="Staff login sessions: list who is logged in, end a session.", no_args_is_help=True)
    sessions_app.command("list")(sessions_list)
    sessions_app.command("revoke")(sessions_revoke)
    app.add_typer(sessions_app, name="sessions")


def users_unlock(name: Annotated[str, typer.Argument(help="The locked user.")]) -> None:
    """Lift the lockout of a user (locked after too many wrong passwords or codes)."""
    from tipline.accounts import service as accounts
    from tipline.cli.main import database, fail, out

    try:
        was = accounts.unlock_user(database(), name)
    except accounts.AccountError as e:
        fail(str(e))
        return
    out.print(f"unlocked {name!r}" if was else f"{name!r} was not locked (its failure count is reset)")


def users_reset_mfa(name: Annotated[str, typer.Argument(help="The user who lost their authenticator.")]) -> None:
    """Forget a user's second factor and recovery codes and end their sessions. A user whose role needs
    MFA sets it up again at the next login. Check who is asking before you do this."""
    from tipline.accounts import service as accounts
    from tipline.cli.main import database, fail, out

    try:
        accounts.reset_mfa(database(), name)
    except accounts.AccountError as e:
        fail(str(e))
        return
    out.print(f"second factor of {name!r} reset; their sessions have ended")


def users_revoke_sessions(name: Annotated[str, typer.Argument(help="The user to log out everywhere.")]) -> None:
    """End every session of a user."""
    from tipline.accounts import service as accounts
    from tipline.cli.main import database, fail, out

    try:
        n = accounts.revoke_user_sessions(database(), name)
    except accounts.AccountError as e:
        fail(str(e))
        return
    out.print(f"ended {n} session(s) of {name!r}")


def sessions_list(
    user: Annotated[str | None, typer.Option(help="Only this user's sessions.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Live staff sessions, most recently active first. The id shown is the start of the stored digest
    (never the cookie): give it to `tipline sessions revoke`."""
    from rich.table import Table

    from tipline.accounts import service as accounts
    from tipline.cli.main import database, fail, out

    db = database()
    user_id = None
    if user is not None:
        match = [u for u in accounts.list_users(db) if u.name == user]
        if not match:
            fail(f"no user named {user!r}")
            return
        user_id = match[0].id
    rows = accounts.list_sessions(db, user_id=user_id)
    if json_out:
        data = [
            {
                "id": r.short,
                "user": r.user,
                "role": r.role,
                "stage": r.stage,
                "created_at": r.created_at.isoformat(),
                "last_seen_at": r.last_seen_at.isoformat(),
            }
            for r in rows
        ]
        print(json.dumps(data))
        return
    table = Table("id", "user", "role", "stage", "logged in", "last active", title=f"{len(rows)} live sessions")
    for r in rows:
        table.add_row(
            r.short, r.user, r.role, r.stage, f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.last_seen_at:%Y-%m-%d %H:%M}"
        )
    out.print(table)


def sessions_revoke(session: Annotated[str, typer.Argument(help="Session id (or its first characters).")]) -> None:
    """End one session (the person is logged out at their next click)."""
    from tipline.accounts import service as accounts
    from tipline.cli.main import database, fail, out

    if not accounts.revoke_session(database(), session):
        fail(f"no live session starts with {session!r} (or several do: give more characters)")
        return
    out.print(f"session {session} ended")
