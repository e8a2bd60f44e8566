"""labkit.spiking.LIF and lif_rate: the documented update equations, both backends, exact rates,
and spike-for-spike parity with snnTorch 1.0.0 `Leaky`."""

import math

import numpy as np
import pytest

from labkit import spiking

RESETS = ["subtract", "zero", "none"]


def _hand(current, beta, gain, threshold, reset, v0=0.0):
    """The module docstring's equations, one neuron, one step at a time (plain floats)."""
    u, s, vs, ss = v0, v0 > threshold, [], []
    for x in current:
        if reset == "subtract":
            u = beta * u + gain * x - (threshold if s else 0.0)
        elif reset == "zero":
            u = beta * (0.0 if s else u) + gain * x
        else:
            u = beta * u + gain * x
        s = u > threshold
        vs.append(u)
        ss.append(s)
    return np.array(ss), np.array(vs)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("convention", ["tau", "beta"])
def test_update_equation_is_followed_exactly(reset, convention):
    x = np.random.default_rng(1).uniform(0, 2.5 if convention == "tau" else 0.3, 300)
    lif = spiking.LIF(tau=20e-3, reset=reset) if convention == "tau" else spiking.LIF(beta=0.9, reset=reset)
    beta, gain = (math.exp(-1e-3 / 20e-3), -math.expm1(-1e-3 / 20e-3)) if convention == "tau" else (0.9, 1.0)
    s, v = _hand(x, beta, gain, 1.0, reset)
    for backend in ("fast", "readable"):
        res = lif.run(x[:, None], record_v=True, backend=backend)
        assert np.array_equal(res.spikes[:, 0], s) and np.array_equal(res.v[:, 0], v)
    assert s.sum() > 5


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("refractory", [0.0, 3e-3])
def test_fast_and_readable_give_identical_spikes(reset, refractory):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 3, (2000, 50))
    lif = spiking.LIF(reset=reset, refractory=refractory)
    v0 = rng.uniform(0, 1.2, 50)  # some start above threshold: S[-1] = 1
    a = lif.run(x, record_v=True, v0=v0)
    b = lif.run(x, record_v=True, v0=v0, backend="readable")
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.v, b.v)
    held_fast = lif.run(x[0], n_steps=500)
    held_readable = lif.run(x[0], n_steps=500, backend="readable")
    assert np.array_equal(held_fast.spikes, held_readable.spikes)
    assert np.array_equal(held_fast.spikes, lif.run(np.tile(x[0], (500, 1))).spikes)


def test_refractory_lengthens_the_isi_by_exactly_n_ref_steps():
    base = spiking.LIF(reset="zero").run(np.array([2.0]), n_steps=400)
    ref = spiking.LIF(reset="zero", refractory=4e-3).run(np.array([2.0]), n_steps=400)
    isi_ref = set(np.diff(np.flatnonzero(ref.spikes[:, 0])))
    assert isi_ref == {d + 4 for d in set(np.diff(np.flatnonzero(base.spikes[:, 0])))}


@pytest.mark.parametrize("dt, max_median_err", [(1e-3, 0.035), (1e-4, 0.005)])
def test_rates_match_the_exact_discrete_formula_and_approach_the_continuous_one(dt, max_median_err):
    current = np.linspace(0, 3, 1000)
    window = 10.0
    res = spiking.LIF(tau=20e-3, dt=dt, reset="zero").run(current, n_steps=int(round(window / dt)))
    discrete = spiking.lif_rate(current, 20e-3, 1.0, dt=dt)
    assert np.max(np.abs(res.rates() - discrete)) * window <= 1.0  # one spike per window
    cont = spiking.lif_rate(current, 20e-3, 1.0)
    on = current > 1.0
    err = np.abs(res.rates()[on] - cont[on]) / cont[on]
    assert np.median(err) <= max_median_err
    assert np.all(res.rates()[~on] == 0)


def test_refractory_rates_match_both_formulas():
    current = np.linspace(1.05, 4, 200)
    res = spiking.LIF(dt=1e-4, reset="zero", refractory=2e-3).run(current, n_steps=50_000)
    assert np.max(np.abs(res.rates() - spiking.lif_rate(current, 20e-3, 1.0, dt=1e-4, refractory=2e-3))) * 5 <= 1
    cont = spiking.lif_rate(current, 20e-3, 1.0, refractory=2e-3)
    assert np.median(np.abs(res.rates() - cont) / cont) < 0.01


def test_lif_rate_scalar_and_subthreshold():
    assert spiking.lif_rate(0.5, 20e-3, 1.0) == 0.0
    assert spiking.lif_rate(2.0, 20e-3, 1.0) == pytest.approx(1 / (20e-3 * math.log(2)))


# -- snnTorch 1.0.0 ------------------------------------------------------------------------------
# snnTorch `Leaky` (snntorch/_neurons/leaky.py, reset_delay=True), R[t] = Theta(U[t-1] - U_thr):
#   subtract: U[t] = beta U[t-1] + I[t] - R[t] U_thr          (its docstring's equation; its code)
#   zero:     U[t] = beta (1 - R[t]) U[t-1] + I[t]
#   spike:    S[t] = Theta(U[t] - U_thr), Theta(0) = 0
# Tutorial 3 writes the subtract reset as beta U_thr (snnTorch issue #341). labkit follows the code.
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_spike_for_spike_parity_with_snntorch_leaky(reset):
    snn = pytest.importorskip("snntorch")
    torch = pytest.importorskip("torch")
    assert snn.__version__ == "1.0.0"
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 0.45, (3000, 200))
    leaky = snn.Leaky(beta=0.9, threshold=1.0, reset_mechanism=reset)
    beta = float(leaky.beta)  # snnTorch keeps beta as float32: 0.9 -> 0.89999997615...
    mem = torch.zeros(200, dtype=torch.float64)
    spk_t, mem_t = [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, mem = leaky(torch.from_numpy(x[t]), mem)
            spk_t.append(spk.numpy() > 0)
            mem_t.append(mem.numpy().copy())
    ours = spiking.LIF(beta=beta, threshold=1.0, reset=reset).run(x, record_v=True)
    assert np.array_equal(ours.spikes, np.array(spk_t))
    assert np.allclose(ours.v, np.array(mem_t), rtol=0, atol=1e-12)
    assert ours.spikes.sum() > 1000


def test_snntorch_subtracts_the_threshold_not_beta_times_it():
    """Pins snnTorch's actual behaviour (issue #341): after a spike it removes U_thr, not beta U_thr."""
    snn = pytest.importorskip("snntorch")
    torch = pytest.importorskip("torch")
    leaky = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="subtract")
    mem = torch.tensor([1.5], dtype=torch.float64)  # above threshold: R = 1 at the next step
    with torch.no_grad():
        _, mem = leaky(torch.tensor([0.0], dtype=torch.float64), mem)
    assert float(mem) == pytest.approx(0.5 * 1.5 - 1.0)  # the docs' beta * U_thr would give 0.25
    ours = spiking.LIF(beta=0.5, reset="subtract").run(np.array([[0.0]]), record_v=True, v0=1.5)
    assert ours.v[0, 0] == pytest.approx(0.5 * 1.5 - 1.0)


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(tau=-1e-3), "tau"), (dict(dt=-1e-3), "dt"), (dict(tau=1e-3, dt=1e-3), "dt"), (dict(tau=1e-3, dt=2e-3), "dt"),
    (dict(reset="hard"), "reset"), (dict(beta=1.5), "beta"), (dict(tau=0.02, beta=0.9), "beta"),
    (dict(threshold=0.0), "threshold"), (dict(refractory=-1.0), "refractory")])
def test_bad_parameters_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        spiking.LIF(**kwargs)


def test_unknown_reset_lists_the_known_ones():
    with pytest.raises(ValueError, match="subtract.*zero.*none"):
        spiking.LIF(reset="hard")


@pytest.mark.parametrize("current, n_steps, name", [
    (np.array([[np.nan, 1.0]]), None, "current"), (np.ones((2, 2, 2)), None, "current"),
    (np.ones(3), None, "current"), (np.ones((5, 3)), 4, "n_steps"), (np.ones(3), 0, "n_steps"),
    (np.ones((0, 3)), None, "current")])
def test_bad_current_names_the_argument(current, n_steps, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        spiking.LIF().run(current, n_steps=n_steps)


def test_bad_backend_and_v0():
    with pytest.raises(ValueError, match="backend"):
        spiking.LIF().run(np.ones(3), n_steps=2, backend="numba")
    with pytest.raises(ValueError, match="v0"):
        spiking.LIF().run(np.ones(3), n_steps=2, v0=np.ones(4))


def test_result_helpers():
    res = spiking.LIF(reset="zero").run(np.array([2.0, 0.5]), n_steps=1000)
    assert res.spikes.shape == (1000, 2) and res.spikes.dtype == bool and res.v is None
    assert res.rates()[1] == 0 and res.rates()[0] == pytest.approx(res.counts()[0] / 1.0)
    t, i = res.spike_times()
    assert len(t) == res.counts().sum() and set(i) == {0}
    assert res.isi_cv()[0] == pytest.approx(0.0, abs=1e-12) and np.isnan(res.isi_cv()[1])
    f = res.filtered(10e-3)
    assert f.shape == (1000, 2) and f[:, 1].max() == 0 and f[:, 0].max() > 1
    assert res.population_rate(window=5e-3).shape == (1000,)
