"""Face search: faces per second per core (detection + embedding), alternatives, index query time, memory.

    nice -n 10 .venv/bin/python bench/bench_faces.py [--sizes 100000,1000000] [--queries 30]

1. **Model, one core** (``OMP/OPENBLAS_NUM_THREADS=1``; dlib's HOG and ResNet run on one thread): frames of
   640 x 480 (one face) and 1920 x 1080 (four faces) made from public pictures (scikit-image's astronaut and
   tests/data/faces), each run through detection + alignment + embedding in this process. Compared with
   the alternatives that also ship their weights in a package: dlib's CNN (MMOD) detector from
   ``face_recognition_models``, and OpenCV's bundled Haar cascade (``opencv-python-headless<5``; OpenCV 5
   no longer ships it), each followed by the same embedding. Recall is on these synthetic frames only.
2. **The isolated path**: one file through ``faces_in_bytes`` (a fresh limited child that loads the model).
3. **Index, one core**: query time of ``FaceIndex`` (faiss 8-bit scan + exact re-rank from 20,000 faces)
   and of the exact numpy ``FaceIndex``, beside the brute-force numpy baseline (``np.linalg.norm(X - q)``),
   over random unit-scale 128-d vectors (synthetic); build time (incremental, batches of 10,000); the
   process's resident memory after each build; recall@10 of the fast index against brute force.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from tipline.faces.index import FaceIndex  # noqa: E402
from tipline.faces.model import FaceModel  # noqa: E402

DATA = ROOT / "tests" / "data" / "faces"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pictures() -> list[Image.Image]:
    from skimage import data

    out = [Image.fromarray(data.astronaut()).convert("RGB")]
    out += [Image.open(DATA / f"{n}.jpg").convert("RGB") for n in ("obama", "obama2", "biden2")]
    return out


def frame(size: tuple[int, int], faces: list[Image.Image], seed: int) -> np.ndarray:
    """A grey-noise frame with the pictures pasted on it, each about a third of the frame's height."""
    rng = np.random.default_rng(seed)
    w, h = size
    canvas = Image.fromarray(rng.integers(90, 140, (h, w, 3), dtype=np.uint8))
    n = len(faces)
    cell = w // n
    for i, p in enumerate(faces):
        side = min(cell - 10, h // 2)
        q = p.copy()
        q.thumbnail((side, side))
        canvas.paste(q, (i * cell + 5, (h - q.height) // 2))
    return np.asarray(canvas)


class Haar:
    """OpenCV's bundled frontal-face Haar cascade, then dlib's alignment and embedding."""

    def __init__(self, model: FaceModel) -> None:
        import cv2
        import dlib

        cv2.setNumThreads(1)
        self.cv2, self.dlib, self.model = cv2, dlib, model
        self.cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))

    def faces(self, rgb: np.ndarray) -> np.ndarray:
        grey = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        boxes = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        rects = [self.dlib.rectangle(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in boxes]
        return self.model.embed(self.model.chips(rgb, rects))


def time_model(name: str, run, frames: list, refs: np.ndarray, repeat: int) -> None:  # type: ignore[no-untyped-def]
    """``frames``: (array, indices of the pictures pasted in it). A detection is a hit when its embedding is
    within 0.6 of a pasted picture's reference embedding (the person is identifiable from it), else extra."""
    if "CNN" not in name:
        run(frames[0][0])  # warm up
    found = hits = 0
    t0, c0 = time.perf_counter(), time.process_time()
    outs = []
    for _ in range(repeat):
        for f, _pasted in frames:
            outs.append(run(f))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    expected = 0
    for vecs, (_f, pasted) in zip(outs, frames * repeat, strict=True):
        expected += len(pasted)
        found += len(vecs)
        for i in pasted:
            if len(vecs) and float(np.min(np.linalg.norm(np.asarray(vecs) - refs[i], axis=1))) < 0.6:
                hits += 1
    n_frames = repeat * len(frames)
    print(
        f"  {name:30s} {n_frames / cpu:6.2f} frames/CPU s  {found / cpu:6.2f} faces/CPU s  "
        f"({found / dt:5.2f} faces/s wall)  people found {hits}/{expected}, other detections {found - hits}"
    )


def bench_model(repeat: int) -> None:
    pics = pictures()
    sets = {
        "640x480, 1 picture pasted": [(frame((640, 480), [pics[i]], i), [i]) for i in range(4)],
        "1920x1080, 4 pictures pasted": [(frame((1920, 1080), pics, i), [0, 1, 2, 3]) for i in range(2)],
    }
    hog = FaceModel()
    cnn = FaceModel(detector="cnn")
    # each picture's own face (the largest), at its own size: the reference a detection must match
    refs = np.stack([max(hog.faces(np.asarray(p)), key=lambda f: f.box[2] * f.box[3]).embedding for p in pics])

    def embeddings(model: FaceModel):  # type: ignore[no-untyped-def]
        return lambda f: [x.embedding for x in model.faces(f)]

    alternatives = [("dlib HOG + ResNet (chosen)", embeddings(hog))]
    alternatives.append(("dlib CNN (MMOD) + ResNet", embeddings(cnn)))
    try:
        haar = Haar(hog)
        alternatives.append(("OpenCV Haar + dlib ResNet", haar.faces))
    except (ImportError, AttributeError):
        print("  (OpenCV with its Haar cascades is not installed: pip install 'opencv-python-headless<5')")
    for label, frames in sets.items():
        print(f"{label}:")
        for name, run in alternatives:
            if "CNN" in name:  # tens of times slower: one frame, once
                time_model(name, run, frames[:1], refs, 1)
            else:
                time_model(name, run, frames, refs, repeat)


def bench_isolated() -> None:
    from tipline.faces.detect import faces_in_bytes
    from tipline.settings import Settings

    st = Settings(data_dir=Path(tempfile.gettempdir()) / "tipline-bench-faces", faces_enabled=True)
    buf = io.BytesIO()
    Image.fromarray(frame((640, 480), pictures()[:1], 0)).save(buf, "JPEG", quality=90)
    faces_in_bytes(buf.getvalue(), st)
    t0 = time.perf_counter()
    for _ in range(3):
        faces_in_bytes(buf.getvalue(), st)
    print(
        "isolated child per 640x480 JPEG (fresh child, model loaded in it): "
        f"{(time.perf_counter() - t0) / 3:.2f} s wall"
    )


def bench_index(sizes: list[int], queries: int) -> None:
    rng = np.random.default_rng(7)
    for n in sizes:
        base_rss = rss_mb()
        x = rng.standard_normal((n, 128), dtype=np.float32)
        x /= 2 * np.linalg.norm(x, axis=1, keepdims=True)
        qs = x[rng.choice(n, queries, replace=False)] + rng.standard_normal((queries, 128), dtype=np.float32) * 0.02
        data_rss = rss_mb()
        rows = []
        for name, idx in (("FaceIndex (auto)", FaceIndex()), ("FaceIndex exact numpy", FaceIndex(use_faiss=False))):
            t0 = time.perf_counter()
            for a in range(0, n, 10_000):
                idx.add(np.arange(a, min(n, a + 10_000)), x[a : a + 10_000])
            build = time.perf_counter() - t0
            idx.search(qs[0], k=10)
            t0, c0 = time.perf_counter(), time.process_time()
            got = [idx.search(q, k=10) for q in qs]
            per = (time.perf_counter() - t0) / queries * 1000
            per_cpu = (time.process_time() - c0) / queries * 1000
            rows.append((f"{name} [{idx.kind}]", per, per_cpu, build, rss_mb() - data_rss, got))
            del idx
        t0, c0 = time.perf_counter(), time.process_time()
        truth = [np.argsort(np.linalg.norm(x - q, axis=1))[:10] for q in qs]
        brute = (time.perf_counter() - t0) / queries * 1000
        brute_cpu = (time.process_time() - c0) / queries * 1000
        print(
            f"index over {n:,} embeddings (one core; vectors {(data_rss - base_rss):.0f} MB; "
            f"load {os.getloadavg()[0]:.1f}):"
        )
        print(f"  {'brute-force numpy (norm(X - q), argsort)':42s} {brute_cpu:8.2f} CPU ms/query ({brute:.2f} wall)")
        for name, per, per_cpu, build, mem, got in rows:
            recall = np.mean([len({h.key for h in g} & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)])
            print(
                f"  {name:42s} {per_cpu:8.2f} CPU ms/query ({per:.2f} wall; {brute_cpu / per_cpu:5.1f}x brute force)  "
                f"built in {build:5.1f} s  +{mem:.0f} MB  recall@10 {recall:.3f}"
            )
        del x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-model", action="store_true")
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores on the host, one thread used")
    print(f"load average at start: {os.getloadavg()[0]:.1f} (the host is shared: more than its cores means contention)")
    if not a.skip_model:
        bench_model(a.repeat)
        bench_isolated()
    bench_index([int(s) for s in a.sizes.split(",")], a.queries)


if __name__ == "__main__":
    main()
