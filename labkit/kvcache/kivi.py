"""KIVI: keys quantized per channel, values per token, the newest tokens kept in full precision
(Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache", ICML 2024, §3.3).

The streaming rules follow the authors' `models/llama_kivi.py` (`LlamaAttention_KIVI.forward`):
- prefill of T tokens: keys — the first T − T % R are quantized in groups of G tokens per channel,
  the last T % R stay full precision (all of them if T < R); values — all but the last R are
  quantized per token (groups of G channels), the last R stay full precision (all if T <= R).
- each decoded token joins both residuals; attention sees it in full precision. Then a key
  residual that has reached R tokens is quantized as one block (R % G == 0) and emptied, and a
  value residual of R + 1 tokens sends its oldest token to the quantized store (a sliding window).
Here that flush happens at the start of the next append, so keys()/values() after append(k, v)
are exactly what KIVI's attention sees at that step. Quantized blocks are never re-quantized
(transformers' QuantizedCache does: `QuantizedLayer.update` in src/transformers/cache_utils.py,
v5.2.0, dequantizes the whole store and quantizes it again each time the residual fills).
"""

from __future__ import annotations

import torch

from labkit.kvcache.checks import check_dtype, check_shape
from labkit.kvcache.quant import QuantizedTensor, UniformQuantizer, check_backend
from labkit.kvcache.store import KVStore, check_kv, to_numpy
from labkit.validate import check_int, fail, type_fail


def _bits_or_none(name: str, value) -> int | None:
    return None if value is None else check_int(name, value, 1, 8)


def _quantizer_or_none(name: str, value):
    """None, or an object with quantize(x) -> (.dequantize(), .nbytes, .shape) and a `bits` attribute."""
    if value is not None and not (callable(getattr(value, "quantize", None)) and hasattr(value, "bits")):
        raise type_fail(name, "None or a quantizer (an object with quantize(x) and bits)", value)
    return value


def kivi_layout(T: int, n_decoded: int, R: int) -> dict:
    """Token counts of each part after a prefill of T tokens and n_decoded appended ones, as
    attention sees them: key_quantized, key_residual, value_quantized, value_residual."""
    T, n_decoded = check_int("T", T, low=0), check_int("n_decoded", n_decoded, low=0)
    R = check_int("R", R, low=1)
    # KIVI's decode step (Liu et al. 2024, Algorithm 1; its code's flush rules): keys gather in a
    # residual that is quantized as one block of R when full and a token arrives; values keep a
    # window of the last R + 1, its oldest quantized as each token arrives. In closed form (the
    # step-by-step loop is the oracle of tests/test_kvcache_quant.py), so any n_decoded is O(1):
    kq, kr = T - T % R, T % R                 # after the prefill
    if n_decoded:
        kr = (kr + n_decoded - 1) % R + 1     # the residual never empties once decoding starts
        kq = T + n_decoded - kr
    vr = min(min(T, R) + n_decoded, R + 1)
    vq = T + n_decoded - vr
    return {"key_quantized": kq, "key_residual": kr, "value_quantized": vq, "value_residual": vr}


def kivi_nbytes(shape, n_decoded: int, bits: int, group_size: int, residual_length: int, *,
                scale_bytes: int = 2, residual_bytes: int = 4, k_bits: int | None = None,
                v_bits: int | None = None) -> int:
    """Bytes of a KIVICache after prefilling K of `shape` (batch, heads, T, head_dim) and decoding
    n_decoded tokens: packed codes (ceil(n·b/8) per block) + an fp scale and zero per group +
    the full-precision residuals."""
    B, H, T, D = check_shape("shape", shape, ndim=4)
    n_decoded = check_int("n_decoded", n_decoded, low=0)
    bits, group_size = check_int("bits", bits, 1, 8), check_int("group_size", group_size, low=1)
    residual_length = check_int("residual_length", residual_length, low=1)
    scale_bytes = check_int("scale_bytes", scale_bytes, low=1)
    residual_bytes = check_int("residual_bytes", residual_bytes, low=1)
    k_bits, v_bits = _bits_or_none("k_bits", k_bits), _bits_or_none("v_bits", v_bits)
    if residual_length % group_size:
        raise fail("residual_length", f"a multiple of group_size={group_size} (KIVI asserts R % G == 0)",
                   residual_length)
    if D % group_size:
        raise fail("group_size", f"a divisor of head_dim={D} (values are grouped along channels)", group_size)
    lay = kivi_layout(T, n_decoded, residual_length)
    kb, vb = k_bits or bits, v_bits or bits
    G, R = group_size, residual_length

    def packed(tokens: int, b: int) -> int:  # one block of `tokens` tokens: its codes, whole bytes
        return (B * H * tokens * D * b + 7) // 8
    first_k = T - T % R                       # the prefill's keys, one block; then blocks of R
    key_bytes = packed(first_k, kb) + (lay["key_quantized"] - first_k) // R * packed(R, kb) \
        + 2 * scale_bytes * (B * H * lay["key_quantized"] * D) // G
    first_v = max(T - R, 0)                   # the prefill's values beyond the window; then one token a step
    val_bytes = packed(first_v, vb) + (lay["value_quantized"] - first_v) * packed(1, vb) \
        + 2 * scale_bytes * (B * H * lay["value_quantized"] * D) // G
    resid = (lay["key_residual"] + lay["value_residual"]) * B * H * D * residual_bytes
    return key_bytes + val_bytes + resid


def kivi_bytes_per_token(head_dim: int, bits: int, group_size: int, scale_bytes: int = 2) -> float:
    """Bytes one quantized token costs per head, keys plus values: 2·(D·b/8 + 2·s·D/G)
    (e.g. 96 B for D=128, KIVI-2, G=32, fp16 scales, against 512 B in fp16: 5.3×)."""
    head_dim, bits = check_int("head_dim", head_dim, low=1), check_int("bits", bits, 1, 8)
    group_size, scale_bytes = check_int("group_size", group_size, low=1), check_int("scale_bytes", scale_bytes, low=1)
    return 2 * (head_dim * bits / 8 + 2 * scale_bytes * head_dim / group_size)


class KIVICache(KVStore):
    """KIVI's streaming KV cache for one layer. bits (or k_bits / v_bits), group_size G, residual_length R.

    k_quantizer / v_quantizer: any object with quantize(x) -> (.dequantize(), .nbytes, .shape) replaces
    the uniform quantizers (rotation as in RotateKV, block floating point, ...). n_sink: the first
    n_sink tokens stay in full precision (attention sinks, RotateKV §3.4). residual_dtype: storage of
    the full-precision parts (e.g. torch.float16 as in KIVI's fp16 models; nbytes counts it,
    keys()/values() return the model's dtype; None: as given). backend: "fast" / "readable", passed
    to the uniform quantizers."""

    def __init__(self, bits: int = 2, group_size: int = 32, residual_length: int = 128, *,
                 k_bits: int | None = None, v_bits: int | None = None, n_sink: int = 0,
                 k_quantizer=None, v_quantizer=None, scale_dtype: torch.dtype = torch.float16,
                 residual_dtype: torch.dtype | None = None, backend: str = "fast"):
        self.bits, self.group_size = check_int("bits", bits, 1, 8), check_int("group_size", group_size, low=1)
        self.residual_length = check_int("residual_length", residual_length, low=1)
        self.k_bits, self.v_bits = _bits_or_none("k_bits", k_bits), _bits_or_none("v_bits", v_bits)
        self.n_sink = check_int("n_sink", n_sink, low=0)
        self.k_quantizer = _quantizer_or_none("k_quantizer", k_quantizer)
        self.v_quantizer = _quantizer_or_none("v_quantizer", v_quantizer)
        self.scale_dtype = check_dtype("scale_dtype", scale_dtype)
        self.residual_dtype = check_dtype("residual_dtype", residual_dtype, none=True)
        self.backend = check_backend(backend)
        if residual_length % group_size:
            raise fail("residual_length", f"a multiple of group_size={group_size} (KIVI asserts R % G == 0)",
                       residual_length)
        self.k_quant = k_quantizer or UniformQuantizer(k_bits or bits, group_size, "channel",
                                                       scale_dtype=scale_dtype, backend=backend)
        self.v_quant = v_quantizer or UniformQuantizer(v_bits or bits, group_size, "token",
                                                       scale_dtype=scale_dtype, backend=backend)
        self.k_blocks: list[QuantizedTensor] = []
        self.v_blocks: list[QuantizedTensor] = []
        self._k_hat: list[torch.Tensor] = []  # dequantized blocks, what attention reads
        self._v_hat: list[torch.Tensor] = []
        self.k_residual: torch.Tensor | None = None
        self.v_residual: torch.Tensor | None = None
        self.k_sink: torch.Tensor | None = None
        self.v_sink: torch.Tensor | None = None
        self.seq_length = 0
        self.n_decoded = 0

    # --- KVStore ------------------------------------------------------------------------------
    def prefill(self, K, V, queries=None):
        check_kv(K, V)
        if self.seq_length:
            raise ValueError("prefill: this cache already holds tokens; make a new KIVICache per sequence")
        if K.shape[-1] % self.group_size:
            raise fail("group_size", f"a divisor of head_dim={K.shape[-1]} (values are grouped along channels)",
                       self.group_size)
        self._out_dtype = K.dtype
        rd = self.residual_dtype or K.dtype
        s = min(self.n_sink, K.shape[-2])
        self.k_sink, self.v_sink = K[..., :s, :].to(rd).clone(), V[..., :s, :].to(rd).clone()
        self.seq_length = s
        K, V = K[..., s:, :], V[..., s:, :]
        T, R = K.shape[-2], self.residual_length
        nk = T - T % R
        if nk:
            self._push_keys(K[..., :nk, :])
        self.k_residual = K[..., nk:, :].to(rd).clone()
        nv = max(T - R, 0)
        if nv:
            self._push_values(V[..., :nv, :])
        self.v_residual = V[..., nv:, :].to(rd).clone()
        self.seq_length += T

    def append(self, k, v, queries=None):
        check_kv(k, v, ("k", "v"))
        if not self.seq_length:
            raise ValueError("append: call prefill first")
        if k.shape[:2] != self.k_residual.shape[:2] or k.shape[-1] != self.k_residual.shape[-1]:
            raise fail("k", f"(batch, heads, t, head_dim) with batch, heads, head_dim = "
                       f"{(*self.k_residual.shape[:2], self.k_residual.shape[-1])}", f"shape {tuple(k.shape)}",
                       described=True)
        R = self.residual_length
        for i in range(k.shape[-2]):  # KIVI decodes one token at a time; a chunk is applied token by token
            if self.k_residual.shape[-2] == R:
                self._push_keys(self.k_residual)
                self.k_residual = self.k_residual[..., :0, :]
            self.k_residual = torch.cat([self.k_residual, k[..., i:i + 1, :].to(self.k_residual.dtype)], dim=-2)
            if self.v_residual.shape[-2] == R + 1:
                self._push_values(self.v_residual[..., :1, :])
                self.v_residual = self.v_residual[..., 1:, :]
            self.v_residual = torch.cat([self.v_residual, v[..., i:i + 1, :].to(self.v_residual.dtype)], dim=-2)
            self.seq_length += 1
            self.n_decoded += 1

    def keys(self):
        dt = self._out_dtype
        return torch.cat([self.k_sink.to(dt), *[t.to(dt) for t in self._k_hat], self.k_residual.to(dt)], dim=-2)

    def values(self):
        dt = self._out_dtype
        return torch.cat([self.v_sink.to(dt), *[t.to(dt) for t in self._v_hat], self.v_residual.to(dt)], dim=-2)

    @property
    def nbytes(self) -> int:
        q = sum(b.nbytes for b in self.k_blocks) + sum(b.nbytes for b in self.v_blocks)
        if self.k_residual is None:
            return q
        full = (self.k_residual, self.v_residual, self.k_sink, self.v_sink)
        return q + sum(t.numel() * t.element_size() for t in full)

    # --- internals and plain data ---------------------------------------------------------------
    def _push_keys(self, block):
        qt = self.k_quant.quantize(block)
        self.k_blocks.append(qt)
        self._k_hat.append(qt.dequantize())
        if len(self._k_hat) > 1:  # keep one tensor so keys() concatenates two pieces, not many
            self._k_hat = [torch.cat(self._k_hat, dim=-2)]

    def _push_values(self, block):
        qt = self.v_quant.quantize(block)
        self.v_blocks.append(qt)
        self._v_hat.append(qt.dequantize())
        if len(self._v_hat) > 1:
            self._v_hat = [torch.cat(self._v_hat, dim=-2)]

    def layout(self) -> dict:
        """Token counts of each part (what kivi_layout predicts) and the byte split."""
        kq = sum(b.shape[-2] for b in self.k_blocks)
        vq = sum(b.shape[-2] for b in self.v_blocks)
        return {"sink": 0 if self.k_sink is None else self.k_sink.shape[-2],
                "key_quantized": kq, "key_residual": self.k_residual.shape[-2] if self.seq_length else 0,
                "value_quantized": vq, "value_residual": self.v_residual.shape[-2] if self.seq_length else 0,
                "quantized_bytes": sum(b.nbytes for b in self.k_blocks) + sum(b.nbytes for b in self.v_blocks),
                "nbytes": self.nbytes}

    def snapshot(self) -> dict:
        """Plain data: the layout and byte split (layout()), seq_length, n_decoded, each quantized
        block's own snapshot() (per-group scales, zeros and codes), and the full-precision residuals
        and sinks (batch, heads, tokens, head_dim) as stored (None before the prefill)."""
        return {**self.layout(), "seq_length": int(self.seq_length), "n_decoded": int(self.n_decoded),
                "key_blocks": [b.snapshot() for b in self.k_blocks],
                "value_blocks": [b.snapshot() for b in self.v_blocks],
                "key_residual": to_numpy(self.k_residual), "value_residual": to_numpy(self.v_residual),
                "key_sink": to_numpy(self.k_sink), "value_sink": to_numpy(self.v_sink)}
