"""numba twins of quant.py's hot path: quantize + pack and unpack + dequantize in one pass each.

Same arithmetic (float32, round half to even, scales rounded to scale_dtype before the codes are
chosen) and the same packed layout as `UniformQuantizer` — tests assert identical bytes and
values. Used for asymmetric quantization when 8 % bits == 0 (the bit widths KV caches use) and
groups fill whole bytes (group_size % (8 // bits) == 0, checked by the caller); everything else
takes the readable torch path. Each output byte is assembled in a register and written once;
the min/max pass runs along head_dim (the contiguous axis) innermost and checks finiteness.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def group_minmax(x, G, channel):
    """x (L, T, D) float32 -> (min, max, finite). channel: groups of G tokens of one channel,
    shape (L, D, T//G); token: groups of G channels of one token, shape (L, T, D//G).
    finite is False if any element is NaN or inf (checked in the same pass)."""
    L, T, D = x.shape
    rows = L * (T // G) if channel else L * T
    bad = np.zeros(rows, np.bool_)
    if channel:
        mn = np.empty((L, D, T // G), np.float32)
        mx = np.empty((L, D, T // G), np.float32)
        for r in prange(rows):
            lead, tg = r // (T // G), r % (T // G)
            lo = x[lead, tg * G].copy()
            hi = lo.copy()
            acc = np.float32(0)
            for j in range(G):
                row = x[lead, tg * G + j]
                for d in range(D):
                    v = row[d]
                    acc += v - v  # NaN if v is NaN or inf
                    lo[d] = min(lo[d], v)
                    hi[d] = max(hi[d], v)
            bad[r] = acc != 0
            mn[lead, :, tg] = lo
            mx[lead, :, tg] = hi
    else:
        mn = np.empty((L, T, D // G), np.float32)
        mx = np.empty((L, T, D // G), np.float32)
        for r in prange(rows):
            lead, t = r // T, r % T
            acc = np.float32(0)
            for g in range(D // G):
                lo = x[lead, t, g * G]
                hi = lo
                for j in range(G):
                    v = x[lead, t, g * G + j]
                    acc += v - v
                    lo = min(lo, v)
                    hi = max(hi, v)
                mn[lead, t, g] = lo
                mx[lead, t, g] = hi
            bad[r] = acc != 0
    return mn, mx, not bad.any()


@njit(cache=True, inline="always")
def _code(v, zero, s, qmax):
    c = np.rint((v - zero) / s) if s > np.float32(0) else np.float32(0)
    return np.uint8(min(max(c, np.float32(0)), qmax))


@njit(cache=True, parallel=True)
def quantize_pack(x, zero, scale, G, bits, channel):
    """Codes in the grouped order of quant._grouped, packed 8//bits per byte, low bits first."""
    L, T, D = x.shape
    per = 8 // bits
    qmax = np.float32(2 ** bits - 1)
    out = np.empty(L * T * D * bits // 8, np.uint8)
    if channel:
        ng = T // G
        for r in prange(L * ng):
            lead, tg = r // ng, r % ng
            for d in range(D):
                z, s = zero[lead, d, tg], scale[lead, d, tg]
                base = ((lead * D + d) * ng + tg) * G  # the group's first code
                for j in range(0, G, per):  # one byte: tokens j .. j+per−1 of channel d
                    byte = np.uint8(0)
                    for k in range(per):
                        byte |= _code(x[lead, tg * G + j + k, d], z, s, qmax) << np.uint8(k * bits)
                    out[(base + j) // per] = byte
    else:
        ng = D // G
        for r in prange(L * T):
            lead, t = r // T, r % T
            for g in range(ng):
                z, s = zero[lead, t, g], scale[lead, t, g]
                base = ((lead * T + t) * ng + g) * G
                for j in range(0, G, per):
                    byte = np.uint8(0)
                    for k in range(per):
                        byte |= _code(x[lead, t, g * G + j + k], z, s, qmax) << np.uint8(k * bits)
                    out[(base + j) // per] = byte
    return out


@njit(cache=True, parallel=True)
def unpack_dequantize(packed, zero, scale, L, T, D, G, bits, channel):
    """x̂ (L, T, D) float32 = code · scale + zero, from quantize_pack's layout."""
    per = 8 // bits
    mask = np.uint8(2 ** bits - 1)
    x = np.empty((L, T, D), np.float32)
    if channel:
        ng = T // G
        for r in prange(L * ng):
            lead, tg = r // ng, r % ng
            for d in range(D):
                z, s = zero[lead, d, tg], scale[lead, d, tg]
                base = ((lead * D + d) * ng + tg) * G
                for j in range(0, G, per):
                    byte = packed[(base + j) // per]
                    for k in range(per):
                        x[lead, tg * G + j + k, d] = np.float32((byte >> np.uint8(k * bits)) & mask) * s + z
    else:
        ng = D // G
        for r in prange(L * T):
            lead, t = r // T, r % T
            for g in range(ng):
                z, s = zero[lead, t, g], scale[lead, t, g]
                base = ((lead * T + t) * ng + g) * G
                for j in range(0, G, per):
                    byte = packed[(base + j) // per]
                    for k in range(per):
                        x[lead, t, g * G + j + k] = np.float32((byte >> np.uint8(k * bits)) & mask) * s + z
    return x
