"""widgets.spiking, headless: dispatch, the rasterized raster counts every spike, sliders change the
data (tau, threshold, reset, current, network coupling), traces agree with the raster, the f-I view
sits on the discrete formula, the Izhikevich gallery, the dashboard page. The redraw time of the
1000-neuron x 10 s raster is measured in benchmarks/spiking_redraw.py, not here."""

import numpy as np
import panel as pn
import pytest

import widgets
from labkit import spiking
from widgets.spiking import FICurve, PresetGallery, RasterExplorer, RasterView, binned_rate, spike_points, spiking_page


@pytest.fixture(scope="module")
def explorer():
    ex = RasterExplorer(n_neurons=200, duration=2.0, neurons=[20, 150], network_duration=0.1)
    pn.panel(ex).get_root()
    return ex


def _image_total(view) -> float:
    """Sum of the raster image the rasterize pipeline last produced (a count per pixel)."""
    img = view.plots()[0].last
    return float(np.nansum(img.dimension_values(2)))


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


def test_raster_counts_every_spike(explorer):
    assert _image_total(explorer) == explorer.summary()["spikes"] > 1000


@pytest.mark.parametrize("name, value", [("current", 4.0), ("tau_ms", 35.0), ("threshold", 1.4), ("reset", "subtract")])
def test_each_slider_changes_the_data(explorer, name, value):
    explorer.model = "population"
    before, old = explorer.points(), getattr(explorer, name)
    rate_before = explorer.rate()[1].copy()
    setattr(explorer, name, value)
    try:
        after = explorer.points()
        assert len(after[0]) != len(before[0]) or not np.array_equal(after[0], before[0])
        assert not np.array_equal(explorer.rate()[1], rate_before)
        assert _image_total(explorer) == len(after[0])           # the drawn raster followed
    finally:
        setattr(explorer, name, old)


def test_traces_agree_with_the_raster(explorer):
    explorer.model = "population"
    r = explorer.result()
    for i, v in explorer.traces().items():
        assert np.array_equal(v > explorer.threshold, r.spikes[:, i])
    assert explorer.traces()[150].max() > explorer.traces()[20].max()   # more current, higher membrane


def test_network_coupling_changes_the_network(explorer):
    explorer.model = "network"
    try:
        a = explorer.summary()
        explorer.coupling = 0.2
        b = explorer.summary()
        assert a["spikes"] != b["spikes"] and b["neurons"] == 1000
        assert _image_total(explorer) == b["spikes"]
        tr = explorer.traces()
        assert set(tr) == {20, 150} and len(tr[20]) == explorer.result().n_steps
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
    assert d1 is not d2 and "tonic_bursting" in d2[0].opts.get().kwargs["title"]
    pn.panel(g).get_root()


def test_page_builds():
    pn.panel(spiking_page()).get_root()
    assert any(p.slug == "spiking" for p in widgets.pages())   # registered by widgets.spiking
