"""The spike raster: who fired when, membrane traces of chosen neurons, and the population rate.

A 1000-neuron, 10 s run at dt = 1 ms holds ~500k spikes, far more than a browser should draw as
glyphs. The raster is therefore aggregated per pixel, as Datashader does (count per pixel): the
spikes (time, neuron) are binned into an image of the plot's frame size (`count_image`, the same
counts as `np.histogram2d`), and the browser's zoom re-aggregates the visible window. The plots are
plain Bokeh, built once per rendering: one `image` glyph for the raster, one multi-line for the traces,
one line for the population rate, in one column sharing the time axis; a change only assigns new
column data to their sources (widgets.views), and only what the change touches is recomputed:

    a model setting (tau, threshold, reset, current, coupling, ...)   the run (memoised per setting),
                                                                       raster, traces, rate, readout
    neurons                                                            the traces
    rate_bin_ms                                                        the population rate
    the browser's zoom / pan                                           the raster image of the window

    RasterView(result, neurons=(...))   a finished labkit.spiking.SpikeResult (what inspect() shows)
    RasterExplorer(...)                 sliders for tau, threshold, reset, current and the E/I
                                        network's coupling; every change re-simulates through
                                        labkit.spiking (memoised per setting) and redraws

The view draws only from SpikeResult's plain arrays (spikes, v, dt) and labkit's public models.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import panel as pn
import param
from bokeh.events import RangesUpdate
from bokeh.layouts import column
from bokeh.models import EqHistColorMapper, HoverTool, Range1d
from bokeh.plotting import figure

from labkit import spiking
from widgets.views import Memo, Renderings, legend_right, push, readout, refresh_readout, source

RASTER_CMAP = ["#c6dbef", "#6baed6", "#2171b5", "#08306b"]   # 1 spike in a pixel -> most spikes; 0: transparent


def palette(colors: list[str], n: int = 256) -> list[str]:
    """`n` colours interpolated linearly (RGB) through `colors`: the equalised-histogram colour
    mapper then has n levels to spread the counts over, not len(colors)."""
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], float)
    at = np.linspace(0, len(colors) - 1, n)
    out = np.stack([np.interp(at, np.arange(len(colors)), rgb[:, k]) for k in range(3)], axis=1)
    return ["#%02x%02x%02x" % tuple(int(round(v)) for v in row) for row in out]
TRACE_COLORS = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def spike_points(spikes: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(times in s, neuron ids) of every spike of a (T, N) bool raster, ordered by time then neuron.
    (flatnonzero and an integer division: np.nonzero on the 2-D raster took 109 ms for 455k spikes in
    10M cells, np.divmod 17 ms, this 9 ms, measured on a loaded 2-core machine.)"""
    flat = np.flatnonzero(spikes)
    step = flat // spikes.shape[1]
    return step * dt, flat - step * spikes.shape[1]


def binned_rate(spikes: np.ndarray, dt: float, bin_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in s, population rate in Hz): spikes per neuron per second in bins of bin_s."""
    return _rate_of_steps(np.flatnonzero(spikes) // spikes.shape[1], *spikes.shape, dt, bin_s)


def _rate_of_steps(steps, n_steps: int, n_neurons: int, dt: float, bin_s: float):
    """binned_rate from the step index of every spike (a bincount, not a pass over the T x N raster)."""
    k = max(1, int(round(bin_s / dt)))
    n_bins = n_steps // k
    counts = np.bincount(steps // k, minlength=n_bins + 1)[:n_bins]
    centres = (np.arange(n_bins) + 0.5) * k * dt
    return centres, counts / (n_neurons * k * dt)


def count_image(times, neurons, x_range, y_range, width: int, height: int) -> np.ndarray:
    """(height, width) int64: the number of spikes in each pixel of the window x_range (s) x y_range
    (neuron ids), row 0 at y_range[0]. Datashader's count aggregation; the same counts as
    np.histogram2d(neurons, times, bins=(height, width), range=(y_range, x_range)) (spikes outside the
    window left out, the right edges included) up to a spike exactly on a bin edge, computed as one
    bincount of pixel indices (histogram2d's searchsorted took 50 ms for 455k spikes, this ~10 ms)."""
    (x0, x1), (y0, y1) = x_range, y_range
    t, n = np.asarray(times), np.asarray(neurons)
    if len(t) and not (t.min() >= x0 and t.max() <= x1 and n.min() >= y0 and n.max() <= y1):
        keep = (t >= x0) & (t <= x1) & (n >= y0) & (n <= y1)
        t, n = t[keep], n[keep]
    px = np.minimum(((t - x0) * (width / max(x1 - x0, 1e-300))).astype(np.int64), width - 1)
    py = np.minimum(((n - y0) * (height / max(y1 - y0, 1e-300))).astype(np.int64), height - 1)
    return np.bincount(py * width + px, minlength=width * height).reshape(height, width)


class _RasterBase(pn.viewable.Viewer):
    """What RasterView and RasterExplorer share: the plain data and the Bokeh column, drawn from
    `result()` and `traces()` (subclasses provide them)."""

    neurons = param.List(default=[100, 500, 900], item_type=int, doc="neurons whose membrane is traced")
    rate_bin_ms = param.Number(default=10.0, bounds=(0.1, 1000.0), doc="population-rate bin (ms)")
    width = param.Integer(default=800, bounds=(100, 4000), doc="raster frame width (px) = image columns, "
                          "when first drawn")
    raster_height = param.Integer(default=320, bounds=(50, 2000), doc="raster frame height (px) = image rows, "
                                  "when first drawn")

    _run_params: tuple[str, ...] = ()      # the settings that change the run (RasterExplorer's sliders)
    _extent_params: tuple[str, ...] = ()   # those that change its size or length: the zoom is forgotten

    def __init__(self, **params):
        super().__init__(**params)
        self._views = Renderings()
        self.param.watch(self._changed, ["neurons", "rate_bin_ms", *self._run_params])

    def result(self) -> spiking.SpikeResult:
        raise NotImplementedError

    def traces(self) -> dict[int, np.ndarray]:
        """{neuron: (T,) membrane} for `neurons` (empty when the run has no membrane)."""
        raise NotImplementedError

    # -- plain data -------------------------------------------------------------------------------
    def _steps(self) -> tuple[np.ndarray, np.ndarray]:
        """(step, neuron id) of every spike in the current result, ordered by step then neuron."""
        r = self.result()

        def make():
            flat = np.flatnonzero(r.spikes)
            step = flat // r.n_neurons
            return step, flat - step * r.n_neurons
        return self._memo.of(r, "steps", make)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, neuron ids) of every spike in the current result (spike_points of its raster)."""
        r = self.result()
        return self._memo.of(r, "points", lambda: (self._steps()[0] * r.dt, self._steps()[1]))

    def rate(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin centres in s, population rate in Hz) in bins of rate_bin_ms."""
        r = self.result()
        return self._memo.of(r, ("rate", self.rate_bin_ms), lambda: _rate_of_steps(
            self._steps()[0], r.n_steps, r.n_neurons, r.dt, self.rate_bin_ms * 1e-3))

    def extent(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((0, duration) s, (-0.5, n_neurons - 0.5)): the whole run, what the raster shows unzoomed."""
        r = self.result()
        return (0.0, r.duration), (-0.5, r.n_neurons - 0.5)

    def image(self, x_range=None, y_range=None) -> np.ndarray:
        """(raster_height, width) spike counts per pixel over the window (default: the whole run;
        memoised, a zoomed window is not)."""
        r, (fx, fy) = self.result(), self.extent()
        window = (tuple(x_range or fx), tuple(y_range or fy))
        make = partial(count_image, *self.points(), *window, self.width, self.raster_height)
        return make() if window != (fx, fy) else self._memo.of(r, ("image", self.width, self.raster_height), make)

    def summary(self) -> dict:
        r = self.result()
        n_spikes = int(len(self.points()[0]))
        return {"neurons": r.n_neurons, "steps": r.n_steps, "duration_s": r.duration, "spikes": n_spikes,
                "mean_rate_hz": n_spikes / (r.n_neurons * r.duration)}

    def _summary_text(self) -> str:
        s = self.summary()
        return (f"**{s['neurons']} neurons × {s['duration_s']:g} s** ({s['steps']} steps)  \n"
                f"{s['spikes']:,} spikes, mean {s['mean_rate_hz']:.1f} Hz")

    # -- the Bokeh column -------------------------------------------------------------------------
    def _figure(self):
        """Three figures sharing one time axis; returns (column, {"raster", "traces", "rate" sources,
        "figures", "window": the zoomed window or None})."""
        x = Range1d(0, 1)
        tools = "xwheel_zoom,xpan,box_zoom,reset,save"
        raster = figure(frame_width=self.width, frame_height=self.raster_height, x_range=x, y_range=Range1d(0, 1),
                        tools="wheel_zoom,pan,box_zoom,reset,save", active_scroll="wheel_zoom",
                        y_axis_label="neuron")
        img = source(["image", "x", "y", "dw", "dh"])
        r = raster.image(image="image", x="x", y="y", dw="dw", dh="dh", source=img,
                         color_mapper=EqHistColorMapper(palette=palette(RASTER_CMAP), nan_color=(0, 0, 0, 0)))
        raster.add_tools(HoverTool(renderers=[r], tooltips=[("time", "$x{0.000} s"), ("neuron", "$y{0}"),
                                                            ("spikes in pixel", "@image")]))
        traces = figure(frame_width=self.width, frame_height=160, x_range=x, tools=tools, active_scroll="xwheel_zoom",
                        title="membrane of the traced neurons", y_axis_label="v")
        tr = source(["xs", "ys", "color", "label"])
        traces.multi_line(xs="xs", ys="ys", line_color="color", line_width=1, legend_field="label", source=tr)
        legend_right(traces)
        rate = figure(frame_width=self.width, frame_height=140, x_range=x, tools=tools, active_scroll="xwheel_zoom",
                      title="population rate", x_axis_label="time (s)", y_axis_label="Hz")
        rt = source(["t", "hz"])
        rate.line(x="t", y="hz", source=rt, color="#444444")
        for f in (raster, traces, rate):
            f.title.text_font_size = "10pt"
            f.xgrid.grid_line_color = f.ygrid.grid_line_color = None
        return column(raster, traces, rate), {"raster": img, "traces": tr, "rate": rt,
                                              "figures": (raster, traces, rate), "window": None}

    def _draw_raster(self, view) -> None:
        src, fig, window = view.sources["raster"], view.sources["figures"][0], view.sources["window"]
        (fx, fy) = self.extent()
        x_range, y_range = window or (fx, fy)
        counts = self.image(x_range, y_range)
        shown = counts.astype(np.float32)
        shown[counts == 0] = np.nan                     # empty pixels transparent, out of the colour scale
        src.data = {"image": [shown], "x": [x_range[0]], "y": [y_range[0]], "dw": [x_range[1] - x_range[0]],
                    "dh": [y_range[1] - y_range[0]]}
        where = "" if window is None else f", {int(counts.sum()):,} in view"
        fig.title.text = (f"spikes: count per pixel ({self.width} × {self.raster_height} px; "
                          f"{len(self.points()[0]):,} spikes{where})")
        if window is None:
            fig.x_range.update(start=fx[0], end=fx[1], reset_start=fx[0], reset_end=fx[1])
            fig.y_range.update(start=fy[0], end=fy[1], reset_start=fy[0], reset_end=fy[1])

    def _draw_traces(self, view) -> None:
        tr = self.traces()
        times = self.result().times
        view.sources["traces"].data = {"xs": [times] * len(tr), "ys": list(tr.values()),
                                       "color": [TRACE_COLORS[k % len(TRACE_COLORS)] for k in range(len(tr))],
                                       "label": [f"neuron {i}" for i in tr]}
        # the legend_field item stays in the legend when no neuron is traced (a label without its line)
        view.sources["figures"][1].legend.visible = bool(tr)

    def _draw_rate(self, view) -> None:
        c, hz = self.rate()
        view.sources["rate"].data = {"t": c, "hz": hz}

    def _draw(self, view, parts=("raster", "traces", "rate")) -> None:
        for part in parts:
            getattr(self, f"_draw_{part}")(view)
        push(view.pane)

    def _changed(self, *events) -> None:
        """A setting changed: recompute and redraw only what it touches (see the module docstring)."""
        names = {e.name for e in events}
        if names & set(self._run_params):
            parts = ("raster", "traces", "rate")
            refresh_readout(self, self._summary_text)
        else:
            parts = (("traces",) if "neurons" in names else ()) + (("rate",) if "rate_bin_ms" in names else ())
        new_extent = bool(names & set(self._extent_params))
        for view in self._views:
            if new_extent:
                view.sources["window"] = None    # an old window would cut off neurons or time
            self._draw(view, parts)

    def _zoom(self, view, which: int, event) -> None:
        """The browser's zoom / pan / reset (a RangesUpdate on one of the three figures): re-aggregate
        the raster over the visible window (a window covering the whole run is no zoom)."""
        (fx, fy), raster = self.extent(), view.sources["figures"][0]
        if event.x0 is None or event.x1 is None:
            return
        y = (event.y0, event.y1) if which == 0 and event.y0 is not None else (raster.y_range.start,
                                                                              raster.y_range.end)
        x0, x1 = max(event.x0, fx[0]), min(event.x1, fx[1])
        y0, y1 = max(min(y), fy[0]), min(max(y), fy[1])
        whole = x0 <= fx[0] and x1 >= fx[1] and y0 <= fy[0] and y1 >= fy[1]
        view.sources["window"] = None if whole or x1 <= x0 or y1 <= y0 else ((x0, x1), (y0, y1))
        self._draw(view, ("raster",))

    def __panel__(self):
        view = self._views.add(*self._figure())  # kept up to date until 8 newer ones are made
        for i, f in enumerate(view.sources["figures"]):
            f.on_event(RangesUpdate, partial(self._zoom, view, i))
        self._draw(view)
        return pn.Row(self._controls(), view.pane)

    def _controls(self):
        return pn.Column(readout(self, self._summary_text), width=260)


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
    population has no coupling, so their spikes are those of the raster); the network's come from
    its one run (record_v), or a re-run with the same seed when other neurons are chosen."""

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

    _run_params = ("model", "tau_ms", "threshold", "reset", "current", "coupling", "g", "n_neurons", "duration",
                   "network_duration", "dt_ms", "seed")
    _extent_params = ("model", "n_neurons", "duration", "network_duration", "dt_ms")

    def __init__(self, **params):
        self._memo = Memo(32)
        super().__init__(**params)

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
        """The run at the current setting (memoised per setting)."""
        def make():
            if self.model == "population":
                steps = int(round(self.duration / (self.dt_ms * 1e-3)))
                return self._lif().run(self.currents(), n_steps=steps)
            # one run for the raster and the traced membranes (the network's neurons are coupled: a
            # trace needs the whole network); only the traced neurons' membranes are kept
            net = self.network()
            r = net.run(n_steps=int(round(self.network_duration / net.dt)), record_v=True)
            ids = self._traced(r.n_neurons)
            self._memo.get_or(self._traces_key(ids), lambda: {i: r.v[:, i].copy() for i in ids})
            return spiking.SpikeResult(r.spikes, r.dt)
        return self._memo.get_or(self._key(), make)

    def _traced(self, n: int) -> list[int]:
        return [i for i in self.neurons if 0 <= i < n]

    def _traces_key(self, ids):
        return (*self._key(), "traces", tuple(ids))

    def traces(self) -> dict[int, np.ndarray]:
        ids = self._traced(self.result().n_neurons)
        if not ids:
            return {}
        key = self._traces_key(ids)

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
        return pn.Column(w, readout(self, self._summary_text), width=280)
