"""The "KV cache" dashboard page: the explorer, attention maps, eviction and the frontier, one tab each."""

from __future__ import annotations

import panel as pn

from widgets.kvcache.attention import AttentionDiff
from widgets.kvcache.data import default_capture
from widgets.kvcache.eviction import EvictionTimeline
from widgets.kvcache.frontier import Frontier
from widgets.kvcache.quant import KVExplorer
from widgets.tabs import lazy_tabs

INTRO = """## KV cache
A transformer keeps every past token's key and value: the **KV cache**, which outgrows the weights for
long contexts. Two ways to shrink it: **quantize** it (KIVI: keys per channel, values per token, 2 bits;
Liu et al. 2024) or **evict** tokens (StreamingLLM, H2O, SnapKV, KeyNorm, TOVA). Below: MiniLM's real keys,
values and queries on 512 word pieces of CPython's `json.decoder` source, and what each method does to them.
"""

# A head where KIVI's per-channel keys make the difference: at 2 bits its attention-output error is
# about 0.13 against 0.39 with per-token keys (layer 0, head 0: 0.14 against 0.18).
PAGE_LAYER, PAGE_HEAD = 3, 10


def kvcache_page():
    """Dashboard page: the explorer, attention maps, eviction and the frontier, one tab each (each made
    when first shown). MiniLM's capture is made here once per process (at the server's warm-up), not by
    a visitor."""
    default_capture()
    tabs = lazy_tabs(
        ("K / V quantization", lambda: KVExplorer(layer=PAGE_LAYER, head=PAGE_HEAD)),
        ("Attention maps", lambda: AttentionDiff(layer=PAGE_LAYER, head=PAGE_HEAD)),
        ("Eviction", EvictionTimeline),
        ("Memory vs quality", Frontier))
    return pn.Column(INTRO, tabs, sizing_mode="stretch_width")

