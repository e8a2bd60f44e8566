"""The PIM papers' headline ratios, recomputed with this model: pure functions returning DataFrames.

    pim_gpt_table()   PIM-GPT (Wu et al., arXiv 2310.09385 / npj Unconv. Comput. 2024): 41-137x faster
                      and 123-383x (v2; v1: 339-1085x) more energy-efficient than a GPU on GPT models
                      up to 1.4 B parameters, batch-1 decode.
    neupims_table()   NeuPIMs (Heo et al., ASPLOS'24): about 3x the throughput of an NPU-only system
                      and 1.6x that of a naive NPU+PIM system (batched decode).

Both are small-scale counterparts, not the papers' setups: PIM-GPT's own PIM parameters and GPU
measurements are not public, so the PIM side is the "aim-like" preset (SK hynix AiM timing) and the GPU
side a roofline T4 (datasheet 320 GB/s, 65 TFLOPS, AttAcc's 0.85 / 0.8 derating) plus a per-kernel
launch overhead; NeuPIMs' NPU and memory come from its configs, run on one tensor-parallel shard.
"""

from __future__ import annotations

import pandas as pd

from labkit.pim.models import load_model
from labkit.pim.simulate import simulate
from labkit.pim.systems import load_system
from labkit.validate import check_choice, check_float, check_int

GPT2_FAMILY = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


def pim_gpt_table(models=GPT2_FAMILY, seq_lens=(128, 1024), system="aim-like", batch: int = 1,
                  launch_us: float | None = None, gpu_tdp_w: float = 70.0) -> pd.DataFrame:
    """PIM (``system``, placement "pim") against its GPU side (placement "gpu") per decode token.

    Assumptions (each also in the preset's ``cite`` table):
      * PIM: all linear and attention matmuls in the banks (dram.py mapping, all-bank lockstep, refresh),
        matrices sharing an input concatenated (PIM-GPT), non-linear ops on a 128-lane 1 GHz ASIC, 25 ns
        DRAM I/O latency per PIM<->ASIC transfer; energy from AttAcc's FGDRAM pJ/bit table (bank path
        0.55 pJ/bit) and Horowitz FP16 MACs (1.5 pJ), 66 mW/channel background + 0.5 W ASIC.
      * GPU (T4 for aim-like): the physics roofline per op (labkit.pim.roofline), 0.85 x 320 GB/s,
        0.8 x 65 TFLOPS, plus ``launch_us`` per kernel (the preset's 7 us unless given) — the term that
        dominates at batch 1 and makes the ratio exceed the bandwidth ratio; energy 3.59 pJ/bit (AttAcc's
        GPU path; GDDR6 assumed alike), 1.5 pJ/MAC, 25 W board power above that.
    Columns: speedup = gpu_ms / pim_ms; energy_ratio = GPU J / PIM J; energy_ratio_dynamic leaves out
    background power on both sides; energy_ratio_tdp charges the GPU its whole ``gpu_tdp_w`` for the step."""
    check_float("gpu_tdp_w", gpu_tdp_w, low=0)
    pim_system = load_system(system)
    if launch_us is not None:
        launch_us = check_float("launch_us", launch_us, low=0)
        pim_system = load_system({"base": pim_system.name, "gpu": {"launch_us": launch_us}})
    rows = []
    for model in models:
        params = load_model(model).num_parameters()["total"]
        for s in seq_lens:
            p = simulate(model, pim_system, batch=batch, seq_len=s, placement="pim")
            g = simulate(model, pim_system, batch=batch, seq_len=s, placement="gpu")
            ps, gs = (t.energy_breakdown().loc["total", "static"] for t in (p, g))
            launches = int((g.events["kind"] != "background").sum())
            rows.append({
                "model": model, "params_M": params / 1e6, "seq_len": s,
                "pim_us": p.latency * 1e6, "gpu_ms": g.latency * 1e3, "speedup": g.latency / p.latency,
                "gpu_launch_share": launches * pim_system.gpu.launch_us * 1e-6 / g.latency,
                "pim_mJ": p.energy * 1e3, "gpu_mJ": g.energy * 1e3, "energy_ratio": g.energy / p.energy,
                "energy_ratio_dynamic": (g.energy - gs) / (p.energy - ps),
                "energy_ratio_tdp": gpu_tdp_w * g.latency / p.energy,
            })
    df = pd.DataFrame(rows)
    df.attrs["paper"] = {"speedup": (41, 137), "energy_v2": (123, 383), "energy_v1": (339, 1085)}
    return df


def gpt3_7b_shard(tp: int = 4) -> dict:
    """One tensor-parallel shard of NeuPIMs' GPT3-7B (casys-kaist/NeuPIMs configs/model_configs/gpt3-7B.json:
    n_embd 4096, 32 heads, vocab 50304, n_tp 4; 32 layers as GPT-3 6.7B): heads, MLP width (4 x 4096)
    and vocabulary split ``tp`` ways, hidden size whole (Megatron-style). Assumption: the all-reduces
    between shards cost nothing."""
    check_choice("tp", check_int("tp", tp, low=1), (1, 2, 4, 8, 16, 32))  # a power of two dividing 32 heads
    return {"name": f"gpt3-7b-tp{tp}", "model_type": "gpt2", "n_embd": 4096, "n_layer": 32, "n_head": 32 // tp,
            "head_dim": 128, "n_inner": 4 * 4096 // tp, "vocab_size": -(-50304 // tp), "n_positions": 2048}


def neupims_table(points=((64, 2048), (128, 1024), (256, 512), (512, 256)), system="neupims", model=None,
                  sub_batches: int = 2) -> pd.DataFrame:
    """Decode throughput (tokens/s) of NeuPIMs placement against the NPU alone and naive NPU+PIM.

    ``points``: (batch, seq_len) pairs; the defaults keep the KV cache at 16 GiB so every point fits the
    32 GB memory. ``model`` defaults to :func:`gpt3_7b_shard` (4-way tensor parallel, as NeuPIMs runs it).
    Systems: npu_only = placement "gpu" (every op on the NPU, attention reading the KV cache at the
    1 TB/s external bandwidth); naive = placement "neupims" with one sub-batch (GEMM on the NPU,
    attention on PIM, no overlap); neupims = ``sub_batches`` sub-batches interleaved. Assumption: dual row
    buffers let PIM MACs and NPU weight reads proceed together; each sub-batch re-reads the weights."""
    model = model if model is not None else gpt3_7b_shard()
    rows = []
    for batch, s in points:
        t = {name: simulate(model, system, batch=batch, seq_len=s, placement=placement, sub_batches=n_sub)
             for name, placement, n_sub in (("npu_only", "gpu", 1), ("naive", "neupims", 1),
                                             ("neupims", "neupims", sub_batches))}
        r = {"batch": batch, "seq_len": s}
        r.update({f"{k}_tok_s": batch / v.latency for k, v in t.items()})
        r["neupims_over_npu"] = t["npu_only"].latency / t["neupims"].latency
        r["neupims_over_naive"] = t["naive"].latency / t["neupims"].latency
        r["naive_over_npu"] = t["npu_only"].latency / t["naive"].latency
        rows.append(r)
    df = pd.DataFrame(rows)
    df.attrs["paper"] = {"neupims_over_npu": 3.0, "neupims_over_naive": 1.6}
    return df
