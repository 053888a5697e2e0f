"""Sealed data at rest: a private data folder, every field about a person sealed, values bound to their row."""

from __future__ import annotations

import io
import os
import stat

import pytest
from PIL import Image

from helpers import bearer
from tipline.settings import Settings
from tipline.store import Database


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 30, 200)).save(buf, "PNG")
    return buf.getvalue()


def _modes(root) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    out["."] = stat.S_IMODE(os.stat(root).st_mode)
    return out


def test_data_folder_and_its_files_are_owner_only(tmp_path):  # type: ignore[no-untyped-def]
    """Database (with its WAL and shared-memory files), keys, media, secrets: 0700 folders, 0600 files,
    with the usual umask 022 and while the server holds the database open."""
    from fastapi.testclient import TestClient

    from tipline.accounts import service as accounts
    from tipline.web.app import create_app

    old = os.umask(0o022)
    try:
        settings = Settings(data_dir=tmp_path / "data")
        with TestClient(create_app(settings)) as client:
            db: Database = client.app.state.db  # type: ignore[attr-defined]
            creds = accounts.create_platform(db, "ExampleChat")
            body = {"report_id": "p1", "category": "child_sex_trafficking", "text": "room 12, phone 0917 555 0142"}
            r = client.post("/api/v1/reports", json=body, headers=bearer(creds.api_key))
            assert r.status_code == 201, r.text
            rid = r.json()["id"]
            r = client.post(
                f"/api/v1/reports/{rid}/files",
                files={"file": ("a.png", _png(), "image/png")},
                headers=bearer(creds.api_key),
            )
            assert r.status_code in (200, 201), r.text
            modes = _modes(settings.data_dir)
        # every kind of file the data folder holds is there, so the check below covers them
        assert {"tipline.db", "tipline.db-wal", "tipline.db-shm", "keys", "media"} <= set(modes), sorted(modes)
        assert any(k.startswith("keys/master-") for k in modes) and any(k.endswith(".bin") for k in modes)
        loose = {k: oct(m) for k, m in modes.items() if m & 0o077}
        assert not loose, f"readable by others than the service user: {loose}"
    finally:
        os.umask(old)


def test_an_existing_data_folder_is_tightened_at_start(tmp_path):  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "tipline.db").touch()
    (data / "tipline.db").chmod(0o644)
    settings = Settings(data_dir=data)
    settings.ensure_data_dir()
    db = Database.from_settings(settings)
    db.migrate()
    db.dispose()
    modes = _modes(data)
    assert modes["."] == 0o700 and modes["tipline.db"] == 0o600, {k: oct(v) for k, v in modes.items()}


# ------------------------------------------------------------------------------------------ row binding (item 5)

# the sealed columns that migration 0007 found (persons, details and file names were sealed later)
SEALED_BY_0007 = [
    ("reports", "text"),
    ("reports", "contact_sealed"),
    ("report_notes", "body"),
    ("followups", "body"),
    ("users", "totp_secret_sealed"),
]
SEALED_CELLS = [
    *SEALED_BY_0007,
    ("reports", "persons"),
    ("reports", "details"),
    ("attachments", "filename"),
    ("attachments", "details"),
]


def _world(db: Database) -> dict[tuple[str, str], list[int]]:
    """Three reports (text, contact), notes and messages on each, three users with TOTP secrets, and three
    platform reports (persons, details, files) stored in one batch, as bulk import and the door store them."""
    from tipline.accounts import service as accounts
    from tipline.intake.schemas import FileIn, PersonIn, ReportIn, Source
    from tipline.intake.service import add_followup, submit_many, submit_report
    from tipline.store.models import ReportNote

    cells: dict[tuple[str, str], list[int]] = {k: [] for k in SEALED_CELLS}
    for i, who in enumerate(["w-ana", "w-sup", "w-adm"]):
        p = accounts.create_user(db, who, ["analyst", "supervisor", "admin"][i], "correct horse battery staple")
        accounts.start_enrolment(db, p.id)
        cells[("users", "totp_secret_sealed")].append(p.id)
    for i in range(3):
        rid = submit_report(
            db,
            ReportIn(source=Source.PUBLIC, text=f"report {i}: a room in Cebu", contact={"email": f"r{i}@example.org"}),
        ).report_id
        cells[("reports", "text")].append(rid)
        cells[("reports", "contact_sealed")].append(rid)
        add_followup(db, rid, f"more about report {i}")
        with db.session() as s:
            note = ReportNote(report_id=rid, body=f"note on report {i}")
            s.add(note)
            s.flush()
            cells[("report_notes", "body")].append(note.id)
    platform = accounts.create_platform(db, "Sealing batch")
    batch = [
        ReportIn(
            source=Source.PLATFORM,
            platform_id=platform.id,
            external_id=f"batch-{i}",
            text=f"batch report {i}",
            persons=[PersonIn(name=f"Person {i}")],
            details={"account": f"user{i}"},
            files=[FileIn(filename=f"f{i}-{j}.jpg", sha256=f"{i}{j}" * 32, details={"n": j}) for j in range(2)],
        )
        for i in range(3)
    ]
    assert submit_many(db, batch) == (3, 0)
    with db.reader() as s:
        from sqlalchemy import text as sql

        ids = list(s.execute(sql("SELECT id FROM reports WHERE platform_id = :p ORDER BY id"), {"p": platform.id}))
        cells[("reports", "persons")] = cells[("reports", "details")] = [i for (i,) in ids]
        files = list(s.execute(sql("SELECT id FROM attachments ORDER BY id")).scalars())
        cells[("attachments", "filename")] = cells[("attachments", "details")] = files
        cells[("followups", "body")] = list(s.execute(sql("SELECT id FROM followups ORDER BY id")).scalars())
    return cells


def _raw(db: Database, table: str, col: str, row: int) -> bytes:
    from sqlalchemy import LargeBinary, column, select, type_coerce
    from sqlalchemy import table as table_

    t = table_(table, column("id"), column(col))
    with db.reader() as s:
        return bytes(s.execute(select(type_coerce(t.c[col], LargeBinary)).where(t.c.id == row)).scalar_one())


def _put(db: Database, table: str, col: str, row: int, blob: bytes) -> None:
    from sqlalchemy import LargeBinary, column, literal, update
    from sqlalchemy import table as table_

    t = table_(table, column("id"), column(col))
    with db.session() as s:
        s.execute(update(t).where(t.c.id == row).values({col: literal(blob, LargeBinary)}))


def _read(db: Database, table: str, col: str, row: int) -> object:
    """The value as the services read it: the row through the ORM."""
    import tipline.all_models  # noqa: F401 - every capability's tables
    from tipline.store.models import Base

    cls = next(m.class_ for m in Base.registry.mappers if m.local_table.name == table)
    with db.reader() as s:
        return getattr(s.get(cls, row), col)


def test_every_sealed_value_is_bound_to_its_row_and_column(db):  # type: ignore[no-untyped-def]
    """Copy a sealed value into another row or column (hypothesis picks which): every read is refused with a
    clear error, never shown; the original values still read back."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tipline.crypto import MovedValueError

    cells = _world(db)
    every = [(t, c, r) for (t, c), rows in cells.items() for r in rows]
    original = {cell: _raw(db, *cell) for cell in every}
    plain = {cell: _read(db, *cell) for cell in every}
    assert all(v for v in plain.values())

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(every), st.sampled_from(every))
    def moved_value_is_refused(src, dst):  # type: ignore[no-untyped-def]
        if src == dst:
            return
        _put(db, *dst, original[src])
        try:
            with pytest.raises(MovedValueError, match="altered or moved|not bound to its row"):
                _read(db, *dst)
        finally:
            _put(db, *dst, original[dst])
        assert _read(db, *dst) == plain[dst]

    moved_value_is_refused()


def test_swapped_report_texts_give_a_clear_error_on_the_api(client, db, analyst_token):  # type: ignore[no-untyped-def]
    cells = _world(db)
    a, b = cells[("reports", "text")][:2]
    blob_a, blob_b = _raw(db, "reports", "text", a), _raw(db, "reports", "text", b)
    _put(db, "reports", "text", a, blob_b)
    _put(db, "reports", "text", b, blob_a)
    for rid in (a, b):
        r = client.get(f"/api/v1/reports/{rid}", headers=bearer(analyst_token))
        assert r.status_code == 500
        assert "altered or moved" in r.json()["detail"] and "Cebu" not in r.text


def test_older_column_bound_values_are_resealed_by_the_migration(db):  # type: ignore[no-untyped-def]
    """Values sealed before row binding (version 2) are re-sealed by migration 0007, on both databases."""
    from alembic import command
    from alembic.config import Config

    from tipline.store.db import MIGRATIONS_DIR

    cells = _world(db)
    every = [(t, c, r) for (t, c), rows in cells.items() for r in rows if (t, c) in SEALED_BY_0007]
    plain = {cell: _read(db, *cell) for cell in every}
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = db.write_engine
    command.downgrade(cfg, "0006")
    assert all(_raw(db, *cell)[:1] == b"\x02" for cell in every)  # as an older version left them
    from sqlalchemy import select

    from tipline.store.models import Report

    with pytest.raises(Exception, match="not bound to its row"), db.reader() as s:
        s.execute(select(Report.text).where(Report.id == cells[("reports", "text")][0])).all()
    command.upgrade(cfg, "head")
    assert all(_raw(db, *cell)[:1] == b"\x03" for cell in every)
    assert {cell: _read(db, *cell) for cell in every} == plain


# ------------------------------------------------------------------------------------------ person fields (item 4)

CT_DATA = os.path.join(os.path.dirname(__file__), "data", "cybertip")
# what the CyberTipline test documents say about people (synthetic)
PEOPLE = ["Casey", "Rex", "Sample", "Chat log captured by moderation", "White van"]
CONTACTS = ["trust-safety@esp.example.com", "host.ops@mail.example.net", "203.0.113.77", "198.51.100.23"]
FILE_NAME = "IMG_0615.jpg"
API_PEOPLE = ["Mariposa Dela Cruz", "Tomas Ilagan"]


def _raw_cells(db: Database, tables: list[str]) -> str:
    """Every cell of ``tables`` as the database holds it (blobs as latin-1 text, so nothing is decoded)."""
    from sqlalchemy import text as sql

    out = []
    with db.reader() as s:
        for t in tables:
            for row in s.execute(sql(f"SELECT * FROM {t}")):  # noqa: S608 - fixed table names
                for v in row:
                    out.append(bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v))
    return "\n".join(out)


def test_cybertip_documents_and_person_names_are_sealed(client, db, platform, analyst_token):  # type: ignore[no-untyped-def]
    """A CyberTipline report (names, narratives, e-mails, IPs, file details) and a JSON report's person
    names: nothing of them in clear in the database, all of it back through the API."""
    from pathlib import Path

    from tipline.store.models import ReportNote  # noqa: F401 - tables of every capability below

    rich = Path(CT_DATA, "rich_report.xml").read_bytes()
    xml = {"Content-Type": "text/xml; charset=utf-8"}
    auth = (platform.username, platform.password)
    r = client.post("/ispws/submit", content=rich, headers=xml, auth=auth)
    assert r.status_code == 200, r.text
    ct_id = int(r.text.split("<reportId>")[1].split("<")[0])
    up = client.post(
        "/ispws/upload", data={"id": str(ct_id)}, files={"file": (FILE_NAME, b"synthetic test file")}, auth=auth
    )
    file_id = up.text.split("<fileId>")[1].split("<")[0]
    details = Path(CT_DATA, "file_details.xml").read_text()
    details = details.replace("<reportId>1</reportId>", f"<reportId>{ct_id}</reportId>")
    details = details.replace("<fileId>1</fileId>", f"<fileId>{file_id}</fileId>")
    assert client.post("/ispws/fileinfo", content=details.encode(), headers=xml, auth=auth).status_code == 200
    assert client.post("/ispws/finish", data={"id": str(ct_id)}, auth=auth).status_code == 200
    body = {
        "report_id": "people-1",
        "category": "child_sex_trafficking",
        "text": "a live show was offered",
        "reported_persons": [{"name": API_PEOPLE[0]}],
        "victims": [{"name": API_PEOPLE[1], "age": 13}],
    }
    api_id = client.post("/api/v1/reports", json=body, headers=bearer(platform.api_key)).json()["id"]

    at_rest = _raw_cells(db, ["reports", "attachments"])
    for needle in [*PEOPLE, *CONTACTS, FILE_NAME, *API_PEOPLE]:
        assert needle not in at_rest, f"{needle!r} is in clear in reports/attachments"
    import tipline.all_models  # noqa: F401
    from tipline.store.models import Base

    everywhere = _raw_cells(db, [t.name for t in Base.metadata.sorted_tables])
    for needle in [*PEOPLE, *API_PEOPLE]:  # names and narratives nowhere (identifiers stay, see README)
        assert needle not in everywhere, f"{needle!r} is in clear somewhere in the database"

    h = bearer(analyst_token)
    ct = client.get(f"/api/v1/reports/{ct_id}", headers=h).json()
    assert "Rex" in str(ct["persons"]) and "203.0.113.77" in str(ct["details"])
    assert any(a.get("filename") == FILE_NAME for a in ct["files"]), ct["files"]
    api = client.get(f"/api/v1/reports/{api_id}", headers=h).json()
    assert {p.get("name") for p in api["persons"]} == set(API_PEOPLE)


def test_a_moved_value_gives_a_clear_page_to_staff_never_the_value(client, db):  # type: ignore[no-untyped-def]
    from tipline.accounts import service as accounts

    cells = _world(db)
    a, b = cells[("reports", "text")][:2]
    _put(db, "reports", "text", a, _raw(db, "reports", "text", b))
    accounts.create_user(db, "page-ana", "analyst", "correct horse battery staple")
    import re

    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    data = {"name": "page-ana", "password": "correct horse battery staple"}
    if token:
        data["csrf_token"] = token.group(1)
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(f"/reports/{a}", headers={"accept": "text/html"})
    assert page.status_code == 500
    assert "Stored data could not be opened" in page.text and "report 1" not in page.text
    it = client.get(f"/reports/{a}?lang=it", headers={"accept": "text/html"})
    assert "Non è stato possibile aprire i dati conservati" in it.text
    assert client.get(f"/reports/{b}", headers={"accept": "text/html"}).status_code == 200  # the other still opens
