"""labkit.spiking.Network: wiring, both backends, seeds, input through weights, and the
asynchronous irregular state against Brunel's mean field."""

import numpy as np
import pytest

from labkit import spiking
from labkit.spiking.result import SpikeResult


def small(**kw):
    return spiking.Network(**{"n_exc": 160, "n_inh": 40, "p_connect": 0.1, **kw})


def test_wiring_is_brunels_fixed_in_degree():
    net = spiking.Network(seed=3)
    W = net.weights_
    assert W.shape == (1000, 1000) and np.all(W.diagonal() == 0)
    exc, inh = W[:, :800], W[:, 800:]
    assert np.all(np.diff(exc.indptr) == 80) and np.all(np.diff(inh.indptr) == 20)
    assert set(exc.data) == {0.5} and set(inh.data) == {-8.0 * 0.5}
    snap = net.snapshot()
    assert snap["n_exc"] == 800 and snap["indptr"].shape == (1001,) and snap["data"].size == 100_000


@pytest.mark.parametrize("with_input", [False, True])
def test_backends_identical(with_input):
    net = small(seed=1)
    kw = dict(n_steps=2500)
    if with_input:
        rng = np.random.default_rng(0)
        kw = dict(input_current=rng.normal(0, 1, (2500, 3)), input_weights=rng.normal(0, 5, (200, 3)))
    a = net.run(record_v=True, **kw)
    b = net.run(record_v=True, backend="readable", **kw)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.v, b.v) and np.array_equal(a.aux, b.aux)
    assert a.spikes.sum() > 1000 and a.aux_name == "h_syn"


def test_same_seed_same_result_and_seeds_differ():
    a, b = small(seed=5).run(n_steps=1500), small(seed=5).run(n_steps=1500)
    assert np.array_equal(a.spikes, b.spikes)
    assert not np.array_equal(a.spikes, small(seed=6).run(n_steps=1500).spikes)


def test_input_through_weights_equals_the_projected_current():
    rng = np.random.default_rng(2)
    u, w_in = rng.uniform(0, 2, (800, 4)), rng.uniform(2, 6, (200, 4))
    net = small(seed=2, eta=0.0)
    a = net.run(u, input_weights=w_in)
    b = net.run(u @ w_in.T)
    assert np.array_equal(a.spikes, b.spikes)
    states = a.filtered(20e-3)  # a liquid state machine's read-out state
    assert states.shape == (800, 200) and states.max() > 0


def test_asynchronous_irregular_state_matches_brunels_mean_field():
    """Default network (J = 0.5, g = 8, eta = 2: inhibition-dominated, Brunel 2000 Fig. 8's AI
    region): the mean rate within 10% of the self-consistent mean field (eq. 21 with the
    Fourcaud-Brunel shift for tau_syn), the ISI CV near the mean field's (first-passage time,
    white noise) and near 1, and the population asynchronous (spike-count Fano factor of the whole
    population in 5 ms bins far from the N of a synchronous network)."""
    net = spiking.Network(seed=0)
    res = net.run(n_steps=15_000)
    steady = SpikeResult(res.spikes[2000:], res.dt)
    mf = net.mean_field()
    rate, cv = steady.rates().mean(), np.nanmean(steady.isi_cv())
    assert abs(rate / mf["rate"] - 1) < 0.10, (rate, mf)
    assert abs(cv / mf["cv"] - 1) < 0.15 and 0.8 < cv < 1.2, (cv, mf)
    assert mf["mu"] < net.threshold  # fluctuation-driven: the mean input is below threshold
    counts = steady.spikes.reshape(-1, 50, 1000).sum(axis=(1, 2))
    assert counts.var() / counts.mean() < 20


def test_siegert_matches_a_white_noise_simulation():
    """Rate and CV of tau dV/dt = -V + mu + sigma sqrt(tau) xi (Euler-Maruyama, 400 neurons, 2 s)."""
    rng = np.random.default_rng(0)
    tau, theta, v_r, t_ref, dt = 20e-3, 20.0, 10.0, 2e-3, 5e-5
    for mu, sigma in [(14.0, 12.0), (24.0, 6.0)]:
        n, n_ref = 400, int(round(t_ref / dt))
        v, ref = rng.uniform(v_r, theta, n), np.zeros(n, dtype=int)
        spikes = np.zeros((40_000, n), dtype=bool)
        for t in range(spikes.shape[0]):
            v = np.where(ref > 0, v_r, v + dt / tau * (mu - v) + sigma * np.sqrt(dt / tau) * rng.standard_normal(n))
            ref = np.maximum(ref - 1, 0)
            s = v > theta
            v, ref = np.where(s, v_r, v), np.where(s, n_ref, ref)
            spikes[t] = s
        sim = SpikeResult(spikes[4000:], dt)
        rate, cv = spiking.siegert(mu, sigma, tau, theta, v_r, t_ref)
        assert abs(sim.rates().mean() / rate - 1) < 0.06 and abs(np.nanmean(sim.isi_cv()) - cv) < 0.06


def test_bad_input():
    with pytest.raises(ValueError, match="v_reset"):
        spiking.Network(v_reset=25.0)
    with pytest.raises(ValueError, match="p_connect"):
        spiking.Network(p_connect=1.5)
    with pytest.raises(ValueError, match="dt"):
        spiking.Network(dt=1e-3, tau_syn=0.5e-3)
    net = small()
    with pytest.raises(ValueError, match="n_steps"):
        net.run()
    with pytest.raises(ValueError, match="input_weights"):
        net.run(np.ones((10, 3)), input_weights=np.ones((7, 3)))
    with pytest.raises(ValueError, match="input_current"):
        net.run(np.ones((10, 7)))
    with pytest.raises(ValueError, match="input_current"):
        net.run(np.full((10, 200), np.nan))
