"""KV quantization throughput: labkit's UniformQuantizer (bit-packed, numba) vs optimum-quanto and
HF transformers' QuantizedCache, on one (1, 8, 4096, 64) fp32 K and V pair, 2-bit, G=32.

Round trip = quantize + pack + unpack + dequantize of K (per channel) and V (per token).
Copy bandwidth = bytes read + written by `clone()` of a 64 MiB tensor (so it is not cache-resident);
the round trip's effective bandwidth counts the same traffic for K and V (read x, write x̂).
Also reports errors and bytes, so a faster method cannot hide a worse answer.
Run: .venv/bin/python benchmarks/kvcache.py
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP (see labkit/__init__.py)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine  # noqa: E402

from labkit.kvcache.quant import UniformQuantizer  # noqa: E402
from labkit.tables import markdown_table  # noqa: E402

SHAPE, BITS, G = (1, 8, 4096, 64), 2, 32


def main() -> None:
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
    bw = compare(labkit_rt, lambda: big.clone(), repeats=9)  # A/B alternating with the copy itself
    t_lab, copy_bw = bw["labkit_s"], 2 * big.numel() * 4 / bw["anchor_s"]
    print("# KV quantization round trip: labkit vs optimum-quanto vs HF QuantizedCache\n")
    print(f"Machine: {machine()}; torch threads {threads}. Shape {SHAPE} fp32 K and V, {BITS}-bit, "
          f"A/B alternating, median of 7.\n")
    print(markdown_table(rows, floatfmt=".3g"))
    print(f"\nlabkit round trip (K per channel + V per token, fp16 scales): {1e3 * t_lab:.2f} ms; "
          f"effective bandwidth {traffic / t_lab / 1e9:.2f} GB/s against clone() of 64 MiB at "
          f"{copy_bw / 1e9:.2f} GB/s (alternating, median of 9): **{traffic / t_lab / copy_bw:.0%} of copy "
          f"bandwidth**.")
    print(f"labkit rel err K {rel(lk[0], K):.4f}, V {rel(lk[1], V):.4f} (fp16 scales); with fp32 scales "
          f"K {rel(lk32[0], K):.4f}, V {rel(lk32[1], V):.4f}; max |labkit(fp32 scales) − quanto| = "
          f"{max((lk32[0] - qt[0]).abs().max().item(), (lk32[1] - qt[1]).abs().max().item()):.2e}.")
    nb = kq.quantize(K).nbytes + vq.quantize(V).nbytes
    print(f"labkit packed bytes for K+V: {nb:,} ({8 * nb / (K.numel() + V.numel()):.2f} bits/element; "
          f"fp32 {2 * K.numel() * 4:,}, {2 * K.numel() * 4 / nb:.1f}× smaller).")


if __name__ == "__main__":
    main()
