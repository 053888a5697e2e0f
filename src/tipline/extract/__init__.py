"""Find every identifier a report names: phones, e-mails, URLs, domains, IPs, onion services, crypto
wallets, messaging handles, IBANs and Western Union MTCNs.

    >>> from tipline.extract import extract
    >>> [(f.kind, f.value) for f in extract("tawagan mo ako 0917 123 4567", country="PH")]
    [('phone', '+639171234567')]

Every :class:`Found` carries its span in the *original* text (``text[f.start:f.end] == f.raw``), also
when the value was read through a rewrite (defanged ``example[.]com``, spelled-out digits, ``at``/``dot``
e-mails).

Order and masking
-----------------
Extractors run from the most specific kind to the least, and each masks the characters it takes so
that a later, vaguer extractor does not read them again: IBAN -> wallets (eth, btc, xmr, trx) -> URLs
with a scheme or ``www.`` -> onion names -> e-mails -> bare domains / scheme-less URLs -> spelled-out
domains ("example dot com") -> IPv4/IPv6 -> handles after cue words -> MTCN (cued) -> phones ->
WhatsApp attribution. So an MTCN, an IBAN's
digits, an e-mail's local part, a wallet or an IP is never also a phone, and a URL's host is not an
e-mail. Exceptions (entities that share characters on purpose): a URL also yields its ``domain`` (or
``ipv4``/``ipv6``/``onion`` host); ``wa.me/<digits>`` yields ``whatsapp`` and ``phone``; a phone with a
WhatsApp cue yields ``phone`` and ``whatsapp``. Links to the messaging services themselves
(:data:`MESSAGING_DOMAINS`: t.me, telegram.me, wa.me, discord.gg, snapchat.com, kik.me, …) yield the
handle only, never a ``domain``.

Confidence scale
----------------
* **0.95-1.0** checksum-verified (IBAN, BTC base58check/bech32, EIP-55 mixed-case ETH, Monero, Tron,
  onion v3) or explicitly formatted (``https://`` URL, plain ``a@b.com``, a phone written with ``+``/``00``).
* **0.85-0.9** explicit but unverified: a phone valid in the *stated* country, a defanged URL/e-mail/IP,
  ``@name`` after a platform cue, a link-derived handle, a cued MTCN.
* **0.7-0.85** obfuscated but structured: ``name @ domain . com``, disguised phones (spelled-out digits,
  letter swaps) valid in the stated country or written internationally, ETH in one case (no
  checksum), ``telegram: name``.
* **0.4-0.6** heuristics and fallbacks: a phone valid only in a *fallback* region (from ``language`` or the
  defaults) is capped at 0.5 (0.4-0.45); bare domains in prose (0.45-0.7); a handle after a cue with no
  separator but a digit/``_``/``.`` in it (0.6); a plain-word handle after a possessive cue ("my kik
  annasmith", 0.4).
* **0.3** onion v2 names (16 chars, no checksum).

Phones in detail: written with ``+``/``00`` 0.95 (0.85-0.9 when disguised or odd-spaced); valid in the
stated ``country`` 0.9 (0.8 disguised); valid only in a fallback region 0.5 (0.4 disguised). See
:mod:`tipline.extract.phones` for the region policy and the three phases.

Normal forms
------------
phone/whatsapp E.164; email lower-case; url ``scheme://host/path?query`` (host lower-case, path case
kept, fragment dropped, ``http://`` added when missing, empty path -> ``/``); domain the registered
domain (bundled public-suffix list, ICANN section only); ipv4/ipv6 ``ipaddress`` compressed form; onion
``<label>.onion`` lower-case; btc base58 as written / bech32 lower-case; eth EIP-55; xmr and trx as
written; telegram/skype/snapchat/kik lower-case without ``@`` (a Telegram group invite ``t.me/+<code>``
or ``t.me/addlist/<code>``, code as written, ``joinchat/<code>`` read as ``+<code>``); discord new-style
usernames lower-case,
legacy tags ``Name#1234`` as written, invites ``discord.gg/<code>``; iban compact upper-case; mtcn the
10 digits; account ``<platform id>/<name>`` lower-case, the platform id from ``platforms.toml`` (one id
however the platform is typed, ``unknown`` for a bare ``@name`` with no platform named near it).

Handles: ``@name`` (platform from the nearest cue word, else ``unknown``), ``platform: name`` and
``name on platform`` (on/su/sa/en/em/sur/auf), profile links of the platforms in ``platforms.toml``
(Telegram, WhatsApp, Skype, Snapchat, Kik, Discord, Instagram, Facebook, TikTok, X, OnlyFans, Line,
WeChat, Viber, Signal, ...), and the payment apps whose names ads ask to be paid on: Cash App cashtags
(``$name`` after a Cash App cue, ``cash.app/$name``), Venmo (``venmo.com/u/name``, ``@name`` after
"venmo"), PayPal (``paypal.me/name``).
"""

from __future__ import annotations

from . import native

# first: the compiled extraction modules, when built from these very sources (speed only; see
# tipline.extract.native)
native.use_compiled(__path__)

from .found import Found
from .handles import account_for
from .network import MESSAGING_DOMAINS
from .pipeline import extract, normalise
from .text import DISGUISES, KINDS

__all__ = ["extract", "normalise", "account_for", "Found", "KINDS", "DISGUISES", "MESSAGING_DOMAINS"]
