"""Media that cannot exhaust the host: upload bombs through the real server's three upload doors, with the
peak memory of the server and of every decoding child measured from /proc; the child's hard limits
(memory, CPU, wall clock) and its concurrency limit; the video caps read from the headers before decoding;
and how far decoding a large picture reduced moves its PDQ hash (measured, not assumed)."""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from helpers import CYBERTIP_RICH as RICH
from helpers import PASSWORD, XML, _csrf, free_port, login, uploaded  # noqa: F401 (autouse: a CSRF token per client, for the staff login)
from tipline.accounts import service as accounts
from tipline.media import hashing, isolate
from tipline.media.hashing import MediaError, MediaLimitError, MediaLimits, hash_bytes, pdq_hamming
from tipline.media.isolate import ProcessLimits
from tipline.store import Database
from tipline.synth import images as synth

TIPLINE = str(Path(sys.executable).with_name("tipline"))
PEAK_LIMIT_MB = 512  # the stated limit: neither the server nor any decoding child may reach it

needs_video = pytest.mark.skipif(
    not hashing.vpdq_available() or shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="video hashing needs vpdq and the ffmpeg/ffprobe commands: run `make`",
)


# ------------------------------------------------------------------------------------------ the bombs


def black_h264(path: Path, side: int = 4096, seconds: int = 20) -> bytes:
    """A black H.264 video of side x side pixels, 25 frames a second (encoded once for 1 s, then looped
    without re-encoding: a few seconds instead of a minute, the same 500 frames for a decoder)."""
    one = path.with_suffix(".one.mp4")
    base = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    subprocess.run(
        [*base, "-f", "lavfi", "-i", f"color=black:s={side}x{side}:d=1:r=25"]
        + ["-c:v", "libx264", "-preset", "superfast", "-threads", "1", "-pix_fmt", "yuv420p", str(one)],
        check=True,
        timeout=120,
    )
    subprocess.run(
        [*base, "-stream_loop", str(seconds - 1), "-i", str(one), "-c", "copy", str(path)], check=True, timeout=60
    )
    one.unlink()
    return path.read_bytes()


def flat_png(side: int, colour: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (colour, colour, colour)).save(buf, "PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ /proc


def _children_of() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakWatch:
    """Peak resident memory (VmHWM, the kernel's own high-water mark) of a process and, polled every 10 ms, of
    each of its descendants while it lives (a child's VmHWM only grows, so its last reading is its peak up
    to then; its address space is capped by RLIMIT_AS besides)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.server_kb = 0
        self.children_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            time.sleep(0.01)

    def poll(self) -> None:
        self.server_kb = max(self.server_kb, _hwm_kb(self.pid))
        tree = _children_of()
        todo = list(tree.get(self.pid, []))
        while todo:
            pid = todo.pop()
            self.children_kb[pid] = max(self.children_kb.get(pid, 0), _hwm_kb(pid))
            todo.extend(tree.get(pid, []))

    def __enter__(self) -> PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()


def _start_server(settings, port: int) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, "TIPLINE_DATA_DIR": str(settings.data_dir), "TIPLINE_RATE_LIMITS": "false"}
    env.pop("TIPLINE_DATABASE_URL", None)
    if settings.database_url:
        env["TIPLINE_DATABASE_URL"] = settings.database_url
    proc = subprocess.Popen(
        [TIPLINE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start: " + proc.stderr.read().decode())  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ the real server


@pytest.mark.slow
@needs_video
def test_upload_bombs_through_the_three_doors_keep_server_and_children_under_512_mb(settings, db: Database, tmp_path):
    video = black_h264(tmp_path / "black.mp4")
    assert len(video) < 500_000  # a few hundred KB that would decode to 500 frames of 16.7 million pixels
    png = flat_png(7000)
    assert len(png) < 400_000  # 143 KB that decode to 49 million pixels
    creds = accounts.create_platform(db, "BombChat")
    key = {"Authorization": f"Bearer {creds.api_key}"}
    port = free_port()
    proc = _start_server(settings, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with PeakWatch(proc.pid) as watch, httpx.Client(base_url=base, timeout=300) as c:
            idle_kb = _hwm_kb(proc.pid)
            # 1. the JSON API's files door: the report and both files are stored, the video without vPDQ
            r = c.post(
                "/api/v1/reports", json={"report_id": "BOMB-1", "category": "other", "text": "bomb test"}, headers=key
            )
            assert r.status_code == 201, r.text
            rid = r.json()["id"]
            r = c.post(f"/api/v1/reports/{rid}/files", files={"file": ("v.mp4", video, "video/mp4")}, headers=key)
            assert r.status_code == 201, r.text
            out = r.json()
            assert out["kind"] == "video" and out["vpdq"] is None and out["md5"] and out["stored"] is True
            assert "4096 x 4096" in out["hash_error"] and "TIPLINE_MAX_VIDEO_FRAME_PIXELS" in out["hash_error"]
            r = c.post(f"/api/v1/reports/{rid}/files", files={"file": ("p.png", png, "image/png")}, headers=key)
            assert r.status_code == 201, r.text
            assert r.json()["kind"] == "image" and r.json()["pdq"] and r.json()["hash_error"] is None

            # 2. matching: a refused video is a 422 that names the limit; the big picture is hashed (reduced)
            r = c.post("/api/v1/match", files={"file": ("v.mp4", video, "video/mp4")}, headers=key)
            assert r.status_code == 422 and "TIPLINE_MAX_VIDEO_FRAME_PIXELS" in r.json()["detail"], r.text

            # 3. the CyberTipline door: the upload is accepted (exact hashes kept), the report finishes
            auth = (creds.username, creds.password)
            r = c.post("/ispws/submit", content=RICH, headers=XML, auth=auth)
            assert r.status_code == 200, r.text
            ct = int(r.text.split("<reportId>")[1].split("<")[0])
            for name, data in (("v.mp4", video), ("p.png", png)):
                r = c.post("/ispws/upload", data={"id": str(ct)}, files={"file": (name, data)}, auth=auth)
                assert r.status_code == 200 and "<responseCode>0</responseCode>" in r.text, r.text
            r = c.post("/ispws/finish", data={"id": str(ct)}, auth=auth)
            assert r.status_code == 200 and "<responseCode>0</responseCode>" in r.text, r.text

            # 4. six 7000 x 7000 PNGs at once
            def one(i: int) -> int:
                with httpx.Client(base_url=base, timeout=300) as ci:
                    data = flat_png_cache[i % 2]
                    return ci.post("/api/v1/match", files={"file": (f"{i}.png", data)}, headers=key).status_code

            flat_png_cache = [png, flat_png(7000, 255)]
            threads = [threading.Thread(target=lambda i=i: codes.append(one(i))) for i in range(6)]
            codes: list[int] = []
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert codes == [200] * 6
            assert c.get("/healthz").status_code == 200
        server_mb = watch.server_kb / 1024
        child_mb = max(watch.children_kb.values()) / 1024
        print(
            f"\npeak RSS: server {server_mb:.0f} MB (idle {idle_kb / 1024:.0f} MB), decoding children {child_mb:.0f} MB"
        )
        assert len(watch.children_kb) >= 2  # the forkserver and the children it forked were seen
        assert server_mb < PEAK_LIMIT_MB, server_mb
        assert child_mb < PEAK_LIMIT_MB, child_mb
        assert server_mb - idle_kb / 1024 < 200  # no decoded picture ever lived in the server
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # nothing was lost: the report of the JSON API still has its text and both files
    with db.reader() as s:
        from tipline.store.models import Attachment, Report

        report = s.get(Report, rid)
        assert report is not None and report.text == "bomb test"
        kinds = sorted((a.details or {}).get("kind") for a in s.query(Attachment).filter_by(report_id=rid))
        assert kinds == ["image", "video"]


# ------------------------------------------------------------------------------------------ the limits


def test_memory_cpu_and_wall_clock_limits_are_named(tmp_path):
    # a 4000 x 4000 picture, hashed at full resolution (about 500 MB of pdqhash buffers)
    data = synth.encode(synth.synth_image(3, (500, 500)).resize((4000, 4000)), "PNG")
    tight = MediaLimits(process=ProcessLimits(memory_mb=300, cpu_seconds=60, timeout_s=60))
    with pytest.raises(MediaLimitError, match="300 MB.*TIPLINE_MEDIA_CHILD_MEMORY_MB") as e:
        hash_bytes(data, filename="big.png", limits=tight)
    assert e.value.limit == "memory" and str(e.value).startswith("big.png: ")
    lenient = hash_bytes(data, limits=tight, strict=False)
    assert lenient.kind == "image" and lenient.media_type == "image/png" and lenient.pdq is None
    assert "TIPLINE_MEDIA_CHILD_MEMORY_MB" in lenient.error and len(lenient.sha256) == 64

    # CPU: a job that would spin for minutes is stopped after its 1 s of processor time (SIGXCPU)
    spin = ProcessLimits(cpu_seconds=1, timeout_s=60)
    t0 = time.monotonic()
    with pytest.raises(isolate.ChildFailed, match="1 s of processor time.*TIPLINE_MEDIA_CHILD_CPU_SECONDS") as c:
        isolate.run_limited(sum, (range(10**12),), spin, what="the video")
    assert c.value.limit == "cpu" and time.monotonic() - t0 < 30

    # wall clock: hashing the picture cannot finish in 50 ms; the child is killed and the caller told why
    short = MediaLimits(process=ProcessLimits(memory_mb=2048, cpu_seconds=60, timeout_s=0.05))
    t0 = time.monotonic()
    with pytest.raises(MediaLimitError, match=r"more than 0\.05 s.*TIPLINE_MEDIA_CHILD_TIMEOUT_S") as e:
        hash_bytes(data, limits=short)
    assert e.value.limit == "timeout" and time.monotonic() - t0 < 5

    # the same picture within the limits: the server process never decoded it
    assert hash_bytes(data).pdq


def test_children_run_at_most_concurrency_at_once():
    def wave(n: int) -> float:
        limits = ProcessLimits(concurrency=n, timeout_s=30)
        threads = [
            threading.Thread(target=isolate.run_limited, args=(time.sleep, (0.6,), limits), kwargs={"what": "x"})
            for _ in range(4)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - t0

    wave(4)  # the forkserver is started
    assert wave(1) >= 4 * 0.6
    assert 2 * 0.6 <= wave(2) < 4 * 0.6


def test_a_crashing_decoder_is_an_error_not_a_dead_server():
    with pytest.raises(isolate.ChildFailed, match="decoder aborted") as e:
        isolate.run_limited(os.abort, (), ProcessLimits(), what="the file")
    assert "TIPLINE_MEDIA_CHILD_MEMORY_MB" in str(e.value) and e.value.limit is None


@needs_video
def test_video_caps_are_checked_from_the_headers_before_decoding(tmp_path):
    video = synth.to_h264(synth.synth_video(4, frames=48, size=(640, 480)))  # 2 s at 24 frames a second
    ok = hash_bytes(video)
    assert ok.kind == "video" and len(ok.vpdq) == 48
    for limits, words in (
        (
            MediaLimits(max_video_frame_pixels=640 * 480 - 1),
            "640 x 480 = 307,200 pixels.*TIPLINE_MAX_VIDEO_FRAME_PIXELS",
        ),
        (MediaLimits(max_video_frames=47), "48 frames; at most 47.*TIPLINE_MAX_VIDEO_FRAMES"),
        (MediaLimits(max_video_seconds=1.5), "lasts 2 s; at most 1.5 s.*TIPLINE_MAX_VIDEO_SECONDS"),
    ):
        with pytest.raises(MediaError, match=words):
            hash_bytes(video, limits=limits)
        assert "TIPLINE_MAX_VIDEO" in (hash_bytes(video, limits=limits, strict=False).error or "")


@needs_video
def test_a_large_video_is_decoded_at_the_size_vpdq_needs_and_stays_close(tmp_path):
    frames = synth.video_frames(7, frames=12, size=(320, 240))
    big = synth.to_h264(synth.encode_avi([f.resize((1280, 960), Image.Resampling.BICUBIC) for f in frames], fps=12))
    assert hashing._decode_size(1280, 960) == (512, 384) and hashing._decode_size(480, 360) == (0, 0)
    scaled = hash_bytes(big).vpdq
    assert scaled is not None and len(scaled) == 12
    import vpdq  # the reference: what was computed before, every pixel of every frame

    path = tmp_path / "big.mp4"
    path.write_bytes(big)
    reference = vpdq.computeHash(str(path), seconds_per_hash=0.0, thread_count=1)
    d = [pdq_hamming(a["pdq"], b.hex) for a, b in zip(scaled, reference, strict=True)]
    print(f"\nvPDQ at 512 px vs every pixel (1280x960): median {statistics.median(d)}, max {max(d)} bits")
    assert max(d) <= 16, d


# ------------------------------------------------------------------------------------------ reduced decoding


def test_large_pictures_are_decoded_reduced_and_their_hashes_move_a_few_bits():
    """Full-resolution hashing (what every picture got before, and what pictures up to 16.7 Mpx still get)
    against reduced decoding, on synthetic 6000 x 4000 pictures as JPEG and PNG."""
    everything = MediaLimits(full_resolution_pixels=10**9, process=ProcessLimits(memory_mb=4096))
    distances: dict[str, list[int]] = {"JPEG": [], "PNG": []}
    for seed in range(3):
        img = synth.synth_image(40 + seed, (1500, 1000)).resize((6000, 4000), Image.Resampling.BICUBIC)
        for fmt in distances:
            data = synth.encode(img, fmt)
            small = hash_bytes(data, dihedral=True)
            full = hash_bytes(data, dihedral=True, limits=everything)
            assert small.pdq_decoded_size is not None and max(small.pdq_decoded_size) <= 2048
            assert full.pdq_decoded_size is None and (small.width, small.height) == (full.width, full.height)
            assert small.as_details()["pdq_decoded_size"] == list(small.pdq_decoded_size)
            distances[fmt].append(pdq_hamming(small.pdq, full.pdq))
            assert len(small.pdq_dihedral) == 8 and small.pdq_dihedral[0] == small.pdq
            assert max(pdq_hamming(a, b) for a, b in zip(small.pdq_dihedral, full.pdq_dihedral, strict=True)) <= 31
    print(f"\nreduced vs full resolution, bits: {distances}")
    assert max(max(v) for v in distances.values()) <= 8, distances


def test_normal_pictures_keep_their_full_resolution_hashes():
    for seed, size in ((1, (640, 480)), (2, (4032, 3024))):
        img = synth.synth_image(seed, (size[0] // 4, size[1] // 4)).resize(size)
        data = synth.encode(img, "JPEG")
        h = hash_bytes(data, dihedral=True)
        decoded = Image.open(io.BytesIO(data))
        decoded.load()
        assert h.pdq_decoded_size is None
        assert h.pdq == hashing.pdq_image(decoded)[0] and h.pdq_dihedral == hashing.pdq_dihedral(decoded)


# ------------------------------------------------------------------------------------------ the viewer


def test_the_viewer_renders_a_stored_bomb_in_the_limited_child_reduced(client, db, platform):
    fid = uploaded(client, platform, flat_png(7000, 128), "big.png")
    accounts.create_user(db, "ana", "analyst", PASSWORD)
    assert login(client).status_code == 303
    isolate.last_peaks_kb.clear()  # it keeps the last 100 peaks: count from empty, whatever ran before
    p = client.get(f"/media/{fid}/preview.png")
    assert p.status_code == 200 and p.headers["content-type"] == "image/png"
    preview = Image.open(io.BytesIO(p.content))
    assert preview.mode == "L" and max(preview.size) <= 256
    # rendered by a child (its peak is recorded), well under the stated limit, never in the server process
    assert len(isolate.last_peaks_kb) == 1 and isolate.last_peaks_kb[-1] / 1024 < PEAK_LIMIT_MB
