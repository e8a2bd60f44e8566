"""KV-cache inspectors and the "KV cache" dashboard page (labkit.kvcache).

    KVExplorer(capture=None, layer, head, bits, group_size, residual_length, method)
                                  K / V heatmaps (token × channel) with outlier channels, the quantized
                                  copies, per-group error maps, live errors and bytes
    AttentionDiff(capture=None, ...)   attention full vs quantized vs evicted, and the differences
    EvictionTimeline(capture=None, ...) which tokens each eviction policy keeps, step by step
    Frontier(table=None, model=None)   bytes per token vs perplexity and passkey accuracy (TinyLM)
    QuantizedTensorView(qt), KIVICacheView(cache), EvictionStoreView(store)   single objects

With no capture, the first three share one MiniLM capture of CPython source (computed on first view).
`widgets.inspect` returns QuantizedTensorView for a QuantizedTensor, KIVICacheView for a KIVICache and
EvictionStoreView for any eviction store (StreamingLLM, H2O, SnapKV, KeyNorm, TOVA).

Modules: quant.py (KVExplorer), attention.py, eviction.py, frontier.py, objects.py (single objects),
plots.py (shared drawing helpers), data.py (the plain data the views draw), page.py (kvcache_page).
This file is the only one that registers the mechanism's inspectors and page.
"""

from labkit.kvcache import KIVICache, QuantizedTensor
from labkit.kvcache.eviction import EvictionStore
from widgets.inspect import register_inspector, register_page
from widgets.kvcache.attention import AttentionDiff
from widgets.kvcache.data import default_capture, default_text, quantize_head, run_policy
from widgets.kvcache.eviction import EvictionStoreView, EvictionTimeline
from widgets.kvcache.frontier import FRONTIER_METHODS, Frontier, measure_method
from widgets.kvcache.objects import KIVICacheView, QuantizedTensorView
from widgets.kvcache.page import kvcache_page
from widgets.kvcache.quant import KVExplorer

__all__ = ["KVExplorer", "AttentionDiff", "EvictionTimeline", "Frontier", "QuantizedTensorView", "KIVICacheView",
           "EvictionStoreView", "FRONTIER_METHODS", "measure_method", "default_capture", "default_text",
           "quantize_head", "run_policy", "kvcache_page"]

register_inspector(QuantizedTensor, QuantizedTensorView)
register_inspector(KIVICache, KIVICacheView)
register_inspector(EvictionStore, EvictionStoreView)
register_page("kvcache", "KV cache", kvcache_page,
              "K / V heatmaps with outlier channels, quantization error per group, attention full vs quantized "
              "vs evicted, which tokens each eviction policy keeps, the memory-vs-quality frontier")
