"""UniformQuantizer and KIVICache: quanto parity, packing, byte formulas, KIVI's streaming rules."""

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.kvcache.kivi import KIVICache, kivi_bytes_per_token, kivi_layout, kivi_nbytes
from labkit.kvcache.packing import pack, packed_nbytes, unpack
from labkit.kvcache.quant import UniformQuantizer


def structured(shape, seed=0):
    """Keys with outlier channels, as KIVI observed in real keys (Liu et al. 2024, arXiv 2402.02750,
    §3.2, Fig. 2): 4 channels ×10 and a per-channel offset."""
    g = torch.Generator().manual_seed(seed)
    D = shape[-1]
    ch = torch.ones(D)
    ch[torch.randperm(D, generator=g)[:4]] = 10.0
    return torch.randn(shape, generator=g) * ch + torch.randn(D, generator=g) * 2


def quanto_fake_quant(x2d, bits, group_size):
    """optimum-quanto's grouped affine quantizer (MaxOptimizer, axis 0: groups of group_size
    consecutive elements of each row), quantize + dequantize."""
    quanto = pytest.importorskip("optimum.quanto")
    from optimum.quanto.tensor.weights import quantize_weight

    qtype = {2: quanto.qint2, 4: quanto.qint4}[bits]
    scale, shift = quanto.MaxOptimizer()(x2d, qtype=qtype, axis=0, group_size=group_size)
    return quantize_weight(x2d, qtype=qtype, axis=0, scale=scale, shift=shift, group_size=group_size,
                           optimized=False).dequantize()


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("data", ["gaussian", "structured"])
@pytest.mark.parametrize("backend", ["fast", "readable"])
def test_equals_optimum_quanto(bits, data, backend):
    shape = (1, 4, 256, 64)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)) if data == "gaussian" else structured(shape)
    G = 32
    # keys per channel: rows are channels, groups run along tokens
    ours = UniformQuantizer(bits, G, "channel", scale_dtype=torch.float32, backend=backend).fake_quantize(x)
    ref = quanto_fake_quant(x.transpose(-1, -2).reshape(-1, shape[-2]), bits, G)
    assert (ours - ref.reshape(*shape[:2], shape[-1], shape[-2]).transpose(-1, -2)).abs().max() <= 1e-6
    # values per token: rows are tokens, groups run along channels
    ours = UniformQuantizer(bits, G, "token", scale_dtype=torch.float32, backend=backend).fake_quantize(x)
    ref = quanto_fake_quant(x.reshape(-1, shape[-1]), bits, G).reshape(shape)
    assert (ours - ref).abs().max() <= 1e-6


@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_roundtrip_any_width(bits):
    for n in (1, 7, 8, 33, 1001):
        c = torch.randint(0, 2 ** bits, (n,), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
        p = pack(c, bits)
        assert p.numel() == packed_nbytes(n, bits) == math.ceil(n * bits / 8)
        assert torch.equal(unpack(p, bits, n), c)


@pytest.mark.parametrize("axis", ["channel", "token"])
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("G", [2, 16, 32])
def test_fast_path_equals_readable_path(axis, bits, G):
    x = structured((2, 3, 64, 32), seed=bits)
    a = UniformQuantizer(bits, G, axis).quantize(x)
    b = UniformQuantizer(bits, G, axis, backend="readable").quantize(x)
    assert a.backend == ("fast" if G % (8 // bits) == 0 else "readable") and b.backend == "readable"
    assert torch.equal(a.packed, b.packed) and torch.equal(a.scale, b.scale) and torch.equal(a.zero, b.zero)
    assert torch.equal(a.dequantize(), b.dequantize())


@pytest.mark.parametrize("axis", ["channel", "token"])
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_threaded_kernel_equals_readable_path_on_big_tensors(axis, bits):
    # 2^18 elements: the threaded kernel (smaller inputs run on one thread); signed zeros, tiny and
    # huge magnitudes of both signs exercise the integer min/max keys
    from labkit.kvcache.kernels import PARALLEL_MIN
    x = structured((1, 4, 1024, 64), seed=bits)
    assert x.numel() >= PARALLEL_MIN
    x[0, 0, :40, :40] = -0.0
    x[0, 0, 40:80, :40] = 0.0
    x[0, 1, :, 5] = torch.linspace(-3e4, 3e4, 1024)
    x[0, 2, :, 7] = torch.linspace(-1e-30, 1e-30, 1024)
    a = UniformQuantizer(bits, 32, axis).quantize(x)
    b = UniformQuantizer(bits, 32, axis, backend="readable").quantize(x)
    assert a.backend == "fast"
    assert torch.equal(a.packed, b.packed) and torch.equal(a.scale, b.scale) and torch.equal(a.zero, b.zero)
    assert torch.equal(a.dequantize(), b.dequantize())
    x[0, 3, 1000, 60] = float("nan")
    with pytest.raises(ValueError, match="x: expected finite values, got NaN or inf"):
        UniformQuantizer(bits, 32, axis).quantize(x)


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 8), G=st.sampled_from([1, 2, 4, 8, 16]), axis=st.sampled_from(["channel", "token"]),
       symmetric=st.booleans(), seed=st.integers(0, 1000))
def test_error_bound_and_bytes(bits, G, axis, symmetric, seed):
    if symmetric and bits < 2:
        return
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(seed)) * 3
    q = UniformQuantizer(bits, G, axis, symmetric=symmetric, scale_dtype=torch.float32)
    qt = q.quantize(x)
    assert qt.nbytes == q.nbytes(x.shape)
    err = (qt.dequantize() - x).abs()
    # round to nearest: at most half a step inside each group's range
    step = qt.scale.squeeze(-1)
    grouped = err.transpose(-1, -2) if axis == "channel" else err
    per_group = grouped.reshape(*step.shape, G).amax(-1)
    assert (per_group <= step / 2 * (1 + 1e-5) + 1e-6).all()
    assert int(qt.codes().max()) < 2 ** bits


def test_fp16_rounding_of_scales_matches_torch_at_the_edges():
    # tiny ranges (fp16 subnormal scales), ordinary ones, and large ones near fp16's limit
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 6, 64, 32, generator=g)
    x[:, 0] *= 1e-5
    x[:, 1] *= 1e-7
    x[:, 2] = x[:, 2] * 3e3 + 6e4
    x[:, 3] *= 0
    for axis in ("channel", "token"):
        a = UniformQuantizer(2, 32, axis).quantize(x)
        b = UniformQuantizer(2, 32, axis, backend="readable").quantize(x)
        assert a.backend == "fast"
        assert torch.equal(a.scale, b.scale) and torch.equal(a.zero, b.zero) and torch.equal(a.packed, b.packed)
        for backend in ("fast", "readable"):
            with pytest.raises(ValueError, match="x: expected values whose group ranges fit scale_dtype"):
                UniformQuantizer(2, 32, axis, backend=backend).quantize(x * 10)
        assert torch.isfinite(UniformQuantizer(2, 32, axis, scale_dtype=torch.float32).fake_quantize(x * 10)).all()


def test_constant_group_is_exact_not_nan():
    x = torch.full((1, 1, 32, 8), 0.25)
    x[..., 4:] = torch.linspace(-3, 3, 32)[:, None]  # channels 4..7 vary along tokens
    for backend in ("fast", "readable"):
        xh = UniformQuantizer(2, 32, "channel", backend=backend).fake_quantize(x)  # channels 0..3 constant
        assert torch.isfinite(xh).all() and torch.equal(xh[..., :4], x[..., :4])
        xh = UniformQuantizer(2, 4, "token", backend=backend).fake_quantize(x)  # groups of channels 0..3 constant
        assert torch.isfinite(xh).all() and torch.equal(xh[..., :4], x[..., :4])
        zeros = torch.zeros(1, 1, 32, 8)
        assert torch.equal(UniformQuantizer(2, 32, "channel", backend=backend).fake_quantize(zeros), zeros)


def test_kivi_error_on_structured_keys_beats_per_token():
    # KIVI's reason for per-channel keys: outlier channels ruin per-token groups (Liu et al. 2024, §3.2;
    # on these keys 0.320 vs 0.539)
    K = structured((1, 8, 1024, 64))
    rel = lambda a: ((a - K).norm() / K.norm()).item()  # noqa: E731
    per_channel = rel(UniformQuantizer(2, 32, "channel").fake_quantize(K))
    per_token = rel(UniformQuantizer(2, 32, "token").fake_quantize(K))
    assert per_channel < 0.75 * per_token


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(bits=0), ValueError, "bits:"), (dict(bits=9), ValueError, "bits:"), (dict(bits=2.0), TypeError, "bits:"),
    (dict(group_size=0), ValueError, "group_size:"), (dict(axis="row"), ValueError, "axis:"),
    (dict(bits=1, symmetric=True), ValueError, "bits:"), (dict(backend="cuda"), ValueError, "backend:"),
    (dict(backend="numba"), ValueError, "backend:"), (dict(symmetric=1), TypeError, "symmetric:"),
    (dict(scale_dtype=torch.int8), ValueError, "scale_dtype:"), (dict(scale_dtype="fp16"), TypeError, "scale_dtype:"),
])
def test_bad_quantizer_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        UniformQuantizer(**kwargs)


def test_bad_tensors():
    q = UniformQuantizer(2, 32, "channel")
    with pytest.raises(ValueError, match=r"group_size: expected a divisor of the tokens axis \(40\).*got 32"):
        q.quantize(torch.randn(1, 1, 40, 64))
    with pytest.raises(ValueError, match="x: expected finite values, got NaN"):
        q.quantize(torch.full((1, 1, 32, 64), float("nan")))
    with pytest.raises(ValueError, match="x: expected"):
        q.quantize(torch.randn(64))
    with pytest.raises(ValueError, match="x: expected a floating-point"):
        q.quantize(torch.ones(1, 1, 32, 64, dtype=torch.int32))
    with pytest.raises(ValueError, match="x: expected a tensor with at least one element"):
        q.quantize(torch.ones(1, 1, 0, 64))
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        q.quantize(torch.ones(1, 1, 32, 64).numpy())


@pytest.mark.parametrize("call, error, name", [
    (lambda: UniformQuantizer(2, 32).nbytes((1, -1, 32, 64)), ValueError, "shape[1]"),
    (lambda: UniformQuantizer(2, 32).nbytes((1, 1, 32.0, 64)), TypeError, "shape[2]"),
    (lambda: UniformQuantizer(2, 32).nbytes((1, 1, 40, 64)), ValueError, "shape"),
    (lambda: UniformQuantizer(2, 32).nbytes(64), TypeError, "shape"),
    (lambda: kivi_layout(-1, 0, 32), ValueError, "T"),
    (lambda: kivi_layout(10, float("nan"), 32), TypeError, "n_decoded"),
    (lambda: kivi_layout(10, 0, 0), ValueError, "R"),
    (lambda: kivi_nbytes((1, 1, -5, 64), 0, 2, 32, 128), ValueError, "shape[2]"),
    (lambda: kivi_nbytes((1, 1, 5, float("nan")), 0, 2, 32, 128), TypeError, "shape[3]"),
    (lambda: kivi_nbytes((1, 1, 5, 64), -1, 2, 32, 128), ValueError, "n_decoded"),
    (lambda: kivi_nbytes((1, 1, 5, 64), 0, 2, 32, 100), ValueError, "residual_length"),
    (lambda: kivi_nbytes((1, 1, 5, 64), 0, 2, 32, 128, scale_bytes=0), ValueError, "scale_bytes"),
    (lambda: kivi_bytes_per_token(-128, 2, 32), ValueError, "head_dim"),
])
def test_negative_and_nan_sizes_raise(call, error, name):
    with pytest.raises(error, match="^" + re.escape(name) + ": expected"):
        call()


# --- KIVI --------------------------------------------------------------------------------------

def reference_layout(T, n, R):
    """KIVI's rules replayed literally (llama_kivi.py), flush *after* each step's attention."""
    kq = T - T % R if T >= R else 0
    kr, vq, vr = T - kq, max(T - R, 0), min(T, R)
    seen = []
    for _ in range(n):
        kr += 1
        vr += 1
        seen.append((kq, kr, vq, vr))  # what attention used at this step
        if kr == R:
            kq, kr = kq + R, 0
        if vr > R:
            vq, vr = vq + 1, vr - 1
    return seen[-1] if seen else (kq, kr, vq, vr)


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 600), n=st.integers(0, 300), GR=st.sampled_from([(32, 128), (32, 32), (16, 64)]))
def test_layout_follows_kivi_rules(T, n, GR):
    G, R = GR
    lay = kivi_layout(T, n, R)
    assert (lay["key_quantized"], lay["key_residual"], lay["value_quantized"], lay["value_residual"]) == \
        reference_layout(T, n, R)
    assert lay["key_quantized"] % R == 0 or lay["key_quantized"] == T - T % R
    assert lay["key_residual"] <= R and lay["value_residual"] <= R + 1
    assert sum(lay.values()) == 2 * (T + n)


@settings(max_examples=15, deadline=None)
@given(T=st.integers(1, 300), n=st.integers(0, 80), GR=st.sampled_from([(32, 128), (32, 32), (16, 64)]),
       sink=st.sampled_from([0, 4]))
def test_kivi_cache_state_bytes_and_attention(T, n, GR, sink):
    G, R = GR
    g = torch.Generator().manual_seed(T * 1000 + n)
    K, V = torch.randn(1, 2, T + n, 64, generator=g), torch.randn(1, 2, T + n, 64, generator=g)
    cache = KIVICache(2, G, R, n_sink=sink)
    cache.prefill(K[..., :T, :], V[..., :T, :])
    for i in range(T, T + n):
        cache.append(K[..., i:i + 1, :], V[..., i:i + 1, :])
    s = min(sink, T)
    lay, expected = cache.layout(), kivi_layout(T - s, n, R)
    assert {k: lay[k] for k in expected} == expected
    full = (s + lay["key_residual"] + lay["value_residual"] + s) * 2 * 64 * 4
    assert cache.nbytes == kivi_nbytes((1, 2, T - s, 64), n, 2, G, R) + s * 2 * 2 * 64 * 4
    assert cache.nbytes - lay["quantized_bytes"] == full
    Kh, Vh = cache.keys(), cache.values()
    assert Kh.shape == K.shape and Vh.shape == V.shape
    # the residual parts are exact; quantized keys are exactly UniformQuantizer's per-channel blocks
    kr, vr = lay["key_residual"], lay["value_residual"]
    if kr:
        assert torch.equal(Kh[..., -kr:, :], K[..., -kr:, :])
    assert torch.equal(Vh[..., -vr:, :], V[..., -vr:, :])
    if T - s >= R:
        nk = (T - s) - (T - s) % R
        block = UniformQuantizer(2, G, "channel").fake_quantize(K[..., s:s + nk, :])
        assert torch.equal(Kh[..., s:s + nk, :], block)
    # attention over the materialised cache equals attention over the stored parts
    q = torch.randn(1, 2, 1, 64, generator=g)
    att = torch.softmax(q @ Kh.transpose(-1, -2) / 8, -1) @ Vh
    ref = torch.nn.functional.scaled_dot_product_attention(q, Kh, Vh)
    assert torch.allclose(att, ref, atol=1e-5)


def test_kivi_bytes_per_token_formula():
    # 2 bits + an fp16 scale and zero per 32 values: 3 bits/element, 16/3 = 5.3x smaller than fp16
    assert kivi_bytes_per_token(128, 2, 32) == 96.0
    cache = KIVICache(2, 32, 128)
    K = torch.randn(1, 1, 4096 + 128, 128)
    cache.prefill(K, K)
    lay = cache.layout()
    assert (lay["key_quantized"], lay["value_quantized"]) == (4224, 4096)  # T % R = 0: every key is quantized
    assert lay["quantized_bytes"] == (4224 + 4096) * kivi_bytes_per_token(128, 2, 32) / 2


def test_kivi_bad_input():
    with pytest.raises(ValueError, match="residual_length: expected a multiple of group_size=32"):
        KIVICache(2, 32, 100)
    with pytest.raises(ValueError, match="n_sink"):
        KIVICache(2, 32, 128, n_sink=-1)
    with pytest.raises(TypeError, match="k_quantizer"):
        KIVICache(2, 32, 128, k_quantizer="uniform")
    with pytest.raises(ValueError, match="backend"):
        KIVICache(2, 32, 128, backend="torch")
    c = KIVICache(2, 32, 128)
    with pytest.raises(ValueError, match="append: call prefill first"):
        c.append(torch.randn(1, 1, 1, 64), torch.randn(1, 1, 1, 64))
    with pytest.raises(ValueError, match=r"K: expected a 4-d tensor \(batch, heads, tokens, head_dim\)"):
        c.prefill(torch.randn(10, 64), torch.randn(10, 64))
    with pytest.raises(ValueError, match="K, V: expected two tensors of the same shape"):
        c.prefill(torch.randn(1, 1, 10, 64), torch.randn(1, 1, 11, 64))
    with pytest.raises(ValueError, match="group_size: expected a divisor of head_dim=48"):
        c.prefill(torch.randn(1, 1, 10, 48), torch.randn(1, 1, 10, 48))
    c.prefill(torch.randn(1, 1, 10, 64), torch.randn(1, 1, 10, 64))
    with pytest.raises(ValueError, match="k: expected"):
        c.append(torch.randn(1, 2, 1, 64), torch.randn(1, 2, 1, 64))
    with pytest.raises(ValueError, match="prefill: this cache already"):
        c.prefill(torch.randn(1, 1, 10, 64), torch.randn(1, 1, 10, 64))


def test_residual_dtype_halves_full_precision_bytes():
    K = torch.randn(1, 2, 300, 64)
    c32, c16 = KIVICache(2, 32, 128), KIVICache(2, 32, 128, residual_dtype=torch.float16)
    for c in (c32, c16):
        c.prefill(K, K)
        c.append(K[..., :1, :], K[..., :1, :])
    assert c16.nbytes == kivi_nbytes((1, 2, 300, 64), 1, 2, 32, 128, residual_bytes=2)
    assert c16.keys().dtype == torch.float32
    assert torch.equal(c16.keys()[..., -1:, :], K[..., :1, :].half().float())


def test_attention_metrics():
    from labkit.kvcache import attention, attention_output_error, rel_error

    g = torch.Generator().manual_seed(9)
    q, K, V = (torch.randn(2, n, 16, generator=g) for n in (5, 12, 12))
    p, out = attention(q, K, V, causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(q, K, V, attn_mask=torch.ones(5, 12).tril(7).bool())
    assert torch.allclose(out, ref, atol=1e-6) and torch.allclose(p.sum(-1), torch.ones(2, 5))
    keep = torch.ones(12, dtype=torch.bool)
    keep[3] = False
    assert (attention(q, K, V, keep=keep)[0][..., 3] == 0).all()
    assert attention_output_error(q, K, V, K, V) == 0.0 and rel_error(2 * K, K) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="x_hat: expected x's shape"):
        rel_error(K, q)


def test_attention_rejects_nan_and_handles_fully_masked_rows():
    from labkit.kvcache import attention, attention_output_error

    g = torch.Generator().manual_seed(3)
    q, K, V = (torch.randn(2, n, 8, generator=g) for n in (3, 6, 6))
    bad = q.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="^q: expected finite values"):
        attention(bad, K, V)
    with pytest.raises(ValueError, match="^K_hat: expected finite values"):
        attention_output_error(q, K, V, K * float("inf"), V)
    with pytest.raises(ValueError, match="^keep: expected a bool mask"):
        attention(q, K, V, keep=torch.ones(5, dtype=torch.bool))
    none_kept = torch.zeros(6, dtype=torch.bool)
    p, out = attention(q, K, V, keep=none_kept)  # every key evicted: the queries attend to nothing
    assert torch.equal(p, torch.zeros(2, 3, 6)) and torch.equal(out, torch.zeros(2, 3, 8))


def plain(x) -> bool:
    """Plain data (DESIGN.md "Inspectable by construction"): numpy arrays, numbers, strings, None,
    and tuples / lists / dicts of them; no tensors, dtypes or labkit objects."""
    import numpy as np

    if x is None or isinstance(x, (int, float, bool, str, np.ndarray, np.generic)):
        return True
    if isinstance(x, (list, tuple)):
        return all(plain(v) for v in x)
    if isinstance(x, dict):
        return all(isinstance(k, str) and plain(v) for k, v in x.items())
    return False


def test_snapshots_are_plain_data_and_match_the_objects():
    from labkit.kvcache import FullPrecisionStore

    x = structured((1, 2, 64, 32))
    qt = UniformQuantizer(2, 16, "channel").quantize(x)
    snap = qt.snapshot()
    assert plain(snap) and snap["scale"].shape == (1, 2, 32, 4) and snap["codes"].shape == (1, 2, 32, 4, 16)
    assert snap["nbytes"] == qt.nbytes and snap["shape"] == (1, 2, 64, 32)
    store = FullPrecisionStore(torch.float16)
    assert plain(store.snapshot()) and store.snapshot()["keys"] is None
    store.prefill(x, x)
    snap = store.snapshot()
    assert plain(snap) and snap["keys"].dtype == "float16" and snap["seq_length"] == 64
    assert list(snap["positions"]) == list(range(64))
    cache = KIVICache(2, 16, 32, n_sink=2)
    assert plain(cache.snapshot())
    cache.prefill(x, x)
    cache.append(x[..., :1, :], x[..., :1, :])
    snap = cache.snapshot()
    assert plain(snap) and snap["key_quantized"] == 32 and len(snap["key_blocks"]) == 1
    assert snap["key_sink"].shape == (1, 2, 2, 32) and snap["nbytes"] == cache.nbytes
    assert snap["key_blocks"][0]["scale"].shape == (1, 2, 32, 2)  # 32 channels x 2 groups of 16 tokens


def test_estimator_params_round_trip():
    c = KIVICache(4, 16, 32, v_bits=2, n_sink=1, residual_dtype=torch.float16, backend="readable")
    params = c.get_params()
    assert params["v_bits"] == 2 and params["k_bits"] is None and params["backend"] == "readable"
    assert KIVICache(**params).get_params() == params
    assert c.v_quant.bits == 2 and c.k_quant.bits == 4 and c.k_quant.backend == "readable"
    q = UniformQuantizer(3, 8, "token", symmetric=True, scale_dtype=torch.float32)
    assert UniformQuantizer(**q.get_params()).get_params() == q.get_params()
    assert repr(q) == "UniformQuantizer(bits=3, group_size=8, axis='token', symmetric=True, scale_dtype=torch.float32)"
