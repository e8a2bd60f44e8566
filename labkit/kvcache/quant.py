"""Uniform (min/max affine or absmax symmetric) group quantization of K/V tensors, bit-packed.

    q = UniformQuantizer(bits=2, group_size=32, axis="channel")
    qt = q.quantize(K)           # K (..., tokens, head_dim) -> QuantizedTensor
    K_hat = qt.dequantize()

axis="channel": a group is `group_size` consecutive tokens of one channel — KIVI's keys
(Liu et al. 2024, §3.2: outliers live in fixed channels, so each channel gets its own range).
axis="token": a group is `group_size` consecutive channels of one token — KIVI's values.
Asymmetric (KIVI, quanto's MaxOptimizer): scale = (max − min) / (2^b − 1), zero = min,
code = clamp(round((x − min) / scale), 0, 2^b − 1), x̂ = code·scale + min. Symmetric:
scale = absmax / (2^(b−1) − 1), code = round(x / scale) stored offset by 2^(b−1).
Scales and zeros are rounded to `scale_dtype` (fp16 as in KIVI) *before* the codes are chosen,
so the stored parameters are exactly the ones dequantization uses. A constant group has
scale 0: its codes are 0 and it dequantizes to its value exactly (KIVI would divide by zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from labkit.base import Estimator
from labkit.kvcache import kernels
from labkit.kvcache.checks import check_dtype, check_shape, check_tensor
from labkit.kvcache.packing import pack, packed_nbytes, unpack
from labkit.validate import check_bool, check_choice, check_int, fail

AXES = ("channel", "token")
BACKENDS = ("fast", "readable")  # numba kernels (kernels.py) / the torch code of this file


def check_quant_args(bits, group_size, axis, symmetric) -> tuple[int, int, str, bool]:
    """The quantizer hyper-parameters, validated (labkit.validate) and normalised."""
    bits = check_int("bits", bits, 1, 8)
    group_size = check_int("group_size", group_size, low=1)
    axis = check_choice("axis", axis, AXES)
    symmetric = check_bool("symmetric", symmetric)
    if symmetric and bits < 2:
        raise fail("bits", "an integer in [2, 8] with symmetric=True (one bit is the sign)", bits)
    return bits, group_size, axis, symmetric


def check_backend(backend) -> str:
    return check_choice("backend", backend, BACKENDS)


def _grouped_axis(shape, axis: str) -> tuple[int, str]:
    """(length, name) of the axis groups run along: tokens for axis="channel", head_dim for "token"."""
    return (shape[-2], "tokens") if axis == "channel" else (shape[-1], "head_dim")


def check_x(x, group_size: int, axis: str, finite: bool = True, name: str = "group_size") -> torch.Tensor:
    """x must be a finite floating (..., tokens, head_dim) tensor with at least one element whose
    grouped axis (tokens for axis="channel", head_dim for "token") `group_size` divides; the
    divisibility error names the group-size argument (`name`)."""
    check_tensor("x", x, min_ndim=2, finite=finite, what="(..., tokens, head_dim)")
    n, what = _grouped_axis(x.shape, axis)
    if n % group_size:
        raise fail(name, f"a divisor of the {what} axis ({n}) of x with axis={axis!r} (quantize whole "
                   "groups and keep the rest in a residual)", group_size)
    return x


def _fast(bits: int, symmetric: bool, backend: str, group_size: int, scale_dtype=torch.float16) -> bool:
    """The numba kernels cover asymmetric codes with 8 % bits == 0 whose groups fill whole bytes,
    with fp16 or fp32 scales; everything else takes the readable path whatever the backend."""
    return (backend == "fast" and not symmetric and 8 % bits == 0 and group_size % (8 // bits) == 0
            and scale_dtype in (torch.float16, torch.float32))


def _grouped(x: torch.Tensor, group_size: int, axis: str) -> torch.Tensor:
    """x (..., T, D) -> (..., rows, groups, group_size): the group axis last."""
    xt = x.transpose(-1, -2) if axis == "channel" else x  # channel: (..., D, T)
    return xt.reshape(*xt.shape[:-1], xt.shape[-1] // group_size, group_size)


@dataclass(frozen=True)
class QuantizedTensor:
    """Packed codes plus per-group scale and zero; `snapshot()` gives them as numpy arrays."""

    packed: torch.Tensor      # (ceil(numel·bits/8),) uint8
    scale: torch.Tensor       # (..., rows, groups, 1) in scale_dtype
    zero: torch.Tensor        # same shape: the group minimum (asymmetric) or 0 (symmetric, not stored)
    shape: tuple              # of the original (..., tokens, head_dim)
    dtype: torch.dtype        # of the original
    bits: int
    group_size: int
    axis: str
    symmetric: bool
    backend: str = "fast"     # the path that made it, and the one dequantize() takes ("fast" / "readable")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Packed codes + scales + zeros (a symmetric quantizer stores no zeros)."""
        params = self.scale.numel() * self.scale.element_size()
        if not self.symmetric:
            params += self.zero.numel() * self.zero.element_size()
        return self.packed.numel() + params

    @property
    def bits_per_element(self) -> float:
        return 8 * self.nbytes / self.numel

    def codes(self) -> torch.Tensor:
        """(..., rows, groups, group_size) uint8 codes, unpacked."""
        return unpack(self.packed, self.bits, self.numel).view(*self.scale.shape[:-1], self.group_size)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """x̂ (..., tokens, head_dim) in `dtype` (default: the original's)."""
        dtype = check_dtype("dtype", dtype, none=True)
        *lead, T, D = self.shape
        if _fast(self.bits, self.symmetric, self.backend, self.group_size, self.scale.dtype):
            L = self.numel // (T * D)
            flat = (lambda t: t.to(torch.float32).reshape(-1).numpy())
            x = kernels.unpack_dequantize(self.packed.numpy(), flat(self.zero), flat(self.scale), L, T, D,
                                          self.group_size, self.bits, self.axis == "channel")
            return torch.from_numpy(x).reshape(self.shape).to(dtype or self.dtype)
        q = self.codes().to(torch.float32)
        s = self.scale.to(torch.float32)
        if self.symmetric:
            g = (q - 2 ** (self.bits - 1)) * s
        else:
            g = q * s + self.zero.to(torch.float32)
        if self.axis == "channel":
            x = g.reshape(*lead, D, T).transpose(-1, -2)
        else:
            x = g.reshape(*lead, T, D)
        return x.to(dtype or self.dtype).contiguous()

    def group_error(self, x: torch.Tensor) -> torch.Tensor:
        """(..., rows, groups) root-mean-square error of each group against the original x."""
        check_tensor("x", x, what=f"of the quantized shape {self.shape}")
        if tuple(x.shape) != tuple(self.shape):
            raise fail("x", f"the quantized tensor's shape {self.shape}", f"shape {tuple(x.shape)}", described=True)
        err = _grouped(x.to(torch.float32) - self.dequantize(torch.float32), self.group_size, self.axis)
        return err.pow(2).mean(-1).sqrt()

    def snapshot(self) -> dict:
        """Plain data: per-group scales and zeros (..., rows, groups) as float32, the unpacked codes
        (..., rows, groups, group_size) uint8, and the layout (shape, bits, group_size, axis, nbytes)."""
        return {"scale": self.scale.squeeze(-1).to(torch.float32).numpy().copy(),
                "zero": self.zero.squeeze(-1).to(torch.float32).numpy().copy(),
                "codes": self.codes().numpy().copy(), "shape": tuple(int(s) for s in self.shape),
                "dtype": str(self.dtype), "bits": self.bits, "group_size": self.group_size, "axis": self.axis,
                "symmetric": self.symmetric, "nbytes": self.nbytes}


class UniformQuantizer(Estimator):
    """bits in 1..8, group_size dividing the grouped axis, axis "channel" or "token".

    backend="fast" (default) runs the numba kernels of kernels.py where they apply (asymmetric,
    8 % bits == 0, groups filling whole bytes, fp16/fp32 scales); "readable" always runs the torch
    code below. Both give the same bytes, scales and values (tests/test_kvcache_quant.py)."""

    def __init__(self, bits: int = 2, group_size: int = 32, axis: str = "channel", symmetric: bool = False,
                 scale_dtype: torch.dtype = torch.float16, backend: str = "fast"):
        self.bits, self.group_size, self.axis, self.symmetric = check_quant_args(bits, group_size, axis, symmetric)
        self.scale_dtype = check_dtype("scale_dtype", scale_dtype)
        self.backend = check_backend(backend)

    def nbytes(self, shape) -> int:
        """Bytes quantize() of a tensor of this shape occupies (the formula the tests hold it to)."""
        shape = check_shape("shape", shape, min_ndim=2)
        n, what = _grouped_axis(shape, self.axis)
        if n % self.group_size:
            raise fail("shape", f"a {what} axis that group_size={self.group_size} divides", shape)
        numel = math.prod(shape)
        groups = numel // self.group_size
        per_group = torch.finfo(self.scale_dtype).bits // 8 * (1 if self.symmetric else 2)
        return packed_nbytes(numel, self.bits) + groups * per_group

    def quantize(self, x: torch.Tensor) -> QuantizedTensor:
        """x (..., tokens, head_dim) -> QuantizedTensor."""
        check_x(x, self.group_size, self.axis, finite=False)
        fast = (_fast(self.bits, self.symmetric, self.backend, self.group_size, self.scale_dtype)
                and x.device.type == "cpu")
        if fast:
            return self._quantize_fast(x)  # the kernel checks finiteness in the same pass
        if not bool(torch.isfinite(x).all()):
            raise fail("x", "finite values", "NaN or inf", described=True)
        g = _grouped(x.to(torch.float32), self.group_size, self.axis)
        if self.symmetric:
            qmax = 2 ** (self.bits - 1) - 1
            scale = (g.abs().amax(-1, keepdim=True) / qmax).to(self.scale_dtype)
            s = scale.to(torch.float32)
            q = torch.round(g / torch.where(s > 0, s, 1.0)).clamp_(-qmax, qmax) + 2 ** (self.bits - 1)
            zero = torch.zeros_like(scale)
        else:
            qmax = 2 ** self.bits - 1
            mn = g.amin(-1, keepdim=True)
            scale = ((g.amax(-1, keepdim=True) - mn) / qmax).to(self.scale_dtype)
            zero = mn.to(self.scale_dtype)
            s = scale.to(torch.float32)
            q = torch.round((g - zero.to(torch.float32)) / torch.where(s > 0, s, 1.0)).clamp_(0, qmax)
        self._check_range(zero, scale)
        return QuantizedTensor(pack(q.to(torch.uint8), self.bits), scale, zero, tuple(x.shape), x.dtype,
                               self.bits, self.group_size, self.axis, self.symmetric, "readable")

    def _check_range(self, zero, scale) -> None:
        """Scales and zeros must fit scale_dtype (fp16 overflows past 65504)."""
        zero, scale = torch.as_tensor(zero), torch.as_tensor(scale)
        if not (torch.isfinite(zero).all() and torch.isfinite(scale).all()):
            raise fail("x", f"values whose group ranges fit scale_dtype={self.scale_dtype} (|x| up to "
                       f"{torch.finfo(self.scale_dtype).max:g}; or use scale_dtype=torch.float32)",
                       "a group whose zero or scale overflows", described=True)

    def _quantize_fast(self, x: torch.Tensor) -> QuantizedTensor:
        # the readable path's steps fused per block: min/max, fp16 scale/zero, codes, packing
        *lead, T, D = x.shape
        L = x.numel() // (T * D)
        x32 = x.detach().to(torch.float32).reshape(L, T, D).contiguous().numpy()
        packed, scale, zero, status = kernels.quantize_fused(x32, self.group_size, self.bits, self.axis == "channel",
                                                             self.scale_dtype == torch.float16)
        if status == 1:
            raise fail("x", "finite values", "NaN or inf", described=True)
        if status == 2:
            self._check_range(zero, scale)  # raises the overflow error
        rows = D if self.axis == "channel" else T
        shp = (*lead, rows, scale.size // (L * rows), 1)
        scale = torch.from_numpy(scale).to(self.scale_dtype).reshape(shp)
        zero = torch.from_numpy(zero).to(self.scale_dtype).reshape(shp)
        return QuantizedTensor(torch.from_numpy(packed), scale, zero, tuple(x.shape), x.dtype, self.bits,
                               self.group_size, self.axis, self.symmetric, "fast")

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        """quantize then dequantize: x̂ with x's shape and dtype."""
        return self.quantize(x).dequantize()
