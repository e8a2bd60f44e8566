"""labkit.kvcache.eviction: budgets, kept sets, decoding, properties and errors (score parity with kvpress is
tests/test_kvcache_scores.py)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.kvcache import eviction as ev
from labkit.kvcache import scores as sc
from labkit.kvcache.store import KVStore

D, H, KVH = 16, 8, 2  # head_dim, query heads, kv heads (GQA groups of 4)


# ------------------------------------------------------------------ what each policy keeps
def _qkv(B=1, T=60, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, n, T, D, generator=g).to(dtype) for n in (H, KVH, KVH)]


def _check_store(store, K, V, n):
    pos = store.positions()
    assert pos.shape == (K.shape[0], K.shape[1], n) and pos.dtype == torch.long
    assert (pos.diff(dim=-1) > 0).all()  # sorted, no repeats
    assert torch.equal(store.keys(), K.gather(2, pos[..., None].expand(-1, -1, -1, D)))
    assert torch.equal(store.values(), V.gather(2, pos[..., None].expand(-1, -1, -1, D)))
    kept = store.kept_
    assert kept.shape == (K.shape[0], K.shape[1], store.seq_length) and (kept.sum(-1) == n).all()
    assert np.array_equal(np.take_along_axis(kept, pos.numpy(), -1), np.ones(pos.shape, bool))
    assert store.nbytes == 2 * K.shape[0] * K.shape[1] * n * D * K.element_size()


def test_streamingllm_keeps_sinks_and_the_recent_window():
    Q, K, V = _qkv()
    store = ev.StreamingLLM(budget=20, n_sink=4)
    store.prefill(K, V)
    _check_store(store, K, V, 20)
    assert store.positions()[0, 0].tolist() == [0, 1, 2, 3, *range(44, 60)]
    assert isinstance(store, KVStore)


def test_keynorm_keeps_the_smallest_norms():
    Q, K, V = _qkv()
    store = ev.KeyNorm(budget=10)
    store.prefill(K, V)
    _check_store(store, K, V, 10)
    norms = K.norm(dim=-1)
    for h in range(KVH):
        assert set(store.positions()[0, h].tolist()) == set(norms[0, h].argsort()[:10].tolist())


def test_h2o_keeps_recent_and_heavy_hitters():
    Q, K, V = _qkv()
    store = ev.H2O(budget=16, recent=6)
    store.prefill(K, V, queries=Q)
    _check_store(store, K, V, 16)
    scores = sc.h2o_scores(Q, K)
    np.testing.assert_array_equal(store.scores_, scores.numpy())
    for h in range(KVH):
        heavy = set(scores[0, h, :54].argsort(descending=True)[:10].tolist())
        assert set(store.positions()[0, h].tolist()) == heavy | set(range(54, 60))
    assert ev.H2O(budget=16).n_kept(60) == 16 and ev.H2O(budget=16).recent is None


def test_snapkv_keeps_the_window():
    Q, K, V = _qkv()
    store = ev.SnapKV(budget=20, window_size=8, kernel_size=3)
    store.prefill(K, V, queries=Q)
    _check_store(store, K, V, 20)
    assert (store.positions()[..., -8:] == torch.arange(52, 60)).all()


def _one_key_gets_all_attention(T=60, hot=20):
    """Every query points along u; only key `hot` does too (large logit): it takes ~all the attention."""
    g = torch.Generator().manual_seed(1)
    u = torch.zeros(D)
    u[0] = 1.0
    Q = (12.0 * u).expand(1, H, T, D).clone()
    K = 0.1 * torch.randn(1, KVH, T, D, generator=g)
    K[..., 0] = 0.0
    K[:, :, hot] = 12.0 * u
    return Q, K, torch.randn(1, KVH, T, D, generator=g)


@pytest.mark.parametrize("store, kept", [
    (ev.H2O(budget=12, recent=4), True),
    (ev.SnapKV(budget=12, window_size=8, kernel_size=5), True),
    (ev.TOVA(budget=12), True),
    (ev.StreamingLLM(budget=12, n_sink=4), False),
])
def test_a_key_that_gets_all_attention(store, kept):
    Q, K, V = _one_key_gets_all_attention()
    store.prefill(K, V, queries=Q)
    assert (20 in store.positions()[0, 0].tolist()) is kept
    assert bool(store.kept_[0, 1, 20]) is kept


# ------------------------------------------------------------------ decoding
def test_streamingllm_rolls_while_decoding():
    Q, K, V = _qkv(T=30)
    store = ev.StreamingLLM(budget=10, n_sink=2)
    store.prefill(K, V)
    for i in range(7):
        store.append(K[:, :, :1] + i, V[:, :, :1])
        assert store.keys().shape[2] == 10 and store.seq_length == 31 + i
    assert store.positions()[0, 1].tolist() == [0, 1, *range(29, 37)]
    assert store.kept_.shape == (1, KVH, 37) and store.kept_.sum() == 2 * 10
    grow = ev.StreamingLLM(budget=10, n_sink=2, evict_on_append=False)
    grow.prefill(K, V)
    grow.append(K[:, :, :3], V[:, :, :3])
    assert grow.positions()[0, 0].tolist() == [0, 1, *range(22, 33)]


def test_short_prompt_grows_to_the_budget_then_rolls():
    Q, K, V = _qkv(T=3)
    store = ev.StreamingLLM(budget=6, n_sink=4)
    store.prefill(K, V)
    assert store.scores_ is None and store.positions()[0, 0].tolist() == [0, 1, 2]
    for _ in range(5):
        store.append(K[:, :, :1], V[:, :, :1])
    assert store.positions()[0, 0].tolist() == [0, 1, 2, 3, 6, 7]


@pytest.mark.parametrize("make", [lambda: ev.KeyNorm(budget=8), lambda: ev.SnapKV(budget=8, window_size=4),
                                  lambda: ev.TOVA(compression_ratio=0.5)])
def test_prefill_only_policies_append_and_keep(make):
    Q, K, V = _qkv(T=20)
    store = make()
    store.prefill(K, V, queries=Q)
    before = store.positions().clone()
    store.append(K[:, :, :3].half(), V[:, :, :3].half())
    assert store.keys().dtype == torch.float32 and store.seq_length == 23
    assert torch.equal(store.positions(), torch.cat([before, torch.tensor([20, 21, 22]).expand(1, KVH, 3)], -1))


def test_h2o_decoding_accumulates_like_the_whole_sequence():
    """Nothing evicted: the scores accumulated step by step equal h2o_scores over all queries."""
    Q, K, V = _qkv(T=40)
    store = ev.H2O(budget=100)
    store.prefill(K[:, :, :30], V[:, :, :30], queries=Q[:, :, :30])
    store.append(K[:, :, 30:33], V[:, :, 30:33], queries=Q[:, :, 30:33])  # a chunk, causal inside
    for t in range(33, 40):
        store.append(K[:, :, t:t + 1], V[:, :, t:t + 1], queries=Q[:, :, t:t + 1])
    np.testing.assert_allclose(store.accumulated_, sc.h2o_scores(Q, K).numpy(), rtol=1e-5, atol=1e-6)


def test_h2o_evicts_while_decoding_and_keeps_the_recent_window():
    Q, K, V = _qkv(T=50)
    store = ev.H2O(budget=12, recent=4)
    store.prefill(K[:, :, :30], V[:, :, :30], queries=Q[:, :, :30])
    for t in range(30, 50):
        store.append(K[:, :, t:t + 1], V[:, :, t:t + 1], queries=Q[:, :, t:t + 1])
        _check_store(store, K[:, :, :t + 1], V[:, :, :t + 1], 12)
        assert (store.positions()[..., -4:] == torch.arange(t - 3, t + 1)).all()
    assert store.accumulated_.shape == (1, KVH, 12)
    frozen = ev.H2O(budget=12, recent=4)  # no queries: heavy set frozen, the recent window rolls
    frozen.prefill(K[:, :, :30], V[:, :, :30], queries=Q[:, :, :30])
    heavy = frozen.positions()[..., :8].clone()
    for t in range(30, 50):
        frozen.append(K[:, :, t:t + 1], V[:, :, t:t + 1])
    assert torch.equal(frozen.positions(), torch.cat([heavy, torch.arange(46, 50).expand(1, KVH, 4)], -1))


# ------------------------------------------------------------------ properties
POLICIES = {
    "streaming": lambda b: ev.StreamingLLM(budget=b, n_sink=min(4, b)),
    "h2o": lambda b: ev.H2O(budget=b),
    "snapkv": lambda b: ev.SnapKV(budget=b, window_size=min(4, b), kernel_size=3),
    "knorm": lambda b: ev.KeyNorm(budget=b),
    "tova": lambda b: ev.TOVA(budget=b),
}


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(POLICIES)), T=st.integers(1, 70), budget=st.integers(1, 80),
       batch=st.integers(1, 2), steps=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_kept_count_sorted_and_consistent(name, T, budget, batch, steps, seed):
    Q, K, V = _qkv(B=batch, T=T + steps, seed=seed)
    store = POLICIES[name](budget)
    store.prefill(K[:, :, :T], V[:, :, :T], queries=Q[:, :, :T])
    _check_store(store, K[:, :, :T], V[:, :, :T], min(budget, T))
    for t in range(T, T + steps):
        store.append(K[:, :, t:t + 1], V[:, :, t:t + 1])
        n = min(budget, t + 1) if name in ("streaming", "h2o") else min(budget, T) + t + 1 - T
        _check_store(store, K[:, :, :t + 1], V[:, :, :t + 1], n)


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 200), ratio=st.floats(0, 0.99))
def test_compression_ratio_keeps_kvpress_count(T, ratio):
    kvpress = pytest.importorskip("kvpress")
    assert ev.KeyNorm(compression_ratio=ratio).n_kept(T) == min(T, kvpress.utils.compute_n_kept(T, ratio))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make, arg", [
    (lambda: ev.KeyNorm(budget=0), "budget"),
    (lambda: ev.KeyNorm(), "budget, compression_ratio"),
    (lambda: ev.KeyNorm(budget=4, compression_ratio=0.5), "budget, compression_ratio"),
    (lambda: ev.KeyNorm(compression_ratio=1.0), "compression_ratio"),
    (lambda: ev.KeyNorm(compression_ratio=-0.1), "compression_ratio"),
    (lambda: ev.SnapKV(budget=64, kernel_size=4), "kernel_size"),
    (lambda: ev.SnapKV(budget=8, window_size=16), "budget"),
    (lambda: ev.SnapKV(budget=64, window_size=0), "window_size"),
    (lambda: ev.StreamingLLM(budget=3, n_sink=4), "budget"),
    (lambda: ev.StreamingLLM(budget=8, n_sink=-1), "n_sink"),
    (lambda: ev.H2O(budget=8, recent=9), "recent"),
    (lambda: ev.H2O(budget=8, recent=-1), "recent"),
    (lambda: ev.KeyNorm(compression_ratio=math.nan), "compression_ratio"),
])
def test_bad_hyper_parameters(make, arg):
    with pytest.raises(ValueError, match=f"^{arg}: expected"):
        make()


@pytest.mark.parametrize("make, arg", [
    (lambda: ev.KeyNorm(budget=2.5), "budget"),
    (lambda: ev.KeyNorm(budget=True), "budget"),
    (lambda: ev.KeyNorm(compression_ratio="half"), "compression_ratio"),
    (lambda: ev.StreamingLLM(budget=8, evict_on_append=1), "evict_on_append"),
    (lambda: ev.H2O(budget=8, recent=2.0), "recent"),
    (lambda: ev.KeyNorm(budget=8, dtype="float16"), "dtype"),
])
def test_hyper_parameters_of_the_wrong_type(make, arg):
    with pytest.raises(TypeError, match=f"^{arg}: expected"):
        make()


def test_bad_tensors_name_the_argument():
    Q, K, V = _qkv(T=20)
    nan = K.clone()
    nan[0, 0, 3, 0] = math.nan
    cases = [
        (lambda: ev.KeyNorm(budget=4).prefill(K[0], V[0]), "K"),
        (lambda: ev.KeyNorm(budget=4).prefill(nan, V), "K"),
        (lambda: ev.KeyNorm(budget=4).prefill(K, V[:, :, :5]), "K, V"),
        (lambda: ev.H2O(budget=4).prefill(K, V), "queries"),
        (lambda: ev.H2O(budget=4).prefill(K, V, queries=Q[0]), "queries"),
        (lambda: ev.H2O(budget=4).prefill(K, V, queries=Q[:, :3]), "queries"),
        (lambda: ev.SnapKV(budget=8, window_size=4).prefill(K, V, queries=Q * math.nan), "queries"),
        (lambda: ev.SnapKV(compression_ratio=0.9, window_size=4).prefill(K, V, queries=Q), "compression_ratio"),
        (lambda: ev.StreamingLLM(compression_ratio=0.9, n_sink=4).prefill(K, V), "compression_ratio"),
        (lambda: ev.H2O(compression_ratio=0.8, recent=5).prefill(K, V, queries=Q), "recent"),
        (lambda: ev.KeyNorm(budget=4).append(K, V), "k, v"),
        (lambda: sc.knorm_scores(K[0]), "keys"),
        (lambda: sc.snapkv_scores(Q, K, window_size=20), "window_size"),
        (lambda: sc.snapkv_scores(Q, K, window_size=4, kernel_size=2), "kernel_size"),
        (lambda: sc.snapkv_scores(Q[:, :, -3:], K, window_size=4), "queries"),
        (lambda: sc.h2o_scores(Q[..., :8], K), "queries"),
        (lambda: sc.streaming_scores(20, 4, 3), "budget"),
    ]
    for call, arg in cases:
        with pytest.raises(ValueError, match=f"^{arg}:"):
            call()
    with pytest.raises(TypeError, match="^keys:"):
        sc.knorm_scores(K.numpy())


def test_score_checks_its_arguments_and_leaves_the_store_alone():
    Q, K, V = _qkv(T=20)
    store = ev.SnapKV(budget=8, window_size=4)
    s = store.score(K, Q)
    assert s.shape == K.shape[:3] and torch.equal(s, sc.snapkv_scores(Q, K, 4, 5)) and store.seq_length == 0
    assert torch.equal(ev.H2O(budget=8).score(K, Q, n=10), sc.h2o_scores(Q, K))
    nan = Q.clone()
    nan[0, 1, 2, 3] = math.nan
    for call, arg, error in [(lambda: store.score(K[0], Q), "K", ValueError),
                             (lambda: store.score(K, nan), "queries", ValueError),
                             (lambda: store.score(K, None), "queries", ValueError),
                             (lambda: store.score(K, Q, n=21), "n", ValueError),
                             (lambda: store.score(K, Q, n=2), "n", ValueError),
                             (lambda: store.score(K, Q, n=2.0), "n", TypeError),
                             (lambda: store.score(K.numpy(), Q), "K", TypeError)]:
        with pytest.raises(error, match=f"^{arg}: expected"):
            call()


def test_bad_append_leaves_the_store_unchanged():
    Q, K, V = _qkv(T=20)
    store = ev.H2O(budget=8)
    store.prefill(K, V, queries=Q)
    keys = store.keys().clone()
    for call, arg in [(lambda: store.append(K[:, :1, :1], V[:, :1, :1]), "k"),
                      (lambda: store.append(K[:, :, :1], V[:, :, :1], queries=Q[:, :, :2]), "queries"),
                      (lambda: store.append(K[:, :, :1], V[:, :, :1], queries=Q[:, :3, :1]), "queries")]:
        with pytest.raises(ValueError, match=f"^{arg}:"):
            call()
    assert torch.equal(store.keys(), keys) and store.seq_length == 20


def test_storage_dtype_counts_bytes_and_returns_the_model_dtype():
    from labkit.kvcache.eviction import SnapKV, StreamingLLM

    K = torch.randn(1, 2, 200, 32)
    q = torch.randn(1, 4, 200, 32)
    for make in (lambda **kw: StreamingLLM(64, **kw), lambda **kw: SnapKV(64, window_size=16, **kw)):
        a, b = make(), make(dtype=torch.float16)
        a.prefill(K, K, queries=q)
        b.prefill(K, K, queries=q)
        assert b.nbytes * 2 == a.nbytes
        assert b.keys().dtype == torch.float32 and torch.equal(b.keys(), a.keys().half().float())


def test_snapshot_is_plain_data():
    from tests.test_kvcache_quant import plain

    Q, K, V = _qkv(T=40)
    store = ev.H2O(budget=8, recent=2)
    assert plain(store.snapshot())
    store.prefill(K, V, queries=Q)
    store.append(K[:, :, :1], V[:, :, :1], queries=Q[:, :, :1])
    snap = store.snapshot()
    assert plain(snap) and snap["seq_length"] == 41 and snap["budget_"] == 8 and snap["recent_"] == 2
    assert snap["positions"].shape == (1, KVH, 8) and snap["kept"].shape == (1, KVH, 41)
    assert snap["scores"].shape == (1, KVH, 40) and snap["accumulated"].shape == (1, KVH, 8)
    assert np.array_equal(snap["keys"], store.keys().numpy())
