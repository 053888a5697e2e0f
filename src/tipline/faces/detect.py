"""Faces of a file (a picture or sampled video frames), found in the media hashing's limited child process.

The file is decoded where media hashing decodes it: a fresh child of :mod:`tipline.media.isolate` with the
``media_child_*`` memory, CPU-time and wall-clock limits, at most ``media_child_concurrency`` at once; the
picture's header is checked against ``max_image_pixels`` and a video's against the ``max_video_*`` caps
(:mod:`tipline.media.hashing`) before a pixel is decoded. A hostile file costs the child, never the server.
The model loads in the child (about 0.3 s; the forkserver does not preload it, so that a picture being
hashed is not charged its 130 MB of address space).

Video: ffprobe reads the headers (and the caps refuse a bomb), then FFmpeg decodes ``faces_video_frames``
frames spread evenly over its length, scaled to :data:`VIDEO_SIDE`, as raw RGB through a pipe; the child's
limits reach FFmpeg (it inherits them). The faces of all frames are embedded in one batch.

Don't: decode in the server; keep the decoded frames; estimate anything but identity.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tipline.media import hashing
from tipline.media.isolate import ChildFailed, run_limited

if TYPE_CHECKING:
    from tipline.settings import Settings

__all__ = ["DetectedFace", "FacesError", "FileFaces", "faces_in_bytes"]

VIDEO_SIDE = 960  # video frames are decoded at most this long on their longer side


class FacesError(ValueError):
    """The file's faces cannot be read (not a picture or video, damaged, over a limit); says which."""


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[int, int, int, int]  # x, y, width, height in the picture's (or frame's) own pixels
    quality: int  # 0-100
    embedding: bytes  # 128 float32, little-endian
    frame: int | None = None  # video: the frame number
    ts: float | None = None  # video: seconds from the start


@dataclass(frozen=True)
class FileFaces:
    kind: str  # image | video | other
    faces: list[DetectedFace]
    width: int | None = None
    height: int | None = None
    frames: int = 0  # video: frames searched
    error: str | None = None


def _to_detect(img: Any) -> tuple[np.ndarray, float]:
    """The picture scaled so that its longer side is at most ``DETECT_SIDE`` (RGB array, scale factor)."""
    from PIL import Image

    from tipline.faces.model import DETECT_SIDE

    side = max(img.size)
    scale = 1.0
    if side > DETECT_SIDE:
        scale = DETECT_SIDE / side
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR
        )
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))), scale


def _rows(found: list[Any], frame: int | None = None, ts: float | None = None) -> list[list[Any]]:
    return [[list(f.box), f.quality, f.embedding.astype("<f4").tobytes(), frame, ts] for f in found]


def _image_job(data: bytes, limits: hashing.MediaLimits, detector: str) -> dict[str, Any]:
    from PIL import Image

    from tipline.faces.model import FaceModel

    img, _fmt, _reduced = hashing.decode_for_pdq(
        data, max_pixels=limits.max_pixels, full_resolution_pixels=limits.full_resolution_pixels
    )
    with Image.open(io.BytesIO(data), formats=hashing.IMAGE_FORMATS) as head:  # its size, from the header
        width, height = head.size
    factor = img.width / width  # < 1 when decode_for_pdq reduced a very large picture
    rgb, scale = _to_detect(img)
    img.close()
    found = FaceModel(detector=detector).faces(rgb, scale=scale * factor)
    return {"kind": "image", "faces": _rows(found), "width": width, "height": height}


def _video_frames(path: str, p: hashing.VideoProbe, n: int) -> list[tuple[int, float, np.ndarray]]:
    """Up to ``n`` frames spread over the video, decoded by FFmpeg (limits inherited) as RGB arrays."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise hashing.MediaError("faces in videos need ffmpeg (Debian package ffmpeg)")
    total = p.frames or max(1, round((p.seconds or 1) * (p.fps or 25)))
    step = max(1, total // n)
    scale = min(1.0, VIDEO_SIDE / max(p.width, p.height))
    w, h = max(2, round(p.width * scale) // 2 * 2), max(2, round(p.height * scale) // 2 * 2)
    cmd = [ffmpeg, "-v", "error", "-nostdin", "-threads", "1", "-i", path, "-an", "-sn"]
    cmd += ["-vf", f"select=not(mod(n\\,{step})),scale={w}:{h}", "-fps_mode", "vfr", "-frames:v", str(n)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    size = w * h * 3
    frames: list[tuple[int, float, np.ndarray]] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        i = 0
        while len(frames) < n:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            number = i * step
            ts = number / p.fps if p.fps else 0.0
            frames.append((number, round(ts, 3), np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)))
            i += 1
        proc.stdout.close()
        proc.wait()
    return frames


def _video_job(path: str, ffprobe: str, limits: hashing.MediaLimits, detector: str, n: int) -> dict[str, Any]:
    from tipline.faces.model import FaceModel, quality_of, sharpness

    p = hashing.probe_video(path, ffprobe, timeout=min(30.0, limits.process.timeout_s))
    hashing.check_video(p, limits)
    frames = _video_frames(path, p, n)
    if not frames:
        raise hashing.MediaError("the video has no decodable frames")
    model = FaceModel(detector=detector)
    scale = frames[0][2].shape[1] / p.width
    # detect and align frame by frame, then embed every frame's faces in one batch (the GPU's unit of work)
    found: list[tuple[int, float, Any, float, np.ndarray]] = []
    chips: list[np.ndarray] = []
    for number, ts, rgb in frames:
        rects = model.detect(rgb)[:16]
        for (r, score), chip in zip(rects, model.chips(rgb, [r for r, _ in rects]), strict=True):
            found.append((number, ts, r, score, chip))
            chips.append(chip)
    vectors = model.embed(chips)
    rows = []
    for (number, ts, r, score, chip), vec in zip(found, vectors, strict=True):
        x0, y0, x1, y1 = max(0, r.left()), max(0, r.top()), r.right(), r.bottom()
        box = [round(x0 / scale), round(y0 / scale), round((x1 - x0) / scale), round((y1 - y0) / scale)]
        q = quality_of(score, min(x1 - x0, y1 - y0) / scale, sharpness(chip))
        rows.append([box, q, vec.astype("<f4").tobytes(), number, ts])
    return {"kind": "video", "faces": rows, "width": p.width, "height": p.height, "frames": len(frames)}


def _faces_in_child(data: bytes | None, video_path: str | None, opts: dict[str, Any]) -> dict[str, Any]:
    """The child's whole job: the faces of one picture or video, or why there are none."""
    limits: hashing.MediaLimits = opts["limits"]
    try:
        if video_path is not None:
            return _video_job(video_path, opts["ffprobe"], limits, opts["detector"], opts["frames"])
        assert data is not None
        return _image_job(data, limits, opts["detector"])
    except hashing.NotAnImage:
        return {"kind": "other", "faces": []}
    except hashing.MediaError as e:
        return {"error": str(e)}
    except (ImportError, OSError, RuntimeError) as e:
        # under RLIMIT_AS the model's library or weights may fail to map ("failed to map segment",
        # std::bad_alloc): that is the memory limit, and isolate names it as such
        words = str(e).lower()
        if "map" in words or "memory" in words or "bad_alloc" in words:
            raise MemoryError(str(e)) from None
        raise


def _result(out: dict[str, Any]) -> FileFaces:
    faces = [
        DetectedFace(box=(int(b[0]), int(b[1]), int(b[2]), int(b[3])), quality=int(q), embedding=e, frame=f, ts=t)
        for b, q, e, f, t in out.get("faces", [])
    ]
    return FileFaces(
        kind=out.get("kind", "other"),
        faces=faces,
        width=out.get("width"),
        height=out.get("height"),
        frames=int(out.get("frames", 0)),
    )


def faces_in_bytes(
    data: bytes, settings: Settings, *, detector: str = "hog", timeout: float | None = None
) -> FileFaces:
    """The faces of a picture or video (``kind="other"`` and none for anything else).

    Raises :class:`FacesError` when the file cannot be read, names the limit that stopped it (a hostile file
    stops its child, not the server)."""
    limits = hashing.MediaLimits.from_settings(settings)
    if timeout is not None:
        limits = replace(limits, process=replace(limits.process, timeout_s=timeout))
    opts: dict[str, Any] = {"limits": limits, "detector": detector, "frames": settings.faces_video_frames}
    video = hashing.sniff_video(data)
    path: str | None = None
    try:
        if video is not None:
            ffprobe = shutil.which("ffprobe")
            if ffprobe is None:
                raise FacesError("faces in videos need ffprobe and ffmpeg (Debian package ffmpeg)")
            opts["ffprobe"] = ffprobe
            fd, path = tempfile.mkstemp(prefix="tipline-faces-", suffix=".bin")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        what = "the video" if video else "the image"
        try:
            out = run_limited(_faces_in_child, (None if path else data, path, opts), limits.process, what=what)
        except ChildFailed as e:
            raise FacesError(str(e)) from None
    finally:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    if "error" in out:
        raise FacesError(out["error"])
    return _result(out)
