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

from labkit.sdr import theory
from labkit.sdr.sdr import SDR, active_indices, as_rng, check_length


class WillshawMemory:
    """Hetero- or auto-associative Willshaw net mapping n-bit cues to n_out-bit targets.

    w is the number of active bits the stored patterns are expected to have (used by the theory
    helpers and the recall curve); patterns of other sizes are stored as given.
    """

    def __init__(self, n: int, w: int, *, n_out: int | None = None):
        n, w, _, _ = theory._check(n, w, 1, 0)
        n_out = n if n_out is None else theory._int(n_out, "n_out")
        if n_out <= 0:
            raise ValueError(f"n_out: expected a positive int, got {n_out}")
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
        cues = list(cues)
        targets = cues if targets is None else list(targets)
        if len(targets) != len(cues):
            raise ValueError(f"targets: expected {len(cues)} rows like cues, got {len(targets)}")
        for c, t in zip(cues, targets, strict=True):
            self.store(self._as_sdr(c, self.n, "cues"), self._as_sdr(t, self.n_out, "targets"))

    @staticmethod
    def _as_sdr(row, n, name):
        if isinstance(row, SDR):
            return row
        a = np.asarray(row)
        return SDR(n, a) if a.size != n else SDR.from_dense(check_length(a, n, name))

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
                raise ValueError("theta, k: give one recall rule, not both")
            if not 0 < k <= self.n_out:
                raise ValueError(f"k: expected 0 < k <= n_out={self.n_out}, got {k}")
            return SDR(self.n_out, np.argsort(-sums, kind="stable")[:k])
        if theta is None:
            theta = len(active_indices(cue, self.n, "cue"))
        if not 0 <= theta <= self.n:
            raise ValueError(f"theta: expected 0 <= theta <= n={self.n}, got {theta}")
        return SDR(self.n_out, np.flatnonzero(sums >= theta))

    def recall_steps(self, cue, steps: int = 3, theta: int | None = None, *, k: int | None = None) -> list[dict]:
        """Iterated auto-associative completion: feed each output back as the next cue. One dict
        per step with the cue, its dendritic sums, the threshold used and the output."""
        if self.n_out != self.n:
            raise ValueError("recall_steps: iteration needs an auto-associative memory (n_out == n)")
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
        off = self.n_out == self.n if off_diagonal is None else off_diagonal
        if not off:
            return ones / (self.n * self.n_out)
        i = np.arange(min(self.n, self.n_out))
        diag = int(((self._W[i, i >> 3] >> (i & 7).astype(np.uint8)) & 1).sum(dtype=np.int64))
        return (ones - diag) / (self.n * self.n_out - min(self.n, self.n_out))

    def snapshot(self) -> dict:
        return {"n": self.n, "n_out": self.n_out, "w": self.w, "n_stored": self.n_stored,
                "fill_fraction": self.fill_fraction(), "nbytes": self.nbytes}

    def __repr__(self) -> str:
        return f"WillshawMemory(n={self.n}, w={self.w}, n_out={self.n_out}, n_stored={self.n_stored})"


def random_patterns(n: int, w: int, m: int, seed=None) -> np.ndarray:
    """(m, w) int64: m independent random w-of-n SDRs as sorted active-index rows."""
    n, w, _, _ = theory._check(n, w, 1, 0)
    rng = as_rng(seed)
    return np.sort(np.argpartition(rng.random((m, n)), w - 1, axis=1)[:, :w], axis=1)


def recall_curve(n: int, w: int, Ms, seed=0, *, max_checked: int = 2000, progress: bool = False) -> pd.DataFrame:
    """Store random auto-associative patterns one by one; at each M in Ms recall (full cue,
    theta = w) up to max_checked of the stored patterns. Columns M, exact_recall (fraction recalled
    with no missing or extra unit), false_units (mean extra units), fill (measured, off-diagonal),
    fill_theory (p1), false_units_theory ((n−w)·p1^w)."""
    Ms = sorted(int(m) for m in Ms)
    if not Ms or Ms[0] <= 0:
        raise ValueError(f"Ms: expected positive pattern counts, got {Ms}")
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
