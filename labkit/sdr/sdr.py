"""SDR: a sparse distributed representation — w active bits out of n (Ahmad & Hawkins 2015, §2).

Stored as its sorted active indices; `dense` gives the (n,) bool view. Overlap is the size of the
intersection (the dot product of the binary vectors), the similarity every formula in theory.py
counts.
"""

from __future__ import annotations

import numpy as np


def as_rng(seed) -> np.random.Generator:
    """A numpy Generator from an int seed, None, or an existing Generator."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_binary(x, name: str) -> np.ndarray:
    """x as a bool array, or ValueError naming `name` when it holds anything but 0/1."""
    a = np.asarray(x)
    if a.dtype == bool:
        return a
    if a.size and not np.isin(a, (0, 1)).all():
        bad = a[~np.isin(a, (0, 1))].ravel()[:3]
        raise ValueError(f"{name}: expected a binary (0/1 or bool) array, found values like {bad.tolist()}")
    return a.astype(bool)


def active_indices(x, n: int, name: str) -> np.ndarray:
    """Active indices of an SDR or of an (n,) binary array; ValueError if the size is wrong."""
    if isinstance(x, SDR):
        if x.n != n:
            raise ValueError(f"{name}: expected an SDR of n={n} bits, got n={x.n}")
        return x.active
    return SDR.from_dense(check_length(x, n, name)).active


def check_length(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.size != n:
        raise ValueError(f"{name}: expected an SDR or a (n={n},) binary array, got shape {a.shape}")
    return check_binary(a, name)


class SDR:
    """n bits, of which those at `active` are on.

    SDR(n, active) takes the indices of the active bits; SDR.from_dense(bits) takes an (n,) 0/1
    array; SDR.random(n, w, seed) draws w of n uniformly.
    """

    __slots__ = ("n", "active")

    def __init__(self, n: int, active):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"n: expected a positive int, got {n!r}")
        a = np.asarray(active)
        if a.ndim != 1:
            raise ValueError(f"active: expected a 1-D array of bit indices, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if not (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a))):
                raise ValueError(f"active: expected integer bit indices, got dtype {a.dtype}")
        a = np.sort(a.astype(np.int64))
        if a.size and (a[0] < 0 or a[-1] >= n):
            raise ValueError(f"active: indices must lie in [0, {n}), got {a[0]}..{a[-1]}")
        if a.size > 1 and np.any(a[1:] == a[:-1]):
            raise ValueError("active: indices must be distinct (an SDR bit is either on or off)")
        a.setflags(write=False)
        self.n, self.active = int(n), a

    @classmethod
    def from_dense(cls, bits) -> SDR:
        b = check_binary(bits, "bits")
        if b.ndim != 1 or b.size == 0:
            raise ValueError(f"bits: expected a non-empty 1-D array, got shape {b.shape}")
        return cls(b.size, np.flatnonzero(b))

    @classmethod
    def random(cls, n: int, w: int, seed=None) -> SDR:
        if not 0 < w <= n:
            raise ValueError(f"w: expected 0 < w <= n={n}, got {w}")
        return cls(n, as_rng(seed).choice(n, size=w, replace=False))

    # views ---------------------------------------------------------------------------------
    @property
    def w(self) -> int:
        """Number of active bits."""
        return int(self.active.size)

    @property
    def sparsity(self) -> float:
        return self.w / self.n

    @property
    def dense(self) -> np.ndarray:
        """(n,) bool."""
        d = np.zeros(self.n, bool)
        d[self.active] = True
        return d

    @property
    def sparse(self) -> np.ndarray:
        """Sorted active indices, (w,) int64 (read-only)."""
        return self.active

    # operations ----------------------------------------------------------------------------
    def _same_n(self, other: SDR, name: str = "other") -> None:
        if not isinstance(other, SDR):
            raise TypeError(f"{name}: expected an SDR, got {type(other).__name__}")
        if other.n != self.n:
            raise ValueError(f"{name}: sizes differ (n={self.n} vs n={other.n})")

    def overlap(self, other: SDR) -> int:
        """|self ∩ other| — the number of bits on in both (Ahmad & Hawkins 2015, eq. 1)."""
        self._same_n(other)
        return int(np.intersect1d(self.active, other.active, assume_unique=True).size)

    def intersection(self, other: SDR) -> SDR:
        self._same_n(other)
        return SDR(self.n, np.intersect1d(self.active, other.active, assume_unique=True))

    def union(self, *others: SDR) -> SDR:
        """Bitwise OR of this SDR with others (the union property, Ahmad & Hawkins 2016, §"Unions")."""
        for o in others:
            self._same_n(o, "others")
        return SDR(self.n, np.unique(np.concatenate([self.active, *[o.active for o in others]])))

    def matches(self, other: SDR, theta: int) -> bool:
        """overlap >= theta: the match rule of a dendritic segment with threshold theta."""
        return self.overlap(other) >= theta

    def subsample(self, s: int, seed=None) -> SDR:
        """s of the active bits chosen uniformly — the synapses a segment keeps (2016, "Subsampling")."""
        if not 0 < s <= self.w:
            raise ValueError(f"s: expected 0 < s <= w={self.w}, got {s}")
        return SDR(self.n, as_rng(seed).choice(self.active, size=s, replace=False))

    def add_noise(self, v: int, seed=None) -> SDR:
        """Replace v active bits by v bits that were off: same w, overlap with self is w - v."""
        if not 0 <= v <= min(self.w, self.n - self.w):
            raise ValueError(f"v: expected 0 <= v <= min(w, n - w) = {min(self.w, self.n - self.w)}, got {v}")
        rng = as_rng(seed)
        keep = rng.choice(self.active, size=self.w - v, replace=False)
        off = np.setdiff1d(np.arange(self.n), self.active, assume_unique=True)
        return SDR(self.n, np.concatenate([keep, rng.choice(off, size=v, replace=False)]))

    # python protocol -----------------------------------------------------------------------
    def __and__(self, other: SDR) -> SDR:
        return self.intersection(other)

    def __or__(self, other: SDR) -> SDR:
        return self.union(other)

    def __eq__(self, other) -> bool:
        return isinstance(other, SDR) and other.n == self.n and np.array_equal(other.active, self.active)

    def __hash__(self) -> int:
        return hash((self.n, self.active.tobytes()))

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        head = ", ".join(map(str, self.active[:8])) + (", ..." if self.w > 8 else "")
        return f"SDR(n={self.n}, w={self.w}, active=[{head}])"
