"""numba twins of quant.py's hot path: quantize + pack and unpack + dequantize, one pass each.

Same arithmetic (float32, round half to even, scales rounded to scale_dtype before the codes are
chosen) and the same packed layout as `UniformQuantizer` — tests assert identical bytes and
values. Used for asymmetric quantization when 8 % bits == 0 (the bit widths KV caches use) and
groups fill whole bytes (group_size % (8 // bits) == 0, checked by the caller); everything else
takes the readable torch path. A block is read once: its min/max (and a finiteness check), the
fp16-rounded scale and zero, then the codes while the block is still in cache; each output byte
is assembled in a register and written once.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _round_f16(x, f32, u32):
    # float32 -> nearest float16 (ties to even) -> float32, by bit arithmetic on the float32
    # pattern (f32/u32: one-element scratch views of the same 4 bytes; numba has no float16 math)
    a = abs(x)
    if a >= np.float32(65520.0):  # rounds past fp16's largest finite value, 65504
        return np.float32(np.inf) if x > 0 else np.float32(-np.inf)
    if a < np.float32(6.103515625e-05):  # fp16 subnormals are multiples of 2^-24
        return np.float32(np.rint(x * np.float32(16777216.0)) * np.float32(5.9604644775390625e-08))
    f32[0] = x
    b = u32[0]
    u32[0] = (b + np.uint32(0xFFF) + ((b >> np.uint32(13)) & np.uint32(1))) & np.uint32(0xFFFFE000)
    return f32[0]


def _quantize_fused(x, G, bits, channel, f16):
    """One pass per block of x (L, T, D) float32: group min/max, scale = (max − min)/(2^b − 1) and
    zero = min (rounded to fp16 when f16), codes, packing. Returns packed codes in the grouped
    order of quant._grouped, scale and zero ((L, D, T//G) for channel groups, (L, T, D//G) for
    token groups) and whether every element was finite. A zero scale divides by 1 instead: every
    value of such a group equals its zero, so its codes are 0 (the torch path does the same)."""
    L, T, D = x.shape
    per = 8 // bits
    qmax = np.float32(2 ** bits - 1)
    out = np.empty(L * T * D * bits // 8, np.uint8)
    ng = T // G if channel else D // G
    scale = np.empty((L, D, ng) if channel else (L, T, ng), np.float32)
    zero = np.empty((L, D, ng) if channel else (L, T, ng), np.float32)
    # work items: channel groups -> one (G tokens × D) block each; token groups -> 64 tokens each
    # (scratch arrays are allocated once per item, not per token)
    items = L * ng if channel else (L * T + 63) // 64
    bad = np.zeros(items, np.bool_)
    for r in prange(items):
        f32 = np.empty(1, np.float32)
        u32 = f32.view(np.uint32)
        if channel:  # block of G tokens × D channels; a group is one channel's G tokens
            lead, tg = r // ng, r % ng
            blk = x[lead, tg * G:(tg + 1) * G]
            lo, hi = blk[0].copy(), blk[0].copy()
            chk = np.zeros(D, np.float32)  # one lane per channel: the loop vectorises
            for j in range(G):
                for d in range(D):  # contiguous: vectorised
                    v = blk[j, d]
                    chk[d] += v - v  # NaN if v is NaN or inf
                    lo[d] = min(lo[d], v)
                    hi[d] = max(hi[d], v)
            inv = np.empty(D, np.float32)
            for d in range(D):
                sc, z = (hi[d] - lo[d]) / qmax, lo[d]
                if f16:
                    sc, z = _round_f16(sc, f32, u32), _round_f16(z, f32, u32)
                scale[lead, d, tg], zero[lead, d, tg] = sc, z
                lo[d], inv[d] = z, sc if sc > 0 else np.float32(1)
            codes = np.empty((G, D), np.uint8)
            for j in range(G):
                for d in range(D):
                    c = np.rint((blk[j, d] - lo[d]) / inv[d])
                    codes[j, d] = np.uint8(np.int32(min(max(c, np.float32(0)), qmax)))  # via int32: vectorises
            for j in range(0, G, per):  # byte j // per of each channel's group: tokens j .. j+per−1
                for d in range(D):
                    byte = codes[j, d]
                    for k in range(1, per):
                        byte |= codes[j + k, d] << np.uint8(k * bits)
                    out[(((lead * D + d) * ng + tg) * G + j) // per] = byte
            bad[r] = chk.sum() != 0
        else:  # tokens 64r .. 64r+63 (flattened over L); a group is G consecutive channels of one token
            codes = np.empty(D, np.uint8)
            chk = np.zeros(G, np.float32)
            for flat in range(r * 64, min(r * 64 + 64, L * T)):
                lead, t = flat // T, flat % T
                row = x[lead, t]
                for g in range(ng):
                    o = g * G
                    for j in range(G):
                        chk[j] += row[o + j] - row[o + j]
                    if G % 4 == 0:  # four independent min/max chains instead of one long one
                        a0, a1, a2, a3 = row[o], row[o + 1], row[o + 2], row[o + 3]
                        b0, b1, b2, b3 = a0, a1, a2, a3
                        for j in range(o, o + G, 4):
                            a0, b0 = min(a0, row[j]), max(b0, row[j])
                            a1, b1 = min(a1, row[j + 1]), max(b1, row[j + 1])
                            a2, b2 = min(a2, row[j + 2]), max(b2, row[j + 2])
                            a3, b3 = min(a3, row[j + 3]), max(b3, row[j + 3])
                        lo, hi = min(min(a0, a1), min(a2, a3)), max(max(b0, b1), max(b2, b3))
                    else:
                        lo, hi = row[o], row[o]
                        for j in range(o, o + G):
                            lo, hi = min(lo, row[j]), max(hi, row[j])
                    sc, z = (hi - lo) / qmax, lo
                    if f16:
                        sc, z = _round_f16(sc, f32, u32), _round_f16(z, f32, u32)
                    scale[lead, t, g], zero[lead, t, g] = sc, z
                    div = sc if sc > 0 else np.float32(1)
                    for j in range(g * G, (g + 1) * G):
                        c = np.rint((row[j] - z) / div)
                        codes[j] = np.uint8(np.int32(min(max(c, np.float32(0)), qmax)))
                base = flat * D // per
                for i in range(D // per):
                    byte = codes[i * per]
                    for k in range(1, per):
                        byte |= codes[i * per + k] << np.uint8(k * bits)
                    out[base + i] = byte
            bad[r] = chk.sum() != 0
    return out, scale, zero, not bad.any()


def _unpack_dequantize(packed, zero, scale, L, T, D, G, bits, channel):
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
                        x[lead, tg * G + j + k, d] = np.float32(np.int32((byte >> np.uint8(k * bits)) & mask)) * s + z
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
                        x[lead, t, g * G + j + k] = np.float32(np.int32((byte >> np.uint8(k * bits)) & mask)) * s + z
    return x


# Each kernel compiled twice: threads pay off on big tensors, but a decode step quantizes one
# token, where starting threads costs more than the work (and stalls badly on a loaded machine).
PARALLEL_MIN = 1 << 18  # elements


def _twin(f, suffix: str):
    # a copy under another name: numba's on-disk cache is keyed by qualified name and line, so two
    # compilations of one function (parallel and serial) would load each other's machine code
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix, f.__defaults__, f.__closure__)
    g.__qualname__ = f.__qualname__ + suffix
    return g


_q_par = njit(cache=True, parallel=True)(_twin(_quantize_fused, "_parallel"))
_q_ser = njit(cache=True)(_quantize_fused)
_d_par = njit(cache=True, parallel=True)(_twin(_unpack_dequantize, "_parallel"))
_d_ser = njit(cache=True)(_unpack_dequantize)


def quantize_fused(x, G, bits, channel, f16):
    return (_q_par if x.size >= PARALLEL_MIN else _q_ser)(x, G, bits, channel, f16)


def unpack_dequantize(packed, zero, scale, L, T, D, G, bits, channel):
    return (_d_par if L * T * D >= PARALLEL_MIN else _d_ser)(packed, zero, scale, L, T, D, G, bits, channel)
