"""simulate(): one prefill or decode step of a model on a PIM system, as a :class:`Timeline`.

Placements
    "pim"      PIM-GPT's split (Wu, Wang & Lu, arXiv 2310.09385): every linear and attention matmul runs
               in the PIM banks (weights and the KV cache stay in DRAM, mapped as in dram.py); norms,
               softmax, activations and residual adds run on the ASIC; the ASIC broadcasts each input
               vector to the channels' global buffers and reads the results back over the "link" lane
               (DRAM I/O latency + bytes / channel bandwidth).
    "gpu"      everything on the system's GPU side, one lane: the physics roofline per op
               (labkit.pim.roofline) with the preset's efficiencies and per-kernel launch overhead.
    "neupims"  NeuPIMs (Heo et al., ASPLOS'24): linear layers (the batched GEMMs) on the GPU/NPU side,
               attention GEMVs on PIM, non-linear ops on the ASIC (the NPU's vector units for the
               "neupims" preset). The batch is split into ``sub_batches`` sub-batches and their ops are
               interleaved at attention boundaries (the paper's sub-batch interleaving), so one sub-batch's
               attention on PIM overlaps the other's GEMMs on the NPU. Assumption (the paper's dual row
               buffers): PIM MACs and the NPU's weight reads do not block each other, so the NPU and PIM
               lanes are independent. ``sub_batches=1`` is the naive NPU+PIM system (no overlap). Each
               sub-batch's GEMMs re-read the weights.

Dependencies come from the op graph (``Op.inputs``): an op starts when its inputs are done and its lane
is free (list scheduling, schedule.py); independent ops (q/k/v projections on different channels, the
sub-batches) overlap.

Event granularity: ``detail="channel"`` gives one event per PIM op per channel ("pim/ch03"), ``"bank"``
one per MAC unit ("pim/ch03/bank07", a unit = a bank, or the bank pair of one HBM-PIM block) for the
layers in ``bank_layers`` (None = all; an int or list of ints, -1 = the LM head).
"""

from __future__ import annotations

from numbers import Integral
from typing import NamedTuple

import numpy as np

from labkit.pim.dram import BITS, GemvMapping, gemv_time, map_gemv, refresh_finish, unit_work
from labkit.pim.energy import event_energy
from labkit.pim.models import ModelConfig, load_model
from labkit.pim.opgraph import Op, build_graph
from labkit.pim.roofline import roofline
from labkit.pim.schedule import EventLog, Timeline
from labkit.pim.systems import DramPim, System, list_systems, load_system
from labkit.validate import check_choice, check_int, fail, type_fail

__all__ = ["simulate", "Timeline", "System", "list_systems", "load_system", "gemv_time", "map_gemv"]

PLACEMENTS = ("pim", "gpu", "neupims")
DETAILS = ("channel", "bank")
PIM_KINDS = ("linear", "attention")


class Step(NamedTuple):
    """One op of the program: the unit it runs on ("pim", "asic" or "gpu"), its roofline seconds (GPU /
    NPU ops; 0 elsewhere) and the sub-batch suffix of its event names ("" or "@sb1")."""
    op: Op
    unit: str
    seconds: float
    sub_batch: str


class Done(NamedTuple):
    """When an op's results are ready: the end time and the index of the event that ends last (the
    ``pred`` of the events that wait for it)."""
    end: float
    event: int


AT_START = Done(0.0, -1)  # no dependency: ready at t = 0


def simulate(model="gpt2-medium", system="aim-like", stage: str = "decode", batch: int = 1, seq_len: int = 512,
             w_bits: int = 16, a_bits: int = 16, kv_bits: int = 16, placement: str = "pim",
             detail: str = "channel", bank_layers=None, sub_batches: int | None = None) -> Timeline:
    """Timeline of one ``stage`` step ("decode": one new token per sequence; "prefill": the prompt).

    model: name (pim.list_models()), HF-style dict or ModelConfig; system: name (list_systems()),
    dict or System. ``sub_batches`` (neupims): default 2, or 1 at batch 1. Returns a Timeline
    (latency s, energy J, events DataFrame)."""
    check_choice("placement", placement, PLACEMENTS)
    check_choice("detail", detail, DETAILS)
    batch = check_int("batch", batch, low=1)
    seq_len = check_int("seq_len", seq_len, low=1)
    n_sub = min(2, batch) if sub_batches is None else check_int("sub_batches", sub_batches, low=1)
    if placement == "neupims" and n_sub > batch:
        raise fail("sub_batches", f"at most batch={batch} sub-batches", n_sub)
    system = load_system(system)
    cfg = load_model(model)
    # PIM matrices pack whole elements into a DRAM row: weights (placement "pim") and the KV cache
    for name, bits, on_pim in (("w_bits", w_bits, placement == "pim"), ("kv_bits", kv_bits, placement != "gpu")):
        if on_pim:
            check_choice(name, check_int(name, bits, low=1), BITS)
    layers = _bank_layers(bank_layers, cfg)
    step_args = dict(stage=stage, seq_len=seq_len, w_bits=w_bits, a_bits=a_bits, kv_bits=kv_bits)
    meta = dict(model=cfg.name, system=system.name, placement=placement, batch=batch, detail=detail,
                tokens=batch if stage == "decode" else batch * seq_len, **step_args)
    machine = _Machine(EventLog(), system, w_bits, kv_bits, layers if detail == "bank" else frozenset())
    pim_watts = system.dram.channels * system.dram.background_w_per_channel
    if placement == "gpu":  # the baseline: every op a roofline kernel on the GPU, one after the other
        graph, seconds = _gpu_graph(cfg, system, batch, step_args)
        _schedule(machine, [_program(graph, ["gpu"] * len(graph), seconds)])
        return machine.log.timeline(meta, {"gpu": system.gpu.background_w})
    if placement == "pim":  # PIM-GPT: the matmuls in the DRAM banks, everything else on the ASIC
        graph = build_graph(cfg, batch=batch, mode="physics", **step_args)
        units = ["pim" if op.kind in PIM_KINDS else "asic" for op in graph]
        _check_capacity(cfg, system, graph, units, batch, seq_len, w_bits, kv_bits)
        _schedule(machine, [_program(graph, units, [0.0] * len(graph))])
        return machine.log.timeline(meta, {"pim": pim_watts, "asic": system.asic.background_w})
    # NeuPIMs: the GEMMs on the NPU, the attention GEMVs on PIM; capacity of the whole batch (the
    # weights the NPU reads live in the same memory)
    whole = build_graph(cfg, batch=batch, mode="physics", **step_args)
    _check_capacity(cfg, system, whole, ["pim" if op.kind == "attention" else "npu" for op in whole], batch,
                    seq_len, w_bits, kv_bits)
    sizes = [batch // n_sub + (1 if i < batch % n_sub else 0) for i in range(n_sub)]  # as even as can be
    programs = []
    for i, size in enumerate(sizes):
        graph, seconds = _gpu_graph(cfg, system, size, step_args)
        units = ["gpu" if op.kind == "linear" else "pim" if op.kind == "attention" else "asic" for op in graph]
        programs.append(_split_at_attention(_program(graph, units, seconds, f"@sb{i}")))
    _schedule(machine, _interleave(programs))
    meta["sub_batches"] = n_sub
    return machine.log.timeline(meta, {"gpu": system.gpu.background_w, "asic": system.asic.background_w,
                                       "pim": pim_watts})


def _bank_layers(bank_layers, cfg: ModelConfig):
    """None (every layer) or the frozenset of layer indices (-1 = outside the decoder stack)."""
    if bank_layers is None:
        return None
    values = [bank_layers] if isinstance(bank_layers, Integral) else bank_layers
    if not isinstance(values, (list, tuple, set, frozenset, range, np.ndarray)):
        raise type_fail("bank_layers", "None, a layer index or a list of them", bank_layers)
    last = cfg.num_hidden_layers - 1
    return frozenset(check_int("bank_layers", v, low=-1, high=last) for v in values)


# ---------------------------------------------------------------- the program

def _program(graph, units, seconds, sub_batch: str = "") -> list[Step]:
    """The graph's ops in execution order, each with its unit and (GPU / NPU) roofline seconds."""
    return [Step(op, unit, t, sub_batch) for op, unit, t in zip(graph, units, seconds, strict=True)]


def _gpu_graph(cfg, system: System, batch, step_args):
    """The graph and each op's seconds on the GPU / NPU side: the physics roofline with the preset's
    derating (AttAcc's GPU model: max(compute, memory) at 0.8 / 0.85 of peak) plus a launch overhead."""
    gpu = system.gpu
    hardware = {"name": gpu.name, "bandwidth": gpu.bandwidth_gbs * 1e9, "FP16": gpu.tflops * 1e12}
    result = roofline(cfg, hardware, batch=batch, mode="physics", bandwidth_efficiency=gpu.mem_efficiency,
                      compute_efficiency=gpu.compute_efficiency, kernel_overhead=gpu.launch_us * 1e-6, **step_args)
    return list(result.graph), result.layers["time"].to_numpy()


def _split_at_attention(program: list[Step]) -> list[list[Step]]:
    """One sub-batch's program cut before the first attention op of each block: NeuPIMs' interleaving
    unit (its sub-batch interleaving alternates the GEMM and attention phases of two sub-batches)."""
    chunks, current = [], []
    for i, step in enumerate(program):
        if step.op.kind == "attention" and current and program[i - 1].op.kind not in ("attention", "softmax"):
            chunks.append(current)
            current = []
        current.append(step)
    chunks.append(current)
    return chunks


def _interleave(programs: list[list[list[Step]]]) -> list[list[Step]]:
    """Chunk k of every sub-batch, then chunk k + 1 of every sub-batch, ..."""
    n = max(len(chunks) for chunks in programs)
    return [chunks[k] for k in range(n) for chunks in programs if k < len(chunks)]


def _fuse_siblings(chunk: list[Step]) -> list[list[Step]]:
    """Group consecutive PIM linear ops that read the same input with the same K and M (q/k/v, gate/up):
    PIM-GPT concatenates such matrices into one GEMV (its mapping, "concatenating and partitioning
    matrices among DRAM channels and banks"), so the input vector is broadcast once."""
    groups: list[list[Step]] = []
    for step in chunk:
        op = step.op
        prev = groups[-1][0] if groups else None
        if prev and step.unit == "pim" and prev.unit == "pim" and op.kind == "linear" == prev.op.kind \
                and op.inputs == prev.op.inputs and op.layer == prev.op.layer and op.K == prev.op.K \
                and op.M == prev.op.M and op.experts == prev.op.experts == 1 and op.heads == prev.op.heads == 1:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def _fused(group: list[Step]) -> Op:
    """One op standing for a group of sibling matrices: output rows (N), flops and bytes add up."""
    ops = [step.op for step in group]
    if len(ops) == 1:
        return ops[0]
    return ops[0]._with(name="+".join(op.name for op in ops), N=sum(op.N for op in ops),
                        **{f: sum(getattr(op, f) for op in ops) for f in
                           ("flops", "weight_bytes", "act_store_bytes", "kv_store_bytes")})


# ---------------------------------------------------------------- the machine and its lanes

class _Machine:
    """The simulated system's lanes in one EventLog: one per PIM channel ("pim/ch03"), one per MAC unit
    ("pim/ch03/bank07", registered when first needed), and the "link", "asic" and "gpu" lanes."""

    def __init__(self, log: EventLog, system: System, w_bits, kv_bits, bank_layers):
        self.log, self.system, self.w_bits, self.kv_bits = log, system, w_bits, kv_bits
        self.bank_layers = bank_layers  # None: every layer per MAC unit; else these layers
        self.channel_lanes = log.lanes([f"pim/ch{c:02d}" for c in range(system.dram.channels)])
        self._unit_lanes = None
        self.link_lane, self.asic_lane, self.gpu_lane = (log.lanes([name])[0] for name in ("link", "asic", "gpu"))

    def per_unit(self, op: Op) -> bool:
        """Whether this op's PIM events are logged per MAC unit (detail="bank") or per channel."""
        return self.bank_layers is None or op.layer in self.bank_layers

    def unit_lanes(self) -> np.ndarray:
        """Lane ids (channels, units per channel) of the MAC units."""
        if self._unit_lanes is None:
            dram = self.system.dram
            self._unit_lanes = self.log.lanes([f"pim/ch{c:02d}/bank{u:02d}" for c in range(dram.channels)
                                               for u in range(dram.units_per_channel)]).reshape(dram.channels, -1)
        return self._unit_lanes


def _schedule(machine: _Machine, chunks: list[list[Step]]) -> None:
    """Log every step's events in program order; each starts when the ops it reads are done."""
    done: dict = {}  # (sub_batch, layer, name) -> Done
    for chunk in chunks:
        for group in _fuse_siblings(chunk):
            first = group[0]
            op, tag = first.op, first.sub_batch
            deps = [done[(tag, *key)] for key in op.inputs if (tag, *key) in done]
            ready = max(deps, key=lambda dep: dep.end) if deps else AT_START  # the latest input fixes the start
            if first.unit == "pim":
                fused = _fused(group)
                result = _pim_op(machine, fused, fused.name + tag, ready)
            elif first.unit == "asic":
                result = _asic_op(machine, op, op.name + tag, ready)
            else:
                result = _gpu_op(machine, op, op.name + tag, ready, first.seconds)
            for step in group:
                done[(tag, step.op.layer, step.op.name)] = result


def _done(added) -> Done:
    """The Done of a one-lane event (EventLog.add's indices and ends)."""
    return Done(float(added.end[0]), int(added.index[0]))


# ---------------------------------------------------------------- one op on each unit

def _gpu_op(machine: _Machine, op: Op, name: str, ready: Done, seconds: float) -> Done:
    """The roofline seconds on the GPU lane; energy: every byte over the GPU path, flops / 2 MACs."""
    gpu = machine.system.gpu
    energy = event_energy(1, moved=[(op.bytes, gpu.path)], macs=op.flops / 2, mac_pj=gpu.mac_pj)
    return _done(machine.log.add([machine.gpu_lane], ready.end, ready.event, seconds, unit="gpu", op=name,
                                 layer=op.layer, kind=op.kind, nbytes=op.bytes, flops=op.flops, energy=energy))


def _asic_op(machine: _Machine, op: Op, name: str, ready: Done) -> Done:
    """Non-linear op on the ASIC (PIM-GPT's ASIC; NeuPIMs' NPU vector units): issue latency +
    max(compute, buffer traffic); the weights it reads (norm gains, embedding rows) come from DRAM over
    all channels' I/O."""
    asic, dram = machine.system.asic, machine.system.dram
    buffer_bytes = op.act_load_bytes + op.act_store_bytes
    seconds = asic.latency_ns * 1e-9 \
        + max(op.flops / (asic.lanes * asic.ghz * 1e9), buffer_bytes / (asic.sram_bytes_per_cycle * asic.ghz * 1e9)) \
        + op.weight_bytes / (dram.channels * dram.io_bw_per_channel)
    energy = event_energy(1, moved=[(op.weight_bytes, "gpu")], alu_ops=op.flops, alu_pj=asic.alu_pj,
                          sram_bytes=buffer_bytes, sram_pj_per_bit=asic.sram_pj_per_bit)
    return _done(machine.log.add([machine.asic_lane], ready.end, ready.event, seconds, unit="asic", op=name,
                                 layer=op.layer, kind=op.kind, nbytes=op.bytes, flops=op.flops, energy=energy))


def _pim_op(machine: _Machine, op: Op, name: str, ready: Done) -> Done:
    """Broadcast the input vectors (link) -> the GEMV on every channel (or MAC unit) -> read the results
    back, and write new K/V rows into the banks (link)."""
    system, log = machine.system, machine.log
    dram = system.dram
    C = dram.channels
    mapping = _gemv_mapping(op, machine)
    # 1. input vectors into the global buffers of the channels that need them (in parallel)
    seconds_in = dram.io_latency + op.act_load_bytes * float(mapping.heads_share.max()) / dram.io_bw_per_channel
    bytes_in = op.act_load_bytes * float(mapping.heads_share.sum())
    send = log.add([machine.link_lane], ready.end, ready.event, seconds_in, unit="link", op=name + ":in",
                   layer=op.layer, kind="link", nbytes=bytes_in, energy=event_energy(1, moved=[(bytes_in, "io")]))
    sent, send_event = send.end[0], send.index[0]
    # 2. the all-bank GEMV (dram.py's closed form per channel), stretched by refresh windows
    def with_refresh(start, work):
        return refresh_finish(start, work, dram)

    if not machine.per_unit(op):
        # one event per channel; bytes and flops split by the bursts each channel reads
        share = mapping.bursts / mapping.bursts.sum()
        flops = op.flops * share
        nbytes = mapping.bursts * dram.burst_bytes
        energy = event_energy(C, moved=[(nbytes, dram.path)], macs=flops / 2, mac_pj=system.mac_pj)
        gemv = log.add(machine.channel_lanes, sent, send_event, mapping.busy, unit="pim", op=name,
                       layer=op.layer, kind=op.kind, nbytes=nbytes, flops=flops, energy=energy, finish=with_refresh)
        channel_end = gemv.end
        last_event = int(gemv.index[np.argmax(gemv.end)])
    else:
        # one event per busy MAC unit, each a prefix of its channel's lockstep rounds; the channel lane
        # stays busy until the channel's last round ends
        slot = log.peek(machine.channel_lanes, sent, send_event)
        work = unit_work(mapping, dram)
        active = work.busy > 0  # (C, U)
        channel_of = np.nonzero(active)[0]  # the channel of each active unit
        unit_bytes = work.bursts[active] * dram.burst_bytes
        unit_flops = op.flops * work.bursts[active] / work.bursts.sum()
        energy = event_energy(len(channel_of), moved=[(unit_bytes, dram.path)], macs=unit_flops / 2,
                              mac_pj=system.mac_pj)
        gemv = log.add(machine.unit_lanes()[active], slot.start[channel_of], slot.pred[channel_of],
                       work.busy[active], unit="pim", op=name, layer=op.layer, kind=op.kind, nbytes=unit_bytes,
                       flops=unit_flops, energy=energy, finish=with_refresh)
        channel_end = refresh_finish(slot.start, mapping.busy, dram)
        # unit 0 of each channel has its longest work (tiles are dealt to unit 0 first)
        first_unit = np.searchsorted(channel_of, np.arange(C))
        used = mapping.tiles > 0
        log.occupy(machine.channel_lanes[used], channel_end[used], gemv.index[first_unit[used]])
        last_event = int(gemv.index[first_unit[np.argmax(np.where(used, channel_end, -np.inf))]])
    gemv_end = float(np.max(channel_end))
    # 3. results (and new K/V rows) back over the channels' I/O
    bytes_out = op.act_store_bytes + op.kv_store_bytes
    seconds_out = dram.io_latency + bytes_out / (C * dram.io_bw_per_channel)
    energy_out = event_energy(1, moved=[(bytes_out, "io"), (op.kv_store_bytes, "bank")])
    return _done(log.add([machine.link_lane], gemv_end, last_event, seconds_out, unit="link", op=name + ":out",
                         layer=op.layer, kind="link", nbytes=bytes_out, energy=energy_out))


# ---------------------------------------------------------------- the GEMV mapping and capacity

def _gemv_args(op: Op, w_bits, kv_bits, dram: DramPim) -> tuple:
    """map_gemv's arguments (N, K, dram, M, heads, bits) for the matrix a PIM op streams: the KV cache
    (attention, per KV head) or the weights (linear; MoE experts are independent matrices sharing the
    op's token rows)."""
    if op.kind == "attention":
        return op.N, op.K, dram, op.M, op.heads, kv_bits
    experts = max(1, op.experts)
    return op.N, op.K, dram, -(-op.M // experts), experts * op.heads, w_bits


def _gemv_mapping(op: Op, machine: _Machine) -> GemvMapping:
    """The op's mapping; for multi-head attention the cheaper of dealing tiles over all channels (every
    channel needs every query) and dealing whole heads to channels (each gets only its heads' queries)."""
    dram = machine.system.dram
    args = _gemv_args(op, machine.w_bits, machine.kv_bits, dram)
    by_tile = map_gemv(*args)
    if op.kind == "attention" and op.heads > 1:
        by_head = map_gemv(*args, by_head=True)
        cost = [float(m.busy.max()) + op.act_load_bytes * float(m.heads_share.max()) / dram.io_bw_per_channel
                for m in (by_tile, by_head)]
        return by_head if cost[1] < cost[0] else by_tile
    return by_tile


def _check_capacity(cfg, system: System, graph, units, batch, seq_len, w_bits, kv_bits):
    """PIM-mapped matrices take whole DRAM rows (dram.py's tiles); everything else (weights the GPU/NPU
    or ASIC reads) is packed densely. Too much -> ValueError naming the model."""
    dram = system.dram
    tiles, dense_bytes = 0, 0.0
    for op, unit in zip(graph, units, strict=True):
        if unit == "pim":
            tiles += map_gemv(*_gemv_args(op, w_bits, kv_bits, dram)).total_tiles
        else:
            dense_bytes += op.weight_bytes
    rows_needed = -(-tiles // dram.units) + int(np.ceil(dense_bytes / dram.row_bytes / dram.units))
    if rows_needed > dram.rows_per_unit:
        raise ValueError(
            f"model: {cfg.name!r} does not fit system {system.name!r} at batch={batch}, seq_len={seq_len}: "
            f"its weights and KV cache need {rows_needed} DRAM rows per MAC unit "
            f"({rows_needed * dram.units * dram.row_bytes / 2**30:.1f} GiB), the memory has {dram.rows_per_unit} "
            f"({dram.capacity_bytes / 2**30:.1f} GiB)")
