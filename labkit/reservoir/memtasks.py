"""Memory tasks scored on a reservoir: NARMA (nonlinear memory) and the N-parity / N-delayed
match-to-sample tasks (binary memory over the last N inputs) as accuracy against N.

Each scorer fits a fresh copy of the given ESN (its hyper-parameters and weights, `metrics.frozen_copy`)
on the first part of one series and scores the rest:

    narma_nrmse       NARMA-`order` (Atiya & Parlos 2000, IEEE TNN 11(3), Eq. 22; reservoirpy's generator):
                      input u[t], target y[t]; NRMSE on the test part (reservoirpy's norm, "minmax" default)
    recall_accuracy   for each N, a linear readout of the states trained on the task's target and
                      thresholded at 1/2; accuracy on the test part. The tasks are those named in
                      Khajehabdollahi et al., ICLR 2024 ("Emergent mechanisms for long timescales depend on
                      training curriculum and affect performance in memory tasks"). All N share one input
                      sequence (same seed), so the reservoir runs once and one multi-output ridge fits all N.
"""

from __future__ import annotations

import numpy as np

from labkit.reservoir.metrics import frozen_copy, nrmse
from labkit.reservoir.tasks import delayed_match, narma, parity
from labkit.validate import check_choice, check_instance, check_int, fail

__all__ = ["narma_nrmse", "recall_accuracy"]

TASKS = {"parity": parity, "delayed_match": delayed_match}


def _esn(esn):
    from labkit.reservoir.esn import ESN
    return check_instance("esn", esn, ESN)


def _lengths(n_train, n_test, warmup):
    n_train = check_int("n_train", n_train, 2, 10_000_000)
    n_test = check_int("n_test", n_test, 2, 10_000_000)
    warmup = check_int("warmup", warmup, 0)
    if warmup >= n_train - 1:
        raise fail("warmup", f"fewer than n_train - 1 = {n_train - 1} steps", warmup)
    return n_train, n_test, warmup


def narma_nrmse(esn, order: int = 10, n_train: int = 2000, n_test: int = 1000, warmup: int = 100, seed=0,
                norm: str = "minmax") -> float:
    """Test NRMSE of `esn` (a fresh copy) trained to output NARMA-`order`'s y[t] from its input u[t]."""
    esn = _esn(esn)
    order = check_int("order", order, 1, 1000)
    n_train, n_test, warmup = _lengths(n_train, n_test, warmup)
    u, y = narma(n_train + n_test, order=order, seed=seed)
    u = u[order - 1:-1]          # y[t+1] = f(y[t], ..., u[t], u[t - order]): input u[t], target y[t+1]
    model = frozen_copy(esn).fit(u[:n_train], y[:n_train], warmup=warmup)
    return nrmse(y[n_train:], model.predict(u[n_train:]), norm=norm)


def recall_accuracy(esn, task: str = "parity", N=(1, 2, 3, 4, 5, 6), n_train: int = 4000, n_test: int = 1000,
                    warmup: int = 100, seed=0) -> np.ndarray:
    """(len(N),) test accuracy of `esn`'s thresholded linear readout on `task` ("parity" or
    "delayed_match") for each memory depth in N (chance: about 1/2)."""
    esn = _esn(esn)
    make = TASKS[check_choice("task", task, TASKS)]
    if not isinstance(N, (list, tuple, range, np.ndarray)) or len(N) == 0:
        raise fail("N", "a non-empty list of depths", N)
    Ns = [check_int("N", int(n) if isinstance(n, np.integer) else n, 1, 10_000) for n in N]
    n_train, n_test, warmup = _lengths(n_train, n_test, warmup)
    T = n_train + n_test
    pairs = [make(T, n, seed=seed) for n in Ns]
    u = pairs[0][0]                                            # the same bits for every N (same seed)
    Y = np.hstack([y for _, y in pairs])
    model = frozen_copy(esn).fit(u[:n_train], Y[:n_train], warmup=warmup)
    guess = model.predict(u[n_train:]) > 0.5
    return (guess == (Y[n_train:] > 0.5)).mean(axis=0)
