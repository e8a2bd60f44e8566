"""Monte Carlo twins of theory.py: count overlaps of random SDRs and compare with the formulas.

The sampler draws each w-of-n SDR with Floyd's algorithm (Bentley & Floyd, "Programming pearls:
a sample of brilliance", CACM 30(9), 1987: w draws, no rejection) into a bit set, so a trial costs
O(w) instead of the O(n) of shuffling or argpartition. Trials are split into fixed chunks, each
with its own splitmix64 stream seeded from (seed, chunk): the counts are the same on any number
of threads.

The loops below are the readable path (backend="readable": plain Python on numpy scalars, one
operation per line). They are also the fast path: `kernels.py` compiles these very functions with
numba (backend="fast", the default), so both backends give identical counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import prange
from numba.extending import register_jitable

from labkit.sdr import theory
from labkit.validate import check_choice, check_int, fail, type_fail

__all__ = ["overlap_counts", "false_match_mc", "union_false_match_mc"]

_CHUNK = 1 << 14        # trials per random stream
MAX_DRAWS = 2**31       # random SDRs one call may draw: minutes of work at a few million a second, not days
MAX_COUNTS = 2**25      # int64 histogram cells one call may hold (256 MiB)
MAX_N = 2**28           # bits of one SDR here: two bit sets of n/8 bytes per stream (and _below needs n < 2**32)
BACKENDS = ("fast", "readable")


@register_jitable(inline="always")
def _next(state):
    # splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
    # OOPSLA 2014: mix64 with Stafford's Mix13 constants): state is a 1-element uint64 array
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@register_jitable(inline="always")
def _below(state, m):
    # uniform int in [0, m) by rejection on the top 32 bits (m < 2**32): exactly uniform
    m32 = np.uint64(m)
    limit = (np.uint64(1) << np.uint64(32)) // m32 * m32
    while True:
        r = _next(state) >> np.uint64(32)
        if r < limit:
            return np.int64(r % m32)


@register_jitable
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


def _overlap_counts(n, w, s, trials, seed):
    # (s+1,) histogram of |segment ∩ input| over `trials` random (s-bit segment, w-bit input) pairs
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


def _union_counts(n, w, M, a, n_unions, queries, seed):
    # per union: OR M random w-bit SDRs, then histogram the overlap of `queries` random a-bit inputs
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
                word &= word - np.uint64(1)  # clear the lowest set bit (popcount)
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


def _run(name: str, backend: str, *args):
    """Call the readable loop `name` or its compiled twin in kernels.py."""
    if check_choice("backend", backend, BACKENDS) == "fast":
        from labkit.sdr import kernels
        return getattr(kernels, name)(*args)
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps modulo 2**64 on purpose
        return globals()["_" + name](*args)


def _sizes(n, w, s):
    n, w, s, _ = theory._check(n, w, s, 0)
    if n > MAX_N:
        raise fail("n", f"an integer <= {MAX_N} (the sampler's bit sets)", n)
    return n, w, s


def _seed(seed) -> int:
    return check_int("seed", seed, low=0, high=2**63 - 1)


def _thetas(thetas, high: int) -> list[int]:
    if isinstance(thetas, (str, bytes)) or not hasattr(thetas, "__iter__"):
        raise type_fail("thetas", "a sequence of integers", thetas)
    return [check_int(f"thetas[{i}]", th, low=0, high=high) for i, th in enumerate(thetas)]


def overlap_counts(n: int, w: int, s: int, trials: int, seed: int = 0, *, backend: str = "fast") -> np.ndarray:
    """(s+1,) int64: how many of `trials` random pairs (an s-bit segment, a w-bit input, both
    uniform over n bits) overlapped in b = 0..s bits. Its tail sums are Monte Carlo estimates of
    theory.false_match_probability(n, w, s, theta). backend="readable" runs the same loops in
    plain Python (same counts, about 1000 times slower: ~2 ms per pair at n=2048, w=40)."""
    n, w, s = _sizes(n, w, s)
    trials = check_int("trials", trials, low=1, high=MAX_DRAWS // 2)      # two draws a trial
    if -(-trials // _CHUNK) * (s + 1) > MAX_COUNTS:                       # a histogram per stream
        raise fail("trials", f"trials·(s+1) <= {MAX_COUNTS * _CHUNK} (one histogram per {_CHUNK} trials)", trials)
    return _run("overlap_counts", backend, n, w, s, trials, _seed(seed))


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
    return pd.DataFrame(rows, columns=["theta", "hits", "measured", "formula", "rel_err", "z"])


def false_match_mc(n: int, w: int, s: int | None = None, thetas=range(1, 7), trials: int = 2_000_000,
                   seed: int = 0, *, backend: str = "fast") -> pd.DataFrame:
    """Measured false-match rate beside the exact formula for each theta: columns theta, hits,
    measured, formula, rel_err, z (the error in binomial standard errors)."""
    n, w, s = _sizes(n, w, w if s is None else s)
    thetas = _thetas(thetas, s)
    counts = overlap_counts(n, w, s, trials, seed, backend=backend)
    return _tail_table(counts, thetas, lambda th: theory.false_match_probability(n, w, s, th))


def union_false_match_mc(n: int, w: int, M: int, thetas, n_unions: int = 200, queries: int = 5000,
                         seed: int = 0, *, a: int | None = None, backend: str = "fast") -> pd.DataFrame:
    """Monte Carlo over n_unions random unions of M w-bit SDRs × `queries` random a-bit inputs
    each, beside the plug-in and the size-averaged formulas. Columns theta, hits, measured,
    formula (size-averaged), rel_err, z (in standard errors of the mean over unions), plugin,
    mean_union_size."""
    n, w, _ = _sizes(n, w, 1)
    a = w if a is None else check_int("a", a, low=1, high=n)
    M = check_int("M", M, low=1, high=theory.MAX_SIZE)
    n_unions, queries = check_int("n_unions", n_unions, low=1), check_int("queries", queries, low=1)
    if n_unions * (M + queries) > MAX_DRAWS or n_unions * (a + 1) > MAX_COUNTS:
        raise fail("n_unions, queries", f"n_unions·(M + queries) <= {MAX_DRAWS} random SDRs and "
                   f"n_unions·(a+1) <= {MAX_COUNTS} histogram cells", (n_unions, queries))
    thetas = _thetas(thetas, a)
    avg = {th: theory.union_false_match_probability(n, w, M, th, a=a, method="average") for th in thetas}
    counts, sizes = _run("union_counts", backend, n, w, M, a, n_unions, queries, _seed(seed))
    df = _tail_table(counts.sum(axis=0), thetas, avg.__getitem__)
    # queries on one union are correlated through its size: the standard error comes from the
    # spread of the per-union rates, not from the binomial formula
    tails = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1] / queries
    se = np.array([tails[:, th].std(ddof=1) / np.sqrt(n_unions) if n_unions > 1 else 0.0 for th in thetas])
    df["z"] = (df["measured"] - df["formula"]) / np.where(se > 0, se, np.nan)
    df["plugin"] = [theory.union_false_match_probability(n, w, M, th, a=a) for th in thetas]
    df["mean_union_size"] = sizes.mean()
    return df
