"""The face model: dlib's detector and 128-d ResNet embedding, with the weights of ``face_recognition_models``.

Both come from the package registry (``dlib-bin``: prebuilt wheels; ``face_recognition_models``: the model
files) and load with no network. Chosen by the numbers in bench/RESULTS.md (``bench/bench_faces.py``):

* **detector**: dlib's HOG + linear SVM frontal detector (in dlib itself): every pasted person found, 5.1
  faces per CPU second at 640 x 480 and 7.3 at 1920 x 1080. The package's CNN detector
  (``mmod_human_face_detector.dat``) is 20-45x slower on a CPU; OpenCV's bundled Haar cascade (the other
  alternative measured) is about as fast (23% faster at 640 x 480, 16% slower at 1920 x 1080) with more
  false detections, and would add OpenCV for what dlib already does.
* **alignment**: the 5-point landmark model (9 MB; the 68-point one is 100 MB and aligns the same way for
  the embedding);
* **embedding**: ``dlib_face_recognition_resnet_model_v1.dat``: a ResNet-34-like network giving a 128-d
  vector; Euclidean distance below 0.6 means "same person" (99.38% on LFW, dlib's published figure).

Everything here runs in the limited child process (``tipline.faces.detect``), never in the server.
The model is used for identity comparison only: no age, sex, ethnicity or expression is estimated, and no
such model is loaded.

GPU: :meth:`FaceModel.embed` gives dlib every face chip of a picture (or of all sampled frames) in one batch
call; a dlib built with CUDA runs that batch on the GPU, the CPU wheels on the CPU (:func:`device`).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EMBEDDING_DIM", "MODEL_NAME", "FaceModel", "Found", "device", "model_dir", "quality_of", "sharpness"]

MODEL_NAME = "dlib-hog+resnet-v1"
EMBEDDING_DIM = 128
CHIP_SIZE = 150  # the embedding network's input, as dlib's examples use it
CHIP_PADDING = 0.25
# detection works on pictures at most this long on their longer side (a larger one is scaled down first:
# HOG finds faces of 80 px and more at the original scale, 40 px with one upsampling)
DETECT_SIDE = 1920
UPSAMPLE_BELOW = 1000  # pictures shorter than this on their longer side are searched once upsampled


def model_dir() -> Path:
    """The folder of the ``face_recognition_models`` weights (found without importing that package, which
    imports the deprecated ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "face search needs the face_recognition_models package (the model weights): "
            "pip install 'face_recognition_models>=0.3' 'dlib-bin>=20'"
        )
    return Path(spec.origin).parent / "models"


def device() -> str:
    """``cuda`` when dlib was built with CUDA and sees a GPU (the embedding batches run there), else ``cpu``."""
    import dlib

    if getattr(dlib, "DLIB_USE_CUDA", False):
        try:
            if int(dlib.cuda.get_num_devices()) > 0:
                return "cuda"
        except Exception:  # noqa: BLE001 - no driver: the CPU path
            return "cpu"
    return "cpu"


@dataclass(frozen=True)
class Found:
    """One face: its box in the picture's own pixels (x, y, width, height), detector score, quality (0-100)
    and embedding (128 float32)."""

    box: tuple[int, int, int, int]
    score: float
    quality: int
    embedding: np.ndarray


def quality_of(score: float, side: float, sharpness: float) -> int:
    """0-100 from the detector's margin, the face's size in pixels and its chip's sharpness (variance of a
    Laplacian). A small, blurred or barely detected face scores low; matches on it deserve less trust."""
    s_score = 1.0 / (1.0 + math.exp(-2.0 * score))  # margin 0 -> 0.5, 1 -> 0.88
    s_size = min(1.0, max(0.0, (side - 20.0) / 80.0))  # 20 px -> 0, 100 px and more -> 1
    s_sharp = min(1.0, sharpness / 150.0)
    return round(100 * s_score * (0.5 + 0.5 * s_size) * (0.4 + 0.6 * s_sharp))


def sharpness(chip: np.ndarray) -> float:
    g = chip.astype(np.float32).mean(axis=2)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


class FaceModel:
    """dlib's detector, 5-point aligner and ResNet embedding, loaded once per process."""

    def __init__(self, *, detector: str = "hog") -> None:
        import dlib

        folder = model_dir()
        self._dlib: Any = dlib
        self.detector_name = detector
        if detector == "cnn":
            self._cnn: Any = dlib.cnn_face_detection_model_v1(str(folder / "mmod_human_face_detector.dat"))
        else:
            self._hog: Any = dlib.get_frontal_face_detector()
        self._shape: Any = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self._net: Any = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))

    def detect(self, rgb: np.ndarray, *, min_score: float = 0.0) -> list[tuple[Any, float]]:
        """Face rectangles (dlib rectangles in ``rgb``'s pixels) with their detector score, best first."""
        up = 1 if max(rgb.shape[:2]) < UPSAMPLE_BELOW else 0
        if self.detector_name == "cnn":
            found = [(d.rect, float(d.confidence)) for d in self._cnn(rgb, up)]
        else:
            rects, scores, _ = self._hog.run(rgb, up, min_score)
            found = [(r, float(s)) for r, s in zip(rects, scores, strict=True)]
        return sorted(found, key=lambda x: -x[1])

    def chips(self, rgb: np.ndarray, rects: list[Any]) -> list[np.ndarray]:
        """Aligned 150 x 150 face chips (eyes and nose where the network expects them)."""
        shapes = self._dlib.full_object_detections()
        for r in rects:
            shapes.append(self._shape(rgb, r))
        if not rects:
            return []
        return list(self._dlib.get_face_chips(rgb, shapes, size=CHIP_SIZE, padding=CHIP_PADDING))

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """Embeddings of aligned chips, one batch call (on the GPU with a CUDA dlib): (n, 128) float32."""
        if not chips:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        vectors = self._net.compute_face_descriptor(chips)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)

    def faces(self, rgb: np.ndarray, *, scale: float = 1.0, max_faces: int = 64) -> list[Found]:
        """Every face of one picture; boxes given back in the original picture's pixels (``scale``: how much
        ``rgb`` was shrunk from it)."""
        found = self.detect(rgb)[:max_faces]
        chips = self.chips(rgb, [r for r, _ in found])
        vectors = self.embed(chips)
        out = []
        for (r, score), chip, vec in zip(found, chips, vectors, strict=True):
            x0, y0 = max(0, r.left()), max(0, r.top())
            x1, y1 = min(rgb.shape[1], r.right()), min(rgb.shape[0], r.bottom())
            side = min(x1 - x0, y1 - y0) / scale
            box = (round(x0 / scale), round(y0 / scale), round((x1 - x0) / scale), round((y1 - y0) / scale))
            out.append(Found(box, score, quality_of(score, side, sharpness(chip)), vec))
        return out
