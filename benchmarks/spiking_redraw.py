"""Redraw time of the spiking raster (widgets.spiking.RasterExplorer): 1000 LIF neurons x 10 s at
dt = 1 ms (~455k spikes at the default current), each slider change re-simulated through
labkit.spiking, re-aggregated by HoloViews rasterize (Datashader) and the Bokeh models updated in
place, as a served page does before it sends the patch. Values not seen before (no memo hits).

    .venv/bin/python benchmarks/spiking_redraw.py
"""

from __future__ import annotations

import os
import sys

import panel as pn

sys.path.insert(0, os.path.dirname(__file__))
from harness import machine  # noqa: E402

from widgets.spiking import RasterExplorer  # noqa: E402
from widgets.views import redraw_time  # noqa: E402

CASES = [("current", [2.5, 2.6, 2.7, 2.8, 2.9]), ("tau_ms", [15.0, 16.0, 17.0, 18.0, 19.0]),
         ("threshold", [0.9, 0.95, 1.05, 1.1, 1.15]), ("reset", ["subtract", "zero", "subtract", "zero", "subtract"])]


def main() -> None:
    print(machine())
    view = RasterExplorer()
    root = pn.panel(view).get_root()
    print(f"population: {view.summary()}")
    for name, values in CASES:
        ms = 1e3 * redraw_time(view, name, values, root=root)
        print(f"redraw after {name:9s}: {ms:6.0f} ms (median of {len(values)})")
    view.model = "network"
    print(f"network ({view.network_duration} s at dt 0.1 ms): {view.summary()}")
    print(f"redraw after coupling : {1e3 * redraw_time(view, 'coupling', [0.3, 0.4, 0.6], root=root):6.0f} ms "
          "(the network simulation included)")


if __name__ == "__main__":
    main()
