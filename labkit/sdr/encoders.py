"""Encoders: values -> SDRs whose overlap reflects similarity (Purdy, "Encoding data for HTM
systems", 2016; random-projection coding as in Dasgupta, Stevens & Navlakha, Science 2017).

Each encoder takes hyper-parameters in its constructor, `encode(x)` returns an SDR and
`encode_batch(xs)` an (m, n) bool matrix.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.sdr import theory
from labkit.sdr.sdr import SDR, as_rng


class ScalarEncoder:
    """A block of w contiguous bits whose start moves with the value: nearby values share bits.
    Bucket i = round((x − minval) / (maxval − minval) · (n − w)); bits i .. i+w−1 are on."""

    def __init__(self, n: int, w: int, minval: float, maxval: float, *, clip: bool = False):
        self.n, self.w, _, _ = theory._check(n, w, 1, 0)
        if not (math.isfinite(minval) and math.isfinite(maxval)) or not minval < maxval:
            raise ValueError(f"minval, maxval: expected finite minval < maxval, got {minval}, {maxval}")
        self.minval, self.maxval, self.clip = float(minval), float(maxval), bool(clip)

    @property
    def resolution(self) -> float:
        """Value change that moves the block by one bit."""
        return (self.maxval - self.minval) / max(self.n - self.w, 1)

    def bucket(self, x: float) -> int:
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"x: expected a finite number, got {x}")
        if not self.minval <= x <= self.maxval:
            if not self.clip:
                raise ValueError(f"x: {x} is outside [minval, maxval] = [{self.minval}, {self.maxval}] (use clip=True)")
            x = min(max(x, self.minval), self.maxval)
        return int(round((x - self.minval) / (self.maxval - self.minval) * (self.n - self.w)))

    def encode(self, x: float) -> SDR:
        i = self.bucket(x)
        return SDR(self.n, np.arange(i, i + self.w))

    def encode_batch(self, xs) -> np.ndarray:
        return np.stack([self.encode(x).dense for x in np.asarray(xs, float).ravel()])


class CategoryEncoder:
    """Each category gets its own w bits; distinct categories share none (overlap 0, identical
    ones overlap w). n = w · len(categories)."""

    def __init__(self, categories, w: int):
        cats = list(categories)
        if not cats:
            raise ValueError("categories: expected at least one category")
        if len(set(cats)) != len(cats):
            raise ValueError("categories: expected distinct categories")
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w <= 0:
            raise ValueError(f"w: expected a positive int, got {w!r}")
        self.categories, self.w, self.n = cats, int(w), int(w) * len(cats)
        self._pos = {c: i for i, c in enumerate(cats)}

    def encode(self, x) -> SDR:
        if x not in self._pos:
            raise ValueError(f"x: unknown category {x!r}; known: {self.categories[:10]}")
        i = self._pos[x]
        return SDR(self.n, np.arange(i * self.w, (i + 1) * self.w))

    def encode_batch(self, xs) -> np.ndarray:
        return np.stack([self.encode(x).dense for x in xs])


class RandomProjectionEncoder:
    """Dense vectors -> SDRs: project on n random Gaussian directions and keep the w largest
    (winner-take-all after random expansion, the fly olfactory hash of Dasgupta et al. 2017).
    Vectors at a small angle share most winners, so overlap tracks cosine similarity."""

    def __init__(self, dim: int, n: int, w: int, seed=None):
        self.n, self.w, _, _ = theory._check(n, w, 1, 0)
        dim = theory._int(dim, "dim")
        if dim <= 0:
            raise ValueError(f"dim: expected a positive int, got {dim}")
        self.dim = dim
        self.projection = as_rng(seed).standard_normal((n, dim))  # (n, dim)

    def _check(self, X: np.ndarray, name: str) -> np.ndarray:
        X = np.asarray(X, float)
        if X.shape[-1:] != (self.dim,):
            raise ValueError(f"{name}: expected last dimension {self.dim}, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError(f"{name}: contains NaN or inf")
        return X

    def active_batch(self, X) -> np.ndarray:
        """(m, w) sorted active indices: the w largest projections of each row (ties by index)."""
        X = self._check(X, "X").reshape(-1, self.dim)
        proj = X @ self.projection.T  # (m, n)
        return np.sort(np.argsort(-proj, axis=1, kind="stable")[:, : self.w], axis=1)

    def encode(self, x) -> SDR:
        x = self._check(x, "x")
        if x.ndim != 1:
            raise ValueError(f"x: expected one ({self.dim},) vector, got shape {x.shape}")
        return SDR(self.n, self.active_batch(x[None])[0])

    def encode_batch(self, X) -> np.ndarray:
        idx = self.active_batch(X)
        out = np.zeros((len(idx), self.n), bool)
        np.put_along_axis(out, idx, True, axis=1)
        return out
