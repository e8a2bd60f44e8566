"""Izhikevich's zoo: the 20 behaviours of Izhikevich (2004), "Which model to use for cortical
spiking neurons?", IEEE TNN 15(5), Fig. 1, each with its own parameters and input protocol
(labkit.spiking.IZHIKEVICH_PRESETS: neuron(), current()). One small voltage trace per behaviour,
and the chosen one large with its input current below."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import panel as pn
import param

from labkit import spiking
from widgets.views import Memo

_MEMO = Memo(None)  # the 20 traces are fixed: computed once per process


def preset_trace(name: str) -> dict[str, np.ndarray]:
    """{"t_ms", "v", "current", "spikes"} of one preset run with its figure's protocol."""
    def make():
        p = spiking.IZHIKEVICH_PRESETS[name]
        current = p.current()
        r = p.neuron().run(current, record_v=True)
        return {"t_ms": r.times * 1e3, "v": r.v[:, 0], "current": current[:, 0], "spikes": r.spikes[:, 0]}
    return _MEMO.get_or(name, make)


class PresetGallery(pn.viewable.Viewer):
    """All 20 Izhikevich presets as small voltage traces; `preset` picks one to show large."""

    preset = param.Selector(default="tonic_spiking", objects=list(spiking.IZHIKEVICH_PRESETS))
    cols = param.Integer(default=4, bounds=(1, 10))

    def table(self) -> list[dict]:
        """One row per preset: name, Fig. 1 panel, (a, b, c, d) and the number of spikes."""
        out = []
        for name, p in spiking.IZHIKEVICH_PRESETS.items():
            out.append({"name": name, "panel": p.panel, "a": p.a, "b": p.b, "c": p.c, "d": p.d,
                        "spikes": int(preset_trace(name)["spikes"].sum())})
        return out

    def grid(self):
        plots = []
        for name, p in spiking.IZHIKEVICH_PRESETS.items():
            tr = preset_trace(name)
            plots.append(hv.Curve((tr["t_ms"], tr["v"]), "t (ms)", "v (mV)").opts(
                width=190, height=120, title=f"({p.panel}) {name.replace('_', ' ')}", fontsize={"title": 8},
                xaxis=None, yaxis=None, color="#1f77b4", line_width=1, toolbar=None))
        # each panel on its own time and voltage scale (the axes are hidden, so a shared one says nothing)
        return hv.Layout(plots).cols(self.cols).opts(shared_axes=False)

    @param.depends("preset")
    def detail(self):
        tr, p = preset_trace(self.preset), spiking.IZHIKEVICH_PRESETS[self.preset]
        v = hv.Curve((tr["t_ms"], tr["v"]), "t (ms)", "v (mV)").opts(
            width=600, height=220, color="#1f77b4",
            title=f"{self.preset}: a={p.a}, b={p.b}, c={p.c}, d={p.d} ({int(tr['spikes'].sum())} spikes)")
        i = hv.Curve((tr["t_ms"], tr["current"]), "t (ms)", "I (the model's units)").opts(width=600, height=100,
                                                                                         color="#444444")
        return (v + i).cols(1)

    def __panel__(self):
        return pn.Column(pn.Row(pn.widgets.Select.from_param(self.param.preset, width=260), self.detail),
                         pn.pane.HoloViews(self.grid()))
