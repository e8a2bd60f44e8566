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
    store.snapshot()                 # what it holds, as plain data (numpy arrays, numbers, strings)
A quantizing store keeps every token (positions() is arange); an evicting store keeps a subset.
Every store is an Estimator (labkit.base): its constructor takes hyper-parameters only, and
`get_params()` reads them back.
"""

from __future__ import annotations

import abc

import numpy as np
import torch

from labkit.base import Estimator
from labkit.kvcache.checks import check_dtype, check_kv
from labkit.validate import fail


def to_numpy(t: torch.Tensor | None) -> np.ndarray | None:
    """A detached CPU numpy copy (bfloat16, which numpy lacks, as float32); None stays None."""
    if t is None:
        return None
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()


class KVStore(Estimator, abc.ABC):
    """Abstract base: subclasses implement prefill / append / keys / values / nbytes / snapshot."""

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
        """nbytes per token seen (0.0 before the prefill)."""
        return self.nbytes / max(self.seq_length, 1)

    def snapshot(self) -> dict:
        """What the store holds, as plain data: at least seq_length, nbytes and the positions kept."""
        return {"seq_length": int(self.seq_length), "nbytes": int(self.nbytes),
                "positions": to_numpy(self.positions())}


class FullPrecisionStore(KVStore):
    """The baseline: every token kept as given (dtype=None keeps the input dtype)."""

    def __init__(self, dtype: torch.dtype | None = None):
        self.dtype = check_dtype("dtype", dtype, none=True)
        self._K: torch.Tensor | None = None
        self._V: torch.Tensor | None = None
        self.seq_length = 0

    def prefill(self, K, V, queries=None):
        check_kv(K, V)
        dt = self.dtype or K.dtype
        self._K, self._V = K.to(dt).clone(), V.to(dt).clone()
        self.seq_length = K.shape[-2]

    def append(self, k, v, queries=None):
        check_kv(k, v, ("k", "v"))
        if self._K is not None and (k.shape[:2] != self._K.shape[:2] or k.shape[-1] != self._K.shape[-1]):
            raise fail("k", f"(batch, heads, t, head_dim) with batch, heads, head_dim = "
                       f"{(*self._K.shape[:2], self._K.shape[-1])}", f"shape {tuple(k.shape)}", described=True)
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

    def snapshot(self) -> dict:
        """seq_length, nbytes, positions and the stored keys and values (batch, heads, tokens, head_dim)."""
        return {**super().snapshot(), "keys": to_numpy(self._K), "values": to_numpy(self._V)}
