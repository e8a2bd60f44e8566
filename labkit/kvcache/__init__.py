"""KV-cache lab: quantizers, KIVI's streaming cache, rotation, eviction, exact byte counts, and a
tiny real language model to measure them on.

    store.py        KVStore: the one interface every method implements (prefill / append / keys / values / nbytes)
    packing.py      bit-packing of 1..8-bit codes
    checks.py       tensor, shape and dtype argument checks (labkit.validate's format)
    quant.py        UniformQuantizer -> QuantizedTensor (per channel or per token, asymmetric or symmetric)
    kernels.py      numba kernels of quant.py's hot path: backend="fast" (default); "readable" runs quant.py
    kivi.py         KIVICache (KIVI, ICML 2024): keys per channel, values per token, full-precision residual
    rotation.py     HadamardQuantizer (RotateKV / QuaRot: FWHT, random signs, channel reordering)
    bfp.py          BlockFloatQuantizer: one shared exponent per block
    scores.py       eviction scores, equal to kvpress's on the same tensors
    eviction.py     StreamingLLM, H2O, SnapKV, KeyNorm, TOVA: keep the best-scored tokens
    tinylm.py       the tiny byte-level Llama, its corpus and the passkey task (weights in datasets/tinylm)
    train_tinylm.py the seeded script that trained it
    hf.py           LabkitCache: any KVStore inside a transformers model
    hf_quantized.py HFQuantizedStore: transformers' own QuantoQuantizedLayer as a KVStore (the anchor)
    capture.py      real Q / K / V and attention maps (MiniLM, the tiny LM)
    evaluate.py     perplexity, passkey accuracy, bytes per token through LabkitCache
    metrics.py      rel_error, attention, attention_output_error

`from labkit import kvcache as kv` imports only torch; the transformers-based parts (tinylm, hf,
capture, evaluate) load on first use of their names.

Conventions: quantizers, stores and caches are Estimators (labkit.base: `get_params()`); every memory
(stores, caches, quantized tensors) has `snapshot()` returning plain data; bad arguments raise
TypeError / ValueError as `name: expected ..., got ...` (labkit.validate).
"""

from importlib import import_module

from labkit.kvcache.bfp import BlockFloatQuantizer
from labkit.kvcache.eviction import H2O, TOVA, KeyNorm, SnapKV, StreamingLLM
from labkit.kvcache.kivi import KIVICache, kivi_bytes_per_token, kivi_layout, kivi_nbytes
from labkit.kvcache.metrics import attention, attention_output_error, rel_error
from labkit.kvcache.quant import QuantizedTensor, UniformQuantizer
from labkit.kvcache.rotation import HadamardQuantizer, fwht
from labkit.kvcache.store import FullPrecisionStore, KVStore

_LAZY = {
    "LabkitCache": "hf", "load_tinylm": "tinylm", "capture_minilm": "capture", "capture_tinylm": "capture",
    "perplexity": "evaluate", "passkey_accuracy": "evaluate", "bytes_per_token": "evaluate",
    "HFQuantizedStore": "hf_quantized",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f"labkit.kvcache.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'labkit.kvcache' has no attribute {name!r}")


__all__ = [
    "KVStore", "FullPrecisionStore", "UniformQuantizer", "QuantizedTensor", "KIVICache", "kivi_layout",
    "kivi_nbytes", "kivi_bytes_per_token", "HadamardQuantizer", "fwht", "BlockFloatQuantizer", "StreamingLLM",
    "H2O", "SnapKV", "KeyNorm", "TOVA", "rel_error", "attention", "attention_output_error", *_LAZY,
]
