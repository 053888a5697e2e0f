"""The ``tipline`` command line: a thin layer over the same services as the web app."""

from tipline.cli.main import app, main

__all__ = ["app", "main"]
