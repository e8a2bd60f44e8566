"""The fast path of labkit.hnsw: numba kernels (Malkov & Yashunin, TPAMI 2018; hnswlib v0.8.0,
commit 3f3429661187e4c24a490a0f148fc6bc89042b3d, `hnswlib/hnswalg.h`).

Insertion: `insert_range` is `njit(cache=True)` of the readable `construction.insert_range`; its
algorithm functions are compiled from construction.py (`labkit.jit.jitable`), and only the leaf
primitives get compiled twins here (`overload`): loops in place of numpy's whole-array steps, the
same float64 values. Search: `search_batch` / `_search_one` are the algorithm of
`search_readable.py`, line for line (the readable one also records traces). Distances are
accumulated in float64 on both paths so both return the same answers.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import overload

from labkit import jit
from labkit.hnsw import construction, heap
from labkit.hnsw.heap import heap_pop as _pop
from labkit.hnsw.heap import heap_push as _push

jit.register()   # construction.py's and heap.py's marked functions, before the kernels that call them

_FAST_SUM = {"fastmath": {"reassoc", "contract"}}  # lets LLVM vectorise the float64 sums


# -- compiled twins of construction.py's leaf primitives ------------------------------------------
@overload(construction.dist, jit_options=_FAST_SUM)
def _dist_pair(space, X, a, b):
    def impl(space, X, a, b):
        acc = 0.0
        if space == 0:
            for j in range(X.shape[1]):
                d = np.float64(X[a, j]) - np.float64(X[b, j])
                acc += d * d
            return acc
        for j in range(X.shape[1]):
            acc += np.float64(X[a, j]) * np.float64(X[b, j])
        return 1.0 - acc
    return impl


@overload(construction.as_f64)
def _as_f64(X):
    return lambda X: X  # the compiled distances convert element by element


@overload(construction.links_of)
def _links_of(links0, count0, links_up, count_up, block_start, node, level, out):
    def impl(links0, count0, links_up, count_up, block_start, node, level, out):
        if level == 0:
            count = count0[node]
            for j in range(count):
                out[j] = links0[node, j]
            return count
        row = block_start[node] + level - 1
        count = count_up[row]
        for j in range(count):
            out[j] = links_up[row, j]
        return count
    return impl


@overload(construction.scratch)
def _scratch(part):
    return lambda part: part


@overload(construction.dists_from)
def _dists_from(space, X, q, ids, m, out):
    def impl(space, X, q, ids, m, out):
        for t in range(m):
            out[t] = construction.dist(space, X, q, ids[t])
    return impl


@overload(construction.any_closer)
def _any_closer(space, X, chosen, nchosen, c, d_q):
    def impl(space, X, chosen, nchosen, c, d_q):
        for r in range(nchosen):
            if construction.dist(space, X, chosen[r], c) < d_q:
                return True
        return False
    return impl


# no memory manager (_nrt=False): the kernel allocates nothing (the caller passes its scratch), so numba
# emits no reference counting, which took 40 % of a build on calls to the heap functions (perf, random-xs-20)
insert_range = njit(cache=True, _nrt=False)(construction.insert_range)


# -- search ---------------------------------------------------------------------------------------
@njit(cache=True, fastmath={"reassoc", "contract"})  # lets LLVM vectorise the float64 sums
def _dist(space, X, i, q):
    acc = 0.0
    if space == 0:
        for j in range(q.shape[0]):
            d = np.float64(X[i, j]) - np.float64(q[j])
            acc += d * d
        return acc
    for j in range(q.shape[0]):
        acc += np.float64(X[i, j]) * np.float64(q[j])
    return 1.0 - acc


@njit(cache=True, _nrt=False)  # allocates nothing (search_batch passes the buffers): no reference counting
def _search_one(X, links0, count0, links_up, count_up, block_start, enter, maxlevel, labels, q, k, ef, space,
                blocked, use_blocked, out_ids, out_d, hops, visited, tag, top_k, top_i, cand_k, cand_i):
    cur = enter
    cur_d = _dist(space, X, cur, q)
    ndist = 1
    for level in range(maxlevel, 0, -1):
        changed = True
        while changed:
            changed = False
            hops[level] += 1
            row = block_start[cur] + level - 1
            for j in range(count_up[row]):
                c = links_up[row, j]
                d = _dist(space, X, c, q)
                ndist += 1
                if d < cur_d:
                    cur_d = d
                    cur = c
                    changed = True
    bare = not use_blocked
    nt = 0
    nc = 0
    if bare or not blocked[cur]:
        lower = cur_d
        nt = _push(top_k, top_i, nt, cur_d, cur, False)
        nc = _push(cand_k, cand_i, nc, -cur_d, cur, False)
    else:
        lower = np.finfo(np.float64).max
        nc = _push(cand_k, cand_i, nc, -lower, cur, False)
    visited[cur] = tag  # a fresh tag per query: the buffer is never cleared
    while nc > 0:
        cand_d = -cand_k[0]
        node = cand_i[0]
        if bare:
            stop = cand_d > lower
        else:
            stop = cand_d > lower and nt == ef
        if stop:
            break
        nc = _pop(cand_k, cand_i, nc, False)
        hops[0] += 1
        for j in range(count0[node]):
            c = links0[node, j]
            if visited[c] == tag:
                continue
            visited[c] = tag
            d = _dist(space, X, c, q)
            ndist += 1
            if nt < ef or lower > d:
                nc = _push(cand_k, cand_i, nc, -d, c, False)
                if bare or not blocked[c]:
                    nt = _push(top_k, top_i, nt, d, c, False)
                while nt > ef:
                    nt = _pop(top_k, top_i, nt, False)
                if nt > 0:
                    lower = top_k[0]
    while nt > k:
        nt = _pop(top_k, top_i, nt, False)
    # ascending (distance, label): insertion sort of at most k entries
    for a in range(nt):
        out_ids[a] = top_i[a]
        out_d[a] = top_k[a]
    for a in range(1, nt):
        ii = out_ids[a]
        dd = out_d[a]
        b = a - 1
        while b >= 0 and (out_d[b] > dd or (out_d[b] == dd and labels[out_ids[b]] > labels[ii])):
            out_ids[b + 1] = out_ids[b]
            out_d[b + 1] = out_d[b]
            b -= 1
        out_ids[b + 1] = ii
        out_d[b + 1] = dd
    return nt, ndist


@njit(cache=True, parallel=True)
def search_batch(X, links0, count0, links_up, count_up, block_start, enter, maxlevel, labels, Q, k, ef, space,
                 blocked, use_blocked, nthreads):
    """All queries of Q (nq, dim) in parallel (prange). Returns internal ids (nq, k) (-1 where
    fewer than k were found), distances (nq, k), found (nq,), distance counts (nq,), hops (nq, L+1)."""
    nq = Q.shape[0]
    n = X.shape[0]
    ids = np.full((nq, k), -1, np.int64)
    dist = np.full((nq, k), np.inf)
    found = np.zeros(nq, np.int64)
    ndist = np.zeros(nq, np.int64)
    hops = np.zeros((nq, maxlevel + 1), np.int64)
    chunks = max(1, min(nthreads, nq))
    for t in prange(chunks):  # one chunk of queries per thread, its buffers allocated once
        visited = np.zeros(n, np.int64)
        top_k = np.zeros(ef + 2)
        top_i = np.zeros(ef + 2, np.int64)
        cand_k = np.zeros(n + 1)
        cand_i = np.zeros(n + 1, np.int64)
        lo = t * nq // chunks
        hi = (t + 1) * nq // chunks
        for i in range(lo, hi):
            nt, nd = _search_one(X, links0, count0, links_up, count_up, block_start, enter, maxlevel, labels, Q[i],
                                 k, ef, space, blocked, use_blocked, ids[i], dist[i], hops[i], visited, i - lo + 1,
                                 top_k, top_i, cand_k, cand_i)
            found[i] = nt
            ndist[i] = nd
    return ids, dist, found, ndist, hops


# numba's cache keys each kernel on its own file only: these kernels also compile heap.py, construction.py
# and the twins above, so an edit to any of them must recompile every one (labkit.jit.cache_covers)
jit.cache_covers((insert_range, _dist, _search_one, search_batch),
                 (construction.__file__, heap.__file__, __file__, jit.__file__))
