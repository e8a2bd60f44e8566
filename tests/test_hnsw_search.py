"""HNSW search on hnswlib-built graphs: the same answers as hnswlib's knn_query, on both paths,
with deletion, filters, every space, instrumentation and bad input."""

from __future__ import annotations

import numpy as np
import pytest

hnswlib = pytest.importorskip("hnswlib")

from labkit import data  # noqa: E402
from labkit.hnsw import read_index  # noqa: E402
from labkit.hnsw.search import search_graph  # noqa: E402


@pytest.fixture(scope="module", params=["l2", "ip", "cosine"])
def built(request, tmp_path_factory):
    space = request.param
    ds = data.gaussian(3000, 24, 200, seed=4)
    p = hnswlib.Index(space=space, dim=24)
    p.init_index(max_elements=3000, M=12, ef_construction=80, random_seed=100)
    p.add_items(ds.train, np.arange(3000) + 1000, num_threads=1)
    path = tmp_path_factory.mktemp("h") / f"{space}.bin"
    p.save_index(str(path))
    return space, p, read_index(path), ds


@pytest.mark.parametrize("ef", [10, 50, 120])
def test_same_labels_as_hnswlib(built, ef):
    space, p, g, ds = built
    p.set_ef(ef)
    p.set_num_threads(1)
    expected, exp_d = p.knn_query(ds.test, k=10)
    labels, dist = search_graph(g, ds.test, k=10, ef=ef, space=space)
    assert labels.dtype == np.int64 and dist.dtype == np.float32 and labels.shape == (200, 10)
    assert (labels == expected.astype(np.int64)).mean() >= 0.999
    np.testing.assert_allclose(dist, exp_d, rtol=1e-4, atol=1e-5)


def test_readable_and_fast_paths_agree(built):
    space, _, g, ds = built
    a = search_graph(g, ds.test[:40], k=7, ef=30, space=space, backend="readable", return_stats=True)
    b = search_graph(g, ds.test[:40], k=7, ef=30, space=space, backend="fast", return_stats=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2].distance_computations, b[2].distance_computations)
    np.testing.assert_array_equal(a[2].hops, b[2].hops)


def test_stats_and_trace_are_consistent(built):
    space, _, g, ds = built
    labels, _, stats = search_graph(g, ds.test[:5], k=10, ef=40, space=space, return_stats=True)
    assert stats.hops.shape == (5, g.maxlevel + 1) and (stats.hops[:, 0] > 0).all()
    for i in range(5):
        t = stats.trace(i)
        expand = t[t.event == "expand"]
        assert len(expand) == stats.hops[i].sum()
        assert [int((expand.layer == lvl).sum()) for lvl in range(g.maxlevel + 1)] == list(stats.hops[i])
        assert t.iloc[0].node == g.enterpoint
        # every returned label was pushed on layer 0 (or is where the descent ended)
        pushed = set(t[(t.layer == 0) | (t.event == "push")].label)
        assert set(labels[i]) <= pushed
    # fewer distance computations than brute force, more than k
    assert (stats.distance_computations < g.n).all() and (stats.distance_computations > 10).all()


def test_ef_below_k_is_raised_to_k(built):
    space, _, g, ds = built
    a = search_graph(g, ds.test[:20], k=15, ef=3, space=space)
    b = search_graph(g, ds.test[:20], k=15, ef=15, space=space)
    np.testing.assert_array_equal(a[0], b[0])


def test_deleted_nodes_are_traversed_not_returned(tmp_path):
    ds = data.gaussian(2000, 16, 100, seed=2)
    p = hnswlib.Index(space="l2", dim=16)
    p.init_index(max_elements=2000, M=8, ef_construction=60, random_seed=100)
    p.add_items(ds.train, num_threads=1)
    gone = list(range(0, 2000, 3))
    for label in gone:
        p.mark_deleted(label)
    p.save_index(str(tmp_path / "d.bin"))
    g = read_index(tmp_path / "d.bin")
    p.set_ef(60)
    p.set_num_threads(1)
    expected, _ = p.knn_query(ds.test, k=5)
    labels, _ = search_graph(g, ds.test, k=5, ef=60)
    assert not np.isin(labels, gone).any()
    assert (labels == expected.astype(np.int64)).mean() >= 0.999


def test_filter_matches_hnswlib_filter(built):
    space, p, g, ds = built
    keep = lambda label: label % 4 == 0  # noqa: E731
    p.set_ef(60)
    p.set_num_threads(1)
    expected, _ = p.knn_query(ds.test[:50], k=5, filter=keep, num_threads=1)
    labels, _ = search_graph(g, ds.test[:50], k=5, ef=60, space=space, filter=keep)
    assert (labels % 4 == 0).all()
    assert (labels == expected.astype(np.int64)).mean() >= 0.999
    mask = (g.labels % 4 == 0)
    np.testing.assert_array_equal(search_graph(g, ds.test[:50], k=5, ef=60, space=space, filter=mask)[0], labels)


def test_too_selective_filter_pads_with_minus_one(built):
    space, _, g, ds = built
    only = int(g.labels[0])
    labels, dist = search_graph(g, ds.test[:3], k=4, ef=3000, space=space, filter=lambda lab: lab == only)
    assert (labels[:, 0] == only).all() and (labels[:, 1:] == -1).all() and np.isinf(dist[:, 1:]).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k: expected an integer >= 1"), ({"k": 10**6}, "k: .*larger than the index"),
    ({"ef": 0}, "ef: expected an integer >= 1"),
    ({"space": "l1"}, "space"), ({"backend": "gpu"}, "backend"),
    ({"Q": np.zeros((2, 5), np.float32)}, r"Q: expected shape \(nq, 24\)"),
    ({"Q": np.full((1, 24), np.nan, np.float32)}, "NaN"),
    ({"filter": np.ones(3, bool)}, "filter"),
])
def test_bad_input(built, kwargs, match):
    space, _, g, ds = built
    args = {"Q": ds.test[:2], "k": 5, "space": space, **kwargs}
    with pytest.raises(ValueError, match=match):
        search_graph(g, **args)


def test_trace_counts_every_distance_computation(built):
    space, _, g, ds = built
    _, _, stats = search_graph(g, ds.test[:8], k=10, ef=60, space=space, return_stats=True)
    for i in range(8):
        t = stats.trace(i)
        assert t["computed"].sum() == stats.distance_computations[i]
        assert (t.loc[t.event == "push", "computed"].iloc[1:] == 0).all() and t["computed"].iloc[0] == 1
