"""Write the reference part of README.md (every setting and every command, from their declarations).

    .venv/bin/python scripts/readme_reference.py          # rewrite the part between the markers
    .venv/bin/python scripts/readme_reference.py --check  # exit 1 when README.md is not current

``tests/test_docs.py`` runs the check, so a new setting or command cannot go undocumented.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from tipline.cli.main import app
from tipline.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- reference:start (scripts/readme_reference.py writes this part) -->", "<!-- reference:end -->"


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def _commands(cmd: Any, path: list[str]) -> list[tuple[str, str]]:
    """(command path, first paragraph of its help) for every command under the Click command ``cmd``."""
    if getattr(cmd, "commands", None):
        out = []
        for name in sorted(cmd.commands):
            out += _commands(cmd.commands[name], [*path, name])
        return out
    return [(" ".join(path), _first_line(cmd.help))]


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.repr is False or field.default in (None, ""):
        return ""
    return f"`{field.default}`"


def reference() -> str:
    lines = [START, "", "### Every setting", "", "| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `TIPLINE_{name.upper()}` | {_default(name)} | {desc} |")
    lines += ["", "### Every command", "", "| command | what it does |", "| --- | --- |"]
    for path, help_text in _commands(typer.main.get_command(app), ["tipline"]):
        cell = help_text.replace("|", "\\|")
        lines.append(f"| `{path}` | {cell} |")
    return "\n".join([*lines, "", END])


def current(text: str) -> str:
    if START not in text:
        return text.rstrip("\n") + "\n\n## Reference\n\n" + reference() + "\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    return head + reference() + tail


def main() -> int:
    text = README.read_text(encoding="utf-8")
    fresh = current(text)
    if "--check" in sys.argv:
        if fresh != text:
            print("README.md's reference part is not current: run .venv/bin/python scripts/readme_reference.py")
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
