"""Time series and tasks for reservoirs: reservoirpy 0.4.2's generators (same defaults, same numbers)
and the memory tasks of the reservoir literature.

    mackey_glass  Mackey & Glass (Science 197:287, 1977): dx/dt = a x(t-tau) / (1 + x(t-tau)^n) - b x(t),
                  integrated as reservoirpy does (`reservoirpy/datasets/_chaos.py`, v0.4.2: one RK4-like
                  step per h with x(t-tau) held over the step; a random history around x0).
    narma         NARMA of order n (Atiya & Parlos, IEEE TNN 11(3), 2000, Eq. 22):
                  y[t+1] = a1 y[t] + a2 y[t] sum_{i<n} y[t-i] + b u[t-n] u[t] + c,  u ~ U(0, 0.5).
    lorenz        Lorenz (J. Atmos. Sci. 20:130, 1963), scipy's solve_ivp sampled every h.
    to_forecasting  (X[:-k], X[k:]): predict k steps ahead.
    parity, delayed_match  the N-parity and N-delayed match-to-sample tasks named in the abstract of
                  "Emergent mechanisms for long timescales depend on training curriculum and affect
                  performance in memory tasks" (Khajehabdollahi et al., ICLR 2024).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from labkit.validate import check_array, check_float, check_int, check_seed, fail

__all__ = ["mackey_glass", "narma", "lorenz", "to_forecasting", "parity", "delayed_match"]

RESERVOIRPY_DEFAULT_SEED = 5555  # reservoirpy/datasets/_seed.py: the seed its generators use when given none
MAX_STEPS = 50_000_000          # bound on generated lengths (memory: 400 MB of float64)


def _steps(name: str, n: int) -> int:
    return check_int(name, n, low=1, high=MAX_STEPS)


def mackey_glass(n_timesteps: int, tau: int = 17, a: float = 0.2, b: float = 0.1, n: int = 10, x0: float = 1.2,
                 h: float = 1.0, seed=None, history=None) -> np.ndarray:
    """(n_timesteps, 1) Mackey-Glass series, equal to `reservoirpy.datasets.mackey_glass` with the same
    arguments (seed None: reservoirpy's default dataset seed, 5555)."""
    n_timesteps = _steps("n_timesteps", n_timesteps)
    tau = check_int("tau", tau, low=0)
    a, b = check_float("a", a), check_float("b", b)
    n = check_int("n", n, low=0)
    x0 = check_float("x0", x0)
    h = check_float("h", h, low=0, low_open=True)
    hist_len = int(np.floor(tau / h))
    if hist_len > MAX_STEPS:
        raise fail("tau", f"tau / h <= {MAX_STEPS}", tau)
    if history is None:
        rng = np.random.default_rng(RESERVOIRPY_DEFAULT_SEED if seed is None else check_seed("seed", seed))
        past = x0 * np.ones(hist_len) + 0.2 * (rng.random(hist_len) - 0.5)
    else:
        history = check_array("history", history, ndim=1, dtype=np.float64)
        if len(history) < hist_len:
            raise fail("history", f"at least tau / h = {hist_len} values", f"{len(history)}", described=True)
        past = history[len(history) - hist_len:]
    X = np.empty(hist_len + n_timesteps)
    X[:hist_len] = past
    xt, bh = x0, -b * h
    for i in range(hist_len, hist_len + n_timesteps):
        X[i] = xt
        xtau = X[i - hist_len] if tau > 0 else 0.0
        k1 = bh * xt + a * xtau / (1 + xtau ** n)     # reservoirpy's `_mg_rk4`, term for term
        k2 = 2 * k1 + bh * k1
        k3 = 2 * k1 + bh * k2
        k4 = k1 + bh * k3
        xt = xt + (k1 + k2 + k3 + k4) / 6
    return X[hist_len:].reshape(-1, 1)


def narma(n_timesteps: int, order: int = 30, a1: float = 0.2, a2: float = 0.04, b: float = 1.5, c: float = 0.001,
          x0=(0.0,), seed=None, u=None) -> tuple[np.ndarray, np.ndarray]:
    """(u, y), each (n_timesteps, 1): NARMA-`order`, equal to `reservoirpy.datasets.narma`."""
    n_timesteps = _steps("n_timesteps", n_timesteps)
    order = check_int("order", order, low=1, high=MAX_STEPS)
    a1, a2, b, c = (check_float(k, v) for k, v in (("a1", a1), ("a2", a2), ("b", b), ("c", c)))
    x0 = np.atleast_2d(check_array("x0", x0, ndim=(0, 1, 2), dtype=np.float64, min_size=1))
    if x0.shape[0] > n_timesteps + order:
        raise fail("x0", f"at most n_timesteps + order = {n_timesteps + order} initial values", x0.shape[0])
    y = np.zeros((n_timesteps + order, 1))
    y[: x0.shape[0], :] = x0
    if u is None:
        rng = np.random.default_rng(RESERVOIRPY_DEFAULT_SEED if seed is None else check_seed("seed", seed))
        u = rng.uniform(0, 0.5, size=(n_timesteps + order, 1))
    else:
        u = check_array("u", u, shape=(n_timesteps + order, 1), dtype=np.float64)
    for t in range(order, n_timesteps + order - 1):
        y[t + 1] = a1 * y[t] + a2 * y[t] * np.sum(y[t - order: t]) + b * u[t - order] * u[t] + c
    return u, y[order:, :]


def lorenz(n_timesteps: int, rho: float = 28.0, sigma: float = 10.0, beta: float = 8.0 / 3.0,
           x0=(1.0, 1.0, 1.0), h: float = 0.03, **kwargs) -> np.ndarray:
    """(n_timesteps, 3) Lorenz-63 trajectory, equal to `reservoirpy.datasets.lorenz` (solve_ivp, RK45
    unless `method=` is given in kwargs)."""
    n_timesteps = _steps("n_timesteps", n_timesteps)
    rho, sigma, beta = check_float("rho", rho), check_float("sigma", sigma), check_float("beta", beta)
    x0 = check_array("x0", x0, shape=(3,), dtype=np.float64)
    h = check_float("h", h, low=0, low_open=True)

    def diff(t, s):
        x, y, z = s
        return sigma * (y - x), x * (rho - z) - y, x * y - beta * z

    t_max = n_timesteps * h
    sol = solve_ivp(diff, y0=x0, t_span=(0.0, t_max), t_eval=np.linspace(0.0, t_max, n_timesteps), **kwargs)
    return sol.y.T


def to_forecasting(X, forecast: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) = (X[:-forecast], X[forecast:]) for a (T, d) series: predict `forecast` steps ahead."""
    X = check_array("X", X, ndim=(1, 2), dtype=np.float64, min_size=1)
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    forecast = check_int("forecast", forecast, low=1)
    if forecast >= len(X):
        raise fail("forecast", f"fewer than the series' {len(X)} steps", forecast)
    return X[:-forecast], X[forecast:]


def parity(n_timesteps: int, N: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """N-parity: u (T, 1) random bits in {0, 1}; y (T, 1) = (u[t] + ... + u[t-N+1]) mod 2 (zeros before t = N-1)."""
    n_timesteps, N = _steps("n_timesteps", n_timesteps), check_int("N", N, low=1, high=10_000)
    u = np.random.default_rng(check_seed("seed", seed)).integers(0, 2, size=n_timesteps).astype(np.float64)
    s = np.convolve(u, np.ones(N))[:n_timesteps]
    y = np.where(np.arange(n_timesteps) >= N - 1, s % 2, 0.0)
    return u.reshape(-1, 1), y.reshape(-1, 1)


def delayed_match(n_timesteps: int, N: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """N-delayed match-to-sample: u (T, 1) random bits; y (T, 1) = 1 if u[t] == u[t-N] else 0 (0 before t = N)."""
    n_timesteps, N = _steps("n_timesteps", n_timesteps), check_int("N", N, low=1, high=10_000)
    u = np.random.default_rng(check_seed("seed", seed)).integers(0, 2, size=n_timesteps).astype(np.float64)
    y = np.zeros(n_timesteps)
    y[N:] = (u[N:] == u[:-N]).astype(np.float64)
    return u.reshape(-1, 1), y.reshape(-1, 1)
