"""Bit-packing of b-bit codes (1 <= b <= 8) into bytes: ceil(n·b / 8) bytes for n codes.

b in {1, 2, 4, 8}: 8/b codes share a byte, the first code in the lowest bits (as KIVI's
`pack_tensor` fills int32 words, here with bytes). Other widths go through a bit stream:
code i occupies bits i·b .. i·b + b − 1, least significant bit first.
"""

from __future__ import annotations

import torch

_BIT = torch.arange(8, dtype=torch.uint8)


def packed_nbytes(n: int, bits: int) -> int:
    return (n * bits + 7) // 8


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(n,) uint8 codes < 2**bits -> (ceil(n·bits/8),) uint8."""
    c = codes.reshape(-1).to(torch.uint8)
    n = c.numel()
    if bits == 8:
        return c.clone()
    if 8 % bits == 0:
        per = 8 // bits
        pad = (-n) % per
        if pad:
            c = torch.cat([c, c.new_zeros(pad)])
        c = c.view(-1, per)
        out = c[:, 0].clone()
        for i in range(1, per):
            out |= c[:, i] << (i * bits)
        return out
    stream = ((c[:, None] >> _BIT[:bits]) & 1).reshape(-1)  # LSB first
    pad = (-stream.numel()) % 8
    if pad:
        stream = torch.cat([stream, stream.new_zeros(pad)])
    s = stream.view(-1, 8)
    out = s[:, 0].clone()
    for i in range(1, 8):
        out |= s[:, i] << i
    return out


def unpack(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """Inverse of pack: (n,) uint8 codes."""
    p = packed.reshape(-1)
    if bits == 8:
        return p[:n].clone()
    mask = (1 << bits) - 1
    if 8 % bits == 0:
        shifts = torch.arange(0, 8, bits, dtype=torch.uint8)
        return ((p[:, None] >> shifts) & mask).reshape(-1)[:n]
    stream = ((p[:, None] >> _BIT) & 1).reshape(-1)[: n * bits].view(n, bits)
    out = stream[:, 0].clone()
    for i in range(1, bits):
        out |= stream[:, i] << i
    return out
