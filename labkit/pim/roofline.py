"""GPU roofline over the op graph: each op takes max(compute time, memory time) + launch overhead.

    time(op) = max(ops / (peak * compute_efficiency), bytes / (bandwidth * bandwidth_efficiency))
               + kernel_overhead
    bound    = "memory" if ops/bytes < peak/bandwidth (the ridge) else "compute"

This is LLM-Viewer's roofline_model.py (Williams et al., CACM 2009) with explicit efficiency factors
and a per-kernel launch term; with the defaults (1, 1, 0) and mode="llm-viewer" it reproduces
LLM-Viewer's model_analyzer.py (commit 472f71f) per op and in total (benchmarks/pim_llmviewer_parity.py
checks this against LLM-Viewer's own code). The step time is the sum over ops (kernels run in turn).
Every decoder layer is the same, so each distinct op is computed once and repeated L times
(`_fast_table`, backend="fast", the default); `table(build_graph(...), ...)` is the readable per-op path
(backend="readable"), and tests hold the two equal value for value. `layers` (pandas) and `graph` (Op
records) are built only when first read.
The peak is INT8 when w, a and kv bits are all <= 8, else FP16 (LLM-Viewer's rule, both modes).

mode="physics" differs from mode="llm-viewer" in exactly these places (b batch, q query tokens per
sequence, T = b*q, kv keys attended, H hidden, I intermediate, V vocab, nh/nkv heads, hd head_dim,
a/w bytes per activation/weight element; docs/pim-physics-vs-llm-viewer.md has the same table):

  op               llm-viewer (LLM-Viewer's formula)            physics
  ---------------  -------------------------------------------  ----------------------------------------
  lm_head flops    b*H*V (x1)                                   2*b*H*V
  lm_head acts     load H*a, store V*a (no batch factor)        load b*H*a, store b*V*a
  mlp_act          2*T*H ops, load 2*T*H*a, store T*H*a         on I: gated 2*T*I ops, load 2*T*I*a;
                   (hidden_size; 2 operands for every MLP)      GELU 1 op, load T*I*a; store T*I*a
                                                                (MoE: T*k*I elements)
  embed            not counted                                  rows touched: min(T,V)*H*w (+ q*H*w
                                                                GPT-2 positions), store T*H*a
  final_norm       not counted                                  a norm over T*H
  norm flops       7 per element                                RMSNorm 4, LayerNorm 7 per element
  norm weights     0                                            gains: H*w (RMSNorm), 2*H*w (LayerNorm)
  linear biases    0                                            N*w per linear (GPT-2)
  attn/mlp_add     load T*H*a (one operand)                     load 2*T*H*a (x and f(x))
  qk_matmul Q      prefill loads q*hd*b*nkv*a                   q*hd*b*nh*a (all query heads)
  fused_attention  O = q*kv*b*nh*a, stored twice;               O = q*hd*b*nh*a stored once;
                   K,V read n_blocks*kv*hd*b*nh*kv_b*2          K,V read n_blocks*kv*hd*b*nkv*kv_b*2
  gate_proj        also in non-gated MLPs (GPT-2: LLM-Viewer's     only in gated (SwiGLU) MLPs
                   opt.py lists it): 2*T*H*I ops, H*I*w
  MoE MLP          one dense expert (no MoE template)           router H->E; experts on T*k tokens;
                                                                weights of min(E, T*k) experts
  shapes           hd = H//nh, q_proj H x H, k/v H x H*nkv/nh   config head_dim, nh*hd, nkv*hd
                                                                (equal for every shipped model)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from labkit.pim.hardware import Hardware, load_hardware
from labkit.pim.models import load_model
from labkit.pim.opgraph import GraphParts, Op, graph_parts, unroll
from labkit.validate import check_choice, check_float

BACKENDS = ("fast", "readable")
COLUMNS = ["layer", "op", "kind", "ops", "bytes", "intensity", "bound", "time",
           "load_weight", "load_act", "store_act", "load_kv_cache", "store_kv_cache"]
_NUMBERS = ["ops", "load_weight", "load_act", "store_act", "load_kv_cache", "store_kv_cache", "bytes", "intensity",
            "time"]  # the numeric columns, in the order of RooflineResult's private table


@dataclass(frozen=True, eq=False)
class RooflineResult:
    """One step's roofline. `layers` has one row per op per layer (COLUMNS; seconds, bytes, ops);
    it and `graph` (the Op records, in execution order) are built on first access."""

    model: str
    hardware: Hardware
    stage: str
    mode: str
    batch: int
    seq_len: int
    w_bits: int
    a_bits: int
    kv_bits: int
    use_flashattention: bool
    bandwidth: float  # effective: hardware.bandwidth * bandwidth_efficiency (B/s)
    peak_ops: float  # effective: peak * compute_efficiency (ops/s)
    kernel_overhead: float
    _parts: GraphParts = field(repr=False)  # the graph, one layer standing for all
    _table: np.ndarray = field(repr=False)  # (len(_NUMBERS), ops): numeric columns of `layers`, all ops
    total_time: float = 0.0
    total_ops: float = 0.0
    total_bytes: float = 0.0

    @property
    def ridge(self) -> float:
        """Effective ridge point, ops per byte."""
        return self.peak_ops / self.bandwidth

    @cached_property
    def graph(self) -> tuple[Op, ...]:
        """The Op records, in execution order (what build_graph returns)."""
        return tuple(unroll(self._parts))

    @cached_property
    def layers(self) -> pd.DataFrame:
        """One row per op per layer, in execution order (COLUMNS)."""
        p = self._parts
        L, n = p.cfg.num_hidden_layers, len(p.layer)
        rows = p.before + p.layer * L + p.after
        layer = np.concatenate((np.full(len(p.before), -1), np.repeat(np.arange(L), n), np.full(len(p.after), -1)))
        num = dict(zip(_NUMBERS, self._table, strict=True))
        memory = num["intensity"] < self.peak_ops / self.bandwidth  # below the ridge; a tie is "compute"
        return pd.DataFrame({"layer": layer, "op": [r[0] for r in rows], "kind": [r[2] for r in rows], **num,
                             "bound": np.where(memory, "memory", "compute")}, columns=COLUMNS)

    def snapshot(self) -> dict:
        """Plain data: the per-op table (`layers`), the totals and the arguments it was made with."""
        return {"layers": self.layers, "total_time": self.total_time, "total_ops": self.total_ops,
                "total_bytes": self.total_bytes, "model": self.model, "hardware": self.hardware.name,
                "stage": self.stage, "mode": self.mode, "batch": self.batch, "seq_len": self.seq_len,
                "w_bits": self.w_bits, "a_bits": self.a_bits, "kv_bits": self.kv_bits,
                "use_flashattention": self.use_flashattention, "bandwidth": self.bandwidth,
                "peak_ops": self.peak_ops, "kernel_overhead": self.kernel_overhead}

    def summary(self) -> pd.DataFrame:
        """Per op name, summed over layers: count, ops, bytes, time and share of the step time."""
        df = self.layers
        g = df.groupby("op", sort=False).agg(count=("op", "size"), ops=("ops", "sum"), bytes=("bytes", "sum"),
                                             time=("time", "sum"))
        g["share"] = g["time"] / self.total_time
        total = pd.DataFrame({"count": [len(df)], "ops": [self.total_ops], "bytes": [self.total_bytes],
                              "time": [self.total_time], "share": [1.0]}, index=["total"])
        return pd.concat([g, total])


def roofline(model="llama-2-7b", hardware="nvidia_H100", stage: str = "decode", batch: int = 1,
             seq_len: int = 1024, w_bits: int = 16, a_bits: int = 16, kv_bits: int = 16,
             mode: str = "llm-viewer", use_flashattention: bool = False, bandwidth_efficiency: float = 1.0,
             compute_efficiency: float = 1.0, kernel_overhead: float = 0.0, backend: str = "fast") -> RooflineResult:
    """Roofline time of one prefill or decode step of `model` on `hardware`.

    model: shipped name (pim.list_models()), HF-style config dict or ModelConfig; hardware: shipped
    name (pim.list_hardware()), dict or Hardware. seq_len: prompt length (prefill) or tokens
    attended (decode). Efficiencies in (0, 1] derate peak bandwidth and compute; kernel_overhead
    (seconds, >= 0) is added once per op. backend: "fast" computes each distinct op once and repeats
    it over the L identical layers (`_fast_table`); "readable" computes every op of the explicit graph
    (`table(build_graph(...))`); both give the same result, value for value."""
    cfg = load_model(model)
    hw = load_hardware(hardware)
    be = check_float("bandwidth_efficiency", bandwidth_efficiency, low=0, high=1, low_open=True)
    ce = check_float("compute_efficiency", compute_efficiency, low=0, high=1, low_open=True)
    overhead = check_float("kernel_overhead", kernel_overhead, low=0)
    check_choice("backend", backend, BACKENDS)
    parts = graph_parts(cfg, stage, batch, seq_len, w_bits, a_bits, kv_bits, mode=mode,
                        use_flashattention=use_flashattention, onchip_buffer=hw.onchip_buffer)
    bw = hw.bandwidth * be
    peak = hw.peak_ops(w_bits, a_bits, kv_bits) * ce
    if backend == "fast":
        numbers = _fast_table(parts, bw, peak, overhead)
    else:  # the readable per-op path, stored in the same (columns x ops) layout
        numbers = table(unroll(parts), bw, peak, overhead)[_NUMBERS].to_numpy().T.copy()
    # totals: numpy's (pairwise) sum over every op in execution order, as pandas' Series.sum does
    ops, nbytes, time = numbers[0].sum(), numbers[6].sum(), numbers[8].sum()
    return RooflineResult(
        model=cfg.name, hardware=hw, stage=stage, mode=mode, batch=batch, seq_len=seq_len, w_bits=w_bits,
        a_bits=a_bits, kv_bits=kv_bits, use_flashattention=use_flashattention, bandwidth=bw, peak_ops=peak,
        kernel_overhead=overhead, _parts=parts, _table=numbers, total_time=float(time), total_ops=float(ops),
        total_bytes=float(nbytes))


def _fast_table(parts: GraphParts, bw: float, peak: float, overhead: float) -> np.ndarray:
    """_NUMBERS for every op of every layer: computed once per distinct op (the L decoder layers are
    identical), then repeated; equal, value for value, to table(unroll(parts), ...)."""
    rows = parts.before + parts.layer + parts.after
    u = np.empty((len(_NUMBERS), len(rows)))
    u[:6] = np.array([r[7:13] for r in rows]).T  # flops and the five byte counts, in Op's field order
    ops, w, al, st, kl, ks, nbytes, intensity, time = u
    np.add(w, al, out=nbytes)  # LLM-Viewer's summation order: weight + act load + act store + kv load + kv store
    nbytes += st
    nbytes += kl
    nbytes += ks
    intensity[:] = np.inf  # no bytes: infinite intensity
    np.divide(ops, nbytes, out=intensity, where=nbytes > 0)
    np.maximum(ops / peak, nbytes / bw, out=time)
    time += overhead
    return u.take(_unrolled(len(parts.before), len(parts.layer), parts.cfg.num_hidden_layers, len(rows)), axis=1)


@lru_cache(maxsize=256)
def _unrolled(e: int, n: int, L: int, k: int) -> np.ndarray:
    """Index of each op of the unrolled graph into before + layer + after (k ops; e before, n per layer)."""
    where = np.concatenate((np.arange(e), np.tile(np.arange(e, e + n), L), np.arange(e + n, k)))
    where.setflags(write=False)
    return where


def table(graph: list[Op], bw: float, peak: float, overhead: float) -> pd.DataFrame:
    """The readable per-op path: `layers` from explicit Op records (the test holds roofline to it)."""
    ops = np.array([o.flops for o in graph])
    loads = {c: np.array([getattr(o, a) for o in graph]) for c, a in (
        ("load_weight", "weight_bytes"), ("load_act", "act_load_bytes"), ("store_act", "act_store_bytes"),
        ("load_kv_cache", "kv_load_bytes"), ("store_kv_cache", "kv_store_bytes"))}
    # LLM-Viewer's summation order: weight + act load + act store + kv load + kv store
    nbytes = loads["load_weight"] + loads["load_act"] + loads["store_act"] + loads["load_kv_cache"] \
        + loads["store_kv_cache"]
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(nbytes > 0, ops / nbytes, np.inf)
    memory = intensity < peak / bw  # below the ridge; a tie is "compute", as in LLM-Viewer
    time = np.maximum(ops / peak, nbytes / bw) + overhead
    return pd.DataFrame({"layer": [o.layer for o in graph], "op": [o.name for o in graph],
                         "kind": [o.kind for o in graph], "ops": ops, "bytes": nbytes, "intensity": intensity,
                         "bound": np.where(memory, "memory", "compute"), "time": time, **loads},
                        columns=COLUMNS)
