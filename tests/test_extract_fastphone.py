"""``tipline.extract.fastphone`` against ``phonenumbers`` itself: the same E.164 answer (or none) for
random and structured digit runs in every region ``phonenumbers`` supports, and hand-picked cases.

A larger run than the suite's (for example 170,000 strings):

    PYTHONPATH=src .venv/bin/python tests/test_extract_fastphone.py 170000
"""

from __future__ import annotations

import random
import sys

import phonenumbers
import pytest

from tipline.extract.fastphone import reference_e164, valid_e164
from tipline.extract.phones import DEFAULT_FALLBACK, LANGUAGE_REGIONS, _parse

# the regions the scanner reads in most (evidence, languages, defaults), then all the others
MAIN = sorted({"IT", "PH", "US", "GB", "CA", "TH", "ES", "MX", "CO", "AU", "DE", "FR", "ID", "VN", "BR", "RU", "KZ"})
MAIN = sorted(set(MAIN) | set(DEFAULT_FALLBACK) | {r for rs in LANGUAGE_REGIONS.values() for r in rs})
ALL = sorted(phonenumbers.SUPPORTED_REGIONS)
_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.VOIP,
)


def _examples(region: str) -> list[tuple[str, str]]:
    """(national significant number, country code) of the region's example numbers."""
    out = []
    for t in _TYPES:
        n = phonenumbers.example_number_for_type(region, t)
        if n is not None:
            out.append((phonenumbers.national_significant_number(n), str(n.country_code)))
    return out


def _mutate(rng: random.Random, s: str) -> str:
    """One digit changed, dropped or added (or none)."""
    k = rng.randrange(len(s) + 1)
    op = rng.randrange(4)
    if op == 0 and k < len(s):
        return s[:k] + str(rng.randrange(10)) + s[k + 1 :]
    if op == 1 and k < len(s) and len(s) > 4:
        return s[:k] + s[k + 1 :]
    if op == 2:
        return s[:k] + str(rng.randrange(10)) + s[k:]
    return s


def cases(rng: random.Random, region: str) -> list[tuple[str, str | None]]:
    """(digits, region) pairs: random runs, and the region's example numbers written nationally (with and
    without the national prefix), with the country code but no "+", after the international prefix, with
    "+", each sometimes with a digit changed, dropped or added."""
    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    out: list[tuple[str, str | None]] = []
    for _ in range(3):
        n = rng.randrange(4, 18)
        out.append(("".join(str(rng.randrange(10)) for _ in range(n)), region))
    out.append(("+" + "".join(str(rng.randrange(10)) for _ in range(rng.randrange(4, 17))), None))
    for nsn, cc in _examples(region):
        nsn = _mutate(rng, nsn)
        forms = [nsn, cc + nsn, (md.national_prefix or "") + nsn, "00" + cc + nsn, "011" + cc + nsn]
        for f in forms:
            out.append((f, region))
        out.append(("+" + cc + nsn, None))
        out.append(("+" + cc + nsn, region))
    return out


def mismatches(
    n: int, seed: int, regions: list[str] = ALL
) -> tuple[int, int, list[tuple[str, str | None, str | None]]]:
    """How many strings were compared, how many of them are valid numbers, and the ones where fastphone
    and phonenumbers differ."""
    rng = random.Random(seed)
    bad = []
    count = valid = 0
    while count < n:
        for digits, region in cases(rng, rng.choice(regions)):
            count += 1
            fast, ref = valid_e164(digits, region), reference_e164(digits, region)
            valid += ref is not None
            if fast != ref:
                bad.append((digits, region, fast, ref))
    return count, valid, bad


def test_random_and_structured_runs_of_every_region_read_as_phonenumbers_reads_them():
    total = valid = 0
    bad = []
    for seed, regions in ((1, ALL), (2, MAIN)):
        n, v, b = mismatches(1000, seed, regions)
        total, valid, bad = total + n, valid + v, bad + b
    print(f"fastphone vs phonenumbers: {len(bad)} mismatches in {total} strings ({valid} valid numbers)")
    assert valid > total // 10  # the structured cases reach valid numbers, not only rejections
    assert bad == []


def test_every_supported_region_has_its_examples_read_alike():
    for region in ALL:
        for nsn, cc in _examples(region):
            for digits, r in ((nsn, region), (cc + nsn, region), ("+" + cc + nsn, None)):
                assert valid_e164(digits, r) == reference_e164(digits, r), (digits, r)


@pytest.mark.parametrize(
    "digits, region, expected",
    [
        ("2127363100", "US", "+12127363100"),  # NANPA, national form
        ("12127363100", "US", "+12127363100"),  # with the country code, no "+"
        ("6139950123", "US", "+16139950123"),  # Canadian (Ottawa) from a US reading: valid on +1
        ("1234567", "US", None),  # too short for NANPA
        ("01139333123456", "US", "+39333123456"),  # US international prefix 011
        ("0612345678", "IT", "+390612345678"),  # Rome landline: the leading 0 belongs to the number
        ("3331234567", "IT", "+393331234567"),  # Italian mobile
        ("393331234567", "IT", "+393331234567"),  # with the country code, no "+"
        ("0039333123456", "IT", "+39333123456"),
        ("09171234567", "PH", "+639171234567"),  # PH mobile with the national prefix
        ("9171234567", "PH", "+639171234567"),
        ("639171234567", "PH", "+639171234567"),
        ("07911123456", "GB", "+447911123456"),  # UK mobile, 07...
        ("7911123456", "GB", "+447911123456"),
        ("07700900123", "GB", None),  # 07700 900xxx: reserved for drama, not valid
        ("07624123456", "GB", "+447624123456"),  # Isle of Man on +44: valid at all, not for GB
        ("0917123456", "PH", None),  # one digit short
        ("091712345678", "PH", None),  # one digit too many
        ("+639171234567", None, "+639171234567"),
        ("+6391712345", None, None),  # too short
        ("+79123456789", None, "+79123456789"),  # +7: Russia
        ("+77012345678", None, "+77012345678"),  # +7: Kazakhstan, by leading digits
        ("+0123456789", "IT", None),  # "+0": no country code (parse retries without the "+")
        ("12", "IT", None),  # too short for anything
    ],
)
def test_hand_cases(digits, region, expected):
    assert reference_e164(digits, region) == expected
    assert valid_e164(digits, region) == expected


def test_scanner_parse_keeps_its_answers():
    _parse.cache_clear()
    assert _parse("09171234567", "PH") == "+639171234567"
    assert _parse("+447911123456", None) == "+447911123456"
    assert _parse("0917123456", "PH") is None


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    n1, v1, b1 = mismatches(size // 2, 11, ALL)
    n2, v2, b2 = mismatches(size - size // 2, 12, MAIN)
    print(f"fastphone vs phonenumbers: {len(b1) + len(b2)} mismatches in {n1 + n2} strings ({v1 + v2} valid numbers)")
    for row in (b1 + b2)[:20]:
        print(row)
