"""KV quantization throughput: labkit's UniformQuantizer (bit-packed, numba) vs optimum-quanto and
HF transformers' QuantizedCache, on one (1, 8, 4096, 64) fp32 K and V pair, 2-bit, G=32.

Round trip = quantize + pack + unpack + dequantize of K (per channel) and V (per token). Its
effective bandwidth counts read x + write x̂ for K and V. It is set against three copies, each
alternated with it (bytes read + written per second):
  1. `clone()` of a 64 MiB tensor — a fresh allocation each time, so the kernel's page faults on the
     new pages are part of it (this is the figure the issue's "≥ 50% of copy bandwidth" was first
     measured against, and what a framework pays to copy a big tensor);
  2. `copy_()` of 64 MiB into a buffer allocated once (streaming copy, no page faults);
  3. `clone()` of K and V themselves (same bytes and allocations as the round trip; 8 MiB each
     stays in this machine's last-level cache).
Also reports errors and bytes, so a faster method cannot hide a worse answer.
Then the inspector (widgets.kvcache, torch on one thread as the views run): the MiniLM capture, the
dashboard page's build, and the server-side redraw (view + in-place Bokeh update) after KVExplorer's
bits / group_size / residual_length moves and AttentionDiff's bits moves, medians over the moves.
Run: .venv/bin/python benchmarks/kvcache.py [--skip-widgets | --widgets-only]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP (see labkit/__init__.py)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine, median_time  # noqa: E402

from labkit.kvcache.quant import UniformQuantizer  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

SHAPE, BITS, G = (1, 8, 4096, 64), 2, 32
SKIP_WIDGETS = "--skip-widgets" in sys.argv
WIDGETS_ONLY = "--widgets-only" in sys.argv


def widget_redraw() -> tuple[list[dict], list[dict]]:
    """The capture and the page's build; then each slider's server-side redraw, median over its moves
    (the values the widget tests once timed; group_size revisits values, i.e. memo hits)."""
    import panel as pn

    from widgets.kvcache import AttentionDiff, KVExplorer, kvcache_page
    from widgets.kvcache.data import default_capture
    from widgets.views import redraw_time
    pn.extension(inline=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = time.perf_counter()
        cap = default_capture()
        captured = time.perf_counter() - t
        pages = [{"what": "MiniLM capture, 512 tokens (once per process)", "s": captured, "target s": None},
                 {"what": "page build + Bokeh model (median of 5)",
                  "s": median_time(lambda: pn.panel(kvcache_page()).get_root()), "target s": 10.0}]
        rows = []
        ex = KVExplorer(cap)
        root = pn.panel(ex).get_root()
        for name, values in (("bits", [3, 4, 5, 6, 7]), ("group_size", [16, 8, 32, 16, 8]),
                             ("residual_length", [96, 160, 224, 288, 352])):
            rows.append({"view": "KVExplorer", "slider": name, "moves": len(values),
                         "redraw ms (median)": 1e3 * redraw_time(ex, name, values, root=root), "target ms": 500})
        ad = AttentionDiff(cap)
        root = pn.panel(ad).get_root()
        rows.append({"view": "AttentionDiff", "slider": "bits", "moves": 5,
                     "redraw ms (median)": 1e3 * redraw_time(ad, "bits", [3, 4, 5, 6, 7], root=root), "target ms": 500})
    finally:
        torch.set_num_threads(threads)
    return pages, rows


def print_widgets() -> None:
    pages, rows = widget_redraw()
    print("\n## Inspector: the KV cache page's build and redraw after a slider move (server side, 1 torch thread)\n")
    print(markdown_table(pages, floatfmt=".3g"))
    print()
    print(markdown_table(rows, floatfmt=".3g"))


def main() -> None:
    if WIDGETS_ONLY:
        print(f"Machine: {machine()}.")
        print_widgets()
        return
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    K, V = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    kq, vq = UniformQuantizer(BITS, G, "channel"), UniformQuantizer(BITS, G, "token")
    kq32, vq32 = (UniformQuantizer(BITS, G, a, scale_dtype=torch.float32) for a in ("channel", "token"))

    def labkit_rt():
        return kq.quantize(K).dequantize(), vq.quantize(V).dequantize()

    from optimum.quanto import MaxOptimizer, qint2
    from optimum.quanto.tensor.weights import quantize_weight
    opt = MaxOptimizer()

    def quanto_q(x2d):
        scale, shift = opt(x2d, qtype=qint2, axis=0, group_size=G)
        return quantize_weight(x2d, qtype=qint2, axis=0, scale=scale, shift=shift, group_size=G).dequantize()

    def quanto_rt():  # same grouping as labkit: K per channel (rows = channels), V per token
        kh = quanto_q(K.transpose(-1, -2).reshape(-1, SHAPE[-2])).reshape(1, 8, 64, 4096).transpose(-1, -2)
        return kh, quanto_q(V.reshape(-1, SHAPE[-1])).reshape(SHAPE)

    from transformers import LlamaConfig
    from transformers.cache_utils import QuantizedCache
    cfg = LlamaConfig(num_hidden_layers=1, num_attention_heads=8, num_key_value_heads=8, hidden_size=512)

    def hf_rt(axis_key=0, gs=64):
        c = QuantizedCache(backend="quanto", config=cfg, nbits=BITS, axis_key=axis_key, axis_value=0,
                           q_group_size=gs, residual_length=128)
        c.update(K, V, 0)  # prefill: quantizes the whole prompt, returns it in full precision
        return c.update(K[..., -1:, :], V[..., -1:, :], 0)  # one decode step: dequantizes everything

    big = torch.randn(16 * 2 ** 20)  # 64 MiB
    traffic = 2 * (K.numel() + V.numel()) * 4  # read x, write x̂, for K and V

    rel = lambda a, b: ((a - b).norm() / b.norm()).item()  # noqa: E731
    lk, qt = labkit_rt(), quanto_rt()
    lk32 = kq32.quantize(K).dequantize(), vq32.quantize(V).dequantize()
    rows = []
    for name, anchor, out in (("optimum-quanto quantize_weight", quanto_rt, qt),
                              ("HF QuantizedCache (defaults: per-token K, G=64)", hf_rt, hf_rt()),
                              ("HF QuantizedCache (axis_key=-1, G=32)", lambda: hf_rt(-1, 32), hf_rt(-1, 32))):
        r = compare(labkit_rt, anchor, repeats=7)
        rows.append({"anchor": name, "labkit ms": 1e3 * r["labkit_s"], "anchor ms": 1e3 * r["anchor_s"],
                     "ratio labkit/anchor": r["ratio"], "anchor rel err K": rel(out[0][..., :4096, :], K),
                     "anchor rel err V": rel(out[1][..., :4096, :], V)})
    dst = torch.empty_like(big)
    copies = (("clone() of 64 MiB (fresh pages)", lambda: big.clone(), 2 * big.numel() * 4),
              ("copy_() of 64 MiB into an allocated buffer", lambda: dst.copy_(big), 2 * big.numel() * 4),
              ("clone() of K and V (same bytes as the round trip)", lambda: (K.clone(), V.clone()), traffic))
    bw_rows, t_labs = [], []
    for name, copy, nbytes in copies:
        r = compare(labkit_rt, copy, repeats=9)  # A/B alternating with the copy itself
        t_labs.append(r["labkit_s"])
        bw_rows.append({"copy": name, "copy GB/s": nbytes / r["anchor_s"] / 1e9,
                        "round trip GB/s": traffic / r["labkit_s"] / 1e9,
                        "round trip / copy": (traffic / r["labkit_s"]) / (nbytes / r["anchor_s"])})
    t_lab = sorted(t_labs)[len(t_labs) // 2]
    print("# KV quantization round trip: labkit vs optimum-quanto vs HF QuantizedCache\n")
    print(f"Machine: {machine()}; torch threads {threads}. Shape {SHAPE} fp32 K and V, {BITS}-bit, "
          f"A/B alternating, median of 7.\n")
    print(markdown_table(rows, floatfmt=".3g"))
    print(f"\nlabkit round trip (K per channel + V per token, fp16 scales): {1e3 * t_lab:.2f} ms, "
          f"effective {traffic / t_lab / 1e9:.2f} GB/s. Against each copy (alternating, median of 9):\n")
    print(markdown_table(bw_rows, floatfmt=".3g"))
    print(f"labkit rel err K {rel(lk[0], K):.4f}, V {rel(lk[1], V):.4f} (fp16 scales); with fp32 scales "
          f"K {rel(lk32[0], K):.4f}, V {rel(lk32[1], V):.4f}; max |labkit(fp32 scales) − quanto| = "
          f"{max((lk32[0] - qt[0]).abs().max().item(), (lk32[1] - qt[1]).abs().max().item()):.2e}.")
    nb = kq.quantize(K).nbytes + vq.quantize(V).nbytes
    print(f"labkit packed bytes for K+V: {nb:,} ({8 * nb / (K.numel() + V.numel()):.2f} bits/element; "
          f"fp32 {2 * K.numel() * 4:,}, {2 * K.numel() * 4 / nb:.1f}× smaller).")
    if not SKIP_WIDGETS:
        print_widgets()


if __name__ == "__main__":
    main()
