"""PIM system presets: the DRAM-PIM memory, the ASIC for non-linear ops, and the GPU/NPU side.

Each preset (``data/systems/<name>.json``) has sections ``dram``, ``asic``, ``gpu``, ``energy`` and a
``cite`` table giving the source of every number (``"dram.nRCD": "GDDR6_AiM_timing: nRCDRDMAC 56"``);
values marked "assumption:" are ours. Timing parameters are in clock cycles ``n*`` of ``tCK_ns``, as in
the simulators they come from:

    aim-like     SK hynix AiM GDDR6 (arkhadem/aim_simulator src/dram/impl/GDDR6.cpp) + an ASIC + a T4
    hbm-pim      Samsung HBM-PIM / Aquabolt-XL (SAITPublic/PIMSimulator ini/HBM2_samsung_2M_16B_x64.ini)
    attacc-bank  AttAcc bank-PIM on HBM3 (scale-snu/attacc_simulator pim_ramulator_src/HBM3-PIM.cpp)
    neupims      NeuPIMs HBM2 dual-row-buffer PIM + its 128x128 systolic NPU (casys-kaist/NeuPIMs configs)

``load_system({"base": "aim-like", "dram": {"channels": 64}})`` derives a variant.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from labkit.pim.energy import PATHS
from labkit.validate import check_choice, check_float, check_instance, check_int, check_str, fail, type_fail

SYSTEMS_DIR = Path(__file__).parent / "data" / "systems"
_DRAM_INT = ("channels", "banks_per_channel", "units_per_channel", "banks_per_unit", "rows_per_bank",
             "row_bytes", "burst_bytes", "nRCD", "nRP", "nRAS", "nCCD", "nREFI", "nRFC", "mac_lanes", "gb_bytes")
_DRAM_FLOAT = ("tCK_ns", "mac_ghz", "io_gbs_per_channel", "io_latency_ns", "background_w_per_channel")
_ASIC = ("lanes", "ghz", "sram_bytes_per_cycle", "latency_ns", "alu_pj", "sram_pj_per_bit", "background_w")
_GPU = ("bandwidth_gbs", "tflops", "mem_efficiency", "compute_efficiency", "launch_us", "mac_pj", "background_w")


@dataclass(frozen=True)
class DramPim:
    """One PIM memory: organisation, timing in seconds, MAC units. Hashable (mappings are cached on it)."""
    channels: int
    banks_per_channel: int
    units_per_channel: int
    banks_per_unit: int
    rows_per_bank: int
    row_bytes: int
    burst_bytes: int
    tCK: float
    tRCD: float
    tRP: float
    tRAS: float
    tCCD: float
    tREFI: float
    tRFC: float
    refresh: bool
    mac_lanes: int
    mac_hz: float
    gb_bytes: int
    io_bw_per_channel: float  # B/s
    io_latency: float  # s
    background_w_per_channel: float
    path: str

    @property
    def units(self) -> int:
        """MAC units in the whole memory (C * U)."""
        return self.channels * self.units_per_channel

    def t_burst(self, bits: int = 16) -> float:
        """Time per column MAC burst: the column cadence tCCD, or the MAC lanes if they are slower."""
        return max(self.tCCD, self.burst_bytes * 8 / bits / (self.mac_lanes * self.mac_hz))

    def peak_bandwidth(self, bits: int = 16) -> float:
        """Internal bank-to-MAC bandwidth of all units streaming (B/s), before row overheads."""
        return self.units * self.burst_bytes / self.t_burst(bits)

    def peak_flops(self) -> float:
        """2 FLOP per MAC lane per MAC clock, all units."""
        return 2.0 * self.units * self.mac_lanes * self.mac_hz

    @property
    def capacity_bytes(self) -> int:
        return self.channels * self.banks_per_channel * self.rows_per_bank * self.row_bytes

    @property
    def rows_per_unit(self) -> int:
        return self.rows_per_bank * self.banks_per_unit


@dataclass(frozen=True)
class Asic:
    """The non-linear-op engine (PIM-GPT's ASIC, a host SFU, or an NPU's vector units)."""
    lanes: int
    ghz: float
    sram_bytes_per_cycle: float
    latency_ns: float
    alu_pj: float
    sram_pj_per_bit: float
    background_w: float


@dataclass(frozen=True)
class GpuSide:
    """The GPU/NPU side: a roofline per op plus a per-kernel launch overhead."""
    name: str
    bandwidth_gbs: float
    tflops: float
    mem_efficiency: float
    compute_efficiency: float
    launch_us: float
    mac_pj: float
    background_w: float
    path: str = "gpu"


@dataclass(frozen=True)
class System:
    """A loaded preset: ``dram`` (the PIM memory), ``asic``, ``gpu``; ``preset`` is the raw dict, ``cite``
    its sources."""
    name: str
    dram: DramPim
    asic: Asic
    gpu: GpuSide
    mac_pj: float
    preset: dict = field(compare=False, hash=False, repr=False)

    def __post_init__(self):
        check_str("name", self.name)
        check_instance("dram", self.dram, DramPim)
        check_instance("asic", self.asic, Asic)
        check_instance("gpu", self.gpu, GpuSide)
        check_float("mac_pj", self.mac_pj, low=0, low_open=True)
        check_instance("preset", self.preset, dict)

    @property
    def cite(self) -> dict:
        return self.preset.get("cite", {})


def list_systems() -> list[str]:
    """Names of the shipped PIM system presets."""
    return sorted(p.stem for p in SYSTEMS_DIR.glob("*.json"))


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _number(section: dict, key: str, where: str, integer: bool, positive: bool = True):
    """section[key], checked as system[where][key]: a positive integer, or a number > 0 (>= 0 if not
    `positive`)."""
    name = f"system[{where!r}][{key!r}]"
    if key not in section:
        raise fail(name, "a value", "nothing (missing)", described=True)
    v = section[key]
    if integer:
        return check_int(name, int(v) if isinstance(v, float) and v.is_integer() else v, low=1)
    return check_float(name, v, low=0, low_open=positive)


def load_system(system: str | dict | System = "aim-like") -> System:
    """Load a preset by name, or build one from a dict. A dict with ``"base": name`` deep-merges onto
    that preset, e.g. ``{"base": "aim-like", "dram": {"channels": 64}}``. Unknown name -> ValueError
    listing the known ones."""
    if isinstance(system, System):
        return system
    if isinstance(system, str):
        if system not in list_systems():
            raise fail("system", f"one of the known systems {list_systems()} (or a dict)", system)
        raw = json.loads((SYSTEMS_DIR / f"{system}.json").read_text())
    elif isinstance(system, dict):
        raw = dict(system)
        if "base" in raw:
            raw = _merge(load_system(raw.pop("base")).preset, raw)
    else:
        raise type_fail("system", "a preset name, a dict or a System", system)
    for sec in ("dram", "asic", "gpu"):
        if not isinstance(raw.get(sec), dict):
            raise fail(f"system[{sec!r}]", "a dict (section)", raw.get(sec))
    d, a, g = raw["dram"], raw["asic"], raw["gpu"]
    vals = {k: _number(d, k, "dram", True) for k in _DRAM_INT}
    vals.update({k: _number(d, k, "dram", False, positive=k != "background_w_per_channel") for k in _DRAM_FLOAT})
    if vals["units_per_channel"] * vals["banks_per_unit"] != vals["banks_per_channel"]:
        raise fail("system['dram']['banks_per_channel']", "units_per_channel * banks_per_unit "
                   f"({vals['units_per_channel']} * {vals['banks_per_unit']})", vals["banks_per_channel"])
    if vals["row_bytes"] % vals["burst_bytes"]:
        raise fail("system['dram']['row_bytes']", f"a multiple of burst_bytes ({vals['burst_bytes']})",
                   vals["row_bytes"])
    path = check_choice("system['dram']['path']", d.get("path", "bank"), sorted(PATHS))
    tck = vals["tCK_ns"] * 1e-9
    dram = DramPim(
        channels=vals["channels"], banks_per_channel=vals["banks_per_channel"],
        units_per_channel=vals["units_per_channel"], banks_per_unit=vals["banks_per_unit"],
        rows_per_bank=vals["rows_per_bank"], row_bytes=vals["row_bytes"], burst_bytes=vals["burst_bytes"],
        tCK=tck, tRCD=vals["nRCD"] * tck, tRP=vals["nRP"] * tck, tRAS=vals["nRAS"] * tck,
        tCCD=vals["nCCD"] * tck, tREFI=vals["nREFI"] * tck, tRFC=vals["nRFC"] * tck,
        refresh=bool(d.get("refresh", True)), mac_lanes=vals["mac_lanes"], mac_hz=vals["mac_ghz"] * 1e9,
        gb_bytes=vals["gb_bytes"], io_bw_per_channel=vals["io_gbs_per_channel"] * 1e9,
        io_latency=vals["io_latency_ns"] * 1e-9, background_w_per_channel=vals["background_w_per_channel"],
        path=path)
    if dram.refresh and dram.tRFC >= dram.tREFI:
        raise fail("system['dram']['nRFC']", f"fewer cycles than nREFI ({vals['nREFI']})", vals["nRFC"])
    asic = Asic(**{k: _number(a, k, "asic", False, positive=k not in ("latency_ns", "background_w")) for k in _ASIC})
    gvals = {k: _number(g, k, "gpu", False, positive=k not in ("launch_us", "background_w")) for k in _GPU}
    gpu = GpuSide(name=str(g.get("name", "gpu")), path=str(g.get("path", "gpu")), **gvals)
    mac_pj = _number(raw.get("energy", {"mac_pj": 1.5}), "mac_pj", "energy", False)
    return System(name=str(raw.get("name", "custom")), dram=dram, asic=asic, gpu=gpu, mac_pj=mac_pj, preset=raw)
