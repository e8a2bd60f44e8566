"""labkit.reservoir.ESNBatch: many reservoirs in one kernel call give exactly what each gives alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.reservoir import ESN, ESNBatch, mackey_glass, to_forecasting


def _task(n=700, forecast=5):
    X = mackey_glass(n)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
    return to_forecasting(X, forecast)


def _grid(backend="fast"):
    """Seeds and hyper-parameters mixed: units, sr, lr, ridge, bias, scaling, connectivities."""
    return [ESN(units=40, sr=1.25, lr=0.3, input_connectivity=0.2, ridge=1e-8, seed=1, backend=backend),
            ESN(units=40, sr=1.25, lr=0.3, input_connectivity=0.2, ridge=1e-8, seed=2, backend=backend),
            ESN(units=25, sr=0.8, lr=1.0, bias=0.3, ridge=1e-4, seed=3, backend=backend),
            ESN(units=60, sr=0.95, lr=0.05, input_scaling=0.4, rc_connectivity=0.3, ridge=1e-6, seed=4,
                backend=backend)]


@pytest.mark.parametrize("backend", ["fast", "readable"])
def test_batch_equals_each_esn_alone(backend):
    x, y = _task()
    alone = [e.fit(x[:500], y[:500], warmup=50) for e in _grid(backend)]
    batch = ESNBatch(_grid(), backend=backend).fit(x[:500], y[:500], warmup=50)
    for a, b in zip(alone, batch.esns, strict=True):
        assert np.array_equal(a.states_, b.states_)
        assert np.array_equal(a.readout_, b.readout_) and np.array_equal(a.intercept_, b.intercept_)
    pred = batch.predict(x[500:])
    assert pred.shape == (4, len(x) - 500, 1)
    for a, p in zip(alone, pred, strict=True):
        assert np.array_equal(a.predict(x[500:]), p)


def test_batch_fits_each_esn_for_use_alone_and_multi_input():
    rng = np.random.default_rng(0)
    U = rng.uniform(-1, 1, size=(400, 2))
    Y = np.stack([np.roll(U[:, 0], 3), U[:, 0] * U[:, 1]], axis=1)
    alone = [ESN(units=30, seed=s, ridge=1e-6, input_connectivity=0.5).fit(U[:300], Y[:300], warmup=10)
             for s in range(3)]
    batch = ESNBatch.seeds(range(3), units=30, ridge=1e-6, input_connectivity=0.5).fit(U[:300], Y[:300], warmup=10)
    for a, b in zip(alone, batch.esns, strict=True):
        assert np.array_equal(a.predict(U[300:]), b.predict(U[300:]))   # each fitted ESN stands alone
    assert [e.seed for e in batch.esns] == [0, 1, 2]


def test_batch_run_continues_from_each_state():
    x, _ = _task()
    batch = ESNBatch(_grid())
    first = batch.run(x[:100], reset=True)
    cont = batch.run(x[100:150])
    full = ESNBatch(_grid()).run(x[:150], reset=True)
    for f, c, s in zip(first, cont, full, strict=True):
        assert np.array_equal(np.vstack([f, c]), s)


def test_fast_and_readable_batch_agree_to_rounding():
    x, y = _task()
    f = ESNBatch(_grid(), backend="fast").fit(x[:500], y[:500]).predict(x[500:])
    r = ESNBatch(_grid(), backend="readable").fit(x[:500], y[:500]).predict(x[500:])
    assert np.allclose(f, r, rtol=0, atol=1e-8)   # ridge 1e-8 amplifies last-bit differences of the states


@pytest.mark.parametrize("esns, exc, name", [
    ([], ValueError, "esns"), (ESN(), TypeError, "esns"), ([ESN(), "x"], TypeError, "esns"),
    ([ESN(activation="tanh"), ESN(activation="identity")], ValueError, "esns"),
])
def test_bad_batches_name_the_argument(esns, exc, name):
    with pytest.raises(exc, match=name):
        ESNBatch(esns)


def test_batch_bad_data_names_the_argument():
    x, y = _task()
    batch = ESNBatch(_grid())
    with pytest.raises(ValueError, match="Y"):
        batch.fit(x[:100], y[:90])
    with pytest.raises(ValueError, match="warmup"):
        batch.fit(x[:100], y[:100], warmup=100)
    with pytest.raises(ValueError, match="not fitted"):
        batch.predict(x[:10])


def test_kernel_tanh_equals_libm_to_rounding():
    import math

    from labkit.reservoir.kernels import tanh
    a = np.concatenate([np.linspace(-25, 25, 20_001), [0.0, -0.0, 1e-300, -1e-12, 0.3465735902799726, 19.5, 700.0]])
    ours = np.array([tanh(v) for v in a])
    exact = np.array([math.tanh(v) for v in a])
    assert np.all(np.abs(ours - exact) <= 5e-16 * np.maximum(np.abs(exact), 1e-300) + 1e-300)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70), density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_kernel_csr_matvec_equals_scipy_bit_for_bit(n, density, seed):
    """Four rows at a time, each in stored order: the same sums as scipy's csr_matvec, to the last bit,
    whatever the row lengths (empty rows, rows shorter than their neighbours, n not a multiple of 4)."""
    import scipy.sparse as sp

    from labkit.reservoir.kernels import csr, csr_matvec
    rng = np.random.default_rng(seed)
    W = sp.random(n, n, density=density, format="csr", random_state=rng, data_rvs=rng.standard_normal)
    x, y = rng.standard_normal(n), np.full(n, np.nan)
    csr_matvec(*csr(W), x, y)
    assert np.array_equal(y, W @ x)
