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

from labkit.record import read_records, record, session_records  # noqa: E402
from labkit.sweep import sweep  # noqa: E402

__version__ = "0.1.0"
__all__ = ["record", "read_records", "session_records", "sweep", "__version__"]
