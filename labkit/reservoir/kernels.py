"""The ESN state update compiled with numba: the loop of `esn.run_states` (the readable path) over a CSR W.

    x[t] = (1 - lr) x[t-1] + lr f(W x[t-1] + drive[t]),   drive[t] = Win u[t] + bias

`lr` is one value per unit, so the same kernel steps one reservoir or a batch of them stacked as one
block-diagonal W (`batch.ESNBatch`): each row only reads its own block, so every reservoir's states are
the ones it would have alone. The sparse product sums each row as scipy's `csr_matvec`
does (`csr_matvec` here), so both paths agree to rounding (tests/test_api.py holds backend="fast" to
backend="readable").
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ACTIVATIONS = {"tanh": 0, "identity": 1, "sigmoid": 2, "relu": 3}


def csr(W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data) of a CSR matrix for the kernels, the integer arrays as unsigned: numba then
    indexes without the negative-index wraparound test (about 2x on the sparse product); column indices in
    16 bits where they fit, a sixth fewer bytes streamed per step (500 units: 0.043 -> 0.033 s a run)."""
    u = {4: np.uint32, 8: np.uint64}
    indices = W.indices.astype(np.uint16) if W.shape[1] <= 1 << 16 else W.indices.view(u[W.indices.itemsize])
    return W.indptr.view(u[W.indptr.itemsize]), indices, W.data

# tanh without a libm call per unit: tanh(y) = -expm1(-2y) / (2 + expm1(-2y)) for y = |a|, with
# expm1(z) = 2^-k (1 + expm1(r)) - 1, z = -k ln2 + r, |r| <= ln2 / 2 (Cody & Waite's reduction, ln2 split in
# two; expm1(r) by its Taylor series to r^14, error < 1e-17 there; 2^-k, 0 <= k <= 56, as the product of its
# binary digits). Within 5e-16 of libm's tanh over the real line (tests/test_reservoir_batch.py); saturates to
# +-1 beyond |a| = 19.5. Written without a table or a branch, and compiled with numpy's error model (no
# zero-division test), so that a loop over units runs it in SIMD lanes (about 5x a scalar call).
LN2_HI, LN2_LO, INV_LN2 = 6.93147180369123816490e-01, 1.90821492927058770002e-10, 1.44269504088896338700e+00


@njit(cache=True, inline="always", error_model="numpy")
def tanh(a):
    y = min(abs(a), 19.5)
    k = int(2.0 * y * INV_LN2 + 0.5)    # nearest integer to 2y / ln2
    r = (k * LN2_HI - 2.0 * y) + k * LN2_LO
    p = r * r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (
        1 / 40320 + r * (1 / 362880 + r * (1 / 3628800 + r * (1 / 39916800 + r * (1 / 479001600 + r * (
            1 / 6227020800 + r * (1 / 87178291200)))))))))))))
    s = ((0.5 if k & 1 else 1.0) * (0.25 if k & 2 else 1.0) * (0.0625 if k & 4 else 1.0)
         * (2.0 ** -8 if k & 8 else 1.0) * (2.0 ** -16 if k & 16 else 1.0) * (2.0 ** -32 if k & 32 else 1.0))
    em1 = s * (r + p) + (s - 1.0)
    t = -em1 / (2.0 + em1)
    return t if a >= 0 else -t


@njit(cache=True, inline="always")
def csr_matvec(indptr, indices, data, x, y):
    """y <- W x for a CSR matrix W (indptr, indices, data). Each row is summed in stored order, as scipy's
    `csr_matvec` sums it, so both agree bit for bit; four rows are summed side by side, so that the adds of
    one row overlap those of the others instead of waiting on each other (1.5-2x on a 1000-unit W)."""
    n = y.shape[0]
    i = 0
    while i + 4 <= n:
        a0, a1, a2, a3, end = indptr[i], indptr[i + 1], indptr[i + 2], indptr[i + 3], indptr[i + 4]
        m = min(a1 - a0, a2 - a1, a3 - a2, end - a3)   # the steps all four rows have
        s0 = s1 = s2 = s3 = 0.0
        for j in range(m):
            s0 += data[a0 + j] * x[indices[a0 + j]]
            s1 += data[a1 + j] * x[indices[a1 + j]]
            s2 += data[a2 + j] * x[indices[a2 + j]]
            s3 += data[a3 + j] * x[indices[a3 + j]]
        for jj in range(a0 + m, a1):
            s0 += data[jj] * x[indices[jj]]
        for jj in range(a1 + m, a2):
            s1 += data[jj] * x[indices[jj]]
        for jj in range(a2 + m, a3):
            s2 += data[jj] * x[indices[jj]]
        for jj in range(a3 + m, end):
            s3 += data[jj] * x[indices[jj]]
        y[i], y[i + 1], y[i + 2], y[i + 3] = s0, s1, s2, s3
        i += 4
    while i < n:
        s = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            s += data[jj] * x[indices[jj]]
        y[i] = s
        i += 1


@njit(cache=True, error_model="numpy")
def esn_states(indptr, indices, data, X, Win, bias, x0, lr, act):
    """(T, N) states for inputs X (T, d) from state x0 (N,): Win (N, d), bias (N,), lr (N,) leak per unit,
    act an ACTIVATIONS code. The drive Win u[t] + bias is formed unit by unit inside the step (for one
    input, the very product and sum numpy forms), not as a (T, N) array first: half the memory traffic of a
    long run (50,000 steps x 1000 units: 400 MB never allocated)."""
    T, d = X.shape
    N = x0.shape[0]
    out = np.empty((T, N))
    x = x0.copy()
    pre = np.empty(N)
    drive = np.empty(N)
    for t in range(T):
        csr_matvec(indptr, indices, data, x, pre)
        for i in range(N):
            u = 0.0
            for k in range(d):
                u += X[t, k] * Win[i, k]
            drive[i] = u + bias[i]
        if act == 0:   # one branch per step, so that the unit loops below have none
            for i in range(N):
                pre[i] = tanh(pre[i] + drive[i])
        elif act == 1:
            for i in range(N):
                pre[i] = pre[i] + drive[i]
        elif act == 2:
            for i in range(N):
                pre[i] = 1.0 / (1.0 + math.exp(-(pre[i] + drive[i])))
        else:
            for i in range(N):
                a = pre[i] + drive[i]
                pre[i] = a if a > 0.0 else 0.0
        for i in range(N):
            x[i] = (1.0 - lr[i]) * x[i] + lr[i] * pre[i]
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
    e, h = np.empty(N), np.empty(N)
    for t in range(T):
        csr_matvec(ie, je, de, x, e)
        csr_matvec(ii, ji, di, x, h)
        for i in range(N):
            a = scale * (e[i] - omega[i] * h[i]) + drive[t, i]
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
