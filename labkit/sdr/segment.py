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

from labkit.sdr import theory
from labkit.sdr.sdr import SDR, active_indices, as_rng
from labkit.sdr.willshaw import random_patterns


class SegmentMemory:
    """Segments of s synapses on n presynaptic bits, threshold theta; patterns have w active bits."""

    def __init__(self, n: int, w: int, s: int, theta: int, *, patterns_per_segment: int = 1, seed=None):
        n, w, s, theta = theory._check(n, w, s, theta)
        if s > w:
            raise ValueError(f"s: a segment subsamples a pattern, expected s <= w={w}, got {s}")
        k = theory._int(patterns_per_segment, "patterns_per_segment")
        if k < 1:
            raise ValueError(f"patterns_per_segment: expected >= 1, got {k}")
        self.n, self.w, self.s, self.theta, self.patterns_per_segment = n, w, s, theta, k
        self._rng = as_rng(seed)
        self._syn = np.zeros((0, n), bool)  # (segments, n): synapse of segment g on bit i
        self._open = 0                      # patterns on the last segment so far
        self.n_stored = 0

    def store(self, x) -> int:
        """Grow synapses to s randomly chosen active bits of x; returns the segment's index."""
        active = active_indices(x, self.n, "x")
        if active.size < self.s:
            raise ValueError(f"x: has {active.size} active bits, fewer than the s={self.s} synapses to sample")
        chosen = self._rng.choice(active, size=self.s, replace=False)
        if self._open == 0:
            self._syn = np.vstack([self._syn, np.zeros((1, self.n), bool)])
        self._syn[-1, chosen] = True
        self._open = (self._open + 1) % self.patterns_per_segment
        self.n_stored += 1
        return len(self._syn) - 1

    def store_batch(self, patterns) -> np.ndarray:
        return np.array([self.store(p if isinstance(p, SDR) else SDR(self.n, p)) for p in patterns], np.int64)

    # recognition ---------------------------------------------------------------------------
    def overlaps(self, x) -> np.ndarray:
        """(segments,) int: active synapses on each segment for input x."""
        return self._syn[:, active_indices(x, self.n, "x")].sum(axis=1)

    def overlaps_batch(self, X) -> np.ndarray:
        """(m, segments) int for (m, k) active-index rows X."""
        X = np.asarray(X, np.int64)
        if X.ndim != 2 or (X.size and (X.min() < 0 or X.max() >= self.n)):
            raise ValueError(f"X: expected (m, k) active-bit indices in [0, {self.n}), got shape {X.shape}")
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
        return {"n": self.n, "w": self.w, "s": self.s, "theta": self.theta, "n_stored": self.n_stored,
                "segments": len(self._syn), "patterns_per_segment": self.patterns_per_segment,
                "segment_sizes": self.segment_sizes}

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
    """Each (w,) index row with v of its bits replaced by v bits that were off."""
    patterns = np.asarray(patterns, np.int64)
    m, w = patterns.shape
    if not 0 <= v <= min(w, n - w):
        raise ValueError(f"v: expected 0 <= v <= min(w, n - w) = {min(w, n - w)}, got {v}")
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
    if mem.patterns_per_segment != 1 and v:
        raise ValueError("v: the noise formula is for one pattern per segment (patterns_per_segment=1)")
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
    rng = as_rng(seed)
    pats = random_patterns(n, w, n_patterns, rng)
    mem = SegmentMemory(n, w, s, theta, seed=rng)
    mem.store_batch(pats)
    return pd.DataFrame([{"v": v, **measure(mem, pats, v, trials, rng)} for v in vs])
