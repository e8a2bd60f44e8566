"""labkit.data: exact ground truth against brute-force oracles, dataset recipes, bad input, files."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import data
from labkit.exact_knn import _ground_truth_block_readable, _select_smallest, ground_truth


def _oracle_distances(train, test, metric):
    X, Q = train.astype(np.float64), test.astype(np.float64)
    if metric == "euclidean":
        return ((Q[:, None, :] - X[None]) ** 2).sum(-1)
    if metric == "ip":
        return 1 - Q @ X.T
    return 1 - (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (X / np.linalg.norm(X, axis=1, keepdims=True)).T


def _oracle(train, test, k, metric):
    """Per query, every distance in float64 with a Python sort on (distance, id)."""
    D = _oracle_distances(train, test, metric)
    return np.array([sorted(range(len(train)), key=lambda i: (d[i], i))[:k] for d in D])


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 120), dim=st.integers(1, 12), nq=st.integers(1, 12), k=st.integers(1, 50),
       metric=st.sampled_from(data.METRICS), ints=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_ground_truth_fast_path_is_exact(n, dim, nq, k, metric, ints, seed):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    # small integers give many exact ties: the tie-break by id must hold on both paths
    make = (lambda s: rng.integers(-3, 4, s)) if ints else (lambda s: rng.standard_normal(s))
    train = make((n, dim)).astype(np.float32)
    test = make((nq, dim)).astype(np.float32)
    if metric == "angular":
        train[np.linalg.norm(train, axis=1) == 0] = 1
        test[np.linalg.norm(test, axis=1) == 0] = 1
    ids, dist = ground_truth(train, test, k, metric=metric)
    assert ids.shape == (nq, k) and ids.dtype == np.int64 and dist.dtype == np.float64
    expected = _oracle(train, test, k, metric)
    if metric == "angular" and ints:
        # equal cosines of parallel integer vectors differ by rounding only: any tie order is exact
        D = _oracle_distances(train, test, metric)
        np.testing.assert_allclose(np.take_along_axis(D, ids, 1), np.take_along_axis(D, expected, 1), atol=1e-12)
    else:
        np.testing.assert_array_equal(ids, expected)
    r_ids, r_dist = _ground_truth_block_readable(train, test, k, metric)
    np.testing.assert_array_equal(ids, r_ids)
    np.testing.assert_allclose(dist, r_dist, rtol=0, atol=0)
    assert np.all(np.diff(dist, axis=1) >= 0)


@settings(max_examples=50, deadline=None)
@given(nq=st.integers(1, 6), n=st.integers(1, 300), m=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       ints=st.booleans())
def test_select_smallest_matches_argpartition(nq, n, m, seed, ints):
    rng = np.random.default_rng(seed)
    m = min(m, n)
    d = (rng.integers(0, 5, (nq, n)) if ints else rng.standard_normal((nq, n))).astype(np.float32)
    got = _select_smallest(d, m)
    ref = np.argpartition(d, m - 1, axis=1)[:, :m]
    # the same multiset of values (ids may differ among equal values at the boundary)
    np.testing.assert_array_equal(np.sort(np.take_along_axis(d, got, 1)), np.sort(np.take_along_axis(d, ref, 1)))
    assert all(len(set(r)) == m for r in got)


def test_ground_truth_float64_input_uses_exact_path():
    rng = np.random.default_rng(1)
    train, test = rng.standard_normal((300, 8)), rng.standard_normal((20, 8))
    ids, _ = ground_truth(train, test, 7)
    np.testing.assert_array_equal(ids, _oracle(train, test, 7, "euclidean"))


def test_ground_truth_many_queries_across_blocks():
    ds = data.gaussian(3000, 16, 1100, seed=3)
    ids, dist = ground_truth(ds.train, ds.test, 5)
    sample = np.arange(0, 1100, 97)
    np.testing.assert_array_equal(ids[sample], _oracle(ds.train, ds.test[sample], 5, "euclidean"))


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k"), ({"k": 101}, "k"), ({"metric": "l1"}, "metric"),
    ({"test": np.zeros((2, 3), np.float32)}, "dim"), ({"train": np.zeros(5, np.float32)}, "2-d"),
    ({"test": np.full((2, 4), np.nan, np.float32)}, "test: expected finite"),
    ({"train": np.zeros((0, 4), np.float32)}, "train: expected at least 1"), ({"block": 0}, "block"),
    ({"backend": "gpu"}, "backend")])
def test_ground_truth_bad_input(kwargs, match):
    args = {"train": np.zeros((100, 4), np.float32), "test": np.zeros((2, 4), np.float32), "k": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        ground_truth(**args)
    train, test = np.zeros((100, 4), np.float32), np.zeros((2, 4), np.float32)
    with pytest.raises(TypeError, match="^k:"):
        ground_truth(train, test, k=2.0)
    with pytest.raises(TypeError, match="^metric:"):
        ground_truth(train, test, metric=None)


def test_ground_truth_backends_agree_and_no_queries_is_empty():
    ds = data.gaussian(500, 8, 30, seed=2, metric="angular")
    fast, readable = ground_truth(ds.train, ds.test, 4, "angular"), ground_truth(ds.train, ds.test, 4, "angular",
                                                                                 backend="readable")
    np.testing.assert_array_equal(fast[0], readable[0])
    np.testing.assert_array_equal(fast[1], readable[1])
    ids, dist = ground_truth(ds.train, ds.test[:0], 4)
    assert ids.shape == dist.shape == (0, 4)


def test_digits():
    ds = data.digits()
    assert ds.train.shape == (1597, 64) and ds.test.shape == (200, 64)
    assert ds.train.dtype == np.float32 and set(np.unique(ds.labels)) == set(range(10))
    assert ds.train.min() == 0 and ds.train.max() == 16
    assert np.array_equal(data.digits().train, ds.train)        # deterministic
    assert not np.array_equal(data.digits(seed=1).train, ds.train)


def test_random_xs_20_is_the_ann_benchmarks_recipe():
    from sklearn.datasets import make_blobs
    from sklearn.model_selection import train_test_split
    ds = data.load("random-xs-20")
    X, _ = make_blobs(n_samples=10000, n_features=20, centers=100, random_state=1)
    Xtr, Xte = train_test_split(X, test_size=0.1, random_state=1)
    assert ds.train.shape == (9000, 20) and ds.test.shape == (1000, 20)
    np.testing.assert_array_equal(ds.train, Xtr.astype(np.float32))
    np.testing.assert_array_equal(ds.test, Xte.astype(np.float32))


def test_ann_blobs_small_and_random_s_100():
    ds = data.ann_blobs(1000, 5, 10)
    assert ds.train.shape == (900, 5) and ds.test.shape == (100, 5) and len(np.unique(ds.labels)) == 10
    big = data.load("random-s-100")
    assert big.train.shape == (90_000, 100) and big.test.shape == (10_000, 100)
    assert len(np.unique(np.concatenate([big.labels, big.test_labels]))) == 1000


def test_gaussian_seeded():
    a, b, c = data.gaussian(100, 8, 10, seed=5), data.gaussian(100, 8, 10, seed=5), data.gaussian(100, 8, 10, seed=6)
    assert np.array_equal(a.train, b.train) and not np.array_equal(a.train, c.train)
    assert abs(data.gaussian(20000, 4, 1).train.std() - 1) < 0.02


def test_load_and_available():
    assert {"digits", "random-xs-20", "random-s-100", "gaussian"} <= set(data.available())
    with pytest.raises(ValueError, match="^name: expected one of the datasets .*digits.*got 'nope'"):
        data.load("nope")
    with pytest.raises(TypeError, match="^name:"):
        data.load(3)
    with pytest.raises(ValueError, match="^n, n_queries, dim:"):
        data.gaussian(10**9, 64, 1)
    with pytest.raises(TypeError, match="^test_size:"):
        data.digits(test_size=0.2)


@pytest.mark.parametrize("train, match", [
    (np.zeros((3, 2)), "float32"), (np.array([[np.nan, 0]], np.float32), "NaN"), (np.zeros(3, np.float32), "2-d"),
    (np.zeros((0, 2), np.float32), "non-empty")])
def test_dataset_validates(train, match):
    with pytest.raises(ValueError, match=match):
        data.Dataset("x", train, np.zeros((1, 2), np.float32))


def test_dataset_neighbors_and_summary():
    ds = data.digits()
    nn = ds.neighbors(3)
    assert nn.shape == (200, 3)
    s = ds.summary()
    assert s["n_train"] == 1597 and s["dim"] == 64 and s["n_classes"] == 10


def test_npz_round_trip_and_corrupt_files(tmp_path):
    ds = data.ann_blobs(200, 3, 4)
    path = tmp_path / "blobs.npz"
    data.save_npz(ds, path)
    back = data.load_npz(path)
    assert np.array_equal(back.train, ds.train) and np.array_equal(back.test_labels, ds.test_labels)
    assert back.metric == "euclidean" and not list(tmp_path.glob(".*tmp"))
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a valid dataset file"):
        data.load_npz(truncated)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, train=np.array([object()], dtype=object), test=np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="not a valid dataset file"):
        data.load_npz(pickled)
    with pytest.raises(FileNotFoundError):
        data.load_npz(tmp_path / "none.npz")
    np.savez(tmp_path / "partial.npz", train=ds.train)
    with pytest.raises(ValueError, match="lacks"):
        data.load_npz(tmp_path / "partial.npz")
    np.savez(tmp_path / "ints.npz", train=np.zeros((2, 2), np.int64), test=np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="^path: .*train is a non-empty 2-d float32"):
        data.load_npz(tmp_path / "ints.npz")
    with pytest.raises(TypeError, match="^ds:"):
        data.save_npz("not a dataset", path)
    with pytest.raises(TypeError, match="^path:"):
        data.load_npz(3)


def test_ground_truth_all_ties_take_the_fallback_and_break_ties_by_id():
    """Every vector equally far: no float32 candidate set can be proven complete, so every
    query takes the float64 path; the answer is the k smallest ids."""
    train = np.ones((500, 4), np.float32)
    ids, dist = ground_truth(train, np.zeros((3, 4), np.float32), 5)
    np.testing.assert_array_equal(ids, np.tile(np.arange(5), (3, 1)))
    np.testing.assert_array_equal(dist, np.full((3, 5), 4.0))
