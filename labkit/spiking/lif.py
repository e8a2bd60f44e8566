"""The leaky integrate-and-fire neuron, discretised exactly, with snnTorch's names and reset timing.

From the RC membrane (Lapicque 1907; snnTorch tutorial 2 derives it), tau dU/dt = -U + I with the
input I held constant over a step of length dt integrates *exactly* to

    U[t] = beta U[t-1] + (1 - beta) I[t],        beta = exp(-dt / tau)                  (tau/dt)

so `current` is in units of the threshold and the rates converge to the continuous f-I curve as
dt -> 0 (`lif_rate`). snnTorch's `Leaky` takes the input as it comes (its `beta` convention):

    U[t] = beta U[t-1] + I[t]                                                           (beta)

The reset uses the *previous* step's spike S[t-1], as snnTorch 1.0.0 `Leaky` does with its
default `reset_delay=True` (snntorch/_neurons/leaky.py, `_base_sub` / `_base_zero`):

    subtract   U[t] = beta U[t-1]            + in[t] - S[t-1] threshold
    zero       U[t] = beta (1 - S[t-1]) U[t-1] + in[t]
    none       U[t] = beta U[t-1]            + in[t]
    spike      S[t] = U[t] > threshold    (strict, as snnTorch's Heaviside)

"subtract" removes `threshold` (not beta * threshold): that is what snnTorch's code does and what
`Leaky`'s own docstring writes; its tutorial 3 writes beta * U_thr (snnTorch issue #341). labkit
follows the code, so the two compare spike for spike (tests/test_spiking_lif.py pins it).
Refractory period: for n_ref = round(refractory / dt) steps after a spike the input is gated off
(in[t] = 0) and the neuron cannot fire; with reset="zero" it sits at 0, so the ISI is exactly
n_ref steps longer. S[-1] is taken as v0 > threshold (snnTorch computes its first reset from mem).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.base import Estimator
from labkit.spiking.common import RESETS, check_tau_dt, prepare_current, prepare_v0, run_backend
from labkit.spiking.result import SpikeResult
from labkit.validate import check_bool, check_choice, check_float, fail

__all__ = ["LIF", "lif_readable"]

RESET_CODE = {"subtract": 0, "zero": 1, "none": 2}


def lif_readable(x: np.ndarray, n_steps: int, beta: float, gain: float, threshold: float, reset: int,
                 n_ref: int, u0: np.ndarray, record_v: bool):
    """The teaching path: one vectorised numpy update per time step (the equations above).
    x: (T, N), or (1, N) held for n_steps. Returns (spikes (T, N) bool, v (T, N) or None)."""
    n = x.shape[1]
    u = u0.copy()
    s = u > threshold                        # S[-1]
    ref = np.zeros(n, dtype=np.int64)        # refractory steps left
    spikes = np.zeros((n_steps, n), dtype=np.bool_)
    v = np.zeros((n_steps, n)) if record_v else None
    for t in range(n_steps):
        drive = gain * (x[t] if x.shape[0] > 1 else x[0])
        refractory = ref > 0
        if n_ref > 0:
            drive = np.where(refractory, 0.0, drive)
        if reset == 0:       # subtract
            u = beta * u + drive - np.where(s, threshold, 0.0)
        elif reset == 1:     # zero
            u = beta * np.where(s, 0.0, u) + drive
        else:                # none
            u = beta * u + drive
        s = (u > threshold) & ~refractory
        ref = np.where(s, n_ref, np.where(refractory, ref - 1, 0))
        spikes[t] = s
        if record_v:
            v[t] = u
    return spikes, v


class LIF(Estimator):
    """A population of leaky integrate-and-fire neurons (parameters shared, one column per neuron).

    LIF(tau=None, dt=1e-3, threshold=1.0, reset="subtract", refractory=0.0, beta=None)

    tau         membrane time constant in seconds (default 20e-3 when beta is None). Input in the
                tau/dt convention: U <- beta U + (1 - beta) I, beta = exp(-dt/tau).
    beta        instead of tau: snnTorch's decay per step in [0, 1]; input as snnTorch takes it,
                U <- beta U + I. Give tau or beta, not both.
    dt          the step in seconds (0 < dt < tau).
    threshold   firing threshold (> 0).
    reset       "subtract", "zero" or "none" (see the module docstring for each equation).
    refractory  seconds after a spike with the input gated off and no firing (a multiple of dt
                is exact; otherwise rounded to steps).
    """

    def __init__(self, tau: float | None = None, dt: float = 1e-3, threshold: float = 1.0,
                 reset: str = "subtract", refractory: float = 0.0, beta: float | None = None):
        if tau is not None and beta is not None:
            raise fail("beta", "None when tau is given (give tau or beta, not both)", beta)
        if beta is None:
            self.tau_, self.dt = check_tau_dt(20e-3 if tau is None else tau, dt)
            self.beta_ = math.exp(-self.dt / self.tau_)
            self.gain_ = -math.expm1(-self.dt / self.tau_)  # 1 - beta, without cancellation
        else:
            self.beta_ = check_float("beta", beta, low=0.0, high=1.0)
            self.dt = check_float("dt", dt, low=0.0, low_open=True)
            # the time constant beta stands for (0: no memory, 1: a perfect integrator)
            self.tau_ = (-self.dt / math.log(self.beta_) if 0.0 < self.beta_ < 1.0
                         else 0.0 if self.beta_ == 0.0 else math.inf)
            self.gain_ = 1.0
        self.tau, self.beta = tau, beta
        self.threshold = check_float("threshold", threshold, low=0.0, low_open=True)
        self.reset = check_choice("reset", reset, RESETS)
        self.refractory = check_float("refractory", refractory, low=0.0)
        self.n_ref_ = int(round(self.refractory / self.dt))

    def run(self, current, n_steps: int | None = None, record_v: bool = False, v0=None,
            backend: str = "fast") -> SpikeResult:
        """Simulate. current: (T, N), or (N,) held for n_steps. v0: None (0), a number or (N,).
        Returns a SpikeResult with spikes (T, N) and, when record_v, v (T, N)."""
        x, n_steps = prepare_current(current, n_steps)
        record_v = check_bool("record_v", record_v)
        u0 = prepare_v0(v0, x.shape[1])
        args = (x, n_steps, self.beta_, self.gain_, self.threshold, RESET_CODE[self.reset], self.n_ref_, u0,
                record_v)
        spikes, v = run_backend(backend, "lif_run", lif_readable, args)
        return SpikeResult(spikes=spikes, dt=self.dt, v=v if record_v else None)
