"""widgets.sdr, headless: dispatch, the Bokeh models, and that what each view shows is exactly what
labkit.sdr computes (bit-grid colours vs overlap, θ readout vs theory, fill vs fill_fraction, recall
steps vs recall_steps, segment overlaps, coding-field code overlaps); the dashboard page, and what an
interaction computes and redraws (counted, not timed: the redraw times are in benchmarks/sdr.py; the browser
side is tests/test_ui_dashboard.py and tests/test_ui_sdr.py)."""

import numpy as np
import pandas as pd
import panel as pn
import pytest
from ui_support import count_calls, outside_running_loop, redrawn_in_place

import widgets
import widgets.sdr.overlap
from labkit.sdr import (
    SDR,
    CodingField,
    SegmentMemory,
    WillshawMemory,
    false_match_probability,
    false_negative_probability,
    overlap_counts,
    random_patterns,
    union_false_match_probability,
    willshaw_fill,
)
from widgets.sdr import (
    BitGrid,
    CodingFieldView,
    OverlapExplorer,
    PairExplorer,
    SegmentExplorer,
    UnionCapacity,
    WillshawExplorer,
    bit_states,
    sdr_page,
)
from widgets.sdr.bits import BOTH, ONLY_A, ONLY_B, grid_shape


def _segments(n=512, w=20, s=10, theta=5, m=12, k=1, seed=0):
    pats = random_patterns(n, w, m, seed)
    mem = SegmentMemory(n, w, s, theta, patterns_per_segment=k, seed=seed)
    mem.store_batch(pats)
    return mem, pats


def _field(m=15, n_inputs=256, w=20, seed=0):
    field = CodingField(8, 6, n_inputs, seed=seed)
    X = random_patterns(n_inputs, w, m, seed + 1)
    for row in X:
        field.store(SDR(n_inputs, row))
    return field, X


# -- dispatch and models ------------------------------------------------------------------------
def test_inspect_returns_the_right_inspector():
    a = SDR.random(100, 5, seed=0)
    mem, _ = _segments()
    field, _ = _field()
    cases = [(a, BitGrid), (WillshawMemory(64, 4), WillshawExplorer), (mem, SegmentExplorer),
             (field, CodingFieldView)]
    for obj, cls in cases:
        assert isinstance(widgets.inspect(obj), cls)
    assert widgets.inspect(a).a is a
    names = widgets.supported_types()
    for t in ("labkit.sdr.sdr.SDR", "labkit.sdr.willshaw.WillshawMemory", "labkit.sdr.segment.SegmentMemory",
              "labkit.sdr.coding_field.CodingField"):
        assert t in names


@pytest.mark.parametrize("make", [
    lambda: BitGrid(SDR.random(2048, 40, 1), SDR.random(2048, 40, 2)),
    lambda: BitGrid(SDR.random(10, 3, 1)),
    lambda: PairExplorer(n=512, w=20, shared=5),
    lambda: OverlapExplorer(n=1024, w=20, s=12, trials=20_000),
    lambda: UnionCapacity(n=1024, w=20, M_max=50),
    lambda: WillshawExplorer(n=64, w=4, n_store=20),
    lambda: WillshawExplorer(WillshawMemory(64, 4, n_out=32)),        # hetero-associative: no recall
    lambda: WillshawExplorer(WillshawMemory(600, 10)),                 # block view, nothing known
    lambda: SegmentExplorer(_segments()[0]),
    lambda: SegmentExplorer(SegmentMemory(64, 8, 4, 2)),               # no segments yet
    lambda: CodingFieldView(_field()[0]),
    lambda: CodingFieldView(CodingField(4, 4, 32, seed=0)),            # nothing stored
], ids=["bitgrid-pair", "bitgrid-one", "pair", "overlap", "union", "willshaw", "willshaw-hetero",
        "willshaw-blocks", "segments", "segments-empty", "coding", "coding-empty"])
def test_each_component_builds_its_bokeh_model(make):
    pn.panel(make()).get_root()


def test_bad_input_is_refused():
    a = SDR.random(100, 5, seed=0)
    with pytest.raises(TypeError, match="a:"):
        BitGrid(np.zeros(100))
    with pytest.raises(ValueError, match="b: sizes differ"):
        BitGrid(a, SDR.random(50, 5, seed=0))
    with pytest.raises(ValueError, match="n, w, s"):
        OverlapExplorer(n=100, w=10, s=20)
    with pytest.raises(TypeError, match="memory"):
        WillshawExplorer("memory")
    with pytest.raises(ValueError, match="patterns"):
        WillshawExplorer(WillshawMemory(64, 4), patterns=[[70, 1]])
    with pytest.raises(TypeError, match="memory"):
        SegmentExplorer(WillshawMemory(64, 4))
    with pytest.raises(TypeError, match="field"):
        CodingFieldView(SegmentMemory(64, 8, 4, 2))
    with pytest.raises(ValueError, match="inputs"):
        CodingFieldView(CodingField(4, 4, 32), inputs=np.zeros((2, 32)))  # more inputs than stored


# -- bit grids ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,w,seed", [(2048, 40, 0), (100, 50, 1), (17, 17, 2), (1000, 1, 3)])
def test_bitgrid_colours_count_the_overlap_exactly(n, w, seed):
    rng = np.random.default_rng(seed)
    a = SDR.random(n, w, seed=rng)
    for b in (SDR.random(n, max(1, w // 2), seed=rng), a, a.add_noise(min(w, n - w) // 2, seed=rng)):
        grid = BitGrid(a, b)
        ov = a.overlap(b)
        assert grid.counts() == {"off": n - a.union(b).w, "only a": a.w - ov, "only b": b.w - ov, "both": ov}
        z = grid.view().dimension_values(2, flat=False)       # what is drawn
        assert np.count_nonzero(z == BOTH) == ov and np.count_nonzero(z == ONLY_A) == a.w - ov
        assert np.count_nonzero(z == ONLY_B) == b.w - ov
        assert np.isnan(z).sum() == z.size - n
        assert f"overlap {ov}" in grid.view().opts.get().kwargs["title"]


def test_bit_i_is_drawn_at_row_i_div_cols_and_column_i_mod_cols():
    n = 50
    rows, cols = grid_shape(n)
    assert (rows, cols) == (7, 8)
    for i in (0, 9, 49):
        img = BitGrid(SDR(n, [i])).view()
        assert img[i % cols + 0.5, rows - i // cols - 0.5] == ONLY_A  # row 0 at the top
    np.testing.assert_array_equal(bit_states(4, [1], [1, 3])[:2].ravel(), [0, BOTH, 0, ONLY_B])


def test_pair_explorer_shares_exactly_the_requested_bits():
    pe = PairExplorer(n=1024, w=30, shared=7)
    assert pe.grid.a.overlap(pe.grid.b) == 7 and pe.grid.counts()["both"] == 7
    pe.shared = 21
    assert pe.grid.counts()["both"] == 21
    pe.n = 40  # w is clamped to n // 2 and shared to w
    assert pe.w == 20 and pe.shared <= 20 and pe.grid.a.n == 40


# -- overlap and θ ----------------------------------------------------------------------------------
def test_overlap_readout_equals_theory_as_theta_moves():
    ox = OverlapExplorer(n=2048, w=40, s=24, trials=50_000, v=16)
    c = overlap_counts(2048, 40, 24, 50_000, 0)
    np.testing.assert_array_equal(ox.counts(), c)
    for theta in (0, 3, 6, 10, 17, 24):
        ox.theta = theta
        r = ox.readout()
        assert r["fp"] == false_match_probability(2048, 40, 24, theta)
        assert r["fn"] == false_negative_probability(40, 24, theta, 16)
        assert r["hits"] == c[theta:].sum() and r["fp_measured"] == c[theta:].sum() / 50_000
        assert f"false positive **{r['fp']:.3g}**" in ox.readout_text()
        assert f"false negative **{r['fn']:.3g}**" in ox.readout_text()
        drawn = ox.histogram_view()
        hi = drawn.get(1)                                     # bars at or above theta: the false matches
        assert hi.label == "random: false match" and hi.dimension_values("count2").sum() == r["hits"]
        t = ox.tradeoff()
        assert t["fp"][theta] == r["fp"] and t["fn"][theta] == r["fn"]
    ox.v = 4
    assert ox.readout()["fn"] == false_negative_probability(40, 24, 24, 4)


def test_noisy_copy_distribution_matches_the_false_negative_formula():
    for w, s, v in [(40, 24, 16), (40, 40, 10), (20, 5, 0), (30, 11, 30)]:
        ox = OverlapExplorer(n=1000, w=w, s=s, v=v, trials=1000)
        p = ox.noisy_pmf()
        assert p.sum() == pytest.approx(1.0)
        for theta in range(s + 1):  # fn = P(overlap < theta)
            assert p[:theta].sum() == pytest.approx(false_negative_probability(w, s, theta, v), abs=1e-12)


def test_overlap_bounds_follow_n_w_s():
    ox = OverlapExplorer(n=2048, w=40, theta=30, v=30)
    assert ox.s == 40 and ox.param.theta.bounds == (0, 40)
    ox.w = 20
    assert ox.s == 20 and ox.theta == 20 and ox.v == 20 and ox.param.s.bounds == (1, 20)
    ox.s = 8
    assert ox.theta == 8 and ox.param.theta.bounds == (0, 8)


def test_union_curves_are_the_plugin_formula_and_monte_carlo_points_arrive():
    uc = UnionCapacity(n=1024, w=20, thetas=[10, 15], M_max=60, n_unions=10, queries=500)
    c = uc.curves()
    for M in (1, 7, 60):
        row = c[c["M"] == M].iloc[0]
        assert row["theta=10"] == union_false_match_probability(1024, 20, M, 10)
    uc.M = 7
    assert f"{union_false_match_probability(1024, 20, 7, 15):.3g}" in uc.readout_text()
    mc = uc.measure()
    assert len(mc) == 2 * len(uc.mc_points()) > 0 and set(mc["theta"]) == {10, 15}
    drawn = [el for el in uc.view() if el.label == "" and len(el)]
    assert sum(len(el) for el in drawn) >= 1  # measured points are on the plot


@outside_running_loop
def test_union_monte_carlo_button_gives_measure_s_points_one_union_size_per_step():
    kw = dict(n=1024, w=20, thetas=[10, 15], M_max=60, n_unions=10, queries=500)
    uc = UnionCapacity(**kw)
    assert "press **Monte Carlo points**" in uc._task.status.object and "measured squares" in uc.readout_text()
    uc._task.button.clicks += 1
    pd.testing.assert_frame_equal(uc.mc, UnionCapacity(**kw).measure())
    assert [s.label for s in uc._plan()] == [f"M = {m}" for m in uc.mc_points()]
    assert uc._task.status.object.startswith(f"done: {len(uc.mc_points())} of") and uc.mc_done == len(uc.mc_points())


@outside_running_loop
def test_store_buttons_store_what_store_more_stores():
    """Willshaw's "store more patterns" and the coding field's "store random inputs" run through LongTask
    (a tenth per step): the same patterns, fill records and codes as the blocking store_more."""
    a, b = WillshawExplorer(n=128, w=6, n_store=37), WillshawExplorer(n=128, w=6, n_store=37)
    pn.panel(a).get_root()
    a._task.button.clicks += 1
    b.store_more()
    np.testing.assert_array_equal(a.memory.synapses, b.memory.synapses)
    pd.testing.assert_frame_equal(a.fill_table(), b.fill_table())
    assert len(a.fill_table()) == 1 + 10 + 10 and a.stored >= 2   # init, then a record per tenth; redrawn
    assert a._task.status.object.startswith("done: 10 of 10")
    fa, fb = CodingField(8, 8, 128, seed=0), CodingField(8, 8, 128, seed=0)
    va, vb = CodingFieldView(fa, w=10, n_store=7), CodingFieldView(fb, w=10, n_store=7)
    assert "press **store random inputs**" in va.text()
    va._task.button.clicks += 1
    vb.store_more()
    np.testing.assert_array_equal(fa.codes_, fb.codes_)
    assert [x.tolist() for x in va.inputs] == [x.tolist() for x in vb.inputs] and va.stored == vb.stored == 1


# -- Willshaw -----------------------------------------------------------------------------------------
def test_willshaw_fill_shown_equals_the_memory_after_storing():
    ex = WillshawExplorer(n=128, w=6, n_store=40)
    mem = ex.memory
    for _ in range(3):
        ex.store_more()
        f = mem.fill_fraction()
        assert ex.fill_table()["fill"].iloc[-1] == f and ex.fill_table()["M"].iloc[-1] == mem.n_stored
        assert f"fill {f:.4f}" in ex.synapse_view().opts.get().kwargs["title"]
        assert f"fill **{f:.4f}** measured, **{willshaw_fill(128, 6, mem.n_stored):.4f}** theory" in ex.summary_text()
    img, block = ex.synapse_grid()
    assert block == 1
    np.testing.assert_array_equal(img, mem.synapses)
    assert len(ex.patterns) == mem.n_stored == 160


def test_willshaw_block_view_is_the_fill_of_each_block():
    mem = WillshawMemory(1000, 20)
    for p in random_patterns(1000, 20, 300, 0):
        mem.store(SDR(1000, p), SDR(1000, p))
    img, block = WillshawExplorer(mem).synapse_grid()
    S = mem.synapses
    assert block == 4 and img.shape == (250, 250)
    assert img[3, 7] == pytest.approx(S[12:16, 28:32].mean())
    assert img.mean() == pytest.approx(S.mean())


@pytest.mark.parametrize("rule", ["willshaw", "k-wta", "fixed"])
def test_willshaw_recall_steps_shown_match_recall_steps(rule):
    ex = WillshawExplorer(n=256, w=8, n_store=250, removed=4, added=1, rule=rule, theta=3)
    mem = ex.memory
    for pattern in (0, 7, 100):
        ex.pattern = pattern
        cue = ex.cue()
        p = SDR(256, ex.patterns[pattern])
        assert cue.overlap(p) == 4 and cue.w == 5
        kw = {"willshaw": {}, "k-wta": {"k": 8}, "fixed": {"theta": 3}}[rule]
        ref = mem.recall_steps(cue, ex.max_steps, **kw)
        got = ex.steps()
        assert len(got) == len(ref) and ex.param.step.bounds == (0, len(ref) - 1)
        table = ex.step_table()
        for i, (g, r) in enumerate(zip(got, ref, strict=True)):
            assert g["cue"] == r["cue"] and g["output"] == r["output"]
            np.testing.assert_array_equal(g["sums"], r["sums"])
            ok = r["output"].overlap(p)
            assert table.iloc[i][["correct", "missing", "extra"]].tolist() == [ok, 8 - ok, r["output"].w - ok]
            ex.step = i
            spikes = {el.label: el for el in ex.sums_view()}
            drawn = np.zeros(256, int)
            for name in ("missing", "extra", "correct", "silent"):
                drawn[spikes[name].dimension_values(0).astype(int)] = spikes[name].dimension_values(1)
            np.testing.assert_array_equal(drawn, r["sums"])
            assert len(spikes["correct"]) == ok and len(spikes["extra"]) == r["output"].w - ok
            out = ex.output_view().dimension_values(2)
            assert np.count_nonzero(out == BOTH) == ok and np.count_nonzero(out == ONLY_B) == r["output"].w - ok
            assert ex.recall_text().startswith(f"**step {i} of {len(ref) - 1}**")


def test_willshaw_explorer_on_a_given_memory_and_patterns():
    pats = random_patterns(200, 8, 30, 5)
    mem = WillshawMemory(200, 8)
    for p in pats:
        mem.store(SDR(200, p), SDR(200, p))
    ex = WillshawExplorer(mem, patterns=pats, pattern=29, removed=3)
    assert ex.param.pattern.bounds == (0, 29) and ex.cue().overlap(SDR(200, pats[29])) == 5
    assert ex.steps()[-1]["output"] == SDR(200, pats[29])   # a lightly loaded net completes the pattern
    assert "recall_steps iterates" in WillshawExplorer(WillshawMemory(64, 4, n_out=32)).recall_text()


# -- segments and coding fields --------------------------------------------------------------------------
def test_segment_overlaps_and_active_synapses_shown_are_the_memory_s():
    mem, pats = _segments(k=1)
    ex = SegmentExplorer(mem, patterns=pats, pattern=3, v=4)
    x = ex.input()
    assert x.overlap(SDR(mem.n, pats[3])) == mem.w - 4
    ov = mem.overlaps(x)
    spikes = {el.label: el for el in ex.overlap_view()}
    fired = spikes["≥ θ: NMDA spike"]
    assert sorted(fired.dimension_values(0).astype(int)) == list(np.flatnonzero(ov >= mem.theta))
    assert spikes["its own segment"].dimension_values(1).tolist() == [ov[3]]
    img = ex.synapse_view().get(0).dimension_values(2, flat=False)  # rows by y: segment g is row g
    np.testing.assert_array_equal((img == BOTH).sum(axis=1), ov)
    assert ex.rates()["fp_segment"] == pytest.approx(mem.false_positive_theory()[0])
    assert ex.rates()["fp_any"] == pytest.approx(mem.false_positive_theory()[1])
    assert ex.rates()["fn"] == false_negative_probability(mem.w, mem.s, mem.theta, 4)
    ex.source = "random"
    assert len(ex.input().active) == mem.w and ex.own_segment() is None
    ex.theta = 1
    fired = {el.label: el for el in ex.overlap_view()}["≥ θ: NMDA spike"]
    assert len(fired) == (mem.overlaps(ex.input()) >= 1).sum()


def test_coding_field_view_shows_the_field_s_code_overlap():
    field, X = _field()
    view = CodingFieldView(field, inputs=[SDR(256, r) for r in X], item=4, v=5)
    p = view.probe()
    assert p["input_overlap"] == 15
    np.testing.assert_array_equal(p["stored"], field.codes_[4])
    assert p["encode_overlap"] == field.code_overlap(field.codes_[4], p["encoded"])
    np.testing.assert_array_equal(p["retrieved"], field.retrieve(p["cue"]))
    assert p["G"] == pytest.approx(field.familiarity(p["cue"]))
    assert view.units_view().get(0).opts.get().kwargs["title"].startswith(f"code overlap {p['encode_overlap']} of 8")
    assert view.probe() is p                                   # cached: redraws do not re-draw the code
    marks = {el.label: el for el in view.units_view() if el.label}
    np.testing.assert_array_equal(marks["stored code"].dimension_values(0), field.codes_[4])
    before = field.n_stored
    view.store_more(3)
    assert field.n_stored == before + 3 and view.param.item.bounds == (0, 17)
    view.item = 17
    np.testing.assert_array_equal(view.probe()["stored"], field.codes_[-1])


# -- the page, and the work an interaction does ---------------------------------------------------------------
def test_the_sdr_page_is_registered_and_builds_without_the_union_monte_carlo(monkeypatch):
    """The page draws the exact union curves and leaves their Monte Carlo to its button (its build time is
    in benchmarks/sdr.py)."""
    mc = count_calls(monkeypatch, widgets.sdr.overlap, "union_false_match_mc")
    assert "sdr" in [p.slug for p in widgets.pages()]
    pn.panel(sdr_page()).get_root()
    assert mc == []


@pytest.mark.timeout(300)
def test_interactions_recompute_only_what_they_change_and_patch_in_place(monkeypatch):
    """θ moves reuse the Monte Carlo counts and both exact pmfs (only the two probabilities at θ are
    evaluated); Willshaw recall steps slice the recall computed once; storing more patterns stores exactly
    them and recomputes the recall once; every interaction patches the Bokeh models in place.
    (How fast: benchmarks/sdr.py, "Inspector".)"""
    ox = OverlapExplorer(n=2048, w=40, s=24, v=16)
    root = pn.panel(ox).get_root()
    work = {name: count_calls(monkeypatch, widgets.sdr.overlap, name)
            for name in ("overlap_counts", "overlap_pmf", "noisy_overlap_pmf")}
    for theta in [5, 7, 9, 11, 13]:
        assert redrawn_in_place(root, lambda theta=theta: setattr(ox, "theta", theta)) > 0
    assert {name: len(calls) for name, calls in work.items()} == dict.fromkeys(work, 0)

    we = WillshawExplorer(n=256, w=8, n_store=200)
    root = pn.panel(we).get_root()
    we.pattern = 1
    recalls = count_calls(monkeypatch, WillshawMemory, "recall_steps")
    stores = count_calls(monkeypatch, WillshawMemory, "store")
    assert we.param.step.bounds[1] >= 1
    for step in [1, 0, 1, 0, 1]:
        assert redrawn_in_place(root, lambda step=step: setattr(we, "step", step)) > 0
    assert recalls == [] and stores == []
    for i in range(1, 3):
        assert redrawn_in_place(root, we.store_more) > 0
        assert len(stores) == 200 * i and len(recalls) == i and we.memory.n_stored == 200 * (i + 1)
