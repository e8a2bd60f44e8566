"""HNSW insertion, as hnswlib 0.8.0's `addPoint` does it (Malkov & Yashunin, TPAMI 2018, Alg. 1-4).

Source: nmslib/hnswlib tag v0.8.0 (commit 3f3429661187e4c24a490a0f148fc6bc89042b3d),
`hnswlib/hnswalg.h`: `searchBaseLayer` (L226), `getNeighborsByHeuristic2` (L443),
`mutuallyConnectNewElement` (L506), `addPoint` (L1153).

One source, two paths. Called from Python, this file is the readable path. The algorithm's
functions (heuristic, search_layer, mutually_connect) are marked `labkit.jit.jitable` (numba's
`register_jitable`, applied when kernels.py is imported), and `kernels.insert_range` is
`njit(cache=True)` of `insert_range` below, so the compiled path is this very source (numba's on-disk
cache keys on this file; aot.py compiles the same function ahead of time). The leaf
primitives at the top (distances, neighbour lists, work buffers) are written here with numpy, the
way that is fast and clear in Python; their compiled twins, plain loops, are registered for them
in kernels.py (`numba.extending.overload`). Arrays only, no Python objects, so that both paths
run the same steps. The caller hands `insert_range` its scratch (`pool_sizes`), so the compiled
kernel allocates nothing and runs without numba's memory manager (no reference counting).

Per new node q with level l (levels.py): greedy descent from the entry point down to layer l + 1
(Alg. 1 lines 5-7), then on each layer min(l, L)..0 a search with ef_construction (searchBaseLayer,
Alg. 2) and `mutually_connect`: keep at most M neighbours chosen by the heuristic (Alg. 4,
getNeighborsByHeuristic2), link back from each, and re-prune a full neighbour list with the same
heuristic (capacity M on upper layers, 2M on layer 0).
"""

from __future__ import annotations

import numpy as np

from labkit.hnsw.heap import heap_pop as pop
from labkit.hnsw.heap import heap_push as push
from labkit.jit import jitable


# -- leaf primitives (readable; compiled twins in kernels.py) ------------------------------------
def dist(space, X, a, b):
    """Squared L2 (space 0) or 1 - dot (space 1) between stored vectors a and b, in float64."""
    u = X[a]
    v = X[b]
    if space == 0:
        d = u - v
        return float(np.dot(d, d))
    return 1.0 - float(np.dot(u, v))


def as_f64(X):
    """One float64 copy of the vectors for the whole insertion (not one per distance)."""
    return X.astype(np.float64)


def links_of(links0, count0, links_up, count_up, block_start, node, level, out):
    """Copy the node's neighbour list on `level` into out[:count]; returns count."""
    if level == 0:
        links = links0[node, :count0[node]]
    else:
        row = block_start[node] + level - 1
        links = links_up[row, :count_up[row]]
    out[:len(links)] = links.tolist()
    return len(links)


def scratch(part):
    """A work buffer over `part` of a scratch pool: here a Python list (fast to index one element
    at a time; its contents matter only within the call); the compiled twin uses the array itself."""
    return part.tolist()


def dists_from(space, X, q, ids, m, out):
    """out[:m] = distances from stored vector q to stored vectors ids[:m], all at once."""
    V = X[ids[:m]]
    u = X[q]
    out[:m] = (((V - u) ** 2).sum(1) if space == 0 else 1.0 - V @ u).tolist()


def any_closer(space, X, chosen, nchosen, c, d_q):
    """Is some chosen node closer to c than d_q? (the heuristic's test, Alg. 4)"""
    if nchosen == 0:
        return False
    V = X[chosen[:nchosen]]
    u = X[c]
    d = ((V - u) ** 2).sum(1) if space == 0 else 1.0 - V @ u
    return bool((d < d_q).any())


# -- the algorithm (one source for both paths) ----------------------------------------------------
@jitable
def heuristic(space, X, keys, ids, size, M, scratch_k, scratch_i, chosen, simple):
    """getNeighborsByHeuristic2: from the max-heap (keys, ids, size), keep candidates in order
    of distance while no kept one is closer to them than the query is (Alg. 4). Rebuilds the
    heap with the kept ones and returns its size. With `simple`, keep the M closest instead
    (the paper's Alg. 3, for comparison; hnswlib always uses the heuristic)."""
    if size < M:
        return size
    if simple:
        while size > M:
            size = pop(keys, ids, size, False)
        return size
    nq = 0  # queue_closest: max-heap on (-distance, id)
    while size > 0:
        nq = push(scratch_k, scratch_i, nq, -keys[0], ids[0], True)
        size = pop(keys, ids, size, False)
    nchosen = 0
    while nq > 0:
        if nchosen >= M:
            break
        d_q = -scratch_k[0]
        c = scratch_i[0]
        nq = pop(scratch_k, scratch_i, nq, True)
        if not any_closer(space, X, chosen, nchosen, c, d_q):
            chosen[nchosen] = c
            nchosen += 1
            # the drained heap is empty: pushing each kept one now is hnswlib's final loop, same order
            size = push(keys, ids, size, d_q, c, False)
    return size


@jitable
def search_layer(space, X, q, ep, level, efc, links0, count0, links_up, count_up, block_start, deleted,
                 visited, tag, top_k, top_i, cand_k, cand_i, buf, dbuf):
    """searchBaseLayer: best-first search of one layer from ep with ef_construction results.
    Returns the size of the result max-heap (top_k, top_i)."""
    nt = 0
    nc = 0
    if not deleted[ep]:
        d = dist(space, X, q, ep)
        lower = d
        nt = push(top_k, top_i, nt, d, ep, False)
        nc = push(cand_k, cand_i, nc, -d, ep, False)
    else:
        lower = np.finfo(np.float64).max
        nc = push(cand_k, cand_i, nc, -lower, ep, False)
    visited[ep] = tag  # a fresh tag per search: no clearing (hnswlib's VisitedList does the same)
    while nc > 0:
        if -cand_k[0] > lower and nt == efc:
            break
        node = cand_i[0]
        nc = pop(cand_k, cand_i, nc, False)
        count = links_of(links0, count0, links_up, count_up, block_start, node, level, buf)
        m = 0
        for j in range(count):  # the unvisited neighbours, in list order (compacted in place: m <= j)
            c = buf[j]
            if visited[c] == tag:
                continue
            visited[c] = tag
            buf[m] = c
            m += 1
        dists_from(space, X, q, buf, m, dbuf)
        for t in range(m):
            c = buf[t]
            d = dbuf[t]
            if nt < efc or lower > d:
                nc = push(cand_k, cand_i, nc, -d, c, False)
                if not deleted[c]:
                    nt = push(top_k, top_i, nt, d, c, False)
                if nt > efc:
                    nt = pop(top_k, top_i, nt, False)
                if nt > 0:
                    lower = top_k[0]
    return nt


@jitable
def mutually_connect(space, X, q, level, M, maxM, maxM0, top_k, top_i, nt, links0, count0, links_up, count_up,
                     block_start, scratch_k, scratch_i, chosen, sel, simple):
    """mutuallyConnectNewElement: link q to the heuristic's choice (at most M), then link each
    chosen node back, re-pruning its list when full. Returns the closest chosen node."""
    cap = maxM if level > 0 else maxM0
    nt = heuristic(space, X, top_k, top_i, nt, M, scratch_k, scratch_i, chosen, simple)
    nsel = 0
    while nt > 0:  # popping the max-heap: farthest first, as hnswlib stores them
        sel[nsel] = top_i[0]
        nsel += 1
        nt = pop(top_k, top_i, nt, False)
    closest = sel[nsel - 1]
    for s in range(nsel):
        if level == 0:
            links0[q, s] = sel[s]
        else:
            links_up[block_start[q] + level - 1, s] = sel[s]
    if level == 0:
        count0[q] = nsel
    else:
        count_up[block_start[q] + level - 1] = nsel
    for s in range(nsel):
        other = sel[s]
        row = block_start[other] + level - 1
        size = count0[other] if level == 0 else count_up[row]
        if size < cap:
            if level == 0:
                links0[other, size] = q
                count0[other] = size + 1
            else:
                links_up[row, size] = q
                count_up[row] = size + 1
        else:  # full: re-prune (old list + q) with the heuristic
            nc = push(top_k, top_i, 0, dist(space, X, q, other), q, False)
            for j in range(size):
                sel[nsel + j] = links0[other, j] if level == 0 else links_up[row, j]
            dists_from(space, X, other, sel[nsel:], size, scratch_k)
            for j in range(size):
                nc = push(top_k, top_i, nc, scratch_k[j], sel[nsel + j], False)
            nc = heuristic(space, X, top_k, top_i, nc, cap, scratch_k, scratch_i, chosen, simple)
            idx = 0
            while nc > 0:
                if level == 0:
                    links0[other, idx] = top_i[0]
                else:
                    links_up[row, idx] = top_i[0]
                nc = pop(top_k, top_i, nc, False)
                idx += 1
            if level == 0:
                count0[other] = idx
            else:
                count_up[row] = idx
    return closest


@jitable
def pool_sizes(n_cap, efc, maxM0):
    """(ints, floats): the scratch pools one `insert_range` call over n_cap stored vectors needs,
    the sum of the buffers it takes from each."""
    big = max(efc, maxM0) + 2
    heap = big + maxM0
    ints = n_cap + heap + (n_cap + 1) + 2 * heap + heap + (big + 2 * maxM0) + maxM0
    floats = heap + (n_cap + 1) + 2 * heap + maxM0
    return ints, floats


def insert_range(space, X, start, stop, levels, M, maxM, maxM0, efc, links0, count0, links_up, count_up,
                 block_start, deleted, state, simple, ipool, fpool):
    """addPoint for internal ids start..stop-1 in order. state = [enterpoint, maxlevel]
    (enterpoint -1 when the graph is empty) is updated in place; `simple` swaps the heuristic
    for plain closest-M selection. ipool (int64) and fpool (float64) are zeroed scratch of `pool_sizes`:
    the caller allocates them, so the compiled kernel (`kernels.insert_range`, this function) needs
    no memory manager and counts no references."""
    X = as_f64(X)
    n_cap = X.shape[0]
    big = max(efc, maxM0) + 2
    heap = big + maxM0
    ints, floats = pool_sizes(n_cap, efc, maxM0)
    if len(ipool) < ints or len(fpool) < floats:   # the compiled kernel does not check its indices
        raise ValueError("insert_range: scratch pools smaller than pool_sizes")
    i = 0   # the work buffers, carved from the pools in turn
    visited = scratch(ipool[i:i + n_cap])
    i += n_cap
    top_i = scratch(ipool[i:i + heap])
    i += heap
    cand_i = scratch(ipool[i:i + n_cap + 1])
    i += n_cap + 1
    scratch_i = scratch(ipool[i:i + 2 * heap])
    i += 2 * heap
    chosen = scratch(ipool[i:i + heap])
    i += heap
    sel = scratch(ipool[i:i + big + 2 * maxM0])
    i += big + 2 * maxM0
    buf = scratch(ipool[i:i + maxM0])
    f = 0
    top_k = scratch(fpool[f:f + heap])
    f += heap
    cand_k = scratch(fpool[f:f + n_cap + 1])
    f += n_cap + 1
    scratch_k = scratch(fpool[f:f + 2 * heap])
    f += 2 * heap
    dbuf = scratch(fpool[f:f + maxM0])
    tag = 0
    for q in range(start, stop):
        level = levels[q]
        ep = state[0]
        maxl = state[1]
        if ep < 0:
            state[0] = q
            state[1] = level
            continue
        cur = ep
        if level < maxl:  # greedy descent through the layers above the new node's level
            cur_d = dist(space, X, q, cur)
            for lv in range(maxl, level, -1):
                changed = True
                while changed:
                    changed = False
                    row = block_start[cur] + lv - 1
                    for j in range(count_up[row]):
                        c = links_up[row, j]
                        d = dist(space, X, q, c)
                        if d < cur_d:
                            cur_d = d
                            cur = c
                            changed = True
        ep_deleted = deleted[ep]
        for lv in range(min(level, maxl), -1, -1):
            tag += 1
            nt = search_layer(space, X, q, cur, lv, efc, links0, count0, links_up, count_up, block_start, deleted,
                              visited, tag, top_k, top_i, cand_k, cand_i, buf, dbuf)
            if ep_deleted:
                nt = push(top_k, top_i, nt, dist(space, X, q, ep), ep, False)
                if nt > efc:
                    nt = pop(top_k, top_i, nt, False)
            cur = mutually_connect(space, X, q, lv, M, maxM, maxM0, top_k, top_i, nt, links0, count0, links_up,
                                   count_up, block_start, scratch_k, scratch_i, chosen, sel, simple)
        if level > maxl:
            state[0] = q
            state[1] = level
