"""The spike raster: who fired when, membrane traces of chosen neurons, and the population rate.

A 1000-neuron, 10 s run at dt = 1 ms holds ~500k spikes, far more than a browser should draw as
glyphs. The raster is therefore aggregated the HoloViz way: the spikes are `hv.Points(time, neuron)`
and HoloViews' `rasterize` (Datashader) bins them into an image of the plot's size, re-aggregated
on zoom in a served page. Traces and the population rate are small curves drawn as they are.

    RasterView(result, neurons=(...))   a finished labkit.spiking.SpikeResult (what inspect() shows)
    RasterExplorer(...)                 sliders for tau, threshold, reset, current and the E/I
                                        network's coupling; every change re-simulates through
                                        labkit.spiking (memoised per setting) and redraws

The view draws only from SpikeResult's plain arrays (spikes, v, dt) and labkit's public models.
"""

from __future__ import annotations

import datashader as ds
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import panel as pn
import param
from holoviews.operation.datashader import rasterize

from labkit import spiking
from widgets.views import Memo

RASTER_CMAP = ["#ffffff", "#9ecae1", "#3182bd", "#08306b"]
TRACE_COLORS = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def spike_points(spikes: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(times in s, neuron ids) of every spike of a (T, N) bool raster. (flatnonzero and a divmod:
    np.nonzero on the 2-D raster took 158 ms for 455k spikes in 10M cells, this 18 ms, measured.)"""
    t, n = np.divmod(np.flatnonzero(spikes), spikes.shape[1])
    return t * dt, n


def binned_rate(spikes: np.ndarray, dt: float, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in s, population rate in Hz): spikes per neuron per second in bins of bin_s."""
    k = max(1, int(round(bin_s / dt)))
    per_step = spikes.sum(axis=1)
    n_bins = len(per_step) // k
    counts = per_step[: n_bins * k].reshape(n_bins, k).sum(axis=1)
    centres = (np.arange(n_bins) + 0.5) * k * dt
    return centres, counts / (spikes.shape[1] * k * dt)


class _RasterBase(pn.viewable.Viewer):
    """What RasterView and RasterExplorer share: the three plots, drawn from `result()` and
    `traces()` (subclasses provide them)."""

    neurons = param.List(default=[100, 500, 900], item_type=int, doc="neurons whose membrane is traced")
    rate_bin_ms = param.Number(default=10.0, bounds=(0.1, 1000.0), doc="population-rate bin (ms)")
    width = param.Integer(default=800, bounds=(100, 4000))
    raster_height = param.Integer(default=320, bounds=(50, 2000))

    _stream_params: tuple[str, ...] = ("neurons", "rate_bin_ms")

    def result(self) -> spiking.SpikeResult:
        raise NotImplementedError

    def traces(self) -> dict[int, np.ndarray]:
        """{neuron: (T,) membrane} for `neurons` (empty when the run has no membrane)."""
        raise NotImplementedError

    # -- plain data -------------------------------------------------------------------------------
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, neuron ids) of every spike in the current result."""
        r = self.result()
        return self._memo.of(r, "points", lambda: spike_points(r.spikes, r.dt))

    def rate(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.result()
        return self._memo.of(r, ("rate", self.rate_bin_ms),
                             lambda: binned_rate(r.spikes, r.dt, self.rate_bin_ms * 1e-3))

    def summary(self) -> dict:
        r = self.result()
        n_spikes = int(len(self.points()[0]))
        return {"neurons": r.n_neurons, "steps": r.n_steps, "duration_s": r.duration, "spikes": n_spikes,
                "mean_rate_hz": n_spikes / (r.n_neurons * r.duration)}

    # -- elements ---------------------------------------------------------------------------------
    def _raster(self, **_):
        t, n = self.points()
        r = self.result()
        return hv.Points((t, n), kdims=["time", "neuron"]).redim.range(time=(0, r.duration),
                                                                        neuron=(-0.5, r.n_neurons - 0.5))

    def _traces(self, **_):
        curves = [hv.Curve((self.result().times, v), "time", "v", label=f"neuron {i}").opts(
                  color=TRACE_COLORS[k % len(TRACE_COLORS)], line_width=1)
                  for k, (i, v) in enumerate(self.traces().items())]
        if not curves:
            curves = [hv.Curve(([], []), "time", "v")]
        return hv.Overlay(curves).opts(legend_position="right")

    def _rate(self, **_):
        c, hz = self.rate()
        return hv.Curve((c, hz), "time", ("rate", "population rate (Hz)")).opts(color="#444444")

    def plots(self):
        """The HoloViews layout: rasterized spikes, traces and population rate, sharing the time axis."""
        if getattr(self, "_plots", None) is None:
            streams = [hv.streams.Params(self, list(self._stream_params))]
            # the zoom window rasterize aggregates over; emptied when the run's extent changes (see _new_extent)
            self._range = hv.streams.RangeXY()
            raster = rasterize(hv.DynamicMap(self._raster, streams=streams), aggregator=ds.count(),
                               width=self.width, height=self.raster_height, dynamic=True, streams=[self._range])
            raster = raster.opts(cmap=RASTER_CMAP, cnorm="eq_hist", width=self.width, height=self.raster_height,
                                 title="spikes (rasterized: count per pixel)", colorbar=False, tools=["hover"],
                                 framewise=True)
            traces = hv.DynamicMap(self._traces, streams=streams).opts(width=self.width, height=160, framewise=True,
                                                                      title="membrane of the traced neurons")
            rate = hv.DynamicMap(self._rate, streams=streams).opts(width=self.width, height=140, framewise=True,
                                                                  title="population rate")
            self._plots = (raster + traces + rate).cols(1)
        return self._plots

    def _new_extent(self):
        """A run of another size or length: forget the old zoom window, so rasterize bins the whole
        new run (an old window would cut off neurons or time)."""
        if getattr(self, "_range", None) is not None:
            self._range.reset()

    def __panel__(self):
        return pn.Row(self._controls(), pn.pane.HoloViews(self.plots(), linked_axes=True))

    def _controls(self):
        return pn.Column(pn.pane.Markdown(self._readout), width=260)

    @param.depends("neurons", "rate_bin_ms")
    def _readout(self):
        s = self.summary()
        return (f"**{s['neurons']} neurons × {s['duration_s']:g} s** ({s['steps']} steps)  \n"
                f"{s['spikes']:,} spikes, mean {s['mean_rate_hz']:.1f} Hz")


class RasterView(_RasterBase):
    """A finished run: `RasterView(result)` with result a labkit.spiking.SpikeResult."""

    def __init__(self, result, **params):
        if not isinstance(result, spiking.SpikeResult):
            raise TypeError(f"result: expected a labkit.spiking.SpikeResult, got {type(result).__name__}")
        self._result, self._memo = result, Memo(16)
        n = result.n_neurons
        params.setdefault("neurons", sorted({0, n // 2, n - 1}))
        super().__init__(**params)

    def result(self):
        return self._result

    def traces(self):
        if self._result.v is None:
            return {}
        return {i: self._result.v[:, i] for i in self.neurons if 0 <= i < self._result.n_neurons}


class RasterExplorer(_RasterBase):
    """Simulate and see: a population of `n_neurons` LIF neurons, neuron i driven by the constant
    current `current * i / (n_neurons - 1)` (threshold units, LIF(tau, dt) convention: the raster
    is the f-I curve read sideways), or Brunel's E/I network (labkit.spiking.Network) whose
    coupling J the slider sets. Traces: the chosen neurons re-run alone with record_v (the LIF
    population has no coupling, so their spikes are those of the raster)."""

    model = param.Selector(default="population", objects=["population", "network"])
    tau_ms = param.Number(default=20.0, bounds=(2.0, 100.0), step=1.0, doc="membrane time constant (ms)")
    threshold = param.Number(default=1.0, bounds=(0.2, 3.0), step=0.05, doc="LIF threshold (population)")
    reset = param.Selector(default="zero", objects=["zero", "subtract"])
    current = param.Number(default=3.0, bounds=(0.0, 6.0), step=0.1,
                           doc="largest input current, threshold units (population)")
    coupling = param.Number(default=0.5, bounds=(0.0, 1.0), step=0.05, doc="network: synaptic weight J (mV)")
    g = param.Number(default=5.0, bounds=(0.0, 8.0), step=0.25, doc="network: inhibition / excitation ratio")
    n_neurons = param.Integer(default=1000, bounds=(2, 10_000))
    duration = param.Number(default=10.0, bounds=(0.01, 60.0), doc="population run (s)")
    network_duration = param.Number(default=0.5, bounds=(0.01, 10.0), doc="network run (s): dt = 0.1 ms")
    dt_ms = param.Number(default=1.0, bounds=(0.01, 5.0), doc="population step (ms)")
    seed = param.Integer(default=0, bounds=(0, None))

    _stream_params = ("neurons", "rate_bin_ms", "model", "tau_ms", "threshold", "reset", "current", "coupling",
                      "g", "n_neurons", "duration", "network_duration", "dt_ms", "seed")

    def __init__(self, **params):
        self._memo = Memo(32)
        super().__init__(**params)
        # before the plots' stream watcher (registered later, in plots()): the extent resets first
        self.param.watch(lambda _: self._new_extent(), ["model", "n_neurons", "duration", "network_duration",
                                                        "dt_ms"])

    def _key(self):
        if self.model == "population":
            return ("population", self.tau_ms, self.threshold, self.reset, self.current, self.n_neurons,
                    self.duration, self.dt_ms)
        return ("network", self.tau_ms, self.coupling, self.g, self.network_duration, self.seed)

    def currents(self) -> np.ndarray:
        """(n_neurons,) the population's constant input currents."""
        return self.current * np.linspace(0.0, 1.0, self.n_neurons)

    def _lif(self):
        return spiking.LIF(tau=self.tau_ms * 1e-3, dt=self.dt_ms * 1e-3, threshold=self.threshold, reset=self.reset)

    def network(self) -> spiking.Network:
        key = ("net", self.tau_ms, self.coupling, self.g, self.seed)
        return self._memo.get_or(key, lambda: spiking.Network(
            n_exc=800, n_inh=200, J=self.coupling, g=self.g, tau=self.tau_ms * 1e-3, seed=self.seed))

    def result(self) -> spiking.SpikeResult:
        def make():
            if self.model == "population":
                steps = int(round(self.duration / (self.dt_ms * 1e-3)))
                return self._lif().run(self.currents(), n_steps=steps)
            net = self.network()
            return net.run(n_steps=int(round(self.network_duration / net.dt)), record_v=False)
        return self._memo.get_or(self._key(), make)

    def traces(self) -> dict[int, np.ndarray]:
        ids = [i for i in self.neurons if 0 <= i < self.result().n_neurons]
        if not ids:
            return {}
        key = (*self._key(), "traces", tuple(ids))

        def make():
            if self.model == "population":
                r = self._lif().run(self.currents()[ids], n_steps=self.result().n_steps, record_v=True)
                return {i: r.v[:, k] for k, i in enumerate(ids)}
            # the network's neurons are coupled: re-run it (same seed, same spikes) keeping the membrane
            net = self.network()
            r = net.run(n_steps=self.result().n_steps, record_v=True)
            return {i: r.v[:, i] for i in ids}
        return self._memo.get_or(key, make)

    def _controls(self):
        w = pn.Param(self.param, parameters=["model", "tau_ms", "threshold", "reset", "current", "coupling", "g"],
                     widgets={"tau_ms": pn.widgets.FloatSlider, "threshold": pn.widgets.FloatSlider,
                              "current": pn.widgets.FloatSlider, "coupling": pn.widgets.FloatSlider,
                              "g": pn.widgets.FloatSlider, "reset": pn.widgets.RadioButtonGroup,
                              "model": pn.widgets.RadioButtonGroup},
                     show_name=False, width=260)
        return pn.Column(w, pn.pane.Markdown(self._readout), width=280)

    @param.depends(*_stream_params)
    def _readout(self):
        return super()._readout()
