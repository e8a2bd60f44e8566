"""PIM cost model speed, and (on a CUDA machine) the roofline against a measured GPU.

1. Timeline generation: `pim.simulate` of a 32-layer Llama-2-7B decode step (aim-like, 1024 tokens),
   channel detail (the default) and per-bank detail for one layer and for every layer; median of 21.
   Target (issue 6): < 50 ms for the 32-layer step.
2. Roofline side by side with its anchor, LLM-Viewer's `ModelAnalyzer.analyze` (both stages of one
   configuration per call), alternating, median of 7 — only when LLM_VIEWER_DIR names a checkout
   (LLM-Viewer is not on PyPI; see benchmarks/pim_llmviewer_parity.py for the exactness check).
3. Inspector redraw: the PIM page (`widgets.pim.PimExplorer`, llama-2-7b, its default PIM system) after a
   slider change to a value not seen before (labkit recomputes) and to one already seen (cached),
   server side (parameter set -> Bokeh models updated), median over the values. Target: < 100 ms.
4. GPU validation: GPT-2 decode ms/token measured with torch (random weights from the shipped
   config, fp16, batch 1, warm, KV cache of 128-896 tokens: GPT-2 has 1024 positions) beside the
   physics roofline of the same step with ONE calibrated factor — the per-kernel overhead, fitted
   by least squares over the sequence lengths — and the fitted model's error per point. Skipped
   (and said so) without CUDA; `--gpu-device cpu` runs the same plumbing on the CPU against the
   `intel_13900k` entry (a smoke test of the code path, not a validation).

Run: .venv/bin/python benchmarks/pim.py [--gpu-device cuda|cpu] [--skip-widgets]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine, median_time  # noqa: E402

from labkit import pim  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402


def timeline_speed() -> list[dict]:
    rows = []
    cases = (("channel detail (default)", {}), ("bank detail, layer 0", {"detail": "bank", "bank_layers": [0]}),
             ("bank detail, all 32 layers", {"detail": "bank"}))
    for label, kw in cases:
        t = pim.simulate("llama-2-7b", "aim-like", seq_len=1024, **kw)
        s = median_time(lambda kw=kw: pim.simulate("llama-2-7b", "aim-like", seq_len=1024, **kw), repeats=21)
        rows.append({"timeline": label, "events": len(t.events), "ms (median of 21)": 1e3 * s,
                     "latency ms": 1e3 * t.latency})
    return rows


def llm_viewer_ratio(path: str) -> dict:
    import tempfile
    from pathlib import Path

    from pim_llmviewer_parity import import_llm_viewer, make_analyzer
    ModelAnalyzer, _ = import_llm_viewer(path)
    with tempfile.TemporaryDirectory() as tmp:
        an = make_analyzer(ModelAnalyzer, "llama-2-7b", "nvidia_H100", Path(tmp))

        def ours():
            return [pim.roofline("llama-2-7b", "nvidia_H100", s, 1, 1024, mode="llm-viewer")
                    for s in ("prefill", "decode")]
        return compare(ours, lambda: an.analyze(seqlen=1024, batchsize=1, w_bit=16, a_bit=16, kv_bit=16), repeats=7)


def widget_redraw() -> list[dict]:
    import panel as pn

    from widgets.pim import PimExplorer, redraw_time
    pn.extension(inline=True)
    view = PimExplorer(model="llama-2-7b", seq_len=1024)
    root = pn.panel(view).get_root()
    rows = []
    # new values make labkit recompute (simulate x2 + roofline); revisiting one hits the page's cache
    for name, values in (("batch", [2, 3, 5, 6, 7, 9, 10, 11, 12]), ("seq_len", [640, 768, 896, 1152, 1280, 1408]),
                         ("kv_bits", [8, 4]), ("model", ["llama-2-13b", "gpt2-xl", "llama-3-8b"]),
                         ("model (revisited values)", ["llama-2-13b", "gpt2-xl", "llama-3-8b"])):
        attr = name.split(" ")[0]
        rows.append({"slider": name, "system": view.system, "changes": len(values),
                     "redraw ms (median)": 1e3 * redraw_time(view, attr, values, root=root)})
    return rows


def gpu_validation(device: str, seq_lens=(128, 256, 512, 896), steps: int = 50) -> list[dict] | str:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device on this machine: GPU validation skipped"
    cfg = pim.load_model("gpt2")
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = GPT2LMHeadModel(GPT2Config(**{k: v for k, v in cfg.config.items() if k in GPT2Config().to_dict()}))
    model = model.to(device=device, dtype=dtype).eval()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    hw = "nvidia_H100_SXM_datasheet" if device == "cuda" else "intel_13900k"
    if device == "cuda":
        name = torch.cuda.get_device_name().lower()
        hw = next((h for key, h in (("h200", "nvidia_H200"), ("h100", "nvidia_H100_SXM_datasheet"),
                                    ("a100", "nvidia_A100_80G"), ("t4", "nvidia_T4")) if key in name), hw)
    measured, base, kernels = [], [], []
    with torch.inference_mode():
        for s in seq_lens:
            ids = torch.randint(0, cfg.vocab_size, (1, s), device=device)
            out = model(ids, use_cache=True)
            past, nxt = out.past_key_values, ids[:, -1:]
            for _ in range(3):  # warm-up steps (grow the cache by 3; the roofline uses s + 3 + steps/2)
                out = model(nxt, past_key_values=past, use_cache=True)
                past = out.past_key_values
            sync()
            t = time.perf_counter()
            for _ in range(steps):
                out = model(nxt, past_key_values=past, use_cache=True)
                past = out.past_key_values
            sync()
            measured.append((time.perf_counter() - t) / steps)
            r = pim.roofline("gpt2", hw, "decode", 1, s + 3 + steps // 2, w_bits=16 if device == "cuda" else 32,
                             a_bits=16 if device == "cuda" else 32, kv_bits=16 if device == "cuda" else 32,
                             mode="physics")
            base.append(r.total_time)
            kernels.append(len(r.layers))
    measured, base, kernels = map(np.asarray, (measured, base, kernels))
    # one factor: per-kernel overhead o >= 0 minimising sum (base + o * kernels - measured)^2
    o = max(0.0, float(np.sum((measured - base) * kernels) / np.sum(kernels * kernels)))
    pred = base + o * kernels
    return [{"device": device, "hardware entry": hw, "seq_len": s, "measured ms": 1e3 * m, "roofline ms": 1e3 * b,
             "fitted overhead us/kernel": 1e6 * o, "predicted ms": 1e3 * p, "error": p / m - 1}
            for s, m, b, p in zip(seq_lens, measured, base, pred, strict=True)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu-device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--skip-widgets", action="store_true")
    args = ap.parse_args(argv)
    print("# PIM cost model: timeline speed, roofline vs LLM-Viewer, inspector redraw, GPU validation\n")
    print(f"Machine: {machine()}.\n")
    print("## 1. Timeline generation (llama-2-7b decode, aim-like, 1024 tokens; target < 50 ms)\n")
    print(markdown_table(timeline_speed(), floatfmt=".3g"))
    print("\n## 2. Roofline vs LLM-Viewer (llama-2-7b on nvidia_H100, prefill + decode, 1024 tokens)\n")
    path = os.environ.get("LLM_VIEWER_DIR")
    if path:
        r = llm_viewer_ratio(path)
        print(f"labkit {1e3 * r['labkit_s']:.2f} ms, LLM-Viewer {1e3 * r['anchor_s']:.2f} ms: ratio labkit/LLM-Viewer "
              f"**{r['ratio']:.2f}** (alternating, median of 7)")
    else:
        print("LLM_VIEWER_DIR is not set: skipped (LLM-Viewer is not on PyPI; see pim_llmviewer_parity.py)")
    if not args.skip_widgets:
        print("\n## 3. Inspector redraw after a slider change (PimExplorer, llama-2-7b; target < 100 ms)\n")
        print(markdown_table(widget_redraw(), floatfmt=".3g"))
    print("\n## 4. GPU validation (GPT-2 decode, batch 1; one fitted per-kernel overhead)\n")
    res = gpu_validation(args.gpu_device)
    print(res if isinstance(res, str) else markdown_table(res, floatfmt=".3g"))


if __name__ == "__main__":
    main()
