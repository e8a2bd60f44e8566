"""labkit.spiking.ALIF and Izhikevich: both backends, adaptation, Norse's LSNN, Fig. 1's behaviours."""

import numpy as np
import pytest

from labkit import spiking
from labkit.spiking.izhikevich import _STIMULI


# -- ALIF ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("refractory", [0.0, 2e-3])
def test_alif_backends_identical(reset, refractory):
    x = np.random.default_rng(0).uniform(0, 4, (3000, 40))
    alif = spiking.ALIF(reset=reset, refractory=refractory, beta_adapt=0.1)
    a, b = alif.run(x, record_v=True), alif.run(x, record_v=True, backend="readable")
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.v, b.v) and np.array_equal(a.aux, b.aux)
    assert a.aux_name == "threshold" and a.spikes.sum() > 1000


def test_alif_equations():
    """a[t] = rho a[t-1] + S[t-1]; A = threshold + beta_adapt a; subtract reset removes A[t-1]."""
    alif = spiking.ALIF(tau=20e-3, tau_adapt=0.1, beta_adapt=0.2, dt=1e-3)
    res = alif.run(np.array([3.0]), n_steps=200, record_v=True)
    rho, alpha = np.exp(-1e-3 / 0.1), np.exp(-1e-3 / 20e-3)
    u, a, s, thr_prev = 0.0, 0.0, False, 1.0
    for t in range(200):
        a = rho * a + (1.0 if s else 0.0)
        thr = 1.0 + 0.2 * a
        u = alpha * u + (1 - alpha) * 3.0 - (thr_prev if s else 0.0)
        s, thr_prev = u > thr, thr
        assert res.spikes[t, 0] == s and res.v[t, 0] == pytest.approx(u, abs=1e-12)
        assert res.aux[t, 0] == pytest.approx(thr, abs=1e-12)


@pytest.mark.parametrize("current", [1.5, 2.0, 4.0])
def test_alif_isi_lengthens_monotonically_under_a_step(current):
    res = spiking.ALIF(tau=20e-3, tau_adapt=0.2, beta_adapt=0.05, dt=1e-4, reset="zero").run(
        np.array([current]), n_steps=10_000)
    isi = res.isi(0)
    # non-decreasing, up to one step of jitter once the ISI has settled (12.0, 12.1, 12.0 ms...)
    assert len(isi) > 10 and np.all(np.diff(isi) >= -1e-4 - 1e-12) and isi[-1] > 1.3 * isi[0]
    rising = isi[: np.argmax(isi >= 0.95 * isi[-1])]
    assert len(rising) >= 5 and np.all(np.diff(rising) >= 0) and rising[-1] > rising[0]


def test_alif_steady_rate_matches_norse_lsnn():
    """Norse 1.1.0 lsnn_feed_forward_step (Euler; synaptic current; threshold b relaxing to v_th,
    b += beta at a spike, reset to v_reset=0) with the same tau_mem, tau_adapt and per-spike beta,
    driven to the same steady current (input i.e. I dt / tau_syn per step): same steady rate."""
    torch = pytest.importorskip("torch")
    lsnn = pytest.importorskip("norse.torch.functional.lsnn")
    dt, n_steps, tau_syn, beta = 1e-4, 12_000, 1e-3, 0.05
    current = np.array([1.2, 1.5, 2.0, 3.0, 4.0])
    p = lsnn.LSNNParameters(tau_syn_inv=torch.as_tensor(1 / tau_syn), tau_mem_inv=torch.as_tensor(1 / 20e-3),
                            tau_adapt_inv=torch.as_tensor(1 / 0.2), v_leak=torch.as_tensor(0.0),
                            v_th=torch.as_tensor(1.0), v_reset=torch.as_tensor(0.0), beta=torch.as_tensor(beta))
    x = torch.tensor(current * dt / tau_syn, dtype=torch.float64)
    z64 = torch.zeros(5, dtype=torch.float64)
    state = lsnn.LSNNFeedForwardState(v=z64, i=z64, b=z64 + 1.0)
    norse = np.zeros((n_steps, 5), dtype=bool)
    with torch.no_grad():
        for t in range(n_steps):
            z, state = lsnn.lsnn_feed_forward_step(x, state, p, dt)
            norse[t] = z.numpy() > 0
    ours = spiking.ALIF(tau=20e-3, tau_adapt=0.2, beta_adapt=beta, dt=dt, reset="zero").run(current, n_steps=n_steps)

    def steady_rate(spikes):  # from the last 5 ISIs (the adaptation has settled after 6 tau_adapt)
        return np.array([1 / (np.diff(np.flatnonzero(spikes[:, i]))[-5:].mean() * dt) for i in range(5)])

    theirs, mine = steady_rate(norse), steady_rate(ours.spikes)
    assert np.all(np.abs(mine / theirs - 1) < 0.02), (mine, theirs)
    assert np.all(mine < 0.75 * spiking.lif_rate(current, 20e-3, 1.0))  # adaptation does slow it


def test_alif_bad_input():
    with pytest.raises(ValueError, match="tau_adapt"):
        spiking.ALIF(tau_adapt=-1.0)
    with pytest.raises(ValueError, match="reset"):
        spiking.ALIF(reset="none")
    with pytest.raises(ValueError, match="current"):
        spiking.ALIF().run(np.array([[1.0, np.nan]]))


# -- Izhikevich ----------------------------------------------------------------------------------
def test_izhikevich_backends_identical_for_every_preset():
    for name, p in spiking.IZHIKEVICH_PRESETS.items():
        n = p.neuron()
        a = n.run(p.current(), record_v=True)
        b = n.run(p.current(), record_v=True, backend="readable")
        assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.v, b.v) and np.array_equal(a.aux, b.aux), name


def test_izhikevich_population_backends_identical():
    x = np.random.default_rng(0).uniform(0, 20, (400, 30))
    n = spiking.Izhikevich(0.02, 0.2, -50, 2)
    assert np.array_equal(n.run(x).spikes, n.run(x, backend="readable").spikes)


# Spike counts at figure1.m's own step (the figure as drawn) and in the converged ODE (fine step).
# Eight behaviours change with the step: the coarse Euler step of the figure is part of them.
FIGURE_COUNTS = {
    "tonic_spiking": (5, 5), "phasic_spiking": (1, 1), "tonic_bursting": (28, 29), "phasic_bursting": (6, 8),
    "mixed_mode": (6, 7), "spike_frequency_adaptation": (6, 6), "class_1_exc": (10, 10), "class_2_exc": (14, 17),
    "spike_latency": (1, 1), "subthreshold_oscillation": (1, 1), "resonator": (1, 1), "integrator": (1, 1),
    "rebound_spike": (1, 1), "rebound_burst": (7, 14), "threshold_variability": (1, 1), "bistability": (5, 7),
    "dap": (1, None), "accommodation": (1, 1), "inhibition_induced_spiking": (3, 4),
    "inhibition_induced_bursting": (12, None),
}
# dap: the fine-step ODE fires repetitively (5 spikes at 0.01 ms, 8 at 0.002 ms: not converged);
# inhibition_induced_bursting: at fine steps u runs away (d < 0 at every spike) and v fires every step.


def _heun_reference(presets, h=0.005):
    """Independent reference: Heun (RK2) at h ms, all presets at once, the figure's inputs."""
    n = int(round(max(p.duration for p in presets) * 1e3 / h)) + 1
    t = np.arange(n) * h
    f = {k: np.array([getattr(p, k) for p in presets], dtype=float) for k in ("a", "b", "c", "d", "mn", "bias", "v_b",
                                                                               "u_leak")}
    end = np.array([p.duration * 1e3 for p in presets])
    v = np.array([p.v0 for p in presets], dtype=float)
    u = np.array([p.u0 if p.u0 is not None else p.b * p.v0 for p in presets], dtype=float)
    current = np.stack([_STIMULI[p.name](t) for p in presets], 1)

    def rhs(v, u, i):
        return (0.04 * v * v + f["mn"] * v + f["bias"] - u + i, f["a"] * (f["b"] * (v - f["v_b"]) - f["u_leak"] * u))

    spikes = [[] for _ in presets]
    for k in range(n - 1):
        dv1, du1 = rhs(v, u, current[k])
        dv2, du2 = rhs(v + h * dv1, u + h * du1, current[k + 1])
        v, u = v + 0.5 * h * (dv1 + dv2), u + 0.5 * h * (du1 + du2)
        s = v > 30
        if s.any():
            for i in np.flatnonzero(s & (t[k + 1] <= end)):
                spikes[i].append(t[k + 1])
            v, u = np.where(s, f["c"], v), np.where(s, u + f["d"], u)
    return [np.array(x) for x in spikes]


def test_izhikevich_presets_reproduce_the_fine_step_reference():
    """Table: labkit at dt = 0.01 ms against an independent Heun integration at 0.005 ms: the same
    spike count and the same ISI pattern (each ISI within 10%; the last one within 30%, where a
    burst ends in a slow passage that is most sensitive to the step). At the figure's step labkit
    reproduces figure1.m's counts (FIGURE_COUNTS)."""
    presets = [p for p in spiking.IZHIKEVICH_PRESETS.values() if FIGURE_COUNTS[p.name][1] is not None]
    reference = _heun_reference(presets)
    for p, ref in zip(presets, reference, strict=True):
        fine = p.neuron(dt=0.01e-3).run(p.current(dt=0.01e-3))
        times = np.flatnonzero(fine.spikes[:, 0]) * 0.01
        assert len(times) == len(ref) == FIGURE_COUNTS[p.name][1], (p.name, len(times), len(ref))
        isi, ref_isi = np.diff(times), np.diff(ref)
        if len(isi):
            err = np.abs(isi - ref_isi) / ref_isi
            assert np.all(err[:-1] <= 0.10) and err[-1] <= 0.30, (p.name, isi, ref_isi)
    for name, (at_figure_step, _) in FIGURE_COUNTS.items():
        p = spiking.IZHIKEVICH_PRESETS[name]
        assert p.neuron().run(p.current()).counts()[0] == at_figure_step, name


def test_izhikevich_preset_api():
    assert len(spiking.IZHIKEVICH_PRESETS) == 20
    n = spiking.Izhikevich.preset("tonic_spiking")
    assert (n.a, n.b, n.c, n.d, n.v0) == (0.02, 0.2, -65.0, 6.0, -70.0)
    with pytest.raises(ValueError, match="tonic_spiking") as err:
        spiking.Izhikevich.preset("tonic")
    assert "name" in str(err.value) and "bistability" in str(err.value)
    with pytest.raises(ValueError, match=r"\bc\b"):
        spiking.Izhikevich(c=40.0)
    with pytest.raises(ValueError, match="dt"):
        spiking.Izhikevich(dt=-1e-3)
