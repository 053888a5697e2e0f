"""Conformance test every door passes (``tipline.intake.door``): its example becomes a report of its
source that intake stores and analyses; bad bodies are refused with DoorError and a message that says
what to do, never another exception; a door that needs its platform says so."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.capabilities import doors
from tipline.intake import service as intake
from tipline.intake.door import Door, DoorError, PlainTextDoor
from tipline.reports import service as reports
from tipline.store import Database

DOORS = {d.name: d for d in doors()}


def test_names_are_unique_and_the_naive_reference_is_there() -> None:
    assert len(DOORS) == len(doors()) and isinstance(DOORS["text"], PlainTextDoor)
    assert {"text", "public-form", "platform-json", "panic-button", "cybertip-xml"} <= set(DOORS)


@pytest.mark.parametrize("name", sorted(DOORS))
def test_the_example_is_stored_and_analysed(sqlite_db: Database, name: str) -> None:
    door: Door = DOORS[name]
    accounts.create_platform(sqlite_db, "ExamplePlatform") if door.needs_platform else None
    pid = 1 if door.needs_platform else None
    report = door.read(door.example(), platform_id=pid, platform_name="ExamplePlatform" if pid else None)
    assert report.source == door.source
    rid = intake.submit_report(sqlite_db, report).report_id
    if report.open_submission:  # the CyberTipline door's submissions wait for /ispws/finish
        intake.finish_submission(sqlite_db, rid, platform_id=pid)
    out = reports.get_report(sqlite_db, rid, viewer=accounts.create_user(sqlite_db, "ana", "analyst", PASSWORD))
    assert out.source == door.source and out.priority in (1, 2, 3, 4)


@pytest.mark.parametrize("name", sorted(DOORS))
def test_bad_bodies_are_refused_with_a_message(name: str) -> None:
    bad = [b"", b" \n ", b"\xff\xfe\x00 not text"]
    if name != "text":  # structured doors: also what is not their structure (plain text takes any text)
        bad += [b"{", b"[]", b"<report>", b"{}", b"just words"]
        bad += [b'{"n": ' + b"9" * 5000 + b"}", b"[" * 100_000]  # a number Python will not read, deep nesting
    for body in bad:
        with pytest.raises(DoorError) as e:
            DOORS[name].read(body, platform_id=1, platform_name="ExamplePlatform")
        assert str(e.value), body
        if body.startswith(b"\xff"):
            assert "UTF-8" in str(e.value) and "not JSON" not in str(e.value), str(e.value)
        if body.startswith(b'{"n"') and DOORS[name].example().lstrip().startswith(b"{"):  # the JSON doors
            assert "a number has more than 4,300 digits" in str(e.value), str(e.value)


@pytest.mark.parametrize("name", sorted(n for n, d in DOORS.items() if d.needs_platform and n != "cybertip-xml"))
def test_a_platform_door_needs_its_platform(name: str) -> None:
    with pytest.raises(DoorError, match="platform"):
        DOORS[name].read(DOORS[name].example())


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300))
def test_no_door_raises_anything_but_door_error(body: bytes) -> None:
    for door in DOORS.values():
        try:
            door.read(body, platform_id=1, platform_name="ExamplePlatform")
        except DoorError:
            pass
