"""The accounts capability's extra commands (lockout, MFA reset, sessions); its tables are core."""

from __future__ import annotations

from tipline.accounts import cli
from tipline.capability import Capability

ACCOUNTS = Capability(
    name="accounts",
    description="Staff lockout, second-factor reset and login sessions from the command line.",
    cli=cli.register,
)
