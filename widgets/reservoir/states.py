"""What the reservoir holds over time: the state heatmap (units x time) under its input, and the state
trajectory projected on its first two principal components."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
from bokeh.layouts import column
from bokeh.models import ColorBar, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import RdBu11, interp_palette
from bokeh.plotting import figure

MAX_UNITS, MAX_STEPS = 100, 400   # the heatmap shows at most this many units and steps
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def pca(states: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """((T, k) projections of the centred states on their first k principal axes, (k,) explained ratios)."""
    X = np.asarray(states, dtype=np.float64)
    X = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    total = float((s ** 2).sum()) or 1.0
    k = min(k, vt.shape[0])
    return X @ vt[:k].T, (s[:k] ** 2) / total


def state_heatmap(states: np.ndarray, inputs: np.ndarray | None = None, title: str = "reservoir states"):
    """The first MAX_STEPS steps of the first MAX_UNITS units as a heatmap (blue negative, red positive,
    symmetric about 0), the input (first feature) above on the same step axis. Drawn with Bokeh directly:
    it is the reservoir page's first figure, built for every visitor (a HoloViews layout cost 0.2 s)."""
    S = np.asarray(states)[:MAX_STEPS, :MAX_UNITS]
    T, N = S.shape
    lim = float(np.abs(S).max() or 1.0)
    steps = Range1d(0, max(T, 1))
    heat = figure(width=700, height=260, x_range=steps, y_range=Range1d(0, max(N, 1)), x_axis_label="step",
                  y_axis_label="unit", title=f"{title} ({N} units x {T} steps)", tools=TOOLS)
    mapper = LinearColorMapper(palette=interp_palette(RdBu11, 256), low=-lim, high=lim)
    img = heat.image(image=[S.T], x=0, y=0, dw=T, dh=N, color_mapper=mapper)  # row i: unit i, from the bottom
    heat.add_tools(HoverTool(renderers=[img], tooltips=[("step", "$x{0}"), ("unit", "$y{0}"), ("state", "@image")]))
    heat.add_layout(ColorBar(color_mapper=mapper, title="state", width=10), "right")
    if inputs is None:
        return column(heat)
    u = np.asarray(inputs).reshape(len(inputs), -1)[:T, 0]
    top = figure(width=700, height=120, x_range=steps, title="input u[t]", x_axis_label="step",
                 y_axis_label="input", tools=TOOLS)
    top.line(np.arange(len(u)), u, color="#444444")
    return column(top, heat)


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
