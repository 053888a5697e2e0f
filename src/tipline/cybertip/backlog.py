"""``tipline import cybertip DIR|ZIP``: a platform's or another hotline's backlog of CyberTipline reports.

Layout of the folder or zip (any depth): every ``NAME.xml`` is one CyberTipline ``<report>`` document, and
the files of that report, if any, are in the folder ``NAME/`` beside it (every file below it, whatever its
name; an ``.xml`` in there is a file, not a report). Anything else is listed as ignored.

Each document goes through the same checks as ``POST /ispws/submit`` (size, UTF-8, no DTD, depth, the
published schema: ``tipline.cybertip.parse``); its files are hashed (and kept encrypted, per
``media_mode``) as the upload door does. Reports are stored finished, in chunks, one transaction per chunk
(``intake.service.submit_many``), without analysis: the analysis workers catch up behind. A report's key is
its platform and the SHA-256 of its document (as ``tipline import cybertip FILE``), so importing the same
backlog again stores nothing new, and an interrupted import run again stores only what is missing: a chunk
is stored whole or not at all, and a document already stored is skipped before it is parsed.

A backlog of :data:`PROCESSES_FROM` documents or more is imported by this process and helper processes
(spawned, one a core but one), each parsing and storing whole chunks: one parses while another stores. The
same document twice in such a backlog is still stored once, but which copy (with its files) depends on
which process reached it first. Helpers ignore Ctrl-C (the terminal sends it to every process of the
command): this process stops the import, each helper finishes the chunk it holds, and nothing is left
running. A helper also ends as soon as this process has ended, however it ended (a kill included).

Nothing is extracted to disk: a zip's entries are read into memory one at a time, each at most its limit
(``max_xml_bytes`` for a document, ``max_upload_bytes`` for a file) whatever its header says. An entry
whose name leaves the archive (absolute, ``..``, a drive), a link or an encrypted entry is refused by name;
an archive that declares more than :data:`MAX_TOTAL_BYTES` or an entry that inflates more than
:data:`MAX_RATIO` times (a zip bomb) is refused whole before anything is read. In a folder, links are not
followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import stat
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

from sqlalchemy import bindparam, select

from tipline.cybertip.parse import CybertipError, parse_report
from tipline.intake import service as intake
from tipline.intake.schemas import FileIn, ReportIn
from tipline.media import files, storage
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.lists import in_list
from tipline.store.models import Report

CHUNK = 500
PROCESSES_FROM = 10_000  # documents in a backlog from which other processes import chunks beside this one
MAX_PROCESSES = 8
MAX_ENTRIES = 1_000_000  # entries in one archive
MAX_TOTAL_BYTES = 256 * 1024**3  # what an archive may declare uncompressed, in all
MAX_RATIO = 200  # an entry of more than a MiB inflating more than this many times is a zip bomb
_RATIO_FLOOR = 1024**2


class BacklogError(ValueError):
    """The folder or archive as a whole cannot be imported (not a zip, a zip bomb, too many entries)."""


@dataclass(frozen=True)
class Entry:
    name: str  # POSIX path inside the backlog
    size: int  # as declared (a zip's header) or as the file system says
    problem: str | None = None  # why it is never read


@dataclass
class Doc:
    entry: Entry  # the report document
    files: list[Entry] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.entry.name


@dataclass
class BacklogResult:
    total: int = 0  # report documents found
    stored: int = 0
    skipped: int = 0  # stored before (an earlier run) or the same document twice
    errors: list[str] = field(default_factory=list)  # "NAME: what is wrong"
    ignored: list[str] = field(default_factory=list)  # neither a report document nor one of its files


# ------------------------------------------------------------------------------------------ sources


def _unsafe(name: str) -> str | None:
    if "\x00" in name or "\\" in name:
        return "its name has a backslash or a NUL character"
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        return "its name points outside the archive (absolute, '..' or a drive)"
    return None


class ZipSource:
    """A zip archive, read in memory entry by entry."""

    def __init__(self, path: Path) -> None:
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise BacklogError(f"{path.name}: not a readable zip archive ({e})") from None
        infos = [i for i in self.zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ENTRIES:
            self.zf.close()
            raise BacklogError(f"{path.name}: {len(infos):,} entries; at most {MAX_ENTRIES:,} are taken in one archive")
        declared = sum(i.file_size for i in infos)
        bomb = [i.filename for i in infos if i.file_size > _RATIO_FLOOR and i.file_size > MAX_RATIO * i.compress_size]
        if declared > MAX_TOTAL_BYTES or bomb:
            self.zf.close()
            what = (
                f"entry {bomb[0]!r} inflates more than {MAX_RATIO} times" if bomb else f"it declares {declared:,} bytes"
            )
            raise BacklogError(
                f"{path.name}: refused as a zip bomb ({what}); unpack what you trust and import the folder"
            )
        self.infos = {i.filename: i for i in infos}
        self.entries = [Entry(i.filename, i.file_size, self._problem(i)) for i in infos]

    @staticmethod
    def _problem(i: zipfile.ZipInfo) -> str | None:
        if stat.S_ISLNK(i.external_attr >> 16):
            return "a link: not followed"
        if i.flag_bits & 0x1:
            return "encrypted: tipline cannot read it"
        return _unsafe(i.filename)

    def read(self, name: str, limit: int) -> bytes:
        with self.zf.open(self.infos[name]) as f:
            return f.read(limit + 1)

    def close(self) -> None:
        self.zf.close()


class FolderSource:
    """A folder, walked without following links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: list[Entry] = []
        for top, dirs, names in os.walk(root, followlinks=False):
            for d in [d for d in dirs if os.path.islink(os.path.join(top, d))]:
                self.entries.append(Entry(self._rel(top, d), 0, "a link: not followed"))
            for n in names:
                full = os.path.join(top, n)
                st = os.lstat(full)
                problem = None if stat.S_ISREG(st.st_mode) else "a link or special file: not read"
                self.entries.append(Entry(self._rel(top, n), st.st_size, problem))

    def _rel(self, top: str, name: str) -> str:
        return Path(top, name).relative_to(self.root).as_posix()

    def read(self, name: str, limit: int) -> bytes:
        fd = os.open(self.root / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(limit + 1)

    def close(self) -> None:
        pass


Source = ZipSource | FolderSource


class Backlog:
    """A backlog opened for import: its report documents (with their files) and what it ignores."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            self.source: Source = FolderSource(path)
        elif zipfile.is_zipfile(path):
            self.source = ZipSource(path)
        else:
            raise BacklogError(f"{path.name}: neither a folder nor a zip archive of report XML documents")
        self.docs, self.refused, self.ignored = plan(self.source.entries)

    def __enter__(self) -> Backlog:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.source.close()

    def read(self, entry: Entry, limit: int, what: str, setting: str) -> bytes:
        """The bytes of an entry, or ``ValueError`` saying why not (named by the caller)."""
        if entry.problem is not None:
            raise ValueError(f"{what}: {entry.problem}")  # name the entry: the report's name comes first
        if entry.size > limit:
            raise ValueError(f"{what} is {entry.size:,} bytes; at most {limit:,} are taken (setting {setting})")
        try:
            data = self.source.read(entry.name, limit)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise ValueError(f"cannot read {what}: {e}") from None
        if len(data) > limit:
            raise ValueError(f"{what} is more than {limit:,} bytes, more than its header said (setting {setting})")
        return data


def plan(entries: Iterable[Entry]) -> tuple[list[Doc], list[str], list[str]]:
    """(report documents with their files, sorted by name; "NAME: refused because" for unsafe entries;
    names of entries that are neither)."""
    entries = list(entries)
    docs = {e.name[:-4] + "/": Doc(e) for e in entries if e.name.lower().endswith(".xml")}
    refused: list[str] = []
    ignored: list[str] = []
    by_name = {d.name: d for d in docs.values()}
    for e in entries:
        parts = e.name.split("/")
        owner = next((docs[p] for i in range(1, len(parts)) if (p := "/".join(parts[:i]) + "/") in docs), None)
        if owner is not None:
            owner.files.append(e)
            by_name.pop(e.name, None)  # a document inside a report's folder is one of its files
        elif e.name in by_name:
            if e.problem is not None:
                del by_name[e.name]
                refused.append(f"{e.name}: refused: {e.problem}")
        elif e.problem is not None:
            refused.append(f"{e.name}: refused: {e.problem}")
        else:
            ignored.append(e.name)
    return sorted(by_name.values(), key=lambda d: d.name), refused, sorted(ignored)


# ------------------------------------------------------------------------------------------ import


def _key(data: bytes) -> str:
    return f"cybertip-file-sha256:{hashlib.sha256(data).hexdigest()}"


# one statement text for any number of keys (PostgreSQL: an array parameter)
_STORED_KEYS = select(Report.external_id).where(
    Report.platform_id == bindparam("platform_id"), in_list(Report.external_id, "keys")
)


def _stored_keys(db: Database, platform_id: int, keys: list[str]) -> set[str]:
    with db.reader() as s:
        return {k for k in s.scalars(_STORED_KEYS, {"platform_id": platform_id, "keys": keys}) if k is not None}


@dataclass
class _Ready:
    report: ReportIn
    uploads: list[tuple[FileIn, str | None]]


def _prepare(db: Database, bl: Backlog, doc: Doc, data: bytes, platform: tuple[int, str]) -> _Ready:
    """Parse a document and hash (and keep) its files; ``ValueError`` / ``CybertipError`` if refused."""
    report = parse_report(data, max_bytes=db.settings.max_xml_bytes, esp_name=platform[1])
    uploads: list[tuple[FileIn, str | None]] = []
    folder = doc.name[:-4] + "/"
    for f in sorted(doc.files, key=lambda e: e.name):
        blob = bl.read(f, db.settings.max_upload_bytes, f"its file {f.name}", "TIPLINE_MAX_UPLOAD_BYTES")
        if not blob:
            raise ValueError(f"its file {f.name} is empty")
        info = files.hashed(db, FileIn(filename=f.name[len(folder) :][-512:]), blob)
        uploads.append((info, storage.store_blob(db, blob)))
    details = dict(report.details)
    details["imported_from"] = doc.name
    report = report.model_copy(
        update={"platform_id": platform[0], "open_submission": False, "external_id": _key(data), "details": details}
    )
    return _Ready(report, uploads)


def _read_chunk(db: Database, bl: Backlog, docs: list[Doc], pid: int, out: BacklogResult) -> list[tuple[Doc, bytes]]:
    """The documents of a chunk not stored yet (read, keyed); the others counted skipped or refused."""
    read: list[tuple[Doc, bytes, str]] = []
    for d in docs:
        try:
            data = bl.read(d.entry, db.settings.max_xml_bytes, "the document", "TIPLINE_MAX_XML_BYTES")
        except ValueError as e:
            out.errors.append(f"{d.name}: refused: {e}")
            continue
        read.append((d, data, _key(data)))
    known = _stored_keys(db, pid, [k for _, _, k in read])
    fresh: list[tuple[Doc, bytes]] = []
    for d, data, k in read:
        if k in known:
            out.skipped += 1
        else:
            known.add(k)
            fresh.append((d, data))
    return fresh


def _store_chunk(db: Database, bl: Backlog, docs: list[Doc], platform: tuple[int, str], out: BacklogResult) -> None:
    ready: list[_Ready] = []
    for d, data in _read_chunk(db, bl, docs, platform[0], out):
        try:
            ready.append(_prepare(db, bl, d, data, platform))
        except CybertipError as e:
            out.errors.append(f"{d.name}: refused (code {e.code}): {e.message}")
        except ValueError as e:
            out.errors.append(f"{d.name}: refused: {e}")
    if not ready:
        return
    stored, skipped = intake.submit_many(db, [r.report for r in ready], uploads=[r.uploads for r in ready])
    out.stored, out.skipped = out.stored + stored, out.skipped + skipped
    if skipped:  # another import stored some of these meanwhile: drop the files only they would have used
        for path in {p for r in ready for _, p in r.uploads if p is not None}:
            if not storage.blob_in_use(db, path):
                storage.delete_blob(db, path)


def _chunks(docs: list[Doc], n: int) -> Iterator[list[Doc]]:
    for i in range(0, len(docs), n):
        yield docs[i : i + n]


def importing_processes(documents: int, wanted: int | None = None) -> int:
    """How many other processes import chunks of a backlog of ``documents`` beside this one (0: this one
    alone). ``wanted`` None: one a core but one, at most :data:`MAX_PROCESSES`, for a backlog of at least
    :data:`PROCESSES_FROM` documents (a process takes about a second to start)."""
    if wanted is not None:
        return max(0, min(wanted, MAX_PROCESSES))
    if documents < PROCESSES_FROM:
        return 0
    return max(0, min((os.cpu_count() or 1) - 1, MAX_PROCESSES))


def import_backlog(
    db: Database,
    path: Path,
    platform: tuple[int, str],
    *,
    chunk: int = CHUNK,
    processes: int | None = None,
    step: Callable[[int], None] | None = None,
    started: Callable[[int], None] | None = None,
) -> BacklogResult:
    """Import the folder or zip ``path`` for ``platform`` (id, name). ``started(documents found)`` once the
    backlog is listed, ``step(documents done)`` after each chunk (the progress bar). ``processes``: how many
    other processes import chunks beside this one (None: :func:`importing_processes` decides; 0: none).
    ``BacklogError`` if the backlog as a whole is refused."""
    out = BacklogResult()
    with Backlog(path) as bl:
        out.total, out.ignored = len(bl.docs), bl.ignored
        out.errors.extend(bl.refused)
        if started is not None:
            started(out.total)
        chunks = list(_chunks(bl.docs, max(1, chunk)))
        helpers = importing_processes(out.total, processes) if len(chunks) > 1 else 0
        _import_chunks(db, bl, chunks, platform, out, helpers, step)
    return out


# ------------------------------------------------------------------------------------------ other processes

# Each process parses and stores whole chunks, one transaction each: a chunk's parsing (about half its time)
# runs while another process's chunk is stored. Sending parsed reports back to one storing process was
# tried and was slower: a parsed report took longer to unpickle than to parse (bench/RESULTS.md).

_HELPER: tuple[Database, Backlog] | None = None  # in a helper process: its database and its own view of the backlog


def _helper_open(settings: Settings, path: str) -> None:
    """Open a helper's database (storing reports needs no capability: analysis comes later, elsewhere)."""
    global _HELPER
    _end_with_the_importer()
    _HELPER = (Database.from_settings(settings), Backlog(Path(path)))


def _end_with_the_importer() -> None:
    """A helper ends as soon as the importing process has ended, however it ended: a kill (SIGTERM, SIGKILL)
    skips that process's clean-up, and the helper would otherwise wait for chunks forever with a database
    connection open. The chunk it holds then is not committed (whole chunks only), as in a killed importer."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always a spawned helper
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])  # ready when the importing process is gone
        os._exit(1)

    threading.Thread(target=watch, name="tipline-backlog-importer-watch", daemon=True).start()


def _helper_chunk(docs: list[Doc], platform: tuple[int, str]) -> BacklogResult:
    """In a helper process: one chunk parsed and stored; what happened to it."""
    assert _HELPER is not None, "a helper process of the backlog import was not opened"
    part = BacklogResult()
    _store_chunk(_HELPER[0], _HELPER[1], docs, platform, part)
    return part


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT from their first instruction: Python keeps an ignored SIGINT
    ignored, whereas a handler set in a helper's initializer would come after its imports (about half a
    second in which Ctrl-C printed a helper's traceback). This process ignores it for the few milliseconds
    of the start; only the main thread can change a signal's handler, elsewhere nothing changes."""
    before = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or before is None:  # None: set outside Python
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _import_chunks(
    db: Database,
    bl: Backlog,
    chunks: list[list[Doc]],
    platform: tuple[int, str],
    out: BacklogResult,
    helpers: int,
    step: Callable[[int], None] | None,
) -> None:
    """Chunks imported by this process and by ``helpers`` spawned ones (0: this one alone; spawned, not forked:
    this process holds database connections and threads). This process takes the next chunk itself whenever
    every helper has one, so a helper still starting costs no time. Errors are listed in the chunks' order."""
    parts: dict[int, BacklogResult] = {}
    done = 0
    pool: contextlib.AbstractContextManager[ProcessPoolExecutor | None] = contextlib.nullcontext()
    if helpers:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(helpers, ctx, initializer=_helper_open, initargs=(db.settings, str(bl.path)))
    with pool as helping:
        pending: dict[Future[BacklogResult], int] = {}
        nxt = 0
        try:
            while nxt < len(chunks) or pending:
                while helping is not None and len(pending) < helpers and nxt < len(chunks):
                    with _children_ignore_ctrl_c():  # a submit may start a helper
                        pending[helping.submit(_helper_chunk, chunks[nxt], platform)] = nxt
                    nxt += 1
                if nxt < len(chunks):
                    part = parts[nxt] = BacklogResult()
                    _store_chunk(db, bl, chunks[nxt], platform, part)
                    done += len(chunks[nxt])
                    nxt += 1
                else:
                    wait(pending, return_when=FIRST_COMPLETED)
                for f in [f for f in pending if f.done()]:
                    i = pending.pop(f)
                    parts[i] = f.result()
                    done += len(chunks[i])
                if step is not None:
                    step(done)
        except BrokenExecutor as e:
            stored = sum(p.stored for p in parts.values())
            raise BacklogError(
                f"a process importing the backlog ended unexpectedly ({e}); import again: the {stored} reports "
                "stored so far are kept and skipped"
            ) from None
        finally:
            for f in pending:
                f.cancel()
    for i in sorted(parts):
        out.stored += parts[i].stored
        out.skipped += parts[i].skipped
        out.errors.extend(parts[i].errors)
