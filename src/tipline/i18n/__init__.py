"""Languages of the user interface: which one a request gets, and the gettext catalogues.

- **Negotiation** (:func:`negotiate`): ``?lang=it|en`` (the language switch; the page then sets the
  ``tipline_lang`` cookie, for the browser session only), else that cookie, else the browser's
  ``Accept-Language`` (matched with :meth:`babel.Locale.negotiate`, so ``it-IT`` gets ``it``), else English.
- **Catalogues**: the committed ``locale/<lang>/LC_MESSAGES/messages.po`` files. They are compiled in
  memory (``read_po`` → ``write_mo`` → :class:`gettext.GNUTranslations`) the first time a language is
  used and cached for the life of the process: there is no ``.mo`` build step, and fuzzy entries are
  never used. ``python -m tipline.i18n.catalog update`` adds new messages from the source;
  ``… check`` (and ``tests/test_i18n.py``) fails when a message lacks a translation.
- **Reuse**: :func:`gettext_for` gives any front end (pages, CLI, e-mails) a ``_`` for a language;
  :mod:`tipline.i18n.labels` has the translated names of categories, statuses and the like.

Adding a language: add it to :data:`LANGUAGES`, run ``python -m tipline.i18n.catalog update <code>``,
translate the new ``.po`` file, run the tests.
"""

from __future__ import annotations

import functools
import gettext
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

# language code -> its own name (what the language switch shows)
LANGUAGES: dict[str, str] = {"en": "English", "it": "Italiano"}
DEFAULT_LANGUAGE = "en"
LANG_PARAM = "lang"
LANG_COOKIE = "tipline_lang"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).with_name("locale")

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def supported(lang: str | None) -> str | None:
    """The supported language a tag names (``it``, ``IT``, ``it-IT``, ``it_CH`` → ``it``), else None."""
    if not lang or len(lang) > 35 or not _TAG.match(lang):
        return None
    base = lang.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


@functools.cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue of a supported language (compiled once per process)."""
    code = supported(lang)
    if code is None:
        raise ValueError(f"unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}")
    with po_path(code).open("rb") as f:
        catalog = read_po(f, locale=code, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_for(lang: str | None) -> Callable[[str], str]:
    """``_`` for a language (an unsupported or empty one gets English)."""
    return translations(supported(lang) or DEFAULT_LANGUAGE).gettext


def ngettext_for(lang: str | None) -> Callable[[str, str, int], str]:
    return translations(supported(lang) or DEFAULT_LANGUAGE).ngettext


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an ``Accept-Language`` header, most wanted first (q=0 and ``*`` dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for i, part in enumerate(header[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not _TAG.match(tag):
            continue
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            weighted.append((-q, i, tag))
    return [tag for _, _, tag in sorted(weighted)]


def from_accept_language(header: str | None) -> str | None:
    """The best supported language for an ``Accept-Language`` header, or None."""
    prefs = parse_accept_language(header)
    if not prefs:
        return None
    found = Locale.negotiate(prefs, list(LANGUAGES), sep="-")
    if found is None:
        # Babel matches "it-IT" to "it" but not "it_IT" or odd casing; try the bare language too
        for tag in prefs:
            code = supported(tag)
            if code:
                return code
        return None
    return str(found.language)


def requested(conn: HTTPConnection) -> str | None:
    """The language asked for explicitly with ``?lang=`` (the switch), if it is supported."""
    return supported(conn.query_params.get(LANG_PARAM))


def negotiate(conn: HTTPConnection) -> str:
    """The language of a request: ``?lang=``, else the ``tipline_lang`` cookie, else ``Accept-Language``,
    else English."""
    return (
        requested(conn)
        or supported(conn.cookies.get(LANG_COOKIE))
        or from_accept_language(conn.headers.get("accept-language"))
        or DEFAULT_LANGUAGE
    )


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANG_COOKIE",
    "LANG_PARAM",
    "from_accept_language",
    "gettext_for",
    "negotiate",
    "ngettext_for",
    "parse_accept_language",
    "po_path",
    "requested",
    "supported",
    "translations",
]
