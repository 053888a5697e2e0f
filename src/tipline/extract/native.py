"""The extractor's hot modules compiled to C with mypyc, used only while they match the sources.

Speed only (issue 13: extraction at twice ioc-finder's speed). The phone scanner, the network and
handle extractors and the text plumbing they share (:data:`MODULES`) are plain, fully annotated Python.
``scripts/build_native.py`` (``make native``, part of ``make run`` and ``make test``) compiles them with
mypyc, the compiler that ships with mypy (black and mypy itself are built with it), into ``_native/``
beside this file, with a manifest of what they were built from. (``Found`` lives in ``found.py``, not
compiled: it stays a plain dataclass.)

When :mod:`tipline.extract` is imported, :func:`use_compiled` puts that folder first on the package's
path, so that ``tipline.extract.phones`` and the others load from the compiled files, and only when the
manifest matches this interpreter and every source file of the package byte for byte (a compiled module
binds to the others). An edited source, another Python, no build (a machine without a C compiler: the
build says so and ``make`` goes on) or ``TIPLINE_PURE_PYTHON=1`` all run the pure Python modules: the
same code, the same results (``tests/test_extract_native.py`` compares the two on the bench corpora), at
about four fifths of the speed.

Why compile rather than hand-write C: the scanner's cost is spread over Python-level logic (tokens,
greedy segmentation, region evidence, context filters), not one regex pass that a multi-pattern engine
could take over; mypyc turns that same logic into C without a second implementation to keep in step.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path

MODULES = ("pipeline", "phones", "fastphone", "network", "handles", "text")
PACKAGE_DIR = Path(__file__).resolve().parent
NATIVE_DIR = PACKAGE_DIR / "_native"
MANIFEST = NATIVE_DIR / "manifest.json"
ENV_PURE = "TIPLINE_PURE_PYTHON"
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"  # a compiled module's file ending here

# what the last :func:`use_compiled` found: "compiled (mypyc): ..." or "pure Python: <why>"
STATUS = "pure Python: not checked yet"


def fingerprint() -> str:
    """What a build is valid for: this interpreter's ABI and every source file of the package."""
    h = hashlib.sha256()
    h.update(f"{sys.version}|{EXT_SUFFIX}".encode())
    for p in sorted(PACKAGE_DIR.glob("*.py")) + sorted(PACKAGE_DIR.glob("*.toml")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _compiled_files() -> list[Path]:
    return [NATIVE_DIR / f"{m}{tail}{EXT_SUFFIX}" for m in MODULES for tail in ("", "__mypyc")]


def why_not() -> str | None:
    """None when the compiled modules can be used; else why not, in words."""
    if os.environ.get(ENV_PURE, "").strip().lower() in ("1", "true", "yes", "on"):
        return f"{ENV_PURE} is set"
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return "not built (run `make native`)"
    if manifest.get("fingerprint") != fingerprint():
        return "the sources or the interpreter changed since the build (run `make native`)"
    missing = [p.name for p in _compiled_files() if not p.is_file()]
    if missing:
        return f"build incomplete, missing {', '.join(missing)} (run `make native`)"
    return None


def use_compiled(package_path: list[str]) -> str:
    """Put the compiled modules first on ``package_path`` (the package's ``__path__``) when they match
    (see the module's docstring); call before any of :data:`MODULES` is imported. Returns and keeps in
    :data:`STATUS` what was decided."""
    global STATUS
    reason = why_not()
    if reason is None and str(NATIVE_DIR) not in package_path:
        package_path.insert(0, str(NATIVE_DIR))
    STATUS = describe(reason)
    return STATUS


def describe(reason: str | None) -> str:
    """The status line for :func:`why_not`'s answer."""
    return f"compiled (mypyc): {', '.join(MODULES)}" if reason is None else f"pure Python: {reason}"
