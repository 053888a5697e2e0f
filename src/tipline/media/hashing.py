"""Hashes of a file: exact (MD5, SHA-1, SHA-256), PDQ for images, vPDQ for video.

PDQ is Meta's 256-bit perceptual image hash; two copies of one picture are "the same" when their hashes
differ in at most 31 bits (the threshold HMA and NCMEC use). vPDQ is PDQ on video frames. The hashing
itself is Meta's reference C++ code, through the ``pdqhash`` package (images) and the ``vpdq`` package
(video, which decodes with FFmpeg's libraries). This module decides what to feed them:

* **Image decoding** is Pillow's, restricted to :data:`IMAGE_FORMATS` (no EPS, which would run
  Ghostscript, and none of Pillow's rarer scientific formats). The media type is what Pillow recognises,
  never the client's claim. A picture with more than ``max_pixels`` pixels is refused before its pixels
  are decoded (a decompression bomb: a few kilobytes that inflate to gigabytes), as is a file Pillow
  cannot read to the end.
* **Pixels hashed** are the decoded pixels at full resolution, converted to RGB (palette, grey and CMYK
  through Pillow's ``convert("RGB")``; the alpha channel is dropped, as the reference tools do). This is
  what python-threatexchange / HMA and the Java reference do, and what ``tests/data/pdq`` checks: we get
  the reference test vectors bit for bit. (The C++ command-line tool first shrinks pictures larger than
  512 px with nearest-neighbour resampling; with its own JPEG decoder that moves a few bits: 6 on
  ThreatExchange's 1600 x 1004 bridge photo, far inside the 31-bit threshold.)
* **EXIF orientation is not applied.** The reference implementations hash the stored pixel grid and
  ignore the orientation tag, so a hash a platform computed with them matches ours only this way. A copy
  that differs only by its EXIF rotation is a rotated copy: the dihedral hashes (:func:`pdq_dihedral`)
  find it. ``MediaHashes.exif_orientation`` records the tag when it is not 1.
* **Video** (recognised by its container's magic bytes) is written to a private temporary file, hashed by
  vPDQ in a child process (FFmpeg's libraries abort the process on some damaged input) and the file
  deleted whatever happens. Every frame is hashed for stored media (``sample_every=1``);
  a query may hash one frame in N. A video vPDQ cannot decode is an error, not an empty list.

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
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_FORMATS",
    "MediaError",
    "MediaHashes",
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
    width: int | None = None
    height: int | None = None
    exif_orientation: int | None = None  # the EXIF orientation tag when present and not 1 (not applied)
    error: str | None = None  # why perceptual hashing failed (only with ``strict=False``)

    def as_details(self) -> dict[str, Any]:
        """What an attachment keeps beside its hash columns (``Attachment.details``)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.pdq_quality is not None:
            out["pdq_quality"] = self.pdq_quality
        if self.vpdq is not None:
            out["vpdq"] = self.vpdq
        if self.width is not None and self.height is not None:
            out["width"], out["height"] = self.width, self.height
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

    img = _open_image(img_or_bytes, max_pixels=50_000_000)[0] if isinstance(img_or_bytes, bytes) else img_or_bytes
    hashes, _quality = pdqhash.compute_dihedral(_rgb_array(img))
    return [_bits_to_hex(h) for h in hashes]


def pdq_hamming(a_hex: str, b_hex: str) -> int:
    """Bits that differ between two PDQ hashes (0-256)."""
    if len(a_hex) != 64 or len(b_hex) != 64:
        raise ValueError("PDQ hashes are 64 hexadecimal characters")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


# ------------------------------------------------------------------------------------------ images


def _open_image(data: bytes, *, max_pixels: int) -> tuple[Image.Image, str]:
    """Decode an image fully (first frame), refusing decompression bombs and truncated files."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its limit, raises) on huge images; ours is checked below
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            fmt = img.format or ""
            w, h = img.size
            if w * h > max_pixels:
                raise MediaError(
                    f"the image is {w} x {h} = {w * h:,} pixels; at most {max_pixels:,} are decoded "
                    "(a larger one is treated as a decompression bomb)"
                )
            img.load()
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaError(f"the image is too large to decode safely (decompression bomb): {e}") from None
    except UnidentifiedImageError:
        raise MediaError("the file is not an image format tipline decodes") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise MediaError(f"the image is corrupt or truncated: {e}") from None
    return img, fmt


def _looks_like_image(data: bytes) -> str | None:
    """The Pillow format of the data if Pillow (restricted to our formats) recognises it, without decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
                return img.format
    except Image.DecompressionBombError:
        return "BOMB"
    except Exception:
        return None


def _image_media_type(fmt: str) -> str | None:
    if fmt == "BOMB":
        return None
    if fmt == "MPO":  # a JPEG with extra pictures (phone cameras)
        return "image/jpeg"
    return Image.MIME.get(fmt.upper()) or f"image/{fmt.lower()}"


def _exif_orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(0x0112)
    except Exception:
        return None
    return int(value) if isinstance(value, int) and value not in (0, 1) else None


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


def _frame_rate(path: str) -> float | None:
    """The video's frame rate from ffprobe (Debian's ffmpeg package), or None when it cannot be had."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    try:
        out = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate,r_frame_rate"]
            + ["-of", "default=noprint_wrappers=1:nokey=1", path],
            capture_output=True,
            timeout=20,
            check=True,
            text=True,
        ).stdout.split()
    except (subprocess.SubprocessError, OSError):
        return None
    for rate in out:
        num, _, den = rate.partition("/")
        try:
            fps = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if fps > 0:
            return fps
    return None


# vPDQ runs in a child process: FFmpeg's libraries abort() the whole process on some malformed input
# (an assertion in libswscale on a damaged Motion-JPEG frame, found by the tests), which must not take the
# server down. The child writes one JSON document on stdout; its stderr (FFmpeg's complaints, which may
# name the temporary file) is discarded.
_VPDQ_CHILD = """
import json, sys
import vpdq
features = vpdq.computeHash(sys.argv[1], seconds_per_hash=float(sys.argv[2]), thread_count=int(sys.argv[3]))
json.dump([[f.hex, int(f.quality), int(f.frame_number), float(f.timestamp)] for f in features], sys.stdout)
"""
VPDQ_TIMEOUT_S = 600


def vpdq_bytes(data: bytes, *, sample_every: int = 1, timeout: float = VPDQ_TIMEOUT_S) -> list[dict[str, Any]]:
    """vPDQ frame hashes of a video: ``[{"pdq": hex, "quality": int, "frame": n, "ts": seconds}]``.

    ``sample_every=1`` hashes every frame (what stored media keeps); ``sample_every=N`` keeps frames 0, N,
    2N, ... (for queries). With ffprobe present vPDQ itself skips the other frames; without it every frame
    is hashed and the list thinned, with the same result. Raises :class:`VpdqUnavailable` when vpdq is not
    installed and :class:`MediaError` when the video cannot be decoded (or takes longer than ``timeout``).
    """
    if sample_every < 1:
        raise ValueError("sample_every must be at least 1")
    if not vpdq_available():
        raise VpdqUnavailable(INSTALL_HINT)
    fd, path = tempfile.mkstemp(prefix="tipline-video-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        seconds_per_hash = 0.0
        thin = 1
        if sample_every > 1:
            fps = _frame_rate(path)
            if fps is None:
                thin = sample_every
            else:
                # vpdq hashes frame n when n % int(seconds_per_hash * fps) == 0; nudge up against rounding down
                seconds_per_hash = (sample_every + 0.5) / fps
        cmd = [
            sys.executable,
            "-I",
            "-c",
            _VPDQ_CHILD,
            path,
            repr(seconds_per_hash),
            "0",
        ]  # 0: vpdq picks the thread count
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise MediaError(f"the video took more than {timeout:.0f} s to hash") from None
        if done.returncode != 0:
            how = "crashed the decoder" if done.returncode < 0 else "could not be decoded"
            raise MediaError(f"the video {how}")
        raw = json.loads(done.stdout)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    frames = [{"pdq": h, "quality": q, "frame": n, "ts": round(ts, 3)} for h, q, n, ts in raw if n % thin == 0]
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


def hash_bytes(
    data: bytes,
    *,
    filename: str | None = None,
    max_pixels: int = 50_000_000,
    video_sample_every: int = 1,
    strict: bool = True,
) -> MediaHashes:
    """Every hash of a file. The kind is sniffed from the bytes (``filename`` is only a hint for errors).

    ``strict=True`` (default): a file that looks like an image or video but cannot be hashed raises
    :class:`MediaError`. ``strict=False``: it gets its exact hashes and ``error`` says why the perceptual
    hash is missing (what intake wants: the file is evidence even when it is damaged).
    """
    exact = _exact(data)
    fmt = _looks_like_image(data)
    video_type = None if fmt else sniff_video(data)
    media_type = _image_media_type(fmt) if fmt else video_type
    try:
        if fmt is not None:
            if fmt == "BOMB":
                raise MediaError("the image is too large to decode safely (decompression bomb)")
            img, fmt = _open_image(data, max_pixels=max_pixels)
            try:
                pdq, quality = pdq_image(img)
                return MediaHashes(
                    kind="image",
                    media_type=_image_media_type(fmt),
                    pdq=pdq,
                    pdq_quality=quality,
                    width=img.width,
                    height=img.height,
                    exif_orientation=_exif_orientation(img),
                    **exact,
                )
            finally:
                img.close()
        if video_type is not None:
            frames = vpdq_bytes(data, sample_every=video_sample_every)
            return MediaHashes(kind="video", media_type=video_type, vpdq=frames, **exact)
    except MediaError as e:
        if strict:
            where = f"{filename}: " if filename else ""
            raise type(e)(f"{where}{e}") from None
        return MediaHashes(kind="image" if fmt else "video", media_type=media_type, error=str(e), **exact)
    return MediaHashes(kind="other", media_type=None, **exact)


def hash_file(path: str | os.PathLike[str], **kw: Any) -> MediaHashes:
    """:func:`hash_bytes` of a file on disk."""
    p = Path(path)
    return hash_bytes(p.read_bytes(), filename=p.name, **kw)
