"""Text to shingles to MinHash signatures to LSH band keys: the deterministic part both engines share.

* **tokens**: lower-case words (any script); every run of digits becomes ``0`` so a price, an age or a
  phone written in digits is one slot token, not text that separates two ads of one template.
* **shingles**: word bigrams (a one-word text gives its word), hashed to 32 bits with CRC-32 of the word
  and an integer mix of the two word hashes. CRC-32 and the mix are the same in every process (Python's
  ``hash`` is salted per process, so Spark's workers would disagree with the driver).
* **signatures**: datasketch's MinHash, scheme ``affine32`` (its default since 2.0): the MurmurHash3
  finaliser, then ``a*h + b mod 2^32`` with datasketch's own permutation parameters for ``seed``.
  Computed for many ads at once with numpy; :func:`signature` is checked against
  ``datasketch.MinHash.update_batch`` in the tests, value for value.
* **band keys**: the signature cut into ``b`` bands of ``r`` values, as ``datasketch.MinHashLSH`` cuts it;
  each band folded into one signed 64-bit integer so a database or Spark can join on it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
_M32 = np.uint64(0xFFFFFFFF)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def tokens(text: str) -> list[str]:
    return _WORD.findall(_DIGITS.sub("0", text.lower()))


def shingles(text: str) -> np.ndarray:
    """Sorted unique 32-bit shingle hashes of ``text`` (uint32)."""
    return ShingleTable.build([text]).row(0)


_MIX_INT = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def shingle_set(text: str) -> set[int]:
    """The same shingles as :class:`ShingleTable`, as a Python set, for short texts (a sentence): the
    numpy path costs more in call overhead than the work on a few words."""
    cache = _word_cache()
    h = [cache[w] for w in _WORD.findall(text.lower())]
    if not h:
        return set()
    if len(h) == 1:
        return {h[0]}
    out = set()
    for a, b in zip(h, h[1:], strict=False):
        m = (a * _MIX_INT + b) & _MASK64
        out.add((m ^ (m >> 32)) & 0xFFFFFFFF)
    return out


def all_in(text: str, known: set[int]) -> bool:
    """Every shingle of ``text`` is in ``known`` (and it has one): :func:`shingle_set` with an early exit."""
    cache = _word_cache()
    h = [cache[w] for w in _WORD.findall(text.lower())]
    if not h:
        return False
    if len(h) == 1:
        return h[0] in known
    for a, b in zip(h, h[1:], strict=False):
        m = (a * _MIX_INT + b) & _MASK64
        if (m ^ (m >> 32)) & 0xFFFFFFFF not in known:
            return False
    return True


class _Hashes(dict[str, int]):
    """CRC-32 of each word, digit runs read as ``0`` (so the hash of a raw word equals the hash of the
    word :func:`tokens` gives: reading digits here saves a pass over every text)."""

    def __missing__(self, w: str) -> int:
        h = self[w] = zlib.crc32(_DIGITS.sub("0", w).encode("utf-8"))
        return h


class ShingleTable:
    """Shingle sets of many texts in two flat arrays: ``values`` (uint32, each row sorted and unique) and
    ``offsets`` (row ``i`` is ``values[offsets[i]:offsets[i+1]]``). Built with a handful of numpy passes
    over the whole corpus instead of a few per text (per-text numpy calls cost more than the work)."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self.values, self.offsets = values, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def rows(self) -> list[np.ndarray]:
        o = self.offsets.tolist()
        v = self.values
        return [v[o[i] : o[i + 1]] for i in range(len(o) - 1)]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths())

    @classmethod
    def build(cls, texts: Sequence[str]) -> ShingleTable:
        n = len(texts)
        cache = _word_cache()
        words: list[int] = []
        lens = np.zeros(n, dtype=np.int64)
        find = _WORD.findall
        get = cache.__getitem__
        for i, t in enumerate(texts):
            w = find(t.lower())
            lens[i] = len(w)
            words.extend(map(get, w))
        h = np.asarray(words, dtype=np.uint64)
        ends = np.cumsum(lens)
        row = np.repeat(np.arange(n, dtype=np.uint64), lens)
        # bigram at position k: words k and k+1 of the same text; (h1 * golden + h2) folded to 32 bits,
        # so order matters ("a b" != "b a"); multiplication wraps mod 2^64.
        with np.errstate(over="ignore"):
            mixed = h[:-1] * _MIX + h[1:] if len(h) > 1 else np.empty(0, np.uint64)
        mixed = (mixed ^ (mixed >> np.uint64(32))) & _M32
        keep = np.ones(len(mixed), dtype=bool)
        last = ends[lens > 0] - 1  # a text's last word starts no bigram
        keep[last[last < len(mixed)]] = False
        big_rows = row[:-1][keep] if len(row) else row
        big = mixed[keep]
        single = np.flatnonzero(lens == 1)  # a one-word text: its word
        rows_all = np.concatenate([big_rows, single.astype(np.uint64)])
        vals_all = np.concatenate([big, h[ends[single] - 1] & _M32])
        keyed = sorted_unique((rows_all << np.uint64(32)) | vals_all)[0]
        values = (keyed & _M32).astype(np.uint32)
        counts = np.bincount((keyed >> np.uint64(32)).astype(np.int64), minlength=n)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(values, offsets)

    def without(self, drop: np.ndarray) -> ShingleTable:
        """The same rows with the values where ``drop`` (bool, one per value) is set removed."""
        keep = ~drop
        counts = np.bincount(self.row_ids()[keep], minlength=len(self))
        return ShingleTable(self.values[keep], np.concatenate(([0], np.cumsum(counts))).astype(np.int64))


_CACHE = _Hashes()


def _word_cache() -> _Hashes:
    if len(_CACHE) > 1 << 20:  # bounded: a corpus with millions of distinct words starts a new cache
        _CACHE.clear()
    return _CACHE


def sorted_unique(x: np.ndarray, counts: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """np.unique by sorting: numpy 2's hash-based unique is several times slower on these key arrays."""
    a = np.sort(x, kind="stable") if len(x) else x
    if not len(a):
        return a, (np.empty(0, np.int64) if counts else None)
    first = np.empty(len(a), dtype=bool)
    first[0] = True
    np.not_equal(a[1:], a[:-1], out=first[1:])
    u = a[first]
    if not counts:
        return u, None
    starts = np.flatnonzero(first)
    return u, np.diff(np.append(starts, len(a)))


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3's 32-bit finaliser, as datasketch applies it before its affine permutations.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


class Hasher:
    """MinHash signatures and LSH band keys for one (``num_perm``, ``bands``, ``rows``, ``seed``)."""

    def __init__(self, num_perm: int = 64, bands: int = 16, rows: int = 4, seed: int = 1) -> None:
        if bands * rows > num_perm:
            raise ValueError("bands * rows must not exceed num_perm")
        self.num_perm, self.bands, self.rows, self.seed = num_perm, bands, rows, seed
        # imported here: datasketch brings scipy (half a second), which every `tipline` command paid at start
        from datasketch import MinHash, MinHashLSH

        perm = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        self.a = perm[0].astype(np.uint32)
        self.b = perm[1].astype(np.uint32)
        # datasketch's own banding: the same (start, end) ranges MinHashLSH would cut.
        self.ranges = MinHashLSH(num_perm=num_perm, params=(bands, rows)).hashranges

    def signatures(self, table: ShingleTable, chunk: int = 1 << 18) -> np.ndarray:
        """(len(table), num_perm) uint32 signatures; an empty row gets the all-max signature."""
        n = len(table)
        out = np.full((n, self.num_perm), 0xFFFFFFFF, dtype=np.uint32)
        a = self.a[:, None]
        b = self.b[:, None]
        mixed = _fmix32(table.values.astype(np.uint32))
        lens = table.lengths()
        offs = table.offsets
        lo = 0
        while lo < n:
            # rows lo..hi-1 hold at most ~chunk values (at least one row)
            hi = int(np.searchsorted(offs, offs[lo] + chunk, side="right")) - 1
            hi = min(max(hi, lo + 1), n)
            nz = lo + np.flatnonzero(lens[lo:hi])
            if len(nz):
                part = mixed[offs[lo] : offs[hi]]
                with np.errstate(over="ignore"):
                    phv = a * part[None, :] + b  # (num_perm, values) wraps mod 2^32
                starts = offs[nz] - offs[lo]
                out[nz] = np.minimum.reduceat(phv, starts, axis=1).T
            lo = hi
        return out

    def signature(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=np.uint32)
        return self.signatures(ShingleTable(s, np.asarray([0, len(s)], dtype=np.int64)))[0]

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """(n, bands) signed int64 keys: each band's ``rows`` values folded with a polynomial hash."""
        keys = np.zeros((sigs.shape[0], self.bands), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j, (start, end) in enumerate(self.ranges):
                k = np.full(sigs.shape[0], np.uint64(j + 1), dtype=np.uint64)
                for c in range(start, end):
                    k = k * _MIX + sigs[:, c].astype(np.uint64)
                keys[:, j] = k ^ (k >> np.uint64(29))
        return keys.view(np.int64)


def jaccard(x: np.ndarray, y: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique uint32 arrays."""
    if not len(x) and not len(y):
        return 0.0
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def to_bytes(values: Iterable[int] | np.ndarray) -> bytes:
    return np.asarray(values, dtype="<u4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)
