"""Sealed data at rest: a private data folder, every field about a person sealed, values bound to their row."""

from __future__ import annotations

import io
import os
import stat

from PIL import Image

from conftest import bearer
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
