"""DRAM-PIM bank timing: the system presets, the GEMV mapping onto channels and banks, the closed-form
all-bank schedule, and refresh.

Every preset (``data/systems/*.json``) cites a source for each number (its ``cite`` table): SK hynix AiM
(arkhadem/aim_simulator GDDR6.cpp), Samsung HBM-PIM (SAITPublic/PIMSimulator ini), AttAcc bank-PIM on HBM3
(scale-snu/attacc_simulator HBM3-PIM.cpp) and NeuPIMs (casys-kaist/NeuPIMs configs).

The mapping (PIM-GPT's "concatenate and partition to maximise row locality and use all banks"):

* A weight set is ``heads`` independent matrices of ``N`` output rows x ``K`` reduction elements; the
  reduction axis runs along a DRAM row, so one row holds ``R = row_bytes / (bits/8)`` weights and one
  column burst feeds ``E = burst_bytes / (bits/8)`` of them to the unit's MAC lanes.
* *Partition*: each output row is cut into ``K // R`` full segments of ``R`` weights; each segment fills
  one DRAM row (a *tile*: ``R / E`` column bursts).
* *Concatenate*: the remaining ``r = K mod R`` weights of ``p = (R/E) // ceil(r/E)`` consecutive output
  rows share one DRAM row (a tile of ``p * ceil(r/E)`` bursts); the input buffer holds ``x`` repeated.
  An output row never straddles two DRAM rows, so every partial sum stays in one MAC unit.
* Tiles are ordered segment-major (all full tiles of all heads first, packed tiles after — burst counts
  are non-increasing) and dealt round-robin: tile ``t`` goes to channel ``t mod C``, then within the
  channel to MAC unit ``(t // C) mod U`` in round ``t // (C*U)``. Consecutive tiles sharing one input
  segment therefore hit all ``C*U`` units at once, and the input buffer is loaded once per segment.

The schedule is all-bank lockstep (AiM MAC_ABK = ACT16 / MAC16 x n / PREA; HBM-PIM AB-PIM mode; AttAcc
ACTAB / MACAB / PREA): every round opens one row in every unit, streams the round's longest tile, and
precharges. A round of ``c`` bursts for ``m`` input vectors takes ``max(tRCD + m*c*tB, tRAS) + tRP``
with ``tB = max(tCCD, E / (mac_lanes * mac_clock))``. When tRAS does not bind (it never does for the
presets' full rows) a channel's time is exactly the closed form

    busy = rows * (tRCD + tRP) + cols * tB,

``rows`` = DRAM rows opened per unit (rounds x input-buffer passes) and ``cols`` = column MAC bursts per
unit (the sum over rounds of the round's bursts x vectors). A 4096 x 1024 FP16 GEMV on the AiM-like
preset: 4096 one-row tiles over 512 units -> rows = 8, cols = 8 * 64 = 512, busy = 8 * (28 + 16) ns +
512 * 1 ns = 864 ns. tRTP (MAC -> PRE, 6 ns in aim_simulator) is not modelled: PRE follows the last
burst's tCCD.

Refresh: every channel stops for tRFC at k * tREFI (k >= 1, all channels together); an event stretches
over the windows it crosses (:func:`refresh_finish`), assuming the controller refreshes between rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from labkit.pim.systems import DramPim, System, load_system
from labkit.validate import check_bool, check_choice, check_float, check_instance, check_int

BITS = (1, 2, 4, 8, 16, 32)


class TileClass(NamedTuple):
    """`count` DRAM-row tiles of `bursts` column bursts each (one row of the partition / concatenate rule)."""
    count: int
    bursts: int


class BufferPass(NamedTuple):
    """`count` passes over the tiles, each with `vectors` input vectors in the global buffer."""
    count: int
    vectors: int


class UnitWork(NamedTuple):
    """Per MAC unit, arrays (C, U): seconds until its last round ends, DRAM rows opened, bursts read."""
    busy: np.ndarray
    rows: np.ndarray
    bursts: np.ndarray

# ---------------------------------------------------------------- the mapping

def _ceil_div(a, b):
    return -(-np.asarray(a) // b)


def _count(bound, offset, stride):
    """How many of offset, offset + stride, offset + 2*stride, ... are < bound (vectorised, >= 0)."""
    return np.maximum(_ceil_div(np.asarray(bound) - offset, stride), 0)


@dataclass(frozen=True)
class GemvMapping:
    """One weight set (``heads`` x ``N`` x ``K``, ``M`` input vectors) on a :class:`DramPim`.

    ``classes``: TileClass(count, bursts) over all heads, non-increasing bursts, in dealing order.
    ``bounds`` (C, k+1): cumulative tile counts per class in each channel's own tile sequence.
    ``by_head``: heads dealt whole to channels (head h -> channel h mod C) instead of tiles.
    Per channel (length C): ``rows`` DRAM rows opened per unit, ``cols`` column MAC bursts per unit
    (lockstep), ``busy`` seconds without refresh, ``bursts`` bursts read by all its units (all passes),
    ``tiles`` tiles stored, ``heads_share`` the fraction of the heads whose input the channel needs."""
    N: int
    K: int
    M: int
    heads: int
    bits: int
    by_head: bool
    classes: tuple
    passes: tuple  # (BufferPass(count, vectors), ...)
    bounds: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    busy: np.ndarray
    bursts: np.ndarray
    tiles: np.ndarray
    heads_share: np.ndarray

    @property
    def total_tiles(self) -> int:
        return int(sum(c.count for c in self.classes))


def tile_classes(N: int, K: int, heads: int, dram: DramPim, bits: int) -> tuple:
    """TileClass(count, bursts) of the DRAM-row tiles of ``heads`` N x K matrices (the partition /
    concatenate rule of the module doc)."""
    R = dram.row_bytes * 8 // bits  # weights per DRAM row
    E = dram.burst_bytes * 8 // bits  # weights per column burst
    S = R // E  # bursts in a full row
    classes = []
    full, r = divmod(K, R)
    if full:  # partition: every output row's full segments, one DRAM row each
        classes.append(TileClass(heads * N * full, S))
    if r:  # concatenate: the remainders of p consecutive output rows share a DRAM row
        kb = -(-r // E)
        p = S // kb
        n_tiles = -(-N // p)
        last = N - (n_tiles - 1) * p
        if last == p:
            classes.append(TileClass(heads * n_tiles, p * kb))
        else:
            if n_tiles > 1:
                classes.append(TileClass(heads * (n_tiles - 1), p * kb))
            classes.append(TileClass(heads, last * kb))
    return tuple(classes)


def _round_time(dram: DramPim, bursts: np.ndarray, passes, bits: int) -> np.ndarray:
    """Seconds of one lockstep round per class, summed over the input-buffer passes."""
    tb = dram.t_burst(bits)
    t = np.zeros(len(bursts))
    for p in passes:  # max(tRCD + m*c*tB, tRAS) + tRP per round (module doc)
        t += p.count * (np.maximum(dram.tRCD + p.vectors * bursts * tb, dram.tRAS) + dram.tRP)
    return t


def _passes(dram: DramPim, M: int) -> tuple:
    """The M input vectors in global-buffer loads: full loads of v vectors, then the rest."""
    v = max(1, dram.gb_bytes // dram.row_bytes)  # input vectors the buffer holds at once
    full, last = divmod(M, v)
    return tuple(p for p in (BufferPass(full, v), BufferPass(1, last)) if p.count and p.vectors)


def _rounds_by_class(bounds, U, limit):
    """Lockstep rounds per class (rows) whose first tile (local index U*r) lies in each class, r < limit."""
    n = np.minimum(_ceil_div(bounds, U), np.asarray(limit)[:, None])
    return np.diff(n, axis=1)


@lru_cache(maxsize=4096)
def map_gemv(N: int, K: int, dram: DramPim, M: int = 1, heads: int = 1, bits: int = 16,
             by_head: bool = False) -> GemvMapping:
    """Map ``heads`` independent N x K weight matrices times ``M`` input vectors (see the module doc).
    ``by_head``: deal whole heads to channels (each channel then needs only its heads' inputs)."""
    N, K, M, heads = (check_int(name, v, low=1) for name, v in (("N", N), ("K", K), ("M", M), ("heads", heads)))
    bits = check_choice("bits", check_int("bits", bits, low=1), BITS)
    check_instance("dram", dram, DramPim, "a DramPim (load_system(...).dram)")
    by_head = check_bool("by_head", by_head)
    classes = tile_classes(N, K, heads, dram, bits)
    passes = _passes(dram, M)
    C, U = dram.channels, dram.units_per_channel
    ch = np.arange(C)
    glob = np.cumsum([0] + [c.count for c in classes])
    if by_head:  # channel c holds heads c, c + C, ...: its sequence is heads_c copies of one head's classes
        heads_c = _count(heads, ch, C)
        bounds = heads_c[:, None] * (glob // heads)[None, :]
        share = heads_c / heads
    else:  # tile t -> channel t mod C: local index t // C
        bounds = _count(glob[None, :], ch[:, None], C)
        share = np.ones(C)
    tiles_c = bounds[:, -1]
    rounds_c = _ceil_div(tiles_c, U)  # lockstep rounds: within a channel, tile i goes to unit i mod U
    per_class = _rounds_by_class(bounds, U, rounds_c)  # (C, k)
    b = np.array([c.bursts for c in classes], dtype=float)
    n_pass = sum(p.count for p in passes)
    # busy = rows * (tRCD + tRP) + cols * tB when tRAS does not bind (module doc)
    rows = n_pass * rounds_c
    cols = M * (per_class @ b)
    busy = per_class @ _round_time(dram, b, passes, bits)
    bursts = n_pass * (np.diff(bounds, axis=1) @ b)
    for a in (bounds, rows, cols, busy, bursts, tiles_c, share):
        a.setflags(write=False)
    return GemvMapping(N, K, M, heads, bits, by_head, classes, passes, bounds, rows, cols, busy, bursts, tiles_c,
                       share)


def unit_work(m: GemvMapping, dram: DramPim) -> UnitWork:
    """Per MAC unit (arrays (C, U)): seconds until the unit's last round ends (a prefix of its channel's
    lockstep rounds; no refresh), rows opened, bursts read (all passes)."""
    C, U = dram.channels, dram.units_per_channel
    j = np.arange(U)
    bounds = np.repeat(m.bounds, U, axis=0)  # (C*U, k+1)
    jj = np.tile(j, C)
    own_rounds = _count(bounds[:, -1], jj, U)  # rounds in which unit j holds a tile
    per_class = _rounds_by_class(bounds, U, own_rounds)
    b = np.array([c.bursts for c in m.classes], dtype=float)
    busy = per_class @ _round_time(dram, b, m.passes, m.bits)
    own = np.diff(_count(bounds, jj[:, None], U), axis=1)  # the unit's own tiles per class
    n_pass = sum(p.count for p in m.passes)
    return UnitWork(busy.reshape(C, U), (n_pass * own_rounds).reshape(C, U), (n_pass * (own @ b)).reshape(C, U))


def gemv_time(N: int, K: int, system: str | dict | System = "aim-like", M: int = 1, heads: int = 1,
              bits: int = 16, start: float = 0.0) -> float:
    """Seconds for one PIM GEMV (the slowest channel), refresh included when the preset refreshes."""
    start = check_float("start", start, low=0)
    dram = load_system(system).dram
    m = map_gemv(N, K, dram, M, heads, bits)
    return float(np.max(refresh_finish(np.full(dram.channels, start), m.busy, dram)) - start)


# ---------------------------------------------------------------- refresh

def refresh_finish(start, work, dram: DramPim) -> np.ndarray:
    """End time of ``work`` seconds of bank activity begun at ``start`` when all banks stop for tRFC at
    every k * tREFI (k >= 1). Exact for that periodic schedule: map time to the work clock
    W(t) = t - (refresh time before t) and invert it."""
    start = np.asarray(start, dtype=float)
    work = np.asarray(work, dtype=float)
    if not dram.refresh:
        return start + work
    period, F = dram.tREFI, dram.tRFC
    k = np.floor(start / period)
    w0 = start - np.maximum(k - 1, 0) * F - np.where(k >= 1, np.clip(start - k * period, 0, F), 0)
    w = w0 + work
    a = period - F  # work time per period after the first
    j = np.where(w > period, np.ceil((w - period) / a), 0)
    return np.where(work > 0, np.maximum(w + j * F, start), start)
