"""widgets.spiking, headless: dispatch, the raster image counts every spike (count_image is
np.histogram2d), sliders change the data (tau, threshold, reset, current, network coupling) and the
drawn Bokeh sources follow in place, a change redraws only what it touches, the browser's zoom
re-aggregates the window, traces agree with the raster, the f-I view sits on the discrete formula,
the Izhikevich gallery, the dashboard page. The redraw time of the 1000-neuron x 10 s raster is
measured in benchmarks/spiking_redraw.py, not here."""

import numpy as np
import panel as pn
import pytest
from bokeh.events import RangesUpdate
from bokeh.models import GlyphRenderer, Image, Line, MultiLine, Plot

import widgets
from labkit import spiking
from widgets.spiking import (
    FICurve,
    PresetGallery,
    RasterExplorer,
    RasterView,
    binned_rate,
    count_image,
    spike_points,
    spiking_page,
)


@pytest.fixture(scope="module")
def drawn():
    ex = RasterExplorer(n_neurons=200, duration=2.0, neurons=[20, 150], network_duration=0.1)
    return ex, pn.panel(ex).get_root()


@pytest.fixture(scope="module")
def explorer(drawn):
    return drawn[0]


def _sources(root) -> dict:
    """{"raster", "traces", "rate"}: the data sources of the drawn column's three glyphs."""
    kinds = {Image: "raster", MultiLine: "traces", Line: "rate"}
    return {kinds[type(r.glyph)]: r.data_source for r in root.select({"type": GlyphRenderer})
            if type(r.glyph) in kinds}


def _image_total(root) -> float:
    """Sum of the raster image drawn now (a count per pixel; empty pixels are NaN)."""
    return float(np.nansum(_sources(root)["raster"].data["image"][0]))


def test_inspect_dispatches():
    res = spiking.LIF(tau=20e-3, dt=1e-3).run(np.linspace(0, 3, 30), n_steps=500, record_v=True)
    view = widgets.inspect(res)
    assert isinstance(view, RasterView) and view.result() is res
    assert set(view.traces()) == {0, 15, 29}
    net_view = widgets.inspect(spiking.Network(n_exc=80, n_inh=20, seed=1))
    assert isinstance(net_view, RasterView) and net_view.result().v is not None
    assert "labkit.spiking.result.SpikeResult" in widgets.supported_types()


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="^result: expected a labkit.spiking.SpikeResult"):
        RasterView(np.zeros((10, 3), bool))


def test_spike_points_and_binned_rate():
    s = np.zeros((100, 4), bool)
    s[[3, 3, 50], [0, 2, 1]] = True
    t, n = spike_points(s, 1e-3)
    assert np.allclose(t, [0.003, 0.003, 0.050]) and n.tolist() == [0, 2, 1]
    c, hz = binned_rate(s, 1e-3, 0.01)
    assert len(c) == 10 and hz[0] == pytest.approx(2 / (4 * 0.01)) and hz[5] == pytest.approx(1 / (4 * 0.01))


def test_count_image_is_histogram2d():
    rng = np.random.default_rng(0)
    t, n = rng.uniform(-1, 11, 5000), rng.uniform(-10, 210, 5000)
    for x_range, y_range in [((0.0, 10.0), (-0.5, 199.5)), ((2.5, 3.1), (40.0, 90.0))]:
        want = np.histogram2d(n, t, bins=(30, 70), range=(y_range, x_range))[0]
        got = count_image(t, n, x_range, y_range, 70, 30)
        assert got.shape == (30, 70) and np.array_equal(got, want)
    assert count_image([], [], (0, 1), (0, 1), 4, 3).sum() == 0


def test_raster_counts_every_spike(drawn):
    ex, root = drawn
    assert _image_total(root) == ex.image().sum() == ex.summary()["spikes"] > 1000
    figs = list(root.select({"type": Plot}))
    assert len(figs) == 3 and len({id(f.x_range) for f in figs}) == 1      # one time axis for the three


@pytest.mark.parametrize("name, value", [("current", 4.0), ("tau_ms", 35.0), ("threshold", 1.4), ("reset", "subtract")])
def test_each_slider_changes_the_data(drawn, name, value):
    explorer, root = drawn
    explorer.model = "population"
    src = _sources(root)
    traces_before = [np.array(y) for y in src["traces"].data["ys"]]
    before, old = explorer.points(), getattr(explorer, name)
    rate_before = explorer.rate()[1].copy()
    setattr(explorer, name, value)
    try:
        after = explorer.points()
        assert len(after[0]) != len(before[0]) or not np.array_equal(after[0], before[0])
        assert not np.array_equal(explorer.rate()[1], rate_before)
        assert _image_total(root) == len(after[0])           # the drawn raster followed
        assert np.array_equal(src["rate"].data["hz"], explorer.rate()[1])
        assert any(not np.array_equal(a, b) for a, b in zip(src["traces"].data["ys"], traces_before, strict=True))
    finally:
        setattr(explorer, name, old)


def test_traces_agree_with_the_raster(explorer):
    explorer.model = "population"
    r = explorer.result()
    for i, v in explorer.traces().items():
        assert np.array_equal(v > explorer.threshold, r.spikes[:, i])
    assert explorer.traces()[150].max() > explorer.traces()[20].max()   # more current, higher membrane


def test_a_change_redraws_only_what_it_touches(drawn):
    ex, root = drawn
    src = _sources(root)
    image, traces, rate = (src["raster"].data["image"][0], src["traces"].data["ys"], src["rate"].data["hz"])
    ex.rate_bin_ms = 50.0
    try:
        assert src["raster"].data["image"][0] is image and src["traces"].data["ys"] is traces
        assert len(src["rate"].data["hz"]) == len(rate) // 5
        rate = src["rate"].data["hz"]
        ex.neurons = [5, 20, 150]
        assert src["raster"].data["image"][0] is image and src["rate"].data["hz"] is rate
        assert src["traces"].data["label"] == ["neuron 5", "neuron 20", "neuron 150"]
    finally:
        ex.param.update(rate_bin_ms=10.0, neurons=[20, 150])


def test_zoom_reaggregates_the_window(drawn):
    ex, root = drawn
    (raster,) = [f for f in root.select({"type": Plot}) if any(isinstance(r.glyph, Image) for r in f.renderers)]
    raster._trigger_event(RangesUpdate(raster, x0=0.5, x1=0.75, y0=100.0, y1=180.0))
    try:
        t, n = ex.points()
        inside = int(((t >= 0.5) & (t <= 0.75) & (n >= 100) & (n <= 180)).sum())
        assert 0 < _image_total(root) == inside < ex.summary()["spikes"]
        assert _sources(root)["raster"].data["x"] == [0.5] and _sources(root)["raster"].data["dh"] == [80.0]
        ex.tau_ms = 30.0                                      # same extent: the zoom is kept
        t, n = ex.points()
        assert _image_total(root) == int(((t >= 0.5) & (t <= 0.75) & (n >= 100) & (n <= 180)).sum())
        ex.duration = 1.0                                     # a new extent: the whole run again
        assert _image_total(root) == ex.summary()["spikes"] and raster.x_range.end == 1.0
    finally:
        ex.param.update(tau_ms=20.0, duration=2.0)
    assert _image_total(root) == ex.summary()["spikes"]


def test_network_coupling_changes_the_network(drawn):
    explorer, root = drawn
    explorer.model = "network"
    try:
        a = explorer.summary()
        explorer.coupling = 0.2
        b = explorer.summary()
        assert a["spikes"] != b["spikes"] and b["neurons"] == 1000
        assert _image_total(root) == b["spikes"]
        tr = explorer.traces()
        assert set(tr) == {20, 150} and len(tr[20]) == explorer.result().n_steps
        again = explorer.network().run(n_steps=explorer.result().n_steps, record_v=True)   # same seed, same run
        assert np.array_equal(again.spikes, explorer.result().spikes) and np.array_equal(again.v[:, 150], tr[150])
    finally:
        explorer.param.update(model="population", coupling=0.5)


def test_fi_curve_sits_on_the_discrete_formula():
    f = FICurve(n_points=40, duration=2.0)
    e1 = f.errors()
    assert e1["max_spikes_off_discrete"] <= 1.0 + 1e-9
    _, rates = f.simulated()
    f.dt_ms = 0.1
    e2 = f.errors()
    assert e2["max_spikes_off_discrete"] <= 1.0 + 1e-9
    assert e2["median_rel_err_continuous"] < e1["median_rel_err_continuous"]
    assert not np.array_equal(f.simulated()[1], rates)
    zero = f.simulated()[1]
    f.reset = "subtract"                                      # the overshoot is kept: never slower
    assert (f.simulated()[1] >= zero - 1 / f.duration).all() and (f.simulated()[1] > zero).any()
    pn.panel(f).get_root()


def test_preset_gallery():
    g = PresetGallery()
    rows = g.table()
    assert len(rows) == 20 and {r["panel"] for r in rows} == set("ABCDEFGHIJKLMNOPQRST")
    assert sum(r["spikes"] > 0 for r in rows) >= 15
    d1 = g.detail()
    g.preset = "tonic_bursting"
    d2 = g.detail()
    assert d1 is not d2 and "tonic_bursting" in d2[0].object.opts.get().kwargs["title"]
    grid = g.grid()   # one figure: a line and a title per preset, each trace inside its own cell
    (lines,) = [r for r in grid.renderers if hasattr(r.glyph, "xs")]
    (titles,) = [r for r in grid.renderers if hasattr(r.glyph, "text")]
    assert len(lines.data_source.data["xs"]) == 20 and len(titles.data_source.data["text"]) == 20
    for k, (xs, ys) in enumerate(zip(lines.data_source.data["xs"], lines.data_source.data["ys"], strict=True)):
        row, col = divmod(k, g.cols)
        assert col <= xs.min() and xs.max() <= col + 1 and -row <= ys.min() and ys.max() <= -row + 1
    pn.panel(g).get_root()


def test_page_builds():
    pn.panel(spiking_page()).get_root()
    assert any(p.slug == "spiking" for p in widgets.pages())   # registered by widgets.spiking
