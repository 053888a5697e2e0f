"""tipline.extract.normalise: one normal form per kind for values from structured fields; None when
the value is not a valid value of that kind. All values are synthetic."""

from __future__ import annotations

import random

import base58
import pytest
from schwifty import IBAN

from tipline.extract import KINDS, normalise
from tipline.extract.crypto import eip55, onion_v3_encode, segwit_encode, xmr_encode

RNG = random.Random(7)
P2PKH = base58.b58encode_check(b"\x00" + RNG.randbytes(20)).decode()
P2SH = base58.b58encode_check(b"\x05" + RNG.randbytes(20)).decode()
WRONG_VERSION = base58.b58encode_check(b"\x30" + RNG.randbytes(20)).decode()  # Litecoin-style 'L...'
BECH32 = segwit_encode(0, RNG.randbytes(20))
ETH = eip55("0x" + RNG.randbytes(20).hex())
XMR = xmr_encode(0x12, RNG.randbytes(64))
TRX = base58.b58encode_check(b"\x41" + RNG.randbytes(20)).decode()
ONION = onion_v3_encode(RNG.randbytes(32))
IBAN_IT = IBAN.generate("IT", bank_code="05428", branch_code="11101", account_code="000000123456").compact


CASES: list[tuple[str, str, str | None, dict]] = [
    # phone
    ("phone", "+63 917 123 4567", "+639171234567", {}),
    ("phone", "0063-917-123-4567", "+639171234567", {}),
    ("phone", "0917 123 4567", "+639171234567", {"country": "PH"}),
    ("phone", "0917 123 4567", None, {}),  # national format and no country: cannot know
    ("phone", "tel:+393391234567", "+393391234567", {}),
    ("phone", "O917 l23 4567", "+639171234567", {"country": "ph"}),
    ("phone", "zero nine one seven one two three four five six seven", "+639171234567", {"country": "PH"}),
    ("phone", "12345", None, {"country": "PH"}),
    ("phone", "call me maybe", None, {"country": "PH"}),
    ("phone", "0917 123 4567 ext", None, {"country": "PH"}),
    ("whatsapp", "wa.me/639171234567", "+639171234567", {}),
    ("whatsapp", "https://api.whatsapp.com/send?phone=639171234567", "+639171234567", {}),
    ("whatsapp", "0917-123-4567", "+639171234567", {"country": "PH"}),
    ("whatsapp", "wa.me/12", None, {}),
    # email
    ("email", "Anna.K@Gmail.com", "anna.k@gmail.com", {}),
    ("email", "anna.k [at] gmail [dot] com", "anna.k@gmail.com", {}),
    ("email", "mario chiocciola libero punto it", "mario@libero.it", {}),
    ("email", "anna@localhost", None, {}),
    ("email", "not an email", None, {}),
    ("email", "a@b.notatld", None, {}),
    # url
    ("url", "HTTPS://Example.COM/Path/X?q=1#frag", "https://example.com/Path/X?q=1", {}),
    ("url", "example.com/a", "http://example.com/a", {}),
    ("url", "hxxp://example[.]org", "http://example.org/", {}),
    ("url", "http://203.0.113.9:8080/x", "http://203.0.113.9:8080/x", {}),
    ("url", "http://nowhere.invalidtld/", None, {}),
    ("url", "javascript:alert(1)", None, {}),
    ("url", "two words.com", None, {}),
    # domain
    ("domain", "WWW.Example.co.uk", "example.co.uk", {}),
    ("domain", "https://live.example.com/x", "example.com", {}),
    ("domain", "anna@example.org", "example.org", {}),
    ("domain", "example[.]net", "example.net", {}),
    ("domain", "co.uk", None, {}),
    ("domain", "localhost", None, {}),
    ("domain", "1.2.3.4", None, {}),
    # ip
    ("ipv4", "203.0.113.7", "203.0.113.7", {}),
    ("ipv4", "203.0.113[.]7", "203.0.113.7", {}),
    ("ipv4", "256.1.1.1", None, {}),
    ("ipv4", "2001:db8::1", None, {}),
    ("ipv6", "2001:DB8:0:0:0:0:0:1", "2001:db8::1", {}),
    ("ipv6", "[2001:db8::1]", "2001:db8::1", {}),
    ("ipv6", "2001:db8::g", None, {}),
    # onion
    ("onion", ONION.upper(), ONION, {}),
    ("onion", "http://" + ONION + "/", ONION, {}),
    ("onion", ONION[:-7] + ("a" if ONION[-7] != "a" else "b") + ".onion", None, {}),
    ("onion", "expyuzz4wqqyqhjn.onion", "expyuzz4wqqyqhjn.onion", {}),
    ("onion", "example.onion", None, {}),
    # btc
    ("btc", P2PKH, P2PKH, {}),
    ("btc", P2SH, P2SH, {}),
    ("btc", BECH32.upper(), BECH32, {}),
    ("btc", WRONG_VERSION, None, {}),
    ("btc", P2PKH[:-1] + ("2" if P2PKH[-1] != "2" else "3"), None, {}),
    ("btc", "bc1" + "q" * 39, None, {}),
    # eth
    ("eth", ETH.lower(), ETH, {}),
    ("eth", ETH, ETH, {}),
    ("eth", "0x" + "0" * 40, None, {}),
    ("eth", "0x12345", None, {}),
    ("eth", "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", None, {}),  # EIP-55 vector with one case flipped
    # xmr / trx
    ("xmr", XMR, XMR, {}),
    ("xmr", XMR[:20] + ("2" if XMR[20] != "2" else "3") + XMR[21:], None, {}),
    ("xmr", "4" * 95, None, {}),
    ("trx", TRX, TRX, {}),
    ("trx", P2PKH, None, {}),
    # handles
    ("telegram", "@Anna_Rose22", "anna_rose22", {}),
    ("telegram", "https://t.me/Anna_Rose22", "anna_rose22", {}),
    ("telegram", "abc", None, {}),
    ("telegram", "9starts_with_digit", None, {}),
    ("skype", "live:.cid.3abcfeb6f884b2dc", "live:.cid.3abcfeb6f884b2dc", {}),
    ("skype", "skype:John.Doe77?call", "john.doe77", {}),
    ("skype", "Maria.Santos88", "maria.santos88", {}),
    ("skype", "ab", None, {}),
    ("snapchat", "@Jane.Doe", "jane.doe", {}),
    ("snapchat", "https://www.snapchat.com/add/Mika_22", "mika_22", {}),
    ("snapchat", "x", None, {}),
    ("kik", "Bobby99", "bobby99", {}),
    ("kik", "kik.me/carlo_x", "carlo_x", {}),
    ("kik", "has space", None, {}),
    ("discord", "Cool_Guy.PH", "cool_guy.ph", {}),
    ("discord", "Foo#1234", "Foo#1234", {}),
    ("discord", "https://discord.gg/AbCd12", "discord.gg/AbCd12", {}),
    ("discord", "discord.com/invite/Xy7Zab", "discord.gg/Xy7Zab", {}),
    ("discord", "bad..name", None, {}),
    # iban / mtcn
    ("iban", " ".join(IBAN_IT[i : i + 4] for i in range(0, len(IBAN_IT), 4)).lower(), IBAN_IT, {}),
    ("iban", "IBAN: " + IBAN_IT, IBAN_IT, {}),
    ("iban", IBAN_IT[:-1] + ("0" if IBAN_IT[-1] != "0" else "1"), None, {}),
    ("iban", "XX00 1234", None, {}),
    ("mtcn", "123-456-7890", "1234567890", {}),
    ("mtcn", "MTCN: 123 456 7890", "1234567890", {}),
    ("mtcn", "12345", None, {}),
    ("account", "Instagram/Sweet.Pinay09", "instagram/sweet.pinay09", {}),
    ("account", "@sweetpinay_live23", "unknown/sweetpinay_live23", {}),
    ("account", "two words", None, {}),
]


@pytest.mark.parametrize(("kind", "raw", "expected", "kw"), CASES)
def test_normalise(kind: str, raw: str, expected: str | None, kw: dict) -> None:
    assert normalise(kind, raw, **kw) == expected


def test_every_kind_is_covered() -> None:
    assert {k for k, *_ in CASES} == set(KINDS)
    for kind in KINDS:
        assert any(k == kind and e is not None for k, _, e, _ in CASES)
        assert any(k == kind and e is None for k, _, e, _ in CASES)


def test_normalise_is_idempotent() -> None:
    for kind, raw, expected, kw in CASES:
        if expected is not None:
            assert normalise(kind, expected, **kw) == expected, (kind, raw)


def test_normalise_blank_and_unknown_kind() -> None:
    for kind in KINDS:
        assert normalise(kind, "") is None
        assert normalise(kind, "   ") is None
    with pytest.raises(ValueError):
        normalise("instagram", "anna")
