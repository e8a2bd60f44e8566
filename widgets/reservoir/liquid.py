"""LSMView: a liquid state machine's last run (the raster of its spiking liquid, from `snapshot()`) and the
filtered spike trains its readout sees (the states it was fitted on)."""

from __future__ import annotations

import panel as pn

from labkit.reservoir import LSM
from labkit.spiking import SpikeResult
from widgets.reservoir.states import pca_plot, state_heatmap
from widgets.spiking import RasterView


class LSMView(pn.viewable.Viewer):
    """Raster of the liquid's last run, the readout's states as a heatmap and their PCA trajectory."""

    def __init__(self, lsm: LSM, **params):
        if not isinstance(lsm, LSM):
            raise TypeError(f"lsm: expected a labkit.reservoir.LSM, got {type(lsm).__name__}")
        super().__init__(**params)
        self.lsm = lsm
        self.snapshot = lsm.snapshot()

    def result(self) -> SpikeResult | None:
        """The last run's raster as a SpikeResult (None before the first run)."""
        s = self.snapshot
        return None if s["spikes"] is None else SpikeResult(spikes=s["spikes"], dt=s["dt"])

    def __panel__(self):
        s = self.snapshot
        head = (f"### Liquid state machine: {self.lsm.units} LIF neurons ({s['n_inh']} inhibitory), "
                f"{len(s['data'])} synapses")
        res = self.result()
        if res is None:
            return pn.Column(head, "Not run yet: call `fit`, `run` or `fit_classes` to see the liquid.")
        parts = [head, RasterView(res)]
        if s["states"] is not None:
            parts += [state_heatmap(s["states"], title="readout states (filtered spike trains)"),
                      pca_plot(s["states"])]
        return pn.Column(*parts)
