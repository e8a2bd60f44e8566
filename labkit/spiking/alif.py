"""Adaptive LIF: the LIF of lif.py whose threshold rises at each spike and relaxes back.

The adaptive threshold of the LSNN (Bellec, Salaj, Subramoney, Legenstein & Maass 2018, "Long
short-term memory and learning-to-learn in networks of spiking neurons", NeurIPS, Sect. 2 / Methods):
A(t) = threshold + beta_adapt a(t), with a(t) a low-pass of the neuron's own spikes. We use the
per-spike normalisation (a jumps by 1 at each spike; beta_adapt is the threshold increase per
spike, the `beta` of Norse's LSNNParameters, norse/torch/functional/lsnn.py):

    a[t] = rho a[t-1] + S[t-1],                    rho = exp(-dt / tau_adapt)
    A[t] = threshold + beta_adapt a[t]
    U[t] = alpha U[t-1] + (1 - alpha) I[t] - S[t-1] A[t-1]      reset="subtract" (Bellec et al.)
    U[t] = alpha (1 - S[t-1]) U[t-1] + (1 - alpha) I[t]         reset="zero" (Norse)
    S[t] = U[t] > A[t]                              alpha = exp(-dt / tau)

(the membrane is integrated exactly over a step, as in lif.py). Under a step current the ISIs
lengthen until the adaptation balances the drive; refractory as in lif.py.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.base import Estimator
from labkit.spiking.common import check_tau_dt, prepare_current, prepare_v0, run_backend
from labkit.spiking.result import SpikeResult
from labkit.validate import check_bool, check_choice, check_float

__all__ = ["ALIF", "alif_readable"]


def alif_readable(x, n_steps, alpha, gain, threshold, rho, beta_adapt, reset, n_ref, u0, a0, record):
    """The teaching path: one numpy update per step. Returns (spikes, v, A), v and A (0, N) unless record."""
    n = x.shape[1]
    u, a = u0.copy(), a0.copy()
    s = np.zeros(n, dtype=np.bool_)
    thr_prev = threshold + beta_adapt * a
    ref = np.zeros(n, dtype=np.int64)
    spikes = np.zeros((n_steps, n), dtype=np.bool_)
    m = n_steps if record else 0
    v, thr_out = np.zeros((m, n)), np.zeros((m, n))
    for t in range(n_steps):
        refractory = ref > 0
        drive = gain * (x[t] if x.shape[0] > 1 else x[0])
        if n_ref > 0:
            drive = np.where(refractory, 0.0, drive)
        a = rho * a + np.where(s, 1.0, 0.0)
        thr = threshold + beta_adapt * a
        if reset == 0:
            u = alpha * u + drive - np.where(s, thr_prev, 0.0)
        else:
            u = alpha * np.where(s, 0.0, u) + drive
        s = (u > thr) & ~refractory
        ref = np.where(s, n_ref, np.where(refractory, ref - 1, 0))
        thr_prev = thr
        spikes[t] = s
        if record:
            v[t], thr_out[t] = u, thr
    return spikes, v, thr_out


class ALIF(Estimator):
    """Adaptive-threshold LIF population (LSNN neurons).

    ALIF(tau=20e-3, tau_adapt=200e-3, beta_adapt=0.05, dt=1e-3, threshold=1.0, reset="subtract",
         refractory=0.0)

    tau         membrane time constant (s); input in threshold units, U <- alpha U + (1 - alpha) I.
    tau_adapt   time constant of the threshold's relaxation (s).
    beta_adapt  threshold increase per spike (>= 0; 0 gives the plain LIF).
    reset       "subtract" (the threshold it fired at) or "zero".
    """

    def __init__(self, tau: float = 20e-3, tau_adapt: float = 200e-3, beta_adapt: float = 0.05, dt: float = 1e-3,
                 threshold: float = 1.0, reset: str = "subtract", refractory: float = 0.0):
        self.tau, self.dt = check_tau_dt(tau, dt)
        self.tau_adapt, _ = check_tau_dt(tau_adapt, dt, "tau_adapt")
        self.beta_adapt = check_float("beta_adapt", beta_adapt, low=0.0)
        self.threshold = check_float("threshold", threshold, low=0.0, low_open=True)
        self.reset = check_choice("reset", reset, ("subtract", "zero"))
        self.refractory = check_float("refractory", refractory, low=0.0)
        self.alpha_ = math.exp(-self.dt / self.tau)
        self.gain_ = -math.expm1(-self.dt / self.tau)
        self.rho_ = math.exp(-self.dt / self.tau_adapt)
        self.n_ref_ = int(round(self.refractory / self.dt))

    def run(self, current, n_steps: int | None = None, record_v: bool = False, v0=None,
            backend: str = "fast") -> SpikeResult:
        """Simulate from rest (a = 0). current: (T, N), or (N,) held for n_steps. With record_v,
        the result also holds v (T, N) and the adaptive threshold A (T, N) as `aux`."""
        x, n_steps = prepare_current(current, n_steps)
        record_v = check_bool("record_v", record_v)
        n = x.shape[1]
        args = (x, n_steps, self.alpha_, self.gain_, self.threshold, self.rho_, self.beta_adapt,
                0 if self.reset == "subtract" else 1, self.n_ref_, prepare_v0(v0, n), np.zeros(n), record_v)
        spikes, v, thr = run_backend(backend, "alif_run", alif_readable, args)
        traces = {"v": v, "aux": thr, "aux_name": "threshold"} if record_v else {}
        return SpikeResult(spikes=spikes, dt=self.dt, **traces)
