"""HFQuantizedStore drives transformers' QuantoQuantizedLayer; these tests pin down the behaviour
labkit's notebook compares against (transformers v5.2.0, src/transformers/cache_utils.py,
`QuantizedLayer.update`: per-token groups by default, the prompt quantized at once, every token
re-quantized each time the residual fills)."""

import pytest
import torch

from labkit.kvcache import KIVICache
from labkit.kvcache.hf_quantized import HFQuantizedStore
from tests.test_kvcache_quant import structured

pytest.importorskip("optimum.quanto")


def run(store, K, V, T):
    store.prefill(K[..., :T, :], V[..., :T, :])
    for i in range(T, K.shape[-2]):
        store.append(K[..., i:i + 1, :], V[..., i:i + 1, :])
    return store.keys(), store.values()


def test_same_outputs_as_transformers_quantized_cache():
    from transformers import LlamaConfig
    from transformers.cache_utils import QuantizedCache

    K = structured((1, 2, 300, 32))
    cfg = LlamaConfig(num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, hidden_size=64)
    ref = QuantizedCache(backend="quanto", config=cfg, nbits=2)
    ref.update(K[..., :200, :], K[..., :200, :], 0)
    for i in range(200, 300):
        rk, _ = ref.update(K[..., i:i + 1, :], K[..., i:i + 1, :], 0)
    ours, _ = run(HFQuantizedStore(nbits=2), K, K, 200)
    assert torch.equal(ours, rk)


def test_prefill_is_quantized_whole_and_requantized_at_each_flush():
    K = structured((1, 2, 400, 32))
    s = HFQuantizedStore(nbits=2, residual_length=32)
    sizes = []
    quantize = s.layer._quantize
    s.layer._quantize = lambda t, axis: sizes.append(t.shape[-2]) or quantize(t, axis)
    s.prefill(K[..., :256, :], K[..., :256, :])
    s.append(K[..., 256:257, :], K[..., 256:257, :])
    assert not torch.equal(s.keys()[..., :256, :], K[..., :256, :])  # no full-precision part of the prompt
    for i in range(257, 330):
        s.append(K[..., i:i + 1, :], K[..., i:i + 1, :])
    # keys and values: the prompt at prefill, then every flush quantizes *all* tokens again (O(T) each)
    assert sizes[:2] == [256, 256]
    assert sizes[2:4] == [256 + 32, 256 + 32] and sizes[4:6] == [256 + 64, 256 + 64]


def test_per_token_keys_lose_to_kivi_on_outlier_channels():
    K, V = structured((1, 4, 512, 64), seed=3), torch.randn(1, 4, 512, 64)
    rel = lambda a: ((a[..., :384, :] - K[..., :384, :]).norm() / K[..., :384, :].norm()).item()  # noqa: E731
    hf_k, _ = run(HFQuantizedStore(nbits=2), K, V, 384)
    kivi_k, _ = run(KIVICache(2, 32, 128), K, V, 384)
    assert rel(kivi_k) < 0.75 * rel(hf_k)


def test_bad_input():
    with pytest.raises(ValueError, match="nbits"):
        HFQuantizedStore(nbits=3)
    with pytest.raises(ValueError, match="append: call prefill first"):
        HFQuantizedStore().append(torch.randn(1, 1, 1, 32), torch.randn(1, 1, 1, 32))


def test_quanto_shape_failure_is_a_clear_error():
    s = HFQuantizedStore(nbits=2, axis_key=-1, q_group_size=32)
    with pytest.raises(ValueError, match="q_group_size: expected a group size quanto can apply"):
        s.prefill(torch.randn(1, 2, 364, 32), torch.randn(1, 2, 364, 32))


def test_params_snapshot_and_wrong_types():
    s = HFQuantizedStore(nbits=2, axis_key=-1, q_group_size=32, residual_length=64)
    assert s.get_params() == dict(nbits=2, axis_key=-1, axis_value=0, q_group_size=32, residual_length=64)
    assert HFQuantizedStore(**s.get_params()).get_params() == s.get_params()
    assert s.snapshot()["seq_length"] == 0 and s.snapshot()["keys"] is None
    K = structured((1, 2, 100, 32))
    run(s, K, K, 96)
    snap = s.snapshot()
    assert snap["seq_length"] == 100 and snap["nbytes"] == s.nbytes
    assert snap["keys"].shape == (1, 2, 100, 32) and snap["key_residual"].shape[-2] < 64
    for kwargs, name in [({"nbits": 2.0}, "nbits"), ({"axis_key": "0"}, "axis_key"),
                         ({"q_group_size": 0}, "q_group_size")]:
        with pytest.raises((TypeError, ValueError), match=f"^{name}: expected"):
            HFQuantizedStore(**kwargs)
