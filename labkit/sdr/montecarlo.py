"""Monte Carlo twins of theory.py: count overlaps of random SDRs and compare with the formulas.

The sampler draws each w-of-n SDR with Floyd's algorithm (Bentley & Floyd 1987: w draws, no
rejection) into a bit set, so a trial costs O(w) instead of the O(n) of shuffling or argpartition.
Trials are split into fixed chunks, each with its own splitmix64 stream seeded from (seed, chunk):
the counts are the same on any number of threads. backend="numpy" is the readable version
(argpartition of uniform keys, the textbook sampler) and is ~50x slower.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit, prange

from labkit.sdr import theory

_CHUNK = 1 << 14  # trials per random stream


@njit(cache=True, inline="always")
def _next(state):
    # splitmix64 (Steele, Lea & Flood 2014): state is a 1-element uint64 array
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _below(state, m):
    # uniform int in [0, m) by rejection on the top 32 bits (m < 2**32): exactly uniform
    m32 = np.uint64(m)
    limit = (np.uint64(1) << np.uint64(32)) // m32 * m32
    while True:
        r = _next(state) >> np.uint64(32)
        if r < limit:
            return np.int64(r % m32)


@njit(cache=True)
def _floyd(state, n, k, bits, out):
    # Floyd's sampling: for j = n-k .. n-1 pick t in [0, j]; take t, or j if t is taken.
    # Sets the k chosen bits in `bits` (uint64 words) and writes them to out[:k].
    i = 0
    for j in range(n - k, n):
        t = _below(state, j + 1)
        if (bits[t >> 6] >> np.uint64(t & 63)) & np.uint64(1):
            t = j
        bits[t >> 6] |= np.uint64(1) << np.uint64(t & 63)
        out[i] = t
        i += 1


@njit(cache=True, parallel=True)
def _overlap_counts(n, w, s, trials, seed):
    n_chunks = (trials + _CHUNK - 1) // _CHUNK
    counts = np.zeros((n_chunks, s + 1), np.int64)
    for c in prange(n_chunks):
        state = np.array([np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(c)], np.uint64)
        stored = np.zeros((n + 63) // 64, np.uint64)
        query = np.zeros((n + 63) // 64, np.uint64)
        idx_s = np.empty(s, np.int64)
        idx_q = np.empty(w, np.int64)
        for _ in range(min(_CHUNK, trials - c * _CHUNK)):
            _floyd(state, n, s, stored, idx_s)  # the segment's s synapses
            _floyd(state, n, w, query, idx_q)   # a random w-of-n input
            b = 0
            for t in idx_q:
                b += (stored[t >> 6] >> np.uint64(t & 63)) & np.uint64(1)
            counts[c, b] += 1
            for t in idx_s:
                stored[t >> 6] = 0
            for t in idx_q:
                query[t >> 6] = 0
    return counts.sum(axis=0)


@njit(cache=True, parallel=True)
def _union_counts(n, w, M, a, n_unions, queries, seed):
    counts = np.zeros((n_unions, a + 1), np.int64)
    sizes = np.zeros(n_unions, np.int64)
    for u in prange(n_unions):
        state = np.array([np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(u) + np.uint64(1 << 40)], np.uint64)
        union = np.zeros((n + 63) // 64, np.uint64)
        one = np.zeros((n + 63) // 64, np.uint64)
        idx = np.empty(max(w, a), np.int64)
        for _ in range(M):  # OR M random w-bit SDRs into the union
            _floyd(state, n, w, one, idx)
            for i in range(w):
                t = idx[i]
                union[t >> 6] |= np.uint64(1) << np.uint64(t & 63)
                one[t >> 6] = 0
        size = 0
        for word in union:
            while word:
                word &= word - np.uint64(1)
                size += 1
        sizes[u] = size
        for _ in range(queries):
            _floyd(state, n, a, one, idx)
            b = 0
            for i in range(a):
                t = idx[i]
                b += (union[t >> 6] >> np.uint64(t & 63)) & np.uint64(1)
                one[t >> 6] = 0
            counts[u, b] += 1
    return counts, sizes


def _overlap_counts_numpy(n, w, s, trials, seed, batch=20_000):
    # Readable twin: a random w-subset is the w smallest of n uniform keys (argpartition).
    # With s <= w the segment is the first s of a random SDR; with s > w the roles swap.
    rng = np.random.default_rng(seed)
    counts = np.zeros(s + 1, np.int64)
    k_lo, k_hi = min(s, w), max(s, w)
    done = 0
    while done < trials:
        m = min(batch, trials - done)
        big = np.argpartition(rng.random((m, n)), k_hi - 1, axis=1)[:, :k_hi]   # random k_hi-set
        small = np.argpartition(rng.random((m, n)), k_lo - 1, axis=1)[:, :k_lo]  # random k_lo-set
        mask = np.zeros((m, n), bool)
        np.put_along_axis(mask, big, True, axis=1)
        counts += np.bincount(np.take_along_axis(mask, small, axis=1).sum(axis=1), minlength=s + 1)[: s + 1]
        done += m
    return counts


def overlap_counts(n: int, w: int, s: int, trials: int, seed: int = 0, *, backend: str = "numba") -> np.ndarray:
    """(s+1,) int64: how many of `trials` random pairs (an s-bit segment, a w-bit input, both
    uniform over n bits) overlapped in b = 0..s bits. Its tail sums are Monte Carlo estimates of
    theory.false_match_probability(n, w, s, theta)."""
    n, w, s, _ = theory._check(n, w, s, 0)
    trials, seed = theory._int(trials, "trials"), theory._int(seed, "seed")
    if trials <= 0:
        raise ValueError(f"trials: expected a positive int, got {trials}")
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed}")
    if backend == "numba":
        return _overlap_counts(n, w, s, trials, seed)
    if backend == "numpy":
        return _overlap_counts_numpy(n, w, s, trials, seed)
    raise ValueError(f"backend: expected 'numba' or 'numpy', got {backend!r}")


def _tail_table(counts: np.ndarray, thetas, formula) -> pd.DataFrame:
    trials = int(counts.sum())
    tail = np.cumsum(counts[::-1])[::-1]  # tail[b] = #trials with overlap >= b
    rows = []
    for th in thetas:
        hits = int(tail[th]) if th < len(tail) else 0
        p = formula(th)
        sigma = np.sqrt(p * (1 - p) / trials)  # binomial standard error of the estimate
        rows.append({"theta": th, "hits": hits, "measured": hits / trials, "formula": p,
                     "rel_err": (hits / trials - p) / p if p > 0 else np.nan,
                     "z": (hits / trials - p) / sigma if sigma > 0 else np.nan})
    return pd.DataFrame(rows)


def false_match_mc(n: int, w: int, s: int | None = None, thetas=range(1, 7), trials: int = 2_000_000,
                   seed: int = 0, *, backend: str = "numba") -> pd.DataFrame:
    """Measured false-match rate beside the exact formula for each theta: columns theta, hits,
    measured, formula, rel_err, z (the error in binomial standard errors)."""
    s = w if s is None else s
    counts = overlap_counts(n, w, s, trials, seed, backend=backend)
    thetas = [theory._check(n, w, s, th)[3] for th in thetas]
    return _tail_table(counts, thetas, lambda th: theory.false_match_probability(n, w, s, th))


def union_false_match_mc(n: int, w: int, M: int, thetas, n_unions: int = 200, queries: int = 5000,
                         seed: int = 0, *, a: int | None = None) -> pd.DataFrame:
    """Monte Carlo over n_unions random unions of M w-bit SDRs × `queries` random a-bit inputs
    each, beside the plug-in and the size-averaged formulas. Columns theta, hits, measured,
    formula (size-averaged), rel_err, z (in standard errors of the mean over unions), plugin,
    mean_union_size."""
    n, w, _, _ = theory._check(n, w, 1, 0)
    a = w if a is None else theory._int(a, "a")
    M, n_unions, queries = theory._int(M, "M"), theory._int(n_unions, "n_unions"), theory._int(queries, "queries")
    for name, v in (("M", M), ("n_unions", n_unions), ("queries", queries)):
        if v <= 0:
            raise ValueError(f"{name}: expected a positive int, got {v}")
    if not 0 < a <= n:
        raise ValueError(f"a: expected 0 < a <= n={n}, got {a}")
    counts, sizes = _union_counts(n, w, M, a, n_unions, queries, theory._int(seed, "seed"))
    thetas = list(thetas)
    avg = {th: theory.union_false_match_probability(n, w, M, th, a=a, method="average") for th in thetas}
    df = _tail_table(counts.sum(axis=0), thetas, avg.__getitem__)
    # queries on one union are correlated through its size: the standard error comes from the
    # spread of the per-union rates, not from the binomial formula
    tails = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1] / queries
    se = np.array([tails[:, th].std(ddof=1) / np.sqrt(n_unions) if th <= a else 0.0 for th in thetas])
    df["z"] = (df["measured"] - df["formula"]) / np.where(se > 0, se, np.nan)
    df["plugin"] = [theory.union_false_match_probability(n, w, M, th, a=a) for th in thetas]
    df["mean_union_size"] = sizes.mean()
    return df
