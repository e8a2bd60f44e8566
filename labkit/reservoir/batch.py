"""`ESNBatch`: many echo state networks (seeds or hyper-parameters) run in one pass.

The B reservoirs are stacked into one block-diagonal W (sum of units square, CSR) with one leak rate per
unit, so a single call of the state kernel steps all of them through the input; each block only reads
its own units, so every reservoir's states are the ones it computes alone (same sums in the same
order). The ridge readout is then fitted per reservoir on its own block of states, with the same
function `ESN.fit` uses: the fitted ESNs are identical to ESNs fitted one by one
(tests/test_reservoir_batch.py), and each one is left fitted, usable alone.

    W_batch = diag(W_1, ..., W_B)    drive = [X Win_1' + bias_1, ..., X Win_B' + bias_B]
    x[t]    = (1 - lr) x[t-1] + lr f(W_batch x[t-1] + drive[t])     lr: each unit its reservoir's

`labkit.sweep` stays the tool for grids that outgrow one process.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from labkit.base import Estimator
from labkit.reservoir import kernels
from labkit.reservoir.esn import ESN, check_targets, ridge_readout, run_states
from labkit.validate import check_array, check_choice, fail, type_fail

__all__ = ["ESNBatch"]

MAX_TOTAL_UNITS = 200_000


class ESNBatch(Estimator):
    """B echo state networks stepped together: `ESNBatch([ESN(seed=s, ...) for s in range(10)])`.

    esns: a non-empty list of ESN (any hyper-parameters; one activation for all). backend: "fast"
    (one numba call for the whole batch) or "readable" (`esn.run_states` on the block-diagonal W).
    After `fit`, each ESN in `esns` is fitted (readout_, states_, state_), as if fitted alone.
    """

    def __init__(self, esns, backend: str = "fast"):
        if not isinstance(esns, (list, tuple)):
            raise type_fail("esns", "a list of ESN", esns)
        if len(esns) == 0:
            raise fail("esns", "at least one ESN", "an empty list", described=True)
        for i, e in enumerate(esns):
            if not isinstance(e, ESN):
                raise type_fail("esns", f"a list of ESN (item {i} is not one)", e)
        acts = {e.activation for e in esns}
        if len(acts) > 1:
            raise fail("esns", "ESNs with one activation", f"activations {sorted(acts)}", described=True)
        total = sum(e.units for e in esns)
        if total > MAX_TOTAL_UNITS:
            raise fail("esns", f"at most {MAX_TOTAL_UNITS} units in all", f"{total}", described=True)
        self.esns = list(esns)
        self.backend = check_choice("backend", backend, ("fast", "readable"))

    @classmethod
    def seeds(cls, seeds, backend: str = "fast", **params) -> "ESNBatch":
        """One ESN(**params, seed=s) per seed in `seeds` (a list of non-negative integers)."""
        if not isinstance(seeds, (list, tuple, range, np.ndarray)):
            raise type_fail("seeds", "a list of integer seeds", seeds)
        return cls([ESN(**params, seed=s) for s in seeds], backend=backend)

    # -- stepping all reservoirs at once --------------------------------------------------------------
    @property
    def offsets(self) -> np.ndarray:
        """(B + 1,) first unit of each reservoir in the stacked state (the last: total units)."""
        return np.concatenate([[0], np.cumsum([e.units for e in self.esns])])

    def _inputs(self, name, X) -> np.ndarray:
        X = check_array(name, X, ndim=(1, 2), dtype=np.float64, min_size=1)
        X = X.reshape(-1, 1) if X.ndim == 1 else X
        for e in self.esns:
            e._init_weights(X.shape[1])   # draws each reservoir's weights as it would alone
        return X

    def _states(self, X: np.ndarray, x0: np.ndarray) -> np.ndarray:
        """(T, total units) states of every reservoir, stacked along units."""
        W = sp.block_diag([e.W_ for e in self.esns], format="csr")
        Win = np.vstack([e.Win_ for e in self.esns])
        bias = np.concatenate([e.bias_ for e in self.esns])
        lr = np.concatenate([np.full(e.units, e.lr) for e in self.esns])
        act = self.esns[0].activation
        if self.backend == "readable":
            return run_states(W, X @ Win.T + bias, x0, lr, act)
        return kernels.esn_states(*kernels.csr(W), X, Win, bias, x0, lr, kernels.ACTIVATIONS[act])

    def run(self, X, reset: bool = False) -> list[np.ndarray]:
        """[(T, units_b)] states of each reservoir for inputs X (T, inputs), each from its current state
        (zero if `reset`); each ESN's state_ moves on, as `ESN.run` does."""
        X = self._inputs("X", X)
        if reset:
            for e in self.esns:
                e.reset()
        x0 = np.concatenate([e.state_ for e in self.esns])
        states = self._states(X, x0)
        off = self.offsets
        out = [np.ascontiguousarray(states[:, a:b]) for a, b in zip(off[:-1], off[1:], strict=True)]
        for e, s in zip(self.esns, out, strict=True):
            e.state_ = s[-1].copy()
        return out

    def fit(self, X, Y, warmup: int = 0) -> "ESNBatch":
        """Fit every ESN on the same X (T, inputs) -> Y (T, outputs), as `ESN.fit` does: run from the zero
        state, ridge readout (each ESN's own `ridge`) on states[warmup:]."""
        X = self._inputs("X", X)
        Y, warmup = check_targets(X, Y, warmup)
        for e, states in zip(self.esns, self.run(X, reset=True), strict=True):
            e.states_ = states
            e.readout_, e.intercept_ = ridge_readout(states[warmup:], Y[warmup:], e.ridge)
        return self

    def predict(self, X, reset: bool = False) -> np.ndarray:
        """(B, T, outputs) readouts of every ESN for X, each from its current state (zero if `reset`)."""
        for e in self.esns:
            e._check_fitted()
        states = self.run(X, reset=reset)
        return np.stack([s @ e.readout_ + e.intercept_ for e, s in zip(self.esns, states, strict=True)])

    def snapshot(self) -> dict:
        """{"offsets": (B + 1,), "reservoirs": [ESN.snapshot() of each]} (plain data)."""
        return {"offsets": self.offsets, "reservoirs": [e.snapshot() for e in self.esns]}
