"""labkit: a research workbench for memory in AI systems.

Science only: this package never imports panel, holoviews, bokeh or ipywidgets (see DESIGN.md).
"""

import os

# OpenMP threads (torch's and numba's parallel kernels) spin-wait by default; on a small shared
# machine a spinning pool starves everything else — measured here: 2000 small torch matmuls took
# 549 ms instead of 23 ms, and 4.3 s after a numba parallel kernel; the KV quantizer's round trip
# took 16 ms passive against 40-240 ms active. It only takes effect if set before the OpenMP
# runtime loads (import labkit first); a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# The top-level functions live in labkit.records and labkit.sweeps and load on first use (PEP 562):
# `import labkit.hnsw` does not pay for json, the notebook runner or the sweep machinery (8 of its
# 15 ms, `python -X importtime`). The modules are not named like the functions, so importing one
# never replaces the function on the package.
_LAZY = {"record": "labkit.records", "read_records": "labkit.records", "session_records": "labkit.records",
         "sweep": "labkit.sweeps"}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
