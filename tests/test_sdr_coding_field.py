"""CodingField (Sparsey coding field, Rinkus CSA): one-shot storage, best-match retrieval,
similarity preservation, capacity, and errors that name the argument."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from labkit.sdr.coding_field import CodingField, capacity_curve, similarity_curve
from labkit.sdr.sdr import SDR


def random_inputs(m, n, w, seed=0):
    """(m, n) uint8, w active bits per row."""
    rng = np.random.default_rng(seed)
    X = np.zeros((m, n), np.uint8)
    for row in X:
        row[rng.choice(n, w, replace=False)] = 1
    return X


def noisy(x, v, seed):
    """x with v of its active bits moved to inactive positions."""
    rng = np.random.default_rng(seed)
    on, off = np.flatnonzero(x), np.flatnonzero(x == 0)
    y = x.copy()
    y[rng.choice(on, v, replace=False)] = 0
    y[rng.choice(off, v, replace=False)] = 1
    return y


# codes and learning ---------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(Q=st.integers(1, 12), K=st.integers(2, 12), n=st.integers(8, 200), data=st.data())
def test_a_code_is_one_winner_per_module_and_learning_sets_exactly_those_weights(Q, K, n, data):
    w = data.draw(st.integers(1, n))
    seed = data.draw(st.integers(0, 2**32 - 1))
    field = CodingField(Q, K, n, seed=seed)
    x = SDR.random(n, w, seed=seed)
    code = field.store(x)
    assert code.shape == (Q,) and code.dtype == np.int64
    assert ((0 <= code) & (code < K)).all()
    W = field.weights
    # exactly the w * Q weights active input -> winner, nothing else
    expected = np.zeros((n, Q * K), bool)
    expected[np.ix_(x.active, np.arange(Q) * K + code)] = True
    assert np.array_equal(W, expected)
    assert field.fill_fraction == np.count_nonzero(W) / W.size == w * Q / (n * Q * K)


def test_same_seed_same_codes_other_seed_other_codes():
    X = random_inputs(30, 256, 12)
    a = CodingField(10, 8, 256, seed=7).store_batch(X)
    b = CodingField(10, 8, 256, seed=7).store_batch(X)
    c = CodingField(10, 8, 256, seed=8).store_batch(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (30, 10)


def test_sdr_and_dense_inputs_are_the_same_input():
    X = random_inputs(5, 128, 10)
    f1, f2 = CodingField(6, 6, 128, seed=3), CodingField(6, 6, 128, seed=3)
    c1 = f1.store_batch(X)
    c2 = f2.store_batch([SDR.from_dense(x) for x in X])
    assert np.array_equal(c1, c2)
    assert np.array_equal(f1.retrieve(X[2].astype(bool)), f2.retrieve(SDR.from_dense(X[2])))


def test_one_shot_storage_then_exact_retrieval():
    X = random_inputs(8, 512, 20, seed=1)
    field = CodingField(16, 16, 512, seed=0)
    codes = field.store_batch(X)
    assert field.n_stored == 8 and np.array_equal(field.codes_, codes)
    for x, code in zip(X, codes, strict=True):
        assert np.array_equal(field.retrieve(x), code)
    assert np.array_equal(field.retrieve_batch(X), codes)


def test_retrieval_from_a_noisy_cue_recovers_most_modules():
    X = random_inputs(50, 1024, 40, seed=2)
    field = CodingField(16, 16, 1024, seed=0)
    codes = field.store_batch(X)
    hits = [np.mean(field.retrieve(noisy(x, 8, seed=i)) == c) for i, (x, c) in enumerate(zip(X, codes, strict=True))]
    assert np.mean(hits) > 0.95


def test_encode_without_learning_leaves_the_field_unchanged():
    X = random_inputs(10, 256, 12)
    field = CodingField(8, 8, 256, seed=0)
    field.store_batch(X[:5])
    before = field.weights.copy()
    field.encode(X[7])
    assert np.array_equal(field.weights, before) and field.n_stored == 5


# the CSA ------------------------------------------------------------------------------------
def test_familiarity_is_one_for_a_stored_item_and_low_for_a_novel_one():
    X = random_inputs(41, 1024, 40, seed=4)
    field = CodingField(16, 16, 1024, seed=0)
    assert field.familiarity(X[0]) == 0.0  # nothing stored yet
    field.store_batch(X[:40])
    assert field.familiarity(X[3]) == 1.0
    assert field.familiarity(X[40]) < 0.5


def test_a_stored_item_reinstates_its_code_and_a_novel_one_gets_a_random_code():
    X = random_inputs(60, 1024, 40, seed=5)
    field = CodingField(16, 16, 1024, seed=0)
    codes = field.store_batch(X[:50])
    for x, code in zip(X[:10], codes[:10], strict=True):
        assert np.array_equal(field.encode(x), code)  # G = 1: near-deterministic
    empty = CodingField(16, 16, 1024, seed=0)
    empty.encode(X[0])
    assert np.allclose(empty.snapshot()["rho"], 1 / 16)  # G = 0: uniform over each module


def test_rho_follows_the_written_out_csa_steps():
    n, w = 200, 20
    field = CodingField(4, 5, n, seed=0)
    base = SDR.random(n, w, seed=1)
    code = field.store(base)
    x = SDR(n, np.concatenate([base.active[:12], np.setdiff1d(np.arange(n), base.active)[:8]]))
    field.encode(x)
    snap = field.snapshot()
    V = np.zeros((4, 5))
    V[np.arange(4), code] = 12 / w                                  # steps 1-2
    G = V.max(axis=1).mean()                                        # steps 3-4
    log_eta = 15.0 * G**4                                           # step 5 (defaults)
    s = (expit((V - 0.5) / 0.3) - expit(-0.5 / 0.3)) / (expit(0.5 / 0.3) - expit(-0.5 / 0.3))
    mu = np.exp(log_eta * s)                                        # step 6, geometric
    assert snap["G"] == pytest.approx(G) and np.allclose(snap["V"], V)
    assert np.allclose(snap["rho"], mu / mu.sum(axis=1, keepdims=True))   # step 7
    assert np.allclose(snap["rho"].sum(axis=1), 1.0)


def test_linear_v_to_mu_is_the_papers_form():
    field = CodingField(3, 4, 50, seed=0, v_to_mu="linear", sigmoid_height=6.0, familiarity_floor=0.25)
    x = SDR.random(50, 10, seed=2)
    code = field.store(x)
    field.encode(SDR(50, x.active[:5].tolist() + [a for a in range(50) if a not in x.active][:5]))
    V = np.zeros((3, 4))
    V[np.arange(3), code] = 0.5
    log_eta = 6.0 * ((0.5 - 0.25) / 0.75) ** 4
    s = (expit((V - 0.5) / 0.3) - expit(-0.5 / 0.3)) / (expit(0.5 / 0.3) - expit(-0.5 / 0.3))
    mu = 1 + (np.exp(log_eta) - 1) * s
    assert np.allclose(field.snapshot()["rho"], mu / mu.sum(axis=1, keepdims=True))


def test_geometric_v_to_mu_keeps_codes_where_the_linear_form_ties():
    X = random_inputs(50, 1024, 40, seed=6)
    kept = {}
    for mode in ("geometric", "linear"):
        field = CodingField(16, 16, 1024, seed=0, v_to_mu=mode)
        codes = field.store_batch(X)
        kept[mode] = np.mean([np.array_equal(field.encode(x), c) for x, c in zip(X[:20], codes[:20], strict=True)])
    assert kept["geometric"] == 1.0 and kept["linear"] < 0.5


def test_snapshot_is_plain_data():
    field = CodingField(5, 4, 64, seed=0)
    assert field.snapshot()["G"] is None and field.snapshot()["rho"] is None
    field.store(random_inputs(1, 64, 6)[0])
    snap = field.snapshot()
    assert snap["Q"] == 5 and snap["K"] == 4 and snap["n_inputs"] == 64 and snap["n_stored"] == 1
    assert snap["unit_fill"].shape == snap["rho"].shape == snap["V"].shape == (5, 4)
    assert np.array_equal(snap["u"], snap["V"])
    assert snap["unit_fill"].sum() == pytest.approx(5 * 6 / 64)
    assert snap["fill_fraction"] == field.fill_fraction and snap["code"].shape == (5,)
    assert CodingField(**snap["params"]).get_params() == snap["params"]


def test_weights_are_a_read_only_view():
    field = CodingField(3, 3, 10, seed=0)
    with pytest.raises(ValueError):
        field.weights[0, 0] = True
    assert field.weights.shape == (10, 9)


# experiments --------------------------------------------------------------------------------
def test_similar_inputs_get_similar_codes():
    df, rho = similarity_curve(dict(Q=32, K=16, n_inputs=2048), w=40, n_pairs=41, seed=0)
    assert list(df.columns) == ["input_overlap", "code_overlap", "familiarity"]
    assert rho > 0.8 and df.attrs["spearman_rho"] == rho
    assert df.code_overlap.iloc[-1] == 32 and df.input_overlap.iloc[-1] == 40
    assert df.code_overlap.iloc[:5].mean() < 32 / 4  # unrelated inputs: near chance, Q / K = 2
    again, rho2 = similarity_curve(CodingField(32, 16, 2048, seed=99), w=40, n_pairs=41, seed=0)
    assert rho2 == rho and again.equals(df)  # only the hyper-parameters of a field are used


def test_capacity_degrades_as_items_accumulate():
    df = capacity_curve(16, 16, 1024, 40, [50, 1000], noise=0.2, seed=0, n_probe=100)
    few, many = df.iloc[0], df.iloc[1]
    assert few.module_accuracy > 0.95 and few.identified_fraction == 1.0
    assert many.module_accuracy < few.module_accuracy - 0.3
    assert many.identified_fraction < few.identified_fraction
    assert many.fill_fraction > few.fill_fraction
    assert df.equals(capacity_curve(16, 16, 1024, 40, [50, 1000], noise=0.2, seed=0, n_probe=100))


# errors name the argument -------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(Q=0, K=4, n_inputs=10), "Q"), (dict(Q=2.5, K=4, n_inputs=10), "Q"),
    (dict(Q=2, K=1, n_inputs=10), "K"), (dict(Q=2, K=4, n_inputs=0), "n_inputs"),
    (dict(Q=2, K=4, n_inputs=True), "n_inputs"), (dict(Q=2, K=4, n_inputs=10, seed=-1), "seed"),
    (dict(Q=2, K=4, n_inputs=10, sigmoid_height=-1.0), "sigmoid_height"),
    (dict(Q=2, K=4, n_inputs=10, sigmoid_width=0.0), "sigmoid_width"),
    (dict(Q=2, K=4, n_inputs=10, sigmoid_center=float("nan")), "sigmoid_center"),
    (dict(Q=2, K=4, n_inputs=10, familiarity_power=0), "familiarity_power"),
    (dict(Q=2, K=4, n_inputs=10, familiarity_floor=1.0), "familiarity_floor"),
    (dict(Q=2, K=4, n_inputs=10, v_to_mu="cubic"), "v_to_mu"),
])
def test_bad_hyper_parameters_raise(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=f"^{name}:"):
        CodingField(**kwargs)


def test_bad_inputs_raise_naming_the_argument():
    field = CodingField(3, 4, 10, seed=0)
    with pytest.raises(ValueError, match="^x:.*binary"):
        field.store(np.array([0, 1, 2, 0, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="^x:.*binary"):
        field.retrieve(np.full(10, np.nan))
    with pytest.raises(ValueError, match=r"^x:.*\(10,\)"):
        field.encode(np.ones(9))
    with pytest.raises(ValueError, match="^x:.*no active bits"):
        field.familiarity(np.zeros(10))
    with pytest.raises(ValueError, match="^x:.*n=10"):
        field.store(SDR(11, [1, 2]))
    with pytest.raises(ValueError, match="^x:"):
        field.store(np.array(list("0101010101")))
    with pytest.raises(ValueError, match="^X:"):
        field.store_batch(np.ones((3, 9)))
    with pytest.raises(ValueError, match=r"^X\[1\]:.*no active bits"):
        field.store_batch(np.array([np.ones(10), np.zeros(10)]))
    with pytest.raises(ValueError, match="^c2:"):
        field.code_overlap([0, 1, 2], [0, 1, 4])
    with pytest.raises(ValueError, match="^c1:"):
        field.code_overlap([0, 1], [0, 1, 2])
    assert field.code_overlap([0, 1, 2], [0, 3, 2]) == 2
    assert field.n_stored == 0


def test_bad_experiment_arguments_raise():
    with pytest.raises(ValueError, match="^noise:"):
        capacity_curve(4, 4, 100, 10, [5], noise=1.5)
    with pytest.raises(ValueError, match="^w:"):
        capacity_curve(4, 4, 100, 101, [5])
    with pytest.raises(ValueError, match="^n_items_list:"):
        capacity_curve(4, 4, 100, 10, [])
    with pytest.raises(ValueError, match="^K:"):
        capacity_curve(4, 1, 100, 10, [5])
    with pytest.raises(ValueError, match="^w:"):
        similarity_curve(dict(Q=4, K=4, n_inputs=100), w=60)
    with pytest.raises(TypeError, match="^field_or_params:"):
        similarity_curve([4, 4, 100], w=10)
    with pytest.raises(ValueError, match="^n_pairs:"):
        similarity_curve(dict(Q=4, K=4, n_inputs=100), w=10, n_pairs=1)
