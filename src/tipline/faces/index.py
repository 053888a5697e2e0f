"""Nearest faces in memory: exact numpy for small installations, faiss (8-bit scan, exact re-rank) for large.

Both are built incrementally (:meth:`FaceIndex.add` appends; nothing is rebuilt when a face is added) and
both answer with exact float32 Euclidean distances:

* **exact** (below :data:`FAISS_FROM` faces, or without faiss): squared norms kept beside the vectors, one
  matrix-vector product a query, ``argpartition`` for the best ``k``;
* **faiss** (from :data:`FAISS_FROM` faces): an ``IndexScalarQuantizer`` (8 bits a dimension, trained once
  on the faces present when it is made) scans a quarter of the bytes; its best ``k x`` :data:`RERANK`
  candidates are re-ranked with the exact float32 distances, so the answer is the exact one whenever the
  true neighbours are among the candidates (checked against the exact index in tests/test_faces_index.py).

Measured (bench/bench_faces.py, bench/RESULTS.md): over 1,000,000 faces, one core, the faiss path answers
in 18.5 ms of CPU per query, the exact numpy path in 48 ms, brute-force numpy in 705 ms (same top 10).
Removed faces are masked and dropped at the next :meth:`compact`. The vectors themselves live only in
memory; at rest they are sealed in the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FAISS_FROM", "FaceIndex", "Hit"]

FAISS_FROM = 20_000  # from this many faces the faiss path is faster (bench/RESULTS.md)
RERANK = 8
DIM = 128


@dataclass(frozen=True)
class Hit:
    key: int
    distance: float


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:  # the exact path serves every size, only slower
        return None
    return faiss


class FaceIndex:
    """Keys (face ids) and their 128-d embeddings; ``search`` gives the nearest, closest first."""

    def __init__(self, *, faiss_from: int = FAISS_FROM, use_faiss: bool = True) -> None:
        self._lock = threading.Lock()
        self._vecs = np.zeros((0, DIM), dtype=np.float32)
        self._norms = np.zeros(0, dtype=np.float32)
        self._keys = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._alive = np.zeros(0, dtype=bool)
        self._where: dict[int, int] = {}
        self._faiss_from = faiss_from
        self._use_faiss = use_faiss
        self._fx: Any = None  # the faiss index, rows 0.._fx_n-1 of _vecs
        self._fx_n = 0

    def __len__(self) -> int:
        return len(self._where)

    @property
    def kind(self) -> str:
        return "faiss-sq8+rerank" if self._fx is not None else "exact-numpy"

    def _grow(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._vecs):
            return
        cap = max(need, 2 * len(self._vecs), 1024)
        vecs = np.zeros((cap, DIM), dtype=np.float32)
        vecs[: self._n] = self._vecs[: self._n]
        norms, keys, alive = np.zeros(cap, np.float32), np.zeros(cap, np.int64), np.zeros(cap, bool)
        norms[: self._n], keys[: self._n], alive[: self._n] = (
            self._norms[: self._n],
            self._keys[: self._n],
            self._alive[: self._n],
        )
        self._vecs, self._norms, self._keys, self._alive = vecs, norms, keys, alive

    def add(self, keys: list[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Append faces (a key already present is replaced)."""
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, DIM))
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) != len(vectors):
            raise ValueError("one key per vector")
        with self._lock:
            self._remove_locked([int(k) for k in keys if int(k) in self._where])
            self._grow(len(keys))
            a, b = self._n, self._n + len(keys)
            self._vecs[a:b] = vectors
            self._norms[a:b] = (vectors * vectors).sum(axis=1)
            self._keys[a:b] = keys
            self._alive[a:b] = True
            for i, k in enumerate(keys.tolist()):
                self._where[k] = a + i
            self._n = b
            self._sync_faiss()

    def _sync_faiss(self) -> None:
        faiss = _faiss() if self._use_faiss else None
        if faiss is None or self._n < self._faiss_from:
            return
        if self._fx is None:
            fx = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_8bit)
            fx.train(self._vecs[: self._n])
            self._fx, self._fx_n = fx, 0
        if self._fx_n < self._n:
            self._fx.add(self._vecs[self._fx_n : self._n])
            self._fx_n = self._n

    def remove(self, keys: list[int]) -> None:
        with self._lock:
            self._remove_locked(keys)

    def _remove_locked(self, keys: list[int]) -> None:
        for k in keys:
            row = self._where.pop(int(k), None)
            if row is not None:
                self._alive[row] = False

    def compact(self) -> None:
        """Drop removed faces for good (rebuilds the arrays and the faiss index)."""
        with self._lock:
            rows = np.flatnonzero(self._alive[: self._n])
            keys, vecs = self._keys[rows].copy(), self._vecs[rows].copy()
            self.__init__(faiss_from=self._faiss_from, use_faiss=self._use_faiss)  # type: ignore[misc]
        self.add(keys, vecs)

    def search(self, query: np.ndarray, *, k: int = 50, max_distance: float | None = None) -> list[Hit]:
        """The ``k`` nearest faces (exact distances), closest first, none farther than ``max_distance``."""
        q = np.asarray(query, dtype=np.float32).reshape(DIM)
        with self._lock:
            n = self._n
            if n == 0 or not self._where:
                return []
            if self._fx is not None and self._fx_n == n:
                want = min(n, max(k * RERANK, 64))
                _d, idx = self._fx.search(q[None, :], want)
                rows = idx[0][idx[0] >= 0]
                rows = rows[self._alive[rows]]
                d2 = self._norms[rows] - 2.0 * (self._vecs[rows] @ q) + float(q @ q)
                keys = self._keys[rows]
            else:  # exact: one matrix-vector product over the rows in place (no copy), removed rows masked
                d2 = self._norms[:n] - 2.0 * (self._vecs[:n] @ q) + float(q @ q)
                keys = self._keys[:n]
                alive = self._alive[:n]
                if not alive.all():
                    d2, keys = d2[alive], keys[alive]
        if len(d2) > k:
            part = np.argpartition(d2, k - 1)[:k]
            d2, keys = d2[part], keys[part]
        order = np.argsort(d2, kind="stable")
        dist = np.sqrt(np.maximum(d2[order], 0.0))
        hits = [Hit(int(key), float(d)) for key, d in zip(keys[order].tolist(), dist.tolist(), strict=True)]
        if max_distance is not None:
            hits = [h for h in hits if h.distance <= max_distance]
        return hits
