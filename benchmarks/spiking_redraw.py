"""Redraw time of the spiking raster (widgets.spiking.RasterExplorer): 1000 LIF neurons x 10 s at
dt = 1 ms (~455k spikes at the default current), each slider change re-simulated through
labkit.spiking, re-aggregated per pixel and the Bokeh models updated in place, as a served page
does before it sends the patch. Values not seen before (no memo hits), median of 5 per slider.

    .venv/bin/python benchmarks/spiking_redraw.py
    .venv/bin/python benchmarks/spiking_redraw.py --against f8a4f59

`--against REV`: the same changes, alternating value by value (A, B, B, A, ...: drift in machine load
hits both), on widgets/spiking/raster.py as it was at git revision REV (e.g. f8a4f59, the HoloViews
rasterize + Datashader version), imported from a temporary folder beside the current one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import panel as pn

sys.path.insert(0, os.path.dirname(__file__))
from harness import machine  # noqa: E402

from widgets.spiking import RasterExplorer  # noqa: E402
from widgets.views import redraw_time  # noqa: E402

CASES = [("current", [2.5, 2.6, 2.7, 2.8, 2.9]), ("tau_ms", [15.0, 16.0, 17.0, 18.0, 19.0]),
         ("threshold", [0.9, 0.95, 1.05, 1.1, 1.15]), ("reset", ["subtract", "zero", "subtract", "zero", "subtract"])]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def explorer_at(rev: str):
    """RasterExplorer from widgets/spiking/raster.py at git revision `rev`."""
    text = subprocess.run(["git", "show", f"{rev}:widgets/spiking/raster.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    folder = tempfile.mkdtemp(prefix="labkit-raster-")
    name = f"raster_{rev.replace('/', '_').replace('~', '_').replace('^', '_')}"
    with open(os.path.join(folder, f"{name}.py"), "w") as f:
        f.write(text)
    sys.path.insert(0, folder)
    return importlib.import_module(name).RasterExplorer


def ab(old, new, name: str, values) -> tuple[float, float]:
    """Median seconds of each view after `view.name = v`, alternating which goes first value by value."""
    t = {id(old): [], id(new): []}
    for k, v in enumerate(values):
        for view in ((old, new) if k % 2 == 0 else (new, old)):
            t0 = time.perf_counter()
            setattr(view, name, v)
            t[id(view)].append(time.perf_counter() - t0)
    return statistics.median(t[id(old)]), statistics.median(t[id(new)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--against", metavar="REV", help="also time raster.py at this git revision, alternating")
    args = p.parse_args()
    print(machine())
    view = RasterExplorer()
    root = pn.panel(view).get_root()
    print(f"population: {view.summary()}")
    if args.against:
        old = explorer_at(args.against)()
        pn.panel(old).get_root()
        print(f"A/B against raster.py at {args.against} (alternating; median of 5 each):")
        for name, values in CASES:
            a, b = ab(old, view, name, values)
            print(f"redraw after {name:9s}: {1e3 * a:6.0f} ms at {args.against}, {1e3 * b:6.0f} ms now")
        return
    for name, values in CASES:
        ms = 1e3 * redraw_time(view, name, values, root=root)
        print(f"redraw after {name:9s}: {ms:6.0f} ms (median of {len(values)})")
    view.model = "network"
    print(f"network ({view.network_duration} s at dt 0.1 ms): {view.summary()}")
    print(f"redraw after coupling : {1e3 * redraw_time(view, 'coupling', [0.3, 0.4, 0.6], root=root):6.0f} ms "
          "(the network simulation included)")


if __name__ == "__main__":
    main()
