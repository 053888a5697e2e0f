"""PDQ: tipline's hashes against the downscale-first pipeline of the C++ command-line tool and the
pure-Python reference (issue 15 items 8 and 9).

tipline hashes every pixel up to ``full_resolution_pixels`` (as python-threatexchange / HMA do, and bit
for bit HMA's test vectors) and decodes larger pictures reduced to about 1024 x 1024. The C++ CLI and the
pure-Python reference shrink every picture over 512 px to 512 first. This bench emulates that step
(Pillow ``thumbnail((512, 512))`` of the RGB picture, then the same ``pdqhash`` C++ hasher) and prints,
for synthetic pictures of several sizes and colour modes, the bits between the two, and the time of each
pipeline. The downscale-first figures are our emulation of the references' resize step (their own
resampling filter may differ), on synthetic pictures only.

    nice -n 10 .venv/bin/python bench/bench_pdq_refs.py
"""

from __future__ import annotations

import io
import time

import numpy as np
import pdqhash
from PIL import Image

from tipline.media import hashing
from tipline.settings import Settings


def picture(side: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = (rng.random((24, 24, 3)) * 255).astype("uint8")
    return Image.fromarray(small).resize((side, side), Image.BICUBIC)


def encode(img: Image.Image, mode: str) -> bytes:
    buf = io.BytesIO()
    if mode == "rgb-png":
        img.save(buf, "PNG", compress_level=1)
    elif mode == "palette-png":
        img.convert("P", palette=Image.ADAPTIVE, colors=64).save(buf, "PNG", compress_level=1)
    elif mode == "cmyk-jpeg":
        img.convert("CMYK").save(buf, "JPEG", quality=92)
    else:
        img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def downscale_first(data: bytes) -> str:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail((512, 512))
    bits, _q = pdqhash.compute(np.asarray(img))
    return hashing._bits_to_hex(bits)


def main() -> None:
    limits = hashing.MediaLimits.from_settings(Settings())
    print(f"{'mode':12} {'side':>5} {'bits':>5} {'tipline s':>10} {'512-first s':>12} {'ratio':>6}")
    for mode in ("rgb-png", "palette-png", "cmyk-jpeg", "rgb-jpeg"):
        for side in (512, 1024, 2048, 5000):
            diffs, ours, theirs = [], 0.0, 0.0
            for seed in range(3 if side < 5000 else 1):
                data = encode(picture(side, seed), mode)
                t = time.perf_counter()
                a = hashing.hash_bytes(data, filename=None, dihedral=False, limits=limits).pdq
                ours += time.perf_counter() - t
                t = time.perf_counter()
                b = downscale_first(data)
                theirs += time.perf_counter() - t
                assert a is not None
                diffs.append(hashing.pdq_hamming(a, b))
            n = len(diffs)
            print(
                f"{mode:12} {side:>5} {max(diffs):>5} {ours / n:>10.2f} {theirs / n:>12.2f} "
                f"{(theirs / ours) if ours else 0:>6.2f}"
            )


if __name__ == "__main__":
    main()
