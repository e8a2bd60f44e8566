"""What the reservoir remembers and predicts: the memory-capacity curve MC_k against the delay k (Jaeger
2001, GMD Report 152: MC = sum_k MC_k <= N), and closed-loop generation against the truth with the
divergence horizon, the first step whose error exceeds a tolerance of the truth's range."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np

from labkit import reservoir as rc
from widgets.views import fixed_scale


def divergence_horizon(truth: np.ndarray, prediction: np.ndarray, tolerance: float = 0.1) -> int:
    """Steps of closed-loop generation before |prediction - truth| first exceeds tolerance x the truth's
    peak-to-peak range (len(truth) when it never does)."""
    truth, prediction = np.asarray(truth, float).ravel(), np.asarray(prediction, float).ravel()
    bad = np.flatnonzero(np.abs(prediction - truth) > tolerance * (np.ptp(truth) or 1.0))
    return int(bad[0]) if bad.size else len(truth)


def mackey_glass_task(n_train: int = 1500, n_gen: int = 300, seed_steps: int = 100) -> dict:
    """reservoirpy's tutorial series (tau = 17, rescaled to [-1, 1]): train inputs / one-step targets, the
    seed that starts generation and the truth that follows it."""
    X = rc.mackey_glass(n_train + n_gen + 1, tau=17)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
    return {"X": X[:n_train], "Y": X[1:n_train + 1], "seed": X[n_train - seed_steps:n_train + 1],
            "truth": X[n_train + 1:n_train + 1 + n_gen]}


def generation(esn, task: dict, warmup: int = 100, tolerance: float = 0.1) -> dict:
    """Fit `esn` (1 input) one step ahead on the task, generate len(truth) steps closed-loop from the seed."""
    esn.fit(task["X"], task["Y"], warmup=warmup)
    pred = esn.generate(len(task["truth"]), warmup=task["seed"])
    return {"prediction": pred[:, 0], "truth": task["truth"][:, 0], "states": esn.states_,
            "horizon": divergence_horizon(task["truth"], pred, tolerance),
            "nrmse": rc.nrmse(task["truth"], pred)}


def generation_plot(run: dict):
    t = np.arange(len(run["truth"]))
    h = run["horizon"]
    return (hv.Curve((t, run["truth"]), "generated step", "x", label="truth").opts(color="#444444", line_width=2)
            * hv.Curve((t, run["prediction"]), "generated step", "x", label="closed loop").opts(color="#d62728")
            * hv.VLine(h).opts(color="#1f77b4", line_dash="dashed")).opts(
        width=700, height=260, legend_position="bottom_left",
        title=f"generative mode: divergence horizon {h} steps, NRMSE {run['nrmse']:.3f}")


def mc_plot(mc: np.ndarray, units: int):
    k = np.arange(1, len(mc) + 1)
    return hv.Curve((k, mc), "delay k", "MC_k").opts(
        width=420, height=300, color="#2ca02c", ylim=(0, 1.05), hooks=[fixed_scale("y")],  # MC_k lies in [0, 1]
        title=f"memory capacity: sum MC_k = {float(np.sum(mc)):.1f} (bound N = {units})")
