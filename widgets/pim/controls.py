"""The PIM page's controls: model, batch, sequence length, bit widths, GPU hardware, PIM system and
placement; and the labkit.pim results they select (a GPU roofline, the simulated PIM step, the GPU-only
step for comparison), computed by labkit and cached per setting.

    PimControls(model, batch, seq_len, w_bits, a_bits, kv_bits, hardware, system, placement, mode)
        .roofline()          pim.roofline(model, hardware, "decode", ...)           RooflineResult
        .timeline()          pim.simulate(model, system, placement=placement, ...)  Timeline
        .baseline()          the same step with placement="gpu" (the system's GPU side)
        .bank_timeline(l)    timeline() with per-bank events for layer l (detail="bank")
        .error               why the current setting cannot be simulated ("" when it can)
"""

from __future__ import annotations

from functools import lru_cache

import param

from labkit import pim
from labkit.pim import RooflineResult, Timeline, list_systems, simulate

__all__ = ["PimControls", "BITS", "PLACEMENTS"]

BITS = [4, 8, 16]
PLACEMENTS = ["pim", "neupims", "gpu"]
STAGE = "decode"  # the page shows one decode step (a new token per sequence)


@lru_cache(maxsize=64)
def _roofline(model, hardware, batch, seq_len, w_bits, a_bits, kv_bits, mode) -> RooflineResult:
    return pim.roofline(model, hardware, stage=STAGE, batch=batch, seq_len=seq_len, w_bits=w_bits, a_bits=a_bits,
                        kv_bits=kv_bits, mode=mode)


@lru_cache(maxsize=64)
def _simulate(model, system, batch, seq_len, w_bits, a_bits, kv_bits, placement, bank_layer=None) -> Timeline:
    kw = dict(system=system, stage=STAGE, batch=batch, seq_len=seq_len, w_bits=w_bits, a_bits=a_bits,
              kv_bits=kv_bits, placement=placement)
    if placement == "neupims":
        kw["sub_batches"] = min(2, batch)  # NeuPIMs' two interleaved sub-batches (one when batch = 1)
    if bank_layer is not None:
        kw.update(detail="bank", bank_layers=[bank_layer])
    return simulate(model, **kw)


class PimControls(param.Parameterized):
    """What to compute: one decode step of `model` at `batch` sequences of `seq_len` tokens, with
    weights / activations / KV cache in `w_bits` / `a_bits` / `kv_bits`; its GPU roofline on `hardware`
    (pim.list_hardware()) and its timeline on the PIM `system` (pim.list_systems()) with `placement`
    ("pim": PIM-GPT's split, "neupims": GEMMs on the GPU/NPU and attention on PIM, "gpu": all on the
    system's GPU side). The GPU-only step on the same system is always computed for comparison."""

    model = param.Selector(default="llama-2-7b", objects=pim.list_models(), doc="model (pim.list_models())")
    batch = param.Integer(default=1, bounds=(1, 64), doc="sequences decoded together")
    seq_len = param.Integer(default=512, bounds=(128, 8192), step=128, doc="tokens in the KV cache")
    w_bits = param.Selector(default=16, objects=BITS, doc="bits per weight")
    a_bits = param.Selector(default=16, objects=BITS, doc="bits per activation")
    kv_bits = param.Selector(default=16, objects=BITS, doc="bits per KV-cache element")
    hardware = param.Selector(default="nvidia_H100", objects=pim.list_hardware(),
                              doc="GPU of the roofline plot (pim.list_hardware())")
    system = param.Selector(default="attacc-bank", objects=list_systems(),
                            doc="PIM system preset (pim.list_systems()); its GPU side runs the GPU-only step")
    placement = param.Selector(default="pim", objects=PLACEMENTS, doc="where the ops run on the PIM system")
    mode = param.Selector(default="physics", objects=["physics", "llm-viewer"], doc="roofline mode")
    error = param.String(default="", constant=True, doc="why the current setting cannot be simulated")

    SETTINGS = ("model", "batch", "seq_len", "w_bits", "a_bits", "kv_bits", "hardware", "system", "placement",
                "mode")

    def _args(self):
        return self.model, self.batch, self.seq_len, self.w_bits, self.a_bits, self.kv_bits

    def roofline(self) -> RooflineResult:
        """The GPU roofline of the decode step (cached per setting)."""
        m, b, s, w, a, kv = self._args()
        return _roofline(m, self.hardware, b, s, w, a, kv, self.mode)

    def timeline(self) -> Timeline:
        """The step on the PIM system with the chosen placement (cached per setting)."""
        m, b, s, w, a, kv = self._args()
        return _simulate(m, self.system, b, s, w, a, kv, self.placement)

    def baseline(self) -> Timeline:
        """The same step all on the system's GPU side (placement="gpu")."""
        m, b, s, w, a, kv = self._args()
        return _simulate(m, self.system, b, s, w, a, kv, "gpu")

    def bank_timeline(self, layer: int) -> Timeline:
        """timeline() with one event per MAC unit (bank) for `layer`, per channel elsewhere."""
        m, b, s, w, a, kv = self._args()
        return _simulate(m, self.system, b, s, w, a, kv, self.placement, int(layer))

    def compute(self):
        """(roofline, timeline, baseline) for the current setting, or None with `error` set when labkit
        refuses it (a model that does not fit the system, a placement that needs a larger batch)."""
        try:
            out = self.roofline(), self.timeline(), self.baseline()
        except ValueError as e:
            with param.edit_constant(self):
                self.error = str(e)
            return None
        with param.edit_constant(self):
            self.error = ""
        return out
