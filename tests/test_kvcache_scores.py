"""labkit.kvcache.scores and the eviction stores against kvpress 0.5.5: equal scores on the same tensors, and
the same kept tokens as its presses' compress()."""


import pytest
import torch

from labkit.kvcache import eviction as ev
from labkit.kvcache import scores as sc

kvpress = pytest.importorskip("kvpress")
llama = pytest.importorskip("transformers.models.llama.modeling_llama")

D, H, KVH = 16, 8, 2  # head_dim, query heads, kv heads (GQA groups of 4)


@pytest.fixture(scope="module")
def llama_layer():
    """A tiny random Llama attention layer and one prompt through it: the same post-RoPE queries and
    keys reach kvpress (which recomputes queries from hidden_states) and labkit."""
    from transformers import LlamaConfig

    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=H * D, num_attention_heads=H, num_key_value_heads=KVH, head_dim=D,
                      intermediate_size=64, num_hidden_layers=1, vocab_size=32, max_position_embeddings=256,
                      attn_implementation="eager")
    module = llama.LlamaAttention(cfg, layer_idx=0).eval()
    B, T = 2, 100
    hidden = torch.randn(B, T, H * D)
    cos, sin = llama.LlamaRotaryEmbedding(cfg)(hidden, torch.arange(T)[None].expand(B, T))
    with torch.no_grad():
        q = module.q_proj(hidden).view(B, T, H, D).transpose(1, 2)
        k = module.k_proj(hidden).view(B, T, KVH, D).transpose(1, 2)
        v = module.v_proj(hidden).view(B, T, KVH, D).transpose(1, 2)
        q, k = llama.apply_rotary_pos_emb(q, k, cos, sin)
        causal = torch.full((T, T), float("-inf")).triu(1)[None, None]
        _, attn = module(hidden, position_embeddings=(cos, sin), attention_mask=causal)  # eager weights
    return dict(module=module, hidden=hidden, q=q, k=k, v=v, attn=attn, kwargs={"position_embeddings": (cos, sin)})


def _kvpress_score(press, L, attentions=None):
    with torch.no_grad():
        return press.score(L["module"], L["hidden"], L["k"], L["v"], attentions, L["kwargs"])


def _maxdiff(a, b):
    assert a.shape == b.shape
    return (a.double() - b.double()).abs().max().item()


# ------------------------------------------------------------------ parity with kvpress score()
@pytest.mark.parametrize("window_size, kernel_size", [(16, 5), (64, 5), (8, 1), (30, 7)])
def test_snapkv_scores_equal_kvpress(llama_layer, window_size, kernel_size):
    L = llama_layer
    ours = sc.snapkv_scores(L["q"], L["k"], window_size, kernel_size)
    press = kvpress.SnapKVPress(0.5, window_size=window_size, kernel_size=kernel_size)
    assert _maxdiff(ours, _kvpress_score(press, L)) <= 1e-6  # kvpress recomputes queries from hidden
    assert _maxdiff(ours, _kvpress_score(press, L, L["attn"])) <= 1e-6  # kvpress reads eager weights


def test_knorm_scores_equal_kvpress(llama_layer):
    L = llama_layer
    assert _maxdiff(sc.knorm_scores(L["k"]), _kvpress_score(kvpress.KnormPress(0.5), L)) == 0
    k16 = L["k"].to(torch.bfloat16)
    theirs = kvpress.KnormPress(0.5).score(L["module"], L["hidden"], k16, k16, None, {})
    assert sc.knorm_scores(k16).dtype == theirs.dtype == torch.float32
    assert _maxdiff(sc.knorm_scores(k16), theirs) == 0


def test_observed_attention_scores_equal_kvpress(llama_layer):
    L = llama_layer
    theirs = _kvpress_score(kvpress.ObservedAttentionPress(0.5), L, L["attn"])
    assert _maxdiff(sc.observed_attention_scores(L["q"], L["k"]), theirs) <= 1e-6
    # H2O's accumulated sum is the same thing times the number of queries that see each key (T - j)
    T = L["k"].shape[2]
    assert torch.allclose(sc.h2o_scores(L["q"], L["k"]), theirs * torch.arange(T, 0, -1), atol=1e-5)


def test_scores_from_the_last_queries_only(llama_layer):
    """queries may be the last Tq prompt positions: the eager attention's last Tq rows."""
    L, tq = llama_layer, 30
    rows = L["attn"][..., -tq:, :].sum(2)
    ours = sc.h2o_scores(L["q"][:, :, -tq:], L["k"])
    assert _maxdiff(ours, rows.view(2, KVH, H // KVH, -1).mean(2)) <= 1e-5
    seen_by = torch.clamp(torch.arange(100, 0, -1), max=tq)
    assert _maxdiff(sc.observed_attention_scores(L["q"][:, :, -tq:], L["k"]), ours / seen_by) <= 1e-6


def test_tova_scores_equal_kvpress(llama_layer):
    L = llama_layer
    assert _maxdiff(sc.tova_scores(L["q"], L["k"]), _kvpress_score(kvpress.TOVAPress(0.5), L)) <= 1e-6


@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5, 0.77, 0.95])
@pytest.mark.parametrize("n_sink", [0, 4])
def test_streaming_scores_equal_kvpress(llama_layer, ratio, n_sink):
    L = llama_layer
    T = L["k"].shape[2]
    theirs = _kvpress_score(kvpress.StreamingLLMPress(ratio, n_sink=n_sink), L)
    assert _maxdiff(sc.streaming_scores(T, n_sink, int(T * (1 - ratio))).expand_as(theirs), theirs) == 0


@pytest.mark.parametrize("make, press", [
    (lambda: ev.SnapKV(compression_ratio=0.6, window_size=16), kvpress.SnapKVPress(0.6, window_size=16)),
    (lambda: ev.KeyNorm(compression_ratio=0.3), kvpress.KnormPress(0.3)),
    (lambda: ev.StreamingLLM(compression_ratio=0.5), kvpress.StreamingLLMPress(0.5)),
    (lambda: ev.TOVA(compression_ratio=0.75), kvpress.TOVAPress(0.75)),
])
def test_stores_keep_what_kvpress_compress_keeps(llama_layer, make, press):
    L = llama_layer
    store = make()
    store.prefill(L["k"], L["v"], queries=L["q"])
    with torch.no_grad():
        keys, values = press.compress(L["module"], L["hidden"], L["k"], L["v"], None, L["kwargs"])
        order = _kvpress_score(press, L).topk(keys.shape[2], dim=-1).indices  # the order compress gathered in
    sort = order.argsort(-1)[..., None].expand(-1, -1, -1, D)
    assert torch.equal(store.positions(), order.sort(-1).values)
    assert torch.equal(store.keys(), keys.gather(2, sort))
    assert torch.equal(store.values(), values.gather(2, sort))


def test_h2o_scores_chunked_equals_one_block(llama_layer, monkeypatch):
    L = llama_layer
    whole = sc.h2o_scores(L["q"], L["k"])
    monkeypatch.setattr(sc, "_CHUNK", 7)
    assert torch.allclose(sc.h2o_scores(L["q"], L["k"]), whole, atol=1e-5)
