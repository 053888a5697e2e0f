"""Checksum validation (and, for tests and synthetic data, encoding) of wallet and onion addresses.

Everything here is pure Python on top of ``base58``, ``hashlib`` and pycryptodome's Keccak; nothing
touches the network.

* Bitcoin base58check (P2PKH version 0x00, P2SH 0x05) and bech32 / bech32m (BIP-173 / BIP-350).
* Ethereum EIP-55 mixed-case checksum (Keccak-256 of the lower-case hex).
* Monero standard / subaddress / integrated addresses: Monero's block base58 and the Keccak-256
  checksum over the decoded bytes.
* Tron base58check with version byte 0x41.
* Tor v3 onion service names (SHA3-256 checksum, version byte 3).
"""

from __future__ import annotations

import base64
import hashlib

import base58
from Crypto.Hash import keccak

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}


def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 (as used by Ethereum and Monero), not NIST SHA3-256."""
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


# --------------------------------------------------------------------------- base58check


def b58check_payload(s: str) -> bytes | None:
    """Decoded payload (version byte included) of a base58check string, or None if invalid."""
    try:
        return base58.b58decode_check(s)
    except ValueError:
        return None


def is_btc_base58(s: str) -> bool:
    if not 26 <= len(s) <= 35 or s[0] not in "13":
        return False
    payload = b58check_payload(s)
    return payload is not None and len(payload) == 21 and payload[0] in (0x00, 0x05)


def is_trx(s: str) -> bool:
    if len(s) != 34 or s[0] != "T":
        return False
    payload = b58check_payload(s)
    return payload is not None and len(payload) == 21 and payload[0] == 0x41


# --------------------------------------------------------------------------- bech32 (BIP-173/350)

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(BECH32_CHARSET)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: list[int] | bytes, frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or value >> frombits:
            return None
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return out


def segwit_decode(addr: str, hrp: str = "bc") -> tuple[int, bytes] | None:
    """(witness version, program) of a segwit address, checksum and BIP-350 rules verified."""
    if addr.lower() != addr and addr.upper() != addr:
        return None
    addr = addr.lower()
    pos = addr.rfind("1")
    if pos < 1 or pos + 7 > len(addr) or len(addr) > 90 or addr[:pos] != hrp:
        return None
    try:
        data = [_BECH32_INDEX[c] for c in addr[pos + 1 :]]
    except KeyError:
        return None
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        return None
    data = data[:-6]
    if not data:
        return None
    version = data[0]
    prog = _convertbits(data[1:], 5, 8, False)
    if prog is None or not 2 <= len(prog) <= 40 or version > 16:
        return None
    if version == 0 and (len(prog) not in (20, 32) or const != _BECH32_CONST):
        return None
    if version != 0 and const != _BECH32M_CONST:
        return None
    return version, bytes(prog)


def segwit_encode(version: int, program: bytes, hrp: str = "bc") -> str:
    """Encode a segwit address (bech32 for v0, bech32m for v1+). Used for synthetic test data."""
    data = [version] + (_convertbits(program, 8, 5, True) or [])
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    poly = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in data + checksum)


def normalise_btc(s: str) -> str | None:
    if s[:3].lower() == "bc1":
        return s.lower() if segwit_decode(s) else None
    return s if is_btc_base58(s) else None


# --------------------------------------------------------------------------- Ethereum EIP-55


def eip55(addr: str) -> str:
    """EIP-55 checksummed form of a 0x-prefixed 40-hex-digit address."""
    hexpart = addr[2:].lower()
    digest = keccak256(hexpart.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(hexpart))


def eth_check(addr: str) -> tuple[str, float] | None:
    """(EIP-55 form, confidence) or None. Mixed case must match the checksum."""
    if len(addr) != 42 or addr[:2] not in ("0x", "0X"):
        return None
    body = addr[2:]
    try:
        int(body, 16)
    except ValueError:
        return None
    if body == body.lower() or body == body.upper():
        # All one case carries no checksum: plausible but unverified.
        if len(set(body.lower())) < 4:  # 0x000...0, 0xffff... are not addresses people send
            return None
        return eip55("0x" + body), 0.75
    good = eip55("0x" + body)
    if good[2:] != body:
        return None
    return good, 0.99


# --------------------------------------------------------------------------- Monero

_XMR_FULL_BLOCK = 8
_XMR_FULL_ENC = 11
_XMR_ENC_SIZES = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_XMR_DEC_SIZES = {enc: dec for dec, enc in enumerate(_XMR_ENC_SIZES)}
# network byte -> expected decoded length (mainnet)
_XMR_NETBYTES = {0x12: 69, 0x2A: 69, 0x13: 77}


def xmr_b58decode(s: str) -> bytes | None:
    out = bytearray()
    for i in range(0, len(s), _XMR_FULL_ENC):
        block = s[i : i + _XMR_FULL_ENC]
        size = _XMR_DEC_SIZES.get(len(block))
        if size is None:
            return None
        num = 0
        for c in block:
            d = _B58_INDEX.get(c)
            if d is None:
                return None
            num = num * 58 + d
        if num >> (8 * size):
            return None
        out += num.to_bytes(size, "big")
    return bytes(out)


def xmr_b58encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data), _XMR_FULL_BLOCK):
        block = data[i : i + _XMR_FULL_BLOCK]
        num = int.from_bytes(block, "big")
        chars = []
        for _ in range(_XMR_ENC_SIZES[len(block)]):
            num, r = divmod(num, 58)
            chars.append(B58_ALPHABET[r])
        out.append("".join(reversed(chars)))
    return "".join(out)


def xmr_encode(netbyte: int, body: bytes) -> str:
    """Monero address from network byte and keys (+payment id). Used for synthetic test data."""
    raw = bytes([netbyte]) + body
    return xmr_b58encode(raw + keccak256(raw)[:4])


def is_xmr(s: str) -> bool:
    if len(s) not in (95, 106) or s[0] not in "48":
        return False
    raw = xmr_b58decode(s)
    if raw is None or len(raw) != _XMR_NETBYTES.get(raw[0], -1):
        return False
    return keccak256(raw[:-4])[:4] == raw[-4:]


# --------------------------------------------------------------------------- Tor onion v3


def onion_v3_valid(label: str) -> bool:
    """Checksum of a 56-character v3 onion label (without ``.onion``)."""
    try:
        raw = base64.b32decode(label.upper())
    except ValueError:
        return False
    if len(raw) != 35 or raw[34] != 3:
        return False
    pubkey, checksum = raw[:32], raw[32:34]
    return hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2] == checksum


def onion_v3_encode(pubkey: bytes) -> str:
    """``<56 chars>.onion`` for a 32-byte key. Used for synthetic test data."""
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
    return base64.b32encode(pubkey + checksum + b"\x03").decode("ascii").lower() + ".onion"
