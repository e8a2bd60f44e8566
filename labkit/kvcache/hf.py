"""LabkitCache: the one adapter that runs any labkit KVStore inside a transformers model (5.2.0).

    cache = LabkitCache(lambda layer: KIVIStore(bits=2), num_layers=4, model=model)
    out = model(prompt_ids, past_key_values=cache, use_cache=True)      # prefill
    out = model(next_id, past_key_values=cache, use_cache=True)         # decode, one token at a time

What a KVStore sees, and when (per layer; tensors post-RoPE, (batch, heads, tokens, head_dim)):
- First update of a layer (the prefill): `store.prefill(K, V, queries=Q)`. The prefill's own
  attention uses the ORIGINAL full-precision K, V; compression applies to what later tokens see.
  This is KIVI's `llama_kivi.py` (the prompt attends in fp16, then is quantized; Liu et al. 2024,
  arXiv 2402.02750) and kvpress's pre-fill compression (a forward hook after attention).
- Q are the prefill's post-RoPE queries (batch, q_heads, T, head_dim), which query-aware eviction
  needs (SnapKV: Li et al. 2024, arXiv 2404.14469, observation window; H2O: Zhang et al. 2023,
  arXiv 2306.14048, accumulated attention). They are captured by a forward hook on each layer's
  `q_proj` (only when `model=` is given) with the model's RoPE applied with the cos/sin that the
  attention layer passes to `Cache.update` in `cache_kwargs`. Without `model=`, queries=None.
- Every later update: `store.append(k, v)` (plus `queries=q` if the store's `append` accepts a
  `queries` argument, for decode-time scores such as H2O's), then attention uses
  `(store.keys(), store.values())`: dequantized or kept tokens.

Positions: `get_seq_length()` reports tokens SEEN (store.seq_length), so transformers continues
`cache_position` / `position_ids` past evicted tokens; kept keys keep the RoPE of their original
positions (as kvpress does without KeyRerotationPress). Masks: for one-token decoding the causal
mask is all-ones; `get_mask_sizes` returns a one-column mask, (kv_length=1, kv_offset=seen), which
broadcasts over however many tokens each layer keeps (stores may evict while appending, and
layers may keep different counts). A chunk of q_len > 1 after the prefill gets a real causal mask
of (kept + q_len, seen - kept), which requires every layer to keep the same count and the store to
keep the whole chunk; otherwise `update` raises a ValueError asking for one token at a time.
"""

from __future__ import annotations

import inspect
import sys
import weakref
from typing import Any, Callable

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

from labkit.base import Estimator
from labkit.kvcache.checks import check_kv
from labkit.kvcache.store import KVStore
from labkit.validate import check_callable, check_int, fail, type_fail

MAX_LAYERS = 4096  # layers a LabkitCache accepts (one store each, built at once)

# one q_proj hook per model, shared by every LabkitCache on it: {layer_idx: raw q_proj output}
_QUERY_SLOTS: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


def _decoder_layers(model) -> list:
    base = getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if layers is None or not all(hasattr(L, "self_attn") and hasattr(L.self_attn, "q_proj") for L in layers):
        raise type_fail("model", "a Llama-style decoder (model.layers[i].self_attn.q_proj)", model)
    return list(layers)


def query_slots(model) -> dict:
    """Install (once) a forward hook on every layer's q_proj; return the dict it fills per layer."""
    if model in _QUERY_SLOTS:
        return _QUERY_SLOTS[model]
    slots: dict = {}
    for i, layer in enumerate(_decoder_layers(model)):
        attn = layer.self_attn

        def hook(mod, args, out, i=i, d=attn.head_dim):
            b, t, _ = out.shape
            slots[i] = out.view(b, t, -1, d).transpose(1, 2)      # (batch, q_heads, t, head_dim), pre-RoPE

        attn.q_proj.register_forward_hook(hook)
    _QUERY_SLOTS[model] = slots
    return slots


def _rope(q: torch.Tensor, module, cache_kwargs: dict | None) -> torch.Tensor | None:
    """Post-RoPE queries: the model's own apply_rotary_pos_emb with the cos/sin of this forward."""
    apply = getattr(module, "apply_rotary_pos_emb", None)
    if apply is None or not cache_kwargs or cache_kwargs.get("cos") is None:
        return None                                  # not a RoPE model: no post-RoPE queries to give
    q_rot, _ = apply(q, q, cache_kwargs["cos"], cache_kwargs["sin"])
    return q_rot


def _accepts_queries(fn) -> bool:
    try:
        return "queries" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class StoreLayer(CacheLayerMixin):
    """One layer of LabkitCache: transformers' layer protocol on top of a labkit KVStore."""

    is_sliding = False
    is_compileable = False

    def __init__(self, store: KVStore, layer_idx: int, cache: "LabkitCache"):
        # CacheLayerMixin.__init__ would set .keys/.values attributes; here they are read-only views
        self.store, self.layer_idx, self._cache = store, layer_idx, cache
        self.is_initialized = False
        self._append_queries = _accepts_queries(store.append)

    @property
    def keys(self) -> torch.Tensor | None:
        return self.store.keys() if self.is_initialized else None

    @property
    def values(self) -> torch.Tensor | None:
        return self.store.values() if self.is_initialized else None

    def lazy_initialization(self, key_states, value_states) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device

    def kept(self) -> int:
        return int(self.store.keys().shape[-2]) if self.is_initialized else 0

    def update(self, key_states, value_states, cache_kwargs: dict[str, Any] | None = None):
        q = self._cache._queries(self.layer_idx, cache_kwargs, key_states.shape[-2])
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.store.prefill(key_states, value_states, queries=q)
            self.is_initialized = True
            return key_states, value_states          # the prompt attends over its own full K, V
        n, kept_before = key_states.shape[-2], self.kept()
        if self._append_queries:
            self.store.append(key_states, value_states, queries=q)
        else:
            self.store.append(key_states, value_states)
        K, V = self.store.keys(), self.store.values()
        if n > 1 and (K.shape[-2] != kept_before + n or self._cache._chunk_kv_length not in (None, K.shape[-2])):
            raise ValueError(f"key_states: a chunk of {n} tokens after the prefill needs every layer to keep "
                             f"the same tokens and the whole chunk (layer {self.layer_idx} holds {K.shape[-2]}, "
                             f"the mask expects {self._cache._chunk_kv_length}); decode one token at a time")
        return K.to(device=self.device, dtype=self.dtype), V.to(device=self.device, dtype=self.dtype)

    def get_seq_length(self) -> int:
        return int(self.store.seq_length) if self.is_initialized else 0

    def get_mask_sizes(self, cache_position: torch.Tensor) -> tuple[int, int]:
        q_len, seen = cache_position.shape[0], self.get_seq_length()
        if q_len == 1:
            return 1, seen                           # all-ones column, broadcast over the kept tokens
        kept = self.kept()
        return kept + q_len, seen - kept             # kept tokens all lie before the chunk

    def get_max_cache_shape(self) -> int:
        return -1

    def reset(self) -> None:
        raise NotImplementedError("LabkitCache cannot be reset in place; make a new LabkitCache")

    def reorder_cache(self, beam_idx) -> None:
        raise NotImplementedError("LabkitCache does not support beam search (reorder_cache)")


class LabkitCache(Estimator, Cache):
    """A `transformers.Cache` whose layer `i` stores K/V in `make_store(i)` (a labkit KVStore).

    make_store: callable layer_idx -> KVStore (a fresh store per layer);
    num_layers: the model's decoder-layer count;
    model: optional; when given, the prefill's post-RoPE queries are captured and passed to
    `store.prefill(..., queries=Q)` (hooks on its q_proj modules are installed once per model).
    `.stores` lists the per-layer stores, `snapshot()` their contents, to inspect after a run.
    """

    def __init__(self, make_store: Callable[[int], KVStore], num_layers: int, model=None):
        self.make_store = check_callable("make_store", make_store)
        # bounded before a store is made: decoders have tens to a few hundred layers
        self.num_layers = check_int("num_layers", num_layers, low=1, high=MAX_LAYERS)
        stores = [make_store(i) for i in range(num_layers)]
        for i, s in enumerate(stores):
            if not isinstance(s, KVStore):
                raise type_fail("make_store", f"a callable returning a KVStore (layer {i})", s)
        if len({id(s) for s in stores}) != num_layers:
            raise fail("make_store", "a fresh store per layer", "the same store object for two layers",
                       described=True)
        self.model = model
        self._slots = None
        self._attn_modules: list = []
        if model is not None:
            layers = _decoder_layers(model)
            if len(layers) != num_layers:
                raise fail("num_layers", f"the model's {len(layers)} decoder layers", num_layers)
            self._slots = query_slots(model)
            self._attn_modules = [sys.modules[type(L.self_attn).__module__] for L in layers]
        self._chunk_kv_length: int | None = None
        super().__init__(layers=[StoreLayer(s, i, self) for i, s in enumerate(stores)])

    @property
    def stores(self) -> list[KVStore]:
        return [layer.store for layer in self.layers]

    def _queries(self, layer_idx: int, cache_kwargs: dict | None, n: int) -> torch.Tensor | None:
        if self._slots is None or layer_idx not in self._slots:
            return None
        q = self._slots.pop(layer_idx)
        if q.shape[-2] != n:
            return None                               # not this forward's queries
        return _rope(q, self._attn_modules[layer_idx], cache_kwargs)

    def update(self, key_states, value_states, layer_idx: int, cache_kwargs=None):
        """Store this forward's key_states, value_states (batch, kv_heads, tokens, head_dim) of layer
        layer_idx; returns the (K, V) attention uses (transformers' Cache protocol)."""
        layer_idx = check_int("layer_idx", layer_idx, 0, len(self.layers) - 1)
        check_kv(key_states, value_states, ("key_states", "value_states"))
        return self.layers[layer_idx].update(key_states, value_states, cache_kwargs)

    def get_mask_sizes(self, cache_position: torch.Tensor, layer_idx: int = 0) -> tuple[int, int]:
        kv_length, kv_offset = super().get_mask_sizes(cache_position, layer_idx)
        chunk = cache_position.shape[0] > 1 and self.layers[layer_idx].is_initialized
        self._chunk_kv_length = kv_length if chunk else None
        return kv_length, kv_offset

    def kept_lengths(self) -> list[int]:
        """Tokens each layer's store currently holds (== get_seq_length() unless a store evicts)."""
        return [layer.kept() for layer in self.layers]

    def nbytes(self) -> int:
        """Bytes all layers' stores would occupy (KVStore.nbytes summed)."""
        return sum(int(s.nbytes) for s in self.stores)

    def snapshot(self) -> dict:
        """Plain data: tokens seen, tokens each layer keeps, total bytes, and each layer store's snapshot()."""
        return {"seq_length": int(self.get_seq_length()), "kept_lengths": self.kept_lengths(),
                "nbytes": self.nbytes(), "layers": [s.snapshot() for s in self.stores]}
