"""How reporters and advertisers write identifiers in free text: disguised, spelled out, defanged.

Each ``render_*`` returns the surface string only; the caller records the normal form as ground truth.
Every surface is decodable in principle (a careful human can recover the identifier) — that is what makes
the ground truth honest. Conventions the ground truth follows (and ``tipline.extract`` should too):

* a phone written as a number (any disguise) is ``phone``; a ``wa.me/<digits>`` link is ``whatsapp`` only;
* ``t.me/<handle>`` is ``telegram`` only (not ``url``/``domain``);
* any other URL is ``url`` *and* ``domain``; a bare domain is ``domain``;
* national phone formats (leading trunk 0 or no country code) are used only when the report's stated
  country is the phone's region, so the region is recoverable from the report.
"""

from __future__ import annotations

import random

from .identifiers import phone_formats

DIGIT_WORDS = {
    "en": "zero one two three four five six seven eight nine".split(),
    "it": "zero uno due tre quattro cinque sei sette otto nove".split(),
    "tl": "sero isa dalawa tatlo apat lima anim pito walo siyam".split(),
}

PHONE_STYLES = ("plain", "separators", "spaced", "swapped", "spelled", "mixed")
#: The order a world takes the styles in (plain and separators are the commonest in real reports).
PHONE_ROTATION = ("spelled", "plain", "swapped", "separators", "mixed", "plain", "spaced", "separators")


def _groups(formatted: str) -> list[str]:
    """Split a formatted number into digit groups; a leading ``+CC`` stays one group."""
    out: list[str] = []
    cur = ""
    for ch in formatted:
        if ch.isdigit() or (ch == "+" and not cur):
            cur += ch
        elif cur:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def _spell(group: str, lang: str) -> str:
    words = DIGIT_WORDS[lang]
    if group.startswith("+"):
        return group  # the country code stays in digits: "+63 nine one seven ..."
    return " ".join(words[int(d)] for d in group)


def _swap(group: str, rng: random.Random) -> str:
    out = []
    for d in group:
        if d == "0" and rng.random() < 0.7:
            out.append(rng.choice("Oo"))
        elif d == "1" and rng.random() < 0.7:
            out.append(rng.choice("lI"))
        else:
            out.append(d)
    return "".join(out)


def render_phone(
    rng: random.Random, e164: str, lang: str, national_ok: bool, style: str | None = None
) -> tuple[str, str]:
    """(surface, style) for a phone number."""
    national, international = phone_formats(e164)
    if national_ok and rng.random() < 0.65:
        base = national
    elif rng.random() < 0.15:
        base = "00" + international[1:]
    else:
        base = international
    if base.startswith("(") or "-" in base:  # North American style: regroup as digits
        base = base.replace("(", "").replace(")", "").replace("-", " ")
    groups = _groups(base)
    style = style or rng.choices(PHONE_STYLES, weights=(3, 3, 2, 2, 2, 2))[0]
    if style == "plain":
        if rng.random() < 0.3:
            return "".join(groups), style
        return base, style
    if style == "separators":
        sep = rng.choice((".", "-", " . ", "/", " - ", "_", "~"))
        return sep.join(groups), style
    if style == "spaced":
        flat = "".join(groups)
        if flat.startswith("+"):
            cc = groups[0]
            return cc + " " + " ".join(flat[len(cc) :]), style
        return " ".join(flat), style
    if style == "swapped":
        if not any(d in "01" for g in groups[1:] for d in g) and not any(d in "01" for d in groups[0]):
            return " ".join(groups), "plain"
        sep = rng.choice((" ", "", "-", "."))
        return sep.join(g if g.startswith("+") else _swap(g, rng) for g in groups), style
    if style == "spelled":
        return ", ".join(_spell(g, lang) for g in groups) if rng.random() < 0.3 else " ".join(
            _spell(g, lang) for g in groups
        ), style
    # mixed: some groups spelled, at least one of each
    n = len(groups)
    spelled = [rng.random() < 0.5 for _ in range(n)]
    idx = [i for i in range(n) if not groups[i].startswith("+")]
    if idx and all(spelled[i] for i in idx):
        spelled[rng.choice(idx)] = False
    if idx and not any(spelled[i] for i in idx):
        spelled[rng.choice(idx)] = True
    return " ".join(_spell(g, lang) if s else g for g, s in zip(groups, spelled, strict=True)), style


EMAIL_STYLES = ("words", "plain", "bracket", "mixed", "plain")
_AT_WORD = {"en": "at", "it": "chiocciola", "tl": "at"}
_DOT_WORD = {"en": ("dot",), "it": ("punto",), "tl": ("dot", "tuldok")}


def render_email(rng: random.Random, email: str, lang: str, style: str | None = None) -> str:
    """plain ``a@b.com`` | words ``a at b dot com`` (``chiocciola``/``punto`` in Italian) |
    bracket ``a[at]b.com`` | mixed ``a [at] b [dot] com``."""
    local, _, dom = email.partition("@")
    if rng.random() < 0.25:  # odd capitals (normal form is lower case)
        local = local.capitalize()
        dom = dom.capitalize()
    style = style or rng.choice(EMAIL_STYLES)
    if style == "plain":
        return f"{local}@{dom}"
    if style == "bracket":
        return f"{local}{rng.choice(('[at]', '(at)', '[@]'))}{dom}"
    if style == "words":
        dot = rng.choice(_DOT_WORD[lang])
        return f"{local} {_AT_WORD[lang]} " + f" {dot} ".join(dom.split("."))
    return f"{local} [at] " + " [dot] ".join(dom.split("."))


def render_url(rng: random.Random, scheme: str, host: str, path: str) -> str:
    r = rng.random()
    if r < 0.6:
        return f"{scheme}://{host}{path}"
    if r < 0.8:  # defanged
        return f"{scheme.replace('tt', 'xx')}://{host.replace('.', '[.]', 1)}{path}"
    if r < 0.9:
        return f"{scheme.replace('tt', 'xx')}[://]{host}{path}"
    return f"{scheme}://{host.replace('.', '[.]')}{path}"


def render_domain(rng: random.Random, dom: str, lang: str) -> str:
    r = rng.random()
    if r < 0.6:
        return dom
    if r < 0.85:
        return dom.replace(".", "[.]")
    dot = {"en": "dot", "it": "punto", "tl": "dot"}[lang]
    return f" {dot} ".join(dom.split("."))


def render_iban(rng: random.Random, compact: str) -> str:
    r = rng.random()
    grouped = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    if r < 0.5:
        return grouped
    if r < 0.8:
        return compact
    return grouped.lower()


def render_mtcn(rng: random.Random, value: str) -> str:
    r = rng.random()
    if r < 0.4:
        return value
    if r < 0.8:
        return f"{value[:3]}-{value[3:6]}-{value[6:]}"
    return f"{value[:3]} {value[3:6]} {value[6:]}"


def render_wa(rng: random.Random, e164: str) -> str:
    link = f"wa.me/{e164[1:]}"
    return rng.choice(("https://", "", "http://")) + link


def render_telegram(rng: random.Random, h: str, lang: str) -> tuple[str, str]:
    """(phrase with its cue, the identifier as written)."""
    if rng.random() < 0.25:
        link = rng.choice(("https://t.me/", "t.me/")) + h
        return link, link
    cue = {
        "en": ("Telegram", "TG:", "telegram", "on Telegram"),
        "it": ("Telegram", "su Telegram", "TG:"),
        "tl": ("Telegram", "sa Telegram", "TG:"),
    }[lang]
    return f"{rng.choice(cue)} @{h}", f"@{h}"


_APP_CUES = {
    "skype": ("Skype:", "skype", "Skype ID"),
    "snapchat": ("Snapchat:", "snap:", "SC:"),
    "kik": ("Kik:", "kik"),
    "discord": ("Discord:", "discord"),
}


def render_app_handle(rng: random.Random, kind: str, h: str) -> tuple[str, str]:
    """(phrase with its cue, the handle as written)."""
    surface = ("@" if rng.random() < 0.3 else "") + h
    return f"{rng.choice(_APP_CUES[kind])} {surface}", surface
