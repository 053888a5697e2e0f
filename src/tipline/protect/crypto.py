"""Seal and open small secrets (reporter contact details) with AES-GCM.

The key comes from ``TIPLINE_MASTER_KEY`` (64 hex characters) or, on the embedded default, a key file
in the data folder created on first use. It never goes in the database. Sealed blobs carry a version
byte so that envelope encryption (a data key per record, wrapped by the master key) can replace this
format without a flag day.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes (64 hex characters)")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, blob: bytes, *, context: bytes = b"") -> bytes:
        if not blob or blob[:1] != VERSION:
            raise ValueError("unknown sealed-data format")
        return self._aead.decrypt(blob[1:13], blob[13:], context)
