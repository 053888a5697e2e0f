"""Synthetic images and short videos, with transformed copies, for hash banks, tests and benchmarks.

Only abstract content: gradients, smooth noise fields, stripes and random geometric shapes. No text, no
photographs, nothing that resembles people, animals or places. Everything is drawn from the seed, so a
seed gives the same pixels on every machine (the encoded bytes too, for one Pillow/libjpeg build).

>>> from tipline.synth.images import synth_image, transform, encode
>>> img = synth_image(7)                         # 384 x 288 RGB
>>> copy = transform(img, "mirror")              # a transformed copy (see TRANSFORMS)
>>> jpeg = encode(img, "JPEG", quality=90)       # bytes, as a platform would upload them

Videos are Motion-JPEG in an AVI container, written here in pure Python (FFmpeg decodes them; no encoder
needed); :func:`to_h264` re-encodes one with the ffmpeg command line when it is installed.
:func:`media_set` makes a small ground-truth collection: originals and their transformed copies, each
with the id of its original.
"""

from __future__ import annotations

import io
import math
import random
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

__all__ = [
    "STYLES",
    "TRANSFORMS",
    "SynthMedia",
    "encode",
    "encode_avi",
    "media_set",
    "synth_image",
    "to_h264",
    "transform",
    "transform_frames",
    "video_frames",
    "synth_video",
]

STYLES = ("shapes", "noise", "bands", "mix")


# ------------------------------------------------------------------------------------------ images


def _rng(seed: int, salt: str) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, sum(salt.encode()) * 7919 + len(salt)])


def _palette(r: random.Random, n: int) -> list[tuple[int, int, int]]:
    return [(r.randrange(256), r.randrange(256), r.randrange(256)) for _ in range(n)]


def _smooth_noise(g: np.random.Generator, w: int, h: int, octaves: int = 4) -> np.ndarray:
    """Value noise in [0, 1]: random grids upsampled (bicubic) and summed, coarse octaves weighing most."""
    acc = np.zeros((h, w), dtype=np.float32)
    weight = 0.0
    for o in range(octaves):
        cells = 3 * 2**o
        grid = (g.random((cells, cells)) * 255).astype(np.uint8)
        up = np.asarray(Image.fromarray(grid, "L").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
        amp = 0.5**o
        acc += amp * up / 255.0
        weight += amp
    acc /= weight
    lo, hi = float(acc.min()), float(acc.max())
    return (acc - lo) / (hi - lo + 1e-6)


def _colourise(field: np.ndarray, colours: Sequence[tuple[int, int, int]]) -> Image.Image:
    """Map a [0, 1] field through a piecewise-linear colour ramp."""
    stops = np.linspace(0.0, 1.0, len(colours))
    cols = np.array(colours, dtype=np.float32)
    out = np.stack([np.interp(field, stops, cols[:, c]) for c in range(3)], axis=-1)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8), "RGB")


def _bands(g: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Interference of a few plane waves (stripes at random angles and frequencies), in [0, 1]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    acc = np.zeros((h, w), dtype=np.float32)
    for _ in range(3):
        angle = g.uniform(0, math.pi)
        freq = g.uniform(2, 9) * 2 * math.pi / max(w, h)
        acc += np.sin((x * math.cos(angle) + y * math.sin(angle)) * freq + g.uniform(0, 2 * math.pi))
    return (acc - acc.min()) / (acc.max() - acc.min() + 1e-6)


def _shapes(img: Image.Image, r: random.Random, n: int) -> None:
    """Random rectangles, polygons, arcs and thick lines (no circles in pairs: nothing face-like)."""
    w, h = img.size
    d = ImageDraw.Draw(img, "RGBA")
    for _ in range(n):
        colour = (r.randrange(256), r.randrange(256), r.randrange(256), r.randrange(120, 256))
        kind = r.choice(("rect", "poly", "line", "arc", "rect"))
        x0, y0 = r.uniform(-0.1, 0.9) * w, r.uniform(-0.1, 0.9) * h
        x1, y1 = x0 + r.uniform(0.1, 0.6) * w, y0 + r.uniform(0.1, 0.6) * h
        if kind == "rect":
            d.rectangle((x0, y0, x1, y1), fill=colour)
        elif kind == "poly":
            pts = [(r.uniform(0, w), r.uniform(0, h)) for _ in range(r.randrange(3, 7))]
            d.polygon(pts, fill=colour)
        elif kind == "line":
            d.line((x0, y0, x1, y1), fill=colour, width=max(2, int(r.uniform(0.01, 0.05) * w)))
        else:
            d.arc((x0, y0, x1, y1), r.uniform(0, 180), r.uniform(180, 360), fill=colour, width=max(2, w // 40))


def synth_image(seed: int, size: tuple[int, int] = (384, 288), style: str | None = None) -> Image.Image:
    """An abstract RGB picture. ``style``: shapes | noise | bands | mix (default: chosen by the seed)."""
    w, h = size
    if w < 8 or h < 8:
        raise ValueError("images are at least 8 x 8 pixels")
    r = random.Random(seed)
    style = style or STYLES[r.randrange(len(STYLES))]
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    g = _rng(seed, style)
    colours = _palette(r, r.randrange(3, 6))
    if style == "bands":
        img = _colourise(_bands(g, w, h), colours)
    elif style == "noise":
        img = _colourise(_smooth_noise(g, w, h), colours)
    else:
        img = _colourise(0.6 * _smooth_noise(g, w, h) + 0.4 * _bands(g, w, h), colours)
    if style in ("shapes", "mix"):
        _shapes(img, r, r.randrange(4, 12) if style == "shapes" else r.randrange(2, 6))
    return img


def encode(img: Image.Image, fmt: str = "JPEG", *, quality: int = 90) -> bytes:
    """The image as file bytes (JPEG, PNG, WEBP, ...)."""
    buf = io.BytesIO()
    if fmt.upper() in ("JPEG", "WEBP"):
        img.convert("RGB").save(buf, fmt, quality=quality)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def _reencode(img: Image.Image, quality: int) -> Image.Image:
    out = Image.open(io.BytesIO(encode(img, "JPEG", quality=quality)))
    out.load()
    return out


def _crop(img: Image.Image, fraction: float, *, corner: bool = False) -> Image.Image:
    """Cut ``fraction`` of the width and of the height: half on each side, or all from the top left."""
    w, h = img.size
    dw, dh = round(w * fraction), round(h * fraction)
    if corner:
        return img.crop((dw, dh, w, h))
    return img.crop((dw // 2, dh // 2, w - (dw - dw // 2), h - (dh - dh // 2)))


def _border(img: Image.Image, fraction: float) -> Image.Image:
    """Black bars above and below (letterboxing): ``fraction`` of the height added in all."""
    w, h = img.size
    pad = round(h * fraction / 2)
    out = Image.new("RGB", (w, h + 2 * pad))
    out.paste(img, (0, pad))
    return out


def _overlay(img: Image.Image) -> Image.Image:
    """A semi-transparent block in a corner (a logo-like overlay, no text)."""
    out = img.convert("RGB").copy()
    w, h = out.size
    ImageDraw.Draw(out, "RGBA").rectangle((w * 0.7, h * 0.8, w * 0.97, h * 0.95), fill=(255, 255, 255, 150))
    return out


T = Image.Transpose
TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    # expected to stay within PDQ's 31 bits
    "jpeg50": lambda im: _reencode(im, 50),
    "jpeg20": lambda im: _reencode(im, 20),
    "half": lambda im: im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.BILINEAR),
    "quarter": lambda im: im.resize((max(1, im.width // 4), max(1, im.height // 4)), Image.Resampling.BILINEAR),
    "grey": lambda im: im.convert("L").convert("RGB"),
    "blur": lambda im: im.filter(ImageFilter.GaussianBlur(1.5)),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.25),
    "contrast": lambda im: ImageEnhance.Contrast(im).enhance(1.3),
    "overlay": _overlay,
    # geometric: PDQ is not invariant to them
    "crop5": lambda im: _crop(im, 0.05),
    "crop10": lambda im: _crop(im, 0.10),
    "crop5corner": lambda im: _crop(im, 0.05, corner=True),
    "border10": lambda im: _border(im, 0.10),
    "rot5": lambda im: im.rotate(5, resample=Image.Resampling.BILINEAR),
    # the dihedral group: matched with dihedral hashes
    "mirror": lambda im: im.transpose(T.FLIP_LEFT_RIGHT),
    "flip": lambda im: im.transpose(T.FLIP_TOP_BOTTOM),
    "rot90": lambda im: im.transpose(T.ROTATE_90),
    "rot180": lambda im: im.transpose(T.ROTATE_180),
    "rot270": lambda im: im.transpose(T.ROTATE_270),
    "transpose": lambda im: im.transpose(T.TRANSPOSE),
    "transverse": lambda im: im.transpose(T.TRANSVERSE),
    # combinations
    "mirror+jpeg50": lambda im: _reencode(im.transpose(T.FLIP_LEFT_RIGHT), 50),
    "rot90+half": lambda im: im.transpose(T.ROTATE_90).resize((im.height // 2, im.width // 2)),
}
DIHEDRAL_TRANSFORMS = ("mirror", "flip", "rot90", "rot180", "rot270", "transpose", "transverse")


def transform(img: Image.Image, name: str) -> Image.Image:
    """A transformed copy (see :data:`TRANSFORMS`); ``"original"`` is the image itself."""
    if name == "original":
        return img
    try:
        fn = TRANSFORMS[name]
    except KeyError:
        raise ValueError(f"unknown transform {name!r}; use one of {', '.join(TRANSFORMS)}") from None
    return fn(img)


# ------------------------------------------------------------------------------------------ video


def video_frames(
    seed: int, *, frames: int = 48, size: tuple[int, int] = (320, 240), scene_every: int = 24
) -> list[Image.Image]:
    """Frames of an abstract animation: a camera panning over a large synthetic picture while shapes
    drift across it; every ``scene_every`` frames the scene changes (a new picture), as a cut would."""
    w, h = size
    out: list[Image.Image] = []
    r = random.Random(seed)
    for scene in range(0, frames, scene_every):
        canvas = synth_image(seed * 1000 + scene, (w * 2, h * 2), style="mix")
        sprites = [(r.uniform(0, w), r.uniform(0, h), r.uniform(-3, 3), r.uniform(-3, 3), _palette(r, 1)[0])]
        sprites += [(r.uniform(0, w), r.uniform(0, h), r.uniform(-3, 3), r.uniform(-3, 3), _palette(r, 1)[0])]
        for i in range(min(scene_every, frames - scene)):
            x = int((w * i / max(1, scene_every)) * 0.8)
            y = int((h * i / max(1, scene_every)) * 0.4)
            frame = canvas.crop((x, y, x + w, y + h))
            d = ImageDraw.Draw(frame)
            for sx, sy, vx, vy, colour in sprites:
                cx, cy = sx + vx * i, sy + vy * i
                d.rectangle((cx, cy, cx + w / 6, cy + h / 8), fill=colour)
            out.append(frame)
    return out


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) % 2 else b"")


def _list(kind: bytes, payload: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(payload) + 4) + kind + payload


def encode_avi(frames: Sequence[Image.Image], *, fps: int = 24, quality: int = 90) -> bytes:
    """Motion-JPEG AVI (RIFF, one video stream, an idx1 index) of equally sized frames."""
    if not frames:
        raise ValueError("a video needs at least one frame")
    w, h = frames[0].size
    jpegs = [encode(f if f.size == (w, h) else f.resize((w, h)), "JPEG", quality=quality) for f in frames]
    biggest = max(len(j) for j in jpegs)
    avih = struct.pack(
        "<10I16x", 1_000_000 // fps, biggest * fps, 0, 0x10, len(jpegs), 0, 1, biggest, w, h
    )  # AVIF_HASINDEX
    strh = struct.pack(
        "<4s4sIHHIIIIIIiI4h", b"vids", b"MJPG", 0, 0, 0, 0, 1, fps, 0, len(jpegs), biggest, -1, 0, 0, 0, w, h
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    hdrl = _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    movi_parts, index, offset = [], [], 4
    for j in jpegs:
        c = _chunk(b"00dc", j)
        index.append(struct.pack("<4sIII", b"00dc", 0x10, offset, len(j)))  # AVIIF_KEYFRAME
        movi_parts.append(c)
        offset += len(c)
    movi = _list(b"movi", b"".join(movi_parts))
    body = b"AVI " + hdrl + movi + _chunk(b"idx1", b"".join(index))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def transform_frames(frames: Sequence[Image.Image], name: str) -> list[Image.Image]:
    """A transformed copy of a video: an image transform on every frame, or ``trimN`` (drop the first N
    frames), or ``halfrate`` (every other frame)."""
    if name.startswith("trim") and name[4:].isdigit():
        return list(frames[int(name[4:]) :])
    if name == "halfrate":
        return list(frames[::2])
    return [transform(f, name) for f in frames]


def synth_video(
    seed: int, *, frames: int = 48, size: tuple[int, int] = (320, 240), fps: int = 24, quality: int = 90
) -> bytes:
    """A short abstract video (Motion-JPEG AVI bytes)."""
    return encode_avi(video_frames(seed, frames=frames, size=size), fps=fps, quality=quality)


def to_h264(data: bytes, *, crf: int = 28) -> bytes:
    """Re-encode a video to H.264 in MP4 with the ffmpeg command line (raises RuntimeError without it)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("the ffmpeg command is not installed (scripts/ensure-ffmpeg-dev.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="tipline-synth-") as d:
        src, dst = Path(d) / "in.avi", Path(d) / "out.mp4"
        src.write_bytes(data)
        cmd = [ffmpeg, "-v", "error", "-y", "-i", str(src), "-c:v", "libx264", "-preset", "veryfast"]
        cmd += ["-crf", str(crf), "-pix_fmt", "yuv420p", "-an", str(dst)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return dst.read_bytes()


# ------------------------------------------------------------------------------------------ sets


@dataclass(frozen=True)
class SynthMedia:
    """One file of a synthetic collection with its ground truth."""

    id: str  # "img-0003" or "img-0003~mirror"
    original: str  # the id of the original it derives from (itself for an original)
    transform: str  # "original" or a TRANSFORMS name (for video also trimN / halfrate)
    kind: str  # image | video
    media_type: str
    data: bytes


def media_set(
    seed: int,
    *,
    n_images: int = 10,
    transforms: Sequence[str] = ("jpeg50", "half", "mirror", "rot90", "crop5"),
    n_videos: int = 0,
    video_transforms: Sequence[str] = ("mirror", "trim12"),
    size: tuple[int, int] = (384, 288),
) -> list[SynthMedia]:
    """Originals (JPEG quality 90) and their transformed copies; videos are short Motion-JPEG AVIs."""
    out: list[SynthMedia] = []
    for i in range(n_images):
        img = synth_image(seed * 100_003 + i, size)
        oid = f"img-{seed}-{i:04d}"
        out.append(SynthMedia(oid, oid, "original", "image", "image/jpeg", encode(img, "JPEG", quality=90)))
        for t in transforms:
            copy = transform(img, t)
            out.append(SynthMedia(f"{oid}~{t}", oid, t, "image", "image/jpeg", encode(copy, "JPEG", quality=90)))
    for i in range(n_videos):
        frames = video_frames(seed * 100_003 + 50_000 + i)
        oid = f"vid-{seed}-{i:04d}"
        out.append(SynthMedia(oid, oid, "original", "video", "video/x-msvideo", encode_avi(frames)))
        for t in video_transforms:
            data = encode_avi(transform_frames(frames, t))
            out.append(SynthMedia(f"{oid}~{t}", oid, t, "video", "video/x-msvideo", data))
    return out
