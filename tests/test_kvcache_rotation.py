"""Hadamard-rotated quantization (QuaRot / RotateKV) and block floating point for the KV cache."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.kvcache.bfp import BlockFloatQuantizer
from labkit.kvcache.kivi import KIVICache, kivi_layout
from labkit.kvcache.quant import UniformQuantizer
from labkit.kvcache.rotation import HadamardQuantizer, RotatedTensor, fwht, random_signs

SHAPE = (1, 4, 512, 64)


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def gaussian(shape=SHAPE, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def structured(shape=SHAPE, seed=0):
    """Keys with outlier channels (as KIVI observed in real keys: Liu et al. 2024, arXiv 2402.02750, §3.2,
    Fig. 2): unit Gaussian, 4 channels scaled x10..x20, plus a per-channel offset."""
    g = torch.Generator().manual_seed(seed)
    D = shape[-1]
    scale = torch.ones(D)
    scale[torch.randperm(D, generator=g)[:4]] = torch.linspace(10, 20, 4)
    return torch.randn(shape, generator=g) * scale + torch.randn(D, generator=g) * 2


# --- fwht ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("D", [1, 2, 4, 8, 16, 64, 128, 512])
def test_fwht_is_sylvester_hadamard_over_sqrt_d(D):
    H = torch.tensor(scipy.linalg.hadamard(D), dtype=torch.float64) / math.sqrt(D)
    x = torch.randn(3, 5, D, dtype=torch.float64)
    torch.testing.assert_close(fwht(x), x @ H.T, rtol=0, atol=1e-12)
    assert fwht(x).shape == x.shape and fwht(x).dtype == x.dtype


@settings(max_examples=60, deadline=None)
@given(k=st.integers(0, 8), rows=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
       scale=st.floats(1e-3, 1e3))
def test_fwht_is_its_own_inverse_and_keeps_norms(k, rows, seed, scale):
    x = torch.randn(rows, 2**k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    y = fwht(x)
    torch.testing.assert_close(fwht(y), x, rtol=1e-12, atol=1e-12 * scale)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12 * scale)


def test_fwht_leaves_its_input_alone_and_handles_views():
    x = torch.randn(4, 16, 8).transpose(1, 2)  # non-contiguous (4, 8, 16)
    before = x.clone()
    y = fwht(x)
    assert torch.equal(x, before)
    torch.testing.assert_close(y, fwht(x.contiguous()))


def test_fwht_bad_input():
    with pytest.raises(ValueError, match="x: .*power-of-two"):
        fwht(torch.randn(2, 48))
    with pytest.raises(ValueError, match="x: .*floating"):
        fwht(torch.ones(2, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="x"):
        fwht(np.ones((2, 8)))


# --- HadamardQuantizer: the round trip is the explicit matrix algebra ---------------------------
@pytest.mark.parametrize("reorder", [False, True])
@pytest.mark.parametrize("seed", [None, 3])
def test_dequantize_is_signs_times_hadamard_times_inverse_permutation(reorder, seed):
    x = structured((2, 3, 64, 32), seed=1)
    q = HadamardQuantizer(bits=3, group_size=8, axis="token", reorder=reorder, seed=seed)
    rt = q.quantize(x)
    assert isinstance(rt, RotatedTensor) and rt.shape == tuple(x.shape) and rt.dtype == x.dtype
    assert (rt.perm is not None) == reorder and rt.seed == seed
    D = x.shape[-1]
    H = torch.tensor(scipy.linalg.hadamard(D), dtype=torch.float64) / math.sqrt(D)
    s = torch.ones(D, dtype=torch.float64) if seed is None else random_signs(seed, D).double()
    P = torch.eye(D, dtype=torch.float64).expand(2, 3, D, D)
    if reorder:  # P[j] = e_perm[j]: row j of x' is rotated channel perm[j]
        P = torch.eye(D, dtype=torch.float64)[rt.perm.long()]
        assert torch.equal(torch.sort(rt.perm.long(), -1).values, torch.arange(D).expand(2, 3, D))
    y_hat = rt.inner.dequantize(torch.float64)                  # (2, 3, T, D) in the rotated basis
    x_hat = torch.einsum("bhtj,bhjd,ed,e->bhte", y_hat, P, H, s)  # diag(s)·H·Pᵀ·ŷ
    torch.testing.assert_close(rt.dequantize(torch.float64), x_hat, rtol=0, atol=1e-5)
    # orthonormal: the error in the rotated basis is the error in the original one
    y = torch.einsum("bhjd,de,e,bhte->bhtj", P, H, s, x.double())
    torch.testing.assert_close((y_hat - y).norm(), (rt.dequantize(torch.float64) - x.double()).norm(), rtol=1e-5,
                               atol=0)
    ge = rt.group_error(x)
    assert ge.shape == (2, 3, 64, D // 8)
    torch.testing.assert_close((ge.double() ** 2).sum() * 8, (y_hat - y).pow(2).sum(), rtol=1e-4, atol=0)


def test_seed_regenerates_the_same_signs_and_bytes():
    x = gaussian((1, 2, 64, 64))
    a, b = (HadamardQuantizer(2, 32, "token", seed=7).quantize(x) for _ in range(2))
    assert torch.equal(a.inner.packed, b.inner.packed) and torch.equal(a.dequantize(), b.dequantize())
    c = HadamardQuantizer(2, 32, "token", seed=8).quantize(x)
    assert not torch.equal(random_signs(7, 64), random_signs(8, 64))
    assert not torch.equal(a.inner.packed, c.inner.packed)
    assert set(random_signs(7, 64).tolist()) == {-1.0, 1.0}


def test_eight_bits_nearly_lossless_and_dtype_kept():
    x = structured((1, 2, 64, 64)).to(torch.float16)
    rt = HadamardQuantizer(8, 32, "token", seed=0).quantize(x)
    out = rt.dequantize()
    assert out.dtype == torch.float16 and out.shape == x.shape
    assert rel(out.float(), x.float()) < 0.01


# --- HadamardQuantizer: error against the plain quantizers ---------------------------------------
@pytest.mark.parametrize("bits", [2, 4])
def test_rotation_beats_plain_per_token_on_outlier_channels(bits):
    # measured on SHAPE: Hadamard/plain = 0.62-0.67 at 2 bits, 0.65-0.67 at 4 bits (seeds 0-5)
    for seed in range(3):
        K = structured(seed=seed)
        plain = rel(UniformQuantizer(bits, 32, "token").fake_quantize(K), K)
        had = rel(HadamardQuantizer(bits, 32, "token", reorder=False).fake_quantize(K), K)
        assert had < 0.75 * plain, (seed, had, plain)


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("seed", [None, 0])
def test_rotation_costs_nothing_on_iid_gaussian(bits, seed):
    # measured: 0.99-1.01 x plain per token
    K = gaussian(seed=1)
    plain = rel(UniformQuantizer(bits, 32, "token").fake_quantize(K), K)
    for reorder in (False, True):
        had = rel(HadamardQuantizer(bits, 32, "token", reorder=reorder, seed=seed).fake_quantize(K), K)
        assert had <= 1.05 * plain, (reorder, had, plain)


@pytest.mark.parametrize("bits", [2, 4])
def test_reordering_by_channel_mean_narrows_per_token_groups(bits):
    # measured on SHAPE: reorder("mean")/no-reorder = 0.88-0.90, "absmax" 0.97-0.98; D=128: 0.76-0.82
    for seed in range(3):
        K = structured(seed=seed)
        off = rel(HadamardQuantizer(bits, 32, "token", reorder=False).fake_quantize(K), K)
        mean = rel(HadamardQuantizer(bits, 32, "token", reorder=True).fake_quantize(K), K)
        absmax = rel(HadamardQuantizer(bits, 32, "token", reorder="absmax").fake_quantize(K), K)
        assert mean < 0.93 * off and mean < absmax <= off * 1.001, (seed, mean, absmax, off)


def test_reorder_is_a_no_op_when_it_cannot_matter():
    K = structured((1, 2, 64, 64))
    for G, axis in [(32, "channel"), (64, "token")]:  # per channel; one token group spans head_dim
        a = HadamardQuantizer(2, G, axis, reorder=True).quantize(K)
        b = HadamardQuantizer(2, G, axis, reorder=False).quantize(K)
        assert a.perm is None
        torch.testing.assert_close(a.dequantize(), b.dequantize(), rtol=0, atol=1e-5)
    assert HadamardQuantizer(2, 32, "channel").quantize(K).perm is None  # per channel: nothing stored


# --- bytes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits,group_size,axis,reorder,shape", [
    (2, 32, "token", True, (1, 8, 128, 64)),
    (3, 16, "token", True, (2, 3, 40, 64)),
    (2, 32, "token", False, (1, 8, 128, 64)),
    (4, 32, "channel", True, (1, 8, 128, 64)),
    (5, 64, "token", "absmax", (1, 2, 7, 512)),   # head_dim > 256: int16 permutation
])
def test_nbytes_formula_to_the_byte(bits, group_size, axis, reorder, shape):
    q = HadamardQuantizer(bits, group_size, axis, reorder=reorder, seed=1)
    rt = q.quantize(gaussian(shape))
    *lead, T, D = shape
    n, rows = math.prod(shape), math.prod(lead)
    perm = rows * D * (1 if D <= 256 else 2) if (reorder and axis == "token" and group_size < D) else 0
    expect = (n * bits + 7) // 8 + (n // group_size) * 2 * 2 + perm  # codes + fp16 scale, zero + perm
    assert rt.nbytes == q.nbytes(shape) == expect
    assert rt.perm_nbytes == perm and rt.nbytes == rt.inner.nbytes + perm
    assert rt.bits_per_element == pytest.approx(8 * expect / n)


# --- inside KIVI ---------------------------------------------------------------------------------
def test_hadamard_quantizers_plug_into_kivi_cache():
    B, H, D, T, R, G = 1, 2, 64, 300, 64, 32
    K, V = structured((B, H, T + 100, D), seed=2), gaussian((B, H, T + 100, D), seed=3)
    kq = HadamardQuantizer(2, G, "token", reorder=True, seed=0)     # RotateKV: rotated keys, per token
    vq = HadamardQuantizer(2, G, "token", reorder=False, seed=1)    # one-token value blocks: no permutation
    cache = KIVICache(2, G, R, k_quantizer=kq, v_quantizer=vq, n_sink=4)
    cache.prefill(K[..., :T, :], V[..., :T, :])
    for i in range(T, T + 100, 10):  # appends in chunks of 10 tokens
        cache.append(K[..., i:i + 10, :], V[..., i:i + 10, :])
        assert cache.keys().shape == (B, H, i + 10, D) and cache.values().shape == (B, H, i + 10, D)
    lay = cache.layout()
    want = kivi_layout(T - 4, 100, R)
    assert {k: lay[k] for k in want} == want and lay["sink"] == 4
    assert all(isinstance(b, RotatedTensor) for b in cache.k_blocks + cache.v_blocks)
    assert lay["quantized_bytes"] == sum(kq.nbytes(b.shape) for b in cache.k_blocks) + sum(
        vq.nbytes(b.shape) for b in cache.v_blocks)
    assert torch.equal(cache.keys()[..., :4, :], K[..., :4, :])  # attention sinks kept exactly
    err_rot = rel(cache.keys(), K)
    plain = KIVICache(2, G, R, k_quantizer=UniformQuantizer(2, G, "token"), n_sink=4)
    plain.prefill(K[..., :T, :], V[..., :T, :])
    plain.append(K[..., T:, :], V[..., T:, :])
    assert err_rot < 0.8 * rel(plain.keys(), K)  # rotation beats plain per-token keys in the cache too


# --- block floating point ------------------------------------------------------------------------
@pytest.mark.parametrize("make", [gaussian, structured])
@pytest.mark.parametrize("axis", ["channel", "token"])
def test_bfp_error_falls_with_every_mantissa_bit(make, axis):
    K = make()
    errs = [rel(BlockFloatQuantizer(m, 32, axis).fake_quantize(K), K) for m in range(2, 9)]
    assert all(b < a for a, b in zip(errs, errs[1:], strict=False)), errs
    # from 3 bits on, each mantissa bit about halves the error (2 -> 3 on outlier tokens: 0.70x)
    assert all(b < 0.6 * a for a, b in zip(errs[1:], errs[2:], strict=False)), errs


@settings(max_examples=60, deadline=None)
@given(m=st.integers(2, 8), bs=st.sampled_from([1, 4, 8, 16]), axis=st.sampled_from(["channel", "token"]),
       seed=st.integers(0, 2**31 - 1), shift=st.integers(-20, 20))
def test_bfp_is_exact_on_representable_values(m, bs, axis, seed, shift):
    # integers with |q| <= 2^(m-1) − 1, times any power of two, are in the format
    qmax = 2 ** (m - 1) - 1
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-qmax, qmax + 1, (2, 16, 16), generator=g).double() * 2.0 ** shift
    out = BlockFloatQuantizer(m, bs, axis).quantize(x).dequantize()
    assert torch.equal(out, x)


def test_bfp_zero_blocks_give_zeros_and_exponents_bound_the_block():
    x = gaussian((1, 2, 64, 32))
    x[..., :32, 5] = 0.0   # one channel block of zeros (axis="channel")
    x[..., 7, :] = 0.0     # one token all zeros: a block for axis="token"
    for axis in ("channel", "token"):
        bt = BlockFloatQuantizer(4, 32, axis).quantize(x)
        out = bt.dequantize()
        assert torch.isfinite(out).all()
        assert torch.equal(out[..., 7, :], torch.zeros_like(out[..., 7, :]))
        assert (out[..., :32, 5] == 0).all()
        e = bt.block_exponents()
        absmax = (x.transpose(-1, -2) if axis == "channel" else x).reshape(*e.shape, 32).abs().amax(-1)
        assert (absmax < torch.ldexp(torch.ones_like(absmax), e)).all()
        assert (bt.codes().abs() <= 7).all()
    assert torch.equal(BlockFloatQuantizer(3, 8).fake_quantize(torch.zeros(1, 8, 8)), torch.zeros(1, 8, 8))


def test_bfp_small_exponent_field_saturates_and_underflows_without_nan():
    q = BlockFloatQuantizer(4, 4, "token", exponent_bits=3)   # e in [-3, 4]: |x| up to 2^4·7/8
    x = torch.tensor([[1000.0, -1000.0, 1.0, 0.0], [1e-6, -2e-6, 0.0, 0.0]])
    out = q.fake_quantize(x)
    assert torch.isfinite(out).all()
    assert out[0, :2].tolist() == [14.0, -14.0]   # 7 · 2^(4 − 3)
    assert out[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # below half a step, 2^(-3-3) / 2: flushed to zero


@pytest.mark.parametrize("m,bs,E,axis,shape", [
    (4, 32, 8, "channel", (1, 8, 128, 64)),
    (3, 16, 5, "token", (2, 3, 40, 64)),
    (5, 7, 3, "channel", (1, 1, 21, 3)),
    (8, 64, 8, "token", (4, 64)),
])
def test_bfp_nbytes_formula_to_the_byte(m, bs, E, axis, shape):
    q = BlockFloatQuantizer(m, bs, axis, exponent_bits=E)
    x = gaussian(shape)
    bt = q.quantize(x)
    n = math.prod(shape)
    expect = (n * m + 7) // 8 + (n // bs * E + 7) // 8
    assert bt.nbytes == q.nbytes(shape) == expect
    assert bt.bits_per_element == pytest.approx(8 * expect / n)
    assert bt.dequantize().shape == x.shape and bt.dequantize().dtype == x.dtype
    assert bt.group_error(x).shape == bt.block_exponents().shape


def test_bfp_in_kivi_cache():
    K, V = structured((1, 2, 200, 64), seed=4), gaussian((1, 2, 200, 64), seed=5)
    cache = KIVICache(4, 32, 64, k_quantizer=BlockFloatQuantizer(4, 32, "channel"),
                      v_quantizer=BlockFloatQuantizer(4, 32, "token"))
    cache.prefill(K[..., :150, :], V[..., :150, :])
    cache.append(K[..., 150:, :], V[..., 150:, :])
    assert cache.keys().shape == K.shape and rel(cache.keys(), K) < 0.15 and rel(cache.values(), V) < 0.15


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,name,error", [
    ({"bits": 0}, "bits", ValueError), ({"bits": 9}, "bits", ValueError), ({"bits": 2.0}, "bits", TypeError),
    ({"bits": True}, "bits", TypeError), ({"group_size": 0}, "group_size", ValueError),
    ({"axis": "head"}, "axis", ValueError), ({"reorder": "median"}, "reorder", ValueError),
    ({"reorder": 1}, "reorder", TypeError), ({"seed": -1}, "seed", ValueError), ({"seed": 1.5}, "seed", TypeError),
    ({"backend": "torch"}, "backend", ValueError),
])
def test_hadamard_bad_parameters(kwargs, name, error):
    with pytest.raises(error, match=f"^{name}: expected"):
        HadamardQuantizer(**kwargs)


def test_hadamard_get_params_keep_what_was_given():
    q = HadamardQuantizer(2, 16, "token", reorder=True, seed=3, backend="readable")
    assert q.get_params()["reorder"] is True and q.statistic == "mean"
    assert HadamardQuantizer(**q.get_params()).get_params() == q.get_params()
    assert HadamardQuantizer(reorder=False).statistic is None
    assert HadamardQuantizer(reorder="absmax").statistic == "absmax"


def test_hadamard_bad_data():
    q = HadamardQuantizer(2, 32, "token")
    with pytest.raises(ValueError, match="^x: .*power-of-two"):
        q.quantize(torch.randn(1, 2, 32, 96))
    bad = torch.randn(1, 2, 32, 64)
    bad[0, 1, 3, 5] = float("nan")
    with pytest.raises(ValueError, match="^x: .*NaN"):
        q.quantize(bad)
    with pytest.raises(ValueError, match="^group_size:"):
        HadamardQuantizer(2, 48, "token").quantize(torch.randn(1, 2, 32, 64))
    with pytest.raises(ValueError, match="^group_size:"):
        HadamardQuantizer(2, 32, "channel").quantize(torch.randn(1, 2, 40, 64))
    with pytest.raises(ValueError, match="^x:"):
        q.quantize(torch.randn(64))
    with pytest.raises(TypeError, match="^x:"):
        q.quantize(np.zeros((2, 64)))


@pytest.mark.parametrize("kwargs,name", [
    ({"mantissa_bits": 1}, "mantissa_bits"), ({"mantissa_bits": 9}, "mantissa_bits"),
    ({"block_size": 0}, "block_size"), ({"axis": "x"}, "axis"),
    ({"exponent_bits": 0}, "exponent_bits"), ({"exponent_bits": 9}, "exponent_bits"),
])
def test_bfp_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        BlockFloatQuantizer(**kwargs)


def test_bfp_bad_data():
    with pytest.raises(ValueError, match=r"^block_size: expected a divisor of the tokens axis \(40\)"):
        BlockFloatQuantizer(4, 32, "channel").quantize(torch.randn(1, 2, 40, 64))
    with pytest.raises(ValueError, match=r"^block_size: expected a divisor of the head_dim axis \(64\)"):
        BlockFloatQuantizer(4, 48, "token").quantize(torch.randn(1, 2, 40, 64))
    x = torch.randn(1, 2, 32, 64)
    x[..., 0, 0] = float("inf")
    with pytest.raises(ValueError, match="^x: .*NaN or inf"):
        BlockFloatQuantizer().quantize(x)
    with pytest.raises(ValueError, match="^x: .*floating"):
        BlockFloatQuantizer().quantize(torch.ones(1, 32, 32, dtype=torch.int32))


def test_rotated_and_block_float_snapshots_are_plain_data():
    from tests.test_kvcache_quant import plain

    x = structured((1, 2, 32, 64))
    rt = HadamardQuantizer(2, 16, "token", reorder=True, seed=2).quantize(x)
    snap = rt.snapshot()
    assert plain(snap) and snap["perm"].shape == (1, 2, 64) and snap["seed"] == 2 and snap["nbytes"] == rt.nbytes
    assert snap["rotated"]["codes"].shape == (1, 2, 32, 4, 16)
    assert HadamardQuantizer(2, 32, "channel").quantize(x).snapshot()["perm"] is None
    bt = BlockFloatQuantizer(4, 16, "channel").quantize(x)
    snap = bt.snapshot()
    assert plain(snap) and snap["exponents"].shape == (1, 2, 64, 2) and snap["codes"].shape == (1, 2, 64, 2, 16)
    assert snap["nbytes"] == bt.nbytes
