"""API cases for labkit.kvcache (see tests/api_cases/__init__.py).

Small tensors throughout: X (1, 2, 64, 32) for the quantizers, K4 / V4 (1, 2, 40, 16) with GQA queries
Q4 (1, 4, 40, 16) for the stores and eviction scores. The model-backed functions (perplexity,
passkey_accuracy, capture_tinylm) run the shipped TinyLM (model=None) on a few bytes.
Nothing heavy is built at import: objects a method runs on come from `make=` callables.
"""

from pathlib import Path

import torch

from api_cases import Case

MODULES = ["labkit.kvcache"]
M = "labkit.kvcache"

_g = torch.Generator().manual_seed(0)
X = torch.randn(1, 2, 64, 32, generator=_g)             # (batch, heads, tokens, head_dim)
K4, V4 = torch.randn(1, 2, 40, 16, generator=_g), torch.randn(1, 2, 40, 16, generator=_g)
Q4 = torch.randn(1, 4, 40, 16, generator=_g)             # 4 query heads share 2 kv heads
k1, v1, q1 = K4[..., -1:, :].clone(), V4[..., -1:, :].clone(), Q4[..., -1:, :].clone()  # one decoded token
Q3, K3, V3 = (torch.randn(2, n, 16, generator=_g) for n in (3, 6, 6))  # (heads, tokens, head_dim)
X2 = torch.randn(4, 32, generator=_g)
TINYLM_DIR = str(Path(__file__).resolve().parents[2] / "datasets" / "tinylm")

LEADING = {"wrong shape": "any leading dimensions: x is (..., tokens, head_dim)"}


def _kv():
    import labkit.kvcache as kv
    return kv


def _quantized():
    return _kv().UniformQuantizer(2, 16, "channel").quantize(X)


def _full_store():
    s = _kv().FullPrecisionStore()
    s.prefill(K4, V4)
    return s


def _kivi():
    c = _kv().KIVICache(2, 16, 32, n_sink=2)
    c.prefill(K4, V4)
    return c


def _h2o():
    s = _kv().H2O(budget=16, recent=4)
    s.prefill(K4, V4, queries=Q4)
    return s


def _prefilled(store, queries=True):
    store.prefill(K4, V4, queries=Q4 if queries else None)
    return store


def _streamed(cache):
    cache.prefill(X[..., :40, :], X[..., :40, :])
    for t in range(40, 64):
        cache.append(X[..., t:t + 1, :], X[..., t:t + 1, :])
    return cache


def _quantize(q):
    t = q.quantize(X)
    return t.snapshot(), t.dequantize()


def _make_kivi(i):
    return _kv().KIVICache(2, 16, 32, backend="readable")


def _make_full(i):
    return _kv().FullPrecisionStore()


SCORE = dict(K=K4, queries=Q4, n=16)
SCORE_BAD = {"n": [0, 41]}

CASES = [
    # --- the store interface and the baseline -------------------------------------------------------
    Case(M, "KVStore.bytes_per_token", {}, make=_full_store),
    Case(M, "FullPrecisionStore", dict(dtype=torch.float16), then=lambda s: _prefilled(s, queries=False)),
    Case(M, "FullPrecisionStore.prefill", dict(K=K4, V=V4), make=lambda: _kv().FullPrecisionStore()),
    Case(M, "FullPrecisionStore.append", dict(k=k1, v=v1), make=_full_store),
    # --- quantizers and what they make ---------------------------------------------------------------
    Case(M, "UniformQuantizer", dict(bits=2, group_size=16, axis="channel", symmetric=False,
                                     scale_dtype=torch.float16, backend="fast"),
         then=_quantize, bad={"bits": [0, 9], "group_size": [0]}),
    Case(M, "UniformQuantizer", dict(bits=4, group_size=8, axis="token", symmetric=True, backend="fast"),
         then=_quantize, bad={"bits": [1]}, id="symmetric"),
    Case(M, "UniformQuantizer.quantize", dict(x=X), make=lambda: _kv().UniformQuantizer(2, 16, "channel"),
         ok={"x": LEADING}),
    Case(M, "UniformQuantizer.nbytes", dict(shape=(1, 2, 64, 32)), make=lambda: _kv().UniformQuantizer(2, 16),
         bad={"shape": [(1, 2, -64, 32), (1, 2, 40, 32), (64,)]}),
    Case(M, "QuantizedTensor.dequantize", dict(dtype=torch.float32), make=_quantized, memory=True),
    Case(M, "QuantizedTensor.group_error", dict(x=X), make=_quantized),
    Case(M, "HadamardQuantizer", dict(bits=2, group_size=16, axis="token", reorder=True, seed=3, symmetric=False,
                                      scale_dtype=torch.float16, backend="fast"),
         then=_quantize, bad={"bits": [0], "seed": [-1], "reorder": ["median"]}),
    Case(M, "HadamardQuantizer.quantize", dict(x=X), make=lambda: _kv().HadamardQuantizer(2, 16, "token", seed=0),
         ok={"x": LEADING}),
    Case(M, "fwht", dict(x=X2), ok={"x": {"wrong shape": "any leading dimensions: the transform runs along the last"}},
         bad={"x": [X2[:, :24]]}),
    Case(M, "BlockFloatQuantizer", dict(mantissa_bits=4, block_size=16, axis="channel", exponent_bits=8),
         then=_quantize, bad={"mantissa_bits": [1, 9], "block_size": [0], "exponent_bits": [0, 9]}),
    Case(M, "BlockFloatQuantizer.quantize", dict(x=X), make=lambda: _kv().BlockFloatQuantizer(4, 16, "token"),
         ok={"x": LEADING}),
    # --- KIVI ----------------------------------------------------------------------------------------
    Case(M, "KIVICache", dict(bits=2, group_size=16, residual_length=32, k_bits=4, n_sink=2,
                              scale_dtype=torch.float16, residual_dtype=torch.float16, backend="fast"),
         then=_streamed, memory=True,
         bad={"bits": [0, 9], "group_size": [0], "residual_length": [0, 24], "k_bits": [0], "n_sink": [-1]}),
    Case(M, "KIVICache", dict(bits=2, group_size=16, residual_length=32, backend="fast",
                              k_quantizer=_kv().HadamardQuantizer(2, 16, "token", seed=1),
                              v_quantizer=_kv().BlockFloatQuantizer(4, 16, "token")),
         then=_streamed, id="quantizers"),
    Case(M, "KIVICache.prefill", dict(K=K4, V=V4), make=lambda: _kv().KIVICache(2, 16, 32)),
    Case(M, "KIVICache.append", dict(k=k1, v=v1), make=_kivi),
    Case(M, "kivi_layout", dict(T=100, n_decoded=10, R=32), bad={"T": [-1], "n_decoded": [-1], "R": [0]}),
    Case(M, "kivi_nbytes", dict(shape=(1, 2, 100, 32), n_decoded=5, bits=2, group_size=16, residual_length=32,
                                scale_bytes=2, residual_bytes=4, k_bits=4),
         bad={"shape": [(1, 2, -1, 32), (1, 2, 100)], "n_decoded": [-1], "bits": [0, 9], "group_size": [0, 3],
              "residual_length": [0, 24], "scale_bytes": [0], "residual_bytes": [0], "k_bits": [0]}),
    Case(M, "kivi_bytes_per_token", dict(head_dim=128, bits=2, group_size=32, scale_bytes=2),
         bad={"head_dim": [0, -128], "bits": [0], "group_size": [0], "scale_bytes": [0]}),
    # --- eviction --------------------------------------------------------------------------------------
    Case(M, "StreamingLLM", dict(budget=16, n_sink=4, evict_on_append=True), then=_prefilled, memory=True,
         bad={"budget": [0, 3], "n_sink": [-1]}),
    Case(M, "H2O", dict(budget=16, recent=4, evict_on_append=True), then=_prefilled, memory=True,
         bad={"budget": [0], "recent": [-1, 17]}),
    Case(M, "SnapKV", dict(budget=16, window_size=8, kernel_size=5), then=_prefilled, memory=True,
         bad={"budget": [0, 4], "window_size": [0], "kernel_size": [0, 4]}),
    Case(M, "KeyNorm", dict(budget=16), then=_prefilled, memory=True, bad={"budget": [0]}),
    Case(M, "KeyNorm", dict(compression_ratio=0.5), then=_prefilled, memory=True,
         bad={"compression_ratio": [1.0, -0.1]}, id="ratio"),
    Case(M, "TOVA", dict(budget=16), then=_prefilled, memory=True, bad={"budget": [0]}),
    Case(M, "StreamingLLM.score", dict(K=K4, n=16), make=lambda: _kv().StreamingLLM(16, n_sink=4),
         bad={"n": [0, 2, 41]}),
    Case(M, "H2O.score", SCORE, make=lambda: _kv().H2O(16), bad=SCORE_BAD),
    Case(M, "SnapKV.score", SCORE, make=lambda: _kv().SnapKV(16, window_size=8), bad={"n": [0, 4, 41]}),
    Case(M, "KeyNorm.score", dict(K=K4, n=16), make=lambda: _kv().KeyNorm(16), bad=SCORE_BAD),
    Case(M, "TOVA.score", SCORE, make=lambda: _kv().TOVA(16), bad=SCORE_BAD),
    Case(M, "H2O.append", dict(k=k1, v=v1, queries=q1), make=_h2o),
    # --- error measures -------------------------------------------------------------------------------
    Case(M, "rel_error", dict(x_hat=X + 0.01, x=X)),
    Case(M, "attention", dict(q=Q3, k=K3, v=V3, causal=True, keep=torch.ones(6, dtype=torch.bool)),
         bad={"q": [torch.randn(2, 7, 16)], "keep": [torch.ones(5, dtype=torch.bool), torch.ones(6)]}),
    Case(M, "attention_output_error", dict(q=Q3, K=K3, V=V3, K_hat=K3 + 0.01, V_hat=V3 - 0.01, causal=False),
         bad={"K_hat": [K3[:, :5]]}),
    # --- transformers: the adapter, the anchor, the model and its measurements -------------------------
    Case(M, "LabkitCache", dict(make_store=_make_full, num_layers=2), bad={"num_layers": [0]}),
    Case(M, "LabkitCache.update", dict(key_states=K4, value_states=V4, layer_idx=0),
         make=lambda: _kv().LabkitCache(_make_full, 2), bad={"layer_idx": [-1, 2]}),
    Case(M, "HFQuantizedStore", dict(nbits=2, axis_key=-1, axis_value=0, q_group_size=16, residual_length=32),
         then=lambda s: _prefilled(s, queries=False),
         bad={"nbits": [3, 8], "axis_key": [1], "axis_value": [2], "q_group_size": [0], "residual_length": [0]}),
    Case(M, "bytes_per_token", dict(cache_or_store=_kv().FullPrecisionStore())),
    Case(M, "load_tinylm", dict(path=TINYLM_DIR, attn_implementation="sdpa")),
    Case(M, "capture_tinylm", dict(ids=b"def f(x):\n    return x\n"), bad={"ids": [b"", bytes(1100)]}),
    Case(M, "capture_minilm", dict(text="Keys, values and queries.", max_length=16),
         ok={"text": {"unknown value": "any non-empty text is input"}}, bad={"text": ["  "], "max_length": [1, 513]}),
    Case(M, "perplexity", dict(make_store=_make_kivi, n_windows=1, prefill=16, score=4, seed=0, progress=False),
         bad={"n_windows": [0], "prefill": [0, 1021], "score": [0], "seed": [-1]}),
    Case(M, "passkey_accuracy", dict(make_store=_make_full, n=1, seed=0, context_len=160, question_in_prefill=True,
                                     progress=False),
         bad={"n": [0], "context_len": [10, 961], "seed": [-1]}),
]
