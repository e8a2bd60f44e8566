"""Encoders: values -> SDRs whose overlap reflects similarity (Purdy, "Encoding data for HTM
systems", 2016; random-projection coding as in Dasgupta, Stevens & Navlakha, Science 2017).

Each encoder takes hyper-parameters in its constructor, `encode(x)` returns an SDR and
`encode_batch(xs)` an (m, n) bool matrix.
"""

from __future__ import annotations

import numpy as np

from labkit.base import Estimator
from labkit.sdr import theory
from labkit.sdr.sdr import SDR, as_rng
from labkit.validate import check_array, check_bool, check_float, check_int, fail, type_fail

__all__ = ["ScalarEncoder", "CategoryEncoder", "RandomProjectionEncoder"]


class ScalarEncoder(Estimator):
    """A block of w contiguous bits whose start moves with the value: nearby values share bits.
    Bucket i = round((x − minval) / (maxval − minval) · (n − w)); bits i .. i+w−1 are on."""

    def __init__(self, n: int, w: int, minval: float, maxval: float, *, clip: bool = False):
        self.n, self.w, _, _ = theory._check(n, w, 1, 0)
        self.minval = check_float("minval", minval)
        self.maxval = check_float("maxval", maxval)
        if not self.minval < self.maxval:
            raise fail("maxval", f"a number > minval={self.minval}", self.maxval)
        self.clip = check_bool("clip", clip)

    @property
    def resolution(self) -> float:
        """Value change that moves the block by one bit."""
        return (self.maxval - self.minval) / max(self.n - self.w, 1)

    def bucket(self, x: float, *, _name: str = "x") -> int:
        x = check_float(_name, x)
        if not self.minval <= x <= self.maxval:
            if not self.clip:
                raise fail(_name, f"a number in [minval, maxval] = [{self.minval}, {self.maxval}] (or clip=True)", x)
            x = min(max(x, self.minval), self.maxval)
        return int(round((x - self.minval) / (self.maxval - self.minval) * (self.n - self.w)))

    def encode(self, x: float) -> SDR:
        i = self.bucket(x)
        return SDR(self.n, np.arange(i, i + self.w))

    def _dense(self, x: float, name: str) -> np.ndarray:
        d = np.zeros(self.n, bool)
        i = self.bucket(x, _name=name)
        d[i:i + self.w] = True
        return d

    def encode_batch(self, xs) -> np.ndarray:
        """(m, n) bool: the encoding of each of the (m,) values xs."""
        xs = check_array("xs", xs, ndim=1, dtype=np.float64)
        out = np.zeros((len(xs), self.n), bool)
        for i, x in enumerate(xs):
            out[i] = self._dense(x, f"xs[{i}]")
        return out


class CategoryEncoder(Estimator):
    """Each category gets its own w bits; distinct categories share none (overlap 0, identical
    ones overlap w). n = w · len(categories)."""

    def __init__(self, categories, w: int):
        if isinstance(categories, (str, bytes, dict)) or not hasattr(categories, "__iter__"):
            raise type_fail("categories", "a list of distinct hashable categories", categories)
        cats = list(categories)
        if not cats:
            raise fail("categories", "at least one category", cats)
        try:
            distinct = len(set(cats)) == len(cats)
        except TypeError:
            raise type_fail("categories", "hashable categories", categories) from None
        if not distinct:
            raise fail("categories", "distinct categories", cats)
        w = check_int("w", w, low=1)
        self.categories, self.w, self.n = cats, w, w * len(cats)
        self._pos = {c: i for i, c in enumerate(cats)}

    def encode(self, x, *, _name: str = "x") -> SDR:
        try:
            i = self._pos[x]
        except (KeyError, TypeError):
            raise fail(_name, f"a known category (one of {self.categories[:10]})", x) from None
        return SDR(self.n, np.arange(i * self.w, (i + 1) * self.w))

    def encode_batch(self, xs) -> np.ndarray:
        """(m, n) bool: the encoding of each category in the sequence xs."""
        if isinstance(xs, (str, bytes, dict)) or not hasattr(xs, "__iter__"):
            raise type_fail("xs", "a sequence of categories", xs)
        out = np.zeros((len(xs := list(xs)), self.n), bool)
        for i, x in enumerate(xs):
            out[i] = self.encode(x, _name=f"xs[{i}]").dense
        return out


class RandomProjectionEncoder(Estimator):
    """Dense vectors -> SDRs: project on n random Gaussian directions and keep the w largest
    (winner-take-all after random expansion, the fly olfactory hash of Dasgupta et al. 2017).
    Vectors at a small angle share most winners, so overlap tracks cosine similarity."""

    def __init__(self, dim: int, n: int, w: int, seed=None):
        self.n, self.w, _, _ = theory._check(n, w, 1, 0)
        self.dim = check_int("dim", dim, low=1)
        if self.n * self.dim > 2**28:
            raise fail("n, dim", "a projection of at most 2**28 entries", f"{self.n} x {self.dim}", described=True)
        self.seed = seed
        self.projection = as_rng(seed).standard_normal((self.n, self.dim))  # (n, dim)

    def _rows(self, X, name: str = "X") -> np.ndarray:
        return check_array(name, X, shape=(None, self.dim), dtype=np.float64)

    def active_batch(self, X) -> np.ndarray:
        """(m, w) sorted active indices: the w largest projections of each row of X (m, dim) (ties by index)."""
        X = self._rows(X)
        proj = X @ self.projection.T  # (m, n)
        return np.sort(np.argsort(-proj, axis=1, kind="stable")[:, : self.w], axis=1)

    def encode(self, x) -> SDR:
        """The SDR of one (dim,) vector."""
        x = check_array("x", x, shape=(self.dim,), dtype=np.float64)
        return SDR(self.n, self.active_batch(x[None])[0])

    def encode_batch(self, X) -> np.ndarray:
        """(m, n) bool: the SDR of each row of X (m, dim)."""
        idx = self.active_batch(X)
        out = np.zeros((len(idx), self.n), bool)
        np.put_along_axis(out, idx, True, axis=1)
        return out
