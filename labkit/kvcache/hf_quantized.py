"""HF transformers' own quantized KV cache layer as a labkit KVStore: the anchor, run through the
same cache interface as labkit's methods so the comparison is like for like.

transformers 5.2.0 `QuantoQuantizedLayer` (cache_utils.py), with its defaults nbits=4,
axis_key=0, axis_value=0, q_group_size=64, residual_length=128. What it does differently from
KIVI (kv.md §2; the blog PR huggingface/blog#2045): axis 0 groups *both* keys and values per token;
the whole prompt is quantized at prefill (nothing stays in full precision); every time the
residual fills, all tokens — already quantized ones included — are dequantized and quantized
again. keys()/values() are what the layer's update() returned: what HF attention saw.
"""

from __future__ import annotations

from labkit.kvcache.store import KVStore, check_kv


def _qbytes(qt) -> int:
    """Bytes of a quanto WeightQBitsTensor: packed codes + scales + shifts."""
    total = 0
    for name in ("_data", "_scale", "_shift"):
        t = getattr(qt, name)
        t = getattr(t, "_data", t)  # PackedTensor wraps its uint8 storage
        total += t.numel() * t.element_size()
    return total


class HFQuantizedStore(KVStore):
    """transformers' QuantoQuantizedLayer behind the KVStore interface."""

    def __init__(self, nbits: int = 4, axis_key: int = 0, axis_value: int = 0, q_group_size: int = 64,
                 residual_length: int = 128):
        from transformers.cache_utils import QuantoQuantizedLayer

        if nbits not in (2, 4):
            raise ValueError(f"nbits: the quanto backend supports 2 or 4, got {nbits!r}")
        self.params = dict(nbits=nbits, axis_key=axis_key, axis_value=axis_value, q_group_size=q_group_size,
                           residual_length=residual_length)
        self.layer = QuantoQuantizedLayer(**self.params)
        self._K = self._V = None
        self.seq_length = 0

    def __repr__(self) -> str:
        return "HFQuantizedStore(" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + ")"

    def _update(self, k, v):
        try:
            return self.layer.update(k, v)
        except (RuntimeError, ValueError) as e:  # quanto cannot group this shape
            raise ValueError(f"q_group_size: quanto could not quantize a {tuple(k.shape)} tensor with "
                             f"{self.params} ({e})") from e

    def prefill(self, K, V, queries=None):
        check_kv(K, V)
        if self.seq_length:
            raise ValueError("prefill: this cache already holds tokens; make a new store per sequence")
        self._K, self._V = self._update(K, V)  # returns K, V as given; stores them quantized
        self.seq_length = K.shape[-2]

    def append(self, k, v, queries=None):
        check_kv(k, v, "k, v")
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
