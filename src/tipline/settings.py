"""One typed settings declaration for every front end (web, CLI, tests).

Values come from environment variables prefixed ``TIPLINE_`` (e.g. ``TIPLINE_DATA_DIR``,
``TIPLINE_DATABASE_URL``) or from keyword arguments in tests. Nothing here is read at import time:
``Settings()`` is built by whoever starts the app.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIPLINE_", extra="ignore")

    data_dir: Path = Field(
        default=Path("tipline-data"),
        description="Folder for the SQLite database, secrets and local files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Empty: a SQLite file in the data folder. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    batch_engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="Engine of batch jobs over large tables (tipline.batch): duckdb (embedded) or spark.",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark master for batch jobs when batch_engine is spark: local[N] or a cluster URL.",
    )
    rules_file: Path | None = Field(
        default=None,
        description="Triage rules TOML. Empty: <data_dir>/triage-rules.toml if present, else the defaults.",
    )
    first_action_minutes: str = Field(
        default="15,240,1440,4320",
        description="Time-to-first-action targets in minutes for P1,P2,P3,P4 (comma-separated): an open "
        "report nobody has claimed, assigned or changed by then is marked overdue on the queue and "
        "notified to on-duty supervisors.",
    )
    overdue_webhook: str | None = Field(
        default=None,
        description="URL that also receives each overdue report as a JSON POST (report id, priority, minutes "
        "overdue; never its text). Empty: notifications stay in the app.",
    )
    max_text_chars: int = Field(default=20_000, description="Longest free text accepted in a report.")
    max_body_bytes: int = Field(default=1_000_000, description="Largest JSON or form body accepted.")
    max_xml_bytes: int = Field(default=2_000_000, description="Largest CyberTipline XML document accepted.")
    max_upload_bytes: int = Field(
        default=50_000_000,
        description="Largest file accepted by /ispws/upload, /api/v1/reports/{id}/files and /api/v1/match.",
    )
    api_key_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="A platform API key checked in the database is trusted by that server process for this many "
        "seconds, so a busy door does not read the platforms table at every report. A key disabled or rotated "
        "in the same process is refused at once; in another process (`tipline platforms disable`, a second "
        "server) within this time. 0: checked in the database at every request.",
    )
    analyse_inline: bool = Field(
        default=True,
        description="Analyse (extract, match, score, link) each report inside the request that stores it. "
        "`tipline serve` turns this off unless it is set: the door answers once the report is stored and the "
        "analysis workers take it (the server's own worker process, and `tipline worker` processes).",
    )
    analysis_batch_size: int = Field(
        default=32, ge=1, le=1000, description="Most reports an analysis worker takes in one transaction."
    )
    analysis_batch_ms: float = Field(
        default=50,
        gt=0,
        description="An analysis batch claims no more reports after this many milliseconds (on SQLite a batch "
        "holds the one write lock: doors wait at most about this long behind it).",
    )
    analysis_in_server: bool = Field(
        default=True,
        description="When analysis is queued, `tipline serve` runs an analysis worker of its own. Turn it off "
        "on PostgreSQL when `tipline worker` processes do all the analysis.",
    )
    analysis_process: bool = Field(
        default=True,
        description="`tipline serve` runs its analysis worker in a child process (its own interpreter and "
        "core) instead of a thread beside the door, which shares the door's one core.",
    )
    master_key: str | None = Field(
        default=None,
        description="64 hex characters: the master key that wraps the data keys of sealed fields (report "
        "text, reporter contact, messages, notes, TOTP secrets, media). Empty: key files in <data dir>/keys/, "
        "created on first use (fine for the embedded default; set it when several app nodes share one "
        "PostgreSQL). Never stored in the database.",
        repr=False,
    )
    previous_master_keys: str | None = Field(
        default=None,
        description="Comma-separated older master keys, still needed to read values sealed before a rotation.",
        repr=False,
    )
    search_index_key: str | None = Field(
        default=None,
        description="64 hex characters: key of the blind search index. Empty: a key file in <data dir>/keys/.",
        repr=False,
    )
    retention_file: Path | None = Field(
        default=None,
        description="Retention rules TOML. Empty: <data_dir>/retention.toml if present, else the defaults.",
    )
    cybertip_stale_hours: float = Field(
        default=24,
        ge=0,
        description="A CyberTipline submission still open this many hours after /submit (its platform never called "
        "/finish) is closed, marked 'not finished by the platform', analysed, queued and alerted on (0: never).",
    )
    retention_interval_hours: float = Field(
        default=24, description="How often the server runs retention (0: never; run `tipline retention run`)."
    )
    key_heartbeat_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often a server records which master key it seals with (`tipline keys rotate --retire` "
        "waits two of these for every server to switch).",
    )
    hotline_operator: str = Field(
        default="",
        max_length=300,
        description="Who runs this hotline (the organisation's name), shown on the public about and privacy "
        "page. Empty: the page says the operator has not filled it in.",
    )
    hotline_contact: str = Field(
        default="", max_length=300, description="How the public reaches the operator (e-mail or web address)."
    )
    legal_basis: str = Field(
        default="",
        max_length=2000,
        description="The legal basis of the processing, in the operator's words (e.g. the GDPR article and the "
        "national law that mandates the hotline), shown on the about and privacy page.",
    )
    quick_exit_url: str = Field(
        default="https://www.wikipedia.org/",
        max_length=300,
        description="Where the public pages' quick-exit button leads (a harmless site).",
    )
    emergency_number: str = Field(
        default="112",
        max_length=32,
        description="The emergency number the public pages give a reporter whose report is happening now.",
    )
    session_cookie_secure: bool = Field(default=False, description="Send the staff session cookie over HTTPS only.")
    session_idle_minutes: int = Field(default=60, ge=1, description="Staff session idle timeout.")
    session_max_hours: float = Field(
        default=12, gt=0, description="A staff session ends this long after login, however active (log in again)."
    )
    mfa_required_for_analysts: bool = Field(
        default=False,
        description="Require a second factor (TOTP) from analysts too. Admins and supervisors always need one; "
        "analysts may enrol anyway from their account page.",
    )
    mfa_issuer: str = Field(
        default="tipline", max_length=64, description="The name authenticator apps show for this installation."
    )
    lockout_threshold: int = Field(
        default=5, ge=1, description="Wrong passwords or codes in a row that lock a staff account."
    )
    lockout_minutes: int = Field(
        default=15, ge=1, description="How long a locked account stays locked (an admin can unlock it sooner)."
    )
    token_days: int = Field(
        default=90,
        ge=1,
        description="Staff API tokens expire this many days after they are made, unless asked otherwise.",
    )
    token_max_days: int = Field(default=365, ge=1, description="The longest life a staff API token may be given.")
    hsts: bool = Field(
        default=False,
        description="Send Strict-Transport-Security on every response, also when TLS ends at a proxy in front of "
        "tipline (it is always sent on requests that arrive over HTTPS).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for the rate limits shared by several app nodes (redis://127.0.0.1:6379/0). Empty: "
        "limits are kept in this process's memory. Run Redis without persistence: client keys live there.",
        repr=False,
    )
    rate_limits: bool = Field(default=True, description="Enforce the rate limits below (429 with Retry-After).")
    rate_limit_report_form: str = Field(
        default="20/10m",
        description="Public report form submissions per client (N/period; period s, m, h or d, e.g. 20/10m).",
    )
    rate_limit_followup: str = Field(
        default="30/10m", description="Follow-up receipt look-ups and messages per client."
    )
    rate_limit_login: str = Field(default="20/10m", description="Staff login attempts (password or code) per client.")
    rate_limit_api_key: str = Field(
        default="1200/m", description="JSON and CyberTipline API requests per platform key or staff token."
    )
    rate_limit_api_client: str = Field(default="2400/m", description="API requests per client, whatever the key.")
    rate_limit_session: str = Field(default="600/m", description="Staff page requests per session.")
    rate_limit_client: str = Field(
        default="600/m", description="Any other request per client (static files and /healthz are not limited)."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (e.g. 10.0.0.5, 192.0.2.0/24) of the reverse proxies in "
        "front of tipline. Only from these is X-Forwarded-For (the client address, for rate limits) and "
        "X-Forwarded-Proto believed. Empty: from nobody, loopback included (a forged header changes nothing).",
    )
    argon2_per_second: float | None = Field(
        default=None,
        ge=0,
        description="Most Argon2 checks per second for the whole process (logins, second-factor recovery codes, "
        "password changes count one each, or two; a receipt look-up a fifth), whatever the client: a flood from "
        "many addresses gets 503 with Retry-After instead of saturating the host. Empty: two per CPU core "
        "(at least 4), about a third of the host's CPU time. 0: no cap.",
    )
    media_mode: Literal["encrypt", "hashes_only"] = Field(
        default="encrypt",
        description="What happens to an uploaded file's bytes once it is hashed. encrypt: kept in "
        "<data_dir>/media, AES-GCM with a per-file key wrapped by the master key (never in the database), "
        "viewable by staff through the audited viewer. hashes_only: the bytes are dropped; only the hashes stay.",
    )
    max_image_pixels: int = Field(
        default=50_000_000,
        description="Largest image (width x height) decoded for hashing or preview; a larger one is refused as "
        "a decompression bomb (its exact hashes are still kept).",
    )
    pdq_full_resolution_pixels: int = Field(
        default=16_777_216,
        description="Pictures up to this many pixels are PDQ-hashed at full resolution (bit for bit the reference "
        "hashes of HMA / python-threatexchange); a larger one is decoded reduced to about 1024 x 1024 (JPEG at a "
        "smaller DCT scale), which moves its hash by 0-4 bits.",
    )
    max_video_frame_pixels: int = Field(
        default=4096 * 2160,
        description="Largest video frame (width x height, from the container's headers) decoded for vPDQ; a "
        "larger video keeps its exact hashes only.",
    )
    max_video_frames: int = Field(default=18_000, description="Most frames of a video decoded for vPDQ.")
    max_video_seconds: float = Field(default=600.0, description="Longest video (seconds) decoded for vPDQ.")
    media_child_memory_mb: int = Field(
        default=1024,
        description="Address-space limit (RLIMIT_AS) of the child process that decodes and hashes each picture "
        "or video; a file that needs more keeps its exact hashes only.",
    )
    media_child_cpu_seconds: int = Field(default=120, description="CPU-time limit (RLIMIT_CPU) of that child.")
    media_child_timeout_s: float = Field(default=120.0, description="Wall-clock limit of that child.")
    media_child_concurrency: int = Field(
        default=2, description="Most decoding children at once per server process; more files wait their turn."
    )
    background_every_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the server runs its background round: retries of failed inline analyses, "
        "closing CyberTipline submissions never finished, face scans of new report media.",
    )
    faces_enabled: bool = Field(
        default=False,
        description="Face search for victim identification (tipline.faces): faces found in report pictures and "
        "sampled video frames, galleries of known people that supervisors enrol and search. Off by default: "
        "while off nothing is detected or stored and every faces route and command refuses.",
    )
    faces_threshold: float = Field(
        default=0.6,
        gt=0,
        le=2,
        description="Largest Euclidean distance between two 128-d face embeddings listed as a match (dlib's "
        "ResNet model: 0.6 is its published threshold for the same person).",
    )
    faces_video_frames: int = Field(
        default=24, ge=1, le=600, description="Most frames sampled (evenly over its length) from each video."
    )
    faces_retention_days: int = Field(
        default=365,
        ge=1,
        description="Faces found in report media and gallery enrolments older than this are deleted by the "
        "retention job (a gallery entry may be renewed by enrolling it again).",
    )
    graph_guard: bool = Field(
        default=True,
        description="Over-correlation guard of the entity graph: warning-listed values and values above their "
        "kind's degree limit do not link reports into networks (they keep their mentions and pages).",
    )
    graph_builtin_warnings: bool = Field(
        default=True,
        description="Use tipline's built-in warning list (fictional phone ranges, role addresses, public e-mail "
        "services, URL shorteners, large platforms) besides the entries supervisors add.",
    )
    graph_degree_percentile: float = Field(
        default=90.0,
        gt=0,
        le=100,
        description="Degree limit per kind = max(floor, factor x this percentile of the degrees of the kind's "
        "values seen in two or more reports). The 90th tolerates up to 10% hubs among them.",
    )
    graph_degree_factor: float = Field(
        default=5.0, gt=0, description="Degree limit factor (see graph_degree_percentile)."
    )
    graph_degree_floor: int = Field(
        default=20,
        ge=2,
        description="No automatic degree limit goes below this: a cap too low splits real rings.",
    )
    graph_degree_min_sample: int = Field(
        default=10,
        ge=1,
        description="A kind with fewer shared values than this uses the limit of all kinds pooled.",
    )
    graph_degree_limit_default: int = Field(
        default=100, ge=2, description="Degree limit before there is enough data to derive one."
    )
    graph_limits_refresh_every: int = Field(
        default=500,
        ge=1,
        description="Degree limits are re-derived when the number of reports has doubled, and at least every "
        "this many reports.",
    )
    routing_resolver: str = Field(
        default="none",
        description="How the hosts of reported URLs are resolved for the jurisdiction's hosting clue: none, dns "
        "(the system's resolver: the queries reach the hosts' DNS servers, which may belong to the people "
        "reported) or file:PATH (a JSON file of host -> IP addresses). Used by `tipline jurisdiction REPORT "
        "--resolve`, never during analysis.",
    )
    pdq_threshold: int = Field(
        default=31,
        ge=0,
        le=128,
        description="Largest Hamming distance (of 256 bits) at which two PDQ hashes match; also used between "
        "vPDQ frames. 31 is Meta's (and HMA's) threshold for a confident match.",
    )
    pdq_dihedral: bool = Field(
        default=True,
        description="When the image itself is at hand (uploads, /api/v1/match with a file, `tipline match`), also "
        "match its 8 rotated and mirrored PDQ variants, so a flipped or rotated copy of a bank image matches, and "
        "its hash with uniform borders trimmed, so a letterboxed or framed copy matches.",
    )
    pdq_quality_threshold: int = Field(
        default=50,
        ge=0,
        le=100,
        description="PDQ hashes of lower quality (0-100; flat or near-empty pictures) are ignored on both sides: "
        "not imported into a bank, not looked up (HMA's threshold: 50). A hash of unknown quality is kept.",
    )
    vpdq_quality_threshold: int = Field(
        default=50,
        ge=0,
        le=100,
        description="vPDQ frames of lower PDQ quality (0-100) are ignored on both sides (HMA's default: 50).",
    )
    vpdq_match_share: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="vPDQ: share of the query video's distinct frames that must match a frame of the bank video "
        "(HMA's default: 0.8).",
    )
    vpdq_bank_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="vPDQ: share of the bank video's distinct frames that must match a frame of the query video "
        "(HMA's default: 0, so a short clip of a long known video matches).",
    )

    @field_validator("routing_resolver")
    @classmethod
    def _routing_resolver(cls, v: str) -> str:
        v = v.strip()
        if v.startswith("file:") and len(v) > len("file:"):
            return v
        if v.lower() in ("", "none", "off", "dns"):
            return v.lower() or "none"
        raise ValueError(f"unknown routing_resolver {v!r}: use none, dns or file:PATH")

    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies as checked addresses and networks (ValueError names a wrong one)."""
        import ipaddress

        out = []
        for item in (x.strip() for x in self.trusted_proxies.split(",")):
            if not item:
                continue
            try:
                out.append(
                    str(ipaddress.ip_network(item, strict=False)) if "/" in item else str(ipaddress.ip_address(item))
                )
            except ValueError:
                raise ValueError(
                    f"TIPLINE_TRUSTED_PROXIES: {item!r} is not an IP address or network; write e.g. 10.0.0.5 or "
                    "10.0.0.0/24, separated by commas"
                ) from None
        return out

    def argon2_rate(self) -> float:
        """Argon2 checks per second allowed to this process (0: no cap)."""
        if self.argon2_per_second is not None:
            return float(self.argon2_per_second)
        # a password check costs about 0.15 s of one core: two per core per second is ~30% of the host
        return float(max(4, 2 * (os.cpu_count() or 1)))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tipline.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        """The data folder, created if missing and readable by the service user only (mode 0700)."""
        private_dir(self.data_dir)
        return self.data_dir

    def secret(self, name: str, nbytes: int = 32) -> bytes:
        """A per-installation secret kept in the data folder (created on first use, mode 0600).

        It never goes in the database. Creation is atomic, so two processes starting together agree.
        """
        path = self.ensure_data_dir() / f".secret-{name}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):
                value = path.read_bytes()
                if len(value) == nbytes:
                    return value
                time.sleep(0.01)
            raise RuntimeError(
                f"the secret file {path} is damaged: remove it only if nothing was sealed with it"
            ) from None
        value = secrets.token_bytes(nbytes)
        with os.fdopen(fd, "wb") as f:
            f.write(value)
            f.flush()
            os.fsync(f.fileno())
        return value


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner can open (0700), tightening an
    existing one: the data folder holds the database, key files and media of reports."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing, or take group/other access off an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    else:
        os.close(fd)
