"""Docs that cannot drift: README.md names every setting and every command, and its reference part is
what ``scripts/readme_reference.py`` writes from the declarations (settings descriptions, command help)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import typer

from tipline.cli.main import app
from tipline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("readme_reference", ROOT / "scripts" / "readme_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"TIPLINE_{n.upper()}" for n in Settings.model_fields if f"`TIPLINE_{n.upper()}`" not in README]
    assert not missing, f"undocumented settings {missing}: run .venv/bin/python scripts/readme_reference.py"


def test_every_command_is_in_the_readme() -> None:
    paths = [p for p, _ in _script()._commands(typer.main.get_command(app), ["tipline"])]
    assert len(paths) > 40 and "tipline evidence import" in paths and "tipline batch run" in paths
    missing = [p for p in paths if not re.search(rf"`{re.escape(p)}`", README)]
    assert not missing, f"undocumented commands {missing}: run .venv/bin/python scripts/readme_reference.py"


def test_the_reference_part_is_current() -> None:
    assert _script().current(README) == README, (
        "README.md's reference part is not what the declarations say: run .venv/bin/python scripts/readme_reference.py"
    )
