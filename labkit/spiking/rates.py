"""Analytic firing rates of the LIF neuron under a constant current (reset to zero).

Continuous time (dt=None): tau dU/dt = -U + I, reset to 0 at threshold theta, refractory t_ref.
From 0 the membrane reaches theta after T = tau ln(I / (I - theta)) (I > theta), so

    f = 1 / (t_ref + tau ln(I / (I - theta)))      (Gerstner, Kistler, Naud & Paninski 2014,
                                                    Neuronal Dynamics, Ch. 1: LIF under constant current)

Discrete time (dt given): the exact update of lif.py, U[k] = beta U[k-1] + (1 - beta) I, from 0
gives U[k] = I (1 - beta^k); the neuron fires at the first k with U[k] > theta,

    k = floor(ln(1 - theta / I) / ln beta) + 1,    f = 1 / ((k + n_ref) dt),   n_ref = round(t_ref / dt)

which `LIF(tau, dt, reset="zero", refractory=t_ref)` reproduces to one spike per window.
"""

from __future__ import annotations

import numpy as np

from labkit.spiking.common import check_tau_dt
from labkit.validate import check_array, check_float

__all__ = ["lif_rate"]


def lif_rate(current, tau: float = 20e-3, threshold: float = 1.0, dt: float | None = None,
             refractory: float = 0.0) -> np.ndarray:
    """Firing rate in Hz of a zero-reset LIF under constant `current` (array or scalar, threshold
    units as LIF(tau=...)): continuous-time f-I curve when dt is None, the exact rate of the
    discrete update when dt is given. 0 where the current never reaches threshold."""
    scalar = np.ndim(current) == 0
    current = check_array("current", current, dtype=np.float64)
    threshold = check_float("threshold", threshold, low=0.0, low_open=True)
    refractory = check_float("refractory", refractory, low=0.0)
    if dt is None:
        tau = check_float("tau", tau, low=0.0, low_open=True)
    else:
        tau, dt = check_tau_dt(tau, dt)
    out = np.zeros(current.shape)
    on = current > threshold
    i_on = current[on]
    if dt is None:
        out[on] = 1.0 / (refractory + tau * np.log(i_on / (i_on - threshold)))
    else:
        k = np.floor(np.log1p(-threshold / i_on) / (-dt / tau)) + 1
        out[on] = 1.0 / ((k + round(refractory / dt)) * dt)
    return float(out) if scalar else out
