"""KV-cache eviction scores (higher = keep): plain functions, equal to kvpress 0.5.5's `score()` on the same
tensors (tests/test_kvcache_eviction.py).

    streaming_scores  StreamingLLM (Xiao et al. 2023, §3.2): n_sink attention sinks + the recent window
    h2o_scores        H2O (Zhang et al. 2023, Alg. 1): attention accumulated over the prompt's queries
    observed_attention_scores  kvpress ObservedAttentionPress: that sum / the number of queries seeing the key
    snapkv_scores     SnapKV (Li et al. 2024, Listing 1): observation-window attention, 1-D avg-pooled
    knorm_scores      KnormPress (Devoto et al. 2024): -||k||, a small key norm goes with large attention
    tova_scores       TOVA (Oren et al. 2024): the last query's attention, averaged over all heads
GQA: a kv head scores by the mean over its q_heads h (h // (q_heads // kv_heads), HF repeat_kv; kvpress).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from labkit.kvcache.checks import check_tensor
from labkit.validate import check_int, fail

_CHUNK = 1024  # queries per block when accumulating attention (bounds memory at chunk x T per head)
_LAYOUT = "(batch, heads, tokens, head_dim)"


def check_keys(keys, name: str = "keys") -> torch.Tensor:
    """`name` must be a finite floating 4-D (batch, heads, tokens, head_dim) tensor with at least one token."""
    return check_tensor(name, keys, ndim=4, what=_LAYOUT)


def check_queries(queries, keys: torch.Tensor, name: str = "queries") -> torch.Tensor:
    """queries (batch, q_heads, Tq, head_dim): the last Tq positions of the T keys, q_heads % kv_heads == 0."""
    if queries is None:
        raise fail(name, "the post-RoPE queries (batch, q_heads, tokens, head_dim)", None)
    check_tensor(name, queries, ndim=4, what="(batch, q_heads, tokens, head_dim)")
    b, h, tq, d = queries.shape
    if b != keys.shape[0] or d != keys.shape[-1]:
        raise fail(name, f"the keys' batch and head_dim {(keys.shape[0], keys.shape[-1])}",
                   f"shape {tuple(queries.shape)}", described=True)
    if h % keys.shape[1]:
        raise fail(name, f"q_heads a multiple of kv_heads={keys.shape[1]}", f"{h} heads", described=True)
    if not 1 <= tq <= keys.shape[2]:
        raise fail(name, f"1..{keys.shape[2]} query tokens (the last positions)", f"{tq}", described=True)
    return queries


def group_mean(x: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """(b, q_heads, ...) -> (b, kv_heads, ...): mean over the query heads that share a kv head."""
    return x.reshape(x.shape[0], kv_heads, x.shape[1] // kv_heads, *x.shape[2:]).mean(2)


def prompt_attention(queries: torch.Tensor, keys: torch.Tensor, q_start: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) with the causal mask (Vaswani et al. 2017, eq. 1), queries at absolute
    positions q_start.. ; (b, q_heads, Tq, T) in float32 (float64 inputs stay float64)."""
    dt = torch.promote_types(queries.dtype, torch.float32)
    q, k = queries.to(dt), keys.to(dt).repeat_interleave(queries.shape[1] // keys.shape[1], dim=1)
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    q_pos = torch.arange(q_start, q_start + q.shape[2], device=q.device)[:, None]
    future = torch.arange(k.shape[2], device=q.device) > q_pos
    return torch.softmax(logits.masked_fill(future, float("-inf")), dim=-1)


def knorm_scores(keys: torch.Tensor) -> torch.Tensor:
    """(b, kv_heads, T, d) -> (b, kv_heads, T): -||k||_2, computed in at least float32 (kvpress KnormPress)."""
    check_keys(keys)
    return -torch.linalg.vector_norm(keys, dim=-1, dtype=torch.promote_types(keys.dtype, torch.float32))


def streaming_scores(T: int, n_sink: int, budget: int) -> torch.Tensor:
    """(T,) float32: 1 for the n_sink first tokens (the attention sinks) and the last budget - n_sink
    tokens (the rolling window), 0 between (StreamingLLM §3.2; kvpress StreamingLLMPress)."""
    T, n_sink = check_int("T", T, low=1), check_int("n_sink", n_sink, low=0)
    budget = check_int("budget", budget, low=1)
    if budget < n_sink:
        raise fail("budget", f"an integer >= n_sink={n_sink} (sinks plus a recent window)", budget)
    s = torch.ones(T)
    s[n_sink:max(n_sink, T - (budget - n_sink))] = 0
    return s


def h2o_scores(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(b, kv_heads, T): sum over the prompt's queries of the causal attention each key receives,
    F_score of H2O Alg. 1; queries (b, q_heads, Tq, d) are those of the last Tq positions."""
    check_keys(keys)
    check_queries(queries, keys)
    T, tq = keys.shape[2], queries.shape[2]  # blocks of queries: the same sum in chunk x T memory
    total = sum(prompt_attention(queries[:, :, s:s + _CHUNK], keys, T - tq + s).sum(2) for s in range(0, tq, _CHUNK))
    return group_mean(total, keys.shape[1])


def observed_attention_scores(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(b, kv_heads, T): h2o_scores divided by how many queries see each key (T - j when all T
    queries are given): the mean attention a key receives (kvpress ObservedAttentionPress)."""
    acc, T = h2o_scores(queries, keys), keys.shape[2]
    return acc / torch.clamp(T - torch.arange(T, device=keys.device), max=queries.shape[2]).to(acc.dtype)


def snapkv_scores(queries: torch.Tensor, keys: torch.Tensor, window_size: int = 64,
                  kernel_size: int = 5) -> torch.Tensor:
    """(b, kv_heads, T) SnapKV scores (Li et al. 2024, Listing 1; kvpress SnapKVPress):
    1. the last window_size queries (the observation window) attend causally over all T keys;
    2. their weights on the T - window_size prefix keys are averaged over the window queries;
    3. a 1-D average pool (kernel_size, stride 1, zero padding counted) clusters neighbouring tokens;
    4. averaged over each GQA group; the window itself gets max + 1 (global max), so it is always kept."""
    window_size = check_int("window_size", window_size, low=1)
    kernel_size = check_int("kernel_size", kernel_size, low=1)
    if kernel_size % 2 == 0:
        raise fail("kernel_size", "an odd integer (the pool is centred, padding kernel_size // 2)", kernel_size)
    check_keys(keys)
    check_queries(queries, keys)
    if (T := keys.shape[2]) <= window_size:
        raise fail("window_size", f"fewer than the prompt's {T} tokens", window_size)
    if queries.shape[2] < window_size:
        raise fail("queries", f"the last window_size={window_size} queries", f"{queries.shape[2]}", described=True)
    attn = prompt_attention(queries[:, :, -window_size:], keys, T - window_size)[..., :-window_size]
    s = group_mean(F.avg_pool1d(attn.mean(-2), kernel_size, stride=1, padding=kernel_size // 2), keys.shape[1])
    return F.pad(s, (0, window_size), value=s.max().item() + 1)


def tova_scores(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(b, kv_heads, T): the last query's attention over the T - 1 earlier keys, averaged over all
    q_heads (TOVA §3; the same score for every kv head), the last token gets max + 1 (kvpress TOVAPress)."""
    check_keys(keys)
    check_queries(queries, keys)
    if (T := keys.shape[2]) < 2:
        raise fail("keys", "at least 2 tokens (TOVA scores the earlier ones by the last query)",
                   f"shape {tuple(keys.shape)}", described=True)
    attn = prompt_attention(queries[:, :, -1:], keys, T - 1)[..., 0, :-1]  # (b, q_heads, T - 1)
    s = attn.mean(1, keepdim=True).expand(-1, keys.shape[1], -1)  # one score for all kv heads
    return F.pad(s, (0, 1), value=s.max().item() + 1)
