"""widgets.reservoir, headless: dispatch for ESN / EIESN / LSM, the Bokeh models, the numbers the views
draw (spectral radius, E/I input per unit, PCA, divergence horizon, memory capacity) against labkit's own,
sliders building new reservoirs without touching the inspected one, and the dashboard page."""

import numpy as np
import panel as pn
import pytest

import widgets
import widgets.reservoir as wr  # registers the inspectors (until widgets/__init__ imports the package)
from labkit import reservoir as rc


@pytest.fixture(scope="module")
def fitted():
    X = rc.mackey_glass(400, tau=17)
    return rc.ESN(units=60, sr=1.1, lr=0.3, seed=3, ridge=1e-6).fit(X[:-1], X[1:], warmup=20)


def test_inspect_returns_the_explorer_for_a_fitted_esn(fitted):
    ex = widgets.inspect(fitted)
    assert isinstance(ex, wr.ReservoirExplorer) and ex.reservoir() is fitted
    assert (ex.sr, ex.lr, ex.units, ex.model) == (1.1, 0.3, 60, "ESN")
    for name in ("labkit.reservoir.esn.ESN", "labkit.reservoir.lsm.LSM"):
        assert name in widgets.supported_types()
    pn.panel(ex).get_root()


def test_the_views_draw_labkits_numbers(fitted):
    ex = wr.ReservoirExplorer(fitted, k_max=20)
    r = ex.run()
    np.testing.assert_array_equal(r["snapshot"]["W"], fitted.snapshot()["W"])
    assert np.abs(wr.eigenvalues(r["snapshot"]["W"])).max() == pytest.approx(fitted.spectral_radius_, rel=1e-9)
    copy = rc.ESN(**fitted.get_params())
    np.testing.assert_allclose(r["mc"], rc.memory_capacity(copy, k_max=20, seed=0))
    assert 0 < r["mc"].sum() <= fitted.units
    g = r["generation"]
    assert g["horizon"] == wr.divergence_horizon(g["truth"], g["prediction"], ex.tolerance)
    assert g["states"].shape == (len(ex._task["X"]), 60)
    exc, inh = wr.ei_inputs(r["snapshot"])
    W = r["snapshot"]["W"]
    np.testing.assert_allclose(exc - inh, W.sum(axis=1), atol=1e-12)
    assert (exc >= 0).all() and (inh >= 0).all()


def test_sliders_build_a_new_reservoir_and_leave_the_inspected_one_alone(fitted):
    before = fitted.snapshot()
    ex = wr.ReservoirExplorer(fitted, k_max=10)
    ex.sr, ex.units = 0.5, 40
    esn = ex.reservoir()
    assert esn is not fitted and (esn.sr, esn.units) == (0.5, 40)
    assert np.abs(wr.eigenvalues(ex.run()["snapshot"]["W"])).max() == pytest.approx(0.5, rel=1e-6)
    ex.model, ex.balance = "EIESN", 1.5
    assert isinstance(ex.reservoir(), rc.EIESN) and ex.reservoir().balance == 1.5
    pn.panel(ex).get_root()
    after = fitted.snapshot()
    for k in ("W", "Win", "readout", "state", "states"):
        np.testing.assert_array_equal(before[k], after[k])


def test_ei_inputs_use_the_ei_reservoirs_own_split():
    U = np.random.default_rng(0).uniform(-1, 1, (200, 1))
    ei = rc.EIESN(units=30, balance=1.3, sr=2.0, seed=0, ridge=1e-6).fit(U, np.roll(U, 1), warmup=10)
    snap = ei.snapshot()
    exc, inh = wr.ei_inputs(snap)
    np.testing.assert_allclose(exc, snap["exc_input"])
    np.testing.assert_allclose(inh, np.abs(snap["inh_input"]))
    assert isinstance(widgets.inspect(ei), wr.ReservoirExplorer)


def test_pca_and_divergence_horizon_on_known_data():
    t = np.linspace(0, 4 * np.pi, 200)
    states = np.column_stack([np.cos(t), 0.1 * np.sin(t), np.zeros_like(t)])
    P, ratio = wr.pca(states)
    assert ratio[0] > 0.98 and ratio.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.abs(P[:, 0]), np.abs(states[:, 0] - states[:, 0].mean()), atol=1e-9)
    truth = np.zeros(50)
    assert wr.divergence_horizon(truth + 1e-3, truth, 0.1) == 50           # flat truth: tolerance of 1.0
    truth = np.sin(np.linspace(0, 6, 50))
    pred = truth.copy()
    pred[30:] += 1.0
    assert wr.divergence_horizon(truth, pred, 0.1) == 30


def test_lsm_view_before_and_after_a_run():
    with pytest.raises(TypeError, match="lsm"):
        wr.LSMView(np.zeros(3))
    with pytest.raises(TypeError, match="esn"):
        wr.ReservoirExplorer(np.zeros(3))
    empty = widgets.inspect(rc.LSM(units=20, seed=0))
    assert isinstance(empty, wr.LSMView) and empty.result() is None
    pn.panel(empty).get_root()
    X = rc.mackey_glass(150)
    lsm = rc.LSM(units=40, seed=0).fit(X[:-1], X[1:], warmup=10)
    view = widgets.inspect(lsm)
    np.testing.assert_array_equal(view.result().spikes, lsm.spikes_)
    pn.panel(view).get_root()


def test_the_dashboard_page_builds():
    assert "reservoir" in {p.slug for p in widgets.pages()}
    pn.panel(wr.reservoir_page()).get_root()


def test_the_state_heatmap_draws_the_states_under_their_input():
    S = np.linspace(-2, 1, 30 * 7).reshape(30, 7)     # 30 steps x 7 units, most negative -2
    u = np.arange(30.0)
    top, heat = wr.state_heatmap(S, u[:, None], title="t").children
    img = heat.renderers[0]
    np.testing.assert_array_equal(img.data_source.data["image"][0], S.T)   # row i: unit i, from the bottom
    mapper = img.glyph.color_mapper
    assert (mapper.low, mapper.high) == (-2.0, 2.0)                      # symmetric about 0
    assert (heat.x_range.end, heat.y_range.end) == (30, 7) and top.x_range is heat.x_range
    np.testing.assert_array_equal(top.renderers[0].data_source.data["y"], u)
    assert heat.title.text == "t (7 units x 30 steps)"
    assert len(wr.state_heatmap(S).children) == 1                         # no input: the heatmap alone


def test_the_page_shares_the_esn_results_between_sessions():
    from widgets.reservoir.page import page_memo
    a, b = wr.ReservoirExplorer(memo=page_memo(), k_max=10), wr.ReservoirExplorer(memo=page_memo(), k_max=10)
    assert a.run() is b.run()                                            # computed once, for both
    b.sr = 0.9
    assert b.run() is not a.run()
    assert wr.ReservoirExplorer(memo=page_memo(), k_max=10, sr=0.9).run() is b.run()
    assert wr.ReservoirExplorer(k_max=10).run() is not a.run()           # an explorer of its own
    with pytest.raises(ValueError, match="memo"):
        wr.ReservoirExplorer(rc.ESN(units=10, seed=0), memo=page_memo())
