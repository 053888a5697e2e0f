#!/usr/bin/env python3
"""Compile the extractor's hot modules (:data:`tipline.extract.native.MODULES`) with mypyc into
``src/tipline/extract/_native/``, or say whether the compiled ones are in use: ``make native``.

Speed only: see :mod:`tipline.extract.native` for when the compiled modules are loaded (only while
they match the sources) and why they are compiled at all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tipline.extract import native


def build(force: bool = False) -> int:
    """Compile :data:`native.MODULES` with mypyc into ``_native/``; 0 on success (or nothing to do), 1 when the
    build failed (the pure Python modules stay in use). Needs mypy (the ``test`` extra), a C compiler and
    the Python headers, and a source checkout (the project's ``pyproject.toml`` holds the mypy settings
    the code is checked with)."""
    if not force and native.why_not() is None:
        print("build_native: compiled modules are up to date")
        return 0
    root = native.PACKAGE_DIR.parents[2]
    if not (root / "pyproject.toml").is_file():
        print("build_native: not a source checkout (no pyproject.toml); the pure Python modules stay")
        return 1
    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError as exc:
        print(f"build_native: cannot build ({exc}); install the test extra: pip install -e '.[test]'")
        return 1
    print(f"build_native: compiling {', '.join(native.MODULES)} with mypyc (about a minute)...", flush=True)
    stamp = native.fingerprint()  # of the sources compiled, taken before the build
    with tempfile.TemporaryDirectory(prefix="tipline-native-") as tmp:
        work = Path(tmp)
        log = work / "build.log"
        sources = [str(native.PACKAGE_DIR / f"{m}.py") for m in native.MODULES]
        failure: BaseException | None = None
        cwd = os.getcwd()
        saved = os.dup(1), os.dup(2)
        try:
            os.chdir(root)  # the mypy settings' paths (mypy_path = "src") are relative to it
            with open(log, "w") as out:
                os.dup2(out.fileno(), 1)  # the compiler's and setuptools' chatter goes to the log
                os.dup2(out.fileno(), 2)
                modules = mypycify(
                    ["--config-file", str(root / "pyproject.toml"), *sources],
                    separate=True,  # one extension per module: each loads from the package path by itself
                    target_dir=str(work / "c"),
                )
                setup(
                    name="tipline-native",
                    ext_modules=modules,
                    script_args=["build_ext", "--build-lib", str(work / "lib"), "--build-temp", str(work / "tmp")],
                )
        except (Exception, SystemExit) as exc:  # mypy's errors and a failed compiler end in SystemExit
            failure = exc
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            os.chdir(cwd)
        if failure is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            print(f"{tail}\nbuild_native: the build failed ({failure!r}); the pure Python modules stay in use")
            return 1
        built = sorted((work / "lib" / "tipline" / "extract").glob("*" + native.EXT_SUFFIX))
        if stamp != native.fingerprint():
            print("build_native: the sources changed during the build; run it again")
            return 1
        shutil.rmtree(native.NATIVE_DIR, ignore_errors=True)
        native.NATIVE_DIR.mkdir()
        for f in built:
            shutil.copy2(f, native.NATIVE_DIR / f.name)
    native.MANIFEST.write_text(json.dumps({"fingerprint": stamp, "modules": list(native.MODULES)}, indent=1) + "\n")
    reason = native.why_not()
    if reason is not None:
        print(f"build_native: built, but not usable: {reason}")
        return 1
    print(f"build_native: built {len(built)} files into {native.NATIVE_DIR.name}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/build_native.py",
        description="Compile the extractor's hot modules with mypyc (speed only; the pure Python modules "
        "give the same results), or say whether the compiled ones are in use.",
    )
    ap.add_argument("action", choices=("build", "status"), help="build: compile if out of date; status: say which")
    ap.add_argument("--force", action="store_true", help="build even when the compiled modules are up to date")
    args = ap.parse_args(argv)
    if args.action == "build":
        return build(force=args.force)
    print(native.describe(native.why_not()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
