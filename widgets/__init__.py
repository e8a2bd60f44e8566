"""labkit's views: Panel inspectors and dashboard pages, built only from labkit's public API.

    >>> import widgets
    >>> widgets.inspect(obj)        # the inspector for any registered labkit object
"""

# Each mechanism module registers its inspectors and its dashboard page on import.
from widgets import data as _data  # noqa: E402,F401  (datasets)
from widgets import hnsw as _hnsw  # noqa: E402,F401  (HNSW graphs)
from widgets import kvcache as _kvcache  # noqa: E402,F401  (KV caches: quantization, eviction)
from widgets import pim as _pim  # noqa: E402,F401  (PIM: timelines, roofline, energy)
from widgets import sdr as _sdr  # noqa: E402,F401  (SDRs and their memories)
from widgets.inspect import inspect, pages, register_inspector, register_page, supported_types

__all__ = ["inspect", "pages", "register_inspector", "register_page", "supported_types"]
