"""Partner formats a referral package can carry: one small interface, a naive reference, a registry.

A referral package (``tipline.routing.referral.build``) always holds ``referral.json`` (the whole
snapshot), ``summary.pdf``, ``README.txt`` and ``manifest.json``; its *format* adds the documents a
partner's own system reads (CyberTipline XML, a STIX bundle, a MISP event). Each format is a
:class:`ReferralFormat`; :data:`REFERRAL_FORMATS` lists them (names unique, checked at import of this
module, not filled by other modules). ``tests/test_referral_formats.py`` is the conformance test every
format passes.

Why an interface: formats are where partners differ, and a new partner (an NGO's case system, a police
unit's import) is one class here. Don'ts for an implementation:

- do not read the database or the network: everything is in the :class:`Snapshot` (built in one
  transaction, with what may leave the hotline already chosen: no reporter contact);
- do not add what the snapshot withholds, and do not undo its defanging;
- give the same documents for the same snapshot (their bytes may differ only by generated ids: STIX and
  MISP objects get fresh UUIDs; the package's digest is taken once, when it is recorded);
- put documents under a folder named after the format (``stix/bundle.json``), never at the root;
- refuse what the format cannot carry with :class:`FormatError` and a message that says what to do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from tipline.routing.formats import FormatError, Snapshot, canonical_json, cybertip_xml, misp_event, stix_bundle


class ReferralFormat(ABC):
    """One partner format: its name (as agencies list it in ``formats``) and its documents."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def documents(self, snap: Snapshot) -> list[tuple[str, bytes]]:
        """The documents this format adds to the package: (path inside the zip, bytes)."""


class PackageOnly(ReferralFormat):
    """The naive reference: no partner document, only what every package holds."""

    name = "package"
    description = "referral.json, summary.pdf and the manifest only"

    def documents(self, snap: Snapshot) -> list[tuple[str, bytes]]:
        return []


class IdentifierList(ReferralFormat):
    """A second trivial format: the identifiers as canonical JSON (what any partner can import)."""

    name = "identifiers"
    description = "the identifiers with the reports that name them, as one JSON document"

    def documents(self, snap: Snapshot) -> list[tuple[str, bytes]]:
        return [("identifiers/identifiers.json", canonical_json({"reference": snap.reference, "items": snap.entities}))]


class CybertipXml(ReferralFormat):
    name = "cybertip"
    description = "one CyberTipline <report> XML per report, validated against NCMEC's schema"

    def documents(self, snap: Snapshot) -> list[tuple[str, bytes]]:
        return [(f"cybertip/report-{r['id']}.xml", cybertip_xml(snap, r)) for r in snap.reports]


class StixBundle(ReferralFormat):
    name = "stix"
    description = "a STIX 2.1 bundle (observables, locations, a note), marked with the TLP"

    def documents(self, snap: Snapshot) -> list[tuple[str, bytes]]:
        return [("stix/bundle.json", stix_bundle(snap))]


class MispEvent(ReferralFormat):
    name = "misp"
    description = "a MISP event (MISP JSON, built offline)"

    def documents(self, snap: Snapshot) -> list[tuple[str, bytes]]:
        return [("misp/event.json", misp_event(snap))]


def _registry(*formats: ReferralFormat) -> dict[str, ReferralFormat]:
    out: dict[str, ReferralFormat] = {}
    for f in formats:
        if f.name in out:
            raise ValueError(f"two referral formats are named {f.name!r}")
        out[f.name] = f
    return out


REFERRAL_FORMATS: dict[str, ReferralFormat] = _registry(
    PackageOnly(), CybertipXml(), StixBundle(), MispEvent(), IdentifierList()
)

__all__ = ["REFERRAL_FORMATS", "FormatError", "ReferralFormat"]
