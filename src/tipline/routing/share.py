"""Privacy-preserving overlap of identifiers with a partner hotline: keyed hashes, or private set intersection.

Two modes, both over the identifiers (entities, in the normal forms of :mod:`tipline.extract`) that this
hotline's complete reports mention:

**Keyed hashes** (:func:`export_hashes`, :func:`overlap`). The two hotlines of a pair share one secret key
(32 random bytes, :func:`generate_key`), agreed out of band; each exports its identifiers as a JSON Lines
file with one ``{"kind": ..., "h": ...}`` per identifier, and each intersects the other's file with its own
identifiers. The hash of one identifier is::

    hash_key = HMAC-SHA-256(pair_key, "tipline-share-v1/hash")          # domain separation
    h        = hex(HMAC-SHA-256(hash_key, kind + ":" + normal_value))  # UTF-8

and the file may start with a header line ``{"format": "tipline-share-hashes", "version": 1, "key_id":
...}`` whose ``key_id`` (``HMAC-SHA-256(pair_key, "tipline-share-v1/key-id")``, 16 hex digits) lets the
receiver notice a file made with another key instead of silently finding nothing. Lines are sorted by
``h`` (their order reveals nothing about when an identifier was first seen).

What it hides: the identifiers, from anyone without the pair key. What it does not hide: the holder of
the key can hash every candidate of a small space (phone numbers: ~10^7-10^9 per country) and so learn
every phone number in the file, not only the common ones. So: one key per partner pair (a key leaked by
one partner exposes only that pair's files), and PSI where a partner must learn only the overlap.

**Private set intersection** (:func:`psi_request`, :func:`psi_respond`, :func:`psi_finish`), with
OpenMined's ECDH-based PSI (``openmined.psi``). Three files, no shared key:

1. the requester makes a *request* (its identifiers blinded with a one-time private key, which stays in
   a state file in the data folder, never in the request);
2. the responder answers with a *response* (its own identifiers blinded with its one-time key, and the
   request blinded once more);
3. the requester *finishes*: it learns which of its identifiers the responder also has (or, with
   ``reveal=False``, only how many), linked to its reports.

The responder learns only how many identifiers the request holds; the requester learns the overlap and
the size of the responder's set. Neither can test identifiers offline; the requester could put
candidates in its request, so the responder caps a request's size (``max_items``) and audits each answer.
For both sides to learn the overlap, run it twice with the roles swapped.

No key, hash file or PSI state is stored in the database; audit events record counts only, never values.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import exists, select

from tipline import strict_json
from tipline.accounts.service import Principal, record
from tipline.settings import Settings
from tipline.store import Database
from tipline.store.models import Entity, Mention, Report

CONTEXT = "tipline-share-v1"
HASH_FORMAT = "tipline-share-hashes"
PSI_REQUEST_FORMAT = "tipline-psi-request"
PSI_RESPONSE_FORMAT = "tipline-psi-response"
PSI_STATE_FORMAT = "tipline-psi-state"
PSI_CONTEXT = "tipline-psi-v1"
FORMAT_VERSION = 1
KEY_ENV_PREFIX = "TIPLINE_SHARE_KEY_"
KEY_DIR = "share-keys"
PSI_STATE_DIR = "share-psi"
MAX_LINE_CHARS = 1000
DEFAULT_PSI_MAX_ITEMS = 1_000_000

_PARTNER_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


class ShareError(ValueError):
    """A sharing step that cannot be done; the message says why and what to do."""


class ShareFileError(ShareError):
    """A partner's file that is not what it should be; the message names the file and the line."""


# ------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class PartnerKey:
    """The secret key of one partner pair, and where it came from (never the database)."""

    partner: str
    key: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key: equal on both sides when they hold the same key."""
        return hmac.new(self.key, f"{CONTEXT}/key-id".encode(), hashlib.sha256).hexdigest()[:16]

    @property
    def hash_key(self) -> bytes:
        return hmac.new(self.key, f"{CONTEXT}/hash".encode(), hashlib.sha256).digest()


def check_partner(name: str) -> str:
    """A partner's short name: 1-64 lower-case letters, digits, '.', '_' or '-' (it names files)."""
    if not isinstance(name, str) or not _PARTNER_RE.fullmatch(name):
        raise ShareError(
            f"partner name {name!r} is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'hotline-it')"
        )
    return name


def key_env_var(partner: str) -> str:
    """The environment variable that may hold a partner's key: ``TIPLINE_SHARE_KEY_HOTLINE_IT``."""
    return KEY_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", check_partner(partner).upper())


def key_path(settings: Settings, partner: str) -> Path:
    return settings.data_dir / KEY_DIR / f"{check_partner(partner)}.key"


def parse_key(text: str, where: str) -> bytes:
    """A pair key written as hexadecimal (32 to 64 bytes: 64 to 128 hex digits)."""
    value = "".join(text.split())
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if not 32 <= len(key) <= 64:
        raise ShareError(f"the key in {where} must be 64 to 128 hexadecimal characters (32 to 64 random bytes)")
    return key


def load_key(
    partner: str,
    settings: Settings,
    *,
    key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> PartnerKey:
    """The key of the pair with ``partner``: from ``key_file``, else ``TIPLINE_SHARE_KEY_<PARTNER>``, else
    ``<data dir>/share-keys/<partner>.key``."""
    partner = check_partner(partner)
    env = os.environ if environ is None else environ
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise ShareError(f"cannot read the key file {key_file}: {e}") from None
        return PartnerKey(partner, parse_key(text, str(key_file)), str(key_file))
    var = key_env_var(partner)
    if env.get(var):
        return PartnerKey(partner, parse_key(env[var], f"${var}"), f"${var}")
    path = key_path(settings, partner)
    if path.exists():
        return PartnerKey(partner, parse_key(path.read_text(encoding="ascii"), str(path)), str(path))
    raise ShareError(
        f"no key for partner {partner!r}: make one with `tipline share keygen --partner {partner}` and give it "
        f"to the partner over a secure channel (or set {var}, or pass --key-file)"
    )


def generate_key(settings: Settings, partner: str) -> Path:
    """Write a new random pair key to ``<data dir>/share-keys/<partner>.key`` (mode 0600); never overwrites."""
    path = key_path(settings, partner)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ShareError(
            f"a key for partner {partner!r} already exists at {path}; remove it first to replace it "
            "(both partners must then use the new key)"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def keyed_hash(key: PartnerKey, kind: str, value: str) -> str:
    """``hex(HMAC-SHA-256(hash_key, kind + ":" + value))``, with ``hash_key`` derived from the pair key."""
    return _hash(key.hash_key, kind, value)


def _hash(hash_key: bytes, kind: str, value: str) -> str:
    return hmac.new(hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------------ local identifiers


@dataclass(frozen=True)
class LocalIdentifier:
    entity_id: int
    kind: str
    value: str


def parse_exclusions(lines: Iterable[str], source: str = "exclusion list") -> set[tuple[str, str]]:
    """``kind:value`` lines (e.g. ``domain:adboard-test.com``) of identifiers never to share; ``#`` comments."""
    out: set[tuple[str, str]] = set()
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, sep, value = line.partition(":")
        if not sep or not _KIND_RE.fullmatch(kind) or not value:
            raise ShareFileError(f"{source}, line {n}: expected 'kind:value' (e.g. 'phone:+639171234567')")
        out.add((kind, value))
    return out


def local_identifiers(
    db: Database, *, kinds: Iterable[str] | None = None, exclude: Iterable[tuple[str, str]] = ()
) -> list[LocalIdentifier]:
    """Identifiers that at least one complete report mentions (open or retracted submissions do not count)."""
    wanted = sorted(set(kinds)) if kinds else None
    excluded = set(exclude)
    mentioned = exists().where(
        Mention.entity_id == Entity.id, Mention.report_id == Report.id, Report.submission_state == "complete"
    )
    q = select(Entity.id, Entity.kind, Entity.value).where(mentioned).order_by(Entity.id)
    if wanted:
        q = q.where(Entity.kind.in_(wanted))
    with db.reader() as s:
        return [LocalIdentifier(i, k, v) for i, k, v in s.execute(q).yield_per(5000) if (k, v) not in excluded]


# ------------------------------------------------------------------------------------------ export


@dataclass
class ExportSummary:
    partner: str
    key_id: str
    count: int
    by_kind: dict[str, int]


def export_hashes(
    db: Database,
    key: PartnerKey,
    out: TextIO,
    *,
    kinds: Iterable[str] | None = None,
    exclude: Iterable[tuple[str, str]] = (),
    actor: Principal | str = "cli",
) -> ExportSummary:
    """Write this hotline's identifiers as keyed hashes for one partner (JSON Lines, sorted by hash)."""
    items = local_identifiers(db, kinds=kinds, exclude=exclude)
    hk = key.hash_key
    rows = sorted({(_hash(hk, i.kind, i.value), i.kind) for i in items})
    by_kind: dict[str, int] = {}
    header = {"format": HASH_FORMAT, "version": FORMAT_VERSION, "key_id": key.key_id, "count": len(rows)}
    out.write(json.dumps(header, separators=(",", ":")) + "\n")
    for h, kind in rows:
        out.write(json.dumps({"kind": kind, "h": h}, separators=(",", ":")) + "\n")
        by_kind[kind] = by_kind.get(kind, 0) + 1
    with db.session() as s:
        record(s, actor, "share.export", "partner", key.partner, key_id=key.key_id, count=len(rows), by_kind=by_kind)
    return ExportSummary(key.partner, key.key_id, len(rows), dict(sorted(by_kind.items())))


# ------------------------------------------------------------------------------------------ partner files


@dataclass
class HashFile:
    key_id: str | None
    hashes: set[tuple[str, str]]  # (kind, h)


def read_hash_file(lines: Iterable[str], source: str = "partner file") -> HashFile:
    """Parse and check a partner's hash file; every problem names the line."""
    key_id: str | None = None
    hashes: set[tuple[str, str]] = set()
    seen_any = False
    for n, raw in enumerate(lines, 1):
        where = f"{source}, line {n}"
        if len(raw) > MAX_LINE_CHARS:
            raise ShareFileError(f"{where}: the line is longer than {MAX_LINE_CHARS} characters")
        line = raw.strip()
        if not line:
            continue
        try:
            obj = strict_json.loads(line)
        except strict_json.READ_ERRORS as e:
            raise ShareFileError(f"{where}: {strict_json.problem(e)}") from None
        if not isinstance(obj, dict):
            raise ShareFileError(f'{where}: expected a JSON object {{"kind": ..., "h": ...}}')
        if "format" in obj:
            if seen_any:
                raise ShareFileError(f"{where}: a header line may only be the first line")
            if obj.get("format") != HASH_FORMAT or obj.get("version") != FORMAT_VERSION:
                raise ShareFileError(
                    f"{where}: unknown header (format {obj.get('format')!r}, version {obj.get('version')!r}); "
                    f"expected {HASH_FORMAT!r} version {FORMAT_VERSION}"
                )
            kid = obj.get("key_id")
            if kid is not None and not (isinstance(kid, str) and re.fullmatch(r"[0-9a-f]{16}", kid)):
                raise ShareFileError(f"{where}: key_id must be 16 hexadecimal digits")
            key_id = kid
            seen_any = True
            continue
        seen_any = True
        if set(obj) != {"kind", "h"}:
            extra = sorted(set(obj) - {"kind", "h"})
            missing = sorted({"kind", "h"} - set(obj))
            what = f"missing {', '.join(missing)}" if missing else f"unexpected field(s) {', '.join(extra)}"
            raise ShareFileError(f'{where}: expected exactly {{"kind", "h"}}: {what}')
        kind, h = obj["kind"], obj["h"]
        if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            raise ShareFileError(f"{where}: kind {kind!r} is not a known shape (lower-case letters, digits, '_')")
        if not isinstance(h, str) or not _HEX64_RE.fullmatch(h.lower()):
            raise ShareFileError(f"{where}: h must be 64 hexadecimal digits (an HMAC-SHA-256)")
        hashes.add((kind, h.lower()))
    return HashFile(key_id, hashes)


# ------------------------------------------------------------------------------------------ overlap


@dataclass
class LinkedReport:
    id: int
    category: str
    status: str
    priority: int
    received_at: datetime


@dataclass
class Match:
    kind: str
    value: str
    entity_id: int
    reports: list[LinkedReport]


@dataclass
class OverlapResult:
    partner: str
    mode: str  # "hash" | "psi" | "psi-size"
    theirs: int  # how many identifiers the partner's side had (hash file lines, PSI setup size)
    mine: int  # how many of ours were compared
    count: int  # size of the overlap
    matches: list[Match]  # empty in "psi-size" mode

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for m in d["matches"]:
            for r in m["reports"]:
                r["received_at"] = r["received_at"].isoformat()
        return d


def link_reports(db: Database, entities: Iterable[LocalIdentifier]) -> list[Match]:
    """The complete reports that mention each identifier (newest first), in the order given."""
    ents = list(entities)
    by_id: dict[int, list[LinkedReport]] = {e.entity_id: [] for e in ents}
    ids = list(by_id)
    with db.reader() as s:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            q = (
                select(
                    Mention.entity_id, Report.id, Report.category, Report.status, Report.priority, Report.received_at
                )
                .join(Report, Report.id == Mention.report_id)
                .where(Mention.entity_id.in_(chunk), Report.submission_state == "complete")
                .distinct()
            )
            for eid, rid, cat, st, prio, at in s.execute(q):
                by_id[eid].append(LinkedReport(rid, cat, st, prio, at))
    out = []
    for e in ents:
        reps = sorted(by_id[e.entity_id], key=lambda r: (r.received_at, r.id), reverse=True)
        out.append(Match(e.kind, e.value, e.entity_id, reps))
    return out


def overlap(
    db: Database,
    key: PartnerKey,
    theirs: HashFile | Iterable[str],
    *,
    source: str = "partner file",
    kinds: Iterable[str] | None = None,
    exclude: Iterable[tuple[str, str]] = (),
    actor: Principal | str = "cli",
) -> OverlapResult:
    """Our identifiers whose keyed hash is in the partner's file, each with the local reports naming it."""
    hf = theirs if isinstance(theirs, HashFile) else read_hash_file(theirs, source)
    if hf.key_id is not None and hf.key_id != key.key_id:
        raise ShareError(
            f"{source} was made with another key (key id {hf.key_id}; ours for {key.partner!r} is {key.key_id}): "
            "check that both sides use the same pair key"
        )
    mine = local_identifiers(db, kinds=kinds, exclude=exclude)
    hk = key.hash_key
    found = [i for i in mine if (i.kind, _hash(hk, i.kind, i.value)) in hf.hashes]
    found.sort(key=lambda i: (i.kind, i.value))
    matches = link_reports(db, found)
    with db.session() as s:
        record(
            s, actor, "share.overlap", "partner", key.partner,
            key_id=key.key_id, theirs=len(hf.hashes), mine=len(mine), matches=len(matches),
        )  # fmt: skip
    return OverlapResult(key.partner, "hash", len(hf.hashes), len(mine), len(matches), matches)


# ------------------------------------------------------------------------------------------ PSI


def psi_available() -> bool:
    try:
        import private_set_intersection.python  # noqa: F401
    except ImportError:
        return False
    return True


def _psi() -> Any:
    try:
        import private_set_intersection.python as psi
    except ImportError:
        raise ShareError(
            "private set intersection needs the openmined.psi package: pip install openmined.psi"
        ) from None
    return psi


def psi_item(kind: str, value: str) -> str:
    return f"{PSI_CONTEXT}|{kind}:{value}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, where: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise ShareFileError(f"{where}: {name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ShareFileError(f"{where}: {name} is not valid base64") from None


def _read_envelope(data: bytes | str, fmt: str, source: str) -> dict[str, Any]:
    try:
        obj = strict_json.loads(data)
    except strict_json.READ_ERRORS as e:
        raise ShareFileError(f"{source}: {strict_json.problem(e, lines=True)}") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        got = obj.get("format") if isinstance(obj, dict) else None
        raise ShareFileError(f"{source}: not a {fmt} file (format {got!r})")
    if obj.get("version") != FORMAT_VERSION:
        raise ShareFileError(f"{source}: version {obj.get('version')!r} is not supported (expected {FORMAT_VERSION})")
    return obj


def _state_dir(settings: Settings) -> Path:
    d = settings.data_dir / PSI_STATE_DIR
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _state_path(settings: Settings, request_sha256: str) -> Path:
    return _state_dir(settings) / f"psi-{request_sha256[:32]}.json"


@dataclass
class PsiRequest:
    path_state: Path
    data: bytes  # the request file's content, to send to the partner
    items: int


def psi_request(
    db: Database,
    partner: str,
    *,
    reveal: bool = True,
    kinds: Iterable[str] | None = None,
    exclude: Iterable[tuple[str, str]] = (),
    actor: Principal | str = "cli",
) -> PsiRequest:
    """Step 1 (requester): blind our identifiers with a one-time key; keep the key in a local state file."""
    psi = _psi()
    partner = check_partner(partner)
    mine = local_identifiers(db, kinds=kinds, exclude=exclude)
    if not mine:
        raise ShareError("there are no identifiers to compare (no complete report mentions one of these kinds)")
    client = psi.client.CreateWithNewKey(reveal)
    request = client.CreateRequest([psi_item(i.kind, i.value) for i in mine]).SerializeToString()
    digest = hashlib.sha256(request).hexdigest()
    envelope = {
        "format": PSI_REQUEST_FORMAT,
        "version": FORMAT_VERSION,
        "reveal_intersection": reveal,
        "items": len(mine),
        "request": _b64(request),
    }
    state = {
        "format": PSI_STATE_FORMAT,
        "version": FORMAT_VERSION,
        "partner": partner,
        "reveal_intersection": reveal,
        "request_sha256": digest,
        "created_at": datetime.now(UTC).isoformat(),
        # the one-time PSI key (not the identifiers: entity ids, looked up again when finishing)
        "key": client.GetPrivateKeyBytes().hex(),
        "entity_ids": [i.entity_id for i in mine],
    }
    path = _state_path(db.settings, digest)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f)
    with db.session() as s:
        record(s, actor, "share.psi.request", "partner", partner, items=len(mine), reveal=reveal)
    return PsiRequest(path, (json.dumps(envelope) + "\n").encode(), len(mine))


@dataclass
class PsiResponse:
    data: bytes  # the response file's content, to send back to the requester
    their_items: int
    my_items: int


def psi_respond(
    db: Database,
    partner: str,
    request_data: bytes | str,
    *,
    source: str = "request file",
    max_items: int = DEFAULT_PSI_MAX_ITEMS,
    kinds: Iterable[str] | None = None,
    exclude: Iterable[tuple[str, str]] = (),
    actor: Principal | str = "cli",
) -> PsiResponse:
    """Step 2 (responder): answer a request. We learn only how many identifiers it holds."""
    psi = _psi()
    partner = check_partner(partner)
    env = _read_envelope(request_data, PSI_REQUEST_FORMAT, source)
    reveal = env.get("reveal_intersection")
    if not isinstance(reveal, bool):
        raise ShareFileError(f"{source}: reveal_intersection must be true or false")
    raw = _unb64(env.get("request"), source, "request")
    req = psi.Request()
    try:
        req.ParseFromString(raw)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError; the message names the file
        raise ShareFileError(f"{source}: the request is not a PSI request message") from None
    n = len(req.encrypted_elements)
    if req.reveal_intersection != reveal:
        raise ShareFileError(f"{source}: the request's reveal_intersection does not match its envelope")
    if n == 0:
        raise ShareFileError(f"{source}: the request holds no identifiers")
    if n > max_items:
        raise ShareError(
            f"{source} holds {n} identifiers, more than the {max_items} allowed: a request this large could be "
            "a list of guessed identifiers (raise --max-items only for a partner you expect to send that many)"
        )
    mine = local_identifiers(db, kinds=kinds, exclude=exclude)
    server = psi.server.CreateWithNewKey(reveal)
    setup = server.CreateSetupMessage(1e-9, n, [psi_item(i.kind, i.value) for i in mine], psi.DataStructure.RAW)
    try:
        response = server.ProcessRequest(req)
    except RuntimeError as e:
        raise ShareFileError(f"{source}: the request was refused by the PSI library: {e}") from None
    envelope = {
        "format": PSI_RESPONSE_FORMAT,
        "version": FORMAT_VERSION,
        "request_sha256": hashlib.sha256(raw).hexdigest(),
        "setup": _b64(setup.SerializeToString()),
        "response": _b64(response.SerializeToString()),
    }
    with db.session() as s:
        record(s, actor, "share.psi.respond", "partner", partner, their_items=n, my_items=len(mine), reveal=reveal)
    return PsiResponse((json.dumps(envelope) + "\n").encode(), n, len(mine))


def psi_finish(
    db: Database,
    response_data: bytes | str,
    *,
    source: str = "response file",
    actor: Principal | str = "cli",
) -> OverlapResult:
    """Step 3 (requester): the overlap from the partner's response (the state file is then deleted)."""
    psi = _psi()
    env = _read_envelope(response_data, PSI_RESPONSE_FORMAT, source)
    digest = env.get("request_sha256")
    if not isinstance(digest, str) or not _HEX64_RE.fullmatch(digest):
        raise ShareFileError(f"{source}: request_sha256 must be 64 hexadecimal digits")
    path = _state_path(db.settings, digest)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShareError(
            f"{source} answers a request this installation has no state for (already finished, or made elsewhere)"
        ) from None
    if state.get("format") != PSI_STATE_FORMAT or state.get("request_sha256") != digest:
        raise ShareError(f"the PSI state file {path} is damaged")
    reveal = bool(state["reveal_intersection"])
    setup = psi.ServerSetup()
    response = psi.Response()
    try:
        setup.ParseFromString(_unb64(env.get("setup"), source, "setup"))
        response.ParseFromString(_unb64(env.get("response"), source, "response"))
    except ShareFileError:
        raise
    except Exception:  # noqa: BLE001 - protobuf's DecodeError
        raise ShareFileError(f"{source}: the setup or response is not a PSI message") from None
    entity_ids: list[int] = state["entity_ids"]
    if len(response.encrypted_elements) != len(entity_ids):
        raise ShareFileError(
            f"{source}: the response holds {len(response.encrypted_elements)} elements for a request of "
            f"{len(entity_ids)}"
        )
    client = psi.client.CreateFromKey(bytes.fromhex(state["key"]), reveal)
    theirs = len(setup.raw.encrypted_elements) if setup.HasField("raw") else 0
    try:
        if reveal:
            indices = sorted(client.GetIntersection(setup, response))
        else:
            size = int(client.GetIntersectionSize(setup, response))
    except RuntimeError as e:
        raise ShareFileError(f"{source}: the PSI library refused the response: {e}") from None
    partner = state["partner"]
    matches: list[Match] = []
    if reveal:
        wanted = [entity_ids[i] for i in indices if 0 <= i < len(entity_ids)]
        with db.reader() as s:
            rows = s.execute(select(Entity.id, Entity.kind, Entity.value).where(Entity.id.in_(wanted))).all()
        ents = sorted((LocalIdentifier(i, k, v) for i, k, v in rows), key=lambda e: (e.kind, e.value))
        matches = link_reports(db, ents)
        size = len(matches)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with db.session() as s:
        record(s, actor, "share.psi.finish", "partner", partner, mine=len(entity_ids), theirs=theirs, matches=size)
    return OverlapResult(partner, "psi" if reveal else "psi-size", theirs, len(entity_ids), size, matches)


def iter_lines(path: Path) -> Iterator[str]:
    """Lines of a partner's text file, with an error that says which file cannot be read."""
    try:
        with path.open(encoding="utf-8") as f:
            yield from f
    except UnicodeDecodeError as e:
        raise ShareFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ShareFileError(f"cannot read {path}: {e.strerror or e}") from None
