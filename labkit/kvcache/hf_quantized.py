"""HF transformers' own quantized KV cache layer as a labkit KVStore: the anchor, run through the
same cache interface as labkit's methods so the comparison is like for like.

transformers 5.2.0 `QuantoQuantizedLayer` (src/transformers/cache_utils.py at the v5.2.0 tag), with
its defaults nbits=4, axis_key=0, axis_value=0, q_group_size=64, residual_length=128. What it does
differently from KIVI (Liu et al. 2024, arXiv 2402.02750, §3.2-3.3):
- axis 0 groups *both* keys and values per token: quanto's `group()` (optimum-quanto 0.2.7,
  optimum/quanto/tensor/grouped.py) reshapes axis-0 tensors to (-1, q_group_size), i.e. runs of
  consecutive channels of one token; KIVI groups keys per channel;
- `QuantizedLayer.update` quantizes the whole prompt at its first call (nothing stays in full
  precision), and each time the residual reaches residual_length it dequantizes every token —
  already quantized ones included — and quantizes them all again.
keys()/values() are what the layer's update() returned: what HF attention saw.
"""

from __future__ import annotations

import torch

from labkit.kvcache.store import KVStore, check_kv, to_numpy
from labkit.validate import check_choice, check_int


def _qbytes(qt) -> int:
    """Bytes of a quanto WeightQBitsTensor: packed codes + scales + shifts."""
    total = 0
    for name in ("_data", "_scale", "_shift"):
        t = getattr(qt, name)
        t = getattr(t, "_data", t)  # PackedTensor wraps its uint8 storage
        total += t.numel() * t.element_size()
    return total


class HFQuantizedStore(KVStore):
    """transformers' QuantoQuantizedLayer behind the KVStore interface (nbits 2 or 4, the quanto
    backend's widths; axis_key / axis_value 0 (per token) or -1 (per channel))."""

    def __init__(self, nbits: int = 4, axis_key: int = 0, axis_value: int = 0, q_group_size: int = 64,
                 residual_length: int = 128):
        from transformers.cache_utils import QuantoQuantizedLayer

        self.nbits = check_choice("nbits", check_int("nbits", nbits), (2, 4))
        self.axis_key = check_choice("axis_key", check_int("axis_key", axis_key), (0, -1))
        self.axis_value = check_choice("axis_value", check_int("axis_value", axis_value), (0, -1))
        self.q_group_size = check_int("q_group_size", q_group_size, low=1)
        self.residual_length = check_int("residual_length", residual_length, low=1)
        self.layer = QuantoQuantizedLayer(**self.params)
        self._K = self._V = None
        self.seq_length = 0

    @property
    def params(self) -> dict:
        """The QuantoQuantizedLayer keyword arguments (= get_params())."""
        return self.get_params()

    def _update(self, k, v):
        try:
            return self.layer.update(k, v)
        except (RuntimeError, ValueError) as e:  # quanto cannot group this shape
            raise ValueError(f"q_group_size: expected a group size quanto can apply to a {tuple(k.shape)} "
                             f"tensor with {self.params}, got {self.q_group_size} ({e})") from e

    def prefill(self, K, V, queries=None):
        check_kv(K, V)
        if self.seq_length:
            raise ValueError("prefill: this cache already holds tokens; make a new store per sequence")
        self._K, self._V = self._update(K, V)  # returns K, V as given; stores them quantized
        self.seq_length = K.shape[-2]

    def append(self, k, v, queries=None):
        check_kv(k, v, ("k", "v"))
        if not self.seq_length:
            raise ValueError("append: call prefill first")
        self._K, self._V = self._update(k, v)
        self.seq_length += k.shape[-2]

    def keys(self):
        return self._K

    def values(self):
        return self._V

    @property
    def nbytes(self) -> int:
        if not self.seq_length:
            return 0
        L = self.layer
        full = sum(t.numel() * t.element_size() for t in (L.keys, L.values) if t is not None and t.dim() == 4)
        return _qbytes(L._quantized_keys) + _qbytes(L._quantized_values) + full

    def snapshot(self) -> dict:
        """Plain data: seq_length, nbytes, positions, the keys and values HF attention saw last
        (batch, heads, tokens, head_dim), and the full-precision residual the layer holds."""
        L = self.layer
        resid = [t if isinstance(t, torch.Tensor) and t.dim() == 4 else None for t in (L.keys, L.values)] \
            if self.seq_length else [None, None]
        return {**super().snapshot(), "keys": to_numpy(self._K), "values": to_numpy(self._V),
                "key_residual": to_numpy(resid[0]), "value_residual": to_numpy(resid[1])}
