"""The Database object: one engine per URL, sessions, migrations on first use.

SQLite (the embedded default) runs in WAL mode with foreign keys on, ``synchronous=FULL`` (an
acknowledged report survives a crash of the process and of the machine) and ``BEGIN IMMEDIATE`` for
write sessions, so concurrent writers queue on the lock instead of failing half-way. PostgreSQL is the
same code with a different URL.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from tipline.crypto import Keyring, keyring_from, register_keyring
from tipline.settings import Settings, private_dir, private_file
from tipline.store import sealing  # noqa: I001 - a submodule, no cycle

if TYPE_CHECKING:
    from tipline.capability import Capability

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
T = TypeVar("T")


def _alive(ref: weakref.ref[Database]) -> Database:
    db = ref()
    if db is None:
        raise RuntimeError("this engine's Database was closed and freed: open the database again")
    return db


class Database:
    """The store, plus the installation-wide things every service needs with it (settings, keys, the
    capabilities in use, and the in-memory services made for this database, such as the hash-bank index).

    ``capabilities`` is the tuple analysis, retention and the queue iterate; the entry points pass
    ``tipline.capabilities.CAPABILITIES`` (``tipline.capabilities.open_database``). A database opened
    without it can store and read, and refuses to analyse (it would score without the capabilities' facts).
    """

    def __init__(
        self,
        url: str,
        *,
        settings: Settings | None = None,
        echo: bool = False,
        capabilities: tuple[Capability, ...] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings if settings is not None else Settings()
        self.capabilities = capabilities
        self._resources: dict[str, Any] = {}
        self._resources_lock = threading.Lock()
        self.is_sqlite = url.startswith("sqlite")
        self._writers: WriterLock | None = None  # a SQLite file: its writers in every process queue here
        # hide_parameters: a database error's message (logged, or shown to an operator) never carries the
        # statement's values, which are report data (persons, URLs, details); the SQL itself stays
        sqlite_args = {"timeout": 30, "check_same_thread": False}
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:" and not path.startswith("file:"):
                _private_sqlite_files(Path(path))
                self._writers = WriterLock(Path(path).with_name(Path(path).name + "-writer.lock"))
            self.engine = create_engine(url, echo=echo, connect_args=sqlite_args, pool_size=8, hide_parameters=True)
            _sqlite_pragmas(self.engine)
            self.write_engine = create_engine(
                url, echo=echo, connect_args=sqlite_args, pool_size=2, hide_parameters=True
            )
            _sqlite_pragmas(self.write_engine, immediate=True)
        else:
            self.engine = create_engine(
                url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
            )
            self.write_engine = self.engine
        # Both registries below hold their keys weakly (the keyring registry its dialects, SQLAlchemy's event
        # registry its session classes) and their values strongly: a value that held this object would hold
        # its engines and sessionmakers, so the keys, and no Database would ever be freed. A test process
        # kept every one, with its caches and bank index (50,000 objects an app), and its full collections
        # grew to seconds (the likely cause of a 25 s request in CI). So the values reach this object
        # through a weak reference.
        this = weakref.ref(self)

        def ring() -> Keyring:
            return _alive(this).keyring

        for engine in {self.engine, self.write_engine}:
            register_keyring(engine.dialect, ring)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        for maker in (self._read, self._write):
            sealing.install(maker, sealing.key_for_session(ring))
        self._migrated = False
        self._lock = threading.Lock()
        self._writer_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None

    @classmethod
    def from_settings(cls, settings: Settings, *, capabilities: tuple[Capability, ...] | None = None) -> Database:
        return cls(settings.resolved_database_url(), settings=settings, capabilities=capabilities)

    def resource(self, key: str, make: Callable[[], T]) -> T:
        """The in-memory service ``key`` of this database, made by ``make()`` on first use and kept as long
        as the database object (the hash-bank index, a resolver a test installed...)."""
        with self._resources_lock:
            if key not in self._resources:
                self._resources[key] = make()
            found: T = self._resources[key]
            return found

    def get_resource(self, key: str) -> Any | None:
        with self._resources_lock:
            return self._resources.get(key)

    def set_resource(self, key: str, value: Any | None) -> None:
        """Install (or, with ``None``, forget) the in-memory service ``key`` of this database."""
        with self._resources_lock:
            if value is None:
                self._resources.pop(key, None)
            else:
                self._resources[key] = value

    def require_capabilities(self) -> tuple[Capability, ...]:
        if self.capabilities is None:
            raise RuntimeError(
                "this Database was opened without its capabilities; open it with "
                "tipline.capabilities.open_database(settings) (or pass capabilities=CAPABILITIES)"
            )
        return self.capabilities

    @functools.cached_property
    def keyring(self) -> Keyring:
        """Master keys and the search-index key (from settings or the data folder's key files)."""
        st = self.settings
        return keyring_from(st.master_key, st.previous_master_keys, st.data_dir, st.search_index_key)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A write session: commits on success, rolls back on error.

        On SQLite, writers queue before ``BEGIN IMMEDIATE``: those of this process on a lock, then those of
        every process on a lock file (:class:`WriterLock`). SQLite allows one writer at a time anyway, and
        its busy handler sleeps 1, 2, 5 ... 25, 50, 100 ms between tries: tail latency for a door that
        shares the database with the server's analysis process.
        """
        lock = self._writer_lock
        if lock is not None and not lock.acquire(timeout=WRITER_WAIT_S):
            raise TimeoutError(f"the SQLite database stayed locked by another writer for {WRITER_WAIT_S:g} s")
        try:
            with self._writers.held() if self._writers is not None else contextlib.nullcontext():
                with self._committing() as s:
                    yield s
        finally:
            if lock is not None:
                lock.release()

    @contextlib.contextmanager
    def _committing(self, conn: Connection | None = None) -> Iterator[Session]:
        with self._write() if conn is None else self._write(bind=conn) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextlib.contextmanager
    def session_on(self, conn: Connection) -> Iterator[Session]:
        """A write session on a connection the caller holds for several transactions in turn (PostgreSQL's
        analysis workers: one checkout, with its ping, and one setting of the worker's settings for a batch,
        not for every report): commits on success, rolls back on error; the connection stays the caller's."""
        with self._committing(conn) as s:
            yield s

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        """A read session (never commits; objects read stay usable, detached, after it closes)."""
        with self._read() as s:
            yield s

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (safe to call at every start)."""
        with self._lock:
            if self._migrated:
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["engine"] = self.write_engine
            command.upgrade(cfg, "head")
            self._migrated = True

    def run_alone(self, lock_key: int, fn: Callable[[], object]) -> bool:
        """Run ``fn`` unless another process of this installation holds ``lock_key`` now (a periodic job that
        must not run twice at once); False when skipped. PostgreSQL: a session advisory lock, released at
        the end, or by PostgreSQL when the process dies. SQLite has one server process: ``fn`` runs."""
        if self.dialect != "postgresql":
            fn()
            return True
        key = {"k": lock_key}
        with self.write_engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar())
            conn.commit()
            if not got:
                return False
            try:
                fn()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                conn.commit()
        return True

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
        if self._writers is not None:
            self._writers.close()


WRITER_WAIT_S = 60.0  # a SQLite writer waits this long for the others, then fails with a message


class WriterLock:
    """The writers of one SQLite file, across processes: an exclusive ``flock`` on ``<db>-writer.lock``,
    taken before ``BEGIN IMMEDIATE`` and released after the commit. The kernel releases it when its
    process dies, even by SIGKILL.

    A waiter tries again every ``POLL_S`` (a blocking ``flock`` has no time limit, and one stuck holder
    would hang every door): it gets the lock within about a millisecond of its release, where SQLite's own
    busy handler sleeps up to 100 ms between tries. Polling alone is not fair, though: a busy door's next
    group commit takes the lock again microseconds after its last, and the server's analysis process,
    polling, waits for a gap (0.56 s behind a writer that held the lock 5 ms at a time and took it again
    at once, ``tests/test_intake_process.py``). So a writer that has waited ``PATIENCE_S`` takes the gate,
    ``<db>-writer.gate``, until it has the lock, and every writer passes through the gate before it tries:
    the one that waited goes next. Written by hand: a few
    system calls around a transaction; lock libraries (filelock, portalocker) poll the same way, and none
    has the gate."""

    POLL_S = 0.001
    PATIENCE_S = 0.002

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gate_path = path.with_name(path.name.removesuffix(".lock") + ".gate")
        self._fds = (-1, -1)  # the lock and the gate, opened by this process
        self._pid = -1  # the process that opened them: a child made by fork opens its own

    def _files(self) -> tuple[int, int]:
        import os

        if self._pid != os.getpid():
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._fds = (os.open(self.path, flags, 0o600), os.open(self.gate_path, flags, 0o600))
            self._pid = os.getpid()
        return self._fds

    def close(self) -> None:
        """Close the two files this process opened (a writer after this opens them again). They stayed open as
        long as the process lived: two descriptors for every SQLite ``Database`` it opened and disposed of."""
        import os

        fds, mine = self._fds, self._pid == os.getpid()
        self._fds, self._pid = (-1, -1), -1
        if mine:
            for fd in fds:
                os.close(fd)

    @contextlib.contextmanager
    def held(self, wait_s: float | None = None) -> Iterator[None]:
        import fcntl
        import time

        wait_s = WRITER_WAIT_S if wait_s is None else wait_s
        lock, gate = self._files()
        started = time.monotonic()

        def take(fd: int, how: int, until: float) -> bool:
            while True:
                try:
                    fcntl.flock(fd, how | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    now = time.monotonic()
                    if now >= until:
                        return False
                    time.sleep(min(self.POLL_S, until - now))

        def timed_out() -> TimeoutError:
            return TimeoutError(
                f"the SQLite database stayed locked by another process's writer for {wait_s:g} s "
                f"(lock file {self.path.name}): is a stuck tipline process holding it?"
            )

        deadline = started + wait_s
        if not take(gate, fcntl.LOCK_SH, deadline):  # a writer that waited longer goes first
            raise timed_out()
        fcntl.flock(gate, fcntl.LOCK_UN)
        if not take(lock, fcntl.LOCK_EX, started + self.PATIENCE_S):
            if not take(gate, fcntl.LOCK_EX, deadline):
                raise timed_out()
            try:
                if not take(lock, fcntl.LOCK_EX, deadline):
                    raise timed_out()
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _private_sqlite_files(path: Path) -> None:
    """The database file and its WAL, shared-memory and journal files: owner only (0600).

    SQLite creates ``-wal``, ``-shm`` and ``-journal`` with the mode of the database file, so creating that
    one 0600 before the first connection covers the others; files of an older installation are tightened.
    """
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            private_file(extra)


def _sqlite_pragmas(engine: Engine, *, immediate: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit BEGIN is DEFERRED)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
