"""labkit.reservoir.EIESN: Dale's law, exact row balance, the local rule moving rates toward their
targets (both backends), and the E/I experiments' structure at a small size."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.reservoir import EIESN, ESN, adapt_compare, ei_sweep, memory_capacity


def _drawn(**kw):
    esn = EIESN(units=60, seed=2, **kw)
    esn.run(np.zeros((1, 1)))
    return esn


def test_dale_law_and_exact_balance():
    esn = _drawn(balance=1.0, sr=3.0)
    W = esn.W_.toarray()
    exc = esn.excitatory_
    assert exc.sum() == 48
    assert np.all(W[:, exc] >= 0) and np.all(W[:, ~exc] <= 0)          # each unit's outputs keep one sign
    assert np.allclose(W.sum(axis=1), 0, atol=1e-12)                   # balanced: every row sums to zero
    assert np.all((W[:, exc] != 0).sum(axis=1) == 5) and np.all((W[:, ~exc] != 0).sum(axis=1) == 1)
    assert np.allclose(np.abs(np.linalg.eigvals(W)).max(), 3.0)
    snap = esn.snapshot()
    assert np.allclose(snap["ei_ratio"], 1.0) and np.array_equal(snap["excitatory"], exc)
    over = _drawn(balance=1.5, sr=3.0)
    assert np.allclose(over.snapshot()["ei_ratio"], 1.5) and np.all(over.W_.toarray().sum(axis=1) < 0)


@pytest.mark.parametrize("heterogeneity", [0.0, 0.5])
def test_adaptation_moves_each_rate_to_its_target(heterogeneity):
    u = np.random.default_rng(0).uniform(-0.8, 0.8, size=(3000, 1))
    esn = EIESN(units=100, sr=3.6, input_scaling=0.2, input_connectivity=1.0, bias=-1.0, seed=1)  # ei.STUDY's
    before = esn.run(u, reset=True)[1000:].mean(axis=0)
    esn.adapt(u, target=0.2, eta=0.01, epochs=2, heterogeneity=heterogeneity, seed=3)
    after = esn.run(u, reset=True)[1000:].mean(axis=0)
    rho = esn.snapshot()["target"]
    assert np.abs(before - rho).mean() > 0.05
    assert np.abs(after - rho).mean() < 0.01
    assert np.all(esn.omega_ >= 0) and esn.omega_.mean() > 1    # a low target: more inhibition than balance


def test_adaptation_backends_agree():
    u = np.random.default_rng(0).uniform(-0.8, 0.8, size=(500, 1))
    a = EIESN(units=40, sr=3.0, seed=4).adapt(u, target=0.3, eta=0.02)
    b = EIESN(units=40, sr=3.0, seed=4, backend="readable").adapt(u, target=0.3, eta=0.02)
    assert np.allclose(a.omega_, b.omega_, rtol=1e-10, atol=1e-12)


def test_eiesn_is_an_esn_for_memory_capacity_and_save(tmp_path):
    esn = _drawn(sr=3.6, input_scaling=0.2, input_connectivity=1.0, ridge=1e-6)
    mc = memory_capacity(esn, k_max=40)
    assert 0 < mc.sum() <= esn.units
    u = np.random.default_rng(1).uniform(-0.8, 0.8, size=(300, 1))
    esn.fit(u[:200], np.roll(u, 1)[:200], warmup=10)
    esn.save(tmp_path / "ei.npz")
    back = ESN.load(tmp_path / "ei.npz")                         # saved as the plain ESN it runs as
    assert np.array_equal(back.predict(u[200:]), esn.predict(u[200:]))


def test_sweep_and_comparison_tables():
    df = ei_sweep(balances=(0.5, 1.0, 1.5), seeds=range(2), units=30, sr=3.6, input_scaling=0.2,
                  input_connectivity=1.0, ridge=1e-6, k_max=30)
    assert list(df.columns) == ["balance", "seed", "score", "rate"] and len(df) == 6
    rates = df.groupby("balance")["rate"].mean()
    assert rates.is_monotonic_decreasing                         # more inhibition, lower rates
    runs, table = adapt_compare("memory_capacity", seeds=range(2), balances=(0.5, 1.0), targets=(0.3, 0.5),
                                units=30, sr=3.6, input_scaling=0.2, input_connectivity=1.0, ridge=1e-6, k_max=30)
    assert list(table.index) == ["global", "adaptive", "adaptive heterogeneous"]
    assert table.loc["global", "gain_pct"] == 0 and len(runs) == 2 * 2 + 2 * 2 * 2


@pytest.mark.parametrize("kwargs, name", [(dict(exc_fraction=1.0), "exc_fraction"), (dict(exc_fraction=0.001),
                                          "exc_fraction"), (dict(balance=-0.5), "balance")])
def test_bad_ei_parameters_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        EIESN(units=50, **kwargs)


def test_bad_adaptation_arguments_name_the_argument():
    esn = EIESN(units=20, seed=0)
    u = np.zeros((50, 1))
    with pytest.raises(ValueError, match="target"):
        esn.adapt(u, target=1.5)
    with pytest.raises(ValueError, match="target"):
        esn.adapt(u, target=np.full(20, 0.0))
    with pytest.raises(ValueError, match="eta"):
        esn.adapt(u, eta=-1.0)
