"""labkit.sdr.theory against Numenta's published values, brute-force enumeration and invariants."""

from fractions import Fraction
from itertools import combinations, product
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.sdr import theory as th

# Values computed by Numenta's htmresearch (projects/sdr_paper/sdr_math_neuron_paper.ipynb and
# sdr_paper_unions.py at commit cdda48e, plotFalseMatchvsM) — what the 2016 paper plots.
NUMENTA_FP = [
    ((100_000, 2000, 8, 8), 2.52507239284961e-14),  # Table 1B
    ((10_000, 300, 24, 12), 8.37584522709849e-13),
    ((1100, 64, 64, 12), 1.61866998734267e-4),
]
# sdr_paper_unions.py: n, a=200 active query bits, theta=15, unions of M patterns of s=25 bits
NUMENTA_UNION = {
    1000: [1.00140315240769e-5, 0.0473894530292855, 0.501650232353378, 0.899154755459308, 0.991079536716752],
    10000: [5.30352419025194e-20, 2.35602184920806e-14, 1.53934243906984e-11, 1.10302867119927e-9,
            2.27921915526762e-8, 2.69253218125502e-7, 1.98072351729197e-6, 9.75307801058064e-6],
    20000: [1.75826328738259e-24, 9.73603540551588e-19, 7.92130752699486e-16, 7.08428692442973e-14],
}


@pytest.mark.parametrize("args, expected", NUMENTA_FP)
def test_false_match_reproduces_numenta(args, expected):
    assert th.false_match_probability(*args) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n", sorted(NUMENTA_UNION))
def test_union_plugin_reproduces_numenta(n):
    got = [th.union_false_match_probability(n, 25, M, 15, a=200) for M in range(1, len(NUMENTA_UNION[n]) + 1)]
    # Numenta evaluates M <= 2 as one exact ratio: those agree to 1e-12. For M >= 3 their script
    # switches to sympy's Sum(...).evalf(), which drops digits at large n (4e-8 relative at n=1e4,
    # 1e-3 at n=2e4); labkit's exact integers agree with a 50-digit mpmath sum instead (below).
    np.testing.assert_allclose(got[:2], NUMENTA_UNION[n][:2], rtol=1e-12)
    np.testing.assert_allclose(got, NUMENTA_UNION[n], rtol=2e-3)
    if n == 1000:
        np.testing.assert_allclose(got, NUMENTA_UNION[n], rtol=1e-12)


def test_union_plugin_equals_high_precision_sum():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    for n in sorted(NUMENTA_UNION):
        for M in range(1, 6):
            s = round(th.union_size_expected(n, 25, M))
            terms = (mp.binomial(s, b) * mp.binomial(n - s, 200 - b) for b in range(15, s + 1))
            ref = mp.fsum(terms) / mp.binomial(n, 200)
            assert th.union_false_match_probability(n, 25, M, 15, a=200) == pytest.approx(float(ref), rel=1e-13)


def test_noise_false_negative_reproduces_numenta():
    assert th.false_negative_probability(128, 30, 12, 64) == pytest.approx(0.0716985160403564, rel=1e-12)


def test_reference_table_n2048_w40():
    # fp for n=2048, w=40, full (s=40) and subsampled (s=20) (Ahmad & Hawkins 2016, eq. 1)
    for theta, full, sub in [(4, 6.9e-3, 4.8e-4), (6, 8.9e-5, 1.2e-6), (8, 5.0e-7, 1.1e-9), (20, 2.5e-26, 2.2e-37)]:
        assert th.false_match_probability(2048, 40, 40, theta) == pytest.approx(full, rel=0.01)
        assert th.false_match_probability(2048, 40, 20, theta) == pytest.approx(sub, rel=0.05)
    assert th.capacity(2048, 40) == comb(2048, 40)
    assert f"{float(th.capacity(2048, 40)):.2e}" == "2.37e+84"


def brute_force_fp(n, w, s, theta):
    segment = set(range(s))  # by symmetry any fixed s-set will do
    hits = sum(len(segment.intersection(x)) >= theta for x in combinations(range(n), w))
    return Fraction(hits, comb(n, w))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_false_match_equals_enumeration(data):
    n = data.draw(st.integers(1, 11))
    w = data.draw(st.integers(1, n))
    s = data.draw(st.integers(1, n))
    theta = data.draw(st.integers(0, s))
    assert th.false_match_probability(n, w, s, theta) == float(brute_force_fp(n, w, s, theta))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_false_negative_equals_enumeration(data):
    w = data.draw(st.integers(1, 10))
    s = data.draw(st.integers(1, w))
    theta = data.draw(st.integers(0, s))
    v = data.draw(st.integers(0, w))
    segment = set(range(s))  # synapses on the first s of the w active bits
    lost = [set(c) for c in combinations(range(w), v)]  # which active bits the noise replaced
    misses = sum(s - len(segment & c) < theta for c in lost)
    assert th.false_negative_probability(w, s, theta, v) == float(Fraction(misses, len(lost)))
    pmf = th.noisy_overlap_pmf(w, s, v)
    assert pmf.sum() == pytest.approx(1.0) and pmf[:theta].sum() == pytest.approx(float(Fraction(misses, len(lost))))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 300), data=st.data())
def test_pmf_sums_to_one_and_tail_is_fp(n, data):
    w = data.draw(st.integers(1, n))
    s = data.draw(st.integers(1, n))
    pmf = th.overlap_pmf(n, w, s)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (pmf >= 0).all()
    for theta in {0, s // 2, s}:
        assert th.false_match_probability(n, w, s, theta) == pytest.approx(pmf[theta:].sum(), abs=1e-12)
    fps = [th.false_match_probability(n, w, s, t) for t in range(s + 1)]
    assert fps[0] == 1.0 and all(a >= b for a, b in zip(fps, fps[1:], strict=False))  # monotone in theta


def test_union_size_pmf_equals_enumeration():
    n, w, M = 6, 2, 3
    counts = np.zeros(n + 1)
    for xs in product(combinations(range(n), w), repeat=M):
        counts[len(set().union(*xs))] += 1
    np.testing.assert_allclose(th.union_size_pmf(n, w, M), counts / counts.sum(), atol=1e-14)
    pmf = th.union_size_pmf(2048, 40, 50)
    assert (pmf * np.arange(2049)).sum() == pytest.approx(th.union_size_expected(2048, 40, 50), rel=1e-9)


def test_union_average_is_the_size_weighted_formula():
    n, w, M, theta = 60, 5, 4, 3
    pmf = th.union_size_pmf(n, w, M)
    direct = sum(pmf[u] * th.false_match_probability(n, w, u, theta) for u in range(theta, n + 1))
    assert th.union_false_match_probability(n, w, M, theta, method="average") == pytest.approx(direct, rel=1e-12)
    # size-averaged 0.0704 and 0.0690 for (M, theta) = (50, 30), (100, 38)
    assert th.union_false_match_probability(2048, 40, 50, 30, method="average") == pytest.approx(0.0704, abs=5e-4)
    assert th.union_false_match_probability(2048, 40, 100, 38, method="average") == pytest.approx(0.0690, abs=5e-4)
    assert th.union_false_match_probability(2048, 40, 50, 30) == pytest.approx(0.0694, abs=5e-4)


def test_willshaw_fill():
    assert th.willshaw_fill(2048, 40, 2000) == pytest.approx(0.525, abs=5e-4)
    assert th.willshaw_fill(2048, 40, 2000, auto=False) == pytest.approx(0.534, abs=5e-4)
    assert th.willshaw_fill(2048, 40, 0) == 0.0
    assert th.willshaw_false_units(2048, 40, 6000) == pytest.approx(2008 * th.willshaw_fill(2048, 40, 6000) ** 40)


@pytest.mark.parametrize("call, match", [
    (lambda: th.false_match_probability(0, 1, 1, 0), "n:"),
    (lambda: th.false_match_probability(10, 11, 1, 0), "w:"),
    (lambda: th.false_match_probability(10, 0, 1, 0), "w:"),
    (lambda: th.false_match_probability(10, 3, 11, 0), "s:"),
    (lambda: th.false_match_probability(10, 3, 4, 5), "theta:"),
    (lambda: th.false_match_probability(10, 3, 4, -1), "theta:"),
    (lambda: th.false_match_probability(10.0, 3, 4, 1), "n:"),
    (lambda: th.false_match_probability(10, True, 4, 1), "w:"),
    (lambda: th.false_negative_probability(10, 11, 1, 0), "s:"),
    (lambda: th.false_negative_probability(10, 5, 1, 11), "v:"),
    (lambda: th.union_false_match_probability(100, 5, 0, 1), "M:"),
    (lambda: th.union_false_match_probability(100, 5, 2, 1, a=101), "a:"),
    (lambda: th.union_false_match_probability(100, 5, 2, 1, method="exact"), "method:"),
    (lambda: th.union_size_pmf(100, 5, -1), "M:"),
    (lambda: th.union_size_expected(100, 5, -1), "M:"),
    (lambda: th.union_size_expected(100, -5, 1), "w:"),
    (lambda: th.union_size_expected(float("nan"), 5, 1), "n:"),
    (lambda: th.willshaw_fill(100, 5, -3), "M:"),
    (lambda: th.willshaw_fill(100, 5, 3, auto="yes"), "auto:"),
    (lambda: th.capacity(-1, 5), "n:"),
    (lambda: th.noisy_overlap_pmf(10, 5, 11), "v:"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: th.capacity(10**12, 10**9), "n, w:"),
    (lambda: th.false_match_probability(10**9, 10**6, 10**6, 0), "n, w, s:"),
    (lambda: th.overlap_pmf(10**7, 5000, 5000), "n, w, s:"),
    (lambda: th.union_size_pmf(10**7, 100, 1), "n, w:"),
    (lambda: th.union_size_pmf(2048, 40, 10**9), "M:"),
    (lambda: th.union_size_expected(100, 5, 10**400), "M:"),
    (lambda: th.willshaw_fill(10**400, 5, 1), "n:"),
    (lambda: th.false_negative_probability(10**8, 10**6, 10, 5 * 10**7), "w, s, v:"),
])
def test_absurd_sizes_are_refused_before_computing(call, match):
    import time
    t = time.thread_time()  # CPU time of this thread: the work done, not the machine's load
    with pytest.raises(ValueError, match=match):
        call()
    assert time.thread_time() - t < 1.0


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="^n:"):
        th.false_match_probability(10.0, 3, 4, 1)
    with pytest.raises(TypeError, match="^method:"):
        th.union_false_match_probability(100, 5, 2, 1, method=3)
    assert th.willshaw_fill(1, 1, 5) == 0.0  # one neuron: no off-diagonal synapse to fill
