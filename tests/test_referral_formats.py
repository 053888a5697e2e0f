"""Conformance test every referral format passes (``tipline.routing.referral_formats``): documents under
its own folder, the same documents for the same snapshot, nothing the snapshot withholds, carried into
the package and its manifest; the naive reference (``package``) adds nothing and the plain identifier
list says exactly what the snapshot holds."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tipline.intake import service as intake
from tipline.intake.schemas import Category, ContactIn, PublicReportIn
from tipline.routing import agencies
from tipline.routing import referral as ref
from tipline.routing.formats import Snapshot
from tipline.routing.referral_formats import REFERRAL_FORMATS, PackageOnly, ReferralFormat
from tipline.store import Database

SECRETS = (b"Rita Reporter", b"rita@example.org", b"333 1234567")


@pytest.fixture
def snap(sqlite_db: Database) -> Snapshot:
    rid = intake.submit_report(
        sqlite_db,
        PublicReportIn(
            category=Category.CHILD_SEX_TRAFFICKING,
            text="Girls offered at +63 917 123 4567 and https://rooms.example-live.com.ph/vip/a1",
            country="PH",
            victim_age=14,
            contact=ContactIn(name="Rita Reporter", email="rita@example.org", phone="+39 333 1234567"),
        ).to_report(),
    ).report_id
    return ref.gather(sqlite_db, report_id=rid, agency_id="ph-picacc", created_by="analyst")


def test_the_registry_is_what_agencies_and_referrals_accept() -> None:
    assert tuple(REFERRAL_FORMATS) == agencies.FORMATS == ref.FORMATS
    assert all(isinstance(f, ReferralFormat) and REFERRAL_FORMATS[f.name] is f for f in REFERRAL_FORMATS.values())
    assert isinstance(REFERRAL_FORMATS["package"], PackageOnly)


@pytest.mark.parametrize("name", sorted(REFERRAL_FORMATS))
def test_every_format_conforms(snap: Snapshot, name: str) -> None:
    fmt = REFERRAL_FORMATS[name]
    assert fmt.description and fmt.name == name
    docs = fmt.documents(snap)
    assert [p for p, _ in docs] == [p for p, _ in fmt.documents(snap)]  # the same documents (STIX/MISP ids vary)
    paths = [p for p, _ in docs]
    assert len(set(paths)) == len(paths)
    for path, data in docs:
        assert path.startswith(f"{name}/") and ".." not in path.split("/") and isinstance(data, bytes) and data
        for secret in SECRETS:
            assert secret not in data
    with zipfile.ZipFile(io.BytesIO(ref.build(snap, name).data)) as z:
        inside = {i.filename: z.read(i) for i in z.infolist()}
    assert {"referral.json", "summary.pdf", "README.txt", "manifest.json"} <= set(inside)
    assert set(paths) <= set(inside) and all(inside[p] for p in paths)
    listed = {f["name"] for f in json.loads(inside["manifest.json"])["files"]}
    assert set(paths) <= listed


def test_the_naive_formats_say_exactly_what_the_snapshot_holds(snap: Snapshot) -> None:
    assert REFERRAL_FORMATS["package"].documents(snap) == []
    [(path, data)] = REFERRAL_FORMATS["identifiers"].documents(snap)
    doc = json.loads(data)
    assert doc["reference"] == snap.reference and doc["items"] == json.loads(json.dumps(snap.entities, default=str))
    assert {"phone", "url"} <= {e["kind"] for e in doc["items"]}
