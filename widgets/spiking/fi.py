"""The f-I curve: firing rate against a constant input current, simulated beside the formulas.

Simulated points: `labkit.spiking.LIF(tau, dt, threshold, reset, refractory)` driven by `n_points`
constant currents for `duration` seconds, rate = spikes / duration. Curves: `labkit.spiking.lif_rate`
in continuous time (dt=None: f = 1 / (t_ref + tau ln(I / (I - theta)))) and for the discrete update
at the slider's dt (the exact inter-spike interval in steps). With reset="zero" the simulated points
sit on the discrete curve to one spike per run; the gap to the continuous curve is the time step's
error, which shrinks as dt -> 0. "subtract" carries the overshoot over and fires faster.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import panel as pn
import param

from labkit import spiking
from widgets.views import Memo


class FICurve(pn.viewable.Viewer):
    """f-I curve of the LIF: simulated rates over the continuous and the discrete formula."""

    tau_ms = param.Number(default=20.0, bounds=(2.0, 100.0), step=1.0, doc="membrane time constant (ms)")
    threshold = param.Number(default=1.0, bounds=(0.2, 3.0), step=0.05)
    dt_ms = param.Selector(default=1.0, objects=[0.05, 0.1, 0.25, 0.5, 1.0, 2.0], doc="time step (ms)")
    refractory_ms = param.Number(default=0.0, bounds=(0.0, 10.0), step=0.5)
    reset = param.Selector(default="zero", objects=["zero", "subtract"])
    i_max = param.Number(default=3.0, bounds=(0.5, 10.0), step=0.1, doc="largest current (threshold units)")
    n_points = param.Integer(default=60, bounds=(2, 2000))
    duration = param.Number(default=2.0, bounds=(0.1, 20.0), doc="simulated seconds per point")

    def __init__(self, **params):
        self._memo = Memo(32)
        super().__init__(**params)

    def _tau_dt(self):
        tau, dt = self.tau_ms * 1e-3, self.dt_ms * 1e-3
        return tau, min(dt, 0.5 * tau)

    def simulated(self) -> tuple[np.ndarray, np.ndarray]:
        """(currents, rates in Hz) of the simulated points."""
        tau, dt = self._tau_dt()
        key = ("sim", tau, dt, self.threshold, self.refractory_ms, self.reset, self.i_max, self.n_points,
               self.duration)

        def make():
            cur = np.linspace(0.0, self.i_max * self.threshold, self.n_points)
            lif = spiking.LIF(tau=tau, dt=dt, threshold=self.threshold, reset=self.reset,
                              refractory=self.refractory_ms * 1e-3)
            return cur, lif.run(cur, n_steps=int(round(self.duration / dt))).rates()
        return self._memo.get_or(key, make)

    def analytic(self) -> dict[str, np.ndarray]:
        """{"current", "continuous", "discrete"}: lif_rate on a fine current grid."""
        tau, dt = self._tau_dt()
        cur = np.linspace(0.0, self.i_max * self.threshold, 600)
        kw = dict(tau=tau, threshold=self.threshold, refractory=self.refractory_ms * 1e-3)
        return {"current": cur, "continuous": spiking.lif_rate(cur, dt=None, **kw),
                "discrete": spiking.lif_rate(cur, dt=dt, **kw)}

    def errors(self) -> dict:
        """Median relative error of the simulated rates against the continuous formula (firing
        points), and the largest gap to the discrete formula in spikes per run."""
        tau, dt = self._tau_dt()
        cur, sim = self.simulated()
        kw = dict(tau=tau, threshold=self.threshold, refractory=self.refractory_ms * 1e-3)
        cont, disc = spiking.lif_rate(cur, dt=None, **kw), spiking.lif_rate(cur, dt=dt, **kw)
        on = cont > 0
        rel = np.abs(sim[on] - cont[on]) / cont[on]
        return {"median_rel_err_continuous": float(np.median(rel)) if on.any() else float("nan"),
                "max_spikes_off_discrete": float(np.max(np.abs(sim - disc)) * self.duration)}

    @param.depends("tau_ms", "threshold", "dt_ms", "refractory_ms", "reset", "i_max", "n_points", "duration")
    def plot(self):
        a = self.analytic()
        cur, sim = self.simulated()
        e = self.errors()
        current = ("current", "input current (threshold units)")
        return (hv.Curve((a["current"], a["continuous"]), current, ("rate", "rate (Hz)"), label="continuous")
                .opts(color="#444444", line_width=2)
                * hv.Curve((a["current"], a["discrete"]), "current", "rate", label=f"discrete, dt={self.dt_ms} ms")
                .opts(color="#1f77b4", line_dash="dashed")
                * hv.Scatter((cur, sim), "current", "rate", label=f"simulated ({self.reset} reset)")
                .opts(color="#d62728", size=5)).opts(
            width=700, height=360, legend_position="top_left", padding=0.05,  # the last point whole
            title=f"f-I curve: median error vs continuous {100 * e['median_rel_err_continuous']:.2f}%")

    def __panel__(self):
        names = ["tau_ms", "threshold", "dt_ms", "refractory_ms", "reset", "i_max"]
        # each widget as wide as its column (a Select's default 300 px ran under the plot beside it)
        return pn.Row(pn.Param(self.param, parameters=names, show_name=False, width=240,
                               widgets={n: {"width": 220} for n in names}),
                      self.plot)
