"""numba twins of quant.py's hot path: quantize + pack and unpack + dequantize, one pass each.

Same arithmetic (float32, round half to even, scales rounded to scale_dtype before the codes are
chosen) and the same packed layout as `UniformQuantizer` — tests assert identical bytes and
values. Used for asymmetric quantization when 8 % bits == 0 (the bit widths KV caches use) and
groups fill whole bytes (group_size % (8 // bits) == 0, checked by the caller); everything else
takes the readable torch path. A block is read once: its min/max (and a finiteness check), the
fp16-rounded scale and zero, then the codes while the block is still in cache.

Written so that LLVM vectorises every inner loop, which decides the speed (measured, 2M elements,
one thread: a group min/max on floats 0.70 ms, on order-preserving integers 0.19 ms):
- arrays are indexed flat with unsigned indices: a signed index the compiler cannot prove
  non-negative keeps numba's negative-index wraparound in the loop, which blocks vectorisation,
  and slicing inside a loop costs a reference-count update per slice;
- a float min/max reduction does not vectorise in numba (no fast-math flags on the select), so a
  group's min/max runs on the float bits mapped to integers that sort like the floats:
  i ^ ((i >> 31) & 0x7FFFFFFF) for finite x (NaN and inf are caught first, on the exponent bits);
- codes are packed as words: a little-endian word of 8/bits one-byte codes folds into one byte
  (code k moves from bit 8k to bit k·bits).
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from numba import njit, prange

assert sys.byteorder == "little", "the word packing in kernels.py assumes a little-endian machine"

_EXP = np.uint32(0x7F800000)  # exponent bits all set: inf or NaN
_LOW31 = np.int32(0x7FFFFFFF)


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


@njit(cache=True, inline="always")
def _scale_zero(lo_key, hi_key, qmax, f16, f32, u32, i32):
    # group min/max keys back to floats (the key map is its own inverse), then scale and zero
    i32[0] = lo_key ^ ((lo_key >> np.int32(31)) & _LOW31)
    lo = f32[0]
    i32[0] = hi_key ^ ((hi_key >> np.int32(31)) & _LOW31)
    sc = (f32[0] - lo) / qmax
    if f16:
        return _round_f16(sc, f32, u32), _round_f16(lo, f32, u32)
    return sc, lo


@njit(cache=True, inline="always")
def _code(v, z, div, qmax):
    c = np.rint((v - z) / div)
    c = c if c > np.float32(0) else np.float32(0)
    return np.uint8(np.int32(c if c < qmax else qmax))  # via int32: vectorises


@njit(cache=True, inline="always")
def _words(n):
    # n one-byte codes (rounded up to whole uint64 words) and their 16/32/64-bit views
    codes = np.empty((n + 7) // 8 * 8, np.uint8)
    return codes, codes.view(np.uint16), codes.view(np.uint32), codes.view(np.uint64)


@njit(cache=True, inline="always")
def _pack(codes, w16, w32, w64, out, base, n, bits):
    # codes[0:n] (one per byte; w16/w32/w64 its word views, made once per work item since a view
    # costs a reference count) -> n·bits/8 bytes at out[base:]
    b = np.uint64(base)
    if bits == 2:
        w = w32
        for i in range(np.uint64(n // 4)):
            x = w[i]
            x = x | (x >> np.uint32(6))
            out[b + i] = np.uint8((x | (x >> np.uint32(12))) & np.uint32(0xFF))
    elif bits == 4:
        w = w16
        for i in range(np.uint64(n // 2)):
            x = w[i]
            out[b + i] = np.uint8((x | (x >> np.uint16(4))) & np.uint16(0xFF))
    elif bits == 1:
        w = w64
        for i in range(np.uint64(n // 8)):
            x = w[i]
            x = x | (x >> np.uint64(7))
            x = x | (x >> np.uint64(14))
            out[b + i] = np.uint8((x | (x >> np.uint64(28))) & np.uint64(0xFF))
    else:
        for i in range(np.uint64(n)):
            out[b + i] = codes[i]


@njit(cache=True, inline="always")
def _unpack(packed, base, codes, w16, w32, w64, coff, n, bits):
    # inverse of _pack: n codes from packed[base:] into codes[coff:coff + n] (coff % (8 // bits) == 0)
    b = np.uint64(base)
    c = np.uint64(coff // (8 // bits))
    if bits == 2:
        w = w32
        for i in range(np.uint64(n // 4)):
            x = np.uint32(packed[b + i])
            x = (x | (x << np.uint32(12))) & np.uint32(0x000F000F)
            w[c + i] = (x | (x << np.uint32(6))) & np.uint32(0x03030303)
    elif bits == 4:
        w = w16
        for i in range(np.uint64(n // 2)):
            x = np.uint16(packed[b + i])
            w[c + i] = (x | (x << np.uint16(4))) & np.uint16(0x0F0F)
    elif bits == 1:
        w = w64
        for i in range(np.uint64(n // 8)):
            x = np.uint64(packed[b + i])
            x = (x | (x << np.uint64(28))) & np.uint64(0x0000000F0000000F)
            x = (x | (x << np.uint64(14))) & np.uint64(0x0003000300030003)
            w[c + i] = (x | (x << np.uint64(7))) & np.uint64(0x0101010101010101)
    else:
        for i in range(np.uint64(n)):
            codes[c + i] = packed[b + i]


@njit(cache=True)
def _q_channel_block(x, xi, xu, out, scale, zero, r, T, D, G, bits, f16):
    """Block r of G tokens × D channels; a group is one channel's G consecutive tokens, so the
    min/max, codes and bytes are all lane-wise over channels (contiguous). Returns 1 for a NaN or
    inf in x, 2 for a scale or zero past fp16, else 0."""
    per, qmax, ng = 8 // bits, np.float32(2 ** bits - 1), T // G
    lead, tg = r // ng, r % ng
    base, uD = np.uint64((lead * T + tg * G) * D), np.uint64(D)
    f32 = np.empty(1, np.float32)
    u32, i32 = f32.view(np.uint32), f32.view(np.int32)
    nonfin = np.uint32(0)
    lo = np.full(D, _LOW31, np.int32)
    hi = np.full(D, -_LOW31 - np.int32(1), np.int32)
    for j in range(np.uint64(G)):
        for d in range(uD):
            nonfin |= np.uint32((xu[base + j * uD + d] & _EXP) == _EXP)
            k = xi[base + j * uD + d]
            k = k ^ ((k >> np.int32(31)) & _LOW31)
            lo[d] = k if k < lo[d] else lo[d]
            hi[d] = k if k > hi[d] else hi[d]
    zs = np.empty(D, np.float32)
    div = np.empty(D, np.float32)
    for d in range(D):
        sc, z = _scale_zero(lo[d], hi[d], qmax, f16, f32, u32, i32)
        at = (lead * D + d) * ng + tg
        scale[at], zero[at] = sc, z
        nonfin |= np.uint32(2 * (abs(sc) == np.inf or abs(z) == np.inf))
        zs[d], div[d] = z, sc if sc > 0 else np.float32(1)
    # byte jj of channel d holds tokens jj·per .. jj·per + per − 1: OR each code into its byte
    nb = np.uint64(G // per)
    acc = np.zeros(nb * uD, np.uint8)
    for j in range(np.uint64(G)):
        row = (j // np.uint64(per)) * uD
        sh = np.uint8((j % np.uint64(per)) * np.uint64(bits))
        for d in range(uD):
            acc[row + d] |= _code(x[base + j * uD + d], zs[d], div[d], qmax) << sh
    for d in range(uD):  # packed order is channel-major
        ob = np.uint64((((lead * D + d) * ng + tg) * G) // per)
        for jj in range(nb):
            out[ob + jj] = acc[jj * uD + d]
    return 1 if nonfin & np.uint32(1) else (2 if nonfin else 0)


_CHUNK = 256  # token groups per work item


def _quantize_fused(x, L, T, D, G, bits, channel, f16):
    """x flat (L·T·D float32 in (L, T, D) order) -> packed codes in quant._grouped's order, flat
    scale and zero ((L, D, T//G) for channel groups, (L, T, D//G) for token groups), status
    (0 fine, 1 x holds NaN or inf, 2 a scale or zero overflows fp16). scale = (max − min)/(2^b − 1)
    and zero = min, rounded to fp16 when f16. A zero scale divides by 1 instead: every value of
    such a group equals its zero, so its codes are 0 (the torch path does the same)."""
    out = np.empty(L * T * D * bits // 8, np.uint8)
    ng = T // G if channel else D // G
    scale = np.empty(L * D * ng if channel else L * T * ng, np.float32)
    zero = np.empty_like(scale)
    xi, xu = x.view(np.int32), x.view(np.uint32)
    n = L * T * ng
    items = L * ng if channel else (n + _CHUNK - 1) // _CHUNK
    status = np.zeros(items, np.int8)
    for r in prange(items):
        if channel:
            status[r] = _q_channel_block(x, xi, xu, out, scale, zero, r, T, D, G, bits, f16)
        else:  # inline here: as a called function this loop ran 3-5x slower (measured)
            per, qmax = 8 // bits, np.float32(2 ** bits - 1)
            f32 = np.empty(1, np.float32)
            u32, i32 = f32.view(np.uint32), f32.view(np.int32)
            codes, w16, w32, w64 = _words(G)
            nonfin = np.uint32(0)
            for gi in range(np.uint64(r * _CHUNK), np.uint64(min(r * _CHUNK + _CHUNK, n))):
                o = gi * np.uint64(G)
                lo, hi = _LOW31, -_LOW31 - np.int32(1)
                for j in range(np.uint64(G)):
                    nonfin |= np.uint32((xu[o + j] & _EXP) == _EXP)
                    k = xi[o + j]
                    k = k ^ ((k >> np.int32(31)) & _LOW31)
                    lo = k if k < lo else lo
                    hi = k if k > hi else hi
                sc, z = _scale_zero(lo, hi, qmax, f16, f32, u32, i32)
                scale[gi], zero[gi] = sc, z
                nonfin |= np.uint32(2 * (abs(sc) == np.inf or abs(z) == np.inf))
                dv = sc if sc > 0 else np.float32(1)
                for j in range(np.uint64(G)):
                    codes[j] = _code(x[o + j], z, dv, qmax)
                _pack(codes, w16, w32, w64, out, o // np.uint64(per), G, bits)
            status[r] = 1 if nonfin & np.uint32(1) else (2 if nonfin else 0)
    return out, scale, zero, status.max()


def _unpack_dequantize(packed, zero, scale, L, T, D, G, bits, channel):
    """x̂ flat (L·T·D float32) = code · scale + zero, from quantize_fused's layout."""
    x = np.empty(L * T * D, np.float32)
    n = L * T * (D // G)
    per, mask = 8 // bits, np.uint8(2 ** bits - 1)
    items = L * (T // G) if channel else (n + _CHUNK - 1) // _CHUNK
    for r in prange(items):
        if channel:
            ng = T // G
            lead, tg = r // ng, r % ng
            # bytes regrouped token-major (byte jj of every channel side by side), then each token's
            # codes are shifted out of them lane-wise over channels
            nb, uD = np.uint64(G // per), np.uint64(D)
            acc = np.empty(nb * uD, np.uint8)
            s = np.empty(D, np.float32)
            z = np.empty(D, np.float32)
            for d in range(uD):
                at = (lead * D + d) * ng + tg
                ob = np.uint64(at * G // per)
                for jj in range(nb):
                    acc[jj * uD + d] = packed[ob + jj]
                s[d], z[d] = scale[at], zero[at]
            base = np.uint64((lead * T + tg * G) * D)
            for j in range(np.uint64(G)):
                row = (j // np.uint64(per)) * uD
                sh = np.uint8((j % np.uint64(per)) * np.uint64(bits))
                for d in range(uD):
                    x[base + j * uD + d] = np.float32((acc[row + d] >> sh) & mask) * s[d] + z[d]
        else:
            codes, w16, w32, w64 = _words(G)
            for gi in range(np.uint64(r * _CHUNK), np.uint64(min(r * _CHUNK + _CHUNK, n))):
                o = gi * np.uint64(G)
                _unpack(packed, o // np.uint64(per), codes, w16, w32, w64, 0, G, bits)
                sg, zg = scale[gi], zero[gi]
                for j in range(np.uint64(G)):
                    x[o + j] = np.float32(codes[j]) * sg + zg
    return x


# Threads pay off on big tensors only: a decode step quantizes one token, where waking a second
# thread costs more than the work (measured, 2 cores: 8×1×64 elements 2.5-3 µs on one thread, 10 µs
# on two; 8×128×64 42 µs vs 51 µs). Below PARALLEL_MIN the same compiled kernel runs on the
# calling thread alone. (A second, serial compilation was 2-4x slower on big inputs: only the
# parallel lowering let LLVM vectorise these loops.)
PARALLEL_MIN = 1 << 18  # elements

_quantize = njit(cache=True, parallel=True)(_quantize_fused)
_dequantize = njit(cache=True, parallel=True)(_unpack_dequantize)


def _run(kernel, size: int, *args):
    if size >= PARALLEL_MIN:
        return kernel(*args)
    n = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(n)


def quantize_fused(x, G, bits, channel, f16):
    """x (L, T, D) float32 contiguous -> packed, scale, zero (flat), status (see _quantize_fused)."""
    L, T, D = x.shape
    return _run(_quantize, x.size, x.reshape(-1), L, T, D, G, bits, channel, f16)


def unpack_dequantize(packed, zero, scale, L, T, D, G, bits, channel):
    """-> x̂ (L, T, D) float32; zero and scale flat in quantize_fused's order."""
    x = _run(_dequantize, L * T * D, packed, zero.reshape(-1), scale.reshape(-1), L, T, D, G, bits, channel)
    return x.reshape(L, T, D)
