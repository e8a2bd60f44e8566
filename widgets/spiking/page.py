"""The "Spiking units" dashboard page: the raster explorer, the f-I curve and Izhikevich's zoo."""

from __future__ import annotations

import panel as pn

from widgets.spiking.fi import FICurve
from widgets.spiking.izhikevich import PresetGallery
from widgets.spiking.raster import RasterExplorer
from widgets.tabs import lazy_tabs

RASTER_TEXT = ("**Raster.** 1000 LIF neurons for 10 s at dt = 1 ms, neuron *i* driven by a constant current "
               "rising with *i* (so the raster is the f-I curve on its side), or a Brunel E/I network. The "
               "~500k spikes are counted per pixel (Datashader's count aggregation, as one numpy bincount into a "
               "Bokeh image); zoom re-aggregates the visible window.")
FI_TEXT = "**f-I curve.** Simulated rates over the continuous formula and the exact discrete one at the chosen dt."
IZHIKEVICH_TEXT = "**Izhikevich (2004), Fig. 1.** Twenty behaviours from four parameters (a, b, c, d)."


def spiking_page():
    """Dashboard page: 1000 LIF neurons x 10 s (or Brunel's E/I network) as a raster counted per pixel with
    traces and population rate; the f-I curve against its formulas; the 20 Izhikevich behaviours. One tab
    each (each made when first shown)."""
    return pn.Column(
        "## Spiking units",
        lazy_tabs(("Raster", lambda: pn.Column(RASTER_TEXT, RasterExplorer())),
                  ("f-I curve", lambda: pn.Column(FI_TEXT, FICurve())),
                  ("Izhikevich's zoo", lambda: pn.Column(IZHIKEVICH_TEXT, PresetGallery()))),
        sizing_mode="stretch_width")
