"""Willshaw net: a clipped-Hebbian binary associative memory (Willshaw, Buneman & Longuet-Higgins,
Nature 1969), its synapse matrix bit-packed.

store(cue, target) sets synapse i→j for every active cue bit i and target bit j (W ← W ∨ x yᵀ).
recall(cue) computes each target unit's dendritic sum Σ_i W[i, j] x_i and fires the units whose sum
reaches theta — by default |cue|, Willshaw's rule: a unit fires only if it is wired to every
active cue bit. Auto-association is store(x, x).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.base import Estimator
from labkit.sdr import theory
from labkit.sdr.sdr import SDR, active_indices, as_rng, check_length
from labkit.validate import check_array, check_bool, check_int, fail

__all__ = ["WillshawMemory", "random_patterns", "recall_curve"]


class WillshawMemory(Estimator):
    """Hetero- or auto-associative Willshaw net mapping n-bit cues to n_out-bit targets.

    w is the number of active bits the stored patterns are expected to have (used by the theory
    helpers and the recall curve); patterns of other sizes are stored as given.
    """

    def __init__(self, n: int, w: int, *, n_out: int | None = None):
        n, w, _, _ = theory._check(n, w, 1, 0)
        n_out = n if n_out is None else check_int("n_out", n_out, low=1)
        if n * ((n_out + 7) // 8) > 2**31:
            raise fail("n, n_out", "a synapse matrix of at most 2 GiB (n·n_out/8 bytes)", f"{n} x {n_out}",
                       described=True)
        self.n, self.w, self.n_out = n, w, n_out
        self._W = np.zeros((n, (n_out + 7) // 8), np.uint8)  # row i: packed targets wired to cue bit i
        self.n_stored = 0

    # learning ------------------------------------------------------------------------------
    def store(self, cue, target) -> None:
        """W[i, j] ← 1 for active cue bit i and active target bit j (clipped Hebbian rule)."""
        ci = active_indices(cue, self.n, "cue")
        ti = active_indices(target, self.n_out, "target")
        row = np.packbits(np.bincount(ti, minlength=self.n_out).astype(bool), bitorder="little")
        self._W[ci] |= row
        self.n_stored += 1

    def store_batch(self, cues, targets=None) -> None:
        """cues (m, w) active-index rows or (m, n) binary rows; targets likewise (None: auto)."""
        cues = self._as_rows(cues, "cues")
        targets = cues if targets is None else self._as_rows(targets, "targets")
        if len(targets) != len(cues):
            raise fail("targets", f"{len(cues)} rows like cues", len(targets))
        pairs = [(self._as_sdr(c, self.n, "cues"), self._as_sdr(t, self.n_out, "targets"))
                 for c, t in zip(cues, targets, strict=True)]  # all checked before anything is stored
        for c, t in pairs:
            self.store(c, t)

    @staticmethod
    def _as_rows(rows, name):
        if isinstance(rows, (list, tuple)) and rows and all(isinstance(r, SDR) for r in rows):
            return list(rows)
        return list(check_array(name, rows, ndim=2))

    @staticmethod
    def _as_sdr(row, n, name):
        if isinstance(row, SDR):
            return row
        a = np.asarray(row)
        if a.size != n:
            try:
                return SDR(n, a)
            except (TypeError, ValueError) as e:
                raise fail(name, f"rows of active indices in [0, {n}) or of {n} binary values",
                           str(e), described=True) from None
        return SDR.from_dense(check_length(a, n, name))

    # recall --------------------------------------------------------------------------------
    def dendritic_sums(self, cue) -> np.ndarray:
        """(n_out,) int: Σ_i W[i, j]·x_i, the number of active cue bits wired to target unit j."""
        ci = active_indices(cue, self.n, "cue")
        rows = np.unpackbits(self._W[ci], axis=1, count=self.n_out, bitorder="little")
        return rows.sum(axis=0, dtype=np.int64)

    def recall(self, cue, theta: int | None = None, *, k: int | None = None) -> SDR:
        """The target units whose dendritic sum reaches theta (default: the number of active cue
        bits), or with k=…, the k units with the largest sums (k-winners-take-all; ties by index)."""
        sums = self.dendritic_sums(cue)
        if k is not None:
            if theta is not None:
                raise fail("theta, k", "one recall rule, not both", f"theta={theta}, k={k}", described=True)
            k = check_int("k", k, low=1, high=self.n_out)
            return SDR(self.n_out, np.argsort(-sums, kind="stable")[:k])
        if theta is None:
            theta = len(active_indices(cue, self.n, "cue"))
        theta = check_int("theta", theta, low=0, high=self.n)
        return SDR(self.n_out, np.flatnonzero(sums >= theta))

    def recall_steps(self, cue, steps: int = 3, theta: int | None = None, *, k: int | None = None) -> list[dict]:
        """Iterated auto-associative completion: feed each output back as the next cue. One dict
        per step with the cue, its dendritic sums, the threshold used and the output."""
        if self.n_out != self.n:
            raise fail("cue", "an auto-associative memory to iterate on (n_out == n)", f"n_out={self.n_out}",
                       described=True)
        steps = check_int("steps", steps, low=1)
        x = cue if isinstance(cue, SDR) else SDR(self.n, active_indices(cue, self.n, "cue"))
        out = []
        for step in range(steps):
            sums = self.dendritic_sums(x)
            y = self.recall(x, theta, k=k)
            out.append({"step": step, "cue": x, "sums": sums,
                        "theta": x.w if theta is None and k is None else theta, "output": y})
            if y == x or y.w == 0:
                break
            x = y
        return out

    # plain data for inspectors -------------------------------------------------------------
    @property
    def synapses(self) -> np.ndarray:
        """(n, n_out) bool: the synapse matrix, unpacked (a copy)."""
        return np.unpackbits(self._W, axis=1, count=self.n_out, bitorder="little").astype(bool)

    @property
    def packed(self) -> np.ndarray:
        """(n, ceil(n_out/8)) uint8: the stored bit-packed matrix (read-only view)."""
        v = self._W.view()
        v.setflags(write=False)
        return v

    @property
    def nbytes(self) -> int:
        return int(self._W.nbytes)

    def fill_fraction(self, *, off_diagonal: bool | None = None) -> float:
        """Fraction of synapses set. For an auto-associative net (n_out == n) the diagonal i→i is
        left out by default, as in p1 = 1 − (1 − w(w−1)/(n(n−1)))^M (theory.willshaw_fill)."""
        ones = int(np.unpackbits(self._W).sum())
        off = self.n_out == self.n if off_diagonal is None else check_bool("off_diagonal", off_diagonal)
        if not off:
            return ones / (self.n * self.n_out)
        i = np.arange(min(self.n, self.n_out))
        diag = int(((self._W[i, i >> 3] >> (i & 7).astype(np.uint8)) & 1).sum(dtype=np.int64))
        return (ones - diag) / (self.n * self.n_out - min(self.n, self.n_out))

    def snapshot(self) -> dict:
        """Plain data: sizes, patterns stored, fill fraction (as fill_fraction()), bytes used."""
        return {"n": self.n, "n_out": self.n_out, "w": self.w, "n_stored": self.n_stored,
                "fill_fraction": self.fill_fraction(), "nbytes": self.nbytes}

    def __repr__(self) -> str:
        return f"WillshawMemory(n={self.n}, w={self.w}, n_out={self.n_out}, n_stored={self.n_stored})"


def random_patterns(n: int, w: int, m: int, seed=None) -> np.ndarray:
    """(m, w) int64: m independent random w-of-n SDRs as sorted active-index rows."""
    n, w, _, _ = theory._check(n, w, 1, 0)
    m = check_int("m", m, low=0)
    if m * n > 2**27:
        raise fail("m", f"m·n <= 2**27 (the sampler draws an (m, n) key matrix), m <= {2**27 // n}", m)
    rng = as_rng(seed)
    if m == 0:
        return np.zeros((0, w), np.int64)
    return np.sort(np.argpartition(rng.random((m, n)), w - 1, axis=1)[:, :w], axis=1)


def recall_curve(n: int, w: int, Ms, seed=0, *, max_checked: int = 2000, progress: bool = False) -> pd.DataFrame:
    """Store random auto-associative patterns one by one; at each M in Ms recall (full cue,
    theta = w) up to max_checked of the stored patterns. Columns M, exact_recall (fraction recalled
    with no missing or extra unit), false_units (mean extra units), fill (measured, off-diagonal),
    fill_theory (p1), false_units_theory ((n−w)·p1^w)."""
    n, w, _, _ = theory._check(n, w, 1, 0)
    Ms = sorted(check_array("Ms", Ms, ndim=1, kind="integer", min_size=1).tolist())
    if Ms[0] <= 0:
        raise fail("Ms", "positive pattern counts", Ms)
    max_checked = check_int("max_checked", max_checked, low=1)
    progress = check_bool("progress", progress)
    rng = as_rng(seed)
    pats = random_patterns(n, w, Ms[-1], rng)
    mem = WillshawMemory(n, w)
    rows, stored = [], 0
    it = Ms
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(Ms, desc="Willshaw recall")
    for M in it:
        for p in pats[stored:M]:
            mem.store(SDR(n, p), SDR(n, p))
        stored = M
        check = pats[rng.choice(M, size=min(M, max_checked), replace=False)]
        extra = np.array([mem.recall(SDR(n, p)).w - w for p in check])  # Willshaw never loses a unit
        rows.append({"M": M, "exact_recall": float(np.mean(extra == 0)), "false_units": float(extra.mean()),
                     "fill": mem.fill_fraction(), "fill_theory": theory.willshaw_fill(n, w, M),
                     "false_units_theory": theory.willshaw_false_units(n, w, M)})
    return pd.DataFrame(rows)
