"""`search_graph`: k-NN search over an HNSW graph with hnswlib's rules, on either path,
with per-query instrumentation (distance computations, hops per layer, replayable visits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from labkit.hnsw import search_readable as readable
from labkit.validate import check_array, check_bool, check_choice, check_int, fail, type_fail

SPACES = {"l2": readable.L2, "ip": readable.IP, "cosine": readable.IP}
BACKENDS = ("fast", "readable")  # numba kernels (kernels.py) / plain Python (search_readable.py)


@dataclass(frozen=True)
class SearchStats:
    """Per query: distance computations (nq,), hops (nq, maxlevel + 1) with hops[:, l] the node
    expansions on layer l (hnswlib's `metric_hops`), and `trace(i)`, the visit sequence of query
    i as a DataFrame (step, event "expand" | "push", layer, node, distance, computed, label);
    `computed` is the distance computations the step made (its cumulative sum is the running count,
    ending at `distance_computations[i]`)."""

    distance_computations: np.ndarray
    hops: np.ndarray
    _replay: Callable[[int], list] = field(repr=False)
    _labels: np.ndarray = field(repr=False)

    def trace(self, i: int):
        import pandas as pd
        rows = self._replay(i)
        frame = pd.DataFrame(rows, columns=["event", "layer", "node", "distance", "computed"])
        frame.insert(0, "step", np.arange(len(frame)))
        frame["label"] = self._labels[frame["node"].to_numpy()] if len(frame) else []
        return frame


def as_vectors(X, dim: int, name: str) -> np.ndarray:
    """X (n, dim), or one vector (dim,), as a float32 (n, dim) array. TypeError / ValueError naming
    `name` for a non-numeric input, a wrong shape, NaN or inf, or values too large for float32
    (hnswlib stores float32)."""
    X = check_array(name, X, ndim=(1, 2), dtype=np.float32)
    if X.ndim == 1:
        X = X[None, :]
    if X.shape[1] != dim:
        raise fail(name, f"shape (n{'q' if name == 'Q' else ''}, {dim})", f"shape {X.shape}", described=True)
    return X


def prepare_queries(Q, dim: int, space: str) -> np.ndarray:
    Q = as_vectors(Q, dim, "Q")
    if space == "cosine":  # hnswlib normalises cosine queries and data, then uses 1 - dot
        Q = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-30)
    return np.ascontiguousarray(Q, dtype=np.float32)


def search_graph(g, Q, k: int = 10, ef: int | None = None, space: str = "l2", filter=None,
                 return_stats: bool = False, backend: str = "fast"):
    """Search graph `g` (an `HNSWFile` or anything with its arrays) for the k nearest labels.

    ef = max(ef, k) as hnswlib; ef=None uses hnswlib's default 10; an ef above the element count n
    searches as ef = n (the beam never holds more than every node, so nothing is ever dropped: the
    same answers, without buffers of size ef). `filter(label) -> bool` (or a
    boolean array over labels' positions) keeps nodes out of the results while they are still
    traversed; deleted nodes likewise. Returns labels (nq, k) int64 and distances (nq, k)
    float32, -1 / inf where fewer than k were found; with `return_stats` also a `SearchStats`.
    backend: "fast" (numba, kernels.py) or "readable" (search_readable.py); same answers.
    """
    check_choice("space", space, SPACES)
    check_choice("backend", backend, BACKENDS)
    return_stats = check_bool("return_stats", return_stats)
    n = len(g.labels)
    k = check_int("k", k, low=1)
    if k > n:
        raise fail("k", f"an integer <= {n} (k is larger than the index, {n} elements)", k)
    if ef is not None:
        ef = check_int("ef", ef, low=1)
    ef = min(max(10 if ef is None else int(ef), int(k)), n)
    Q = prepare_queries(Q, g.vectors.shape[1], space)
    code = SPACES[space]
    blocked = g.deleted.copy()
    labels64 = np.asarray(g.labels, np.int64)
    if filter is not None:
        if callable(filter):
            allowed = np.fromiter((bool(filter(int(lab))) for lab in g.labels), bool, count=n)
        elif isinstance(filter, (np.ndarray, list, tuple)):
            allowed = check_array("filter", filter, shape=(n,), kind="bool")
        else:
            raise type_fail("filter", f"a callable or a boolean array of shape ({n},)", filter)
        blocked |= ~allowed
    use_blocked = bool(blocked.any())

    if backend == "fast":
        from numba import get_num_threads

        from labkit.hnsw.kernels import search_batch
        i64 = lambda a: np.ascontiguousarray(a, np.int64)  # noqa: E731  (no copy when already int64)
        ids, dist, _, ndist, hops = search_batch(
            g.vectors, i64(g.links0), i64(g.count0), i64(g.links_up), i64(g.count_up), g.block_start,
            int(g.enterpoint), int(g.maxlevel), labels64, Q, int(k), ef, code, blocked, use_blocked,
            get_num_threads())
    else:
        nq = len(Q)
        ids = np.full((nq, k), -1, np.int64)
        dist = np.full((nq, k), np.inf)
        ndist = np.zeros(nq, np.int64)
        hops = np.zeros((nq, g.maxlevel + 1), np.int64)
        for i in range(nq):
            ii, dd, nd, hp = readable.search_one(g, Q[i], k, ef, code, blocked if use_blocked else None)
            ids[i, : len(ii)], dist[i, : len(dd)], ndist[i], hops[i] = ii, dd, nd, hp
    labels = np.where(ids >= 0, labels64[np.maximum(ids, 0)], -1)
    distances = dist.astype(np.float32)
    if not return_stats:
        return labels, distances

    def replay(i: int) -> list:
        trace: list = []
        readable.search_one(g, Q[i], k, ef, code, blocked if use_blocked else None, trace=trace)
        return trace

    return labels, distances, SearchStats(ndist, hops, replay, labels64)
