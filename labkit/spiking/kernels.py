"""The fast path: numba loops over (step, neuron) doing, element by element, the same float64
operations in the same order as the readable numpy step loops (lif.py, alif.py, network.py), so
the spikes are identical (tests/test_spiking_*.py assert it). The Izhikevich kernel is the
readable function itself, compiled (izhikevich.py, labkit.jit.jitable)."""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from labkit import jit
from labkit.spiking import izhikevich

jit.register()   # the readable helpers izhikevich.py marks, before the kernels that call them


@register_jitable
def refractory_left(count, spiked, n_ref):
    """Steps of refractoriness left after this step: n_ref after a spike, else one fewer (not below 0);
    the readable paths' np.where(s_new, n_ref, np.where(refractory, ref - 1, 0))."""
    if spiked:
        return n_ref
    return count - 1 if count > 0 else 0


@njit(cache=True)
def _lif_plain(drive, held, n_steps, beta, threshold, reset, u, s, spikes, v, record_v):
    """No refractory period: one branch-free pass per step (a select per neuron, so LLVM can
    vectorise over neurons); the same operations, in the same order, as lif_readable."""
    n = u.shape[0]
    for t in range(n_steps):
        d = drive[0] if held else drive[t]
        out = spikes[t]
        if reset == 0:
            for i in range(n):
                ui = beta * u[i] + d[i] - (threshold if s[i] else 0.0)
                u[i] = ui
                s[i] = ui > threshold
                out[i] = ui > threshold
        elif reset == 1:
            for i in range(n):
                ui = beta * (0.0 if s[i] else u[i]) + d[i]
                u[i] = ui
                s[i] = ui > threshold
                out[i] = ui > threshold
        else:
            for i in range(n):
                ui = beta * u[i] + d[i]
                u[i] = ui
                s[i] = ui > threshold
                out[i] = ui > threshold
        if record_v:
            v[t] = u


@njit(cache=True)
def lif_run(x, n_steps, beta, gain, threshold, reset, n_ref, u0, record_v):
    """lif.lif_readable, one neuron at a time. Returns (spikes (T, N), v (T, N) or (0, N))."""
    n = x.shape[1]
    held = x.shape[0] == 1
    u = u0.copy()
    s = np.empty(n, dtype=np.bool_)
    for i in range(n):
        s[i] = u[i] > threshold
    spikes = np.empty((n_steps, n), dtype=np.bool_)
    v = np.zeros((n_steps if record_v else 0, n))
    drive = gain * x  # gain * I, as lif_readable computes it
    if n_ref == 0:
        _lif_plain(drive, held, n_steps, beta, threshold, reset, u, s, spikes, v, record_v)
        return spikes, v
    ref = np.zeros(n, dtype=np.int64)
    for t in range(n_steps):
        row = 0 if held else t
        for i in range(n):
            refractory = ref[i] > 0
            di = 0.0 if refractory else drive[row, i]
            if reset == 0:
                ui = beta * u[i] + di - (threshold if s[i] else 0.0)
            elif reset == 1:
                ui = beta * (0.0 if s[i] else u[i]) + di
            else:
                ui = beta * u[i] + di
            si = ui > threshold and not refractory
            ref[i] = refractory_left(ref[i], si, n_ref)
            u[i] = ui
            s[i] = si
            spikes[t, i] = si
            if record_v:
                v[t, i] = ui
    return spikes, v


@njit(cache=True)
def alif_run(x, n_steps, alpha, gain, threshold, rho, beta_adapt, reset, n_ref, u0, a0, record):
    """alif.alif_readable, one neuron at a time. Returns (spikes, v, A) (v, A empty unless record)."""
    n = x.shape[1]
    held = x.shape[0] == 1
    u = u0.copy()
    a = a0.copy()
    s = np.zeros(n, dtype=np.bool_)
    thr_prev = np.empty(n)
    for i in range(n):
        thr_prev[i] = threshold + beta_adapt * a[i]
    ref = np.zeros(n, dtype=np.int64)
    spikes = np.zeros((n_steps, n), dtype=np.bool_)
    m = n_steps if record else 0
    v = np.zeros((m, n))
    thr_out = np.zeros((m, n))
    for t in range(n_steps):
        row = 0 if held else t
        for i in range(n):
            refractory = ref[i] > 0
            drive = gain * x[row, i]
            if n_ref > 0 and refractory:
                drive = 0.0
            ai = rho * a[i] + (1.0 if s[i] else 0.0)
            thr = threshold + beta_adapt * ai
            if reset == 0:
                ui = alpha * u[i] + drive - (thr_prev[i] if s[i] else 0.0)
            else:
                ui = alpha * (0.0 if s[i] else u[i]) + drive
            si = ui > thr and not refractory
            ref[i] = refractory_left(ref[i], si, n_ref)
            u[i] = ui
            a[i] = ai
            s[i] = si
            thr_prev[i] = thr
            spikes[t, i] = si
            if record:
                v[t, i] = ui
                thr_out[t, i] = thr
    return spikes, v, thr_out


izhikevich_run = njit(cache=True)(izhikevich.izhikevich_readable)


@njit(cache=True)
def network_chunk(n_steps, h_ext, held, ext_counts, alpha_m, gain_m, alpha_s, syn_scale, j_ext, threshold,
                  v_reset, n_ref, pre_ptr, pre_idx, pre_w, v, h, s, ref, record, spikes, v_out, h_out, t0):
    """network.network_chunk_readable, event-driven: a spiking neuron adds its outgoing weights
    (CSR by presynaptic neuron, ascending) to its targets, the same sums in the same order as the
    readable path's sparse mat-vec. Writes steps t0 .. t0+n_steps-1 of spikes / v_out / h_out."""
    n = v.shape[0]
    acc = np.zeros(n)
    for k in range(n_steps):
        for i in range(n):
            acc[i] = 0.0
        for j in range(n):
            if s[j]:
                for p in range(pre_ptr[j], pre_ptr[j + 1]):
                    acc[pre_idx[p]] += pre_w[p]
        row = 0 if held else k
        t = t0 + k
        for i in range(n):
            hi = alpha_s * h[i] + syn_scale * (acc[i] + j_ext * ext_counts[k, i])
            refractory = ref[i] > 0
            if refractory:
                vi = v_reset
            else:
                vi = alpha_m * (v_reset if s[i] else v[i]) + gain_m * (h_ext[row, i] + hi)
            si = vi > threshold and not refractory
            ref[i] = refractory_left(ref[i], si, n_ref)
            v[i] = vi
            h[i] = hi
            s[i] = si
            spikes[t, i] = si
            if record:
                v_out[t, i] = vi
                h_out[t, i] = hi
