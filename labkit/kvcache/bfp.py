"""Block floating point (BFP) for K/V: each block of `block_size` values shares one exponent.

    q = BlockFloatQuantizer(mantissa_bits=4, block_size=32, axis="channel")
    bt = q.quantize(K)           # K (..., tokens, head_dim) -> BlockFloatTensor
    K_hat = bt.dequantize()

BFP is "a block of mantissas with a shared scale factor" ("Accurate Block Quantization in LLMs with
Outliers", Trukhanov & Soloveychik 2024; also Microsoft's MSFP and Intel's flexpoint). That paper
also rearranges outlier channels "at the compile time"; this module does not (HadamardQuantizer's
reordering is the nearest thing in labkit).

The blocks are quant.py's groups. With axis="channel", a block is `block_size` consecutive tokens
of one channel (KIVI's keys). With axis="token", it is `block_size` consecutive channels of one
token.

Per block, with m = mantissa_bits:
  e = max over the block of frexp(|x|).exponent   (|x| < 2^e; an all-zero block has e = 0)
  e is clamped to the exponent field's range [−bias, 2^E − 1 − bias], bias = 2^(E−1) − 1, E = exponent_bits
  step = 2^(e − (m − 1))
  q = clamp(round(x / step), −(2^(m−1) − 1), 2^(m−1) − 1)   sign-magnitude range: 1 sign bit + m − 1 bits
  x̂ = q · step
Rounding is to nearest, ties to even. Values that round up to 2^(m−1) saturate. A block of
integers with |x| ≤ 2^(m−1) − 1 (or such integers times one power of two, within the exponent
range) is exact: its step is a power of two that divides every value. The step never depends on
a data-dependent division, so a constant-zero block gives zeros, never NaN. No zero point is
stored: unlike KIVI's min/max, this format is symmetric.

Storage: mantissa codes q + 2^(m−1) − 1 (in 0..2^m − 2) packed at m bits (packing.py), plus the
block exponents e + bias packed at exponent_bits each, as a separate stream:
  nbytes = ceil(n·m / 8) + ceil(n_blocks·E / 8),  i.e. m + E / block_size bits per element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from labkit.base import Estimator
from labkit.kvcache.checks import check_dtype, check_shape, check_tensor
from labkit.kvcache.packing import pack, packed_nbytes, unpack
from labkit.kvcache.quant import AXES, check_x
from labkit.validate import check_choice, check_int, fail


def _blocks(x: torch.Tensor, block_size: int, axis: str) -> torch.Tensor:
    """x (..., T, D) -> (..., rows, blocks, block_size), the block axis last (as quant.py's groups)."""
    xt = x.transpose(-1, -2) if axis == "channel" else x
    return xt.reshape(*xt.shape[:-1], xt.shape[-1] // block_size, block_size)


@dataclass(frozen=True)
class BlockFloatTensor:
    """Packed signed mantissas plus one packed exponent per block; `snapshot()` gives them as numpy arrays."""

    mantissas: torch.Tensor   # (ceil(n·m/8),) uint8
    exponents: torch.Tensor   # (ceil(n_blocks·E/8),) uint8
    shape: tuple              # of the original (..., tokens, head_dim)
    dtype: torch.dtype
    mantissa_bits: int
    block_size: int
    axis: str
    exponent_bits: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def n_blocks(self) -> int:
        return self.numel // self.block_size

    @property
    def nbytes(self) -> int:
        """Packed mantissas + packed exponents."""
        return self.mantissas.numel() + self.exponents.numel()

    @property
    def bits_per_element(self) -> float:
        return 8 * self.nbytes / self.numel

    def _block_shape(self) -> tuple:
        *lead, T, D = self.shape
        rows, n = (D, T) if self.axis == "channel" else (T, D)
        return (*lead, rows, n // self.block_size)

    def block_exponents(self) -> torch.Tensor:
        """(..., rows, blocks) int32 shared exponents e (unbiased): the block's |x| < 2^e."""
        bias = 2 ** (self.exponent_bits - 1) - 1
        e = unpack(self.exponents, self.exponent_bits, self.n_blocks).to(torch.int32) - bias
        return e.view(self._block_shape())

    def codes(self) -> torch.Tensor:
        """(..., rows, blocks, block_size) int32 signed mantissas q."""
        off = 2 ** (self.mantissa_bits - 1) - 1
        q = unpack(self.mantissas, self.mantissa_bits, self.numel).to(torch.int32) - off
        return q.view(*self._block_shape(), self.block_size)

    def dequantize(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """x̂ (..., tokens, head_dim) in `dtype` (default: the original's)."""
        dtype = check_dtype("dtype", dtype, none=True)
        e = self.block_exponents().unsqueeze(-1)
        step = torch.ldexp(torch.ones(e.shape, dtype=torch.float64), e - (self.mantissa_bits - 1))
        g = self.codes().to(torch.float64) * step  # q · 2^(e − m + 1), exact in float64
        *lead, T, D = self.shape
        x = g.reshape(*lead, D, T).transpose(-1, -2) if self.axis == "channel" else g.reshape(*lead, T, D)
        return x.to(dtype or self.dtype).contiguous()

    def group_error(self, x: torch.Tensor) -> torch.Tensor:
        """(..., rows, blocks) root-mean-square error of each block against the original x."""
        check_tensor("x", x, what=f"of the quantized shape {self.shape}")
        if tuple(x.shape) != tuple(self.shape):
            raise fail("x", f"the quantized tensor's shape {self.shape}", f"shape {tuple(x.shape)}", described=True)
        err = x.to(torch.float64) - self.dequantize(torch.float64)
        return _blocks(err, self.block_size, self.axis).pow(2).mean(-1).sqrt()

    def snapshot(self) -> dict:
        """Plain data: the block exponents (..., rows, blocks) int32, the signed mantissas
        (..., rows, blocks, block_size) int32 and the layout (shape, widths, block_size, axis, nbytes)."""
        return {"exponents": self.block_exponents().numpy().copy(), "codes": self.codes().numpy().copy(),
                "shape": tuple(int(s) for s in self.shape), "dtype": str(self.dtype),
                "mantissa_bits": self.mantissa_bits, "exponent_bits": self.exponent_bits,
                "block_size": self.block_size, "axis": self.axis, "nbytes": self.nbytes}


class BlockFloatQuantizer(Estimator):
    """mantissa_bits in 2..8 (sign included), block_size dividing the blocked axis, axis "channel"
    or "token", exponent_bits in 1..8."""

    def __init__(self, mantissa_bits: int = 4, block_size: int = 32, axis: str = "channel",
                 exponent_bits: int = 8):
        self.mantissa_bits = check_int("mantissa_bits", mantissa_bits, 2, 8)
        self.block_size = check_int("block_size", block_size, low=1)
        self.axis = check_choice("axis", axis, AXES)
        self.exponent_bits = check_int("exponent_bits", exponent_bits, 1, 8)

    @property
    def bits(self) -> int:
        """The mantissa width, under the name KIVICache and the sweeps read."""
        return self.mantissa_bits

    @property
    def group_size(self) -> int:
        return self.block_size

    def nbytes(self, shape) -> int:
        """Bytes quantize() of a tensor of this shape occupies: ceil(n·m/8) + ceil(n_blocks·E/8)."""
        shape = check_shape("shape", shape, min_ndim=2)
        blocked = shape[-2] if self.axis == "channel" else shape[-1]
        if blocked % self.block_size:
            raise fail("shape", f"a {'tokens' if self.axis == 'channel' else 'head_dim'} axis that "
                       f"block_size={self.block_size} divides", shape)
        n = math.prod(shape)
        return packed_nbytes(n, self.mantissa_bits) + packed_nbytes(n // self.block_size, self.exponent_bits)

    def quantize(self, x: torch.Tensor) -> BlockFloatTensor:
        """x (..., tokens, head_dim) -> BlockFloatTensor."""
        check_x(x, self.block_size, self.axis, name="block_size")
        m, E = self.mantissa_bits, self.exponent_bits
        bias = 2 ** (E - 1) - 1
        g = _blocks(x.to(torch.float64), self.block_size, self.axis)
        _, e = torch.frexp(g.abs().amax(-1, keepdim=True))  # |x| < 2^e for every x in the block; 0 -> 0
        e = e.clamp(-bias, 2 ** E - 1 - bias)               # what the exponent field can hold
        step = torch.ldexp(torch.ones(e.shape, dtype=torch.float64), e - (m - 1))
        qmax = 2 ** (m - 1) - 1
        q = torch.round(g / step).clamp_(-qmax, qmax)       # step > 0 always: no NaN on zero blocks
        mant = pack((q + qmax).to(torch.uint8), m)
        expo = pack((e + bias).to(torch.uint8), E)
        return BlockFloatTensor(mant, expo, tuple(x.shape), x.dtype, m, self.block_size, self.axis, E)

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(x).dequantize()

