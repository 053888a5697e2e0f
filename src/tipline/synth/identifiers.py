"""Synthetic identifiers, valid in format, built from a seeded :class:`random.Random`.

Every function takes the generator it draws from, so one seed gives one world. Nothing here names a real
person: phones are random numbers that ``phonenumbers`` accepts for their region (the hub/support numbers
come from the ranges regulators reserve for fiction), wallets and IBANs are checksummed random bytes,
domains are random labels under real public suffixes (``tldextract`` must recognise the suffix).

The ``norm_*`` helpers give the normal forms that ``tipline.extract`` produces, so a report's ground truth
can be compared with what extraction finds.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import string

import base58
import phonenumbers
import tldextract
from Crypto.Hash import keccak
from schwifty import IBAN

DIGITS = string.digits
HEX = "0123456789abcdef"

#: Fragments no generated label, handle or text may contain (checked again by the tests).
BANNED_FRAGMENTS = (
    "sex",
    "porn",
    "xxx",
    "nud",
    "naked",
    "rape",
    "nsfw",
    "pedo",
    "cum",
    "fuck",
    "anal",
    "kantot",
    "jakol",
    "hubad",
    "stupr",
    "tits",
    "dick",
    "puss",
    "slut",
    "whore",
    "erot",
    "fetish",
    "loli",
    "teen",
)


def clean(s: str) -> bool:
    low = s.lower()
    return not any(b in low for b in BANNED_FRAGMENTS)


# ------------------------------------------------------------------------------------------ hashing


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


# ------------------------------------------------------------------------------------------ phones


_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def random_mobile(rng: random.Random, region: str) -> str:
    """A random mobile number valid for ``region``, in E.164."""
    cc = phonenumbers.country_code_for_region(region)
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"no example mobile number for region {region}")
    nsn = str(example.national_number)
    for keep in (1, 2, 3, len(nsn) - 4):
        for _ in range(60):
            cand = nsn[:keep] + "".join(rng.choice(DIGITS) for _ in range(len(nsn) - keep))
            num = phonenumbers.parse(f"+{cc}{cand}")
            if phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) in _MOBILE_TYPES:
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    raise RuntimeError(f"could not draw a valid mobile number for {region}")  # pragma: no cover


def fictional_phone(rng: random.Random, region: str) -> str:
    """A number from a range reserved for drama/fiction (AU 0491 570 xxx, US 555-01xx), E.164."""
    if region == "AU":
        return f"+6149157{rng.choice(('0156', '0157', '0158', '0159', '0110', '0313', '0737'))}"
    if region == "US":
        return f"+1{rng.choice(('202', '312', '415', '646'))}55501{rng.randrange(100):02d}"
    raise ValueError(region)


def phone_region(e164: str) -> str:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    if region is None:
        raise ValueError(f"{e164} is in no region")
    return region


def phone_formats(e164: str) -> tuple[str, str]:
    """(national, international) display formats of an E.164 number."""
    num = phonenumbers.parse(e164)
    return (
        phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    )


def phone_parts(e164: str) -> tuple[str, str]:
    """("+CC", national significant number) of an E.164 number."""
    num = phonenumbers.parse(e164)
    return f"+{num.country_code}", phonenumbers.national_significant_number(num)


# ------------------------------------------------------------------------------------------ wallets


def _b58check(payload: bytes) -> str:
    return base58.b58encode_check(payload).decode("ascii")


def btc_base58(rng: random.Random) -> str:
    """P2PKH (1...) or P2SH (3...) address over 20 random bytes."""
    version = rng.choice((b"\x00", b"\x05"))
    return _b58check(version + rng.randbytes(20))


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for b in data:
        acc = (acc << frombits) | b
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (tobits - bits)) & maxv)
    return out


def bech32_verify(addr: str) -> bool:
    """BIP-173 checksum check (bech32, witness v0)."""
    addr = addr.lower()
    hrp, _, data = addr.rpartition("1")
    if not hrp or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    return _bech32_polymod(_hrp_expand(hrp) + [_BECH32.index(c) for c in data]) == 1


def btc_bech32(rng: random.Random) -> str:
    """P2WPKH address (bc1q...) over 20 random bytes, BIP-173."""
    hrp = "bc"
    data = [0] + _convertbits(rng.randbytes(20), 8, 5)
    polymod = _bech32_polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def eth_checksum(addr: str) -> str:
    """EIP-55 mixed-case checksum form of a 0x address."""
    hexpart = addr.lower().removeprefix("0x")
    digest = keccak256(hexpart.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(hexpart))


def eth_address(rng: random.Random) -> str:
    return eth_checksum("0x" + rng.randbytes(20).hex())


def trx_address(rng: random.Random) -> str:
    """TRON address: base58check of 0x41 + 20 random bytes (starts with T)."""
    return _b58check(b"\x41" + rng.randbytes(20))


_XMR_BLOCK_SIZES = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def xmr_b58encode(data: bytes) -> str:
    """Monero's block base58 (8-byte blocks -> 11 characters)."""
    out = []
    for i in range(0, len(data), 8):
        block = data[i : i + 8]
        n = int.from_bytes(block, "big")
        chars = ""
        while n:
            n, r = divmod(n, 58)
            chars = _B58[r] + chars
        out.append(chars.rjust(_XMR_BLOCK_SIZES[len(block)], "1"))
    return "".join(out)


def xmr_b58decode(s: str) -> bytes:
    out = bytearray()
    for i in range(0, len(s), 11):
        chunk = s[i : i + 11]
        size = _XMR_BLOCK_SIZES.index(len(chunk))
        n = 0
        for c in chunk:
            n = n * 58 + _B58.index(c)
        out += n.to_bytes(size, "big")
    return bytes(out)


def xmr_address(rng: random.Random) -> str:
    """Monero standard address: 0x12 + spend key + view key + keccak checksum (95 chars, starts with 4)."""
    body = b"\x12" + rng.randbytes(32) + rng.randbytes(32)
    return xmr_b58encode(body + keccak256(body)[:4])


# ------------------------------------------------------------------------------------------ money


IBAN_LAYOUT = {  # country: (bank code spec, account length); "9" digits, "A" upper-case letters
    "IT": ("9999999999", 12),
    "DE": ("99999999", 10),
    "ES": ("99999999", 10),
    "FR": ("9999999999", 11),
    "GB": ("AAAA999999", 8),
    "NL": ("AAAA", 10),
    "RO": ("AAAA", 16),
    "LT": ("99999", 11),
}


def iban(rng: random.Random, country: str) -> str:
    """An IBAN with a random (format-valid) bank code and account, electronic (compact) form."""
    spec, acc_len = IBAN_LAYOUT[country]
    while True:
        bank = "".join(rng.choice(DIGITS) if c == "9" else rng.choice(string.ascii_uppercase) for c in spec)
        if clean(bank):
            break
    account = "".join(rng.choice(DIGITS) for _ in range(acc_len))
    return IBAN.generate(country, bank_code=bank, account_code=account).compact


def mtcn(rng: random.Random) -> str:
    """A Western Union money transfer control number: 10 digits."""
    return "".join(rng.choice(DIGITS) for _ in range(10))


# ------------------------------------------------------------------------------------------ network


_AVOID_FIRST_OCTETS = {1, 3, 4, 8, 9, 13, 15, 16, 17, 18, 20, 23, 34, 35, 40, 44, 52, 54, 104, 142, 157, 172}


def public_ipv4(rng: random.Random) -> str:
    """A random global unicast IPv4 address (not private, reserved, documentation, CGNAT or multicast),
    avoiding first octets dominated by the biggest cloud and DNS providers."""
    while True:
        first = rng.randrange(1, 224)
        if first in _AVOID_FIRST_OCTETS:
            continue
        addr = ipaddress.IPv4Address(f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        if addr.is_global and not addr.is_multicast:
            return str(addr)


_WORDS = (
    "sun moon star pearl coral rose lily sky blue bright island tropic mango coco palm wave "
    "river lotus jade amber ruby ivory maple cedar orchid breeze sunset harbor bay cove "
    "lagoon reef summit valley meadow"
).split()
_SITE_WORDS = "live cam room club vibe hub video stream chat lounge studio media show spot zone link".split()
_SUFFIXES = ("com", "net", "ph", "com.ph", "it", "co.uk", "info", "xyz", "online", "site")


def rand_alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase + DIGITS) for _ in range(n))


def domain(rng: random.Random, suffixes: tuple[str, ...] = _SUFFIXES) -> str:
    """A random registrable domain under a real public suffix, e.g. ``coralroom-k3x9.com.ph``."""
    while True:
        d = f"{rng.choice(_WORDS)}{rng.choice(_SITE_WORDS)}-{rand_alnum(rng, 4)}.{rng.choice(suffixes)}"
        if clean(d):
            return d


def handle(rng: random.Random, *, sep: str = "_", min_len: int = 5) -> str:
    """A mixed-case chat handle such as ``Coral_Lounge88`` (letters first, [A-Za-z0-9_])."""
    while True:
        a, b = rng.choice(_WORDS), rng.choice(_SITE_WORDS)
        if rng.random() < 0.5:
            a, b = a.capitalize(), b.capitalize()
        tail = str(rng.randrange(1, 999)) if rng.random() < 0.8 else rand_alnum(rng, 3)
        h = f"{a}{sep if rng.random() < 0.6 else ''}{b}{tail}"
        if len(h) >= min_len and clean(h):
            return h


def email_local(rng: random.Random) -> str:
    while True:
        loc = f"{rng.choice(_WORDS)}{rng.choice(('', '_', ''))}{rng.choice(_SITE_WORDS)}{rng.randrange(1, 99)}"
        if clean(loc):
            return loc


#: Free-mail providers that do not exist (clearly fake names under real suffixes).
FAKE_MAIL_DOMAINS = ("mailbox-fake-ph.com", "inbox-test-xyz.net", "quickmail-fake.com", "posta-finta-xyz.it")


def pdq_like(rng: random.Random) -> str:
    """64 random hex digits, shaped like a PDQ hash."""
    return rng.randbytes(32).hex()


# ------------------------------------------------------------------------------------------ normal forms


@functools.lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    return tldextract.TLDExtract(suffix_list_urls=())


def norm_domain(host: str) -> str:
    """Registered domain (lower case) per the bundled public suffix list."""
    return _extractor()(host.lower()).top_domain_under_public_suffix


def norm_url(scheme: str, host: str, path: str) -> str:
    return f"{scheme.lower()}://{host.lower()}{path}"


def norm_account(platform: str, name: str) -> str:
    """``<platform id>/<name>`` as ``tipline.extract`` writes accounts (one id however the platform is typed)."""
    from tipline.extract.platforms import canonical_platform

    return f"{canonical_platform(platform)}/{name.lower()}"
