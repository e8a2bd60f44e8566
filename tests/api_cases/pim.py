"""API cases for labkit.pim (see tests/api_cases/__init__.py): the op graph and roofline, the model /
hardware / system loaders, the DRAM-PIM GEMV mapping and the event simulation. Timeline and
RooflineResult are the memories (snapshot(), inspected by widgets.pim); Op, Hardware, ModelConfig and
System are frozen records, covered by their constructor (Op, System check their fields) or main method."""

import dataclasses

from api_cases import Case

MODULES = ["labkit.pim"]

M = "labkit.pim"
TINY = {"name": "tiny-gqa", "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 704, "vocab_size": 1000}
BITS = dict(w_bits=16, a_bits=16, kv_bits=16)


def _timeline():
    from labkit.pim import simulate
    return simulate("gpt2", "aim-like", batch=2, seq_len=64)


def _roofline():
    from labkit.pim import roofline
    return roofline("llama-2-7b", "nvidia_H100", "decode", 1, 1024)


def _op_fields():
    from labkit.pim import build_graph
    op = next(o for o in build_graph("gpt2", batch=2, seq_len=16) if o.name == "q_proj")
    return {f.name: getattr(op, f.name) for f in dataclasses.fields(op)}


def _system_fields():
    from labkit.pim import load_system
    s = load_system("aim-like")
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


def _model():
    from labkit.pim import load_model
    return load_model("gpt2")


def _hardware():
    from labkit.pim import load_hardware
    return load_hardware("nvidia_H100")


def _dram():
    from labkit.pim import load_system
    return load_system("aim-like").dram


CASES = [
    # the op graph and the GPU roofline
    Case(M, "build_graph", dict(model="gpt2", stage="decode", batch=2, seq_len=16, **BITS, mode="physics",
                                use_flashattention=True, onchip_buffer=65536.0),
         ok={"onchip_buffer": {"inf": "an unlimited buffer (the FlashAttention block is then head_dim rows)"}},
         bad={"batch": [0], "seq_len": [0], "w_bits": [0, 33], "a_bits": [0], "kv_bits": [64],
              "onchip_buffer": [0.0, -1.0]}),
    Case(M, "roofline", dict(model="llama-2-7b", hardware="nvidia_H100", stage="prefill", batch=2, seq_len=128,
                             **BITS, mode="llm-viewer", use_flashattention=False, bandwidth_efficiency=0.9,
                             compute_efficiency=0.8, kernel_overhead=2e-6, backend="fast"),
         memory=True,
         bad={"batch": [0], "seq_len": [0], "kv_bits": [0, 33], "bandwidth_efficiency": [0.0, 1.5, -0.5],
              "compute_efficiency": [0.0, 2.0], "kernel_overhead": [-1e-6]}),
    Case(M, "RooflineResult.summary", make=_roofline, memory=True),
    Case(M, "Op", _op_fields(), ok={"name": {"unknown value": "an op may have any name"}},
         bad={"layer": [-2], "M": [0], "K": [0], "N": [0], "heads": [0], "experts": [0], "flops": [-1.0],
              "weight_bytes": [-1.0]}),
    # loaders
    Case(M, "list_models"),
    Case(M, "load_model", dict(model="gpt2")),
    Case(M, "ModelConfig.num_parameters", make=_model),
    Case(M, "list_hardware"),
    Case(M, "load_hardware", dict(hardware="nvidia_H100")),
    Case(M, "Hardware.peak_ops", dict(w_bits=8, a_bits=8, kv_bits=8),
         make=_hardware,
         bad={"w_bits": [0, 33], "a_bits": [0], "kv_bits": [40]}),
    Case(M, "list_systems"),
    Case(M, "load_system", dict(system="hbm-pim")),
    Case(M, "System", _system_fields(), ok={"name": {"unknown value": "a system may have any name"}},
         bad={"mac_pj": [0.0, -1.5]}),
    # the DRAM-PIM GEMV
    Case(M, "map_gemv", dict(N=4096, K=1024, dram=_dram(), M=2, heads=1, bits=16, by_head=False),
         bad={"N": [0], "K": [0], "M": [0], "heads": [0], "bits": [0, 3, 64]}),
    Case(M, "gemv_time", dict(N=4096, K=11008, system="aim-like", M=1, heads=4, bits=8, start=1e-3),
         bad={"N": [0], "K": [-1], "M": [0], "heads": [0], "bits": [3], "start": [-1e-9]}),
    # the event simulation
    Case(M, "simulate", dict(model="gpt2", system="aim-like", stage="decode", batch=2, seq_len=64, **BITS,
                             placement="pim", detail="channel"),
         memory=True,
         bad={"batch": [0], "seq_len": [0], "w_bits": [0, 3, 33], "a_bits": [0], "kv_bits": [3, 64]}),
    Case(M, "simulate", dict(model=TINY, system="neupims", stage="decode", batch=3, seq_len=100, **BITS,
                             placement="neupims", detail="bank", bank_layers=[0, -1], sub_batches=2),
         memory=True, id="neupims-bank",
         bad={"sub_batches": [0, 4], "bank_layers": [[-2], [2], 5], "kv_bits": [12]}),
    Case(M, "Timeline.critical_path", make=_timeline, memory=True),
    Case(M, "Timeline.by_op", make=_timeline),
    Case(M, "Timeline.energy_breakdown", make=_timeline),
]
