"""Receipts for public reporters: 16 digits shown once; only an Argon2id digest is stored.

The digest uses one installation-wide salt (kept in the database, shared by every app node) so that it
can serve as the lookup key, as GlobaLeaks does: 10^16 receipts hashed with memory-hard Argon2id are
out of reach of brute force even with the database in hand.
"""

from __future__ import annotations

import base64
import re
import secrets

from argon2.low_level import Type, hash_secret_raw
from sqlalchemy import select
from sqlalchemy.orm import Session

from tipline.store.models import InstanceMeta

RECEIPT_DIGITS = 16
_SALT_KEY = "receipt_salt"


def new_receipt() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(RECEIPT_DIGITS))


def format_receipt(receipt: str) -> str:
    return " ".join(receipt[i : i + 4] for i in range(0, len(receipt), 4))


def clean_receipt(raw: str) -> str | None:
    """The 16 digits of a receipt as typed (spaces and dashes allowed), or None if it is not one."""
    digits = re.sub(r"[\s-]", "", raw or "")
    return digits if len(digits) == RECEIPT_DIGITS and digits.isdigit() else None


def _salt(s: Session) -> bytes:
    # created by the first migration, so every node of one installation shares it
    value = s.scalar(select(InstanceMeta.value).where(InstanceMeta.key == _SALT_KEY))
    if value is None:
        raise RuntimeError("the receipt salt is missing from instance_meta: was the database migrated?")
    return base64.b64decode(value)


def receipt_lookup(s: Session, receipt: str) -> str:
    digest = hash_secret_raw(
        receipt.encode(), _salt(s), time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, type=Type.ID
    )
    return digest.hex()
