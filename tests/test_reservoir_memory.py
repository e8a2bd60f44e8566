"""Memory tasks: memory capacity's bound MC <= N and a linear reservoir reaching it; NARMA-10; N-parity and
N-delayed match-to-sample accuracy falling with N."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.reservoir import ESN, memory_capacity, narma_nrmse, orthogonal_W, recall_accuracy


@pytest.mark.parametrize("kwargs", [dict(sr=0.9), dict(sr=1.25, lr=0.3), dict(sr=0.95, activation="identity"),
                                    dict(sr=0.5, input_connectivity=1.0)])
def test_memory_capacity_never_exceeds_units(kwargs):
    """Jaeger 2001 (GMD Report 152): MC <= N for N units and i.i.d. input."""
    esn = ESN(units=20, ridge=1e-8, seed=3, **kwargs)
    mc = memory_capacity(esn, k_max=60, seed=0)
    assert np.all((mc >= 0) & (mc <= 1)) and mc.sum() <= esn.units


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
@pytest.mark.parametrize("units", [20, 50])
def test_linear_orthogonal_reservoir_reaches_mc_n(units):
    """A linear reservoir has MC = rank of its Krylov (controllability) matrix [Win, W Win, ..., W^(N-1) Win]
    (Jaeger 2001, GMD Report 152; proved by Gonon, Grigoryeva & Ortega 2020, Physica D 414:132721): N when
    it has full rank. Measured MC comes close to it when W is orthogonal (well-conditioned Krylov vectors:
    Ballarin, Grigoryeva & Ortega 2024, arXiv:2305.01457), sr < 1 but not so close to 1 that memory outlives
    k_max (sr^k_max small), ridge tiny, and the series long. Here: sr 0.9, k_max 4N, 20,000 steps."""
    rng = np.random.default_rng(0)
    esn = ESN(units=units, W=orthogonal_W(units, sr=0.9, seed=1), Win=rng.uniform(-1, 1, (units, 1)),
              activation="identity", lr=1.0, ridge=1e-12)
    mc = memory_capacity(esn, k_max=4 * units, series=rng.uniform(-0.8, 0.8, (20_000, 1)))
    assert 0.95 * units <= mc.sum() <= units
    # the same units with a random sparse W (reservoirpy's draw) fall short of the bound
    random = ESN(units=units, sr=0.9, Win=esn.Win_, activation="identity", ridge=1e-12, seed=1)
    assert memory_capacity(random, k_max=4 * units, series=rng.uniform(-0.8, 0.8, (20_000, 1))).sum() < mc.sum()


def test_orthogonal_W_has_every_eigenvalue_on_the_circle():
    W = orthogonal_W(30, sr=0.7, seed=2)
    assert np.allclose(np.abs(np.linalg.eigvals(W)), 0.7)
    assert np.allclose(W @ W.T, 0.49 * np.eye(30))


def test_narma10_nrmse_is_small_for_a_reservoir_and_large_without_memory():
    esn = ESN(units=100, sr=0.9, input_connectivity=1.0, ridge=1e-6, seed=0)
    memoryless = ESN(units=100, sr=0.9, input_connectivity=1.0, ridge=1e-6, seed=0, lr=1.0,
                     W=np.zeros((100, 100)))
    good, bad = narma_nrmse(esn), narma_nrmse(memoryless)
    assert good < 0.1 and bad > 1.5 * good


@pytest.mark.parametrize("task", ["parity", "delayed_match"])
def test_recall_accuracy_falls_with_depth(task):
    esn = ESN(units=100, sr=0.9, input_connectivity=1.0, ridge=1e-6, seed=0)
    acc = recall_accuracy(esn, task, N=[1, 2, 3, 12])
    assert acc[0] == 1.0 and acc[1] > 0.95 and acc[-1] < 0.7
    assert np.all(np.diff(acc) <= 0.02)


def test_memory_tasks_bad_input_names_the_argument():
    esn = ESN(units=10, seed=0, ridge=1e-6)
    with pytest.raises(ValueError, match="task"):
        recall_accuracy(esn, "copy")
    with pytest.raises(ValueError, match="warmup"):
        narma_nrmse(esn, n_train=50, warmup=60)
    with pytest.raises(TypeError, match="esn"):
        narma_nrmse("esn")
