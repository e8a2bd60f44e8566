"""Dendritic-segment memory: each stored pattern becomes a segment of s synapses subsampled from
its w active bits; an input is recognised when some segment sees >= theta active synapses — an
NMDA spike (Ahmad & Hawkins, "How do neurons operate on sparse distributed representations?",
2016, §"Subsampling" and §"Unions").

With patterns_per_segment = k > 1 the synapses of k patterns are mixed on one segment (the union
property): the segment then recognises any of the k, at the price of more false matches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.base import Estimator
from labkit.sdr import theory
from labkit.sdr.sdr import SDR, active_indices, as_rng
from labkit.sdr.willshaw import random_patterns
from labkit.validate import check_array, check_instance, check_int, fail

__all__ = ["SegmentMemory", "noisy", "measure", "noise_sweep"]


MAX_KEYS = 2**27  # random keys one draw of patterns or noise holds (rows x n float64: 1 GiB)


def _check_shape(n, w, s, theta):
    n, w, s, theta = theory._check(n, w, s, theta)
    if n > MAX_KEYS:  # segments are dense rows of n synapse flags; patterns are drawn from n keys
        raise fail("n", f"an integer <= {MAX_KEYS} (dense rows of n bits)", n)
    if s > w:
        raise fail("s", f"s <= w={w} (a segment subsamples a pattern)", s)
    return n, w, s, theta


class SegmentMemory(Estimator):
    """Segments of s synapses on n presynaptic bits, threshold theta; patterns have w active bits."""

    def __init__(self, n: int, w: int, s: int, theta: int, *, patterns_per_segment: int = 1, seed=None):
        n, w, s, theta = _check_shape(n, w, s, theta)
        k = check_int("patterns_per_segment", patterns_per_segment, low=1)
        self.n, self.w, self.s, self.theta, self.patterns_per_segment = n, w, s, theta, k
        self.seed = seed
        self._rng = as_rng(seed)
        self._syn = np.zeros((0, n), bool)  # (segments, n): synapse of segment g on bit i
        self._open = 0                      # patterns on the last segment so far
        self.n_stored = 0

    def store(self, x) -> int:
        """Grow synapses to s randomly chosen active bits of x; returns the segment's index."""
        active = active_indices(x, self.n, "x")
        if active.size < self.s:
            raise fail("x", f"at least s={self.s} active bits to sample synapses from", f"{active.size} active bits",
                       described=True)
        chosen = self._rng.choice(active, size=self.s, replace=False)
        if self._open == 0:
            self._syn = np.vstack([self._syn, np.zeros((1, self.n), bool)])
        self._syn[-1, chosen] = True
        self._open = (self._open + 1) % self.patterns_per_segment
        self.n_stored += 1
        return len(self._syn) - 1

    def store_batch(self, patterns) -> np.ndarray:
        """Store each pattern ((m, k) active-index rows, or a list of SDRs); returns their segments."""
        if isinstance(patterns, (list, tuple)) and patterns and all(isinstance(p, SDR) for p in patterns):
            sdrs = list(patterns)
        else:
            rows = check_array("patterns", patterns, ndim=2, kind="integer")
            if rows.size and (rows.min() < 0 or rows.max() >= self.n):
                raise fail("patterns", f"active-bit indices in [0, {self.n})", f"{rows.min()}..{rows.max()}",
                           described=True)
            sdrs = [SDR(self.n, p) for p in rows]
        for i, p in enumerate(sdrs):  # all checked before anything is stored
            if p.n != self.n or p.w < self.s:
                raise fail(f"patterns[{i}]", f"an SDR of n={self.n} with >= s={self.s} active bits",
                           f"n={p.n}, w={p.w}", described=True)
        return np.array([self.store(p) for p in sdrs], np.int64).reshape(len(sdrs))

    # recognition ---------------------------------------------------------------------------
    def overlaps(self, x) -> np.ndarray:
        """(segments,) int: active synapses on each segment for input x."""
        return self._syn[:, active_indices(x, self.n, "x")].sum(axis=1)

    def overlaps_batch(self, X) -> np.ndarray:
        """(m, segments) int for (m, k) active-index rows X."""
        X = check_array("X", X, ndim=2, kind="integer").astype(np.int64, copy=False)
        if X.size and (X.min() < 0 or X.max() >= self.n):
            raise fail("X", f"active-bit indices in [0, {self.n})", f"{X.min()}..{X.max()}", described=True)
        return self._syn[:, X].sum(axis=2).T

    def recognize(self, x) -> bool:
        """True when some segment reaches theta (a dendritic NMDA spike)."""
        return bool((self.overlaps(x) >= self.theta).any())

    def matching_segments(self, x) -> np.ndarray:
        return np.flatnonzero(self.overlaps(x) >= self.theta)

    @property
    def synapses(self) -> np.ndarray:
        """(segments, n) bool, a copy."""
        return self._syn.copy()

    @property
    def segment_sizes(self) -> np.ndarray:
        return self._syn.sum(axis=1)

    def snapshot(self) -> dict:
        """Plain data: sizes, patterns stored, segments and their sizes, the (segments, n) synapses."""
        return {"n": self.n, "w": self.w, "s": self.s, "theta": self.theta, "n_stored": self.n_stored,
                "segments": len(self._syn), "patterns_per_segment": self.patterns_per_segment,
                "segment_sizes": self.segment_sizes, "synapses": self.synapses}

    # theory beside measurement -------------------------------------------------------------
    def false_positive_theory(self) -> tuple[float, float]:
        """(per segment, any segment) probability that a random w-bit input is recognised.
        Given the input, the segments are independent uniformly random sets of their sizes, so
        P(any) = 1 − Π_g (1 − fp(n, w, s_g, θ)) holds exactly."""
        fps = np.array([theory.false_match_probability(self.n, self.w, int(sz), self.theta)
                        if sz >= self.theta else 0.0 for sz in self.segment_sizes])
        return float(fps.mean()), float(1 - np.prod(1 - fps))

    def __repr__(self) -> str:
        return (f"SegmentMemory(n={self.n}, w={self.w}, s={self.s}, theta={self.theta}, "
                f"segments={len(self._syn)}, n_stored={self.n_stored})")


def noisy(patterns: np.ndarray, n: int, v: int, rng, chunk: int = 2048) -> np.ndarray:
    """Each (w,) index row of patterns (m, w) with v of its bits replaced by v bits that were off.
    rng: a seed or numpy Generator."""
    n = check_int("n", n, low=1)
    patterns = check_array("patterns", patterns, ndim=2, kind="integer").astype(np.int64, copy=False)
    m, w = patterns.shape
    if patterns.size and (patterns.min() < 0 or patterns.max() >= n):
        raise fail("patterns", f"active-bit indices in [0, n={n})", f"{patterns.min()}..{patterns.max()}",
                   described=True)
    v = check_int("v", v, low=0, high=min(w, n - w))
    chunk = check_int("chunk", chunk, low=1)
    if min(chunk, m) * n > MAX_KEYS:
        raise fail("n", f"min(chunk, rows)·n <= {MAX_KEYS} random keys per draw", f"{min(chunk, m)}·{n}",
                   described=True)
    rng = as_rng(rng, "rng")
    out = np.empty_like(patterns)
    for lo in range(0, m, chunk):
        P = patterns[lo:lo + chunk]
        rows = np.arange(len(P))[:, None]
        keep = np.take_along_axis(P, np.argsort(rng.random(P.shape), axis=1)[:, : w - v], axis=1)
        keys = rng.random((len(P), n))
        keys[rows, P] = 2.0  # bits already on can't be drawn as noise
        new = np.argpartition(keys, v - 1, axis=1)[:, :v] if v else np.empty((len(P), 0), np.int64)
        out[lo:lo + chunk] = np.concatenate([keep, new], axis=1)
    return out


def measure(mem: SegmentMemory, patterns: np.ndarray, v: int, trials: int = 20_000, seed=0) -> dict:
    """Measured false-positive and false-negative rates beside the formulas.

    fp: `trials` random w-bit inputs against every segment (per-segment rate and any-segment rate).
    fn: each stored pattern (rows of `patterns`, stored in order, one per segment) with v bits
    replaced by noise, tested on its own segment; formula theory.false_negative_probability.
    """
    check_instance("mem", mem, SegmentMemory)
    patterns = check_array("patterns", patterns, ndim=2, kind="integer", min_size=1)
    if patterns.shape[1] != mem.w:
        raise fail("patterns", f"rows of w={mem.w} active indices", f"shape {patterns.shape}", described=True)
    v = check_int("v", v, low=0, high=min(mem.w, mem.n - mem.w))
    if mem.patterns_per_segment != 1 and v:
        raise fail("v", "0: the noise formula is for one pattern per segment (patterns_per_segment=1)", v)
    trials = check_int("trials", trials, low=1)
    if trials * mem.n > MAX_KEYS:
        raise fail("trials", f"trials·n <= {MAX_KEYS}, trials <= {MAX_KEYS // mem.n}", trials)
    rng = as_rng(seed)
    Xr = random_patterns(mem.n, mem.w, trials, rng)
    hits = mem.overlaps_batch(Xr) >= mem.theta
    per_seg, any_seg = mem.false_positive_theory()
    reps = max(1, trials // max(len(patterns), 1))
    P = np.repeat(patterns, reps, axis=0)
    own = np.repeat(np.arange(len(patterns)) // mem.patterns_per_segment, reps)
    ov = mem.overlaps_batch(noisy(P, mem.n, v, rng))[np.arange(len(P)), own]
    fn_theory = (theory.false_negative_probability(mem.w, mem.s, mem.theta, v)
                 if mem.patterns_per_segment == 1 else np.nan)
    return {"fp_segment": float(hits.mean()), "fp_segment_theory": per_seg,
            "fp_any": float(hits.any(axis=1).mean()), "fp_any_theory": any_seg,
            "fn": float(np.mean(ov < mem.theta)), "fn_theory": fn_theory,
            "fp_trials": trials * len(mem.segment_sizes), "fn_trials": len(P)}


def noise_sweep(n: int, w: int, s: int, theta: int, vs, n_patterns: int = 50, trials: int = 5000,
                seed=0) -> pd.DataFrame:
    """measure() for each noise level v in vs on one memory of n_patterns random patterns."""
    n, w, s, theta = _check_shape(n, w, s, theta)
    vs = [check_int(f"vs[{i}]", v, low=0, high=min(w, n - w))
          for i, v in enumerate(check_array("vs", vs, ndim=1, kind="integer").tolist())]
    n_patterns = check_int("n_patterns", n_patterns, low=1, high=MAX_KEYS // n)
    rng = as_rng(seed)
    pats = random_patterns(n, w, n_patterns, rng)
    mem = SegmentMemory(n, w, s, theta, seed=rng)
    mem.store_batch(pats)
    return pd.DataFrame([{"v": v, **measure(mem, pats, v, trials, rng)} for v in vs])
