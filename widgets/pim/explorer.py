"""The PIM page's explorer: the settings of PimControls beside the timeline, roofline and energy views."""

from __future__ import annotations

import panel as pn
import param

from widgets.pim.controls import PimControls
from widgets.pim.energy import EnergyView
from widgets.pim.roofline import RooflineView
from widgets.pim.timeline import TimelineView

__all__ = ["PimExplorer"]

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

