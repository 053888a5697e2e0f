"""Keep the ``.po`` catalogues in step with the source (messages extracted with Babel).

    python -m tipline.i18n.catalog update [LANG ...]   # add new messages, drop removed ones
    python -m tipline.i18n.catalog check               # exit 1 and list problems, as the tests do

``update`` never invents translations, except for English (the source language), whose entries are
filled with the message itself so that the English wording can later be changed in ``en`` alone.
New messages are never matched "fuzzily" to old ones: a half-right translation is worse than none.
"""

from __future__ import annotations

import copy
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from tipline import __version__
from tipline.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, po_path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/tipline: babel.cfg paths are relative to it
BABEL_CFG = Path(__file__).with_name("babel.cfg")
KEYWORDS = dict(DEFAULT_KEYWORDS)
COMMENT_TAGS = ("TRANSLATORS:",)


def extract() -> Catalog:
    """Every translatable message in the templates and Python files named by ``babel.cfg``."""
    with BABEL_CFG.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(BABEL_CFG))
    template = Catalog(project="tipline", version=__version__, domain=DOMAIN, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        PACKAGE_DIR, method_map, options_map, keywords=KEYWORDS, comment_tags=COMMENT_TAGS, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def _where(msg: object) -> str:
    locations = getattr(msg, "locations", ())
    return ", ".join(f"{fn}:{ln}" if ln else fn for fn, ln in locations) or "?"


def _untranslated(msg: Any) -> bool:
    return not msg.string or (isinstance(msg.string, tuple | list) and not all(msg.string))


def check(lang: str, template: Catalog | None = None) -> list[str]:
    """Problems of one language's catalogue: missing, empty, fuzzy, stale or malformed entries."""
    template = template if template is not None else extract()
    path = po_path(lang)
    if not path.exists():
        return [f"{lang}: no catalogue at {path} (run: python -m tipline.i18n.catalog update {lang})"]
    po = _read(lang)
    problems: list[str] = []
    for msg in template:
        if not msg.id:
            continue
        found = po.get(msg.id, context=msg.context)
        if found is None:
            problems.append(f"{lang}: no entry for {msg.id!r} ({_where(msg)})")
        elif found.fuzzy:
            problems.append(f"{lang}: fuzzy entry for {msg.id!r}")
        elif _untranslated(found):
            problems.append(f"{lang}: empty translation of {msg.id!r} ({_where(msg)})")
    for msg in po:
        if msg.id and template.get(msg.id, context=msg.context) is None:
            problems.append(f"{lang}: stale entry {msg.id!r} (no longer in the source; run update)")
    for msg in po.obsolete.values():
        problems.append(f"{lang}: obsolete entry {msg.id!r} (run update)")
    for msg, errors in po.check():
        for err in errors:
            problems.append(f"{lang}: {msg.id!r}: {err}")
    if po.fuzzy:
        problems.append(f"{lang}: the catalogue header is marked fuzzy")
    return problems


def update(lang: str, template: Catalog | None = None) -> int:
    """Merge the extracted messages into one language's ``.po``; returns how many still lack a translation."""
    # Catalog.update may adopt the template's message objects: work on a copy
    template = copy.deepcopy(template) if template is not None else extract()
    path = po_path(lang)
    if path.exists():
        po = _read(lang)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        po = Catalog(
            locale=lang,
            domain=DOMAIN,
            project="tipline",
            version=__version__,
            copyright_holder="the tipline contributors",
            msgid_bugs_address="",
            header_comment=f"# {LANGUAGES.get(lang, lang)} catalogue of tipline's user interface.\n"
            "# Translate the msgstr lines. `python -m tipline.i18n.catalog update` adds new messages;\n"
            "# `python -m tipline.i18n.catalog check` (and tests/test_i18n.py) lists what is missing.",
            last_translator="tipline contributors",
            language_team=f"{LANGUAGES.get(lang, lang)} <translations@tipline.invalid>",
            revision_date=datetime.now(UTC),
            fuzzy=False,
        )
    po.update(template, no_fuzzy_matching=True, update_creation_date=False)
    po.fuzzy = False
    missing = 0
    for msg in po:
        if not msg.id:
            continue
        if lang == DEFAULT_LANGUAGE and _untranslated(msg):
            msg.string = tuple(msg.id) if isinstance(msg.id, tuple | list) else msg.id
        if _untranslated(msg):
            missing += 1
    with path.open("wb") as f:
        write_po(f, po, width=100, ignore_obsolete=True, include_lineno=False)
    return missing


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("update", "check"):
        print(__doc__)
        return 2
    langs = args[1:] or list(LANGUAGES)
    template = extract()
    if args[0] == "update":
        for lang in langs:
            missing = update(lang, template)
            print(f"{po_path(lang)}: {len(template)} messages, {missing} without translation")
        return 0
    problems = [p for lang in langs for p in check(lang, template)]
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
