"""Measures of an HNSW memory: recall against exact neighbours, and reachability of the graph."""

from __future__ import annotations

import numpy as np


def recall_at_k(labels: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per query, |returned ∩ exact| / k — labels (nq, k) and exact (nq, k) label arrays
    (the k-nn recall of erikbern/ann-benchmarks, `ann_benchmarks/plotting/metrics.py` `knn` at commit
    93587d8a12a617f929062fac1d643bac6a6e1d8d, without its distance tolerance for ties)."""
    labels, exact = np.asarray(labels), np.asarray(exact)
    if labels.shape != exact.shape or labels.ndim != 2:
        raise ValueError(f"labels/exact: expected equal (nq, k) shapes, got {labels.shape} and {exact.shape}")
    k = labels.shape[1]
    return np.array([len(np.intersect1d(a[a >= 0], b)) / k for a, b in zip(labels, exact, strict=True)])


def reachable(indptr: np.ndarray, indices: np.ndarray, start: int) -> np.ndarray:
    """(m,) bool: the rows reachable from row `start` along directed CSR edges (`indices` are row
    numbers). Breadth-first, one whole frontier per numpy step."""
    seen = np.zeros(len(indptr) - 1, bool)
    seen[start] = True
    frontier = np.array([start], np.int64)
    while frontier.size:
        lo, lens = indptr[frontier], indptr[frontier + 1] - indptr[frontier]
        total = int(lens.sum())
        if total == 0:
            break
        pos = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(total)  # every frontier row's slots
        nb = indices[pos]
        frontier = np.unique(nb[~seen[nb]])
        seen[frontier] = True
    return seen


def unreachable(layer: dict, entry: int) -> np.ndarray:
    """Internal ids on `layer` (an item of `HNSW.layers()`) that a search starting at `entry`
    can never visit (directed links)."""
    nodes = np.asarray(layer["nodes"])
    row = {int(v): i for i, v in enumerate(nodes)}
    if entry not in row:
        raise ValueError(f"entry: node {entry} is not on layer {layer['level']}")
    lookup = np.full(int(nodes.max()) + 1 if len(nodes) else 1, -1, np.int64)
    lookup[nodes] = np.arange(len(nodes))
    seen = reachable(np.asarray(layer["indptr"]), lookup[np.asarray(layer["indices"], np.int64)], row[entry])
    return nodes[~seen]


def ef_sweep(index, Q: np.ndarray, exact: np.ndarray, efs=(10, 20, 50, 100, 200), k: int = 10,
             reference=None, repeats: int = 3):
    """Recall@k, queries per second and distance computations of `index` (an HNSW) at each ef,
    and — when `reference` is an hnswlib.Index over the same labels (anything with `set_ef` and
    `knn_query`) — its recall and QPS beside them. Timings are the best of `repeats` batched runs.
    Returns a DataFrame, one row per ef."""
    import time

    import pandas as pd

    def best(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return len(Q) / min(times)

    rows = []
    for ef in efs:
        labels, _, stats = index.search(Q, k=k, ef=ef, return_stats=True)
        row = {"ef": ef, "recall": float(recall_at_k(labels, exact[:, :k]).mean()),
               "QPS": best(lambda: index.search(Q, k=k, ef=ef)),  # noqa: B023
               "distances/query": float(stats.distance_computations.mean())}
        if reference is not None:
            reference.set_ef(ef)
            theirs = np.asarray(reference.knn_query(Q, k=k)[0], np.int64)
            row["recall (reference)"] = float(recall_at_k(theirs, exact[:, :k]).mean())
            row["QPS (reference)"] = best(lambda: reference.knn_query(Q, k=k))
        rows.append(row)
    return pd.DataFrame(rows)
