"""SDR: a sparse distributed representation — w active bits out of n (Ahmad & Hawkins 2015, §2).

Stored as its sorted active indices; `dense` gives the (n,) bool view. Overlap is the size of the
intersection (the dot product of the binary vectors), the similarity every formula in theory.py
counts. An SDR is a value (a frozen dataclass of n and the read-only index array), not a memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.validate import check_int, check_seed, fail, type_fail

__all__ = ["SDR"]


def as_rng(seed, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from an int seed (>= 0), None, or an existing Generator."""
    seed = check_seed(name, seed)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_binary(x, name: str) -> np.ndarray:
    """x as a bool array, or ValueError naming `name` when it holds anything but 0/1."""
    a = np.asarray(x)
    if a.dtype == bool:
        return a
    if a.dtype.kind not in "biuf":
        raise type_fail(name, "a binary (0/1 or bool) array", x)
    if a.size and not np.isin(a, (0, 1)).all():
        bad = a[~np.isin(a, (0, 1))].ravel()[:3]
        raise fail(name, "a binary (0/1 or bool) array", f"values like {bad.tolist()}", described=True)
    return a.astype(bool)


def check_length(x, n: int, name: str) -> np.ndarray:
    """x as an (n,) bool array (an SDR's dense view)."""
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise type_fail(name, f"an SDR or a (n={n},) binary array", x)
    a = np.asarray(x)
    if a.ndim != 1 or a.size != n:
        raise fail(name, f"an SDR or a (n={n},) binary array", f"shape {a.shape}", described=True)
    return check_binary(a, name)


def active_indices(x, n: int, name: str) -> np.ndarray:
    """Active indices of an SDR or of an (n,) binary array; ValueError if the size is wrong."""
    if isinstance(x, SDR):
        if x.n != n:
            raise fail(name, f"an SDR of n={n} bits", f"n={x.n}", described=True)
        return x.active
    return np.flatnonzero(check_length(x, n, name))


def check_sdr(x, name: str) -> SDR:
    if not isinstance(x, SDR):
        raise type_fail(name, "an SDR", x)
    return x


@dataclass(frozen=True, eq=False, repr=False, init=False)
class SDR:
    """n bits, of which those at `active` are on.

    SDR(n, active) takes the indices of the active bits; SDR.from_dense(bits) takes an (n,) 0/1
    array; SDR.random(n, w, seed) draws w of n uniformly.
    """

    __slots__ = ("n", "active")
    n: int
    active: np.ndarray

    def __init__(self, n: int, active):
        n = check_int("n", n, low=1)
        if isinstance(active, (str, bytes, dict, set)) or active is None:
            raise type_fail("active", "a 1-d array of bit indices", active)
        a = np.asarray(active)
        if a.ndim != 1:
            raise fail("active", "a 1-d array of bit indices", f"shape {a.shape}", described=True)
        if a.size and a.dtype.kind not in "iu":
            if not (a.dtype.kind == "f" and np.all(a == np.round(a))):
                raise fail("active", "integer bit indices", f"dtype {a.dtype}", described=True)
        a = np.sort(a.astype(np.int64))
        if a.size and (a[0] < 0 or a[-1] >= n):
            raise fail("active", f"indices in [0, {n})", f"{a[0]}..{a[-1]}", described=True)
        if a.size > 1 and np.any(a[1:] == a[:-1]):
            raise fail("active", "distinct indices (an SDR bit is either on or off)", "repeats", described=True)
        a.setflags(write=False)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "active", a)

    def __reduce__(self):
        return (SDR, (self.n, np.array(self.active)))

    @classmethod
    def from_dense(cls, bits) -> SDR:
        if isinstance(bits, (str, bytes, dict, set)) or bits is None:
            raise type_fail("bits", "a 1-d binary array", bits)
        b = check_binary(bits, "bits")
        if b.ndim != 1 or b.size == 0:
            raise fail("bits", "a non-empty 1-d array", f"shape {b.shape}", described=True)
        return cls(b.size, np.flatnonzero(b))

    @classmethod
    def random(cls, n: int, w: int, seed=None) -> SDR:
        n = check_int("n", n, low=1)
        w = check_int("w", w, low=1, high=n)
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
        check_sdr(other, name)
        if other.n != self.n:
            raise fail(name, f"an SDR of n={self.n} bits (sizes differ)", f"n={other.n}", described=True)

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
        theta = check_int("theta", theta, low=0)
        return self.overlap(other) >= theta

    def subsample(self, s: int, seed=None) -> SDR:
        """s of the active bits chosen uniformly — the synapses a segment keeps (2016, "Subsampling")."""
        s = check_int("s", s, low=1)
        if s > self.w:
            raise fail("s", f"an integer in [1, w={self.w}]", s)
        return SDR(self.n, as_rng(seed).choice(self.active, size=s, replace=False))

    def add_noise(self, v: int, seed=None) -> SDR:
        """Replace v active bits by v bits that were off: same w, overlap with self is w - v."""
        v = check_int("v", v, low=0, high=min(self.w, self.n - self.w))
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
