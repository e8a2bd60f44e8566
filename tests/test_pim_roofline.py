"""The roofline: LLM-Viewer's numbers by hand, its hardware table, invariants (time >= bytes/bandwidth
and >= ops/peak, doubling bandwidth halves memory-bound time, monotone in seq_len), efficiency
factors, bad input, the fast path (one layer computed, repeated) against the explicit per-op graph
(backend="fast" against backend="readable"), and (with LLM_VIEWER_DIR set) parity against LLM-Viewer's own code."""

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.pim import build_graph, list_hardware, load_hardware, roofline
from labkit.pim.roofline import COLUMNS, table

H100 = 3072e9, 1979e12 / 2  # LLM-Viewer's nvidia_H100: bandwidth, FP16


def row(r, op, layer=0):
    rows = r.layers[(r.layers["op"] == op) & (r.layers["layer"] == layer)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_llm_viewer_decode_by_hand():
    """Llama-2-7B decode, batch 1, 1024 tokens attended, fp16, LLM-Viewer's nvidia_H100."""
    r = roofline("llama-2-7b", "nvidia_H100", "decode", 1, 1024, mode="llm-viewer")
    bw, peak = H100
    q = row(r, "q_proj")  # 4096 x 4096 GEMV: 2*4096^2 ops, weights + x + y in fp16
    assert q["ops"] == 2 * 4096**2 and q["bytes"] == 2 * 4096**2 + 2 * 4096 + 2 * 4096
    assert q["bound"] == "memory" and q["time"] == pytest.approx(q["bytes"] / bw, rel=1e-15)
    qk = row(r, "qk_matmul")  # scores of 32 heads against 1024 cached keys of 128 dims
    assert qk["ops"] == 2 * 1024 * 128 * 32
    assert (qk["load_act"], qk["store_act"], qk["load_kv_cache"]) == (128 * 32 * 2, 1024 * 32 * 2, 1024 * 128 * 32 * 2)
    assert row(r, "softmax")["ops"] == 5 * 32 * 1024
    assert row(r, "attn_norm")["ops"] == 7 * 4096
    act = row(r, "mlp_act")  # LLM-Viewer's quirk: hidden_size, not intermediate_size
    assert (act["ops"], act["bytes"]) == (2 * 4096, 2 * 2 * 4096 + 2 * 4096)
    head = row(r, "lm_head", -1)  # LLM-Viewer's quirk: b*H*V ops (x1)
    assert head["ops"] == 4096 * 32000 and head["bytes"] == 2 * 4096 * 32000 + 2 * 4096 + 2 * 32000
    # weights: 32 layers x (4*4096^2 + 3*4096*11008) + lm_head, fp16; no embedding, no norm gains
    assert r.layers["load_weight"].sum() == 13_214_154_752
    assert r.total_time == pytest.approx(r.layers["time"].sum(), rel=1e-15)
    assert (r.layers["bound"] == "memory").all()


def test_llm_viewer_prefill_is_compute_bound_for_big_matmuls():
    r = roofline("llama-2-7b", "nvidia_H100", "prefill", 8, 1024, mode="llm-viewer")
    q = row(r, "q_proj")
    assert q["ops"] == 2 * 8 * 1024 * 4096**2 and q["bound"] == "compute"
    assert q["time"] == pytest.approx(q["ops"] / H100[1], rel=1e-15)
    assert q["intensity"] == pytest.approx(q["ops"] / q["bytes"], rel=1e-15)


def test_int8_peak_only_when_every_width_is_at_most_8_bits():
    assert roofline(w_bits=8, a_bits=8, kv_bits=8).peak_ops == 3958e12 / 2
    assert roofline(w_bits=4, a_bits=8, kv_bits=16).peak_ops == 1979e12 / 2
    assert roofline(hardware="intel_13900k", w_bits=8, a_bits=8, kv_bits=8).peak_ops == 8 * 5.4e9 * 32  # no INT8


def test_hardware_table_is_llm_viewers_with_a_source_for_every_number():
    # LLM-Viewer hardwares/hardware_params.py @ 472f71f, transcribed by hand
    expect = {"nvidia_H100": (3072e9, 1979e12 / 2, 3958e12 / 2, 33792e3),
              "nvidia_A100": (1555e9, 312e12, 624e12, 27648e3), "nvidia_A100_40G": (1555e9, 312e12, 624e12, 27648e3),
              "nvidia_A100_80G": (2039e9, 312e12, 624e12, 27648e3), "nvidia_A6000": (768e9, 309.677e12 / 2, 309.7e12,
                                                                                    21504e3),
              "nvidia_A40": (696e9, 149.7e12, 299.3e12, 21504e3), "nvidia_V100": (900e9, 112e12, 62e12, 20480e3),
              "nvidia_H100_PCIe": (2048e9, 1513e12 / 2, 3026e12 / 2, 29184e3),
              "nvidia_L40": (864e9, 181e12, 362e12, 36352e3)}
    for name, values in expect.items():
        h = load_hardware(name)
        assert (h.bandwidth, h.fp16, h.int8, h.onchip_buffer) == values and h.origin == "llm-viewer"
    assert load_hardware("nvidia_H100_SXM_datasheet").bandwidth == 3.35e12
    assert (load_hardware("nvidia_T4").bandwidth, load_hardware("nvidia_T4").fp16) == (320e9, 65e12)
    for name in list_hardware():
        src = load_hardware(name).source
        assert all(src.get(k) for k in ("bandwidth", "FP16", "INT8", "onchip_buffer")), name


def test_t4_streams_gpt2_small_in_about_0_78_ms():
    """Shared reference, section 4: a T4's 320 GB/s streams GPT-2 small's ~248 MB in ~0.78 ms."""
    r = roofline("gpt2", "nvidia_T4", "decode", 1, 1, mode="physics")
    assert 247e6 < r.total_bytes < 249e6 and 0.77e-3 < r.total_time < 0.78e-3


def test_result_table_and_summary():
    r = roofline("llama-3-8b", "nvidia_A100_80G", "prefill", 2, 128, mode="physics", kernel_overhead=5e-6)
    assert list(r.layers.columns) == COLUMNS and len(r.layers) == len(r.graph) == 2 + 32 * 15 + 1
    s = r.summary()
    assert s.loc["total", "time"] == r.total_time and s.loc["total", "count"] == len(r.graph)
    assert s.drop("total")["time"].sum() == pytest.approx(r.total_time, rel=1e-12)
    assert s.loc["q_proj", "count"] == 32 and s.loc["total", "share"] == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.total_time = 0


def test_efficiencies_and_kernel_overhead():
    base = roofline("llama-2-7b", stage="decode", batch=1, seq_len=512, mode="physics")
    slow = roofline("llama-2-7b", stage="decode", batch=1, seq_len=512, mode="physics", bandwidth_efficiency=0.5)
    assert slow.total_time == pytest.approx(2 * base.total_time, rel=1e-12)  # all memory-bound
    late = roofline("llama-2-7b", stage="decode", batch=1, seq_len=512, mode="physics", kernel_overhead=4e-6)
    assert late.total_time == pytest.approx(base.total_time + len(base.graph) * 4e-6, rel=1e-12)
    big = dict(model="llama-2-7b", stage="prefill", batch=4, seq_len=2048, mode="physics")
    fast, half = roofline(**big), roofline(**big, compute_efficiency=0.5)
    cb = fast.layers["bound"] == "compute"
    assert cb.any()
    np.testing.assert_allclose(half.layers["time"][cb], 2 * fast.layers["time"][cb], rtol=1e-12)


def _hw(bw):
    return {"name": "toy", "bandwidth": bw, "FP16": 400e12, "INT8": 800e12, "onchip_buffer": 20e6}


MODELS = ["gpt2", "gpt2-medium", "llama-2-7b", "llama-3-8b", "mixtral-8x7b"]
POINT = dict(model=st.sampled_from(MODELS), stage=st.sampled_from(["prefill", "decode"]), batch=st.integers(1, 64),
             seq_len=st.integers(1, 4096), bits=st.sampled_from([(16, 16, 16), (4, 16, 16), (8, 8, 8), (4, 4, 4)]),
             mode=st.sampled_from(["physics", "llm-viewer"]), flash=st.booleans())


@settings(max_examples=40, deadline=None)
@given(**POINT, be=st.floats(0.05, 1.0), ce=st.floats(0.05, 1.0), hardware=st.sampled_from(list_hardware()))
def test_time_is_at_least_bytes_over_bandwidth_and_ops_over_peak(model, stage, batch, seq_len, bits, mode, flash,
                                                                 be, ce, hardware):
    r = roofline(model, hardware, stage, batch, seq_len, *bits, mode=mode, use_flashattention=flash,
                 bandwidth_efficiency=be, compute_efficiency=ce)
    hw = load_hardware(hardware)
    bw, peak = hw.bandwidth * be, hw.peak_ops(*bits) * ce
    t = r.layers["time"].to_numpy()
    assert (t >= r.layers["bytes"].to_numpy() / bw).all() and (t >= r.layers["ops"].to_numpy() / peak).all()
    # totals: a sum of per-op times against one division, so equal up to rounding
    assert r.total_time >= r.total_bytes / bw * (1 - 1e-12) and r.total_time >= r.total_ops / peak * (1 - 1e-12)
    assert r.total_time >= r.total_bytes / hw.bandwidth * (1 - 1e-12)


@settings(max_examples=30, deadline=None)
@given(**POINT, bw=st.floats(1e11, 5e12))
def test_doubling_bandwidth_halves_memory_bound_time(model, stage, batch, seq_len, bits, mode, flash, bw):
    one = roofline(model, _hw(bw), stage, batch, seq_len, *bits, mode=mode, use_flashattention=flash)
    two = roofline(model, _hw(2 * bw), stage, batch, seq_len, *bits, mode=mode, use_flashattention=flash)
    mem = (two.layers["bound"] == "memory").to_numpy()  # memory-bound at 2x is memory-bound at 1x
    assert (one.layers["bound"].to_numpy()[mem] == "memory").all()
    np.testing.assert_allclose(one.layers["time"].to_numpy()[mem], 2 * two.layers["time"].to_numpy()[mem], rtol=1e-12)
    assert two.total_time <= one.total_time
    if mem.all():
        assert one.total_time == pytest.approx(2 * two.total_time, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(**POINT, extra=st.integers(1, 2048))
def test_time_and_bytes_grow_with_seq_len(model, stage, batch, seq_len, bits, mode, flash, extra):
    kw = dict(model=model, stage=stage, batch=batch, w_bits=bits[0], a_bits=bits[1], kv_bits=bits[2], mode=mode,
              use_flashattention=flash)
    short, long = roofline(seq_len=seq_len, **kw), roofline(seq_len=seq_len + extra, **kw)
    assert long.total_time > short.total_time and long.total_bytes > short.total_bytes
    assert long.total_ops > short.total_ops


def test_decode_bytes_are_weights_plus_kv():
    """Shared reference goal: decode bytes = weights + KV*seq within 1 % (activations are the rest)."""
    for s in (128, 4096):
        r = roofline("llama-2-7b", "nvidia_H100", "decode", 1, s, mode="physics")
        kv = 2 * 32 * 4096 * s * 2
        weights = 2 * (6_738_415_616 - 32000 * 4096) + 2 * 4096
        assert r.total_bytes == pytest.approx(weights + kv, rel=0.01)
        assert r.layers["load_kv_cache"].sum() == kv


@pytest.mark.parametrize("bad, match", [
    ({"hardware": "nvidia_B200"}, "hardware: expected one of the known hardware .*nvidia_H100.*got 'nvidia_B200'"),
    ({"hardware": {"FP16": 1e12}}, "hardware\\['bandwidth'\\]: expected a positive number"),
    ({"hardware": 3}, "hardware: expected"),
    ({"model": "llama-9b"}, "model: expected one of the known models"),
    ({"bandwidth_efficiency": 0}, "bandwidth_efficiency"),
    ({"bandwidth_efficiency": 1.5}, "bandwidth_efficiency: expected a finite number in \\(0, 1\\]"),
    ({"compute_efficiency": float("nan")}, "compute_efficiency"),
    ({"kernel_overhead": -1e-6}, "kernel_overhead"),
    ({"stage": "generate"}, "stage: expected one of"),
    ({"batch": 0}, "batch: expected an integer >= 1"),
    ({"seq_len": 0}, "seq_len: expected an integer >= 1"),
    ({"kv_bits": 0}, "kv_bits: expected an integer in \\[1, 32\\]"),
    ({"mode": "LLM-Viewer"}, "mode: expected one of"),
    ({"backend": "numba"}, "backend: expected one of \\['fast', 'readable'\\]"),
])
def test_bad_input_names_the_argument(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        roofline(**bad)


@pytest.mark.skipif(not os.environ.get("LLM_VIEWER_DIR"),
                    reason="set LLM_VIEWER_DIR to a local LLM-Viewer checkout (not on PyPI; its code is not in labkit)")
def test_parity_with_llm_viewer_code():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from pim_llmviewer_parity import failures, run_parity

    worst = run_parity(os.environ["LLM_VIEWER_DIR"], models=["llama-2-7b", "llama-3-8b", "mixtral-8x7b", "gpt2"],
                       hardware=["nvidia_H100", "nvidia_A100_40G"], seq_lens=(1, 1024), batches=(1, 8))
    assert worst["points"] == 4 * 2 * 2 * 2 * 3 * 2 * 2
    assert failures(worst) == [], worst
    assert worst["per-op OPs"] <= 1e-9 and worst["total inference_time"] <= 1e-9


def test_an_op_on_the_ridge_is_compute_bound_as_in_llm_viewer():
    r = roofline("gpt2", "nvidia_H100", "decode", 1, 16, mode="llm-viewer")
    on_ridge = float(row(r, "q_proj")["intensity"])
    tie = roofline("gpt2", {"bandwidth": 1.0, "FP16": on_ridge}, "decode", 1, 16, mode="llm-viewer")
    assert row(tie, "q_proj")["bound"] == "compute"  # roofline_model.py: memory only when intensity < ridge


@settings(max_examples=60, deadline=None)
@given(**POINT, be=st.floats(0.05, 1.0), ce=st.floats(0.05, 1.0), overhead=st.sampled_from([0.0, 3e-6]),
       hardware=st.sampled_from(list_hardware()))
def test_fast_path_equals_the_explicit_per_op_graph(model, stage, batch, seq_len, bits, mode, flash, be, ce,
                                                     overhead, hardware):
    """roofline computes each distinct op once and repeats it over the layers; the readable path
    (table() over build_graph's Op records, one row per op) must give the very same numbers."""
    r = roofline(model, hardware, stage, batch, seq_len, *bits, mode=mode, use_flashattention=flash,
                 bandwidth_efficiency=be, compute_efficiency=ce, kernel_overhead=overhead)
    hw = load_hardware(hardware)
    graph = build_graph(model, stage, batch, seq_len, *bits, mode=mode, use_flashattention=flash,
                        onchip_buffer=hw.onchip_buffer)
    bw, peak = hw.bandwidth * be, hw.peak_ops(*bits) * ce
    explicit = table(graph, bw, peak, overhead)
    assert r.graph == tuple(graph)
    pd.testing.assert_frame_equal(r.layers, explicit, check_exact=True)
    # the totals are the explicit table's column sums, bit for bit (LLM-Viewer parity rests on the order)
    assert (r.total_time, r.total_ops, r.total_bytes) == (float(explicit["time"].sum()), float(explicit["ops"].sum()),
                                                         float(explicit["bytes"].sum()))
    # the public switch: backend="readable" runs that per-op path inside roofline, with the same result
    readable = roofline(model, hardware, stage, batch, seq_len, *bits, mode=mode, use_flashattention=flash,
                        bandwidth_efficiency=be, compute_efficiency=ce, kernel_overhead=overhead, backend="readable")
    pd.testing.assert_frame_equal(readable.layers, r.layers, check_exact=True)
    assert (readable.total_time, readable.total_ops, readable.total_bytes) == (r.total_time, r.total_ops,
                                                                               r.total_bytes)
    assert readable.graph == r.graph


def test_layers_and_graph_are_built_once_on_first_access():
    r = roofline("llama-2-7b", "nvidia_H100", "decode", 1, 1024)
    assert r.total_time > 0 and r.layers is r.layers and r.graph is r.graph
    assert len(r.layers) == len(r.graph) == 32 * 15 + 1
    for name in ("layers", "graph"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(r, name, None)
    assert "_parts" not in repr(r) and "_table" not in repr(r)
