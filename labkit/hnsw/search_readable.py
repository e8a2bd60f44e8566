"""HNSW k-NN search, the readable path: hnswlib 0.8.0's `searchKnn` step by step in Python.

Malkov & Yashunin (TPAMI 2018), Alg. 5: greedy descent through the upper layers (ef = 1), then a
best-first search of layer 0 with a dynamic list of ef results (Alg. 2). The details follow
hnswlib (tag v0.8.0, commit 3f3429661187e4c24a490a0f148fc6bc89042b3d, `hnswlib/hnswalg.h`
`searchKnn` L1271, `searchBaseLayerST` L311): the descent scans a node's whole list while moving
to better neighbours; layer 0 stops when the best open candidate is farther than the worst kept result (and, when
deleted or filtered nodes exist, only once ef results are kept); deleted and filtered nodes are
traversed but never returned. `kernels.py` is the same algorithm compiled with numba.
"""

from __future__ import annotations

import numpy as np

from labkit.hnsw.heap import heap_pop, heap_push

L2, IP = 0, 1  # hnswlib spaces: squared L2; 1 - dot (ip, and cosine on normalised vectors)


def distance(space: int, a: np.ndarray, b: np.ndarray) -> float:
    """Squared L2 or 1 - <a, b>, accumulated in float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if space == L2:
        d = a - b
        return float(d @ d)
    return 1.0 - float(a @ b)


def neighbours(g, node: int, level: int) -> np.ndarray:
    if level == 0:
        return g.links0[node, : g.count0[node]]
    row = g.block_start[node] + level - 1
    return g.links_up[row, : g.count_up[row]]


def search_one(g, q, k, ef, space, blocked=None, trace=None):
    """One query. g: graph arrays (see format.HNSWFile); blocked: (n,) bool of nodes that may
    be traversed but not returned (deleted or filtered), or None. Returns (ids, dists, ndist,
    hops) with hops[l] = expansions on layer l; `trace`, a list, receives the visit sequence as
    (event, layer, node, distance, computed) tuples: event "expand" or "push", and `computed` the
    distance computations the event made (an expansion counts every distance it computes, the
    entry point 1, other pushes 0), so the cumulative sum of `computed` is the running count."""
    X = g.vectors
    hops = np.zeros(g.maxlevel + 1, np.int64)
    cur = int(g.enterpoint)
    cur_d = distance(space, q, X[cur])
    ndist = 1
    if trace is not None:
        trace.append(("push", g.maxlevel, cur, cur_d, 1))
    for level in range(g.maxlevel, 0, -1):          # greedy descent, one best node per layer
        changed = True
        while changed:
            changed = False
            hops[level] += 1
            at, before = len(trace) if trace is not None else 0, ndist
            if trace is not None:
                trace.append(("expand", level, cur, cur_d, 0))
            for c in neighbours(g, cur, level):     # the list of the node we started from
                d = distance(space, q, X[c])
                ndist += 1
                if d < cur_d:
                    cur_d, cur, changed = d, int(c), True
                    if trace is not None:
                        trace.append(("push", level, cur, d, 0))
            if trace is not None:
                trace[at] = trace[at][:4] + (ndist - before,)

    n = len(X)
    bare = blocked is None
    top_k, top_i = np.zeros(ef + 2), np.zeros(ef + 2, np.int64)          # results: max-heap on distance
    cand_k, cand_i = np.zeros(n + 1), np.zeros(n + 1, np.int64)          # open candidates: max-heap on -distance
    nt = nc = 0
    visited = np.zeros(n, bool)
    if bare or not blocked[cur]:
        lower = cur_d
        nt = heap_push(top_k, top_i, nt, cur_d, cur, False)
        nc = heap_push(cand_k, cand_i, nc, -cur_d, cur, False)
    else:
        lower = np.finfo(np.float64).max
        nc = heap_push(cand_k, cand_i, nc, -lower, cur, False)
    visited[cur] = True
    while nc:
        cand_d, node = -cand_k[0], int(cand_i[0])
        stop = cand_d > lower if bare else (cand_d > lower and nt == ef)
        if stop:
            break
        nc = heap_pop(cand_k, cand_i, nc, False)
        hops[0] += 1
        at, before = len(trace) if trace is not None else 0, ndist
        if trace is not None:
            trace.append(("expand", 0, node, cand_d, 0))
        for c in neighbours(g, node, 0):
            c = int(c)
            if visited[c]:
                continue
            visited[c] = True
            d = distance(space, q, X[c])
            ndist += 1
            if nt < ef or lower > d:
                nc = heap_push(cand_k, cand_i, nc, -d, c, False)
                if trace is not None:
                    trace.append(("push", 0, c, d, 0))
                if bare or not blocked[c]:
                    nt = heap_push(top_k, top_i, nt, d, c, False)
                while nt > ef:
                    nt = heap_pop(top_k, top_i, nt, False)
                if nt:
                    lower = top_k[0]
        if trace is not None:
            trace[at] = trace[at][:4] + (ndist - before,)
    while nt > k:
        nt = heap_pop(top_k, top_i, nt, False)
    order = np.lexsort((g.labels[top_i[:nt]], top_k[:nt]))  # ascending (distance, label), as knn_query
    return top_i[:nt][order], top_k[:nt][order], ndist, hops
