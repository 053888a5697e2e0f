"""Parse and validate a candidate digit run straight from ``phonenumbers``' own metadata.

``phonenumbers.parse`` is written for any string a person might type: it looks for the number inside
the text, strips punctuation, extensions, RFC 3966 parameters and vanity letters, then
``is_valid_number`` tries the number type patterns one by one. The phone scanner hands over only runs of
ASCII digits (an optional leading ``+``), already decoded from their disguises, in a supported region:
for those, :func:`valid_e164` follows the same steps as ``parse`` + ``is_valid_number`` (international
and national prefixes, the country code written without ``+``, the transform rules, possible lengths,
the leading digits of regions that share a country code) with ``phonenumbers``' own helpers and
metadata (the national prefix step and the length test in copies that compile or compute each
region's part once), and tests validity with one pattern per (region, length): the alternation of every
number type pattern that ``is_valid_number`` would try for that length. Anything else (letters, extensions,
other ``+`` forms, an unsupported region, very short input) goes to ``phonenumbers`` itself
(:func:`reference_e164`); ``tests/test_extract_fastphone.py`` compares the two on random and
structured numbers of every region.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY, PhoneMetadata
from phonenumbers import phonenumberutil as _pnu

_ASCII_DIGITS = re.compile(r"\+?[0-9]{4,250}")
_SUPPORTED = frozenset(phonenumbers.SUPPORTED_REGIONS)
_NOT_KEPT = (
    _pnu.ValidationResult.TOO_SHORT,
    _pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    _pnu.ValidationResult.INVALID_LENGTH,
)
_NON_GEO = REGION_CODE_FOR_NON_GEO_ENTITY
# the number types ``_number_type_helper`` tries, in its order; a match of any of them is "valid"
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


def reference_e164(number: str, region: str | None) -> str | None:
    """What the scanner asked of ``phonenumbers`` before this module: ``parse`` in ``region``, then valid
    for that region, or (where the country code is shared: +1 US/CA/..., +44 GB/GG/...) valid at all.
    The E.164 form of the number, or None."""
    try:
        n = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if region is not None:
        if phonenumbers.is_valid_number_for_region(n, region):
            return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        if len(COUNTRY_CODE_TO_REGION_CODE.get(n.country_code or 0, ())) <= 1:
            return None
    if not phonenumbers.is_valid_number(n):
        return None
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


def valid_e164(number: str, region: str | None) -> str | None:
    """The same answer as :func:`reference_e164`, without ``phonenumbers``' general string parser for
    ASCII digit runs (optionally ``+``-led) in a supported region."""
    if not _ASCII_DIGITS.fullmatch(number) or (region is None and number[0] != "+"):
        return reference_e164(number, region)
    if region is not None and region not in _SUPPORTED:
        return reference_e164(number, region)
    try:
        parsed = _parse_digits(number, region)
    except _Unhandled:
        return reference_e164(number, region)
    if parsed is None:
        return None
    cc, nsn = parsed
    if region is not None:
        if _valid_for_region(cc, nsn, region):
            return f"+{cc}{nsn}"
        if len(COUNTRY_CODE_TO_REGION_CODE.get(cc, ())) <= 1:
            return None
    return f"+{cc}{nsn}" if _valid(cc, nsn) else None


class _Unhandled(Exception):
    """A form left to ``phonenumbers.parse``."""


def _parse_digits(number: str, region: str | None) -> tuple[int, str] | None:
    """(country code, national significant number) as ``phonenumbers.parse`` gives them for a run of
    ASCII digits, None where ``parse`` raises; :class:`_Unhandled` for the forms left to ``parse``."""
    md = PhoneMetadata.metadata_for_region(region) if region is not None else None
    cc, nn = 0, ""
    if number[0] == "+":
        cc, nn = _pnu._extract_country_code(number[1:])
        if cc == 0:
            raise _Unhandled  # "+0...", an unknown code: parse retries without the "+"
    else:
        assert md is not None
        idd = _idd_pattern(md.international_prefix)
        m = idd.match(number) if idd is not None else None
        if m is not None and not number.startswith("0", m.end()):
            rest = number[m.end() :]
            if len(rest) <= _pnu._MIN_LENGTH_FOR_NSN:
                return None  # TOO_SHORT_AFTER_IDD
            cc, nn = _pnu._extract_country_code(rest)
            if cc == 0:
                return None  # INVALID_COUNTRY_CODE
        else:
            cc, nn = _own_country_code(number, md)
    if cc != 0:
        number_region = _pnu.region_code_for_country_code(cc)
        if number_region != region:
            md = PhoneMetadata.metadata_for_region_or_calling_code(cc, number_region)
    else:
        assert md is not None
        cc, nn = md.country_code or 0, number
    if md is None or cc == 0:
        raise _Unhandled
    if len(nn) < _pnu._MIN_LENGTH_FOR_NSN:
        return None
    rules = _rules(md.id, md.country_code)
    stripped = _strip_national_prefix(nn, md, rules)
    if _length_result(stripped, md, rules) not in _NOT_KEPT:
        nn = stripped
    if not _pnu._MIN_LENGTH_FOR_NSN <= len(nn) <= _pnu._MAX_LENGTH_FOR_NSN:
        return None
    return cc, nn


@lru_cache(maxsize=64)
def _idd_pattern(prefix: str | None) -> re.Pattern[str] | None:
    return re.compile(prefix) if prefix else None


def _own_country_code(number: str, md: PhoneMetadata) -> tuple[int, str]:
    """The region's own country code written without "+" ("39 333 ..." in Italy), as ``parse`` reads it:
    taken off when the rest is a national number and the whole is not (or the whole is too long)."""
    cc_str = str(md.country_code)
    if not number.startswith(cc_str):
        return 0, ""
    rest = number[len(cc_str) :]
    rules = _rules(md.id, md.country_code)
    rest = _strip_national_prefix(rest, md, rules)
    general = rules[1]
    if (
        general is not None and general.fullmatch(number) is None and general.fullmatch(rest) is not None
    ) or _length_result(number, md, rules) == _pnu.ValidationResult.TOO_LONG:
        return md.country_code or 0, rest
    return 0, ""


# (national prefix pattern, general national-number pattern, ``_test_number_length`` by length)
_Rules = tuple[re.Pattern[str] | None, re.Pattern[str] | None, tuple[int, ...] | None]


@lru_cache(maxsize=512)
def _rules(md_id: str, cc: int) -> _Rules:
    """What :func:`_strip_national_prefix` and :func:`_length_result` need of one region's metadata,
    compiled or computed once: the national prefix pattern, the general national-number pattern (None
    where there is none: nothing matches it), and ``_test_number_length`` for lengths 0 to 63 (it reads
    only the length of the number; None where it raises)."""
    md = PhoneMetadata.metadata_for_region_or_calling_code(cc, md_id)
    assert md is not None
    npp = md.national_prefix_for_parsing
    gd = md.general_desc
    general = gd.national_number_pattern if gd is not None else None
    try:
        lengths: tuple[int, ...] | None = tuple(_pnu._test_number_length("0" * n, md) for n in range(64))
    except Exception:
        lengths = None
    return (re.compile(npp) if npp else None), (re.compile(general) if general else None), lengths


def _length_result(number: str, md: PhoneMetadata, rules: _Rules) -> int:
    """``_test_number_length(number, md)``."""
    lengths = rules[2]
    if lengths is None or len(number) >= len(lengths):
        return int(_pnu._test_number_length(number, md))
    return lengths[len(number)]


def _strip_national_prefix(number: str, md: PhoneMetadata, rules: _Rules) -> str:
    """The number ``_maybe_strip_national_prefix_carrier_code(number, md)`` returns, the same steps with
    the patterns compiled once: the national prefix taken off (or transformed) unless the number matched
    the general pattern before and does not after."""
    prefix, general = rules[0], rules[1]
    if not number or prefix is None:
        return number
    m = prefix.match(number)
    if m is None:
        return number
    # (a match of the whole number with a pattern is what ``_match_national_number`` tests)
    rule = md.national_prefix_transform_rule
    if not rule or m.groups()[len(m.groups()) - 1] is None:
        after = number[m.end() :]
    else:
        after = re.sub(prefix, rule, number, count=1)
    if general is not None and general.fullmatch(after) is None and general.fullmatch(number) is not None:
        return number
    return after


def _valid_for_region(cc: int, nsn: str, region: str) -> bool:
    """``is_valid_number_for_region``."""
    md = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if md is None or (region != _NON_GEO and cc != md.country_code):
        return False
    return _type_known(nsn, md)


def _valid(cc: int, nsn: str) -> bool:
    """``is_valid_number``: the region of the number (by leading digits, or the first whose patterns
    take it, where the code is shared), then valid for that region."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if not regions:
        return False
    if len(regions) == 1:
        return _valid_for_region(cc, nsn, regions[0])
    for r in regions:
        md = PhoneMetadata.metadata_for_region(r, None)
        if md is None:
            continue
        if md.leading_digits is not None:
            if _leading(md.leading_digits).match(nsn):
                return _valid_for_region(cc, nsn, r)
        elif _type_known(nsn, md):
            return _valid_for_region(cc, nsn, r)
    return False


@lru_cache(maxsize=512)
def _leading(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_known(nsn: str, md: PhoneMetadata) -> bool:
    """``_number_type_helper(nsn, md) != UNKNOWN``, with one compiled pattern per length."""
    table = _type_table(md.id, md.country_code)
    if table is None:
        return bool(_pnu._number_type_helper(nsn, md) != phonenumbers.PhoneNumberType.UNKNOWN)
    general, by_length = table
    pattern = by_length.get(len(nsn))
    return pattern is not None and general.fullmatch(nsn) is not None and pattern.fullmatch(nsn) is not None


@lru_cache(maxsize=512)
def _type_table(md_id: str, cc: int) -> tuple[re.Pattern[str], dict[int, re.Pattern[str]]] | None:
    """(general pattern, length -> alternation of the type patterns that admit that length), or None
    where the metadata has a shape this table does not cover (``_number_type_helper`` is used then)."""
    md = PhoneMetadata.metadata_for_region_or_calling_code(cc, md_id)
    gd = md.general_desc if md is not None else None
    if md is None or gd is None or not gd.national_number_pattern or not gd.possible_length:
        return None
    descs = [getattr(md, name) for name in _TYPE_DESCS]
    if not md.same_mobile_and_fixed_line_pattern:
        descs.append(md.mobile)
    descs = [d for d in descs if d is not None and d.national_number_pattern]
    if any(re.search(r"\\\d|\(\?P", d.national_number_pattern) for d in descs):
        return None  # back-references or named groups would not survive an alternation
    by_length: dict[int, re.Pattern[str]] = {}
    for n in gd.possible_length:
        alts = [d.national_number_pattern for d in descs if not d.possible_length or n in d.possible_length]
        if alts:
            by_length[n] = re.compile("|".join(f"(?:{a})" for a in alts))
    return re.compile(gd.national_number_pattern), by_length
