"""The ESN state update compiled with numba: the loop of `esn.run_states` (the readable path) over a CSR W.

    x[t] = (1 - lr) x[t-1] + lr f(W x[t-1] + drive[t]),   drive[t] = Win u[t] + bias

`lr` is one value per unit, so the same kernel steps one reservoir or a batch of them stacked as one
block-diagonal W (`batch.ESNBatch`): each row only reads its own block, so every reservoir's states are
the ones it would have alone. The sparse product sums each row in column order, as scipy's
`csr_matvec` does, so both paths agree to rounding (tests/test_api.py holds backend="fast" to
backend="readable").
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ACTIVATIONS = {"tanh": 0, "identity": 1, "sigmoid": 2, "relu": 3}


@njit(cache=True)
def esn_states(indptr, indices, data, drive, x0, lr, act):
    """(T, N) states for a (T, N) drive from state x0 (N,); lr (N,) leak per unit; act: ACTIVATIONS code."""
    T, N = drive.shape
    out = np.empty((T, N))
    x = x0.copy()
    pre = np.empty(N)
    for t in range(T):
        for i in range(N):
            s = 0.0
            for jj in range(indptr[i], indptr[i + 1]):
                s += data[jj] * x[indices[jj]]
            pre[i] = s + drive[t, i]
        for i in range(N):
            a = pre[i]
            if act == 0:
                a = math.tanh(a)
            elif act == 2:
                a = 1.0 / (1.0 + math.exp(-a))
            elif act == 3:
                a = a if a > 0.0 else 0.0
            x[i] = (1.0 - lr[i]) * x[i] + lr[i] * a
            out[t, i] = x[i]
    return out


@njit(cache=True)
def ei_adapt(ie, je, de, ii, ji, di, drive, x0, lr, act, omega0, rho, eta, scale):
    """The loop of `ei.adapt_states` (the readable path): (states (T, N), omega (N,)) with W_E, W_I as
    CSR triplets; each step x <- (1 - lr) x + lr f(scale (W_E x - omega W_I x) + drive[t]), then
    omega <- max(0, omega + eta (x - rho))."""
    T, N = drive.shape
    out = np.empty((T, N))
    x = x0.copy()
    omega = omega0.copy()
    pre = np.empty(N)
    for t in range(T):
        for i in range(N):
            e = 0.0
            for jj in range(ie[i], ie[i + 1]):
                e += de[jj] * x[je[jj]]
            h = 0.0
            for jj in range(ii[i], ii[i + 1]):
                h += di[jj] * x[ji[jj]]
            pre[i] = scale * (e - omega[i] * h) + drive[t, i]
        for i in range(N):
            a = pre[i]
            if act == 0:
                a = math.tanh(a)
            elif act == 2:
                a = 1.0 / (1.0 + math.exp(-a))
            elif act == 3:
                a = a if a > 0.0 else 0.0
            x[i] = (1.0 - lr) * x[i] + lr * a
            out[t, i] = x[i]
            w = omega[i] + eta * (x[i] - rho[i])
            omega[i] = w if w > 0.0 else 0.0
    return out, omega
