"""KVStore: one attention layer's key/value cache, the interface every labkit KV method implements.

Tensors are torch, laid out as in Hugging Face attention: K, V of shape (batch, kv_heads, tokens,
head_dim), queries (batch, q_heads, tokens, head_dim) with q_heads a multiple of kv_heads
(grouped-query attention). Keys and queries arrive after RoPE.

Life of a store (what `labkit.kvcache.hf.LabkitCache` drives inside a transformers model):
    store.prefill(K, V, queries=Q)   # the prompt; attention over the prompt itself used full K, V
    store.append(k, v, queries=q)    # each decoded token (or chunk), in order; q its post-RoPE queries
    store.keys(), store.values()     # what attention sees next: dequantized / kept tokens
    store.positions()                # absolute positions of the kept tokens: (kept,), or
                                     # (batch, kv_heads, kept) when each head keeps its own tokens
    store.nbytes                     # bytes the cache would occupy: packed codes + scales + zeros + residual
A quantizing store keeps every token (positions() is arange); an evicting store keeps a subset.
"""

from __future__ import annotations

import abc

import torch


def check_kv(K: torch.Tensor, V: torch.Tensor, name: str = "K, V") -> None:
    """ValueError unless K and V are matching finite 4-D (batch, heads, tokens, head_dim) tensors."""
    for t, nm in ((K, "K"), (V, "V")):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{nm}: expected a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{nm}: expected 4 dimensions (batch, heads, tokens, head_dim), "
                             f"got shape {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{nm}: contains NaN or inf")
    if K.shape != V.shape:
        raise ValueError(f"{name}: shapes differ, {tuple(K.shape)} vs {tuple(V.shape)}")


class KVStore(abc.ABC):
    """Abstract base: subclasses implement prefill / append / keys / values / nbytes."""

    seq_length: int = 0  # tokens seen so far (prefill + appended), kept or not

    @abc.abstractmethod
    def prefill(self, K: torch.Tensor, V: torch.Tensor, queries: torch.Tensor | None = None) -> None: ...

    @abc.abstractmethod
    def append(self, k: torch.Tensor, v: torch.Tensor, queries: torch.Tensor | None = None) -> None: ...

    @abc.abstractmethod
    def keys(self) -> torch.Tensor: ...

    @abc.abstractmethod
    def values(self) -> torch.Tensor: ...

    @property
    @abc.abstractmethod
    def nbytes(self) -> int: ...

    def positions(self) -> torch.Tensor:
        """(kept,) int64 absolute positions of the tokens keys()/values() hold (default: all)."""
        return torch.arange(self.seq_length)

    def bytes_per_token(self) -> float:
        return self.nbytes / max(self.seq_length, 1)


class FullPrecisionStore(KVStore):
    """The baseline: every token kept as given (dtype=None keeps the input dtype)."""

    def __init__(self, dtype: torch.dtype | None = None):
        self.dtype = dtype
        self._K: torch.Tensor | None = None
        self._V: torch.Tensor | None = None
        self.seq_length = 0

    def prefill(self, K, V, queries=None):
        check_kv(K, V)
        dt = self.dtype or K.dtype
        self._K, self._V = K.to(dt).clone(), V.to(dt).clone()
        self.seq_length = K.shape[-2]

    def append(self, k, v, queries=None):
        check_kv(k, v, "k, v")
        if self._K is None:
            self.prefill(k, v)
            return
        self._K = torch.cat([self._K, k.to(self._K.dtype)], dim=-2)
        self._V = torch.cat([self._V, v.to(self._V.dtype)], dim=-2)
        self.seq_length += k.shape[-2]

    def keys(self):
        return self._K

    def values(self):
        return self._V

    @property
    def nbytes(self) -> int:
        if self._K is None:
            return 0
        return self._K.numel() * self._K.element_size() + self._V.numel() * self._V.element_size()
