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
from bokeh.plotting import figure

from labkit import spiking
from widgets.views import Memo

_MEMO = Memo(None)  # the 20 traces are fixed: computed once per process
_INNER = 0.85       # a trace's share of its grid cell (the rest separates the cells and holds the title)


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
        """The 20 traces as small multiples in one figure (one line glyph and one label glyph: a page
        builds it in a tenth of the time of 20 figures). Each cell has its own time and voltage scale,
        its trace stretched to the cell (the axes are hidden, so a shared scale would say nothing)."""
        xs, ys, labels = [], [], []
        for i, (name, p) in enumerate(spiking.IZHIKEVICH_PRESETS.items()):
            tr = preset_trace(name)
            row, col = divmod(i, self.cols)
            t, v = tr["t_ms"], tr["v"]
            xs.append(col + _INNER * (t - t[0]) / max(t[-1] - t[0], 1e-12))
            ys.append(-row + _INNER * (v - v.min()) / max(v.max() - v.min(), 1e-12))
            labels.append((col, -row + _INNER + 0.04, f"({p.panel}) {name.replace('_', ' ')}"))
        rows = -(-len(xs) // self.cols)
        fig = figure(width=190 * self.cols, height=120 * rows, x_range=(-0.05, self.cols), y_range=(-rows + 0.9, 1.0),
                     toolbar_location=None, tools="", x_axis_type=None, y_axis_type=None)
        fig.grid.visible = False
        fig.multi_line(xs=xs, ys=ys, line_color="#1f77b4", line_width=1)
        fig.text(x=[lb[0] for lb in labels], y=[lb[1] for lb in labels], text=[lb[2] for lb in labels],
                 text_font_size="8pt", text_baseline="bottom", text_color="#333333")
        return fig

    @param.depends("preset")
    def detail(self):
        tr, p = preset_trace(self.preset), spiking.IZHIKEVICH_PRESETS[self.preset]
        v = hv.Curve((tr["t_ms"], tr["v"]), "t (ms)", "v (mV)").opts(
            width=600, height=220, color="#1f77b4",
            title=f"{self.preset}: a={p.a}, b={p.b}, c={p.c}, d={p.d} ({int(tr['spikes'].sum())} spikes)")
        i = hv.Curve((tr["t_ms"], tr["current"]), "t (ms)", "I (the model's units)").opts(
            width=600, height=120, color="#444444", yticks=3)
        # two panes, not an hv Layout: under the dashboard's reuse_sessions a Layout here drew squashed
        # to a 20 px frame once the grid below became a single figure (seen in chromium; Panel 1.9.4)
        return pn.Column(v, i)

    def __panel__(self):
        return pn.Column(pn.Row(pn.widgets.Select.from_param(self.param.preset, width=260), self.detail),
                         pn.pane.Bokeh(self.grid()))
