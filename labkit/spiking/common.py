"""Argument handling shared by the neuron models (one place, one message format: labkit.validate)."""

from __future__ import annotations

import numpy as np

from labkit.validate import check_array, check_choice, check_float, check_int, fail

BACKENDS = ("fast", "readable")
RESETS = ("subtract", "zero", "none")


def check_backend(backend) -> str:
    return check_choice("backend", backend, BACKENDS)


def run_backend(backend, kernel: str, readable, args: tuple):
    """`backend="fast"`: labkit.spiking.kernels.<kernel>(*args) (numba); "readable": readable(*args)."""
    if check_backend(backend) == "fast":
        from labkit.spiking import kernels  # numba loads on first fast call only
        return getattr(kernels, kernel)(*args)
    return readable(*args)


def check_tau_dt(tau, dt, tau_name: str = "tau") -> tuple[float, float]:
    """A time constant and a step, both > 0 seconds, with dt < tau (one step shorter than the
    membrane's memory; dt >= tau is a different, degenerate model)."""
    dt = check_float("dt", dt, low=0.0, low_open=True)
    tau = check_float(tau_name, tau, low=0.0, low_open=True)
    if dt >= tau:
        raise fail("dt", f"a step < {tau_name} = {tau:g} s", dt)
    return tau, dt


def prepare_current(current, n_steps, n: int | None = None, name: str = "current") -> tuple[np.ndarray, int]:
    """`current` as a float64 array of shape (T, N) or (1, N) held for `n_steps` steps.

    (T, N) runs T steps (n_steps must be None or T); (N,) is held constant for n_steps steps.
    `n` (when given) is the number of neurons the model has. Returns (array, n_steps)."""
    x = check_array(name, current, ndim=(1, 2), dtype=np.float64, min_size=1)
    if n is not None and x.shape[-1] != n:
        raise fail(name, f"{n} columns (one per neuron)", f"shape {x.shape}", described=True)
    if x.ndim == 1:
        if n_steps is None:
            raise fail(name, "a (T, N) array, or an (N,) array held for n_steps steps (n_steps given)",
                       f"shape {x.shape} and n_steps=None", described=True)
        return x[None, :], check_int("n_steps", n_steps, low=1)
    if n_steps is not None:
        n_steps = check_int("n_steps", n_steps, low=1)
        if n_steps != x.shape[0]:
            raise fail("n_steps", f"None or {x.shape[0]} (the rows of a (T, N) {name})", n_steps)
    return x, x.shape[0]


def prepare_v0(v0, n: int, default: float = 0.0) -> np.ndarray:
    """Initial membrane potential: None (all `default`), a number, or an (N,) array."""
    if v0 is None:
        return np.full(n, default)
    if np.ndim(v0) == 0 and not isinstance(v0, np.ndarray):
        return np.full(n, check_float("v0", v0))
    return check_array("v0", v0, shape=(n,), dtype=np.float64).copy()


def steps(duration_name: str, duration: float, dt: float) -> int:
    """A duration in seconds as a whole number of steps (rounded)."""
    duration = check_float(duration_name, duration, low=0.0)
    return int(round(duration / dt))
