"""Hadamard-rotated KV quantization: QuaRot's (randomized) Hadamard and RotateKV's channel reordering.

    q = HadamardQuantizer(bits=2, group_size=32, axis="token", reorder=True, seed=0)
    rt = q.quantize(K)            # K (..., tokens, head_dim) -> RotatedTensor
    K_hat = rt.dequantize()       # inverse reordering, inverse rotation
    rt.inner                      # the QuantizedTensor of the rotated (and reordered) data

The rotation (QuaRot, Ashkboos et al. 2024, "randomized Hadamard"; RotateKV, Su et al. 2025,
"Outlier-Aware Rotation", which keeps the "fast Walsh-Hadamard transform (FWHT)") acts along
head_dim: x' = H·diag(s)·x. H is the normalised Sylvester–Walsh–Hadamard matrix (H·H = I),
computed by the FWHT in O(D log D), and s is a vector of random ±1 signs (seed=None means s = 1).
An outlier channel of x is spread over all D channels of x', so a per-token group no longer has
one huge entry setting its range. H is orthonormal, so the error of x̂' is the error of x̂:
x̂ = diag(s)·H·x̂'.

Reordering (RotateKV's "channel-reordering"). The authors' code rotates first and then sorts the
rotated channels by their signed sum over calibration tokens: `k_reordering_calibration.py` uses
`torch.sort(channel_sum)`, and `fuse_weights.py::rotate_reorder_k_proj` applies the Hadamard and
then the gather. Keys are then quantized per token. Channels with similar means end up in the
same quantization group, which narrows each group's min/max range, and the transform stays a
plain FWHT. A permutation applied *before* a full-width H would change only which sign each
input gets, not how the energy is spread, so here too it comes after.
labkit has no calibration set, so the statistic comes from the tokens being quantized:
- `reorder=True` (or "mean") sorts each row's channels by their mean over those tokens;
- "absmax" sorts them by the per-channel max |x'|.
The permutation is stored per row (…, head_dim) as uint8 (int16 when head_dim > 256), and
`.nbytes` counts it. It is stored only with axis="token" and group_size < head_dim. Otherwise a
permutation changes nothing and none is stored: with axis="channel" every channel has its own
groups, and one group spanning head_dim has the same min/max in any order. For one-token blocks
(KIVI's value stream) it costs head_dim bytes per row; use reorder=False there.

Signs cost no bytes: the seed regenerates them (torch.Generator), and a RotatedTensor keeps the
seed, not the signs.

Limitation, pre-RoPE. RotateKV rotates keys *before* RoPE ("Pre-RoPE Grouped-Head Rotation"):
the rotation is fused into W_k and spans several heads. labkit's caches see keys after RoPE
(store.py), so here the rotation acts on post-RoPE keys, one head at a time. That is QuaRot's
setting for the KV cache, not RotateKV's. RoPE turns channel pairs by position-dependent angles,
so the post-RoPE channel statistics drift with position; pre-RoPE rotation avoids that drift.
The grouped-head rotation is not implemented here. KIVICache(n_sink=...) keeps attention sinks
(RotateKV's "Attention-Sink-Aware Quantization") in full precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from labkit.base import Estimator
from labkit.kvcache.checks import check_dtype, check_shape, check_tensor
from labkit.kvcache.quant import QuantizedTensor, UniformQuantizer
from labkit.kvcache.store import to_numpy
from labkit.validate import check_int, fail, type_fail

REORDERS = (False, True, "mean", "absmax")


def _check_pow2_last(x: torch.Tensor, name: str = "x") -> int:
    D = x.shape[-1] if x.ndim else 0
    if D < 1 or D & (D - 1):
        raise fail(name, "a power-of-two last dimension (head_dim) for the Walsh–Hadamard transform",
                   f"shape {tuple(x.shape)}", described=True)
    return D


def fwht(x: torch.Tensor) -> torch.Tensor:
    """Normalised fast Walsh–Hadamard transform along the last dim: H·x / sqrt(D), with H Sylvester's
    Hadamard matrix (scipy.linalg.hadamard). Orthonormal and symmetric, so fwht(fwht(x)) == x.
    x: a finite floating tensor (..., D), D a power of two."""
    check_tensor("x", x, min_ndim=1, what="(..., D)")
    _check_pow2_last(x)
    return _fwht(x)


def _fwht(x: torch.Tensor) -> torch.Tensor:
    """fwht without the checks (for tensors this module has already checked or made)."""
    D = x.shape[-1]
    y = x.reshape(-1, D).clone()
    h = 1
    while h < D:  # butterfly on index bit h: (a, b) -> (a + b, a − b), in place; log2(D) stages
        v = y.view(-1, D // (2 * h), 2, h)
        a, b = v[:, :, 0, :].clone(), v[:, :, 1, :]
        v[:, :, 0, :] += b
        b.mul_(-1).add_(a)
        h *= 2
    return y.view(x.shape).mul_(1.0 / math.sqrt(D))


@lru_cache(maxsize=64)
def random_signs(seed: int, D: int) -> torch.Tensor:
    """(D,) float32 of ±1 from torch.Generator(seed): QuaRot's randomized Hadamard diag(s)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (D,), generator=g) * 2 - 1).to(torch.float32)


def _perm_dtype(D: int) -> torch.dtype:
    return torch.uint8 if D <= 256 else torch.int16


@dataclass(frozen=True)
class RotatedTensor:
    """Quantized rotated data plus what undoes the rotation; `snapshot()` gives it as plain data."""

    inner: QuantizedTensor       # codes/scales/zeros of x' = P·H·diag(s)·x (rotated, reordered)
    perm: torch.Tensor | None    # (..., head_dim): channel j of x' came from rotated channel perm[j]
    seed: int | None             # regenerates the signs (None: no sign flips)
    shape: tuple                 # of the original (..., tokens, head_dim)
    dtype: torch.dtype           # of the original

    @property
    def perm_nbytes(self) -> int:
        return 0 if self.perm is None else self.perm.numel() * self.perm.element_size()

    @property
    def nbytes(self) -> int:
        """Inner packed codes + scales + zeros, plus the stored permutation (signs: 0, from the seed)."""
        return self.inner.nbytes + self.perm_nbytes

    @property
    def bits_per_element(self) -> float:
        return 8 * self.nbytes / self.inner.numel

    def rotated(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """x̂' — the dequantized data still in the rotated, reordered basis (what the codes hold)."""
        return self.inner.dequantize(check_dtype("dtype", dtype, none=True) or torch.float32)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """x̂ (..., tokens, head_dim) in `dtype` (default: the original's), back in the original basis."""
        dtype = check_dtype("dtype", dtype, none=True)
        y = self.inner.dequantize(torch.float32)
        if self.perm is not None:  # undo the reordering: z[..., perm[j]] = y[..., j]
            idx = self.perm.long().unsqueeze(-2).expand(y.shape)
            y = torch.empty_like(y).scatter_(-1, idx, y)
        y = _fwht(y)  # H is its own inverse
        if self.seed is not None:
            y = y * random_signs(self.seed, y.shape[-1])
        return y.to(dtype or self.dtype).contiguous()

    def group_error(self, x: torch.Tensor) -> torch.Tensor:
        """(..., rows, groups) RMS error per quantization group, measured in the rotated basis
        (equal in total to the error in the original basis, since the transform is orthonormal)."""
        check_tensor("x", x, what=f"of the quantized shape {self.shape}")
        if tuple(x.shape) != tuple(self.shape):
            raise fail("x", f"the quantized tensor's shape {self.shape}", f"shape {tuple(x.shape)}", described=True)
        xr = _rotate(x.to(torch.float32), self.seed)
        if self.perm is not None:
            xr = torch.gather(xr, -1, self.perm.long().unsqueeze(-2).expand(xr.shape))
        return self.inner.group_error(xr)

    def snapshot(self) -> dict:
        """Plain data: the rotated data's quantization (`inner.snapshot()`: per-group scales, zeros,
        codes), the stored permutation (..., head_dim) or None, the sign seed, shape and nbytes."""
        return {"rotated": self.inner.snapshot(), "perm": to_numpy(self.perm), "seed": self.seed,
                "shape": tuple(int(s) for s in self.shape), "dtype": str(self.dtype), "nbytes": self.nbytes}


def _rotate(x: torch.Tensor, seed: int | None) -> torch.Tensor:
    if seed is not None:
        x = x * random_signs(seed, x.shape[-1])
    return _fwht(x)


class HadamardQuantizer(Estimator):
    """Rotate along head_dim (FWHT, optional random signs), optionally reorder channels, then
    UniformQuantizer(bits, group_size, axis). head_dim must be a power of two."""

    def __init__(self, bits: int = 2, group_size: int = 32, axis: str = "channel", reorder=True,
                 seed: int | None = None, *, symmetric: bool = False,
                 scale_dtype: torch.dtype = torch.float16, backend: str = "fast"):
        q = UniformQuantizer(bits, group_size, axis, symmetric=symmetric, scale_dtype=scale_dtype,
                             backend=backend)  # validates these
        if not isinstance(reorder, (bool, str)):
            raise type_fail("reorder", "True, False, 'mean' or 'absmax'", reorder)
        if not any(reorder is r or (isinstance(r, str) and reorder == r) for r in REORDERS):
            raise fail("reorder", "True, False, 'mean' or 'absmax'", reorder)
        self.quantizer = q
        self.bits, self.group_size, self.axis, self.symmetric = q.bits, q.group_size, q.axis, q.symmetric
        self.scale_dtype, self.backend = q.scale_dtype, q.backend
        self.reorder = reorder
        self.seed = None if seed is None else check_int("seed", seed, low=0)

    @property
    def statistic(self) -> str | None:
        """What the channels are sorted by: "mean" (reorder=True or "mean"), "absmax", or None."""
        return "mean" if self.reorder is True else (self.reorder or None)

    def reorders(self, head_dim: int) -> bool:
        """True when quantize() stores a permutation: per-token groups narrower than head_dim."""
        head_dim = check_int("head_dim", head_dim, low=1)
        return self.statistic is not None and self.axis == "token" and self.group_size < head_dim

    def nbytes(self, shape) -> int:
        """Bytes quantize() of a tensor of this shape occupies: the uniform quantizer's formula plus,
        when reordering, one permutation entry (1 byte, 2 if head_dim > 256) per channel per row."""
        shape = check_shape("shape", shape, min_ndim=2)
        *lead, _, D = shape
        rows = 1
        for s in lead:
            rows *= s
        perm = rows * D * torch.tensor([], dtype=_perm_dtype(D)).element_size() if self.reorders(D) else 0
        return self.quantizer.nbytes(shape) + perm

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """x' = H·diag(s)·x along the last dim, in float32 (before any reordering)."""
        self._check(x)
        return _rotate(x.to(torch.float32), self.seed)

    def permutation(self, xr: torch.Tensor) -> torch.Tensor:
        """(..., head_dim) channel order for rotated xr (..., tokens, head_dim): ascending mean over
        the tokens (RotateKV's sorted channel sums) or ascending max |x'| ("absmax")."""
        check_tensor("xr", xr, min_ndim=2, what="(..., tokens, head_dim)")
        stat = xr.mean(-2) if self.statistic != "absmax" else xr.abs().amax(-2)
        return torch.argsort(stat, dim=-1, stable=True).to(_perm_dtype(xr.shape[-1]))

    def quantize(self, x: torch.Tensor) -> RotatedTensor:
        """x (..., tokens, head_dim), head_dim a power of two -> RotatedTensor."""
        xr = self.rotate(x)
        perm = None
        if self.reorders(x.shape[-1]):
            perm = self.permutation(xr)
            xr = torch.gather(xr, -1, perm.long().unsqueeze(-2).expand(xr.shape))
        inner = self.quantizer.quantize(xr)
        return RotatedTensor(inner, perm, self.seed, tuple(x.shape), x.dtype)

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        """quantize then dequantize: x̂ with x's shape and dtype."""
        return self.quantize(x).dequantize()

    @staticmethod
    def _check(x) -> None:
        # type, rank, dtype, finiteness; the groups are checked after rotation, by the inner quantizer
        check_tensor("x", x, min_ndim=2, what="(..., tokens, head_dim)")
        _check_pow2_last(x)
