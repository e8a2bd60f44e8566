"""Monte Carlo of SDR overlaps against the exact formulas (the issue's acceptance numbers)."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from labkit.sdr import montecarlo as mc
from labkit.sdr import theory as th


def test_false_match_2e6_trials_within_10pct_or_3sigma():
    df = mc.false_match_mc(2048, 40, thetas=range(1, 7), trials=2_000_000, seed=1)
    assert list(df.theta) == [1, 2, 3, 4, 5, 6]
    for r in df.itertuples():
        assert r.formula == th.false_match_probability(2048, 40, 40, r.theta)
        assert abs(r.measured - r.formula) <= max(0.10 * r.formula, 3 * np.sqrt(r.formula * (1 - r.formula) / 2e6)), r


def test_subsampled_segment():
    df = mc.false_match_mc(2048, 40, s=20, thetas=[1, 2, 3], trials=500_000, seed=3)
    assert (df.z.abs() < 4).all(), df


def test_counts_are_a_distribution_over_possible_overlaps():
    n, w, s = 30, 12, 25
    counts = mc.overlap_counts(n, w, s, 100_000, seed=2)
    assert counts.shape == (s + 1,) and counts.sum() == 100_000
    lo = max(0, w + s - n)  # pigeonhole: at least w + s − n bits must coincide
    assert counts[:lo].sum() == 0 and counts[min(w, s) + 1:].sum() == 0
    expected = th.overlap_pmf(n, w, s) * 100_000
    keep = expected > 5
    chi2 = stats.chisquare(counts[keep], expected[keep] * counts[keep].sum() / expected[keep].sum())
    assert chi2.pvalue > 1e-4


def test_readable_and_fast_backends_give_the_same_counts():
    # the readable loops run in plain Python; kernels.py compiles the same functions
    for n, w, s in [(256, 20, 20), (30, 12, 25), (100, 7, 3)]:
        a = mc.overlap_counts(n, w, s, 1500, seed=4, backend="readable")
        np.testing.assert_array_equal(a, mc.overlap_counts(n, w, s, 1500, seed=4, backend="fast"))
    fast = mc.union_false_match_mc(200, 10, 5, [2, 4], n_unions=4, queries=30, seed=3, backend="fast")
    readable = mc.union_false_match_mc(200, 10, 5, [2, 4], n_unions=4, queries=30, seed=3, backend="readable")
    assert fast.equals(readable)


def test_deterministic_and_independent_of_thread_count():
    a = mc.overlap_counts(2048, 40, 40, 200_000, seed=7)
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        b = mc.overlap_counts(2048, 40, 40, 200_000, seed=7)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, mc.overlap_counts(2048, 40, 40, 200_000, seed=8))


def test_union_mc_within_3pct_of_size_averaged_formula():
    # cases with fp in [1e-2, 0.5]; 2000 unions so union-size noise stays < 1%
    for M, theta in [(50, 30), (100, 38)]:
        df = mc.union_false_match_mc(2048, 40, M, [theta], n_unions=2000, queries=1000, seed=M)
        r = df.iloc[0]
        assert 1e-2 <= r.formula <= 0.5
        assert abs(r.measured / r.formula - 1) < 0.03, df
        assert abs(r.z) < 4
        assert r.mean_union_size == pytest.approx(th.union_size_expected(2048, 40, M), rel=0.005)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 200), data=st.data())
def test_any_sizes(n, data):
    w, s = data.draw(st.integers(1, n)), data.draw(st.integers(1, n))
    counts = mc.overlap_counts(n, w, s, 500, seed=data.draw(st.integers(0, 2**31)))
    assert counts.sum() == 500 and counts[min(w, s) + 1:].sum() == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=100, w=5, s=5, trials=0), "trials:"),
    (dict(n=100, w=5, s=5, trials=10, seed=-1), "seed:"),
    (dict(n=100, w=500, s=5, trials=10), "w:"),
    (dict(n=100, w=5, s=5, trials=10, backend="cuda"), "backend:"),
    (dict(n=2**29, w=5, s=5, trials=10), "n:"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mc.overlap_counts(**kwargs)
    with pytest.raises(ValueError, match="queries:"):
        mc.union_false_match_mc(100, 5, 3, [2], queries=0)
    with pytest.raises(TypeError, match="thetas"):
        mc.false_match_mc(100, 5, thetas=3, trials=10)
    with pytest.raises(ValueError, match=r"thetas\[1\]"):
        mc.false_match_mc(100, 5, thetas=[1, 6], trials=10)
