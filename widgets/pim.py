"""PIM inspectors and the "PIM" dashboard page (labkit.pim).

    TimelineView(timeline, layer, detail, channel, max_bars)   Gantt of a simulated step, lanes x time,
                                  zoom whole step -> one layer -> one channel's banks; aggregated bars
    RooflineView(result, timeline=None, system=None)   ops as points under the GPU and PIM roofs
    EnergyView(timelines)         energy per step by component, one stacked bar per path
    PimControls(model, batch, seq_len, w_bits, a_bits, kv_bits, hardware, system, placement, mode)
    PimExplorer(**settings)       the page: controls, GPU-only and PIM timelines, roofline, energy

`widgets.inspect` returns TimelineView for a pim Timeline and RooflineView for a RooflineResult.
`redraw_time(view, param, values)` is the server-side redraw time benchmarks/pim.py reports.
"""

from __future__ import annotations

import statistics
import time

import panel as pn
import param

from widgets.inspect import register_inspector, register_page
from widgets.pim_controls import PimControls, RooflineResult, Timeline
from widgets.pim_energy import EnergyView, energy_table
from widgets.pim_roofline import RooflineView, gpu_points, pim_points
from widgets.pim_timeline import TimelineView, aggregate

__all__ = ["TimelineView", "RooflineView", "EnergyView", "PimControls", "PimExplorer", "aggregate", "energy_table",
           "gpu_points", "pim_points", "pim_page", "redraw_time"]

INTRO = """## PIM: processing in memory for LLM decode
Decoding one token reads every weight once and does ~2 ops per byte: far below a GPU's ridge, so the
GPU waits on memory. **PIM** puts MAC units beside the DRAM banks, where the internal bandwidth is an
order of magnitude higher (PIM-GPT, NeuPIMs, AttAcc). Below: one decode step as labkit.pim's roofline
and event model see it. Zoom the timeline to a layer, then to the banks of one channel; wheel-zoom in time.
"""

# the Bokeh widget per setting; labels ("W bits", ...) come from the parameter names
_WIDGETS = {"model": pn.widgets.Select, "batch": pn.widgets.IntSlider, "seq_len": pn.widgets.IntSlider,
            "w_bits": pn.widgets.DiscreteSlider, "a_bits": pn.widgets.DiscreteSlider,
            "kv_bits": pn.widgets.DiscreteSlider, "hardware": pn.widgets.Select, "system": pn.widgets.Select,
            "placement": pn.widgets.Select, "mode": pn.widgets.Select}
_ZOOM = {"layer": pn.widgets.Select, "detail": pn.widgets.Select, "channel": pn.widgets.IntSlider}
_LABELS = {"seq_len": "Sequence length", "w_bits": "Weight bits", "a_bits": "Activation bits",
           "kv_bits": "KV-cache bits", "hardware": "GPU (roofline)", "system": "PIM system", "mode": "Roofline mode",
           "detail": "Rows"}


def _controls(obj, widgets: dict) -> pn.Column:
    """One labelled widget per parameter of `obj` (pn.Param's widgets, with our labels)."""
    return pn.Column(*(w.from_param(obj.param[name], name=_LABELS.get(name, obj.param[name].label), width=250)
                       for name, w in widgets.items()), width=270)


class PimExplorer(PimControls, pn.viewable.Viewer):
    """The PIM page: the settings of PimControls, the PIM step's timeline with the GPU-only step above
    it (`timeline_view`), the GPU roofline with the PIM roof and PIM ops, and the energy of both paths.
    A setting labkit refuses (a model that does not fit the system) shows its error and keeps the plots."""

    def __init__(self, **params):
        super().__init__(**params)
        self.timeline_view = TimelineView(bank_source=self.bank_timeline)
        self.roofline_view = RooflineView(system=self.system)
        self.energy_view = EnergyView()
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["pim-error"], width=270)
        self.refresh()

    @param.depends(*PimControls.SETTINGS, watch=True)
    def refresh(self):
        """Recompute (labkit, cached) and hand the results to the views."""
        out = self.compute()
        self._alert.object, self._alert.visible = self.error, bool(self.error)
        if out is None:
            return
        r, tl, base = out
        self.timeline_view.param.update(timeline=tl, compare=base)
        self.roofline_view.param.update(result=r, timeline=tl if self.placement != "gpu" else None, system=self.system)
        self.energy_view.timelines = {"GPU only": base, self.placement: tl}

    def __panel__(self):
        controls, zoom = _controls(self, _WIDGETS), _controls(self.timeline_view, _ZOOM)
        side = pn.Column("### Decode step", controls, self._alert, "### Timeline zoom", zoom, width=290)
        plots = pn.Column(self.timeline_view,
                          pn.Row(self.roofline_view, self.energy_view, sizing_mode="stretch_width"),
                          sizing_mode="stretch_width")
        return pn.Row(side, plots, sizing_mode="stretch_width")


def pim_page():
    """Dashboard page: the explorer at llama-2-7b, batch 1, 512 tokens, fp16, AttAcc's bank-PIM + H100."""
    return pn.Column(INTRO, PimExplorer(), sizing_mode="stretch_width")


def redraw_time(view, param_name: str, values, root=None) -> float:
    """Median seconds to set `view.param_name` to each of `values` in turn, the in-place update of the
    Bokeh models included (what a served page does before it sends the patch to the browser).
    `view`: a PimExplorer (or any Panel component with that parameter). Builds the Bokeh model first
    unless `root` (from pn.panel(view).get_root()) is given."""
    if param_name not in view.param:
        raise ValueError(f"param: {type(view).__name__} has no parameter {param_name!r}")
    if root is None:
        pn.panel(view).get_root()
    times = []
    for v in values:
        t = time.perf_counter()
        setattr(view, param_name, v)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


register_inspector(Timeline, TimelineView)
register_inspector(RooflineResult, RooflineView)
register_page("pim", "PIM", pim_page,
              "one LLM decode step on a GPU and on DRAM-PIM: a zoomable timeline down to the banks, the "
              "roofline with GPU and PIM roofs, energy by component")
