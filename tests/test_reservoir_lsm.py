"""labkit.reservoir.lsm: the readout filter against SpikeResult.filtered, spike encodings, the liquid's
determinism and backends, a Mackey-Glass forecast and a digits classification at small size, bad input."""

import numpy as np
import pytest

from labkit.reservoir import LSM, mackey_glass, nrmse, readout_states, spike_encode, to_forecasting
from labkit.spiking import SpikeResult


def _mg(n=700, forecast=10):
    X = mackey_glass(n, tau=17)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
    return to_forecasting(X, forecast=forecast)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_readout_states_equal_filtered_spike_trains_sampled_per_input(k):
    spikes = np.random.default_rng(k).random((60 * k, 7)) < 0.2
    res = SpikeResult(spikes=spikes, dt=1e-3)
    decay = np.exp(-1e-3 / 0.03)
    np.testing.assert_allclose(readout_states(spikes, k, decay), res.filtered(0.03)[k - 1::k], rtol=1e-12, atol=1e-12)


def test_poisson_encoding_rate_and_latency_encoding_timing():
    X = np.array([[0.0, 0.25, 1.0]])
    S = spike_encode(np.repeat(X, 400, axis=0), n_steps=50, kind="poisson", max_rate=200.0, dt=1e-3, seed=0)
    rate = S.mean(axis=(0, 1)) / 1e-3
    np.testing.assert_allclose(rate, [0.0, 50.0, 200.0], atol=3.0)
    L = spike_encode(np.array([[0.0, 0.5, 1.0]]), n_steps=11, kind="latency")
    assert L.sum(axis=1).tolist() == [[0.0, 1.0, 1.0]]
    assert np.flatnonzero(L[0, :, 1]).tolist() == [5] and np.flatnonzero(L[0, :, 2]).tolist() == [0]
    np.testing.assert_array_equal(spike_encode(X, 20, seed=3), spike_encode(X, 20, seed=3))


def test_same_seed_same_liquid_and_backends_agree():
    x, y = _mg(150)
    a = LSM(units=40, seed=3).fit(x, y, warmup=10)
    b = LSM(units=40, seed=3).fit(x, y, warmup=10)
    np.testing.assert_array_equal(a.states_, b.states_)
    r = LSM(units=40, seed=3, backend="readable").fit(x, y, warmup=10)
    np.testing.assert_array_equal(a.spikes_, r.spikes_)
    np.testing.assert_allclose(a.predict(x[:30]), r.predict(x[:30]), rtol=1e-9)
    assert a.spikes_.any(), "the liquid should fire"
    c = LSM(units=40, seed=4).fit(x, y, warmup=10)
    assert not np.array_equal(a.states_, c.states_)


def test_context_continues_the_training_run():
    x, y = _mg(400)
    lsm = LSM(units=60, seed=0).fit(x[:300], y[:300], warmup=20)
    states = lsm.run(x)                                   # the whole series from rest
    np.testing.assert_array_equal(states[:300], lsm.states_)
    np.testing.assert_allclose(lsm.predict(x[300:], context=x[:300]),
                               states[300:] @ lsm.readout_ + lsm.intercept_, rtol=1e-12)


def test_mackey_glass_forecast_beats_persistence_and_a_one_lag_regression():
    x, y = _mg(1300)
    lsm = LSM(units=300, seed=0).fit(x[:1000], y[:1000], warmup=100)
    err = nrmse(y[1000:], lsm.predict(x[1000:], context=x[:1000]))
    A = np.hstack([x, np.ones_like(x)])
    w = np.linalg.lstsq(A[100:1000], y[100:1000], rcond=None)[0]
    one_lag = nrmse(y[1000:], A[1000:] @ w)
    assert err < 0.8 * one_lag and err < nrmse(y[1000:], x[1000:]), (err, one_lag)


def test_digits_classification_from_spike_trains():
    from sklearn.datasets import load_digits
    d = load_digits()
    X, labels = d.data[:600] / 16.0, d.target[:600]
    S = spike_encode(X, n_steps=20, kind="latency")
    lsm = LSM(units=200, input_scaling=200.0, input_connectivity=0.2, bias=12.0, tau_readout=0.1, seed=0)
    lsm.fit_classes(S[:450], labels[:450], gap=10)
    acc = float((lsm.predict_classes(S[450:], gap=10) == labels[450:]).mean())
    assert acc > 0.75, acc
    F = lsm.transform(S[:5], gap=10)
    assert F.shape == (5, 200) and (F >= 0).all()
    snap = lsm.snapshot()
    assert snap["Win"].shape == (200, 64) and snap["classes"].tolist() == list(range(10))


def test_bad_input_is_refused():
    x, y = _mg(100)
    with pytest.raises(ValueError, match="Y"):
        LSM(units=20, seed=0).fit(x, y[:-1])
    with pytest.raises(ValueError, match="warmup"):
        LSM(units=20, seed=0).fit(x, y, warmup=len(x))
    with pytest.raises(ValueError, match="not fitted"):
        LSM(units=20, seed=0).predict(x)
    with pytest.raises(ValueError, match="inh_fraction"):
        LSM(units=2, inh_fraction=0.9)
    with pytest.raises(ValueError, match="units"):
        LSM(units=1)
    with pytest.raises(ValueError, match="dt"):
        LSM(units=20, dt=0.01, tau_syn=5e-3)
    with pytest.raises(ValueError, match="X"):
        spike_encode(np.array([[1.5]]))
    with pytest.raises(ValueError, match="X"):
        LSM(units=20, seed=0).fit(x, y).predict(np.hstack([x, x]))
    lsm = LSM(units=20, seed=0).fit_classes(np.zeros((4, 5, 2)), np.array([0, 1, 0, 1]), gap=2)
    with pytest.raises(ValueError, match="predict_classes"):
        lsm.predict(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="labels"):
        LSM(units=20, seed=0).fit_classes(np.zeros((4, 5, 2)), np.array([0, 1, 0]))
