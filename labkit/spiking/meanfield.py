"""Mean-field rate and ISI variability of an LIF neuron driven by Gaussian white noise.

Membrane tau dV/dt = -V + mu + sigma sqrt(tau) xi(t), threshold theta, reset V_r, refractory
tau_rp. The mean first-passage time gives the stationary rate (Siegert 1951; Amit & Brunel 1997;
Brunel 2000, J Comput Neurosci 8:183, eq. 21), and its second moment the CV of the ISIs
(Brunel 2000, the CV expression accompanying eq. 21):

    1 / nu = tau_rp + tau sqrt(pi) Int_{y_r}^{y_th} e^{u^2} (1 + erf u) du
    CV^2   = 2 pi (nu tau)^2 Int_{y_r}^{y_th} e^{x^2} Int_{-inf}^{x} e^{y^2} (1 + erf y)^2 dy dx
    y_th = (theta - mu) / sigma,  y_r = (V_r - mu) / sigma

Exponentially filtered synaptic currents (time constant tau_s << tau) shift both bounds by
sigma alpha / 2 sqrt(tau_s / tau), alpha = sqrt(2) |zeta(1/2)| (Fourcaud & Brunel 2002, Neural
Computation 14(9):2057, the effective-threshold result). e^{u^2}(1 + erf u) is scipy's erfcx(-u) (no overflow).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.validate import check_float

__all__ = ["siegert"]

ZETA_HALF = -1.4603545088095868  # zeta(1/2) (scipy.special.zeta(0.5))
ALPHA_FB = math.sqrt(2.0) * abs(ZETA_HALF)


def siegert(mu: float, sigma: float, tau: float = 20e-3, threshold: float = 20.0, v_reset: float = 10.0,
            refractory: float = 2e-3, tau_syn: float = 0.0) -> tuple[float, float]:
    """(rate in Hz, CV of the ISIs) of an LIF neuron under white noise of mean `mu` and s.d. `sigma`
    (same units as threshold; tau, refractory, tau_syn in seconds; tau_syn > 0 applies the
    Fourcaud-Brunel correction for exponential synapses)."""
    from scipy.special import erfcx

    mu = check_float("mu", mu)
    sigma = check_float("sigma", sigma, low=0.0, low_open=True)
    tau = check_float("tau", tau, low=0.0, low_open=True)
    threshold = check_float("threshold", threshold)
    v_reset = check_float("v_reset", v_reset, high=threshold, high_open=True)
    refractory = check_float("refractory", refractory, low=0.0)
    tau_syn = check_float("tau_syn", tau_syn, low=0.0)
    shift = 0.5 * ALPHA_FB * math.sqrt(tau_syn / tau)
    y_th = (threshold - mu) / sigma + shift
    y_r = (v_reset - mu) / sigma + shift
    if y_th > 12.0:  # the rate underflows: no firing
        return 0.0, float("nan")
    x = np.linspace(y_r, y_th, 4001)
    mean_fpt = tau * math.sqrt(math.pi) * np.trapezoid(erfcx(-x), x)
    rate = 1.0 / (refractory + mean_fpt)
    # inner integral from -inf (erfcx(-y)^2 e^{-y^2} is negligible below y = -8) up to every x
    y = np.linspace(min(-8.0, y_r), y_th, 20001)
    g = erfcx(-y) ** 2 * np.exp(-y * y)
    inner = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(y))])
    inner_x = np.interp(x, y, inner)
    cv2 = 2.0 * math.pi * (rate * tau) ** 2 * np.trapezoid(np.exp(x * x) * inner_x, x)
    return float(rate), float(math.sqrt(max(cv2, 0.0)))
