"""PIM inspectors and the "PIM" dashboard page (labkit.pim).

    TimelineView(timeline, layer, detail, channel, max_bars)   Gantt of a simulated step, lanes x time,
                                  zoom whole step -> one layer -> one channel's banks; aggregated bars
    RooflineView(result, timeline=None, system=None)   ops as points under the GPU and PIM roofs
    EnergyView(timelines)         energy per step by component, one stacked bar per path
    PimControls(model, batch, seq_len, w_bits, a_bits, kv_bits, hardware, system, placement, mode)
    PimExplorer(**settings)       the page: controls, GPU-only and PIM timelines, roofline, energy

`widgets.inspect` returns TimelineView for a pim Timeline and RooflineView for a RooflineResult.
`redraw_time(view, param, values)` (widgets.views) is the server-side redraw time benchmarks/pim.py reports.

Modules: timeline.py, roofline.py, energy.py, controls.py (PimControls), explorer.py (PimExplorer),
page.py (pim_page). This file is the only one that registers the mechanism's inspectors and page.
"""

from labkit.pim import RooflineResult, Timeline
from widgets.inspect import register_inspector, register_page
from widgets.pim.controls import PimControls
from widgets.pim.energy import EnergyView, energy_table
from widgets.pim.explorer import PimExplorer
from widgets.pim.page import pim_page
from widgets.pim.roofline import RooflineView, gpu_points, pim_points
from widgets.pim.timeline import TimelineView, aggregate
from widgets.views import redraw_time

__all__ = ["TimelineView", "RooflineView", "EnergyView", "PimControls", "PimExplorer", "aggregate", "energy_table",
           "gpu_points", "pim_points", "pim_page", "redraw_time"]

register_inspector(Timeline, TimelineView)
register_inspector(RooflineResult, RooflineView)
register_page("pim", "PIM", pim_page,
              "one LLM decode step on a GPU and on DRAM-PIM: a zoomable timeline down to the banks, the "
              "roofline with GPU and PIM roofs, energy by component")
