"""Media hashing throughput and PDQ robustness, on synthetic images and videos (tipline.synth.images).

    .venv/bin/python bench/bench_media_hashing.py [--images 40] [--robust 60] [--repeat 3] [--seed 1]
        [--sections 1,2,3,4,5]

1. Images/s of ``tipline.media.hashing.hash_bytes`` (sniff, decode, MD5 + SHA-1 + SHA-256, PDQ +
   quality) on JPEGs of four sizes, beside two baselines in the same run: plain Pillow decode to RGB (the
   floor: no hashing at all) and python-threatexchange's PDQ hasher (``pdq_from_bytes``, PDQ only, the
   same pdqhash C++ code behind it). Ratios are tipline / baseline throughput (1.0 = as fast).
2. Cost of the 8 dihedral hashes: ``pdq_dihedral`` (one DCT, pdqhash's compute_dihedral) and "exact"
   (PDQ of the 8 Pillow-transposed pictures), as a multiple of one plain PDQ.
3. Video frames/s of ``vpdq_bytes`` (every frame, run in a child process that FFmpeg cannot crash) beside
   vpdq called in-process (the baseline: what HMA / python-threatexchange do), on Motion-JPEG AVI and,
   when the ffmpeg command exists, H.264 MP4.
4. Robustness: for each transform of ``tipline.synth.images.TRANSFORMS`` (every copy saved as JPEG
   quality 90, as an upload would be), the Hamming distance to the original's PDQ: median, max and share
   within 31 bits, plainly and with dihedral matching three ways: query side (the copy's 8 dihedral
   hashes against the original's one hash: 8 look-ups, index unchanged), index side (the copy's one hash
   against the original's 8: 8x index size) and query side exact (8 transposed pictures hashed).
5. One 5000 x 5000 PNG with its 8 dihedral hashes: the old path (full-resolution decode in the calling
   process, twice) against ``hash_bytes(dihedral=True)`` (limited child, reduced decode), seconds and peak
   memory of each (both measured in a child for the memory figure).

Timings are wall-clock on whatever else the machine is doing (a 2-core box shared with other work is
noisy); compare ratios, not absolute numbers, between runs.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from tipline.media import hashing
from tipline.media.hashing import DIHEDRAL_PILLOW_OPS, hash_bytes, pdq_dihedral, pdq_hamming, pdq_image
from tipline.synth import images as synth

SIZES = ((256, 256), (640, 480), (1280, 960), (3000, 2000))
THRESHOLD = 31


def best_rate(fn: Callable[[], int], repeat: int) -> float:
    """Items per second, best of ``repeat`` runs (the least disturbed by other work)."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t0
        best = max(best, n / dt)
    return best


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def bench_images(n: int, repeat: int, seed: int) -> None:
    try:
        from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes
    except ImportError:  # pragma: no cover - depends on the environment
        pdq_from_bytes = None
    print("1. Image hashing throughput (images/s; JPEG quality 90; best of", repeat, "runs)")
    head = f"{'size':>11} {'KB/img':>7} {'tipline':>9} {'Pillow decode':>14} {'ratio':>6}"
    head += f" {'pytx PDQ':>9} {'ratio':>6}" if pdq_from_bytes else ""
    print(head)
    for w, h in SIZES:
        count = max(3, n * 640 * 480 // (w * h))
        files = [synth.encode(synth.synth_image(seed * 7919 + i, (w, h)), "JPEG", quality=90) for i in range(count)]
        ours = best_rate(lambda files=files: sum(1 for f in files if hash_bytes(f).pdq), repeat)
        floor = best_rate(lambda files=files: sum(1 for f in files if decoded(f).convert("RGB").size), repeat)
        line = f"{f'{w}x{h}':>11} {sum(map(len, files)) / len(files) / 1024:7.0f} {ours:9.1f} {floor:14.1f}"
        line += f" {ours / floor:6.2f}"
        if pdq_from_bytes:
            pytx = best_rate(lambda files=files: sum(1 for f in files if pdq_from_bytes(f)[0]), repeat)
            line += f" {pytx:9.1f} {ours / pytx:6.2f}"
        print(line)
    print()


def bench_dihedral(n: int, repeat: int, seed: int) -> None:
    imgs = [decoded(synth.encode(synth.synth_image(seed + i, (640, 480)), "JPEG")) for i in range(n)]
    one = best_rate(lambda: sum(1 for im in imgs if pdq_image(im)[0]), repeat)
    dih = best_rate(lambda: sum(1 for im in imgs if pdq_dihedral(im)), repeat)

    def exact() -> int:
        for im in imgs:
            for op in DIHEDRAL_PILLOW_OPS:
                pdq_image(im if op is None else im.transpose(op))
        return len(imgs)

    ex = best_rate(exact, repeat)
    print("2. Dihedral hashes (640x480, decoded pictures; images/s)")
    print(f"   plain PDQ {one:7.1f}   pdq_dihedral {dih:7.1f} ({one / dih:.2f}x the cost of one hash)", end="")
    print(f"   exact 8 transposes {ex:7.1f} ({one / ex:.2f}x)")
    print()


def bench_video(repeat: int, seed: int) -> None:
    if not hashing.vpdq_available():
        print("3. Video: SKIPPED, vpdq is not installed (run `make`)\n")
        return
    import vpdq

    frames = synth.video_frames(seed, frames=96, size=(640, 480))
    videos = {"MJPEG AVI 640x480": synth.encode_avi(frames, fps=24)}
    if shutil.which("ffmpeg"):
        videos["H.264 MP4 640x480"] = synth.to_h264(videos["MJPEG AVI 640x480"])
    print("3. vPDQ throughput (frames/s, every frame hashed; best of", repeat, "runs)")
    print(f"{'video':>20} {'frames':>7} {'tipline':>9} {'vpdq in-process':>16} {'ratio':>6} {'sample_every=10':>16}")
    for name, data in videos.items():
        nframes = len(hashing.vpdq_bytes(data))
        ours = best_rate(lambda data=data: len(hashing.vpdq_bytes(data)), repeat)
        sampled = best_rate(lambda data=data, n=nframes: n if hashing.vpdq_bytes(data, sample_every=10) else 0, repeat)

        def inproc(data: bytes = data) -> int:
            fd, path = tempfile.mkstemp(suffix=".bin")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                return len(vpdq.computeHash(path, seconds_per_hash=0))
            finally:
                os.unlink(path)

        base = best_rate(inproc, repeat)
        print(f"{name:>20} {nframes:7d} {ours:9.1f} {base:16.1f} {ours / base:6.2f} {sampled:16.1f}")
    print("   (sample_every=10: frames of the video per second when one frame in 10 is hashed, as for queries)")
    print()


def bench_robustness(n: int, seed: int) -> None:
    names = list(synth.TRANSFORMS)
    cols = ("plain", "query dih.", "index dih.", "query exact")
    dist: dict[str, dict[str, list[int]]] = {t: {c: [] for c in cols} for t in names}
    for i in range(n):
        orig = decoded(synth.encode(synth.synth_image(seed * 104729 + i, (640, 480)), "JPEG", quality=90))
        h0 = pdq_image(orig)[0]
        dih0 = pdq_dihedral(orig)
        for t in names:
            copy = decoded(synth.encode(synth.transform(orig, t), "JPEG", quality=90))
            h = pdq_image(copy)[0]
            d = dist[t]
            d["plain"].append(pdq_hamming(h, h0))
            d["query dih."].append(min(pdq_hamming(x, h0) for x in pdq_dihedral(copy)))
            d["index dih."].append(min(pdq_hamming(h, x) for x in dih0))
            exact = [pdq_image(copy if op is None else copy.transpose(op))[0] for op in DIHEDRAL_PILLOW_OPS]
            d["query exact"].append(min(pdq_hamming(x, h0) for x in exact))
    print(f"4. PDQ robustness: {n} synthetic 640x480 pictures; distance to the original (median / max / within 31)")
    print(f"{'transform':>14} " + " ".join(f"{c:>20}" for c in cols))
    still: list[str] = []
    for t in names:
        cells = []
        for c in cols:
            v = dist[t][c]
            share = sum(x <= THRESHOLD for x in v) / len(v)
            cells.append(f"{statistics.median(v):5.0f} / {max(v):3d} / {share:5.0%}")
        print(f"{t:>14} " + " ".join(f"{x:>20}" for x in cells))
        best = max(sum(x <= THRESHOLD for x in dist[t][c]) / n for c in cols)
        if best < 0.95:
            still.append(f"{t} ({best:.0%})")
    print()
    print("   Still NOT matched (under 95% within 31 bits even with dihedral hashes):", ", ".join(still) or "none")
    print()


def before_large(data: bytes) -> str:
    """The baseline: what intake did before the limited child (and still does for pictures up to 16.7 Mpx,
    minus the second decode): decode every pixel in the calling process, PDQ, then decode again for the 8
    dihedral hashes."""
    import pdqhash

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        plain = pdqhash.compute(np.asarray(img.convert("RGB")))[0]
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        pdqhash.compute_dihedral(np.asarray(img.convert("RGB")))
    return hashing._bits_to_hex(plain)


def bench_large(repeat: int, seed: int) -> None:
    from tipline.media import isolate

    side = 5000
    data = synth.encode(synth.synth_image(seed, (side // 8, side // 8)).resize((side, side)), "PNG")
    print(f"5. One {side}x{side} PNG ({len(data) // 1024} KB), PDQ + 8 dihedral hashes (seconds; best of {repeat})")
    t_before = 1 / best_rate(lambda: 1 if before_large(data) else 0, repeat)
    t_after = 1 / best_rate(lambda: 1 if hash_bytes(data, dihedral=True).pdq else 0, repeat)
    after_peak = isolate.last_peaks_kb[-1] / 1024
    roomy = isolate.ProcessLimits(memory_mb=8192, cpu_seconds=600, timeout_s=600)
    import bench_media_hashing as me  # this file as a module: a child cannot unpickle __main__'s functions

    old = isolate.run_limited(me.before_large, (data,), roomy, what="the picture")
    before_peak = isolate.last_peaks_kb[-1] / 1024
    new = hash_bytes(data).pdq or ""
    print(
        f"   before (full resolution, in the caller's process, decoded twice) {t_before:6.2f} s, {before_peak:5.0f} MB"
    )
    print(f"   after  (limited child, reduced decode, one DCT for all 8)        {t_after:6.2f} s, {after_peak:5.0f} MB")
    print(f"   speed-up {t_before / t_after:.1f}x; hashes {pdq_hamming(old, new)} bits apart")
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=40, help="640x480-equivalent pictures per size for throughput")
    ap.add_argument("--robust", type=int, default=60, help="pictures for the robustness table")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sections", default="1,2,3,4,5", help="which sections to run, e.g. 5")
    args = ap.parse_args()
    run = {int(x) for x in args.sections.split(",")}
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, Pillow {Image.__version__}, cpus {os.cpu_count()}")
    print()
    if 1 in run:
        bench_images(args.images, args.repeat, args.seed)
    if 2 in run:
        bench_dihedral(max(5, args.images // 2), args.repeat, args.seed)
    if 3 in run:
        bench_video(args.repeat, args.seed)
    if 4 in run:
        bench_robustness(args.robust, args.seed)
    if 5 in run:
        bench_large(args.repeat, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
