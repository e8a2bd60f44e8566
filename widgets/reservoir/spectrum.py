"""The recurrent weights: W's eigenvalues on the complex plane with the spectral-radius circle, and the
excitatory / inhibitory input each unit receives (Dale's-law reservoirs report their own split)."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np


def eigenvalues(W: np.ndarray) -> np.ndarray:
    """(N,) complex eigenvalues of a dense (N, N) W."""
    return np.linalg.eigvals(np.asarray(W, dtype=np.float64))


def spectrum_plot(W: np.ndarray):
    """Eigenvalues of W and the circle |z| = rho(W) (the spectral radius, ESN's `sr`), with the unit circle."""
    lam = eigenvalues(W)
    rho = float(np.abs(lam).max()) if lam.size else 0.0
    phi = np.linspace(0, 2 * np.pi, 200)
    return (hv.Points((lam.real, lam.imag), ["Re", "Im"], label="eigenvalues").opts(size=4, color="#1f77b4")
            * hv.Curve((rho * np.cos(phi), rho * np.sin(phi)), "Re", "Im", label=f"spectral radius {rho:.3f}")
            .opts(color="#d62728")
            * hv.Curve((np.cos(phi), np.sin(phi)), "Re", "Im", label="unit circle").opts(
                color="#888888", line_dash="dashed")).opts(
        width=420, height=380, data_aspect=1, legend_position="top_left", title="spectrum of W")


def ei_inputs(snapshot: dict) -> tuple[np.ndarray, np.ndarray]:
    """((N,) excitatory, (N,) inhibitory) input weight per unit: the E/I reservoir's own `exc_input` /
    `inh_input` when its snapshot has them, else the row sums of W's positive and negative entries."""
    if snapshot.get("exc_input") is not None and snapshot.get("inh_input") is not None:
        return np.asarray(snapshot["exc_input"], float), np.abs(np.asarray(snapshot["inh_input"], float))
    W = np.asarray(snapshot["W"], dtype=np.float64)
    return np.clip(W, 0, None).sum(axis=1), -np.clip(W, None, 0).sum(axis=1)


def ei_plot(snapshot: dict):
    """Per unit: excitatory input up, inhibitory input down, and their difference (net)."""
    exc, inh = ei_inputs(snapshot)
    units = np.arange(len(exc))
    ratio = float(inh.sum() / exc.sum()) if exc.sum() else float("inf")
    return (hv.Spikes((units, exc), "unit", "input", label="excitatory").opts(color="#d62728")
            * hv.Spikes((units, -inh), "unit", "input", label="inhibitory").opts(color="#1f77b4")
            * hv.Scatter((units, exc - inh), "unit", "input", label="net").opts(color="black", size=2)).opts(
        width=700, height=240, legend_position="top_right", title=f"E/I input per unit (total I/E = {ratio:.2f})")
