"""Spiking-unit inspectors and the "Spiking units" dashboard page (labkit.spiking).

    RasterView(result, neurons=...)   a SpikeResult: spikes counted per pixel, membrane traces, rate (raster.py)
    RasterExplorer(...)               the same, simulated live: tau, threshold, reset, current, coupling (raster.py)
    FICurve(...)                      simulated f-I points over the continuous and discrete formulas (fi.py)
    PresetGallery(...)                Izhikevich (2004) Fig. 1: the 20 behaviours' voltage traces (izhikevich.py)
    spiking_page()                    the dashboard page (page.py)

`widgets.inspect` returns RasterView for a SpikeResult and for a Network (its raster over
`NETWORK_SECONDS` of spontaneous activity). This file is the only one that registers the mechanism's
inspectors and page; the modules beside it only define views.
"""

from labkit.spiking import Network, SpikeResult
from widgets.inspect import register_inspector, register_page
from widgets.spiking.fi import FICurve
from widgets.spiking.izhikevich import PresetGallery, preset_trace
from widgets.spiking.page import spiking_page
from widgets.spiking.raster import RasterExplorer, RasterView, binned_rate, count_image, spike_points

__all__ = ["RasterView", "RasterExplorer", "FICurve", "PresetGallery", "preset_trace", "spiking_page",
           "network_view", "binned_rate", "count_image", "spike_points", "NETWORK_SECONDS"]

NETWORK_SECONDS = 0.5


def network_view(net: Network) -> RasterView:
    """A Network's spontaneous activity (no injected current) over NETWORK_SECONDS, with traces."""
    result = net.run(n_steps=int(round(NETWORK_SECONDS / net.dt)), record_v=True)
    return RasterView(result)


register_inspector(SpikeResult, RasterView)
register_inspector(Network, network_view)
register_page("spiking", "Spiking units", spiking_page,
              "a 1000-neuron raster (counted per pixel), membrane traces and population rate; the f-I curve; "
              "Izhikevich's 20 behaviours")
