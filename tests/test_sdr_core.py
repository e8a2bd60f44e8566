"""SDR operations against dense numpy oracles, encoders' overlap laws, and input checking."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.sdr import SDR, CategoryEncoder, RandomProjectionEncoder, ScalarEncoder


@st.composite
def sdr_pairs(draw):
    n = draw(st.integers(1, 300))
    a = draw(st.sets(st.integers(0, n - 1), max_size=n))
    b = draw(st.sets(st.integers(0, n - 1), max_size=n))
    return SDR(n, sorted(a)), SDR(n, sorted(b))


@settings(max_examples=60, deadline=None)
@given(sdr_pairs())
def test_ops_match_dense_oracle(pair):
    a, b = pair
    assert a.overlap(b) == int(np.sum(a.dense & b.dense))
    assert np.array_equal((a | b).dense, a.dense | b.dense)
    assert np.array_equal((a & b).dense, a.dense & b.dense)
    assert SDR.from_dense(a.dense) == a and a.w == a.dense.sum()
    assert a.matches(b, a.overlap(b)) and not a.matches(b, a.overlap(b) + 1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 400), data=st.data())
def test_subsample_and_noise(n, data):
    w = data.draw(st.integers(1, n - 1))
    x = SDR.random(n, w, seed=data.draw(st.integers(0, 99)))
    s = data.draw(st.integers(1, w))
    sub = x.subsample(s, seed=1)
    assert sub.w == s and sub.overlap(x) == s
    v = data.draw(st.integers(0, min(w, n - w)))
    y = x.add_noise(v, seed=2)
    assert y.w == w and x.overlap(y) == w - v


def test_random_is_seeded_and_uniform():
    assert SDR.random(2048, 40, seed=5) == SDR.random(2048, 40, seed=5)
    hits = np.zeros(50)
    for i in range(4000):
        hits[SDR.random(50, 5, seed=i).active] += 1
    assert hits.min() > 300 and hits.max() < 500  # expectation 400 per bit


def test_views_are_read_only_and_repr():
    x = SDR(10, [3, 1])
    assert x.sparse.tolist() == [1, 3] and x.sparsity == 0.2
    with pytest.raises(ValueError):
        x.active[0] = 5
    assert repr(x) == "SDR(n=10, w=2, active=[1, 3])"
    assert len({x, SDR(10, [1, 3])}) == 1


@pytest.mark.parametrize("call, match", [
    (lambda: SDR(0, []), "n:"),
    (lambda: SDR(10, [10]), "active:"),
    (lambda: SDR(10, [-1]), "active:"),
    (lambda: SDR(10, [1, 1]), "active:"),
    (lambda: SDR(10, [0.5]), "active:"),
    (lambda: SDR(10, [[1]]), "active:"),
    (lambda: SDR.from_dense([0, 2, 1]), "bits:"),
    (lambda: SDR.from_dense([0.5, 1]), "bits:"),
    (lambda: SDR.random(10, 11), "w:"),
    (lambda: SDR(10, [1]).overlap(SDR(11, [1])), "other: .*sizes differ"),
    (lambda: SDR(10, [1]).matches(SDR(10, [1]), -1), "theta:"),
    (lambda: SDR.random(10, 3, seed=-1), "seed:"),
    (lambda: SDR(10, [1]).subsample(2), "s:"),
    (lambda: SDR(10, [1, 2]).add_noise(3), "v:"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    with pytest.raises(TypeError, match="other"):
        SDR(10, [1]).overlap(np.ones(10))
    with pytest.raises(TypeError, match="^n:"):
        SDR(10.0, [1])
    with pytest.raises(TypeError, match="^active:"):
        SDR(10, "1")


def test_sdr_is_a_frozen_value():
    import dataclasses
    import pickle
    x = SDR(10, [1, 3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.n = 11
    assert pickle.loads(pickle.dumps(x)) == x and SDR(10, []).w == 0


def test_scalar_encoder_overlap_is_w_minus_bucket_distance():
    enc = ScalarEncoder(200, 21, 0.0, 100.0)
    for x, y in [(0, 0), (10, 12), (50, 60), (0, 100), (33.3, 35)]:
        d = abs(enc.bucket(x) - enc.bucket(y))
        assert enc.encode(x).overlap(enc.encode(y)) == max(0, 21 - d)
    assert enc.encode(100).active[-1] == 199 and enc.encode(0).active[0] == 0
    assert enc.encode_batch([1, 2, 3]).shape == (3, 200)
    with pytest.raises(ValueError, match="x:"):
        enc.encode(101)
    with pytest.raises(ValueError, match="x:"):
        enc.encode(float("nan"))
    assert ScalarEncoder(200, 21, 0, 100, clip=True).encode(150) == enc.encode(100)
    with pytest.raises(ValueError, match="maxval: expected a number > minval"):
        ScalarEncoder(200, 21, 5, 5)
    with pytest.raises(TypeError, match="^minval:"):
        ScalarEncoder(200, 21, "0", 5)
    with pytest.raises(ValueError, match="^xs:"):
        enc.encode_batch([[1.0, 2.0]])
    assert enc.encode_batch([]).shape == (0, 200)
    assert enc.get_params() == {"n": 200, "w": 21, "minval": 0.0, "maxval": 100.0, "clip": False}


def test_category_encoder():
    enc = CategoryEncoder(["cat", "dog", "eel"], 7)
    assert enc.n == 21 and enc.encode("dog").overlap(enc.encode("dog")) == 7
    assert enc.encode("dog").overlap(enc.encode("eel")) == 0
    with pytest.raises(ValueError, match="x: expected a known category"):
        enc.encode("fox")
    with pytest.raises(ValueError, match="categories"):
        CategoryEncoder(["a", "a"], 3)
    with pytest.raises(TypeError, match="categories"):
        CategoryEncoder(3, 3)
    assert enc.encode_batch(["eel", "cat"]).sum(axis=1).tolist() == [7, 7]


def test_random_projection_overlap_tracks_angle():
    enc = RandomProjectionEncoder(32, 2048, 40, seed=0)
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal(32), rng.standard_normal(32)
    z -= z @ x / (x @ x) * x  # orthogonal to x
    overlaps = []
    for angle in np.linspace(0, np.pi / 2, 7):
        y = np.cos(angle) * x / np.linalg.norm(x) + np.sin(angle) * z / np.linalg.norm(z)
        overlaps.append(enc.encode(x).overlap(enc.encode(y)))
    assert overlaps[0] == 40 and overlaps[-1] < 10
    assert all(a >= b for a, b in zip(overlaps, overlaps[1:], strict=False)), overlaps
    assert enc.encode(x) == RandomProjectionEncoder(32, 2048, 40, seed=0).encode(x)
    assert np.array_equal(enc.encode_batch(np.stack([x, z]))[0], enc.encode(x).dense)
    with pytest.raises(ValueError, match=r"x: expected shape \(32,\)"):
        enc.encode(np.ones(31))
    with pytest.raises(ValueError, match="^X:"):
        enc.encode_batch(np.ones((1, 2, 32)))
    assert enc.get_params()["seed"] == 0
    with pytest.raises(ValueError, match="NaN"):
        enc.encode(np.full(32, np.nan))
