"""Staff-account commands of the protection issue: ``tipline users unlock|reset-mfa``, ``tipline
sessions list|revoke``, ``tipline tokens list|revoke`` and ``tipline platforms list|disable|enable|rotate``.
Each change is an audit event (actor ``cli``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the commands to ``tipline users`` and a new ``tipline sessions`` group."""
    from tipline.clikit import group

    users_app, tokens_app = group(app, "users"), group(app, "tokens")
    tokens_app.command("list")(tokens_list)
    tokens_app.command("revoke")(tokens_revoke)
    platforms_app = typer.Typer(
        help="Platforms' credentials (API key, CyberTipline login): list, disable, enable, rotate. "
        "Register a platform with `tipline keys create`.",
        no_args_is_help=True,
    )
    platforms_app.command("list")(platforms_list)
    platforms_app.command("disable")(platforms_disable)
    platforms_app.command("enable")(platforms_enable)
    platforms_app.command("rotate")(platforms_rotate)
    app.add_typer(platforms_app, name="platforms")
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
    from tipline.clikit import database, fail, out

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
    from tipline.clikit import database, fail, out

    try:
        accounts.reset_mfa(database(), name)
    except accounts.AccountError as e:
        fail(str(e))
        return
    out.print(f"second factor of {name!r} reset; their sessions have ended")


def users_revoke_sessions(name: Annotated[str, typer.Argument(help="The user to log out everywhere.")]) -> None:
    """End every session of a user."""
    from tipline.accounts import service as accounts
    from tipline.clikit import database, fail, out

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
    from tipline.clikit import database, fail, out

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
    from tipline.clikit import database, fail, out

    if not accounts.revoke_session(database(), session):
        fail(f"no live session starts with {session!r} (or several do: give more characters)")
        return
    out.print(f"session {session} ended")


# ------------------------------------------------------------------------------------------ tokens


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


def tokens_list(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also revoked and expired tokens.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Staff API tokens, newest first (never the secret): id, user, scope, expiry, last use."""
    from rich.table import Table

    from tipline.accounts import service as accounts
    from tipline.clikit import database, fail, out

    db = database()
    user_id = None
    if user is not None:
        match = [u for u in accounts.list_users(db) if u.name == user]
        if not match:
            fail(f"no user named {user!r} (see `tipline users list`)")
            return
        user_id = match[0].id
    rows = accounts.list_tokens(db, user_id=user_id, include_ended=all_)
    if json_out:
        data = [
            {
                "id": r.id,
                "user": r.user,
                "scope": r.scope.value,
                "acts_as": r.effective.value,
                "label": r.label,
                "state": r.state,
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
            }
            for r in rows
        ]
        print(json.dumps(data))
        return
    table = Table("id", "user", "scope", "label", "state", "made", "expires", "last used", title=f"{len(rows)} tokens")
    for r in rows:
        table.add_row(str(r.id), r.user, r.effective.value, r.label or "", r.state, _when(r.created_at),
                      _when(r.expires_at), _when(r.last_used_at))  # fmt: skip
    out.print(table)


def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (see `tipline tokens list`).")]) -> None:
    """Revoke a staff API token: it stops working at once, for good."""
    from tipline.accounts import service as accounts
    from tipline.clikit import database, fail, out

    if not accounts.revoke_token(database(), token_id):
        fail(f"no live token with id {token_id} (see `tipline tokens list --all`)")
        return
    out.print(f"token {token_id} revoked")


# ------------------------------------------------------------------------------------------ platforms

_ONLY_HELP = "Only this credential: api-key (JSON API, panic button) or cybertip (HTTP Basic of /ispws). Default: both."


def platforms_list(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Platforms and the state of their two credentials (never a secret)."""
    from rich.table import Table

    from tipline.accounts import service as accounts
    from tipline.clikit import database, out

    rows = accounts.platform_rows(database())
    if json_out:
        print(json.dumps([
            {"id": r.id, "name": r.name, "cybertip_username": r.username, "api_key_active": r.api_key_active,
             "cybertip_active": r.cybertip_active,
             "api_key_rotated_at": r.api_key_rotated_at.isoformat() if r.api_key_rotated_at else None,
             "cybertip_rotated_at": r.cybertip_rotated_at.isoformat() if r.cybertip_rotated_at else None}
            for r in rows
        ]))  # fmt: skip
        return
    table = Table("id", "name", "API key", "CyberTipline login", "key rotated", "login rotated")
    for r in rows:
        table.add_row(str(r.id), r.name, "enabled" if r.api_key_active else "DISABLED",
                      f"{r.username} " + ("enabled" if r.cybertip_active else "DISABLED"),
                      _when(r.api_key_rotated_at), _when(r.cybertip_rotated_at))  # fmt: skip
    out.print(table)


def _set(name: str, active: bool, only: str | None) -> None:
    from tipline.accounts import service as accounts
    from tipline.clikit import database, fail, out

    try:
        accounts.set_platform_credentials(database(), name, active, which=only)
    except accounts.AccountError as e:
        fail(str(e))
        return
    what = {"api-key": "API key", "cybertip": "CyberTipline login"}.get(only or "", "API key and CyberTipline login")
    out.print(f"{what} of {name!r} {'enabled' if active else 'disabled'}")


def platforms_disable(
    name: Annotated[str, typer.Argument(help="The platform's name.")],
    only: Annotated[str | None, typer.Option(help=_ONLY_HELP, show_default=False)] = None,
) -> None:
    """Disable a platform's credentials: refused at once (401) until enabled again. For a leaked secret,
    rotate instead (enabling brings back the same secret)."""
    _set(name, False, only)


def platforms_enable(
    name: Annotated[str, typer.Argument(help="The platform's name.")],
    only: Annotated[str | None, typer.Option(help=_ONLY_HELP, show_default=False)] = None,
) -> None:
    """Enable a platform's disabled credentials again (the same secrets as before)."""
    _set(name, True, only)


def platforms_rotate(
    name: Annotated[str, typer.Argument(help="The platform's name.")],
    only: Annotated[str | None, typer.Option(help=_ONLY_HELP, show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the new secrets as JSON.")] = False,
) -> None:
    """New secrets for a platform (a new API key; a new CyberTipline password, same username): the old
    ones stop working at once. Shown once: only digests are stored."""
    from tipline.accounts import service as accounts
    from tipline.clikit import database, fail, out

    try:
        new = accounts.rotate_platform_credentials(database(), name, which=only)
    except accounts.AccountError as e:
        fail(str(e))
        return
    if json_out:
        print(json.dumps({k: v for k, v in
                          {"api_key": new.api_key, "username": new.username, "password": new.password}.items()
                          if v is not None}))  # fmt: skip
        return
    out.print(f"new credentials for {name!r} (the old ones no longer work; shown once)")
    if new.api_key:
        print(f"api_key:  {new.api_key}")
    if new.password:
        print(f"username: {new.username}")
        print(f"password: {new.password}")
