"""A sparse recurrent network of excitatory and inhibitory LIF neurons with exponential synaptic
currents: Brunel's model A (Brunel 2000, J Comput Neurosci 8:183, Sect. 2) with its delta synapses
replaced by exponential currents.

Connectivity (Brunel 2000, Sect. 2): every neuron receives exactly C_E = p n_exc excitatory and
C_I = p n_inh inhibitory connections (no self-connections), of weight J and -g J, plus C_E external
Poisson inputs of rate nu_ext = eta nu_thr, nu_thr = theta / (J C_E tau) (the external rate that
alone brings the mean input to threshold). Weights W are (N, N) CSR, row = post, column = pre.

Per step dt (exact membrane integration as lif.py; h is the synaptic input in voltage units):

    h[t] = alpha_s h[t-1] + kappa (W S[t-1] + J n_ext[t]),   alpha_s = exp(-dt / tau_syn)
    V[t] = alpha_m V'[t-1] + (1 - alpha_m) (h_ext[t] + h[t]),  alpha_m = exp(-dt / tau)
    S[t] = V[t] > theta;  V' = v_reset after a spike, and V = v_reset during the refractory steps

kappa = tau (1 - alpha_s) / dt makes one spike of weight J move the membrane by J in total, as
Brunel's delta synapse does (the sum of h over time is J tau / dt), so the mean input is Brunel's
mu = h_ext + J tau (C_E nu_ext + C_E nu_E - g C_I nu_I), and `mean_field()` applies his eq. 21.
n_ext[t] ~ Poisson(C_E nu_ext dt) is drawn from the network's seed, identically on both backends.
With g > 4 (inhibition dominates when C_I = C_E / 4) and eta ~ 2 the network settles in the
asynchronous irregular state (Brunel 2000, Fig. 8).

Input for reservoirs: `run(input_current, input_weights=W_in)` injects u[t] W_in^T (W_in: (N, M),
u: (T, M)) into h_ext; `SpikeResult.filtered(tau)` gives the read-out's filtered spike trains.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.base import Estimator
from labkit.spiking.common import check_backend, check_tau_dt, prepare_current, prepare_v0
from labkit.spiking.meanfield import siegert
from labkit.spiking.result import SpikeResult
from labkit.validate import check_array, check_bool, check_float, check_int, check_seed, fail

MAX_KEYS = 2**27  # float64 keys one connectivity draw may hold (1 GiB)

__all__ = ["Network", "network_chunk_readable"]

CHUNK = 1000  # steps per block of external Poisson counts


def network_chunk_readable(n_steps, h_ext, held, ext_counts, alpha_m, gain_m, alpha_s, syn_scale, j_ext,
                           threshold, v_reset, n_ref, W, v, h, s, ref, record, spikes, v_out, h_out, t0):
    """The teaching path: one numpy/scipy update per step (the equations above); updates the state
    arrays v, h, s, ref in place and writes steps t0 .. t0+n_steps-1 of the outputs."""
    for k in range(n_steps):
        acc = W @ s.astype(np.float64)  # W S[t-1]: the recurrent spikes of the previous step
        h_new = alpha_s * h + syn_scale * (acc + j_ext * ext_counts[k])
        refractory = ref > 0
        drive = h_ext[0 if held else k] + h_new
        v_new = np.where(refractory, v_reset, alpha_m * np.where(s, v_reset, v) + gain_m * drive)
        s_new = (v_new > threshold) & ~refractory
        ref[:] = np.where(s_new, n_ref, np.where(refractory, ref - 1, 0))
        v[:], h[:], s[:] = v_new, h_new, s_new
        spikes[t0 + k] = s_new
        if record:
            v_out[t0 + k], h_out[t0 + k] = v_new, h_new


def external_counts(rng, lam: float, k: int, n: int) -> np.ndarray:
    """(k, n) counts of independent Poisson(lam) events per step and neuron, drawn as a Poisson
    process: the total per neuron is Poisson(lam k) and, given the total, the events fall on
    uniformly random steps (the same distribution as k n Poisson draws, ~8x faster)."""
    if lam <= 0:
        return np.zeros((k, n), dtype=np.int64)
    totals = rng.poisson(lam * k, size=n)
    cells = rng.integers(0, k, size=int(totals.sum())) * n + np.repeat(np.arange(n), totals)
    return np.bincount(cells, minlength=k * n).reshape(k, n)


class Network(Estimator):
    """Sparse E/I network of LIF neurons (Brunel 2000) with exponential synaptic currents.

    Network(n_exc=800, n_inh=200, p_connect=0.1, J=0.5, g=8.0, eta=2.0, tau=20e-3, tau_syn=0.5e-3,
            threshold=20.0, v_reset=10.0, refractory=2e-3, dt=1e-4, seed=0)

    J, threshold, v_reset in mV-like units (Brunel: theta = 20 mV, V_r = 10 mV); tau, tau_syn,
    refractory, dt in seconds. Neurons 0 .. n_exc-1 are excitatory, the rest inhibitory.
    """

    def __init__(self, n_exc: int = 800, n_inh: int = 200, p_connect: float = 0.1, J: float = 0.5, g: float = 8.0,
                 eta: float = 2.0, tau: float = 20e-3, tau_syn: float = 0.5e-3, threshold: float = 20.0,
                 v_reset: float = 10.0, refractory: float = 2e-3, dt: float = 1e-4, seed=0):
        self.n_exc = check_int("n_exc", n_exc, low=1)
        self.n_inh = check_int("n_inh", n_inh, low=0)
        keys = (self.n_exc + self.n_inh) * max(self.n_exc, self.n_inh)
        if keys > MAX_KEYS:  # bounded before _connect draws its (N, n_exc) and (N, n_inh) key matrices
            raise fail("n_exc, n_inh", f"(n_exc + n_inh)·max(n_exc, n_inh) <= {MAX_KEYS} random keys (1 GiB); "
                       "Brunel's 10,000 + 2,500 fits", f"{self.n_exc} + {self.n_inh}", described=True)
        self.p_connect = check_float("p_connect", p_connect, low=0.0, high=1.0)
        self.J = check_float("J", J)
        self.g = check_float("g", g, low=0.0)
        self.eta = check_float("eta", eta, low=0.0)
        self.tau, self.dt = check_tau_dt(tau, dt)
        self.tau_syn, _ = check_tau_dt(tau_syn, dt, "tau_syn")
        self.threshold = check_float("threshold", threshold)
        self.v_reset = check_float("v_reset", v_reset)
        if self.v_reset >= self.threshold:
            raise fail("v_reset", f"a value below threshold = {self.threshold:g}", self.v_reset)
        self.refractory = check_float("refractory", refractory, low=0.0)
        self.seed = check_seed("seed", seed)
        self.c_exc_ = int(round(self.p_connect * self.n_exc))
        self.c_inh_ = int(round(self.p_connect * self.n_inh))
        self.nu_thr_ = self.threshold / (abs(self.J) * max(self.c_exc_, 1) * self.tau) if self.J else 0.0
        self.nu_ext_ = self.eta * self.nu_thr_
        if isinstance(self.seed, np.random.Generator):
            conn_rng, self._run_seed = self.seed, int(self.seed.integers(2 ** 63))
        else:
            conn_ss, self._run_seed = np.random.SeedSequence(self.seed).spawn(2)
            conn_rng = np.random.default_rng(conn_ss)
        self.weights_ = self._connect(conn_rng)
        wt = self.weights_.T.tocsr()
        wt.sort_indices()
        self._pre = (wt.indptr.astype(np.int64), wt.indices.astype(np.int64), wt.data)

    @property
    def n_neurons(self) -> int:
        return self.n_exc + self.n_inh

    def _connect(self, rng):
        import scipy.sparse as sp

        n = self.n_neurons
        rows, cols, vals = [], [], []
        for lo, size, c, w in ((0, self.n_exc, self.c_exc_, self.J), (self.n_exc, self.n_inh, self.c_inh_,
                                                                        -self.g * self.J)):
            if c == 0:
                continue
            keys = rng.random((n, size))
            own = np.arange(n) - lo  # no self-connections
            inside = (own >= 0) & (own < size)
            keys[np.flatnonzero(inside), own[inside]] = 2.0
            pre = np.argpartition(keys, c - 1, axis=1)[:, :c] + lo
            rows.append(np.repeat(np.arange(n), c))
            cols.append(pre.ravel())
            vals.append(np.full(n * c, w))
        if not rows:
            return sp.csr_matrix((n, n))
        W = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        W.sort_indices()
        return W

    def run(self, input_current=None, n_steps: int | None = None, input_weights=None, record_v: bool = False,
            v0=None, backend: str = "fast") -> SpikeResult:
        """Simulate from v0 (None: uniform in [v_reset, threshold) from the seed). input_current:
        None (no injected current; n_steps required), (T, N) or (N,) held for n_steps; with
        input_weights (N, M), it is (T, M) or (M,) and the injected current is u @ input_weights.T.
        Same seed, same result. With record_v: v and the synaptic input h (`aux`)."""
        n = self.n_neurons
        if input_current is None:
            if input_weights is not None:
                raise fail("input_current", "an array when input_weights is given", None)
            if n_steps is None:
                raise fail("n_steps", "the number of steps when input_current is None", None)
            h_ext, n_steps = np.zeros((1, n)), check_int("n_steps", n_steps, low=1)
        elif input_weights is None:
            h_ext, n_steps = prepare_current(input_current, n_steps, n, "input_current")
        else:
            w_in = check_array("input_weights", input_weights, ndim=2, dtype=np.float64, min_size=1)
            if w_in.shape[0] != n:
                raise fail("input_weights", f"shape ({n}, M)", f"shape {w_in.shape}", described=True)
            u, n_steps = prepare_current(input_current, n_steps, w_in.shape[1], "input_current")
            h_ext = u @ w_in.T
        record_v = check_bool("record_v", record_v)
        fast = check_backend(backend) == "fast"
        rng = np.random.default_rng(self._run_seed)
        v = rng.uniform(self.v_reset, self.threshold, n) if v0 is None else prepare_v0(v0, n)
        h, s, ref = np.zeros(n), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.int64)
        spikes = np.zeros((n_steps, n), dtype=np.bool_)
        m = n_steps if record_v else 0
        v_out, h_out = np.zeros((m, n)), np.zeros((m, n))
        alpha_s = math.exp(-self.dt / self.tau_syn)
        consts = (math.exp(-self.dt / self.tau), -math.expm1(-self.dt / self.tau), alpha_s,
                  self.tau * (1.0 - alpha_s) / self.dt, self.J, self.threshold, self.v_reset,
                  int(round(self.refractory / self.dt)))
        lam = self.c_exc_ * self.nu_ext_ * self.dt
        held = h_ext.shape[0] == 1
        if fast:
            from labkit.spiking import kernels
        for t0 in range(0, n_steps, CHUNK):
            k = min(CHUNK, n_steps - t0)
            counts = external_counts(rng, lam, k, n)
            block = h_ext if held else h_ext[t0:t0 + k]
            if fast:
                kernels.network_chunk(k, block, held, counts, *consts, *self._pre, v, h, s, ref, record_v, spikes,
                                      v_out, h_out, t0)
            else:
                network_chunk_readable(k, block, held, counts, *consts, self.weights_, v, h, s, ref, record_v,
                                       spikes, v_out, h_out, t0)
        if not record_v:
            return SpikeResult(spikes=spikes, dt=self.dt)
        return SpikeResult(spikes=spikes, dt=self.dt, v=v_out, aux=h_out, aux_name="h_syn")

    def mean_field(self, current: float = 0.0) -> dict:
        """Brunel's self-consistent stationary state for this network (every neuron firing at nu):
        mu = current + J tau (C_E nu_ext + (C_E - g C_I) nu), sigma^2 = J^2 tau (C_E nu_ext +
        (C_E + g^2 C_I) nu), nu = siegert(mu, sigma) (eq. 21, Fourcaud-Brunel shift for tau_syn).
        Returns {"rate": Hz, "cv": CV of ISIs, "mu": ..., "sigma": ...}."""
        from scipy.optimize import brentq

        current = check_float("current", current)
        ce, ci, J, tau = self.c_exc_, self.c_inh_, self.J, self.tau

        def moments(nu):
            mu = current + J * tau * (ce * self.nu_ext_ + (ce - self.g * ci) * nu)
            var = J * J * tau * (ce * self.nu_ext_ + (ce + self.g ** 2 * ci) * nu)
            return mu, math.sqrt(max(var, 1e-300))

        def phi(nu):
            mu, sigma = moments(nu)
            return siegert(mu, sigma, tau, self.threshold, self.v_reset, self.refractory, self.tau_syn)

        top = 1.0 / self.refractory if self.refractory > 0 else 1.0 / self.dt
        nu = brentq(lambda x: phi(x)[0] - x, 0.0, top, xtol=1e-6)
        mu, sigma = moments(nu)
        return {"rate": float(nu), "cv": phi(nu)[1], "mu": mu, "sigma": sigma}

    def snapshot(self) -> dict:
        """The network's wiring as plain data: CSR arrays of W (row = post, column = pre) and the
        excitatory / inhibitory split."""
        W = self.weights_
        return {"indptr": W.indptr.copy(), "indices": W.indices.copy(), "data": W.data.copy(),
                "shape": W.shape, "n_exc": self.n_exc, "n_inh": self.n_inh}
