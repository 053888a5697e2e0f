"""Hashes of a file: exact (MD5, SHA-1, SHA-256), PDQ for images, vPDQ for video.

PDQ is Meta's 256-bit perceptual image hash; two copies of one picture are "the same" when their hashes
differ in at most 31 bits (the threshold HMA and NCMEC use). vPDQ is PDQ on video frames. The hashing
itself is Meta's reference C++ code, through the ``pdqhash`` package (images) and the ``vpdq`` package
(video, which decodes with FFmpeg's libraries). This module decides what to feed them:

* **Isolation.** Everything that decodes the file (sniffing, Pillow, ffprobe, vPDQ) runs in a child
  process with hard memory and CPU limits and a timeout (:mod:`tipline.media.isolate`), at most
  ``concurrency`` at once; the server process only computes the exact hashes. A file that would need more
  gets a :class:`MediaLimitError` naming the limit and its setting, never a dead or swollen server.
* **Image decoding** is Pillow's, restricted to :data:`IMAGE_FORMATS` (no EPS, which would run
  Ghostscript, and none of Pillow's rarer scientific formats). The media type is what Pillow recognises,
  never the client's claim. A picture with more than ``max_pixels`` pixels is refused from its header,
  before its pixels are decoded (a decompression bomb: a few kilobytes that inflate to gigabytes), as is a
  file Pillow cannot read to the end.
* **Pixels hashed.** Up to ``full_resolution_pixels`` (16.7 million, 4096 x 4096: every camera picture)
  the decoded pixels at full resolution, converted to RGB (palette, grey and CMYK through Pillow's
  ``convert("RGB")``; the alpha channel is dropped, as the reference tools do). This is what the Java
  reference does, and python-threatexchange / HMA for RGB and grey pictures, and what ``tests/data/pdq``
  checks: we get the reference test vectors bit for bit. python-threatexchange hashes palette and CMYK
  pixels as stored (palette indices as grey): for those pictures intake also keeps that hash
  (``pdq_raw``, see :func:`_raw_pdq`) and the matcher queries both, so banks made by either tool match.
  A larger picture is decoded small: JPEG at a reduced DCT scale
  (``Image.draft``), other formats decoded and box-reduced (``Image.reduce``), to about 1024 x 1024 (PDQ
  itself filters down to 64 x 64). Measured against full-resolution hashing of the same files this moves
  0-4 bits (2 on most synthetic pictures; ``tests/test_media_isolation.py``, bench/RESULTS.md), far inside the 31-bit
  threshold; ``details["pdq_decoded_size"]`` records the size actually hashed. (The C++ command-line tool
  and the pure-Python reference shrink every picture over 512 px first; that moves 2-12 bits.)
Quality (0-100) says how much detail the picture has; below about 50 a PDQ hash is unreliable (a flat
colour scores 0) and matchers should not trust it alone.

Don't: trust the client's media type or file name; apply EXIF orientation before hashing (it breaks
compatibility with every other PDQ producer); keep a decoded image or a temporary video file around.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from tipline.media.isolate import ChildFailed, ProcessLimits, run_limited

if TYPE_CHECKING:
    from tipline.settings import Settings

__all__ = [
    "IMAGE_FORMATS",
    "MediaError",
    "MediaHashes",
    "MediaLimitError",
    "MediaLimits",
    "VpdqUnavailable",
    "hash_bytes",
    "hash_file",
    "pdq_dihedral",
    "pdq_hamming",
    "pdq_image",
    "sniff_video",
    "vpdq_available",
    "vpdq_bytes",
]

# Pillow formats we decode (JPEG includes MPO, which its plugin opens). Everything else is hashed exactly
# only ("other").
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "PPM", "QOI")

DIHEDRAL_NAMES = ("orig", "rot90", "rot180", "rot270", "flipX", "flipY", "transpose", "transverse")
# Dihedral hash i of an image is (approximately) the plain PDQ hash of the image turned by Pillow operation
# i. pdqhash's "rotate 90" is Pillow's ROTATE_90 (a quarter turn anticlockwise) and its "flip X" mirrors
# across the horizontal axis (top <-> bottom). Checked by tests/test_media_hashing.py.
DIHEDRAL_PILLOW_OPS: tuple[Image.Transpose | None, ...] = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)

INSTALL_HINT = (
    "video hashing needs the vpdq package, which builds against FFmpeg's development libraries: run `make` "
    "(it runs scripts/ensure-ffmpeg-dev.sh, then installs the project), or as root "
    "`bash scripts/ensure-ffmpeg-dev.sh && .venv/bin/pip install vpdq`"
)


class MediaError(ValueError):
    """A file that cannot be hashed as the media it claims to be (corrupt, too large, undecodable)."""


class VpdqUnavailable(MediaError):
    """The ``vpdq`` package is not installed: the message says how to install it."""


@dataclass(frozen=True)
class MediaHashes:
    kind: str  # "image" | "video" | "other"
    media_type: str | None  # sniffed (Pillow for images, magic bytes for video), never the client's claim
    size: int
    md5: str
    sha1: str
    sha256: str
    pdq: str | None = None  # 64 hex (images)
    pdq_quality: int | None = None
    vpdq: list[dict[str, Any]] | None = None  # video: [{"pdq": hex, "quality": int, "frame": n, "ts": float}]
    pdq_dihedral: list[str] | None = None  # the 8 dihedral hashes (``dihedral=True``), DIHEDRAL_NAMES order
    pdq_trim: str | None = None  # ``dihedral=True``: the hash with uniform borders trimmed (None: no border)
    pdq_raw: str | None = None  # palette, CMYK, ... pictures: the hash of the pixels as stored (see _raw_pdq)
    pdq_decoded_size: tuple[int, int] | None = None  # a large picture: the reduced size that was hashed
    width: int | None = None
    height: int | None = None
    exif_orientation: int | None = None  # the EXIF orientation tag when present and not 1 (not applied)
    error: str | None = None  # why perceptual hashing failed (only with ``strict=False``)

    def as_details(self) -> dict[str, Any]:
        """What an attachment keeps beside its hash columns (``Attachment.details``)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.pdq_quality is not None:
            out["pdq_quality"] = self.pdq_quality
        if self.pdq_trim is not None:
            out["pdq_trim"] = self.pdq_trim
        if self.pdq_raw is not None:
            out["pdq_raw"] = self.pdq_raw
        if self.vpdq is not None:
            out["vpdq"] = self.vpdq
        if self.width is not None and self.height is not None:
            out["width"], out["height"] = self.width, self.height
        if self.pdq_decoded_size is not None:
            out["pdq_decoded_size"] = list(self.pdq_decoded_size)
        if self.exif_orientation is not None:
            out["exif_orientation"] = self.exif_orientation
        if self.error is not None:
            out["hash_error"] = self.error
        return out


# ------------------------------------------------------------------------------------------ PDQ


def _bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _rgb_array(img: Image.Image) -> np.ndarray:
    if img.mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise MediaError(f"cannot hash an image of shape {arr.shape}")
    return arr


def pdq_image(img: Image.Image) -> tuple[str, int]:
    """PDQ hash (64 hex characters) and quality (0-100) of a decoded image, as the reference computes them."""
    import pdqhash

    bits, quality = pdqhash.compute(_rgb_array(img))
    return _bits_to_hex(bits), int(quality)


def pdq_dihedral(img_or_bytes: Image.Image | bytes) -> list[str]:
    """The 8 dihedral PDQ hashes, in :data:`DIHEDRAL_NAMES` order: orig, rot90, rot180, rot270, flipX, flipY,
    transpose, transverse (see :data:`DIHEDRAL_PILLOW_OPS` for the Pillow transpose each one stands for).

    One DCT gives all eight (the reference's ``pdqDihedralHash256esFromFloatLuma``), so this costs about
    what one hash does. Hash i of an image is within a few bits of the plain hash of that image turned by
    operation i; match a query's eight hashes against the index to find mirrored and rotated copies.
    """
    import pdqhash

    if isinstance(img_or_bytes, bytes):
        h = hash_bytes(img_or_bytes, dihedral=True)
        if h.pdq_dihedral is None:
            raise MediaError("the file is not a picture tipline decodes")
        return h.pdq_dihedral
    hashes, _quality = pdqhash.compute_dihedral(_rgb_array(img_or_bytes))
    return [_bits_to_hex(h) for h in hashes]


TRIM_TOLERANCE = 12  # grey levels: a border row or column varies less than this and stays near the edge's level
TRIM_MIN = 0.01  # borders thinner than this share of the side are left alone (JPEG edges, a hairline frame)
TRIM_KEEP = 0.4  # never trim to less than this share of a side (a mostly flat picture is not a border)


def trim_borders(arr: np.ndarray) -> np.ndarray | None:
    """The picture without uniform borders (letterboxing, pillarboxing, a flat frame added around a copy), or
    None when it has none worth trimming. ``arr``: RGB, height x width x 3.

    A side's border is the run of rows (columns) from the edge whose grey levels all stay within
    :data:`TRIM_TOLERANCE` of the edge's median level; it is trimmed when at least :data:`TRIM_MIN` of the
    side thick, and the rest keeps at least :data:`TRIM_KEEP` of each side."""
    grey = arr.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    h, w = grey.shape
    if h < 16 or w < 16:
        return None

    def run(lines: np.ndarray) -> int:
        level = float(np.median(lines[0]))
        off = np.abs(lines - level).max(axis=1) > TRIM_TOLERANCE
        idx = np.flatnonzero(off)
        return int(idx[0]) if idx.size else len(lines)

    top, bottom = run(grey), run(grey[::-1])
    left, right = run(grey.T), run(grey.T[::-1])
    cut = [t if t >= TRIM_MIN * n else 0 for t, n in ((top, h), (bottom, h), (left, w), (right, w))]
    top, bottom, left, right = cut
    if not any(cut) or h - top - bottom < TRIM_KEEP * h or w - left - right < TRIM_KEEP * w:
        return None
    return arr[top : h - bottom, left : w - right]


def pdq_hamming(a_hex: str, b_hex: str) -> int:
    """Bits that differ between two PDQ hashes (0-256)."""
    if len(a_hex) != 64 or len(b_hex) != 64:
        raise ValueError("PDQ hashes are 64 hexadecimal characters")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


# ------------------------------------------------------------------------------------------ limits


@dataclass(frozen=True)
class MediaLimits:
    """What a file may cost to decode (the ``max_image_pixels``, ``max_video_*``, ``pdq_full_resolution_pixels``
    and ``media_child_*`` settings). The defaults are the settings' defaults."""

    max_pixels: int = 50_000_000
    full_resolution_pixels: int = 16_777_216
    max_video_frame_pixels: int = 4096 * 2160
    max_video_frames: int = 18_000
    max_video_seconds: float = 600.0
    process: ProcessLimits = field(default_factory=ProcessLimits)

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLimits:
        return cls(
            max_pixels=settings.max_image_pixels,
            full_resolution_pixels=settings.pdq_full_resolution_pixels,
            max_video_frame_pixels=settings.max_video_frame_pixels,
            max_video_frames=settings.max_video_frames,
            max_video_seconds=settings.max_video_seconds,
            process=ProcessLimits.from_settings(settings),
        )


class MediaLimitError(MediaError):
    """Decoding was stopped by a process limit; ``limit`` is "memory", "cpu", "timeout" or None (a crash)."""

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class NotAnImage(MediaError):
    """Pillow (restricted to :data:`IMAGE_FORMATS`) does not recognise the file."""


# a picture over ``full_resolution_pixels`` is decoded to about this many pixels (see the module docstring)
REDUCED_PIXELS = 1024 * 1024
# vPDQ decodes video frames scaled to at most this many pixels on the longer side
VPDQ_DECODE_SIDE = 512


# ------------------------------------------------------------------------------------------ images


def _open_image(data: bytes, *, max_pixels: int) -> tuple[Image.Image, str]:
    """Open an image (header only), refusing decompression bombs before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its limit, raises) on huge images; ours is checked below
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaError(f"the image is too large to decode safely (decompression bomb): {e}") from None
    except UnidentifiedImageError:
        raise NotAnImage("the file is not an image format tipline decodes") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MediaError(f"the image is corrupt or truncated: {e}") from None
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise MediaError(
            f"the image is {w} x {h} = {w * h:,} pixels; at most {max_pixels:,} are decoded "
            "(a larger one is treated as a decompression bomb; setting TIPLINE_MAX_IMAGE_PIXELS)"
        )
    return img, img.format or ""


def _load(img: Image.Image) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaError(f"the image is too large to decode safely (decompression bomb): {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MediaError(f"the image is corrupt or truncated: {e}") from None


def decode_for_pdq(data: bytes, *, max_pixels: int, full_resolution_pixels: int) -> tuple[Image.Image, str, bool]:
    """The picture PDQ hashes: ``(RGB image, Pillow format, reduced)``.

    At most ``full_resolution_pixels``: every pixel (bit for bit the reference hashes). Larger: JPEG decoded
    at a reduced DCT scale, others decoded and box-reduced by an integer factor, to about
    :data:`REDUCED_PIXELS` (the header is checked against ``max_pixels`` first). Runs in the limited child.
    """
    img, fmt = _open_image(data, max_pixels=max_pixels)
    w, h = img.size
    reduced = w * h > full_resolution_pixels
    if reduced:
        factor = max(1, math.isqrt((w * h) // REDUCED_PIXELS))
        if fmt in ("JPEG", "MPO") and factor > 1:
            img.draft(None, (max(1, w // factor), max(1, h // factor)))  # libjpeg scales by 1/2, 1/4 or 1/8
    _load(img)
    if reduced:
        if img.mode not in ("L", "RGB"):
            # palette, alpha, CMYK, 16-bit: to RGB first (alpha dropped, as at full resolution); Pillow's reduce
            # would average palette indices, and premultiply alpha
            rgb = img.convert("RGB")
            img.close()
            img = rgb
        factor = max(1, math.isqrt((img.width * img.height) // REDUCED_PIXELS))
        if factor > 1:
            small = img.reduce(factor)
            img.close()
            img = small
    if img.mode != "RGB":
        rgb = img.convert("RGB")
        img.close()
        img = rgb
    return img, fmt, reduced


def _image_media_type(fmt: str) -> str | None:
    if fmt == "MPO":  # a JPEG with extra pictures (phone cameras)
        return "image/jpeg"
    return Image.MIME.get(fmt.upper()) or f"image/{fmt.lower()}"


def _exif_orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(0x0112)
    except Exception:
        return None
    return int(value) if isinstance(value, int) and value not in (0, 1) else None


def _looks_like_image(data: bytes) -> bool:
    """Magic bytes of the picture formats we decode (only to name the file in a message about a limit)."""
    head = data[:16]
    return (
        head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"qoif"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:12] in (b"ftypavif", b"ftypavis"))
        or (len(head) > 2 and head[0:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace())
    )


# modes whose pixels python-threatexchange (HMA) hashes as stored, where we hash them converted to RGB
RAW_MODES = frozenset({"P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1", "I", "F", "RGBa", "La"})
RAW_MIN_QUALITY = 50  # the default ``pdq_quality_threshold``


def _raw_pdq(img: Image.Image) -> str | None:
    """The PDQ hash python-threatexchange (and so HMA) gives a picture that is not RGB or grey: it hashes the
    array Pillow hands out as it is (palette indices as grey levels, CMYK's first three channels), where
    tipline converts to RGB as the Java reference does (``tests/data/pdq``). Banks filled by those tools hold
    such hashes (36 to 256 bits from ours): intake keeps this one too and the matcher queries both. None for
    an array PDQ cannot take. Same pixels, no network: the conversion is python-threatexchange's
    ``_convert_image_to_correct_array_dimension``, which is small enough to restate here (the package is a
    test dependency only). A raw hash under :data:`RAW_MIN_QUALITY` is dropped (palette indices of a flat
    picture say nothing)."""
    import pdqhash

    try:
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., np.newaxis], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] < 3 or arr.dtype != np.uint8:
            return None
        bits, quality = pdqhash.compute(np.ascontiguousarray(arr))
    except (ValueError, TypeError, MemoryError):
        return None
    return _bits_to_hex(bits) if quality >= RAW_MIN_QUALITY else None


def _image_in_child(data: bytes, limits: MediaLimits, dihedral: bool) -> dict[str, Any]:
    """Sniff, decode and hash a picture (runs in the limited child)."""
    import pdqhash

    img, fmt = _open_image(data, max_pixels=limits.max_pixels)
    size = img.size
    orientation = _exif_orientation(img)
    raw = None
    if img.mode in RAW_MODES and size[0] * size[1] <= limits.full_resolution_pixels:
        _load(img)
        raw = _raw_pdq(img)
    img.close()
    img, fmt, reduced = decode_for_pdq(
        data, max_pixels=limits.max_pixels, full_resolution_pixels=limits.full_resolution_pixels
    )
    arr = _rgb_array(img)
    decoded_size = img.size
    img.close()
    out: dict[str, Any] = {
        "kind": "image",
        "media_type": _image_media_type(fmt),
        "width": size[0],
        "height": size[1],
        "exif_orientation": orientation,
        "decoded_size": list(decoded_size) if reduced else None,
    }
    if dihedral:
        # one DCT gives all eight; the first is the plain hash, bit for bit (the same code computes both)
        hashes, quality = pdqhash.compute_dihedral(arr)
        out["dihedral"] = [_bits_to_hex(x) for x in hashes]
        out["pdq"] = out["dihedral"][0]
        trimmed = trim_borders(arr)  # a query-side variant: a letterboxed or framed copy (bench_query_variants)
        if trimmed is not None:
            out["trim"] = _bits_to_hex(pdqhash.compute(np.ascontiguousarray(trimmed))[0])
    else:
        bits, quality = pdqhash.compute(arr)
        out["pdq"] = _bits_to_hex(bits)
    out["quality"] = int(quality)
    if raw is not None and raw != out["pdq"]:
        out["raw"] = raw
    return out


# ------------------------------------------------------------------------------------------ video


def sniff_video(data: bytes) -> str | None:
    """The media type of a video container, from its magic bytes (None if it is not a video we know)."""
    head = data[:64]
    if len(head) < 12:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "):
            return None  # audio in an MP4 container
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"):
            return None  # still images in HEIF/AVIF containers
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g2"):
            return "video/3gpp2"
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        return "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "video/quicktime"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm" if b"webm" in data[:4096] else "video/x-matroska"
    if head[:4] == b"FLV\x01":
        return "video/x-flv"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "video/x-ms-asf"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if head[0] == 0x47 and len(data) >= 377 and data[188] == 0x47 and data[376] == 0x47:
        return "video/mp2t"
    if head[:4] == b"OggS" and b"\x80theora" in data[:4096]:
        return "video/ogg"
    return None


def vpdq_available() -> bool:
    """Whether the ``vpdq`` package is installed (it is imported only in the hashing child process)."""
    return importlib.util.find_spec("vpdq") is not None


@dataclass(frozen=True)
class VideoProbe:
    width: int
    height: int
    fps: float | None
    seconds: float | None
    frames: int | None


def _rate(value: str | None) -> float | None:
    num, _, den = (value or "").partition("/")
    try:
        fps = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return fps if 0 < fps < 10_000 else None


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x >= 0 and math.isfinite(x) else None


def probe_video(path: str, ffprobe: str, *, timeout: float = 30) -> VideoProbe:
    """Frame size, frame rate, duration and frame count of a video's first video stream, from its headers
    (ffprobe reads the container; it decodes no frame). Raises :class:`MediaError` when there is none."""
    cmd = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries"]
    cmd += ["stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,duration:format=duration", "-of", "json"]
    try:
        done = subprocess.run([*cmd, path], capture_output=True, timeout=timeout, check=False)
        meta = json.loads(done.stdout or b"{}")
    except subprocess.TimeoutExpired:
        raise MediaError(f"the video's headers could not be read within {timeout:g} s") from None
    except (OSError, ValueError):
        meta = {}
    streams = meta.get("streams") or []
    if not streams:
        raise MediaError("the video could not be decoded (no video stream could be read)")
    st = streams[0]
    width, height = int(_number(st.get("width")) or 0), int(_number(st.get("height")) or 0)
    if width < 1 or height < 1:
        raise MediaError("the video could not be decoded (its frame size cannot be read)")
    fps = _rate(st.get("avg_frame_rate")) or _rate(st.get("r_frame_rate"))
    seconds = _number(st.get("duration")) or _number((meta.get("format") or {}).get("duration"))
    frames = _number(st.get("nb_frames"))
    return VideoProbe(width, height, fps, seconds, int(frames) if frames else None)


def check_video(p: VideoProbe, limits: MediaLimits) -> None:
    """Refuse (:class:`MediaError`) a video over the caps, before any frame is decoded."""
    if p.width * p.height > limits.max_video_frame_pixels:
        raise MediaError(
            f"the video's frames are {p.width} x {p.height} = {p.width * p.height:,} pixels; at most "
            f"{limits.max_video_frame_pixels:,} are decoded (setting TIPLINE_MAX_VIDEO_FRAME_PIXELS)"
        )
    if p.seconds is not None and p.seconds > limits.max_video_seconds:
        raise MediaError(
            f"the video lasts {p.seconds:g} s; at most {limits.max_video_seconds:g} s are decoded "
            "(setting TIPLINE_MAX_VIDEO_SECONDS)"
        )
    frames = p.frames
    if frames is None and p.seconds is not None and p.fps is not None:
        frames = math.ceil(p.seconds * p.fps)
    if frames is None:
        raise MediaError("the video's length cannot be read from its headers, so it is not decoded")
    if frames > limits.max_video_frames:
        raise MediaError(
            f"the video has {frames:,} frames; at most {limits.max_video_frames:,} are decoded "
            "(setting TIPLINE_MAX_VIDEO_FRAMES)"
        )


def _decode_size(width: int, height: int) -> tuple[int, int]:
    """The size vPDQ decodes frames at: the same, or scaled to :data:`VPDQ_DECODE_SIDE` on the longer side."""
    side = max(width, height)
    if side <= VPDQ_DECODE_SIDE:
        return 0, 0  # vpdq: no scaling
    scale = VPDQ_DECODE_SIDE / side
    return max(2, round(width * scale)), max(2, round(height * scale))


def _video_in_child(path: str, ffprobe: str, limits: MediaLimits, sample_every: int) -> list[list[Any]]:
    """Probe, check and hash a video (runs in the limited child). Rows: [hex, quality, frame, ts]."""
    p = probe_video(path, ffprobe, timeout=min(30.0, limits.process.timeout_s))
    check_video(p, limits)
    import vpdq

    seconds_per_hash = 0.0
    if sample_every > 1 and p.fps:
        # vpdq hashes frame n when n % int(seconds_per_hash * fps) == 0; nudge up against rounding down
        seconds_per_hash = (sample_every + 0.5) / p.fps
    width, height = _decode_size(p.width, p.height)
    features = vpdq.computeHash(
        path, seconds_per_hash=seconds_per_hash, downsample_width=width, downsample_height=height, thread_count=1
    )
    return [[f.hex, int(f.quality), int(f.frame_number), float(f.timestamp)] for f in features]


def _analyse_in_child(data: bytes | None, video_path: str | None, opts: dict[str, Any]) -> dict[str, Any]:
    """The child's whole job: a picture's or a video's perceptual hashes, or why there are none."""
    limits: MediaLimits = opts["limits"]
    try:
        if video_path is not None:
            return {
                "kind": "video",
                "frames": _video_in_child(video_path, opts["ffprobe"], limits, opts["sample_every"]),
            }
        assert data is not None
        return _image_in_child(data, limits, opts["dihedral"])
    except NotAnImage:
        return {"kind": "other"}
    except MediaError as e:
        return {"error": str(e)}


def _child_error(e: ChildFailed) -> MediaLimitError:
    return MediaLimitError(str(e), limit=e.limit)


def vpdq_bytes(
    data: bytes, *, sample_every: int = 1, limits: MediaLimits | None = None, timeout: float | None = None
) -> list[dict[str, Any]]:
    """vPDQ frame hashes of a video: ``[{"pdq": hex, "quality": int, "frame": n, "ts": seconds}]``.

    ``sample_every=1`` hashes every frame (what stored media keeps); ``sample_every=N`` keeps frames 0, N,
    2N, ... (vPDQ itself skips the others when the frame rate is known; otherwise every frame is hashed and
    the list thinned, with the same result). Raises :class:`VpdqUnavailable` when vpdq or ffprobe is not
    installed, :class:`MediaError` when the video is over a cap or cannot be decoded, and
    :class:`MediaLimitError` when the child hit a limit (``timeout`` overrides the limits' timeout).
    """
    if sample_every < 1:
        raise ValueError("sample_every must be at least 1")
    if not vpdq_available():
        raise VpdqUnavailable(INSTALL_HINT)
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise VpdqUnavailable(
            "video hashing needs ffprobe (Debian package ffmpeg) to check a video's size before decoding it: "
            "run `make` or `apt-get install ffmpeg`"
        )
    limits = limits or MediaLimits()
    if timeout is not None:
        limits = replace(limits, process=replace(limits.process, timeout_s=timeout))
    opts = {"limits": limits, "ffprobe": ffprobe, "sample_every": sample_every, "dihedral": False}
    fd, path = tempfile.mkstemp(prefix="tipline-video-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            out = run_limited(_analyse_in_child, (None, path, opts), limits.process, what="the video")
        except ChildFailed as e:
            raise _child_error(e) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if "error" in out:
        raise MediaError(out["error"])
    # without a frame rate vpdq hashed every frame: keep one in N
    thin = sample_every if sample_every > 1 else 1
    rows = [r for r in out["frames"] if r[2] % thin == 0]
    frames = [{"pdq": h, "quality": q, "frame": n, "ts": round(ts, 3)} for h, q, n, ts in rows]
    frames.sort(key=lambda d: d["frame"])
    if not frames:
        raise MediaError("the video has no decodable frames")
    return frames


# ------------------------------------------------------------------------------------------ any file


def _exact(data: bytes) -> dict[str, Any]:
    return {
        "size": len(data),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _image_hashes(data: bytes, limits: MediaLimits, dihedral: bool) -> dict[str, Any] | None:
    """The child's answer for a file that may be a picture: None when Pillow does not recognise it."""
    opts = {"limits": limits, "ffprobe": None, "sample_every": 1, "dihedral": dihedral}
    what = "the image" if _looks_like_image(data) else "the file"
    try:
        out: dict[str, Any] = run_limited(_analyse_in_child, (data, None, opts), limits.process, what=what)
    except ChildFailed as e:
        raise _child_error(e) from None
    return None if out.get("kind") == "other" else out


def hash_bytes(
    data: bytes,
    *,
    filename: str | None = None,
    max_pixels: int | None = None,
    video_sample_every: int = 1,
    strict: bool = True,
    dihedral: bool = False,
    limits: MediaLimits | None = None,
) -> MediaHashes:
    """Every hash of a file. The kind is sniffed from the bytes (``filename`` is only a hint for errors).

    The exact hashes are computed here; everything that decodes runs in the limited child (``limits``, by
    default the settings' defaults; ``max_pixels`` overrides ``limits.max_pixels``). ``dihedral=True`` also
    gives a picture's 8 rotated and mirrored hashes (``pdq_dihedral``), from the same decode.

    ``strict=True`` (default): a file that looks like an image or video but cannot be hashed raises
    :class:`MediaError` (:class:`MediaLimitError` when a process limit stopped it). ``strict=False``: it gets
    its exact hashes and ``error`` says why the perceptual hash is missing (what intake wants: the file is
    evidence even when it is damaged or too large to decode).
    """
    limits = limits or MediaLimits()
    if max_pixels is not None:
        limits = replace(limits, max_pixels=max_pixels)
    exact = _exact(data)
    video_type = sniff_video(data)
    kind = "video" if video_type else ("image" if _looks_like_image(data) else "other")
    media_type = video_type
    try:
        if video_type is None:
            out = _image_hashes(data, limits, dihedral)
            if out is None:
                return MediaHashes(kind="other", media_type=None, **exact)
            kind = "image"
            if "error" in out:
                raise MediaError(out["error"])
            media_type = out["media_type"]
            return MediaHashes(
                kind="image",
                media_type=media_type,
                pdq=out["pdq"],
                pdq_quality=out["quality"],
                pdq_dihedral=out.get("dihedral"),
                pdq_trim=out.get("trim"),
                pdq_raw=out.get("raw"),
                pdq_decoded_size=tuple(out["decoded_size"]) if out.get("decoded_size") else None,
                width=out["width"],
                height=out["height"],
                exif_orientation=out["exif_orientation"],
                **exact,
            )
        frames = vpdq_bytes(data, sample_every=video_sample_every, limits=limits)
        return MediaHashes(kind="video", media_type=video_type, vpdq=frames, **exact)
    except MediaError as e:
        if strict:
            where = f"{filename}: " if filename else ""
            if isinstance(e, MediaLimitError):
                raise MediaLimitError(f"{where}{e}", limit=e.limit) from None
            raise type(e)(f"{where}{e}") from None
        if kind == "image" and media_type is None:
            media_type = _image_media_type(_magic_format(data))
        return MediaHashes(kind=kind, media_type=media_type, error=str(e), **exact)


def _magic_format(data: bytes) -> str:
    """A Pillow format name from magic bytes (for a picture the child could not answer for)."""
    head = data[:16]
    for magic, fmt in (
        (b"\x89PNG", "PNG"),
        (b"\xff\xd8\xff", "JPEG"),
        (b"GIF8", "GIF"),
        (b"BM", "BMP"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"qoif", "QOI"),
    ):
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    return "PPM"


def hash_file(path: str | os.PathLike[str], **kw: Any) -> MediaHashes:
    """:func:`hash_bytes` of a file on disk."""
    p = Path(path)
    return hash_bytes(p.read_bytes(), filename=p.name, **kw)
