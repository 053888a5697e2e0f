"""Conformance tests for tipline.media.index: every PDQIndex answers exactly like brute force.

One test body runs over each implementation (pytx-style conformance): LinearPDQIndex, MIHPDQIndex, and an
MIHPDQIndex with tiny segments so that the buffer, several segments and merges are all exercised. The
oracle is a pure-Python popcount over all stored hashes; the fast index is also checked against the linear
one on bigger random and clustered sets. All hashes are random or random near-copies.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipline.media import index as mod
from tipline.media.index import (
    LinearPDQIndex,
    MIHPDQIndex,
    PDQIndex,
    bytes_to_hex,
    hamming,
    hex_to_bytes,
)

RADII = [0, 1, 15, 31, 32, 64]

IMPLS: dict[str, Callable[[], PDQIndex]] = {
    "linear": LinearPDQIndex,
    "mih": MIHPDQIndex,
    # tiny segments (buffer, several segments, merges), and bucket probing even where MIH would rather scan a
    # segment this small, so that the probing code answers every query of every test
    "mih-segmented-probing": lambda: MIHPDQIndex(buffer_size=97, merge_factor=2),
}


def always_probe(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(mod._Plan, "worth_it", lambda self, n: True)


@pytest.fixture(params=list(IMPLS))
def make(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Callable[[], PDQIndex]:
    if request.param.endswith("probing"):
        always_probe(monkeypatch)
    return IMPLS[request.param]


# ------------------------------------------------------------------------------------------------ data


def flip(h: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with k[i] distinct random bits flipped."""
    out = h.copy()
    for i in range(out.shape[0]):
        for b in rng.choice(256, int(k[i]), replace=False):
            out[i, b >> 3] ^= 1 << (b & 7)
    return out


def random_set(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32), dtype=np.uint8)


def clustered_set(seeds: int, copies: int, seed: int) -> np.ndarray:
    """Seed hashes with near copies at distance 0..40: big shared buckets, many matches per query."""
    rng = np.random.default_rng(seed)
    base = np.repeat(rng.integers(0, 256, (seeds, 32), dtype=np.uint8), copies, axis=0)
    return flip(base, rng.integers(0, 41, base.shape[0]), rng)


def queries_for(h: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    near = flip(h[rng.integers(0, h.shape[0], n - n // 5)], rng.integers(0, 40, n - n // 5), rng)
    return np.concatenate([near, rng.integers(0, 256, (n // 5, 32), dtype=np.uint8)])


def brute(h: np.ndarray, ids: np.ndarray, q: np.ndarray, radius: int) -> list[tuple[int, int]]:
    """Pure-Python oracle: smallest distance per id, sorted by (distance, id)."""
    qi = int.from_bytes(q.tobytes(), "big")
    best: dict[int, int] = {}
    for row, i in zip(h, ids.tolist(), strict=True):
        d = (int.from_bytes(row.tobytes(), "big") ^ qi).bit_count()
        if d <= radius and d < best.get(i, 999):
            best[i] = d
    return sorted(best.items(), key=lambda t: (t[1], t[0]))


SMALL = {"random": random_set(1500, 1), "clustered": clustered_set(15, 100, 2)}
SMALL_Q = {k: queries_for(v, 30, 3) for k, v in SMALL.items()}


# ------------------------------------------------------------------------------------------------ conformance


@pytest.mark.parametrize("data", ["random", "clustered"])
def test_conformance_against_brute_force(make: Callable[[], PDQIndex], data: str) -> None:
    h, qs = SMALL[data], SMALL_Q[data]
    ids = np.arange(h.shape[0]) * 7 + 3
    idx = make()
    idx.add(h, ids)
    assert len(idx) == h.shape[0]
    for radius in RADII:
        want = [brute(h, ids, q, radius) for q in qs]
        assert [idx.query(q, radius) for q in qs] == want, radius
        assert idx.query_many(qs, radius) == want, radius
    if data == "random":
        assert idx.query(h[5]) == [(5 * 7 + 3, 0)]


@pytest.mark.parametrize("data", ["random", "clustered"])
def test_mih_equals_linear_on_bigger_sets(data: str) -> None:
    h = random_set(30_000, 4) if data == "random" else clustered_set(60, 300, 5)
    qs = queries_for(h, 200, 6)
    ids = np.arange(h.shape[0])
    lin, mih = LinearPDQIndex(), MIHPDQIndex()
    lin.add(h, ids)
    mih.add(h, ids)
    for radius in RADII:
        want = lin.query_many(qs, radius)
        assert mih.query_many(qs, radius) == want, radius
        assert [mih.query(q, radius) for q in qs[:60]] == want[:60], radius
        assert sum(map(len, want)) > 0


def test_mih_probing_at_every_radius(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force bucket probing even where a scan would be cheaper: the pigeonhole split must hold at every radius."""
    always_probe(monkeypatch)
    h = clustered_set(20, 100, 7)
    qs = queries_for(h, 40, 8)
    ids = np.arange(h.shape[0])
    lin, mih = LinearPDQIndex(), MIHPDQIndex()
    lin.add(h, ids)
    mih.add(h, ids)
    for radius in [0, 1, 2, 9, 10, 11, 12, 21, 22, 23, 31, 32, 33, 43, 64]:
        assert mih.query_many(qs, radius) == lin.query_many(qs, radius), radius
        assert [mih.query(q, radius) for q in qs[:10]] == lin.query_many(qs[:10], radius), radius


@pytest.mark.parametrize("m", [7, 11, 16])
@pytest.mark.parametrize("radius", [1, 10, 15, 31, 32, 45])
def test_mih_worst_case_bit_spreads(monkeypatch: pytest.MonkeyPatch, m: int, radius: int) -> None:
    """Adversarial near-copies: every substring table but one is just outside its probe radius, the last one
    just inside, at total distance exactly ``radius``. Each table alone must find its copy (random near-copies
    almost always differ by less in some table and would hide a probe radius that is one too small)."""
    always_probe(monkeypatch)
    h = random_set(1000, 23)
    mih = MIHPDQIndex(m, buffer_size=100)
    mih.add(h, np.arange(1000))
    (seg,) = mih._state.segments
    bits = seg.bits
    radii = mod._table_radii(m, radius)
    for only in range(m):
        if radii[only] < 0:
            continue
        q = h[only].copy()
        for k, ((start, width), r) in enumerate(zip(mod._partition(m), radii, strict=True)):
            for j in range(r if k == only else r + 1):  # flip the top bits of the substring: its bucket key
                p = start + width - 1 - j
                q[p >> 3] ^= 1 << (p & 7)
        assert hamming(q, h[only]) == radius
        assert (only, radius) in mih.query(q, radius), (only, bits)
        assert (only, radius) in mih.query_many(q[None], radius)[0]
        assert (only, radius) not in mih.query(q, radius - 1)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    radius=st.integers(0, 70),
    substrings=st.sampled_from([4, 11, 16]),
)
def test_mih_property(seed: int, n: int, radius: int, substrings: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (max(1, n // 20), 32), dtype=np.uint8)
    h = flip(base[rng.integers(0, base.shape[0], n)], rng.integers(0, 50, n), rng)
    ids = rng.integers(0, n, n)  # shared ids on purpose
    qs = flip(h[rng.integers(0, n, 10)], rng.integers(0, 40, 10), rng)
    mih = MIHPDQIndex(substrings, buffer_size=int(rng.integers(1, 64)), merge_factor=int(rng.integers(1, 4)))
    for part in np.array_split(np.arange(n), 3):
        mih.add(h[part], ids[part])
    want = [brute(h, ids, q, radius) for q in qs]
    with pytest.MonkeyPatch.context() as mp:
        if seed % 2:
            always_probe(mp)
        assert mih.query_many(qs, radius) == want
        assert [mih.query(q, radius) for q in qs] == want


# ------------------------------------------------------------------------------------------------ lifecycle


def test_incremental_add_after_queries(make: Callable[[], PDQIndex]) -> None:
    h = clustered_set(10, 120, 9)
    qs = queries_for(h, 20, 10)
    ids = np.arange(h.shape[0])
    idx = make()
    idx.add(h[:300], ids[:300])
    assert idx.query_many(qs, 31) == [brute(h[:300], ids[:300], q, 31) for q in qs]
    end = 300
    for size in [1, 2, 50, 96, 97, 98, 200, 353]:  # crosses buffer and merge boundaries
        idx.add(h[end : end + size], ids[end : end + size])
        end += size
        assert len(idx) == end
        assert [idx.query(q, 31) for q in qs] == [brute(h[:end], ids[:end], q, 31) for q in qs]
    assert idx.query(h[end - 1], 0) == [(end - 1, 0)]
    if isinstance(idx, MIHPDQIndex) and idx.buffer_size < 100:
        assert len(idx._state.segments) >= 2  # several segments were made and some merged


def test_add_hex_strings_equals_add_bytes(make: Callable[[], PDQIndex]) -> None:
    h = random_set(300, 11)
    a, b = make(), make()
    a.add(h, list(range(300)))
    b.add([x.upper() if i % 2 else x for i, x in enumerate(bytes_to_hex(h))], np.arange(300, dtype=np.uint32))
    qs = queries_for(h, 10, 12)
    assert a.query_many(qs) == b.query_many(qs)
    assert a.query(bytes_to_hex(h[:1])[0]) == a.query(h[0]) == a.query(h[0].tobytes()) == [(0, 0)]


def test_removal(make: Callable[[], PDQIndex]) -> None:
    h = clustered_set(5, 100, 13)
    ids = np.arange(h.shape[0]) // 2  # two hashes per id
    qs = queries_for(h, 20, 14)
    idx = make()
    idx.add(h, ids)
    gone = np.arange(0, 250, 3)
    assert idx.remove(gone) == 2 * gone.size
    assert idx.remove(gone) == 0
    assert idx.remove([10_000]) == 0
    assert len(idx) == h.shape[0] - 2 * gone.size
    keep = ~np.isin(ids, gone)
    want = [brute(h[keep], ids[keep], q, 31) for q in qs]
    assert [idx.query(q, 31) for q in qs] == want
    assert idx.query_many(qs, 31) == want
    # re-adding a removed id with a new hash brings back only the new one
    new = random_set(1, 15)
    idx.add(new, [int(gone[0])])
    assert idx.query(new[0], 0) == [(int(gone[0]), 0)]
    assert int(gone[0]) not in {i for i, _ in idx.query(h[2 * int(gone[0])], 0)}
    before = idx.query_many(qs, 31)
    idx.compact()
    assert idx.query_many(qs, 31) == before
    assert len(idx) == h.shape[0] - 2 * gone.size + 1


def test_shared_ids_report_smallest_distance(make: Callable[[], PDQIndex]) -> None:
    q = random_set(1, 16)
    near = flip(np.repeat(q, 3, axis=0), np.array([5, 2, 9]), np.random.default_rng(17))
    idx = make()
    idx.add(near, [42, 42, 7])
    assert idx.query(q[0], 31) == [(42, 2), (7, 9)]
    assert idx.query_many(np.repeat(q, 2, axis=0), 31) == [[(42, 2), (7, 9)]] * 2


def test_save_load_round_trip(make: Callable[[], PDQIndex], tmp_path) -> None:
    h = random_set(2000, 18)
    qs = queries_for(h, 30, 19)
    idx = make()
    idx.add(h, np.arange(2000) + 10**12)
    idx.remove([10**12 + 5])
    path = tmp_path / "bank.pdqindex"
    idx.save(path)
    assert path.exists() and not list(tmp_path.glob("*.tmp"))
    for loaded in (PDQIndex.load(path), type(idx).load(path), MIHPDQIndex.load(path), LinearPDQIndex.load(path)):
        assert len(loaded) == len(idx)
        assert loaded.query_many(qs, 31) == idx.query_many(qs, 31)
        assert loaded.query(h[5], 0) == []
        loaded.add(random_set(3, 20), [1, 2, 3])
        assert loaded.query(random_set(3, 20)[2], 0) == [(3, 0)]
    assert type(PDQIndex.load(path)) is type(idx)
    if isinstance(idx, MIHPDQIndex) and idx._state.segments:  # tables that do not fit are rebuilt, not trusted
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        data["mih_0_offsets"] = data["mih_0_offsets"][::-1].copy()
        np.savez(tmp_path / "tampered.npz", **data)
        assert MIHPDQIndex.load(tmp_path / "tampered.npz").query_many(qs, 31) == idx.query_many(qs, 31)
    (tmp_path / "junk.npz").write_bytes(b"not an index")
    with pytest.raises(Exception):  # noqa: B017 - any clear failure is fine for a corrupt file
        PDQIndex.load(tmp_path / "junk.npz")


def test_empty_index_and_distance_256(make: Callable[[], PDQIndex]) -> None:
    idx = make()
    assert len(idx) == 0 and idx.query("0" * 64) == [] and idx.query_many(["0" * 64] * 2) == [[], []]
    idx.add(["0" * 64, "f" * 64], [1, 2])
    assert idx.query("f" * 64, 256) == [(2, 0), (1, 256)]
    assert idx.query("f" * 64, 255) == [(2, 0)]
    assert idx.query_many(["0" * 64], 300) == [[(1, 0), (2, 256)]]
    assert idx.memory_bytes() > 0


def test_concurrent_queries_while_adding() -> None:
    h = random_set(20_000, 21)
    idx = MIHPDQIndex(buffer_size=500)
    idx.add(h[:5000], np.arange(5000))
    qs = h[:200]
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(5):
                for j, r in enumerate(idx.query_many(qs, 10)):
                    assert r[0] == (j, 0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for a in range(5000, 20_000, 700):
        idx.add(h[a : a + 700], np.arange(a, min(a + 700, 20_000)))
    for t in threads:
        t.join()
    assert not errors
    assert len(idx) == 20_000 and idx.query(h[19_999], 0) == [(19_999, 0)]


# ------------------------------------------------------------------------------------------------ input checks


def test_hex_helpers() -> None:
    h = random_set(5, 22)
    hexes = bytes_to_hex(h)
    assert all(len(x) == 64 for x in hexes)
    assert np.array_equal(hex_to_bytes(hexes), h)
    assert np.array_equal(hex_to_bytes([x.upper() for x in hexes]), h)
    assert np.array_equal(hex_to_bytes(hexes[0]), h[:1])
    assert np.array_equal(hex_to_bytes(h[0]), h[:1])
    assert hex_to_bytes([]).shape == (0, 32)
    assert hamming(hexes[0], hexes[0]) == 0
    assert hamming("0" * 64, "f" * 64) == 256
    assert hamming("0" * 63 + "3", h[0] * 0) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0" * 63, "64 hexadecimal characters"),
        ("0" * 65, "64 hexadecimal characters"),
        ("g" * 64, "not hexadecimal"),
        ("0" * 62 + " 1", "not hexadecimal"),
        ("é" * 64, "not hexadecimal"),
        (b"\x00" * 31, "32 bytes"),
        (np.zeros(32, dtype=np.int64), "uint8"),
        (12345, "hex string"),
    ],
)
def test_bad_hash_is_a_clear_value_error(make: Callable[[], PDQIndex], bad: object, message: str) -> None:
    idx = make()
    idx.add(["0" * 64], [1])
    with pytest.raises(ValueError, match=message):
        idx.query(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        idx.add(["0" * 64, bad], [2, 3])  # type: ignore[list-item]
    assert len(idx) == 1  # nothing half-added


def test_bad_batch_and_ids(make: Callable[[], PDQIndex]) -> None:
    idx = make()
    with pytest.raises(ValueError, match=r"hash #2: .*64 hexadecimal"):
        idx.add(["0" * 64, "1" * 64, "2" * 60], [1, 2, 3])
    with pytest.raises(ValueError, match=r"hash #1: .*not hexadecimal"):
        idx.query_many(["0" * 64, "x" * 64])
    with pytest.raises(ValueError, match="one per hash"):
        idx.add(["0" * 64] * 2, [1])
    with pytest.raises(ValueError, match="integers"):
        idx.add(["0" * 64], [1.5])
    with pytest.raises(ValueError, match="shape"):
        idx.add(np.zeros((2, 31), dtype=np.uint8), [1, 2])
    with pytest.raises(ValueError, match="radius"):
        idx.query("0" * 64, -1)
    with pytest.raises(ValueError, match="radius"):
        idx.query("0" * 64, 3.0)  # type: ignore[arg-type]
    assert len(idx) == 0


def test_big_merges_run_in_the_background_and_queries_stay_exact() -> None:
    """Merges over ``background_min`` rows are built by a thread, not by ``add``; every query meanwhile (and
    after the swap) gives the brute-force answer, and compact() during a merge drops the stale merge."""
    h = random_set(6000, 41)
    ids = np.arange(6000)
    qs = [h[i] for i in range(0, 6000, 97)]
    idx = MIHPDQIndex(buffer_size=64, merge_factor=2, background_min=500)
    end = 0
    for size in [700, 64, 300, 1000, 64, 128, 2000, 1744]:
        idx.add(h[end : end + size], ids[end : end + size])
        end += size
        assert [idx.query(q, 31) for q in qs] == [brute(h[:end], ids[:end], q, 31) for q in qs]
    idx.wait_merges()
    assert idx.background_merges > 0
    st = idx._state
    assert sum(s.n for s in st.segments) == st.indexed == end  # contiguous cover of every indexed row
    assert [idx.query(q, 31) for q in qs] == [brute(h, ids, q, 31) for q in qs]
    idx.remove(ids[:10])
    idx.compact()
    idx.wait_merges()
    assert len(idx) == 5990 and idx.query(h[0], 0) == []
    sync = MIHPDQIndex(buffer_size=64, merge_factor=2, background_min=None)
    sync.add(h[:700], ids[:700])
    sync.add(h[700:1400], ids[700:1400])
    assert sync.background_merges == 0 and sync._merger is None
