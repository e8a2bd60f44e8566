"""Willshaw and dendritic-segment memories against dense oracles and the formulas."""

import numpy as np
import pytest

from labkit.sdr import SDR, SegmentMemory, WillshawMemory, random_patterns
from labkit.sdr import theory as th
from labkit.sdr.segment import measure, noise_sweep, noisy
from labkit.sdr.willshaw import recall_curve


def test_packed_matrix_equals_dense_outer_product_oracle():
    rng = np.random.default_rng(0)
    n, n_out = 61, 37
    mem = WillshawMemory(n, 5, n_out=n_out)
    dense = np.zeros((n, n_out), bool)
    for _ in range(30):
        x, y = SDR.random(n, 5, rng), SDR.random(n_out, 4, rng)
        mem.store(x, y)
        dense |= np.outer(x.dense, y.dense)
    assert np.array_equal(mem.synapses, dense)
    assert mem.nbytes == n * ((n_out + 7) // 8) and mem.n_stored == 30
    assert mem.fill_fraction() == dense.mean()
    cue = SDR.random(n, 5, rng)
    sums = cue.dense.astype(int) @ dense
    assert np.array_equal(mem.dendritic_sums(cue), sums)
    assert np.array_equal(mem.recall(cue).dense, sums >= 5)
    assert np.array_equal(mem.recall(cue, 3).dense, sums >= 3)
    top = mem.recall(cue, k=4)
    assert top.w == 4 and sums[top.active].min() >= np.sort(sums)[-4]


def test_willshaw_curve_n2048_w40():
    # the measured curve: ≈100% at 2000, ≈76% at 4000, ≈0% at 6000 (±5 points);
    # fill within 1% of p1 = 1 − (1 − w(w−1)/(n(n−1)))^M
    df = recall_curve(2048, 40, [2000, 4000, 6000], seed=0, max_checked=1000).set_index("M")
    assert df.exact_recall[2000] >= 0.95
    assert abs(df.exact_recall[4000] - 0.76) <= 0.05
    assert df.exact_recall[6000] <= 0.05
    assert (abs(df.fill / df.fill_theory - 1) < 0.01).all()
    big = df.false_units_theory > 0.01  # where false units are frequent enough to count
    assert (df.false_units[big] >= df.false_units_theory[big]).all()  # correlations only add false units


def test_hetero_fill_uses_the_w_squared_form():
    rng = np.random.default_rng(1)
    mem = WillshawMemory(512, 16)
    for _ in range(400):
        mem.store(SDR.random(512, 16, rng), SDR.random(512, 16, rng))
    assert mem.fill_fraction(off_diagonal=False) == pytest.approx(th.willshaw_fill(512, 16, 400, auto=False), rel=0.02)


def test_recall_steps_complete_a_partial_cue():
    rng = np.random.default_rng(2)
    pats = random_patterns(256, 12, 20, rng)
    mem = WillshawMemory(256, 12)
    mem.store_batch(pats)
    target = SDR(256, pats[3])
    partial = SDR(256, pats[3][:6])  # half the bits
    steps = mem.recall_steps(partial, steps=3)
    assert steps[0]["cue"] == partial and steps[0]["theta"] == 6
    assert steps[-1]["output"] == target
    assert np.array_equal(steps[0]["sums"], mem.dendritic_sums(partial))


def test_willshaw_bad_input():
    mem = WillshawMemory(64, 4)
    with pytest.raises(ValueError, match="cue: expected an SDR of n=64"):
        mem.store(SDR(65, [1]), SDR(64, [1]))
    with pytest.raises(ValueError, match="target: expected a binary"):
        mem.store(SDR(64, [1]), np.full(64, 2))
    with pytest.raises(ValueError, match="cue: expected an SDR or a \\(n=64,\\) binary array"):
        mem.recall(np.ones(10))
    with pytest.raises(ValueError, match="theta, k"):
        mem.recall(SDR(64, [1]), 1, k=2)
    with pytest.raises(ValueError, match="w:"):
        WillshawMemory(64, 65)
    with pytest.raises(ValueError, match="n_out"):
        WillshawMemory(64, 4, n_out=0)
    with pytest.raises(TypeError, match="^theta:"):
        mem.recall(SDR(64, [1]), "3")
    with pytest.raises(ValueError, match="^cues:"):
        mem.store_batch([[1, 2, 99]])
    assert mem.n_stored == 0  # nothing stored from a batch with a bad row
    assert WillshawMemory(64, 4).get_params() == {"n": 64, "w": 4, "n_out": 64}


def test_segment_rates_agree_with_formulas():
    # a small n so false positives are frequent enough to count at CI size
    n, w, s, theta = 256, 40, 20, 6
    rng = np.random.default_rng(3)
    pats = random_patterns(n, w, 40, rng)
    mem = SegmentMemory(n, w, s, theta, seed=4)
    mem.store_batch(pats)
    assert (mem.segment_sizes == s).all()
    r = measure(mem, pats, v=20, trials=5000, seed=5)
    fp = th.false_match_probability(n, w, s, theta)
    assert r["fp_segment_theory"] == pytest.approx(fp)
    assert abs(r["fp_segment"] - fp) < 4 * np.sqrt(fp * (1 - fp) / 5000)  # per-input sd bound (segments share inputs)
    assert abs(r["fp_any"] - r["fp_any_theory"]) < 4 * np.sqrt(r["fp_any_theory"] * (1 - r["fp_any_theory"]) / 5000)
    df = noise_sweep(2048, 40, 20, 10, [10, 20, 25], n_patterns=50, trials=4000, seed=6)
    for row in df.itertuples():
        sd = np.sqrt(row.fn_theory * (1 - row.fn_theory) / row.fn_trials)
        assert abs(row.fn - row.fn_theory) <= 4 * sd + 1e-12, row
    assert df.fn_theory.iloc[-1] > 0.5 > df.fn_theory.iloc[0]


def test_union_segments_trade_recognition_for_false_matches():
    n, w, s, theta = 1024, 30, 15, 8
    rng = np.random.default_rng(7)
    pats = random_patterns(n, w, 60, rng)
    one, mixed = SegmentMemory(n, w, s, theta, seed=1), SegmentMemory(n, w, s, theta, patterns_per_segment=6, seed=1)
    one.store_batch(pats)
    mixed.store_batch(pats)
    assert len(mixed.segment_sizes) == 10 and mixed.segment_sizes.max() <= 90
    assert all(mixed.recognize(SDR(n, p)) for p in pats)  # every stored pattern still recognised
    assert mixed.false_positive_theory()[0] > one.false_positive_theory()[0]


def test_noisy_keeps_w_and_overlap():
    rng = np.random.default_rng(8)
    pats = random_patterns(300, 25, 50, rng)
    out = noisy(pats, 300, 7, rng)
    for p, q in zip(pats, out, strict=True):
        assert len(set(q)) == 25 and len(set(p) & set(q)) == 18


def test_segment_bad_input():
    with pytest.raises(ValueError, match="s: expected s <= w=10 \\(a segment subsamples"):
        SegmentMemory(100, 10, 11, 3)
    with pytest.raises(ValueError, match="theta:"):
        SegmentMemory(100, 10, 5, 6)
    with pytest.raises(ValueError, match="patterns_per_segment"):
        SegmentMemory(100, 10, 5, 3, patterns_per_segment=0)
    mem = SegmentMemory(100, 10, 5, 3)
    with pytest.raises(ValueError, match="x: expected at least s=5 active bits.*got 2 active bits"):
        mem.store(SDR(100, [1, 2]))
    with pytest.raises(ValueError, match="x: expected a binary"):
        mem.recognize(np.arange(100))
    with pytest.raises(ValueError, match=r"^patterns\[1\]:"):
        mem.store_batch([SDR(100, range(10)), SDR(100, [1, 2])])
    assert mem.n_stored == 0
    with pytest.raises(ValueError, match="^v:"):
        noisy(np.zeros((2, 5), np.int64) + np.arange(5), 100, 6, 0)
