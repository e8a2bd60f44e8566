"""labkit.pim.roofline(mode="llm-viewer") against LLM-Viewer's own ModelAnalyzer, op by op.

LLM-Viewer (github.com/hahnyuan/LLM-Viewer) is not on PyPI and its code is not part of labkit:
point this script at a local checkout, e.g.

    git clone https://github.com/hahnyuan/LLM-Viewer /tmp/llmviewer   # or git archive of commit 472f71f
    LLM_VIEWER_DIR=/tmp/llmviewer .venv/bin/python benchmarks/pim_llmviewer_parity.py [--quick]

It runs offline: each model's HF config (labkit's shipped json) is written to a temporary directory
that transformers.AutoConfig.from_pretrained reads. LLM-Viewer's templates: configs/Llama.py for
Llama / GQA / Mixtral (its Llama template treats an MoE MLP as one dense expert) and configs/opt.py
for GPT-2 (non-gated MLP, multi-head; the json gets OPT's "ffn_dim" = 4*n_embd, which it reads).
Grid: models x hardware x seq_len {1, 1024, 4096} x batch {1, 8, 64} x bits {16/16/16, 4/16/16,
8/8/8} x FlashAttention {off, on} x stage {prefill, decode}. Prints, per quantity, the largest
relative difference |a - b| / max(|a|, |b|) over every op of every layer and over the totals; exits
non-zero when any exceeds 1e-9 or a bound label, an op name or a hardware number differs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from labkit.pim import load_hardware, load_model, roofline

MODELS = ["llama-2-7b", "llama-2-13b", "llama-3-8b", "mixtral-8x7b", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"]
HARDWARE = ["nvidia_H100", "nvidia_A100_80G", "nvidia_A100_40G"]
SEQ_LENS, BATCHES = (1, 1024, 4096), (1, 8, 64)
BITS = ((16, 16, 16), (4, 16, 16), (8, 8, 8))
# LLM-Viewer's result keys -> labkit's layers columns
PER_OP = {"OPs": "ops", "memory_access": "bytes", "arithmetic_intensity": "intensity", "inference_time": "time",
          "load_weight": "load_weight", "load_act": "load_act", "store_act": "store_act",
          "load_kv_cache": "load_kv_cache", "store_kv_cache": "store_kv_cache"}
TOTAL = ["OPs", "memory_access", "inference_time", "load_weight", "load_act", "store_act", "load_kv_cache",
         "store_kv_cache"]
TOL = 1e-9


def rel(a: float, b: float) -> float:
    a, b = float(a), float(b)
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def import_llm_viewer(path: str | os.PathLike):
    """LLM-Viewer's ModelAnalyzer and hardware table from a checkout (its modules import by top-level name)."""
    path = str(Path(path).resolve())
    if not (Path(path) / "model_analyzer.py").is_file():
        raise ValueError(f"LLM_VIEWER_DIR: {path} has no model_analyzer.py (expected an LLM-Viewer checkout)")
    if path not in sys.path:
        sys.path.insert(0, path)
    from hardwares.hardware_params import hardware_params
    from model_analyzer import ModelAnalyzer
    return ModelAnalyzer, hardware_params


def make_analyzer(ModelAnalyzer, model: str, hardware: str, workdir: Path):
    """An LLM-Viewer ModelAnalyzer fed labkit's shipped config, offline."""
    cfg = load_model(model)
    hf = dict(cfg.config)
    template = "configs/Llama.py"
    if cfg.model_type == "gpt2":
        template, hf["ffn_dim"] = "configs/opt.py", cfg.intermediate_size
    folder = workdir / model
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf))
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the template it uses
        return ModelAnalyzer(str(folder), hardware, config_file=template)


def compare_one(analyzer, model, hardware, seq_len, batch, bits, flash, worst: dict) -> None:
    """Update worst[quantity] with this point's largest relative differences (both stages)."""
    w, a, kv = bits
    lv = analyzer.analyze(seqlen=seq_len, batchsize=batch, w_bit=w, a_bit=a, kv_bit=kv, use_flashattention=flash)
    for stage in ("prefill", "decode"):
        r = roofline(model, hardware, stage, batch, seq_len, w, a, kv, mode="llm-viewer", use_flashattention=flash)
        df = r.layers
        if set(df["op"]) != set(lv[stage]):
            raise AssertionError(f"{model} {stage}: op names differ: labkit {sorted(set(df['op']))}, "
                                 f"LLM-Viewer {sorted(lv[stage])}")
        for name, res in lv[stage].items():
            rows = df[df["op"] == name]  # every layer (lm_head: the one row at layer -1)
            for key, col in PER_OP.items():
                d = max(rel(res[key], v) for v in rows[col])
                worst[f"per-op {key}"] = max(worst.get(f"per-op {key}", 0.0), d)
            worst["bound mismatches"] = worst.get("bound mismatches", 0) + int((rows["bound"] != res["bound"]).sum())
        tot = lv["total_results"][stage]
        ours = {"OPs": r.total_ops, "memory_access": r.total_bytes, "inference_time": r.total_time,
                **{k: float(df[k].sum()) for k in TOTAL[3:]}}
        for key in TOTAL:
            worst[f"total {key}"] = max(worst.get(f"total {key}", 0.0), rel(tot[key], ours[key]))
        worst["points"] = worst.get("points", 0) + 1


def check_hardware(hardware_params: dict, names) -> float:
    """Largest relative difference between LLM-Viewer's hardware numbers and labkit's table."""
    d = 0.0
    for name in names:
        ours, theirs = load_hardware(name), hardware_params[name]
        d = max(d, rel(ours.bandwidth, theirs["bandwidth"]), rel(ours.fp16, theirs["FP16"]),
                rel(ours.onchip_buffer, theirs["onchip_buffer"]))
        if "INT8" in theirs:
            d = max(d, rel(ours.int8, theirs["INT8"]))
    return d


def run_parity(path, models=MODELS, hardware=HARDWARE, seq_lens=SEQ_LENS, batches=BATCHES, bits=BITS,
               flash=(False, True)) -> dict:
    """Max relative difference per quantity over the grid (plus 'points' and 'bound mismatches')."""
    ModelAnalyzer, hardware_params = import_llm_viewer(path)
    worst = {"hardware table": check_hardware(hardware_params, [h for h in hardware_params]),
             "bound mismatches": 0}
    with tempfile.TemporaryDirectory(prefix="pim_llmviewer_") as tmp:
        for model in models:
            for hw in hardware:
                analyzer = make_analyzer(ModelAnalyzer, model, hw, Path(tmp))
                for s in seq_lens:
                    for b in batches:
                        for bt in bits:
                            if min(bt) <= 8 and max(bt) <= 8 and "INT8" not in hardware_params[hw]:
                                continue  # LLM-Viewer itself fails here (no INT8 entry)
                            for fa in flash:
                                compare_one(analyzer, model, hw, s, b, bt, fa, worst)
    return worst


def failures(worst: dict) -> list[str]:
    return [k for k, v in worst.items()
            if (k == "bound mismatches" and v) or (k not in ("points", "bound mismatches") and v > TOL)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=os.environ.get("LLM_VIEWER_DIR"),
                    help="LLM-Viewer checkout (default: $LLM_VIEWER_DIR)")
    ap.add_argument("--quick", action="store_true", help="llama-2-7b, llama-3-8b and gpt2 on nvidia_H100 only")
    ap.add_argument("--all-hardware", action="store_true", help="every LLM-Viewer hardware entry")
    args = ap.parse_args(argv)
    if not args.path:  # `make bench` runs every script: say why nothing ran, without failing
        print("skipped: give the LLM-Viewer checkout as an argument or in LLM_VIEWER_DIR (it is not on PyPI)")
        return 0
    kw = {}
    if args.quick:
        kw = {"models": ["llama-2-7b", "llama-3-8b", "gpt2"], "hardware": ["nvidia_H100"]}
    elif args.all_hardware:
        kw = {"hardware": sorted(import_llm_viewer(args.path)[1])}
    t0 = time.perf_counter()
    worst = run_parity(args.path, **kw)
    print(f"LLM-Viewer at {Path(args.path).resolve()}; {worst['points']} (model, hardware, seq_len, batch, bits, "
          f"flash, stage) points in {time.perf_counter() - t0:.1f} s")
    print(f"{'quantity':32s} max relative difference")
    for k, v in worst.items():
        if k != "points":
            print(f"{k:32s} {v:.3g}" if isinstance(v, float) else f"{k:32s} {v}")
    bad = failures(worst)
    print("PASS: every quantity within 1e-9" if not bad else f"FAIL: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
