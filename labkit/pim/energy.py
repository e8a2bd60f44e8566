"""Energy per event from cited per-bit and per-operation constants.

Data movement, pJ/bit — FGDRAM (O'Connor et al., MICRO'17) as tabulated in
scale-snu/attacc_simulator@c600051 src/config.py ENERGY_TABLE:

    cell ACT/PRE 0.11 | cell RD/WR 0.44 | column decoder -> BG mux 1.01 | BG mux -> GIO 1.23 |
    TSV 0.5 | silicon interposer 0.3

A bit read by a GPU crosses all six (3.59 pJ/bit); a bit consumed by a bank-level PIM unit only the
cell (0.55); bank-group PIM adds the column path (1.56); buffer-die PIM everything but the interposer
(3.29) — the four paths of AttAcc's table. ``io`` (2.24 + 0.5 + 0.3 = 3.04) is our name for a transfer
that leaves the banks without touching the cells (MAC results read out, input vectors written to the
global buffer): an assumption built from the same segments. For a GDDR6 part (AiM, T4) the TSV and
interposer entries stand in for the off-chip PHY — an assumption; FGDRAM's table is for stacked DRAM.

Compute, pJ per operation — Horowitz, ISSCC 2014 (45 nm): FP16 mul 1.1, FP16 add 0.4 (a MAC = 1.5),
FP32 mul 3.7, FP32 add 0.9, int8 add 0.03, int8 mul 0.2, int32 add 0.1, int32 mul 3.1; 8 KB SRAM
64-bit access ~10 pJ. AttAcc charges 0.32 pJ per MAC ("alu") for its PIM units and GPU.

Components of every event: dram_cell, on_die_io, tsv_phy, interposer (data movement), mac (multiply-
accumulates in PIM units or on the GPU), asic (non-linear ops: ALU + SRAM), static (background power
times latency, charged by background events).
"""

from __future__ import annotations

import numpy as np

from labkit.validate import check_choice

# FGDRAM segments, pJ/bit (attacc_simulator src/config.py comments and ENERGY_TABLE)
CELL_ACT_PRE = 0.11
CELL_RD_WR = 0.44
COLUMN_TO_BG_MUX = 1.01
BG_MUX_TO_GIO = 1.23
TSV = 0.5
INTERPOSER = 0.3

# Horowitz ISSCC 2014, 45 nm, pJ per operation
HOROWITZ_45NM = {
    "int8_add": 0.03, "int32_add": 0.1, "int8_mul": 0.2, "int32_mul": 3.1,
    "fp16_add": 0.4, "fp16_mul": 1.1, "fp32_add": 0.9, "fp32_mul": 3.7,
    "sram_8kb_64bit": 10.0,
}
FP16_MAC_PJ = HOROWITZ_45NM["fp16_mul"] + HOROWITZ_45NM["fp16_add"]  # 1.5 pJ
ALU_PJ = 0.32  # attacc_simulator ENERGY_TABLE 'alu' (pJ per MAC: src/devices.py flops / 2 * alu)

DATA_COMPONENTS = ("dram_cell", "on_die_io", "tsv_phy", "interposer")
COMPONENTS = (*DATA_COMPONENTS, "mac", "asic", "static")

# pJ/bit per component along each path (AttAcc's four paths plus our 'io')
PATHS = {
    "gpu": {"dram_cell": CELL_ACT_PRE + CELL_RD_WR, "on_die_io": COLUMN_TO_BG_MUX + BG_MUX_TO_GIO,
            "tsv_phy": TSV, "interposer": INTERPOSER},
    "bank": {"dram_cell": CELL_ACT_PRE + CELL_RD_WR},
    "bankgroup": {"dram_cell": CELL_ACT_PRE + CELL_RD_WR, "on_die_io": COLUMN_TO_BG_MUX},
    "buffer": {"dram_cell": CELL_ACT_PRE + CELL_RD_WR, "on_die_io": COLUMN_TO_BG_MUX + BG_MUX_TO_GIO,
               "tsv_phy": TSV},
    "io": {"on_die_io": COLUMN_TO_BG_MUX + BG_MUX_TO_GIO, "tsv_phy": TSV, "interposer": INTERPOSER},
}


def path_pj_per_bit(path: str) -> float:
    """Total pJ/bit of a path: gpu 3.59, bank 0.55, bankgroup 1.56, buffer 3.29, io 3.04."""
    if path not in PATHS:  # (checked this way round: movement() runs once per event)
        check_choice("path", path, sorted(PATHS))
    return sum(PATHS[path].values())


def zeros(n: int) -> dict:
    """An all-zero component table for n events."""
    return {c: np.zeros(n) for c in COMPONENTS}


def movement(nbytes, path: str) -> dict:
    """Joules per component for moving ``nbytes`` (scalar or array) along ``path``."""
    if path not in PATHS:  # (checked this way round: movement() runs once per event)
        check_choice("path", path, sorted(PATHS))
    bits = nbytes * 8.0
    return {c: bits * PATHS[path].get(c, 0.0) * 1e-12 for c in DATA_COMPONENTS}


def event_energy(n: int, *, moved=(), macs=0.0, mac_pj: float = FP16_MAC_PJ, alu_ops=0.0,
                 alu_pj: float = ALU_PJ, sram_bytes=0.0, sram_pj_per_bit: float = 0.0) -> dict:
    """Component table (J) for n events (scalars, or arrays of length n, per component): ``moved`` is a
    sequence of (bytes, path); ``macs`` multiply-accumulates at ``mac_pj``; ``alu_ops`` ASIC operations
    at ``alu_pj`` plus ``sram_bytes`` of buffer traffic (both under 'asic')."""
    e = dict.fromkeys(COMPONENTS, 0.0)
    for nbytes, path in moved:
        for c, v in movement(nbytes, path).items():
            e[c] = e[c] + v
    e["mac"] = macs * mac_pj * 1e-12
    e["asic"] = (alu_ops * alu_pj + sram_bytes * 8.0 * sram_pj_per_bit) * 1e-12
    return e


def weight_streaming_ratio() -> float:
    """GPU-path over bank-PIM-path energy for streaming weights once: 3.59 / 0.55 (AttAcc's table)."""
    return path_pj_per_bit("gpu") / path_pj_per_bit("bank")
