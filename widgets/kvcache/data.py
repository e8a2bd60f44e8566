"""Plain data behind the KV-cache views: the default capture, the quantization methods as KIVICache
configurations, attention over a quantized or an evicted cache, and eviction runs token by token.

Everything is computed with labkit.kvcache's public API (KIVICache, the quantizers, the eviction
stores, capture_minilm); the views beside this module only draw what these functions return.

- The default text is CPython source read at run time (`inspect.getsource` of a stdlib module), so
  nothing is shipped; `default_capture()` runs MiniLM on it once per process (about 3 s cold).
- The caches hold fp16 K/V (KIVI's setting), so full-precision residual tokens cost 2 bytes per element
  and the reference is the fp16 cache, 2·head_dim·2 bytes per token and head.
- The widgets quantize one head of 512 tokens at a time; they use the quantizers' readable (torch) path, which
  is sub-millisecond at that size and never starts numba's thread pool (whose spinning OpenMP workers
  slow torch's small ops by an order of magnitude on a loaded 2-core machine).
"""

from __future__ import annotations

import importlib
import inspect
import threading
from dataclasses import dataclass

import numpy as np
import torch

from labkit.kvcache import (
    H2O,
    TOVA,
    BlockFloatQuantizer,
    HadamardQuantizer,
    KeyNorm,
    KIVICache,
    SnapKV,
    StreamingLLM,
    UniformQuantizer,
)
from labkit.kvcache.eviction import EvictionStore
from labkit.kvcache.metrics import attention, rel_error

DEFAULT_MODULE = "json.decoder"  # about 12 kB of stdlib source: more than MiniLM's 512 word pieces
METHODS = {  # name -> (key axis, value axis, one line on what it is)
    "KIVI": ("channel", "token", "keys per channel, values per token (Liu et al. 2024, §3.2)"),
    "per-token K": ("token", "token", "keys per token too: transformers' QuantizedCache default, axis_key=0"),
    "Hadamard": ("token", "token", "FWHT + random signs, then per token, keys reordered (QuaRot / RotateKV)"),
    "BFP": ("channel", "token", "block floating point: one shared exponent per group, 1 sign + bits−1 mantissa"),
}
POLICIES = ("StreamingLLM", "H2O", "SnapKV", "KeyNorm", "TOVA")
FP16 = 2  # bytes per element of the reference cache

_LOCK = threading.Lock()
_CAPTURE: dict = {}


# ----------------------------------------------------------------------------------- the capture
def default_text(module: str = DEFAULT_MODULE) -> str:
    """The source of a stdlib module, read at run time."""
    return inspect.getsource(importlib.import_module(module))


def default_capture():
    """capture_minilm(default_text()): MiniLM's real Q, K, V and attention maps for 512 word pieces,
    computed once per process (thread-safe: a page may load it off the event loop)."""
    with _LOCK:
        if "minilm" not in _CAPTURE:
            from labkit.kvcache import capture_minilm
            _CAPTURE["minilm"] = capture_minilm(default_text())
        return _CAPTURE["minilm"]


def capture_ready() -> bool:
    return "minilm" in _CAPTURE


def is_causal(capture, layer: int = 0) -> bool:
    """True when the captured maps are causal (no weight above the diagonal): TinyLM, not MiniLM."""
    A = capture.attentions[layer][0, 0]
    return bool((torch.triu(A, diagonal=1) == 0).all())


def group_of(capture, layer: int, kv_head: int) -> slice:
    """The query heads that read kv_head (grouped-query attention: head h reads h // (q_heads / kv_heads))."""
    g = capture.q[layer].shape[1] // capture.k[layer].shape[1]
    return slice(kv_head * g, (kv_head + 1) * g)


def group_sizes(head_dim: int) -> list[int]:
    """Group sizes that divide head_dim (values are grouped along channels), 4 and up."""
    return [g for g in (4, 8, 16, 32, 64, 128) if g <= head_dim and head_dim % g == 0]


# ----------------------------------------------------------------------------------- quantization
def make_cache(method: str, bits: int, group_size: int, residual_length: int) -> KIVICache:
    """A KIVICache with KIVI's streaming rules (residual of R tokens) and the method's quantizers."""
    G, R, kw = group_size, residual_length, {"backend": "readable"}
    if method == "KIVI":
        return KIVICache(bits, G, R, **kw)
    if method == "per-token K":
        return KIVICache(bits, G, R, k_quantizer=UniformQuantizer(bits, G, "token", **kw), **kw)
    if method == "Hadamard":
        return KIVICache(bits, G, R, k_quantizer=HadamardQuantizer(bits, G, "token", reorder=True, seed=0, **kw),
                         v_quantizer=HadamardQuantizer(bits, G, "token", reorder=False, seed=0, **kw), **kw)
    if method == "BFP":
        m = max(2, bits)  # a sign and at least one mantissa bit
        return KIVICache(m, G, R, k_quantizer=BlockFloatQuantizer(m, G, "channel"),
                         v_quantizer=BlockFloatQuantizer(m, G, "token"), **kw)
    raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")


def _axis_and_group(block) -> tuple[str, int]:
    inner = getattr(block, "inner", block)  # a RotatedTensor wraps the QuantizedTensor of the rotated data
    return inner.axis, getattr(inner, "group_size", None) or inner.block_size


def error_map(blocks, x: torch.Tensor, start: int = 0) -> np.ndarray:
    """(T, D) float: each cell holds the RMS error of the quantization group it belongs to
    (`block.group_error` of the tokens the block covers, blocks in order from `start`), NaN where
    tokens stayed in full precision. x: the (1, 1, T, D) tensor the blocks quantized."""
    T, D = x.shape[-2:]
    out = np.full((T, D), np.nan)
    t0 = start
    for b in blocks:
        n = b.shape[-2]
        err = b.group_error(x[..., t0:t0 + n, :])
        err = err.reshape(err.shape[-2], err.shape[-1]).double().numpy()  # (rows, groups) of the one head
        axis, G = _axis_and_group(b)
        if axis == "channel":  # rows = channels, groups along tokens
            out[t0:t0 + n] = np.repeat(err, G, axis=1).T
        else:                  # rows = tokens, groups along channels
            out[t0:t0 + n] = np.repeat(err, G, axis=1)
        t0 += n
    return out


@dataclass(frozen=True)
class HeadQuantization:
    """One kv head of one layer through a KIVICache: the (T, D) originals and what the cache holds,
    the per-group error maps, and the readout (errors, bytes)."""

    K: np.ndarray
    V: np.ndarray
    K_hat: np.ndarray
    V_hat: np.ndarray
    k_error: np.ndarray      # (T, D) group RMS error per cell, NaN: full-precision residual
    v_error: np.ndarray
    cache: KIVICache
    readout: dict


def quantize_head(capture, layer: int, head: int, method: str, bits: int, group_size: int,
                  residual_length: int) -> HeadQuantization:
    """Prefill a fresh cache with layer `layer`, kv head `head` (as fp16) and measure it against the fp16
    originals: rel. error of K and V, the attention-output error softmax(QK̂ᵀ/√d)V̂ vs softmax(QKᵀ/√d)V
    over the head's real queries (all T of them), bytes and bytes per token (KIVICache.nbytes)."""
    K = capture.k[layer][:, head:head + 1].to(torch.float16)
    V = capture.v[layer][:, head:head + 1].to(torch.float16)
    cache = make_cache(method, bits, group_size, residual_length)
    cache.prefill(K, V)
    K_hat, V_hat = cache.keys(), cache.values()
    Q = capture.q[layer][0, group_of(capture, layer, head)]
    causal = is_causal(capture, layer)
    _, out = attention(Q, K[0, 0], V[0, 0], causal)
    _, out_hat = attention(Q, K_hat[0, 0], V_hat[0, 0], causal)
    T, D = K.shape[-2:]
    lay = cache.layout()
    readout = dict(method=method, bits=cache.k_quant.bits, group_size=group_size, residual_length=residual_length,
                   rel_error_k=rel_error(K_hat, K), rel_error_v=rel_error(V_hat, V),
                   attention_error=rel_error(out_hat, out), nbytes=cache.nbytes,
                   bytes_per_token=cache.bytes_per_token(), fp16_bytes_per_token=2 * D * FP16,
                   compression=2 * D * FP16 * T / cache.nbytes, key_quantized=lay["key_quantized"],
                   value_quantized=lay["value_quantized"], tokens=T)
    return HeadQuantization(K[0, 0].float().numpy(), V[0, 0].float().numpy(), K_hat[0, 0].float().numpy(),
                            V_hat[0, 0].float().numpy(), error_map(cache.k_blocks, K, lay["sink"]),
                            error_map(cache.v_blocks, V, lay["sink"]), cache, readout)


# ----------------------------------------------------------------------------------- eviction
def make_policy(name: str, budget: int) -> EvictionStore:
    """An eviction store keeping `budget` tokens per kv head, with the papers' / kvpress's settings
    (StreamingLLM: 4 sinks; H2O: half recent; SnapKV: a window of min(64, budget/2), pool 5)."""
    if name == "StreamingLLM":
        return StreamingLLM(budget, n_sink=min(4, budget))
    if name == "H2O":
        return H2O(budget)
    if name == "SnapKV":
        return SnapKV(budget, window_size=max(1, min(64, budget // 2)))
    if name == "KeyNorm":
        return KeyNorm(budget)
    if name == "TOVA":
        return TOVA(budget)
    raise ValueError(f"name: expected one of {list(POLICIES)}, got {name!r}")


@dataclass(frozen=True)
class EvictionRun:
    """One policy on one layer: prefill of the first `prefill` tokens, then the rest appended one at a
    time with their queries. history (steps + 1, kv_heads, T) int8: 1 kept, 0 evicted, -1 not yet seen,
    row s after s appends; kept (kv_heads, T) bool, the store's kept_ at the end."""

    policy: str
    budget: int
    prefill: int
    history: np.ndarray
    store: EvictionStore

    @property
    def kept(self) -> np.ndarray:
        return self.history[-1] == 1


def run_policy(capture, layer: int, policy: str, budget: int, prefill: int | None = None) -> EvictionRun:
    """Drive make_policy(policy, budget) over the layer's real K, V and queries; see EvictionRun."""
    K, V, Q = capture.k[layer], capture.v[layer], capture.q[layer]
    T = K.shape[2]
    P = T if prefill is None else int(prefill)
    if not 2 <= P <= T:
        raise ValueError(f"prefill: expected an int in [2, {T}], got {prefill!r}")
    store = make_policy(policy, budget)
    store.prefill(K[:, :, :P], V[:, :, :P], queries=Q[:, :, :P])
    hist = np.full((T - P + 1, K.shape[1], T), -1, np.int8)
    hist[0, :, :P] = store.kept_[0]
    for t in range(P, T):
        store.append(K[:, :, t:t + 1], V[:, :, t:t + 1], queries=Q[:, :, t:t + 1])
        hist[t - P + 1, :, :t + 1] = store.kept_[0]
    return EvictionRun(policy, budget, P, hist, store)


def attention_mass_kept(capture, layer: int, kept: np.ndarray, last: int = 64) -> np.ndarray:
    """(kv_heads,) share of the model's own attention (the captured maps) that the last `last` queries
    put on the kept tokens, averaged over queries and the heads of each group."""
    A = capture.attentions[layer][0].double().numpy()[:, -last:]  # (q_heads, last, T)
    H = kept.shape[0]
    g = A.shape[0] // H
    mass = (A * np.repeat(kept, g, axis=0)[:, None, :]).sum(-1).mean(-1)  # (q_heads,)
    return mass.reshape(H, g).mean(1)
