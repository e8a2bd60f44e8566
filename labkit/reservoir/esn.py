"""`ESN`: an echo state network (Jaeger 2001, GMD Report 148; Lukoševičius 2012, "A practical guide to
applying echo state networks", LNCS 7700) with reservoirpy 0.4.2's names, update rule and readout.

    x[t] = (1 - lr) x[t-1] + lr f(W x[t-1] + Win u[t] + bias)          reservoirpy `Reservoir._step`
    y[t] = x[t] Wout + b_out                                            reservoirpy `Ridge`
    Wout = (X_c' X_c + ridge I)^-1 X_c' Y_c,  X_c, Y_c centred;  b_out = mean(Y) - mean(X) Wout

Only the readout learns. State semantics, stated once (reservoirpy issues #193, #215):
  * `fit(X, Y, warmup)` starts from the zero state (or `x0`), runs X, fits on the states after the
    first `warmup` steps, and leaves the reservoir in its last state;
  * `predict(X)` / `run(X)` continue from the current state (as reservoirpy's run after fit does);
    `reset=True` starts them from the zero state instead; `reset()` does so explicitly;
  * `generate(n_steps, warmup=X_seed)` resets, runs the seed (teacher forcing), then feeds each
    prediction back as the next input (closed loop).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.linalg.blas
import scipy.sparse as sp

from labkit.base import Estimator
from labkit.reservoir import kernels
from labkit.reservoir.weights import random_W, random_Win, spectral_radius
from labkit.validate import check_array, check_choice, check_float, check_int, check_seed, fail

__all__ = ["ESN", "run_states", "ridge_readout"]

ACTIVATIONS = {"tanh": np.tanh, "identity": lambda a: a, "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
               "relu": lambda a: np.maximum(a, 0.0)}
MAX_UNITS = 20_000


def run_states(W, drive: np.ndarray, x0: np.ndarray, lr: float, activation: str = "tanh") -> np.ndarray:
    """The readable path: (T, N) states for a (T, N) drive (Win u + bias), one step at a time."""
    f, x, out = ACTIVATIONS[activation], x0.copy(), np.empty_like(drive)
    for t in range(len(drive)):
        x = (1 - lr) * x + lr * f(W @ x + drive[t])   # leaky integration of the squashed input
        out[t] = x
    return out


def check_targets(X: np.ndarray, Y, warmup) -> tuple[np.ndarray, int]:
    """Y as (T, outputs) float64 for inputs X (T, inputs), and warmup < T: the checks every readout's fit shares."""
    Y = check_array("Y", Y, ndim=(1, 2), dtype=np.float64, min_size=1)
    Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
    if len(Y) != len(X):
        raise fail("Y", f"{len(X)} time steps, as X", f"{len(Y)}", described=True)
    warmup = check_int("warmup", warmup, low=0)
    if warmup >= len(X):
        raise fail("warmup", f"fewer than the {len(X)} time steps of X", warmup)
    return Y, warmup


def ridge_readout(S: np.ndarray, Y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """(Wout (N, outputs), b_out (outputs,)) for states S (T, N) and targets Y (T, outputs): reservoirpy's
    `Ridge` — centred normal equations (S_c' S_c + ridge I) Wout = S_c' Y_c, a symmetric system."""
    n, s_mean, t_mean = len(S), S.mean(axis=0), Y.mean(axis=0)
    # S'S: BLAS syrk fills its upper triangle only, half the work; the symmetric solve reads only that triangle
    XXT = scipy.linalg.blas.dsyrk(1.0, S.T) if S.flags.c_contiguous else S.T @ S
    XXT -= n * np.outer(s_mean, s_mean)
    XXT[np.diag_indices_from(XXT)] += ridge
    YXT = S.T @ Y - n * np.outer(s_mean, t_mean)
    try:   # Cholesky (twice LAPACK's symmetric-indefinite solve here); a semi-definite XXT (ridge 0) takes the latter
        try:
            Wout = scipy.linalg.cho_solve(scipy.linalg.cho_factor(XXT, lower=False), YXT)
        except np.linalg.LinAlgError:
            Wout = scipy.linalg.solve(XXT, YXT, assume_a="sym", lower=False)
    except np.linalg.LinAlgError:
        raise fail("ridge", "a value > 0 large enough to regularise these states (their covariance is "
                   "singular)", ridge) from None
    return Wout, t_mean - s_mean @ Wout


def _weights_arg(name, value, shape):
    if value is None:
        return None
    if sp.issparse(value):
        value = value.toarray()
    return check_array(name, value, shape=shape, dtype=np.float64)


class ESN(Estimator):
    """Echo state network: a fixed random reservoir of `units` leaky tanh units and a ridge readout.

    units, lr, sr, input_scaling, rc_connectivity, input_connectivity, bias, activation, seed: as
    reservoirpy's `Reservoir`; ridge: as its `Ridge`. W (units, units), Win (units, inputs) and bias
    (units,) may be given as arrays, as in reservoirpy: then sr, input_scaling and the connectivities
    are not applied to them. backend: "fast" (numba) or "readable" (the numpy loop of `run_states`).
    """

    def __init__(self, units: int = 100, lr: float = 1.0, sr: float = 1.0, input_scaling: float = 1.0,
                 rc_connectivity: float = 0.1, input_connectivity: float = 0.1, bias=0.0, ridge: float = 0.0,
                 activation: str = "tanh", seed=None, W=None, Win=None, backend: str = "fast"):
        W_given = W is not None
        self.units = check_int("units", units, 1, MAX_UNITS)
        self.lr = check_float("lr", lr, 0.0, 1.0, low_open=True)
        self.sr = check_float("sr", sr, 0.0, low_open=True)
        self.input_scaling = check_float("input_scaling", input_scaling, 0.0)
        self.rc_connectivity = check_float("rc_connectivity", rc_connectivity, 0.0, 1.0, low_open=True)
        self.input_connectivity = check_float("input_connectivity", input_connectivity, 0.0, 1.0, low_open=True)
        if isinstance(bias, (int, float, np.integer, np.floating)) and not isinstance(bias, bool):
            self.bias = check_float("bias", bias)
        else:
            self.bias = check_array("bias", bias, shape=(self.units,), dtype=np.float64)
        self.ridge = check_float("ridge", ridge, 0.0)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.seed = check_seed("seed", seed)
        self.W = _weights_arg("W", W, (self.units, self.units))
        self.Win = _weights_arg("Win", Win, (self.units, None))
        self.backend = check_choice("backend", backend, ("fast", "readable"))
        self.W_ = sp.csr_matrix(self.W) if W_given else None
        self.Win_ = self.Win
        self.state_ = np.zeros(self.units)
        self.readout_ = self.intercept_ = self.states_ = None

    # -- the reservoir ------------------------------------------------------------------------------
    def _init_weights(self, inputs: int) -> None:
        if self.Win_ is not None and self.Win_.shape[1] != inputs:
            raise fail("X", f"{self.Win_.shape[1]} input features (Win has {self.Win_.shape[1]} columns)",
                       f"{inputs}", described=True)
        if self.W_ is not None and self.Win_ is not None:
            return
        rng = np.random.default_rng(self.seed)
        rng_win, rng_w = rng.spawn(2)
        if self.W_ is None:
            self.W_ = random_W(self.units, self.sr, self.rc_connectivity, rng_w)
        if self.Win_ is None:
            self.Win_ = random_Win(self.units, inputs, self.input_scaling, self.input_connectivity, rng_win)

    def _inputs(self, name, X) -> np.ndarray:
        X = check_array(name, X, ndim=(1, 2), dtype=np.float64, min_size=1)
        X = X.reshape(-1, 1) if X.ndim == 1 else X
        self._init_weights(X.shape[1])
        return X

    def _states(self, X: np.ndarray, x0: np.ndarray) -> np.ndarray:
        if self.backend == "readable":
            return run_states(self.W_, X @ self.Win_.T + self.bias, x0, self.lr, self.activation)
        if getattr(self, "_csr", (None,))[0] is not self.W_:   # converted once per W, not per step of generate
            self._csr = (self.W_, kernels.csr(self.W_))
        return kernels.esn_states(*self._csr[1], X, np.ascontiguousarray(self.Win_, dtype=np.float64),
                                  self.bias_, x0, np.full(self.units, self.lr),
                                  kernels.ACTIVATIONS[self.activation])

    def reset(self, x0=None) -> "ESN":
        """Set the reservoir state to zero (or to `x0`, (units,))."""
        self.state_ = np.zeros(self.units) if x0 is None else check_array("x0", x0, shape=(self.units,),
                                                                          dtype=np.float64)
        return self

    def run(self, X, reset: bool = False) -> np.ndarray:
        """(T, units) reservoir states for inputs X (T, inputs), from the current state (zero if `reset`)."""
        X = self._inputs("X", X)
        if reset:
            self.reset()
        states = self._states(X, self.state_)
        self.state_ = states[-1].copy()
        return states

    # -- the readout ---------------------------------------------------------------------------------
    def fit(self, X, Y, warmup: int = 0) -> "ESN":
        """Run X (T, inputs) from the zero state and fit the ridge readout on states[warmup:] -> Y[warmup:]."""
        X = self._inputs("X", X)
        Y, warmup = check_targets(X, Y, warmup)
        self.states_ = self.run(X, reset=True)
        self.readout_, self.intercept_ = ridge_readout(self.states_[warmup:], Y[warmup:], self.ridge)
        return self

    def _check_fitted(self):
        if self.readout_ is None:
            raise ValueError("ESN: not fitted yet; call fit(X, Y) first")

    def predict(self, X, reset: bool = False) -> np.ndarray:
        """(T, outputs) readout of the states for X, from the current state (zero if `reset`)."""
        self._check_fitted()
        return self.run(X, reset=reset) @ self.readout_ + self.intercept_

    def generate(self, n_steps: int, warmup=None) -> np.ndarray:
        """(n_steps, outputs) closed-loop outputs, each fed back as the next input. `warmup` (T, inputs):
        a seed sequence run first from the zero state (teacher forcing); without it the loop starts
        from the current state and the last prediction. Needs outputs == inputs."""
        self._check_fitted()
        n_steps = check_int("n_steps", n_steps, low=1, high=50_000_000)
        if self.readout_.shape[1] != self.Win_.shape[1]:
            raise fail("n_steps", f"a readout with as many outputs as inputs ({self.Win_.shape[1]}) to feed back",
                       f"{self.readout_.shape[1]} outputs", described=True)
        if warmup is not None:
            warmup = check_array("warmup", warmup, ndim=(1, 2), dtype=np.float64, min_size=1)
            y = self.predict(warmup, reset=True)[-1]
        else:
            y = self.state_ @ self.readout_ + self.intercept_
        out = np.empty((n_steps, self.readout_.shape[1]))
        for t in range(n_steps):
            out[t] = y
            y = self.run(y[None, :])[-1] @ self.readout_ + self.intercept_
        return out

    # -- inspection and files ------------------------------------------------------------------------
    @property
    def bias_(self) -> np.ndarray:
        """The bias of each unit, (units,) float64 (a number given as `bias` is every unit's)."""
        return np.broadcast_to(np.asarray(self.bias, dtype=np.float64), (self.units,)).copy()

    @property
    def spectral_radius_(self) -> float:
        if self.W_ is None:
            raise ValueError("ESN: weights are drawn on the first fit/run (they depend on the input size)")
        return spectral_radius(self.W_)

    def snapshot(self) -> dict:
        """The reservoir as plain data: W (units, units) dense, Win, bias, the readout, the current state
        and the states of the last fit (None before the first run)."""
        return {"W": None if self.W_ is None else self.W_.toarray(), "Win": self.Win_,
                "bias": self.bias_,
                "readout": self.readout_, "intercept": self.intercept_, "state": self.state_.copy(),
                "states": self.states_}

    def save(self, path) -> None:
        from labkit.reservoir.files import save_esn
        save_esn(self, path)

    @classmethod
    def load(cls, path) -> "ESN":
        from labkit.reservoir.files import load_esn
        return load_esn(path)

