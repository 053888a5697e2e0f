"""The face index: the faiss path gives the exact path's answers; built incrementally; removals."""

from __future__ import annotations

import numpy as np
import pytest

from tipline.faces.index import FaceIndex


def _data(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 128)).astype(np.float32)
    return x / (2 * np.linalg.norm(x, axis=1, keepdims=True))  # the scale of dlib's embeddings (norm ~0.5)


def _brute(x: np.ndarray, keys: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    d = np.linalg.norm(x - q, axis=1)
    return [int(keys[i]) for i in np.argsort(d, kind="stable")[:k]]


def test_exact_index_answers_as_brute_force_and_filters_by_distance():
    x = _data(3000)
    idx = FaceIndex(use_faiss=False)
    idx.add(np.arange(3000) + 10, x)
    q = x[17] + 0.01
    hits = idx.search(q, k=5)
    assert [h.key for h in hits] == _brute(x, np.arange(3000) + 10, q, 5)
    assert hits[0].key == 27 and hits[0].distance == pytest.approx(float(np.linalg.norm(x[17] - q)), abs=1e-4)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert all(h.distance <= 0.2 for h in idx.search(q, k=50, max_distance=0.2))
    assert idx.kind == "exact-numpy"


def test_faiss_path_is_built_incrementally_and_gives_the_exact_neighbours():
    pytest.importorskip("faiss")
    x = _data(6000, seed=5)
    keys = np.arange(6000)
    exact, fast = FaceIndex(use_faiss=False), FaceIndex(faiss_from=2000)
    for a in range(0, 6000, 1000):  # added in batches: the faiss index is made once and appended to
        exact.add(keys[a : a + 1000], x[a : a + 1000])
        fast.add(keys[a : a + 1000], x[a : a + 1000])
    assert fast.kind == "faiss-sq8+rerank" and len(fast) == 6000
    rng = np.random.default_rng(9)
    for i in rng.choice(6000, 30, replace=False):
        q = x[i] + rng.standard_normal(128).astype(np.float32) * 0.01
        assert [(h.key, round(h.distance, 4)) for h in fast.search(q, k=10)] == [
            (h.key, round(h.distance, 4)) for h in exact.search(q, k=10)
        ]


def test_removed_faces_are_not_found_and_compact_keeps_the_rest():
    x = _data(500)
    idx = FaceIndex(use_faiss=False)
    idx.add(list(range(500)), x)
    idx.remove([7])
    assert 7 not in [h.key for h in idx.search(x[7], k=3)] and len(idx) == 499
    idx.add([7], x[8])  # a key added again replaces its vector
    assert idx.search(x[8], k=2)[0].distance == pytest.approx(0.0, abs=1e-4)
    idx.compact()
    assert len(idx) == 500 and {h.key for h in idx.search(x[8], k=2)} == {7, 8}
    with pytest.raises(ValueError, match="one key per vector"):
        idx.add([1, 2], x[:1])
