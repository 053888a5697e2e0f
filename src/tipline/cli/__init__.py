"""The ``tipline`` command line: a thin layer over the same services as the web app.

The commands live in ``tipline.cli.main`` (imported when the command runs, so that a capability's ``cli.py``
can import the shared helpers of ``tipline.clikit`` without importing every other command first)."""

from __future__ import annotations

from typing import Any


def main() -> None:
    """The ``tipline`` console script."""
    from tipline.cli.main import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from tipline.cli.main import app

        return app
    raise AttributeError(name)


__all__ = ["app", "main"]
