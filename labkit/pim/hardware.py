"""GPU roofline parameters: peak memory bandwidth, peak FP16 / INT8 ops, on-chip buffer.

The table lives in labkit/pim/data/hardware.json, every number with its source:
    origin "llm-viewer"  LLM-Viewer's hardwares/hardware_params.py at commit 472f71f, value for value
                         (nvidia_H100 = 3072e9 B/s and 1979e12/2 OPS, below the SXM datasheet's 3.35 TB/s)
    origin "datasheet"   vendor datasheet values (nvidia_H100_SXM_datasheet, nvidia_H200, nvidia_T4)
Ops are dense (LLM-Viewer: "the OPS = sparse OPS/2"); onchip_buffer is the register file per GPU,
as LLM-Viewer uses it (only the FlashAttention block size reads it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from labkit.validate import check_float, check_int, fail, type_fail

HARDWARE_FILE = Path(__file__).parent / "data" / "hardware.json"


@dataclass(frozen=True)
class Hardware:
    """One accelerator for the roofline. Units: bytes/s, ops/s, bytes."""

    name: str
    bandwidth: float
    fp16: float
    int8: float | None
    onchip_buffer: float
    origin: str = "user"
    note: str = ""
    source: dict = field(default_factory=dict, compare=False, repr=False)

    def peak_ops(self, w_bits: int, a_bits: int, kv_bits: int) -> float:
        """LLM-Viewer's rule (model_analyzer.get_hardware_info): the INT8 peak when weights,
        activations and KV are all <= 8 bits, else the FP16 peak. No INT8 figure -> FP16."""
        w_bits, a_bits, kv_bits = (check_int(n, v, low=1, high=32) for n, v in
                                   (("w_bits", w_bits), ("a_bits", a_bits), ("kv_bits", kv_bits)))
        if w_bits <= 8 and a_bits <= 8 and kv_bits <= 8 and self.int8 is not None:
            return self.int8
        return self.fp16

    @property
    def ridge(self) -> float:
        """FP16 ridge point, ops per byte: peak / bandwidth."""
        return self.fp16 / self.bandwidth


@lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads(HARDWARE_FILE.read_text())["hardware"]


def list_hardware() -> list[str]:
    """Names of the shipped hardware entries."""
    return sorted(_table())


def load_hardware(hardware) -> Hardware:
    """A `Hardware` from a shipped name (see `list_hardware()`), a dict with keys bandwidth, FP16,
    optional INT8 and onchip_buffer (LLM-Viewer's keys), or a `Hardware` (returned as is)."""
    if isinstance(hardware, Hardware):
        return hardware
    if isinstance(hardware, str):
        if hardware not in _table():
            raise fail("hardware", f"one of the known hardware {list_hardware()} "
                       "(or a dict with bandwidth, FP16, INT8, onchip_buffer)", hardware)
        entry = dict(_table()[hardware], name=hardware)
    elif isinstance(hardware, dict):
        entry = dict(hardware)
    else:
        raise type_fail("hardware", "a hardware name, a dict or a Hardware", hardware)
    values = {}
    for key in ("bandwidth", "FP16", "INT8", "onchip_buffer"):
        v = entry.get(key)
        if v is None and key == "INT8":
            values[key] = None
            continue
        if v is None and key == "onchip_buffer":
            v = math.inf  # only the FlashAttention block size reads it
        if v is None:
            raise fail(f"hardware[{key!r}]", "a positive number", "nothing (missing)", described=True)
        values[key] = check_float(f"hardware[{key!r}]", v, low=0, low_open=True, finite=key != "onchip_buffer")
    return Hardware(name=str(entry.get("name", "custom")), bandwidth=values["bandwidth"], fp16=values["FP16"],
                    int8=values["INT8"], onchip_buffer=values["onchip_buffer"],
                    origin=str(entry.get("origin", "user")), note=str(entry.get("note", "")),
                    source=dict(entry.get("source", {})))
