"""simulate(): one prefill or decode step of a model on a PIM system, as a :class:`Timeline`.

Placements
    "pim"      PIM-GPT's split: every linear and attention matmul runs in the PIM banks (weights and the
               KV cache stay in DRAM, mapped as in dram.py); norms, softmax, activations and residual adds
               run on the ASIC; the ASIC broadcasts each input vector to the channels' global buffers and
               reads the results back over the "link" lane (DRAM I/O latency + bytes / channel bandwidth).
    "gpu"      everything on the system's GPU side, one lane, part A's physics roofline per op with the
               preset's efficiencies and per-kernel launch overhead (labkit.pim.roofline).
    "neupims"  NeuPIMs (Heo et al., ASPLOS'24): linear layers (the batched GEMMs) on the GPU/NPU side,
               attention GEMVs on PIM, non-linear ops on the ASIC (the NPU's vector units for the
               "neupims" preset). The batch is split into ``sub_batches`` sub-batches and their ops are
               interleaved at attention boundaries, so one sub-batch's attention on PIM overlaps the other's
               GEMMs on the NPU. Assumption (NeuPIMs' dual row buffers): PIM MACs and the NPU's weight reads
               do not block each other, so the NPU and PIM lanes are independent. ``sub_batches=1`` is the
               naive NPU+PIM system (no overlap). Each sub-batch's GEMMs re-read the weights.

Dependencies come from the op graph (``Op.inputs``): an op starts when its inputs are done and its lane
is free; independent ops (q/k/v projections on different channels, the sub-batches) overlap.

Event granularity: ``detail="channel"`` gives one event per PIM op per channel ("pim/ch03"), ``"bank"``
one per MAC unit ("pim/ch03/bank07", a unit = a bank, or the bank pair of one HBM-PIM block) for the
layers in ``bank_layers`` (None = all; an int or list of ints, -1 = the LM head).
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral

import numpy as np

from labkit.pim.dram import gemv_time, map_gemv, refresh_finish, unit_work
from labkit.pim.energy import event_energy
from labkit.pim.models import load_model
from labkit.pim.opgraph import build_graph
from labkit.pim.roofline import roofline
from labkit.pim.schedule import EventLog, Timeline
from labkit.pim.systems import System, list_systems, load_system

__all__ = ["simulate", "Timeline", "System", "list_systems", "load_system", "gemv_time", "map_gemv"]

PLACEMENTS = ("pim", "gpu", "neupims")
DETAILS = ("channel", "bank")
PIM_KINDS = ("linear", "attention")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name}: must be >= {low}, got {value}")
    return int(value)


def simulate(model="gpt2-medium", system="aim-like", stage: str = "decode", batch: int = 1, seq_len: int = 512,
             w_bits: int = 16, a_bits: int = 16, kv_bits: int = 16, placement: str = "pim",
             detail: str = "channel", bank_layers=None, sub_batches: int | None = None) -> Timeline:
    """Timeline of one ``stage`` step ("decode": one new token per sequence; "prefill": the prompt).

    model: name (pim.list_models()), HF-style dict or ModelConfig; system: name (list_systems()),
    dict or System. ``sub_batches`` (neupims): default 2, or 1 at batch 1. Returns a Timeline
    (latency s, energy J, events DataFrame)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement: expected one of {list(PLACEMENTS)}, got {placement!r}")
    if detail not in DETAILS:
        raise ValueError(f"detail: expected one of {list(DETAILS)}, got {detail!r}")
    _check_int("batch", batch, 1)
    _check_int("seq_len", seq_len, 1)
    sb = min(2, batch) if sub_batches is None else _check_int("sub_batches", sub_batches, 1)
    if placement == "neupims" and sb > batch:
        raise ValueError(f"sub_batches: {sb} sub-batches need batch >= {sb}, got batch={batch}")
    layers = _bank_layers(bank_layers) if detail == "bank" else frozenset()
    sysm = load_system(system)
    cfg = load_model(model)
    args = dict(stage=stage, seq_len=seq_len, w_bits=w_bits, a_bits=a_bits, kv_bits=kv_bits)
    meta = dict(model=cfg.name, system=sysm.name, placement=placement, batch=batch, detail=detail,
                tokens=batch if stage == "decode" else batch * seq_len, **args)
    log = EventLog()
    ctx = _Ctx(log, sysm, w_bits, kv_bits, layers)
    if placement == "gpu":
        graph, times = _gpu_graph(cfg, sysm, batch, args)
        _run(ctx, graph, ["gpu"] * len(graph), times)
        return log.timeline(meta, {"gpu": sysm.gpu.background_w})
    if placement == "pim":
        graph = build_graph(cfg, batch=batch, mode="physics", **args)
        where = ["pim" if o.kind in PIM_KINDS else "asic" for o in graph]
        _check_capacity(cfg, sysm, graph, where, batch, seq_len, w_bits, kv_bits)
        _run(ctx, graph, where, [0.0] * len(graph))
        return log.timeline(meta, {"pim": sysm.dram.channels * sysm.dram.background_w_per_channel,
                                   "asic": sysm.asic.background_w})
    # neupims: capacity of the whole batch (weights read by the NPU live in the same memory)
    full = build_graph(cfg, batch=batch, mode="physics", **args)
    _check_capacity(cfg, sysm, full, ["pim" if o.kind == "attention" else "npu" for o in full], batch, seq_len,
                    w_bits, kv_bits)
    sizes = [batch // sb + (1 if i < batch % sb else 0) for i in range(sb)]
    chunks_per_sb = []
    for i, b in enumerate(sizes):
        graph, times = _gpu_graph(cfg, sysm, b, args)
        where = ["gpu" if o.kind == "linear" else "pim" if o.kind == "attention" else "asic" for o in graph]
        chunks_per_sb.append(_chunks(graph, where, times, f"@sb{i}"))
    _run_chunks(ctx, _round_robin(chunks_per_sb))
    meta["sub_batches"] = sb
    return log.timeline(meta, {"gpu": sysm.gpu.background_w, "asic": sysm.asic.background_w,
                               "pim": sysm.dram.channels * sysm.dram.background_w_per_channel})


def _bank_layers(bank_layers):
    if bank_layers is None:
        return None  # all layers
    vals = [bank_layers] if isinstance(bank_layers, Integral) else list(bank_layers)
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, Integral) or v < -1:
            raise ValueError(f"bank_layers: expected None, a layer index >= -1 or a list of them, got {bank_layers!r}")
    return frozenset(int(v) for v in vals)


def _gpu_graph(cfg, sysm: System, batch, args):
    g = sysm.gpu
    hw = {"name": g.name, "bandwidth": g.bandwidth_gbs * 1e9, "FP16": g.tflops * 1e12}
    r = roofline(cfg, hw, batch=batch, mode="physics", bandwidth_efficiency=g.mem_efficiency,
                 compute_efficiency=g.compute_efficiency, kernel_overhead=g.launch_us * 1e-6, **args)
    return list(r.graph), r.layers["time"].to_numpy()


def _pim_shape(op, w_bits, kv_bits):
    """(N, K, M, heads, bits) of the matrix a PIM op streams: weights (linear; MoE experts are
    independent matrices sharing the op's token rows) or the KV cache (attention, per KV head)."""
    if op.kind == "attention":
        return op.N, op.K, op.M, op.heads, kv_bits
    e = max(1, op.experts)
    return op.N, op.K, -(-op.M // e), e * op.heads, w_bits


def _mapping(op, ctx):
    """The op's mapping; for multi-head attention the cheaper of dealing tiles over all channels (every
    channel needs every query) and dealing whole heads to channels (each gets only its heads' queries)."""
    d = ctx.sys.dram
    args = _args(op, ctx.w_bits, ctx.kv_bits, d)
    m = map_gemv(*args)
    if op.kind == "attention" and op.heads > 1:
        h = map_gemv(*args, by_head=True)
        cost = [float(x.busy.max()) + op.act_load_bytes * float(x.heads_share.max()) / d.io_bw_per_channel
                for x in (m, h)]
        m = h if cost[1] < cost[0] else m
    return m


def _check_capacity(cfg, sysm: System, graph, where, batch, seq_len, w_bits, kv_bits):
    """PIM-mapped matrices take whole DRAM rows (dram.py's tiles); everything else (weights the GPU/NPU
    or ASIC reads) is packed densely. Too much -> ValueError naming the model."""
    d = sysm.dram
    tiles, other = 0, 0.0
    for op, w in zip(graph, where, strict=True):
        if w == "pim":
            tiles += map_gemv(*_args(op, w_bits, kv_bits, d)).total_tiles
        else:
            other += op.weight_bytes
    need = -(-tiles // d.units) + int(np.ceil(other / d.row_bytes / d.units))
    if need > d.rows_per_unit:
        raise ValueError(
            f"model: {cfg.name!r} does not fit system {sysm.name!r} at batch={batch}, seq_len={seq_len}: "
            f"its weights and KV cache need {need} DRAM rows per MAC unit "
            f"({need * d.units * d.row_bytes / 2**30:.1f} GiB), the memory has {d.rows_per_unit} "
            f"({d.capacity_bytes / 2**30:.1f} GiB)")


def _args(op, w_bits, kv_bits, d):
    N, K, M, heads, bits = _pim_shape(op, w_bits, kv_bits)
    return N, K, d, M, heads, bits


class _Ctx:
    def __init__(self, log: EventLog, sysm: System, w_bits, kv_bits, bank_layers):
        self.log, self.sys, self.w_bits, self.kv_bits, self.bank_layers = log, sysm, w_bits, kv_bits, bank_layers
        C = sysm.dram.channels
        self.ch_lanes = log.lanes([f"pim/ch{c:02d}" for c in range(C)])
        self.unit_lanes = None
        self.link, self.asic, self.gpu = log.lanes(["link"])[0], log.lanes(["asic"])[0], log.lanes(["gpu"])[0]

    def units(self):
        if self.unit_lanes is None:
            d = self.sys.dram
            self.unit_lanes = self.log.lanes([f"pim/ch{c:02d}/bank{u:02d}" for c in range(d.channels)
                                              for u in range(d.units_per_channel)]).reshape(d.channels, -1)
        return self.unit_lanes


def _chunks(graph, where, times, tag):
    """Split one sub-batch's ops at the first attention op of each block (NeuPIMs' interleaving unit)."""
    chunks, cur = [], []
    for i, op in enumerate(graph):
        if op.kind == "attention" and cur and graph[i - 1].kind not in ("attention", "softmax"):
            chunks.append(cur)
            cur = []
        cur.append((op, where[i], times[i], tag))
    chunks.append(cur)
    return chunks


def _round_robin(chunks_per_sb):
    n = max(len(c) for c in chunks_per_sb)
    return [c[k] for k in range(n) for c in chunks_per_sb if k < len(c)]


def _run(ctx: _Ctx, graph, where, times):
    _run_chunks(ctx, [[(op, w, t, "") for op, w, t in zip(graph, where, times, strict=True)]])


def _run_chunks(ctx: _Ctx, chunks):
    done: dict = {}  # (tag, layer, name) -> (end, index of the event ending last)
    for chunk in chunks:
        for group in _fuse_siblings(chunk):
            op, w, t, tag = group[0]
            deps = [done[(tag, *k)] for k in op.inputs if (tag, *k) in done]
            ready, rp = max(deps, key=lambda x: x[0]) if deps else (0.0, -1)
            if w == "pim":
                fused = op if len(group) == 1 else replace(
                    op, name="+".join(g[0].name for g in group), N=sum(g[0].N for g in group),
                    **{f: sum(getattr(g[0], f) for g in group) for f in
                       ("flops", "weight_bytes", "act_store_bytes", "kv_store_bytes")})
                result = _pim_op(ctx, fused, fused.name + tag, ready, rp)
            elif w == "asic":
                result = _asic_op(ctx, op, op.name + tag, ready, rp)
            else:
                result = _gpu_op(ctx, op, op.name + tag, ready, rp, t)
            for g in group:
                done[(tag, g[0].layer, g[0].name)] = result


def _fuse_siblings(chunk):
    """Group consecutive PIM linear ops that read the same input with the same K and M (q/k/v, gate/up):
    PIM-GPT concatenates such matrices into one GEMV, so the input vector is broadcast once."""
    groups = []
    for item in chunk:
        op, w = item[0], item[1]
        prev = groups[-1][0] if groups else None
        if prev and w == "pim" and prev[1] == "pim" and op.kind == "linear" == prev[0].kind \
                and op.inputs == prev[0].inputs and op.layer == prev[0].layer and op.K == prev[0].K \
                and op.M == prev[0].M and op.experts == prev[0].experts == 1 and op.heads == prev[0].heads == 1:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _one(idx, end):
    return float(end[0]), int(idx[0])


def _gpu_op(ctx: _Ctx, op, name, ready, rp, t):
    g = ctx.sys.gpu
    e = event_energy(1, moved=[(op.bytes, g.path)], macs=op.flops / 2, mac_pj=g.mac_pj)
    return _one(*ctx.log.add([ctx.gpu], ready, rp, t, unit="gpu", op=name, layer=op.layer, kind=op.kind,
                              nbytes=op.bytes, flops=op.flops, energy=e))


def _asic_op(ctx: _Ctx, op, name, ready, rp):
    """Non-linear op on the ASIC: issue latency + max(compute, buffer traffic); weights it reads (norm
    gains, embedding rows) come from DRAM over all channels' I/O."""
    a, d = ctx.sys.asic, ctx.sys.dram
    act = op.act_load_bytes + op.act_store_bytes
    t = a.latency_ns * 1e-9 + max(op.flops / (a.lanes * a.ghz * 1e9), act / (a.sram_bytes_per_cycle * a.ghz * 1e9)) \
        + op.weight_bytes / (d.channels * d.io_bw_per_channel)
    e = event_energy(1, moved=[(op.weight_bytes, "gpu")], alu_ops=op.flops, alu_pj=a.alu_pj, sram_bytes=act,
                     sram_pj_per_bit=a.sram_pj_per_bit)
    return _one(*ctx.log.add([ctx.asic], ready, rp, t, unit="asic", op=name, layer=op.layer, kind=op.kind,
                              nbytes=op.bytes, flops=op.flops, energy=e))


def _pim_op(ctx: _Ctx, op, name, ready, rp):
    """Broadcast the input vectors (link) -> the GEMV on every channel (or MAC unit) -> read the results
    back, and write new K/V rows into the banks (link)."""
    s, log = ctx.sys, ctx.log
    d = s.dram
    C = d.channels
    m = _mapping(op, ctx)
    # 1. input vectors into the global buffers of the channels that need them (in parallel)
    t_in = d.io_latency + op.act_load_bytes * float(m.heads_share.max()) / d.io_bw_per_channel
    b_in = op.act_load_bytes * float(m.heads_share.sum())
    e_in = event_energy(1, moved=[(b_in, "io")])
    i_in, end_in = log.add([ctx.link], ready, rp, t_in, unit="link", op=name + ":in", layer=op.layer, kind="link",
                           nbytes=b_in, energy=e_in)
    # 2. the all-bank GEMV (dram.py), refresh stretching it
    share = m.bursts / m.bursts.sum()
    flops = op.flops * share
    nbytes = m.bursts * d.burst_bytes
    fin = (lambda st, w: refresh_finish(st, w, d))
    bank = ctx.bank_layers is None or op.layer in ctx.bank_layers
    if not bank:
        e = event_energy(C, moved=[(nbytes, d.path)], macs=flops / 2, mac_pj=s.mac_pj)
        idx, end = log.add(ctx.ch_lanes, end_in[0], i_in[0], m.busy, unit="pim", op=name, layer=op.layer,
                           kind=op.kind, nbytes=nbytes, flops=flops, energy=e, finish=fin)
        last = int(idx[np.argmax(end)])
    else:
        start, pred = log.peek(ctx.ch_lanes, end_in[0], i_in[0])
        busy_u, _, bursts_u = unit_work(m, d)
        lanes = ctx.units()
        keep = busy_u > 0
        cc = np.nonzero(keep)[0]
        ub = bursts_u[keep] * d.burst_bytes
        uf = op.flops * bursts_u[keep] / bursts_u.sum()
        e = event_energy(len(cc), moved=[(ub, d.path)], macs=uf / 2, mac_pj=s.mac_pj)
        idx, end_u = log.add(lanes[keep], start[cc], pred[cc], busy_u[keep], unit="pim", op=name, layer=op.layer,
                             kind=op.kind, nbytes=ub, flops=uf, energy=e, finish=fin)
        end = refresh_finish(start, m.busy, d)
        first = np.searchsorted(cc, np.arange(C))  # unit 0 of each channel: its longest (rows are dealt first)
        used = m.tiles > 0
        log.occupy(ctx.ch_lanes[used], end[used], idx[first[used]])
        last = int(idx[first[np.argmax(np.where(used, end, -np.inf))]])
    ch_end = float(np.max(end))
    # 3. results (and new K/V rows) back over the channels' I/O
    out = op.act_store_bytes + op.kv_store_bytes
    t_out = d.io_latency + out / (C * d.io_bw_per_channel)
    e_out = event_energy(1, moved=[(out, "io"), (op.kv_store_bytes, "bank")])
    return _one(*log.add([ctx.link], ch_end, last, t_out, unit="link", op=name + ":out", layer=op.layer,
                         kind="link", nbytes=out, energy=e_out))
