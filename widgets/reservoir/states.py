"""What the reservoir holds over time: the state heatmap (units x time) under its input, and the state
trajectory projected on its first two principal components."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np

MAX_UNITS, MAX_STEPS = 100, 400   # the heatmap shows at most this many units and steps


def pca(states: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """((T, k) projections of the centred states on their first k principal axes, (k,) explained ratios)."""
    X = np.asarray(states, dtype=np.float64)
    X = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    total = float((s ** 2).sum()) or 1.0
    k = min(k, vt.shape[0])
    return X @ vt[:k].T, (s[:k] ** 2) / total


def state_heatmap(states: np.ndarray, inputs: np.ndarray | None = None, title: str = "reservoir states"):
    """The first MAX_STEPS steps of the first MAX_UNITS units as a heatmap, the input (first feature) above."""
    S = np.asarray(states)[:MAX_STEPS, :MAX_UNITS]
    T, N = S.shape
    heat = hv.Image(S.T[::-1], bounds=(0, 0, T, N), kdims=["step", "unit"], vdims=["state"]).opts(
        cmap="RdBu_r", colorbar=True, width=700, height=260, title=f"{title} ({N} units x {T} steps)",
        clim=(-float(np.abs(S).max() or 1.0), float(np.abs(S).max() or 1.0)), tools=["hover"])
    if inputs is None:
        return hv.Layout([heat]).cols(1)
    u = np.asarray(inputs).reshape(len(inputs), -1)[:T, 0]
    top = hv.Curve((np.arange(len(u)), u), "step", "input").opts(width=700, height=120, title="input u[t]",
                                                              color="#444444")
    return (top + heat).cols(1)


def pca_plot(states: np.ndarray):
    """The trajectory in the plane of the first two principal components, coloured by time."""
    P, ratio = pca(states)
    if P.shape[1] < 2:
        P = np.hstack([P, np.zeros((len(P), 1))])
        ratio = np.append(ratio, 0.0)
    t = np.arange(len(P))
    return (hv.Path([np.column_stack([P[:, 0], P[:, 1]])], ["PC1", "PC2"], label="trajectory").opts(
        color="#bbbbbb", line_width=0.5)
            * hv.Points(np.column_stack([P[:, 0], P[:, 1], t]), ["PC1", "PC2"], ["t"], label="state (colour: step t)")
            .opts(color="t", cmap="viridis", size=3, colorbar=True)).opts(legend_position="bottom_left",
        width=420, height=360, title=f"state trajectory, PCA ({100 * ratio[:2].sum():.0f}% of variance)")
