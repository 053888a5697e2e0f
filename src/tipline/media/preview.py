"""Rendering of the viewer's pictures (``tipline.media.viewer``): greyscale, shrunk, blurred for previews.

Kept apart from the viewer's routes so that the limited child process that runs it
(``tipline.media.isolate``) imports Pillow and nothing of the web app.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

from tipline.media import hashing

__all__ = ["BLUR_RADIUS", "PIXELATE_TO", "PREVIEW_SIDE", "VIEW_SIDE", "preview_image"]

PREVIEW_SIDE = 256
PIXELATE_TO = 24
BLUR_RADIUS = 6
VIEW_SIDE = 1024


def _video_frame(data: bytes, frame: int) -> Image.Image:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise hashing.MediaError("no video preview: the ffmpeg command is not installed")
    with tempfile.TemporaryDirectory(prefix="tipline-view-") as d:
        src = Path(d) / "in.bin"
        src.write_bytes(data)
        cmd = [ffmpeg, "-v", "error", "-nostdin", "-i", str(src), "-vf", f"select=eq(n\\,{int(frame)})"]
        cmd += ["-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"]
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=30, check=True).stdout
        except (subprocess.SubprocessError, OSError):
            out = b""
        if not out and frame:
            return _video_frame(data, 0)
    if not out:
        raise hashing.MediaError("no video preview: the frame could not be decoded")
    img = Image.open(io.BytesIO(out), formats=["PNG"])
    img.load()
    return img


def preview_image(data: bytes, kind: str, blurred: bool, frame: int = 0, max_pixels: int = 50_000_000) -> bytes:
    """PNG bytes: greyscale, shrunk, and (``blurred``) pixelated and blurred beyond recognition of detail.

    Decodes the file: call it in the limited child (``isolate.run_limited``), as the viewer does. A large
    picture is decoded reduced (``hashing.decode_for_pdq``), never at full size: the view is 1024 px at most.
    """
    if kind == "image":
        img = hashing.decode_for_pdq(data, max_pixels=max_pixels, full_resolution_pixels=VIEW_SIDE * VIEW_SIDE)[0]
    elif kind == "video":
        img = _video_frame(data, frame)
    else:
        raise hashing.MediaError("only pictures and videos can be previewed")
    grey = img.convert("L")
    img.close()
    if blurred:
        grey.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BOX)
        w, h = grey.size
        scale = PIXELATE_TO / max(w, h)
        small = grey.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
        grey = small.resize((w, h), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    else:
        grey.thumbnail((VIEW_SIDE, VIEW_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    grey.save(buf, "PNG")
    return buf.getvalue()
