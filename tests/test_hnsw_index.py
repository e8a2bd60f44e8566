"""HNSW index: the same graph as hnswlib (levels, lists, file bytes), both paths identical,
recall against exact neighbours and hnswlib, deletion, incremental adds, bad input."""

from __future__ import annotations

import numpy as np
import pytest

hnswlib = pytest.importorskip("hnswlib")

from labkit import data  # noqa: E402
from labkit.hnsw import HNSW, read_index  # noqa: E402


def _hnswlib(X, space, M, efc, seed=100, ids=None):
    p = hnswlib.Index(space=space, dim=X.shape[1])
    p.init_index(max_elements=len(X), M=M, ef_construction=efc, random_seed=seed)
    p.add_items(X, ids, num_threads=1)
    return p


@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_build_matches_hnswlib_byte_for_byte(tmp_path, space):
    ds = data.gaussian(2500, 20, 50, seed=11)
    idx = HNSW(20, space=space, M=10, ef_construction=64, seed=7)
    idx.add(ds.train)
    idx.save(tmp_path / "labkit.bin")
    p = _hnswlib(ds.train, space, 10, 64, seed=7)
    p.save_index(str(tmp_path / "hnswlib.bin"))
    a, b = read_index(tmp_path / "labkit.bin"), read_index(tmp_path / "hnswlib.bin")
    np.testing.assert_array_equal(a.levels, b.levels)
    same_lists = np.mean([np.array_equal(a.links0[i, :a.count0[i]], b.links0[i, :b.count0[i]]) for i in range(a.n)])
    assert same_lists >= 0.95, same_lists   # identical on this data in practice (see closing note)
    if space == "cosine":  # hnswlib's compiled normalisation differs from ours by an ulp on a few vectors
        np.testing.assert_allclose(a.vectors, b.vectors, rtol=1e-6, atol=1e-7)
    elif same_lists == 1.0:
        assert (tmp_path / "labkit.bin").read_bytes() == (tmp_path / "hnswlib.bin").read_bytes()
    assert idx.nbytes == p.index_file_size()


def test_labkit_file_answers_in_hnswlib_like_labkit(tmp_path):
    ds = data.gaussian(2000, 16, 100, seed=5)
    idx = HNSW(16, M=8, ef_construction=50)
    idx.add(ds.train, ids=np.arange(2000) * 2 + 1)
    idx.save(tmp_path / "i.bin")
    q = hnswlib.Index(space="l2", dim=16)
    q.load_index(str(tmp_path / "i.bin"))
    for ef in (50, 100):
        q.set_ef(ef)
        expected, _ = q.knn_query(ds.test, k=10)
        labels, _ = idx.search(ds.test, k=10, ef=ef)
        assert (labels == expected.astype(np.int64)).mean() >= 0.99


def test_readable_and_fast_builds_are_identical():
    X = np.random.default_rng(0).integers(0, 5, (600, 8)).astype(np.float32)  # ties galore
    a, b = HNSW(8, M=6, ef_construction=30, backend="readable"), HNSW(8, M=6, ef_construction=30, backend="fast")
    a.add(X)
    b.add(X)
    ga, gb = a.graph(), b.graph()
    for name in ("levels", "count0", "links0", "count_up", "links_up", "block_start"):
        np.testing.assert_array_equal(getattr(ga, name), getattr(gb, name), err_msg=name)
    assert (ga.enterpoint, ga.maxlevel) == (gb.enterpoint, gb.maxlevel)


@pytest.mark.parametrize("path", ["readable", "jit", "aot"])
def test_insertion_refuses_scratch_smaller_than_pool_sizes(path):
    """The compiled kernel indexes its caller's scratch without bounds checks: a pool one slot
    short must raise ValueError before anything is written, on every path."""
    from labkit.hnsw import aot, construction
    if path == "readable":
        insert_range = construction.insert_range
    elif path == "jit":
        from labkit.hnsw.kernels import insert_range
    else:
        insert_range = aot.load()
        if insert_range is None:
            pytest.skip("the ahead-of-time kernel is not built here (make setup builds it)")
    index = HNSW(4, M=4, ef_construction=8)
    index.add(np.eye(4, dtype=np.float32))
    before = index.graph().links0.copy()
    ints, floats = construction.pool_sizes(len(index._X), index.ef_construction, index.maxM0)
    args = (0, index._X, 0, 4, index._levels, index.M, index.maxM, index.maxM0, index.ef_construction,
            index._links0, index._count0, index._links_up, index._count_up, index._block_start, index._deleted,
            index._state.copy(), False)
    for short_ints, short_floats in [(ints - 1, floats), (ints, floats - 1)]:
        with pytest.raises(ValueError, match="pool_sizes"):
            insert_range(*args, np.zeros(short_ints, np.int64), np.zeros(short_floats))
    np.testing.assert_array_equal(index.graph().links0, before)


@pytest.mark.parametrize("name", ["digits", "random-xs-20"])
def test_recall_close_to_hnswlib(name):
    ds = data.load(name)
    gt = ds.neighbors(10)
    idx = HNSW(ds.dim, M=16, ef_construction=100)
    idx.add(ds.train)
    p = _hnswlib(ds.train, "l2", 16, 100)
    p.set_num_threads(1)
    for ef in (10, 50):
        p.set_ef(ef)
        ours = idx.search(ds.test, k=10, ef=ef)[0]
        theirs = p.knn_query(ds.test, k=10)[0].astype(np.int64)
        r_ours = np.mean([len(set(a) & set(g)) / 10 for a, g in zip(ours, gt, strict=True)])
        r_theirs = np.mean([len(set(a) & set(g)) / 10 for a, g in zip(theirs, gt, strict=True)])
        assert abs(r_ours - r_theirs) <= 0.01, (ef, r_ours, r_theirs)


def test_incremental_adds_equal_one_add():
    X = data.gaussian(1200, 12, 1, seed=9).train
    one, two = HNSW(12, M=8, ef_construction=40), HNSW(12, M=8, ef_construction=40)
    one.add(X)
    two.add(X[:500])
    two.add(X[500:])
    np.testing.assert_array_equal(one.graph().links0, two.graph().links0)
    assert len(two) == 1200 and two.max_elements >= 1200


def test_layers_and_deletion():
    ds = data.gaussian(1500, 8, 40, seed=1)
    idx = HNSW(8, M=8, ef_construction=40)
    idx.add(ds.train, ids=np.arange(1500) + 10)
    layers = idx.layers()
    assert layers[0]["nodes"].tolist() == list(range(1500))
    assert (layers[0]["labels"] == np.arange(1500) + 10).all()
    assert sum(len(L["nodes"]) for L in layers[1:]) == int(idx.graph().levels.sum())
    nearest = idx.search(ds.test[:1], k=1, ef=50)[0][0, 0]
    idx.mark_deleted(int(nearest))
    assert nearest not in idx.search(ds.test[:1], k=10, ef=50)[0]
    with pytest.raises(ValueError, match="label"):
        idx.mark_deleted(999_999)


def test_load_hnswlib_file_and_keep_adding(tmp_path):
    ds = data.gaussian(1000, 8, 20, seed=3)
    p = _hnswlib(ds.train[:800], "l2", 8, 40)
    p.save_index(str(tmp_path / "h.bin"))
    idx = HNSW.load(tmp_path / "h.bin", space="l2")
    assert len(idx) == 800 and idx.M == 8 and idx.dim == 8
    p.set_ef(40)
    np.testing.assert_array_equal(idx.search(ds.test, k=5, ef=40)[0], p.knn_query(ds.test, k=5)[0].astype(np.int64))
    idx.add(ds.train[800:])
    assert len(idx) == 1000 and idx.search(ds.train[900:901], k=1, ef=40)[0][0, 0] == 900


@pytest.mark.parametrize("kwargs, match", [
    ({"dim": 0}, "dim"), ({"space": "hamming"}, "space"), ({"M": 1}, "M"), ({"ef_construction": 0}, "ef_construction"),
    ({"backend": "cuda"}, "backend"), ({"max_elements": -1}, "max_elements")])
def test_constructor_validates(kwargs, match):
    args = {"dim": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        HNSW(**args)


def test_add_and_search_validate():
    idx = HNSW(4, M=4)
    with pytest.raises(ValueError, match="k: expected an index with at least k elements, got an empty index"):
        idx.search(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"X: expected shape \(n, 4\)"):
        idx.add(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="X: expected finite values"):
        idx.add(np.array([[0, 1, np.inf, 2]]))
    with pytest.raises(ValueError, match="X: expected finite values in float32"):  # finite in float64 only
        idx.add(np.array([[0, 1, 1e39, 2]]))
    with pytest.raises(ValueError, match="duplicate ids"):
        idx.add(np.zeros((2, 4)), ids=[1, 1])
    idx.add(np.eye(4), ids=[5, 6, 7, 8])
    with pytest.raises(ValueError, match="duplicate ids"):
        idx.add(np.ones((1, 4)), ids=[6])
    with pytest.raises(ValueError, match="k: .*larger than the index"):
        idx.search(np.zeros((1, 4)), k=5)
    with pytest.raises(ValueError, match=r"Q: expected shape \(nq, 4\)"):
        idx.search(np.zeros((1, 3)), k=2)


def test_simple_selection_keeps_the_closest_and_differs_from_the_heuristic():
    ds = data.load("random-xs-20")
    a, b = HNSW(20, M=8, ef_construction=60), HNSW(20, M=8, ef_construction=60, select="simple")
    a.add(ds.train[:3000])
    b.add(ds.train[:3000])
    ga, gb = a.graph(), b.graph()
    np.testing.assert_array_equal(ga.levels, gb.levels)
    assert not np.array_equal(ga.links0, gb.links0)
    # the heuristic trades near neighbours for diverse ones (Alg. 4): its links are longer on average
    X = ga.vectors.astype(np.float64)

    def mean_link(g):
        return np.mean([((X[g.links0[i, :g.count0[i]]] - X[i]) ** 2).sum(1).mean() for i in range(g.n)])
    assert mean_link(ga) > mean_link(gb)
    with pytest.raises(ValueError, match="select"):
        HNSW(4, select="greedy")


def test_recall_and_unreachable_metrics():
    from labkit.hnsw.metrics import recall_at_k, unreachable
    assert recall_at_k(np.array([[1, 2, 3], [4, -1, -1]]), np.array([[3, 2, 9], [4, 5, 6]])).tolist() == [2 / 3, 1 / 3]
    with pytest.raises(ValueError, match="shapes"):
        recall_at_k(np.zeros((2, 3)), np.zeros((2, 4)))
    layer = {"level": 0, "nodes": np.array([0, 1, 2, 3]), "indptr": np.array([0, 1, 2, 2, 3]),
             "indices": np.array([1, 0, 2])}  # 0 <-> 1, 3 -> 2, nothing reaches 2 or 3 from 0
    assert unreachable(layer, 0).tolist() == [2, 3]
    assert unreachable(layer, 3).tolist() == [0, 1]
    idx = HNSW(8, M=8, ef_construction=40)
    idx.add(data.gaussian(1000, 8, 1, seed=2).train)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order
    L0 = idx.layers()[0]
    A = csr_matrix((np.ones(len(L0["indices"])), L0["indices"], L0["indptr"]), shape=(1000, 1000))
    reach = breadth_first_order(A, idx.graph().enterpoint, directed=True, return_predecessors=False)
    assert sorted(unreachable(L0, idx.graph().enterpoint)) == sorted(set(range(1000)) - set(reach))


def test_a_fresh_process_loads_the_fast_build_from_numba_cache(monkeypatch):
    """kernels.insert_range is njit(cache=True) of the readable construction.insert_range: once
    compiled (here, in this process), a new process loads it from labkit/hnsw/__pycache__ (the JIT
    kernel, as where the ahead-of-time extension is not built: LABKIT_AOT=0; see test_hnsw_aot.py)."""
    import subprocess
    import sys

    from labkit.hnsw import aot
    monkeypatch.setenv("LABKIT_AOT", "0")
    monkeypatch.setattr(aot, "_KERNEL", [])
    HNSW(4).add(np.eye(4, dtype=np.float32))  # compiles and saves, or loads, the JIT kernel
    assert aot.insert_kernel()[1] == "jit"
    code = "import numpy as np; from labkit.hnsw import HNSW; HNSW(4).add(np.eye(4, dtype=np.float32))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "NUMBA_DEBUG_CACHE": "1", "LABKIT_AOT": "0"}).stdout
    assert "data loaded from" in out and "construction.insert_range" in out, out
    assert "data saved to" not in out, out
