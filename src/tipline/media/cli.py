"""CLI commands of this capability. Placeholder until it is built."""

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the ``tipline`` command line."""
    return None
