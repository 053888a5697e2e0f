"""tipline's STIX 2.1 extensions: what STIX has no object for travels as objects a partner can parse.

- ``phone-number`` and ``pdq-hash``: new cyber-observables (``new-sco`` extensions). Without them phones
  and PDQ hashes could only go into free-text notes, which importers drop.
- ``account-platform``: a property extension of ``user-account`` naming the platform. STIX's
  ``account-type-ov`` has a value for three platforms only (:data:`ACCOUNT_TYPES`); an account on any
  other platform has no ``account_type`` (a value outside the vocabulary fails strict validation) and
  says its platform here.

Each extension has an ``extension-definition`` object, put in every bundle that uses it, whose ``schema``
is the JSON schema shipped in this package (``tipline/routing/stix/*.schema.json``), made by the
tipline project's identity (:data:`PROJECT_IDENTITY`). Their ids and ``created`` times never change
(a new version of a schema is a new ``version`` and ``modified``). Importing this module registers the
two observables with ``stix2``, so ``stix2.parse(..., allow_custom=False)`` reads them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import stix2
from stix2.properties import IntegerProperty, ReferenceProperty, StringProperty
from stix2.v21 import CustomObservable

PROJECT_IDENTITY_ID = "identity--0b7d1c2e-4f3a-4e5b-8c6d-1a2b3c4d5e6f"
DEFINED = datetime(2026, 12, 4, tzinfo=UTC)  # when these definitions were published (fixed)


@dataclass(frozen=True)
class Extension:
    id: str
    name: str
    kind: str  # new-sco | property-extension
    schema_file: str
    description: str


PHONE = Extension(
    "extension-definition--5a1b6c3e-9f40-4f55-8f7e-3c1a2f8d0b11",
    "phone-number",
    "new-sco",
    "phone-number.schema.json",
    "A telephone number (E.164) as a cyber-observable: STIX 2.1 has none.",
)
PDQ = Extension(
    "extension-definition--7c2d8e4f-1a52-4b66-9c8f-4d2b3e9f1c22",
    "pdq-hash",
    "new-sco",
    "pdq-hash.schema.json",
    "A PDQ perceptual hash of an image as a cyber-observable: PDQ is not a STIX hash algorithm.",
)
ACCOUNT_PLATFORM = Extension(
    "extension-definition--9e3f0a5b-2b63-4c77-8d90-5e3c4f0a2d33",
    "account-platform",
    "property-extension",
    "account-platform.schema.json",
    "The platform of a user-account whose platform has no account-type-ov value.",
)
EXTENSIONS = (PHONE, PDQ, ACCOUNT_PLATFORM)

# tipline platform id -> STIX account-type-ov value (the vocabulary's only social platforms)
ACCOUNT_TYPES = {"facebook": "facebook", "skype": "skype", "x": "twitter", "twitter": "twitter"}


def account_type(platform: str) -> str | None:
    """The ``account-type-ov`` value of a platform, or None where the vocabulary has none."""
    return ACCOUNT_TYPES.get(platform.lower())


def schema_text(ext: Extension) -> str:
    return resources.files("tipline.routing").joinpath("stix", ext.schema_file).read_text("utf-8")


@CustomObservable(
    PHONE.name,
    [("value", StringProperty(required=True)), ("country_code", StringProperty())],
    extension_name=PHONE.id,
)
class PhoneNumber:
    pass


@CustomObservable(
    PDQ.name,
    [
        ("value", StringProperty(required=True)),
        ("quality", IntegerProperty(min=0, max=100)),
        ("file_ref", ReferenceProperty(valid_types="file", spec_version="2.1")),
    ],
    extension_name=PDQ.id,
)
class PdqHash:
    pass


@functools.cache
def project_identity() -> Any:
    return stix2.Identity(
        id=PROJECT_IDENTITY_ID,
        name="tipline project",
        identity_class="organization",
        description="Publisher of tipline's STIX extension definitions.",
        created=DEFINED,
        modified=DEFINED,
    )


@functools.cache
def definition(ext: Extension) -> Any:
    """The ``extension-definition`` object of an extension (the same object in every bundle)."""
    schema = schema_text(ext)
    json.loads(schema)  # a broken shipped schema fails here, not at a partner
    return stix2.ExtensionDefinition(
        id=ext.id,
        created_by_ref=PROJECT_IDENTITY_ID,
        created=DEFINED,
        modified=DEFINED,
        name=ext.name,
        description=ext.description,
        schema=schema,
        version="1.0.0",
        extension_types=[ext.kind],
        external_references=[
            {"source_name": "tipline", "description": f"JSON schema shipped as tipline/routing/stix/{ext.schema_file}"}
        ],
    )


def platform_extension(platform: str) -> dict[str, Any]:
    return {ACCOUNT_PLATFORM.id: {"extension_type": "property-extension", "platform": platform}}
