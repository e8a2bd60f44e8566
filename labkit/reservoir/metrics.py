"""Error measures and memory capacity, as reservoirpy 0.4.2 defines them (`reservoirpy/observables.py`).

    rmse   sqrt(mean((y - y_hat)^2))
    nrmse  rmse / norm(y),  norm: "minmax" (peak to peak, reservoirpy's default), "var", "mean", "q1q3"
    MC_k   squared correlation between u[t-k] and the readout trained to recall it (Jaeger 2001,
           "Short term memory in echo state networks", GMD Report 152, Def. 1); MC = sum_k MC_k <= N
           for N units (ibid., Prop. 2), with equality reachable by linear reservoirs.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from labkit.validate import check_array, check_choice, check_float, check_instance, check_int, check_seed, fail

__all__ = ["rmse", "nrmse", "rsquare", "memory_capacity"]

NORMS = {"minmax": lambda y: np.ptp(y), "var": lambda y: y.var(), "mean": lambda y: y.mean(),
         "q1q3": lambda y: np.quantile(y, 0.75) - np.quantile(y, 0.25)}


def _pair(y_true, y_pred):
    y_true = check_array("y_true", y_true, dtype=np.float64, min_size=1)
    y_pred = check_array("y_pred", y_pred, dtype=np.float64, min_size=1)
    if y_true.shape != y_pred.shape:
        raise fail("y_pred", f"the shape of y_true {y_true.shape}", f"shape {y_pred.shape}", described=True)
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def nrmse(y_true, y_pred, norm: str = "minmax") -> float:
    """rmse / norm(y_true) over all elements, reservoirpy's `nrmse` (default norm: peak to peak)."""
    check_choice("norm", norm, NORMS)
    y_true, y_pred = _pair(y_true, y_pred)
    return rmse(y_true, y_pred) / float(NORMS[norm](y_true))


def rsquare(y_true, y_pred) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))


def frozen_copy(esn, inputs: int = 1):
    """A fresh ESN with `esn`'s hyper-parameters and its weights as arrays (drawn first if need be, for
    `inputs` input features); an EIESN's copy is a plain ESN with its current (adapted) W."""
    from labkit.reservoir.esn import ESN
    if esn.W_ is None or esn.Win_ is None:
        esn._init_weights(inputs)
    params = {k: v for k, v in esn.get_params().items() if k in ESN._param_names()}
    return ESN(**{**params, "W": esn.W_, "Win": esn.Win_})


def memory_capacity(esn, k_max: int = 200, seed=0, series=None, test_size: float = 0.2) -> np.ndarray:
    """(k_max,) MC_k for delays k = 1..k_max: reservoirpy's protocol — u ~ U(-0.8, 0.8) of 10 k_max steps
    (or `series`), a fresh copy of `esn` (same hyper-parameters and weights) fitted with warmup k_max
    to recall u[t-1..t-k_max] on the first (1 - test_size), MC_k = corr(u[t-k], y_k)^2 on the rest."""
    from labkit.reservoir.esn import ESN
    check_instance("esn", esn, ESN)
    k_max = check_int("k_max", k_max, low=1, high=100_000)
    if series is None:
        series = np.random.default_rng(check_seed("seed", seed)).uniform(-0.8, 0.8, size=(10 * k_max, 1))
    series = check_array("series", series, ndim=(1, 2), dtype=np.float64)
    series = series.reshape(-1, 1) if series.ndim == 1 else series
    test_size = check_float("test_size", test_size, 0.0, 1.0, high_open=True)
    test_len = round(len(series) * test_size)
    if len(series) - k_max - test_len <= k_max or test_len < 2:
        raise fail("series", f"more than {2 * k_max + 2} steps for k_max={k_max}", f"{len(series)} steps",
                   described=True)
    window = sliding_window_view(series[:, 0], k_max + 1)[:, ::-1]   # column k: u[t-k]
    X_train, X_test = window[:-test_len, :1], window[-test_len:, :1]
    Y_train, Y_test = window[:-test_len, 1:], window[-test_len:, 1:]
    Y_pred = frozen_copy(esn).fit(X_train, Y_train, warmup=k_max).predict(X_test)
    return np.array([np.corrcoef(p, t)[1, 0] ** 2 for p, t in zip(Y_pred.T, Y_test.T, strict=True)])
