"""Jinja2 for the server-rendered pages, one environment per language.

Each supported language gets its own :class:`jinja2.Environment` with ``jinja2.ext.i18n`` and that
language's catalogue installed (new-style gettext: ``{{ _("Hello %(name)s", name=x) }}``, autoescaped,
and a literal ``%`` written ``%%``). No global or context variable carries the language, so rendering is
safe from any thread. :func:`render` picks the language (:func:`tipline.i18n.negotiate`), renders, and
sets the ``tipline_lang`` cookie when the request used the language switch (``?lang=``).

Templates live in ``tipline/web/templates``; every user-visible string in them goes through ``_()``
or ``{% trans %}`` (``tests/test_i18n.py`` checks that each has a translation).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tipline.i18n import LANG_COOKIE, LANG_PARAM, LANGUAGES, labels, negotiate, requested, translations
from tipline.intake.receipts import format_receipt

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "web" / "templates"

_LABEL_TABLES: dict[str, Mapping[str, str]] = {
    "category": labels.CATEGORY,
    "status": labels.STATUS,
    "source": labels.SOURCE,
    "classification": labels.CLASSIFICATION,
    "age_band": labels.AGE_BAND,
    "reporter_status": labels.REPORTER_STATUS,
    "reporter_status_explained": labels.REPORTER_STATUS_EXPLAINED,
    "entity_kind": labels.ENTITY_KIND,
    "role": labels.ROLE,
    "person_role": labels.PERSON_ROLE,
    "detail": labels.DETAIL,
    "disguise": labels.DISGUISE,
}


def defang(value: str | None) -> str:
    """A URL, domain or e-mail made unclickable and safe to paste: ``hxxps://example[.]com/a.b``.

    Analysts must never open abuse material by accident; the value stays readable and reversible.
    """
    if not value:
        return ""
    v = re.sub(r"^(h)tt(ps?)(?=:)", r"\1xx\2", value, flags=re.IGNORECASE)
    scheme, sep, rest = v.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        return f"{scheme}://{host.replace('.', '[.]')}{slash}{path}"
    host, slash, path = v.partition("/")
    return host.replace("@", "[@]").replace(".", "[.]") + slash + path


_URL_IN_TEXT = re.compile(r"\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[^\s<>\"']+", re.IGNORECASE)


def defang_text(text: str | None) -> str:
    """Free text with every URL in it defanged (the rest untouched): for summaries and report text."""
    if not text:
        return ""
    return _URL_IN_TEXT.sub(lambda m: defang(m.group(0)), text)


def entity_href(kind: str, value: str) -> str:
    """The staff page of an entity; the value is percent-encoded whole (slashes included)."""
    return f"/entities/{quote(kind, safe='')}/{quote(value, safe='')}"


def _dt(value: datetime | None, lang: str) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value.astimezone(UTC), "yyyy-MM-dd HH:mm 'UTC'", locale=lang)


def _local_time(value: datetime | None, lang: str) -> Markup:
    """A time for the public pages: UTC in the page, which the page's script rewrites in the reporter's own
    time zone (the browser's); without JavaScript it stays UTC, and says so."""
    if value is None:
        return Markup("")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    iso = value.astimezone(UTC).isoformat(timespec="seconds")
    return Markup('<time datetime="{}" data-local>{}</time>').format(iso, _dt(value, lang))


def _ago(value: datetime | None, lang: str, now: datetime | None = None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - (now or datetime.now(UTC))
    return format_timedelta(delta, add_direction=True, threshold=1.5, locale=lang)


@functools.cache
def environment(lang: str) -> jinja2.Environment:
    """The Jinja environment of one language (built once, templates compiled once per language)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        lang=lang,
        languages=LANGUAGES,
        label=lambda table, value: labels.label(_LABEL_TABLES[table], value, lang),
        country_name=lambda code: labels.country_name(code, lang),
        reason_label=lambda rule, description: labels.reason(rule, description, lang),
        field_words=lambda field, roles: labels.field_words(field, roles, lang),
        warning_reason=lambda reason: labels.warning_reason(reason, lang),
        countries=labels.countries(lang),
        entity_href=entity_href,
    )
    env.filters.update(
        defang=defang,
        defang_text=defang_text,
        dt=lambda v: _dt(v, lang),
        local_time=lambda v: _local_time(v, lang),
        ago=lambda v: _ago(v, lang),
        receipt=format_receipt,
        number=lambda v: format_decimal(v, locale=lang),
        urlquote=lambda v: quote(str(v), safe=""),
        label_of=lambda value, table: labels.label(_LABEL_TABLES[table], value, lang),
    )
    return env


def query_with(request: Request, **changes: Any) -> str:
    """The current path and query string with some parameters replaced (None or "" removes one)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, str(v)) for k, v in changes.items() if v is not None and v != ""]
    qs = urlencode(params)
    return request.url.path + ("?" + qs if qs else "")


def language_links(request: Request, current: str) -> list[dict[str, Any]]:
    """The language switch: one link per language, to this page in that language."""
    return [
        {"code": code, "name": name, "href": query_with(request, **{LANG_PARAM: code}), "current": code == current}
        for code, name in LANGUAGES.items()
    ]


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    no_store: bool = False,
) -> HTMLResponse:
    """Render a page in the request's language.

    ``no_store``: forbid caching (pages with a receipt, messages or staff data). The language switch
    links to the same URL with ``?lang=``; it is left out of POST results (``lang_switch`` is empty),
    which a GET cannot show again (a receipt is shown once).
    """
    lang = negotiate(request)
    is_get = request.method in ("GET", "HEAD")
    ctx: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf", None),
        "lang_switch": language_links(request, lang) if is_get else [],
        "query_with": lambda **kw: query_with(request, **kw),
    }
    ctx.update(context or {})
    html = environment(lang).get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    chosen = requested(request)
    if chosen is not None:
        response.set_cookie(
            LANG_COOKIE,
            chosen,  # a session cookie (no Max-Age): a shared device keeps no trace of the visit once closed
            path="/",
            samesite="lax",
            httponly=True,
            secure=request.url.scheme == "https",
        )
    return response
