"""HNSW vector memory (Malkov & Yashunin, TPAMI 2018), following hnswlib 0.8.0 step for step
(nmslib/hnswlib tag v0.8.0, commit 3f3429661187e4c24a490a0f148fc6bc89042b3d).

    index.py          HNSW: add / search / mark_deleted / layers / snapshot / save / load / nbytes
    construction.py   insertion (addPoint, heuristic, back-links): the readable path, and the source
                      kernels.py compiles (backend="fast", the default, vs backend="readable")
    search_readable.py, kernels.py   k-NN search: readable Python and its numba twin
    aot.py            the insertion kernel compiled ahead of time (a fresh process's first add skips numba)
    search.py         search_graph: validation, filters, SearchStats (counts, hops, replayable traces)
    heap.py           libstdc++'s std::priority_queue, so ties break as in hnswlib
    levels.py         hnswlib's level generator (minstd_rand0 + generate_canonical)
    format.py         hnswlib's index file, read and written byte for byte
    metrics.py        recall@k, reachability, ef sweeps
"""

from labkit.hnsw.index import HNSW
from labkit.hnsw.levels import LevelGenerator, default_mult

_FORMAT = ("HNSWFile", "read_index", "write_index")


def __getattr__(name):
    """The file format's names, imported on first use (PEP 562): a fresh process's first build skips it."""
    if name in _FORMAT:
        from labkit.hnsw import format
        return getattr(format, name)
    raise AttributeError(f"module 'labkit.hnsw' has no attribute {name!r}")

__all__ = ["HNSW", "HNSWFile", "read_index", "write_index", "LevelGenerator", "default_mult"]
