"""The fast path of montecarlo.py: numba compiles the readable loops themselves.

No second copy of the algorithm: `_overlap_counts` and `_union_counts` are montecarlo.py's own
functions (their helpers there are `register_jitable`, plain Python when called from Python),
compiled here with `njit(cache=True, parallel=True)`, so their `prange` loops run on all threads
and numba's on-disk cache keys on montecarlo.py.
"""

from __future__ import annotations

from numba import njit

from labkit.sdr import montecarlo

overlap_counts = njit(cache=True, parallel=True)(montecarlo._overlap_counts)
union_counts = njit(cache=True, parallel=True)(montecarlo._union_counts)
