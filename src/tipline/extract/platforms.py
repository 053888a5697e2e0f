"""Platform names and their aliases (``platforms.toml``), so that one platform typed several ways is one
platform: "CamChatLive (videochat)", "camchatlive" and "CamChat Live" are all ``camchatlive``; "IG",
"insta" and "Instagram" are all ``instagram``.

    >>> canonical_platform("CamChatLive (videochat)"), canonical_platform("CamChat Live")
    ('camchatlive', 'camchatlive')
    >>> canonical_platform("IG")
    'instagram'
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    kind: str | None  # a tipline entity kind of its own (telegram, skype, ...) or None: ``account``
    aliases: tuple[str, ...]
    weak: frozenset[str]  # aliases too common to be cues in free text ("line", "of", "x")
    cues: tuple[str, ...]
    domains: tuple[str, ...]


@lru_cache(maxsize=1)
def platforms() -> dict[str, Platform]:
    data = tomllib.loads(resources.files("tipline.extract").joinpath("platforms.toml").read_text("utf-8"))
    out = {}
    for pid, d in data.items():
        out[pid] = Platform(
            pid,
            d.get("name", pid),
            d.get("kind"),
            tuple(d.get("aliases", [pid])),
            frozenset(d.get("weak", [])),
            tuple(d.get("cues", [])),
            tuple(d.get("domains", [])),
        )
    return out


_BRACKETED = re.compile(r"\s*[\(\[\{][^)\]\}]*[\)\]\}]\s*")
_SQUASH = re.compile(r"[\s._\-·]+")


def squash(name: str) -> str:
    """The lookup key of a platform name: no bracketed qualifier, lower case, no spaces, dots, hyphens."""
    s = _BRACKETED.sub(" ", name).strip() or name
    return _SQUASH.sub("", s.lower())


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    idx: dict[str, str] = {}
    for p in platforms().values():
        idx[squash(p.id)] = p.id
        idx[squash(p.name)] = p.id
        for a in p.aliases:
            idx.setdefault(squash(a), p.id)
        for d in p.domains:
            idx.setdefault(squash(d), p.id)
    return idx


@lru_cache(maxsize=4096)
def canonical_platform(name: str | None) -> str:
    """The platform id of a name as typed: a listed platform's id, else the squashed name itself (so
    every spelling of an unlisted platform is still one id), or ``unknown`` when empty."""
    if not name or not name.strip():
        return UNKNOWN
    key = squash(name)
    if not key:
        return UNKNOWN
    return _alias_index().get(key, key)


@lru_cache(maxsize=1)
def _host_index() -> dict[str, str]:
    return {d: p.id for p in platforms().values() for d in p.domains}


def platform_of_host(host: str) -> str | None:
    """The platform id whose profile links live on ``host`` (``www.``/``m.`` and sub-domains ignored)."""
    h = host.lower().strip(".")
    idx = _host_index()
    while h:
        if h in idx:
            return idx[h]
        if "." not in h:
            return None
        h = h.split(".", 1)[1]
    return None


def cue_alternatives() -> dict[str, str]:
    """Group name -> regex alternation of the cue words of each platform (its non-weak aliases and cues).
    The group name is the platform's own entity kind, or its id."""
    out: dict[str, str] = {}
    for p in platforms().values():
        words = [a for a in p.aliases if a not in p.weak and "." not in a] + list(p.cues)
        if not words:
            continue
        alts = sorted({re.escape(w).replace(r"\ ", r"\s?").replace(r"\-", r"[\s-]?") for w in words}, key=len)
        out[p.kind or p.id] = "|".join(reversed(alts))
    return out
