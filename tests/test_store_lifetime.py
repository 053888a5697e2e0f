"""A Database that nothing uses any more is freed, with its engines, caches and in-memory services."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from helpers import PASSWORD
from tipline.accounts import service as accounts
from tipline.capabilities import open_database
from tipline.settings import Settings
from tipline.web.app import create_app


def _used_and_dropped(settings: Settings) -> weakref.ref[object]:
    """A database opened, migrated, served by an app (its lifespan: the bank index, the analysis thread,
    the key heartbeat), written to and read through a sealed column, then closed."""
    db = open_database(settings)
    db.migrate()
    with TestClient(create_app(settings, db=db)) as client:
        accounts.create_user(db, "ana", "analyst", PASSWORD)
        assert client.get("/healthz").status_code == 200
        assert client.post("/login", data={"name": "ana", "password": PASSWORD}).status_code < 500
    db.dispose()
    return weakref.ref(db)


def test_a_database_nothing_uses_is_freed(settings: Settings) -> None:
    """The keyring registry and SQLAlchemy's event registry hold their keys weakly and their values
    strongly. Values that held the Database kept every one alive: a test process grew by about 50,000
    objects an app, until one full collection stopped a request for 25 s in CI."""
    gone = _used_and_dropped(settings)
    gc.collect()
    assert gone() is None, [type(r).__name__ for r in gc.get_referrers(gone())]
