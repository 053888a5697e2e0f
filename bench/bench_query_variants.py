"""Query-side PDQ variants: what each one gains on copies PDQ misses, and what it costs in false matches.

    nice -n 10 .venv/bin/python bench/bench_query_variants.py [--images 60] [--unrelated 400] [--seed 1]

For every synthetic picture (``tipline.synth.images``, 640x480) and every transform, the query is the
transformed copy; a variant is a hash computed from a changed query (borders trimmed, a centred crop).
"plain" is PDQ as it is (the baseline, the figure in the media robustness table); each variant column is
the share of copies matched (within 31 bits) by the plain hash OR that variant. The false-match column:
of ``unrelated`` other synthetic pictures queried against a bank of the ``images`` originals, the share
that matches any bank picture through that variant (plain included). Synthetic data only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from tipline.media.hashing import pdq_hamming, pdq_image, trim_borders
from tipline.synth.images import synth_image, transform

TRANSFORMS = ("jpeg50", "crop5", "crop10", "crop5corner", "border10", "overlay", "rot5")
THRESHOLD = 31


def centred(img: Image.Image, keep: float) -> Image.Image:
    w, h = img.size
    dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return img.crop((dw, dh, w - dw, h - dh))


def trimmed(img: Image.Image) -> Image.Image | None:
    arr = trim_borders(np.asarray(img.convert("RGB")))
    return None if arr is None else Image.fromarray(np.ascontiguousarray(arr))


VARIANTS = {
    "trim": trimmed,
    "crop95": lambda im: centred(im, 0.95),
    "crop90": lambda im: centred(im, 0.90),
    "crop80": lambda im: centred(im, 0.80),
}


def hashes_of(img: Image.Image) -> dict[str, str]:
    out = {"plain": pdq_image(img)[0]}
    for name, fn in VARIANTS.items():
        v = fn(img)
        if v is not None:
            out[name] = pdq_image(v)[0]
    return out


def best(bank: list[str], h: str) -> int:
    return min(pdq_hamming(b, h) for b in bank)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--unrelated", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    originals = [synth_image(args.seed * 10_000 + i, (640, 480)) for i in range(args.images)]
    bank = [pdq_image(im)[0] for im in originals]
    cols = ["plain", *VARIANTS]
    print(f"Query-side variants: {args.images} synthetic pictures 640x480, share of copies matched within {THRESHOLD}")
    print("   (each variant column: plain hash OR that variant)")
    print(f"{'transform':>12} " + " ".join(f"{c:>8}" for c in cols))
    for t in TRANSFORMS:
        hit = dict.fromkeys(cols, 0)
        for i, im in enumerate(originals):
            hs = hashes_of(transform(im, t))
            plain = pdq_hamming(bank[i], hs["plain"]) <= THRESHOLD
            for c in cols:
                if plain or (c in hs and pdq_hamming(bank[i], hs[c]) <= THRESHOLD):
                    hit[c] += 1
        print(f"{t:>12} " + " ".join(f"{hit[c] / len(originals):>8.0%}" for c in cols))
    false = dict.fromkeys(cols, 0)
    for j in range(args.unrelated):
        hs = hashes_of(synth_image(args.seed * 10_000 + 5_000 + j, (640, 480)))
        plain = best(bank, hs["plain"]) <= THRESHOLD
        for c in cols:
            if plain or (c in hs and best(bank, hs[c]) <= THRESHOLD):
                false[c] += 1
    print(
        f"{'false match':>12} "
        + " ".join(f"{false[c] / args.unrelated:>8.2%}" for c in cols)
        + f"   ({args.unrelated} unrelated pictures against the {args.images} originals)"
    )
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
