"""KV-cache eviction: keep `budget` tokens per kv head, chosen by a score, in full precision.

Each policy ranks tokens by one of the scores of scores.py (kvpress-exact): StreamingLLM, H2O, SnapKV,
KeyNorm (KnormPress), TOVA.

Stores (KVStore): prefill(K, V, queries) keeps the n_kept(T) best tokens of each (batch, kv head), ties
to the earlier position. Give `budget=` (tokens kept per head, int >= 1) or `compression_ratio=`
(fraction evicted, in [0, 1): kept = max(1, int(T * (1 - ratio))), kvpress's compute_n_kept); a prompt
of T <= kept tokens is kept whole. Keys come post-RoPE and keep their positions (no re-rotation).
Decoding, append(k, v): KeyNorm, SnapKV, TOVA append and keep (prefill-only compression, as kvpress);
StreamingLLM and H2O evict to stay at budget_ tokens per head (evict_on_append=True, as the papers).
Inspection: positions() (batch, kv_heads, kept) ascending; kept_ (batch, kv_heads, seq_length) bool; scores_.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from labkit.kvcache.checks import check_dtype
from labkit.kvcache.scores import (
    check_keys,
    check_queries,
    group_mean,
    h2o_scores,
    knorm_scores,
    prompt_attention,
    snapkv_scores,
    streaming_scores,
    tova_scores,
)
from labkit.kvcache.store import KVStore, check_kv, to_numpy
from labkit.validate import check_bool, check_float, check_int, fail


# ---------------------------------------------------------------- stores
def _take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (b, h, L) or (b, h, L, d) at idx (b, h, n) along L."""
    return x.gather(2, idx[..., None].expand(*idx.shape, x.shape[-1]) if x.ndim == 4 else idx)


def _top(scores: torch.Tensor, n: int) -> torch.Tensor:
    """(b, h, L) -> (b, h, n) indices of the n highest scores, ties to the earlier index, sorted ascending."""
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    return order[..., :n].sort(dim=-1).values


class EvictionStore(KVStore):
    """Base of the eviction policies: score the prompt at prefill, keep the top n_kept(T) tokens per
    head in full precision. Subclasses implement _score(); those that evict while decoding, append()."""

    needs_queries = False

    def __init__(self, budget: int | None = None, compression_ratio: float | None = None, *,
                 dtype: torch.dtype | None = None):
        # dtype: storage of the kept K/V (nbytes counts it); keys()/values() return the model's
        self.dtype = check_dtype("dtype", dtype, none=True)
        if (budget is None) == (compression_ratio is None):
            raise fail("budget, compression_ratio", "exactly one of them", (budget, compression_ratio))
        if budget is not None:
            budget = check_int("budget", budget, low=1)
        else:
            compression_ratio = check_float("compression_ratio", compression_ratio, 0, 1, high_open=True)
        self.budget, self.compression_ratio = budget, compression_ratio
        self._reset()

    def _reset(self):
        self._K = self._V = self._pos = self._kept = self._scores = None
        self.budget_: int | None = None  # kept tokens per head fixed at prefill
        self.seq_length = 0

    def n_kept(self, T: int) -> int:
        """Tokens kept per head from a T-token prompt."""
        T = check_int("T", T, low=1)
        n = self.budget if self.budget is not None else max(1, int(T * (1 - self.compression_ratio)))
        return min(n, T)

    def score(self, K: torch.Tensor, queries: torch.Tensor | None = None, n: int | None = None) -> torch.Tensor:
        """(b, kv_heads, T) float scores of a prompt's keys K (b, kv_heads, T, d), higher = kept, with
        the post-RoPE queries (b, q_heads, Tq, d) of its last Tq positions where the policy needs them.
        n: tokens to keep per head (default n_kept(T)); the policy checks it is feasible (a window or
        the sinks must fit). The store is not changed."""
        check_keys(K, "K")
        if self.needs_queries:
            check_queries(queries, K)
        n = self.n_kept(K.shape[2]) if n is None else check_int("n", n, 1, K.shape[2])
        return self._score(K, queries, n)

    def _score(self, K: torch.Tensor, queries: torch.Tensor | None, n: int) -> torch.Tensor:
        """score() on checked arguments: what each policy implements."""
        raise NotImplementedError(f"{type(self).__name__}._score")

    def _protect(self, scores: torch.Tensor, n: int) -> torch.Tensor:
        return scores  # H2O raises its recent window to +inf here

    def prefill(self, K, V, queries=None):
        check_kv(K, V)
        if self.needs_queries:
            check_queries(queries, K)
        b, h, T, _ = K.shape
        n = self.n_kept(T)
        scores = self._score(K, queries, n) if (n < T or self.needs_queries) else None
        idx = _top(self._protect(scores, n), n) if n < T else torch.arange(T, device=K.device).expand(b, h, T)
        self._reset()
        self.budget_ = self.budget if self.budget is not None else n
        self._scores, self.seq_length = scores, T
        self._out_dtype, sd = K.dtype, self.dtype or K.dtype
        self._K, self._V, self._pos = _take(K, idx).to(sd).clone(), _take(V, idx).to(sd).clone(), idx.clone()
        self._kept = torch.zeros(b, h, T, dtype=torch.bool, device=K.device).scatter_(2, idx, True)
        self._after_prefill(idx)

    def _after_prefill(self, idx: torch.Tensor) -> None:
        """Hook: policy state derived from the kept indices."""

    def append(self, k, v, queries=None):
        check_kv(k, v, ("k", "v"))
        if self._K is None:
            raise ValueError("k, v: call prefill(K, V, queries) before append")
        if (k.shape[0], k.shape[1], k.shape[3]) != (self._K.shape[0], self._K.shape[1], self._K.shape[3]):
            raise fail("k", f"(batch, kv_heads, t, head_dim) with batch, kv_heads, head_dim = "
                       f"{(self._K.shape[0], self._K.shape[1], self._K.shape[3])}", f"shape {tuple(k.shape)}",
                       described=True)
        b, h, t, _ = k.shape
        new = torch.arange(self.seq_length, self.seq_length + t, device=k.device).expand(b, h, t)
        self._K, self._V = torch.cat([self._K, k.to(self._K.dtype)], 2), torch.cat([self._V, v.to(self._V.dtype)], 2)
        self._pos = torch.cat([self._pos, new], dim=2)
        self._kept = torch.cat([self._kept, torch.ones(b, h, t, dtype=torch.bool, device=k.device)], dim=2)
        self.seq_length += t

    def _keep(self, idx: torch.Tensor) -> None:
        """Keep entries idx (b, h, n) (indices into the current cache, ascending) and drop the rest."""
        self._kept.scatter_(2, self._pos, False)  # clear the held tokens, then mark the survivors
        self._K, self._V, self._pos = _take(self._K, idx), _take(self._V, idx), _take(self._pos, idx)
        self._kept.scatter_(2, self._pos, True)

    def keys(self):  # (batch, kv_heads, kept, head_dim), ascending positions
        return self._K.to(self._out_dtype)

    def values(self):  # (batch, kv_heads, kept, head_dim)
        return self._V.to(self._out_dtype)

    def positions(self) -> torch.Tensor:
        """(batch, kv_heads, kept) int64 absolute positions of keys()/values(), ascending per head."""
        return torch.zeros(0, 0, 0, dtype=torch.long) if self._pos is None else self._pos

    @property
    def nbytes(self) -> int:
        """Bytes of the kept K and V in their dtype (positions and scores are bookkeeping, not counted)."""
        return 0 if self._K is None else sum(t.numel() * t.element_size() for t in (self._K, self._V))

    @property
    def kept_(self) -> np.ndarray:
        """(batch, kv_heads, seq_length) bool: which tokens each head holds now."""
        return np.zeros((0, 0, 0), bool) if self._kept is None else self._kept.cpu().numpy().copy()

    @property
    def scores_(self) -> np.ndarray | None:
        """(batch, kv_heads, T_prompt) float: the prefill scores (None: prompt kept whole, unscored)."""
        return None if self._scores is None else self._scores.detach().float().cpu().numpy().copy()

    def snapshot(self) -> dict:
        """Plain data: seq_length, nbytes, budget_ (kept per head), positions (batch, kv_heads, kept),
        kept_ (batch, kv_heads, seq_length) bool, the prefill scores_ (None: prompt kept whole) and the
        kept keys and values (batch, kv_heads, kept, head_dim) as stored."""
        return {**super().snapshot(), "budget_": self.budget_, "kept": self.kept_, "scores": self.scores_,
                "keys": to_numpy(self._K), "values": to_numpy(self._V)}


class KeyNorm(EvictionStore):
    """Keep the keys with the smallest L2 norm (Devoto et al. 2024; kvpress KnormPress). Decoding appends."""

    def _score(self, K, queries, n):
        return knorm_scores(K)


class SnapKV(EvictionStore):
    """SnapKV (Li et al. 2024): the observation window (the last window_size prompt tokens) and the
    budget - window_size top snapkv_scores. Decoding appends (prefill-only, as SnapKV and kvpress)."""

    needs_queries = True

    def __init__(self, budget: int | None = None, window_size: int = 64, kernel_size: int = 5,
                 compression_ratio: float | None = None, *, dtype: torch.dtype | None = None):
        self.window_size = check_int("window_size", window_size, low=1)
        self.kernel_size = check_int("kernel_size", kernel_size, low=1)
        if self.kernel_size % 2 == 0:
            raise fail("kernel_size", "an odd integer (the pool is centred)", kernel_size)
        if budget is not None and check_int("budget", budget, low=1) < self.window_size:
            raise fail("budget", f"an integer >= window_size={self.window_size} (the window is kept)", budget)
        super().__init__(budget, compression_ratio, dtype=dtype)

    def _score(self, K, queries, n):
        if n < K.shape[2] and n < self.window_size:
            what = "n" if self.budget is not None or n != self.n_kept(K.shape[2]) else "compression_ratio"
            raise fail(what, f"at least window_size={self.window_size} of the {K.shape[2]} tokens kept", n)
        if K.shape[2] <= self.window_size:  # kept whole (n >= T): nothing outside a window to score
            return K.new_zeros(K.shape[:3], dtype=torch.float32)
        return snapkv_scores(queries, K, self.window_size, self.kernel_size)


class TOVA(EvictionStore):
    """TOVA (Oren et al. 2024) at prefill, as kvpress TOVAPress: the tokens the last prompt query attends
    to most (head-averaged) and the last token. Decoding appends (no per-step eviction, as kvpress)."""

    needs_queries = True

    def _score(self, K, queries, n):
        return tova_scores(queries, K) if K.shape[2] >= 2 else K.new_zeros(K.shape[:3], dtype=torch.float32)


class StreamingLLM(EvictionStore):
    """StreamingLLM (Xiao et al. 2023, §3.2): the n_sink first tokens (attention sinks) and the last
    budget - n_sink. evict_on_append (default): the window rolls, each new token evicting the oldest
    non-sink one once the cache holds budget_; False appends and keeps (kvpress). Positions stay the
    original ones (the paper re-indexes positions inside the cache; kvpress does not)."""

    def __init__(self, budget: int | None = None, n_sink: int = 4, compression_ratio: float | None = None,
                 evict_on_append: bool = True, *, dtype: torch.dtype | None = None):
        self.n_sink = check_int("n_sink", n_sink, low=0)
        if budget is not None and check_int("budget", budget, low=1) < self.n_sink:
            raise fail("budget", f"an integer >= n_sink={self.n_sink}", budget)
        self.evict_on_append = check_bool("evict_on_append", evict_on_append)
        super().__init__(budget, compression_ratio, dtype=dtype)

    def _score(self, K, queries, n):
        if n < self.n_sink:
            what = "n" if self.budget is not None or n != self.n_kept(K.shape[2]) else "compression_ratio"
            raise fail(what, f"at least n_sink={self.n_sink} of the {K.shape[2]} tokens kept", n)
        return streaming_scores(K.shape[2], self.n_sink, n).to(K.device).expand(K.shape[:3])

    def _after_prefill(self, idx):
        self.budget_ = max(self.budget_, self.n_sink)  # a short prompt grows to the sinks before rolling

    def append(self, k, v, queries=None):
        super().append(k, v)
        L = self._K.shape[2]
        if self.evict_on_append and L > self.budget_:  # drop the oldest tokens after the sinks
            idx = torch.cat([torch.arange(self.n_sink), torch.arange(self.n_sink + L - self.budget_, L)])
            self._keep(idx.to(k.device).expand(k.shape[0], k.shape[1], -1))


class H2O(EvictionStore):
    """H2O (Zhang et al. 2023): the `recent` last tokens plus budget - recent heavy hitters, the largest
    h2o_scores; recent=None splits the budget evenly (the paper's equal heavy / recent ratios).
    Decoding, evict_on_append (default, Alg. 1): append(k, v, queries=q) adds the new queries' attention
    over the cache to the accumulated scores, then evicts the lowest outside the recent window so each
    head holds budget_ tokens. Without queries new tokens enter at 0: the heavy set stays, the recent
    window rolls. evict_on_append=False appends and keeps (kvpress ObservedAttentionPress)."""

    needs_queries = True

    def __init__(self, budget: int | None = None, recent: int | None = None,
                 compression_ratio: float | None = None, evict_on_append: bool = True, *,
                 dtype: torch.dtype | None = None):
        recent = None if recent is None else check_int("recent", recent, low=0)
        if recent is not None and budget is not None and recent > check_int("budget", budget, low=1):
            raise fail("recent", f"an integer <= budget={budget}", recent)
        self.recent, self.evict_on_append = recent, check_bool("evict_on_append", evict_on_append)
        super().__init__(budget, compression_ratio, dtype=dtype)

    def _reset(self):
        super()._reset()
        self._acc, self.recent_ = None, None  # accumulated scores of the held tokens; recent window size

    def _score(self, K, queries, n):
        self._recent_for(self.budget if self.budget is not None else n)  # validates recent
        return h2o_scores(queries, K)

    def _recent_for(self, n: int) -> int:
        if self.recent is not None and self.recent > n:
            raise fail("recent", f"an integer <= the {n} tokens kept per head", self.recent)
        return n // 2 if self.recent is None else self.recent

    def _protect(self, scores, n):
        r = self._recent_for(n)
        return scores if r == 0 else torch.cat([scores[..., :-r], torch.full_like(scores[..., -r:], math.inf)], -1)

    def _after_prefill(self, idx):
        self.recent_ = self._recent_for(self.budget_)
        self._acc = _take(self._scores, idx).clone()

    @property
    def accumulated_(self) -> np.ndarray | None:
        """(batch, kv_heads, kept): the accumulated attention of the tokens each head holds now."""
        return None if self._acc is None else self._acc.float().cpu().numpy().copy()

    def snapshot(self) -> dict:
        """EvictionStore.snapshot() plus recent_ (the recent window) and accumulated
        (batch, kv_heads, kept): the attention each held token has accumulated."""
        return {**super().snapshot(), "recent_": self.recent_, "accumulated": self.accumulated_}

    def append(self, k, v, queries: torch.Tensor | None = None):
        if queries is not None:  # validated before anything changes
            check_kv(k, v, ("k", "v"))
            check_queries(queries, k)
            if queries.shape[2] != k.shape[2]:
                raise fail("queries", f"{k.shape[2]} tokens (one per new token)", f"{queries.shape[2]}", described=True)
        super().append(k, v)
        t = k.shape[2]
        self._acc = torch.cat([self._acc, self._acc.new_zeros(k.shape[0], k.shape[1], t)], dim=2)
        if queries is not None:  # the new queries sit at the last t places of the cache (causal among them)
            attn = prompt_attention(queries, self._K, self._K.shape[2] - t).sum(2)
            self._acc = self._acc + group_mean(attn, k.shape[1]).to(self._acc.dtype)
        L = self._K.shape[2]
        if self.evict_on_append and L > self.budget_:  # heavy hitters among the older tokens + the recent
            r = self.recent_
            recent = torch.arange(L - r, L, device=k.device).expand(k.shape[0], k.shape[1], r)
            idx = torch.cat([_top(self._acc[..., :L - r], self.budget_ - r), recent], dim=2)
            self._acc = _take(self._acc, idx)
            self._keep(idx)
