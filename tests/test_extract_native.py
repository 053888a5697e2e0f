"""The extractor's compiled modules (mypyc, ``make native``): used when built from these sources, the same
results as the pure Python ones, and left alone once a source changes."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tipline.extract import extract, native, normalise
from tipline.extract import phones as phones_module
from tipline.synth import generate_world
from tipline.synth.hard import hard_corpus

pytestmark = pytest.mark.slow

_CC = (sysconfig.get_config_var("CC") or "cc").split()[0]
_NO_COMPILER = shutil.which(_CC) is None
_SCRIPT = """
import json, sys
from tipline.extract import extract, native, normalise
cases = json.load(open(sys.argv[1]))
out = {"status": native.STATUS, "found": [], "normalised": []}
for text, country, language, hints in cases["texts"]:
    out["found"].append([[f.kind, f.value, f.start, f.end, f.confidence, f.raw, f.disguise,
                          [list(a) for a in f.alternatives]]
                         for f in extract(text, country=country, language=language, hints=tuple(hints))])
for kind, raw, country in cases["values"]:
    out["normalised"].append(normalise(kind, raw, country=country))
json.dump(out, open(sys.argv[2], "w"))
"""


def _fuzz_texts(rng: random.Random, n: int) -> list[str]:
    """Texts of digits, number words, separators, look-alike letters, at/dot words, Unicode digits and
    invisible characters in random order: the forms where a compiled module could part from Python."""
    pieces = [
        "0917", "123", "4567", "+63", "+39", "333", "00", "nine", "uno", "siyam", "double", "O", "l", "I",
        " ", "-", ".", "(", ")", "\n", ",", "/", "@", " at ", " dot ", "[.]", "hxxp://", "www.", ".com", "t.me/",
        "skype:", "telegram", "@pinay_live", "\u200b", "\u202e", "\uff10\uff19", "\u0661\u0662", "1\ufe0f\u20e3",
        "İ", "ſ", "ı", "€", "$", "order #", "14 anni", "Philippines", "Italia", "wa.me/", "kik:", "snap ",
    ]  # fmt: skip
    return ["".join(rng.choice(pieces) for _ in range(rng.randrange(3, 40))) for _ in range(n)]


def _cases() -> dict[str, list]:
    rng = random.Random(13)
    texts: list[list] = []
    for h in hard_corpus(seed=5, n=400):
        texts.append([h.text, h.country, h.language, []])
    world = generate_world(seed=7, n_reports=150)
    for r in world.reports:
        texts.append([r.text, r.country, r.language, ["PH"] if rng.random() < 0.3 else []])
    for t in _fuzz_texts(rng, 600):
        texts.append([t, rng.choice([None, "IT", "PH", "US", "GB"]), rng.choice([None, "en", "it", "tl"]), []])
    values = [
        ["phone", "+63 917 123 4567", None],
        ["phone", "0917 123 4567", "PH"],
        ["phone", "333 123 4567", "IT"],
        ["phone", "nine one seven", "PH"],
        ["whatsapp", "wa.me/639171234567", None],
        ["email", "mia at example dot com", None],
        ["url", "hxxps://example[.]com/x", None],
        ["domain", "example.co.uk", None],
        ["telegram", "@manila_vip_shows", None],
        ["account", "camchatlive/mia", None],
        ["phone", None, "IT"],  # a JSON null where a value was expected
        ["email", "", None],
    ]
    return {"texts": texts, "values": values}


def _run(cases_file: Path, out_file: Path, *, pure: bool, pythonpath: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop(native.ENV_PURE, None)
    if pure:
        env[native.ENV_PURE] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    subprocess.run([sys.executable, "-c", _SCRIPT, str(cases_file), str(out_file)], env=env, check=True, timeout=600)
    return json.loads(out_file.read_text())


@pytest.mark.skipif(_NO_COMPILER, reason="no C compiler: the pure Python extractor runs (make native said so)")
def test_the_compiled_modules_are_in_use_after_make_native():
    # `make test` builds them first; a failed build is a lost speed-up that this test makes visible
    assert native.why_not() is None, native.why_not()
    assert native.STATUS.startswith("compiled")
    assert phones_module.__file__ is not None
    assert phones_module.__file__.endswith(native.EXT_SUFFIX)


def test_compiled_and_pure_python_give_the_same_results(tmp_path):
    cases = _cases()
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    pure = _run(cases_file, tmp_path / "pure.json", pure=True)
    assert pure["status"].startswith("pure Python")
    here = _run(cases_file, tmp_path / "here.json", pure=False)
    assert here["status"] == native.STATUS
    assert len(pure["found"]) == len(cases["texts"])
    for case, a, b in zip(cases["texts"], pure["found"], here["found"], strict=True):
        assert a == b, case[0]
    assert pure["normalised"] == here["normalised"]
    assert any(pure["found"]) and any(v is not None for v in pure["normalised"])
    # and in this process, what the rest of the suite runs
    first = cases["texts"][0]
    assert [
        [f.kind, f.value, f.start, f.end]
        for f in extract(first[0], country=first[1], language=first[2], hints=tuple(first[3]))
    ] == [x[:4] for x in here["found"][0]]
    assert normalise("phone", "0917 123 4567", country="PH") == "+639171234567"
    # callers with looser types than the annotations (a list of hints, a null value) as before compiling
    assert [f.value for f in extract("call 0917 123 4567", hints=["PH"])] == ["+639171234567"]
    assert normalise("phone", None) is None


@pytest.mark.skipif(_NO_COMPILER, reason="no C compiler: nothing compiled to go stale")
def test_a_changed_source_runs_as_python_until_rebuilt(tmp_path):
    assert native.why_not() is None, native.why_not()
    package = native.PACKAGE_DIR.parent  # src/tipline
    copy = tmp_path / "src" / "tipline"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "cases.json").write_text(json.dumps({"texts": [["call 0917 123 4567", "PH", "en", []]], "values": []}))
    same = _run(tmp_path / "cases.json", tmp_path / "a.json", pure=False, pythonpath=str(tmp_path / "src"))
    assert same["status"].startswith("compiled")
    with open(copy / "extract" / "phones.py", "a") as f:
        f.write("\n# an edit after the build\n")
    edited = _run(tmp_path / "cases.json", tmp_path / "b.json", pure=False, pythonpath=str(tmp_path / "src"))
    assert edited["status"].startswith("pure Python: the sources")
    assert edited["found"] == same["found"]
    assert same["found"][0][0][:2] == ["phone", "+639171234567"]
