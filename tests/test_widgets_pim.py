"""widgets.pim, headless: the timeline aggregation (a pure function on an events DataFrame: busy time per
lane kept, never more than max_bars bars), zoom to a layer and to one channel's banks, dispatch, the Bokeh
models, that what the roofline and energy views draw is labkit.pim's numbers, that a slider move changes
the plotted data, and the page (the browser side is tests/test_ui_pim.py; the redraw speed is measured by
benchmarks/pim.py through widgets.pim.redraw_time)."""

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.events import RangesUpdate
from bokeh.models import ColumnDataSource, GlyphRenderer, Plot, Quad, Scatter, Title

import widgets
from labkit import pim
from labkit.pim import Timeline, load_system, simulate
from widgets.pim import (
    EnergyView,
    PimControls,
    PimExplorer,
    RooflineView,
    TimelineView,
    aggregate,
    energy_table,
    gpu_points,
    pim_page,
    pim_points,
    redraw_time,
)
from widgets.pim.timeline import BAR_COLUMNS, display_lanes, lane_order, layer_window, op_group

OPS = ["attn_norm", "q_proj", "k_proj", "v_proj", "qk_matmul", "softmax", "sv_matmul", "out_proj", "attn_add",
       "mlp_norm", "gate_proj", "up_proj", "mlp_act", "down_proj", "mlp_add"]


def synthetic_events(layers=32, channels=32, banks=0, seed=0) -> pd.DataFrame:
    """Events with exactly the columns of labkit.pim's Timeline.events (unit, lane, op, layer, start, end,
    bytes, flops, energy): per layer the 15 ops, each on the GPU lane and on every channel lane (or every
    bank lane of every channel when banks > 0), one after the other with random durations and small gaps."""
    rng = np.random.default_rng(seed)
    pim_lanes = [f"pim/ch{c:02d}" + (f"/bank{b:02d}" if banks else "") for c in range(channels)
                 for b in range(max(banks, 1))]
    rows, t = [], 0.0
    for layer in range(layers):
        for op in OPS:
            d = rng.uniform(1e-7, 1e-6)
            rows.append(("gpu", "gpu", op, layer, t, t + d))
            durs = rng.uniform(0.5, 1.0, len(pim_lanes)) * d
            rows += [("pim", lane, op, layer, t, t + du) for lane, du in zip(pim_lanes, durs, strict=True)]
            t += d + rng.uniform(0, 2e-8)
    df = pd.DataFrame(rows, columns=["unit", "lane", "op", "layer", "start", "end"])
    n = len(df)
    return df.assign(bytes=rng.uniform(1e3, 1e6, n), flops=rng.uniform(1e3, 1e6, n), energy=rng.uniform(0, 1e-6, n))


def _busy(df, col="busy"):
    return df.groupby("lane")[col].sum() if col in df else (df["end"] - df["start"]).groupby(df["lane"]).sum()


# -- aggregation: a pure function on the events DataFrame ------------------------------------------------
def test_few_events_are_drawn_one_bar_each():
    ev = synthetic_events(layers=2, channels=4)
    bars = aggregate(ev, max_bars=10_000)
    assert bars.attrs["level"] == "event" and len(bars) == len(ev) and list(bars.columns) == BAR_COLUMNS
    assert (bars["n"] == 1).all() and np.allclose(bars["busy"], ev["end"] - ev["start"])


@pytest.mark.parametrize("max_bars,level", [(10_000, "layer"), (1_056, "layer"), (1_000, "bucket"), (100, "bucket")])
def test_aggregation_keeps_busy_time_per_lane_and_stays_under_the_budget(max_bars, level):
    ev = synthetic_events()                                     # 32 layers x 15 ops x 33 lanes = 15,840 events
    bars = aggregate(ev, max_bars=max_bars)
    assert len(ev) > 10_000 and bars.attrs["level"] == level and len(bars) <= max_bars
    pd.testing.assert_series_equal(_busy(bars), _busy(ev, None).rename("busy"), check_exact=False, rtol=1e-12)
    assert bars["n"].sum() == len(ev)
    for col in ("bytes", "flops", "energy"):
        assert bars[col].sum() == pytest.approx(ev[col].sum(), rel=1e-12)
    first = ev.groupby("lane")["start"].min()
    assert (bars.groupby("lane")["start"].min() == first).all()           # bars span their events
    assert (bars["end"] >= bars["start"]).all() and (bars["busy"] <= bars["end"] - bars["start"] + 1e-18).all()


def test_layer_level_gives_one_bar_per_lane_and_layer_coloured_by_its_longest_event():
    ev = synthetic_events(layers=32, channels=32)
    bars = aggregate(ev, max_bars=10_000)
    assert len(bars) == 33 * 32 and not bars.duplicated(["lane", "layer"]).any()
    one = ev[(ev["lane"] == "pim/ch05") & (ev["layer"] == 7)]
    row = bars[(bars["lane"] == "pim/ch05") & (bars["layer"] == 7)].iloc[0]
    longest = one.loc[(one["end"] - one["start"]).idxmax(), "op"]
    assert row["op"] == longest and row["group"] == op_group(longest) and row["n"] == 15


def test_bank_lanes_merge_per_op_before_per_layer():
    """One layer at bank detail (32 channels x 16 banks): the budget is met by merging each channel's
    banks per op, which keeps the ops apart."""
    ev = synthetic_events(layers=1, channels=32, banks=16)
    ev = ev.assign(lane=display_lanes(ev["lane"], "channel"))  # banks collapsed onto their channel rows
    bars = aggregate(ev, max_bars=1_000)
    assert bars.attrs["level"] == "op" and len(bars) == 33 * 15
    assert bars.groupby("lane")["busy"].sum().loc["pim/ch00"] == pytest.approx(
        (ev["end"] - ev["start"])[ev["lane"] == "pim/ch00"].sum())


def test_a_whole_bank_level_step_is_cut_to_the_budget():
    ev = synthetic_events(layers=32, channels=8, banks=16)       # 32 x 15 x 129 lanes = 61,920 events
    bars = aggregate(ev, max_bars=10_000)
    assert len(bars) <= 10_000 and bars.attrs["level"] in ("layer", "bucket")
    pd.testing.assert_series_equal(_busy(bars), _busy(ev, None).rename("busy"), check_exact=False, rtol=1e-12)


def test_window_and_background_events():
    ev = synthetic_events(layers=4, channels=2)
    bg = pd.DataFrame([{"unit": "gpu", "lane": "gpu/background", "op": "background", "layer": -1, "start": 0.0,
                        "end": ev["end"].max(), "bytes": 0.0, "flops": 0.0, "energy": 1.0}])
    w = layer_window(ev, 2)
    bars = aggregate(pd.concat([ev, bg]), max_bars=10_000, window=w)
    assert "gpu/background" not in set(bars["lane"]) and set(bars["layer"]) <= {1, 2, 3}
    assert set(bars["layer"]) >= {2} and len(bars) == ((ev["end"] > w[0]) & (ev["start"] < w[1])).sum()
    with pytest.raises(ValueError, match="max_bars"):
        aggregate(ev, max_bars=0)


def test_lanes_ops_and_rows():
    lanes = pd.Series(["pim/ch01/bank03", "gpu", "pim/ch00/bank01", "link", "asic", "pim/ch01", "gpu/background"])
    assert display_lanes(lanes, "channel").tolist()[:3] == ["pim/ch01", "gpu", "pim/ch00"]
    assert display_lanes(lanes, "bank", channel=1).tolist()[:3] == ["pim/ch01/bank03", "gpu", None]
    assert lane_order(display_lanes(lanes, "channel")) == ["gpu", "asic", "link", "pim/ch00", "pim/ch01"]
    assert op_group("q_proj+k_proj+v_proj@sb1") == "qkv" and op_group("down_proj:in") == "transfer"
    assert op_group("sv_matmul") == "attention" and op_group("mystery") == "other"


# -- real timelines -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt2():
    """A small real step: GPT-2 on the AiM-like system, PIM and GPU-only, and its roofline."""
    return (simulate("gpt2", system="aim-like", placement="pim"), simulate("gpt2", system="aim-like", placement="gpu"),
            pim.roofline("gpt2", "nvidia_T4", stage="decode", batch=1, seq_len=512))


def test_inspect_returns_the_pim_inspectors(gpt2):
    tl, _, r = gpt2
    assert isinstance(widgets.inspect(tl), TimelineView) and widgets.inspect(tl).timeline is tl
    assert isinstance(widgets.inspect(r), RooflineView) and widgets.inspect(r).result is r
    names = widgets.supported_types()
    assert any(n.endswith(".Timeline") and "pim" in n for n in names)
    assert any(n.endswith(".RooflineResult") for n in names)


@pytest.mark.parametrize("make", [
    lambda g: TimelineView(g[0]),
    lambda g: TimelineView(g[0], compare=g[1], layer=3),
    lambda g: TimelineView(Timeline(events=synthetic_events(layers=4, channels=4), latency=1e-5, energy=0.0)),
    lambda g: TimelineView(),
    lambda g: RooflineView(g[2], timeline=g[0], system="aim-like"),
    lambda g: RooflineView(),
    lambda g: EnergyView({"GPU only": g[1], "pim": g[0]}),
    lambda g: EnergyView(),
], ids=["timeline", "timeline-compare", "synthetic", "timeline-empty", "roofline", "roofline-empty", "energy",
        "energy-empty"])
def test_each_view_builds_its_bokeh_model(make, gpt2):
    pn.panel(make(gpt2)).get_root()


def test_bad_input_is_refused(gpt2):
    with pytest.raises(TypeError, match="timeline"):
        TimelineView(gpt2[2])
    with pytest.raises(TypeError, match="result"):
        RooflineView(gpt2[0])
    with pytest.raises(TypeError, match="timelines"):
        EnergyView({"x": 1})
    with pytest.raises(ValueError, match="param"):
        redraw_time(PimExplorer(model="gpt2"), "nope", [1])


def test_zoom_whole_step_to_a_layer_to_one_channels_banks(gpt2):
    tl, base, _ = gpt2
    v = TimelineView(tl, compare=base, bank_source=lambda layer: simulate("gpt2", system="aim-like", detail="bank",
                                                                          bank_layers=[layer]))
    assert v.param.layer.objects == ["all", *range(12)] and v.param.channel.bounds == (0, 31)
    whole = v.bars()
    assert whole["end"].max() == pytest.approx(max(tl.latency, base.latency), rel=1e-9)
    v.layer = 5
    layer = v.bars()
    w, wb = layer_window(tl.events, 5), layer_window(base.events, 5)
    assert layer["end"].max() <= max(w[1] - w[0], wb[1] - wb[0]) * (1 + 1e-9) and len(layer) < len(whole)
    assert set(layer.loc[~layer["lane"].str.startswith("GPU only"), "layer"]) <= {4, 5, 6}
    v.param.update(detail="bank", channel=2)
    rows = v.rows()
    banks = [r for r in rows if "/bank" in r]
    assert len(banks) == 16 and all(r.startswith("pim/ch02/bank") for r in banks)
    assert not any(r.startswith("pim/ch01") for r in rows) and rows[0] == "GPU only: gpu"
    assert "banks of ch02" in v.plot()["title"]
    zoomed = v.plot(x_range=(5.0, 6.0))  # the browser's wheel zoom: the 6th microsecond of layer 5
    t0, t1 = zoomed["bars"]["t0"], zoomed["bars"]["t1"]
    assert len(t0) < len(v.bars()) and zoomed["xlim"] == (5.0, 6.0)
    assert ((t0 < 6.0) & (t1 > 5.0)).all()   # every bar drawn is in view
    # the figure: the browser's RangesUpdate re-aggregates the window in place, a param change redraws all
    root = pn.panel(v).get_root()
    fig = root.select_one({"type": Plot})
    (src,) = [r.data_source for r in root.select({"type": GlyphRenderer}) if isinstance(r.glyph, Quad)]
    assert len(src.data["t0"]) == len(v.bars()) and (fig.y_range.start > fig.y_range.end)  # first row on top
    fig._trigger_event(RangesUpdate(fig, x0=5.0, x1=6.0))
    assert np.array_equal(src.data["t0"], t0) and fig.title.text == zoomed["title"]
    v.channel = 3
    assert len(src.data["t0"]) == len(v.bars()) and "banks of ch03" in fig.title.text
    assert (fig.x_range.start, fig.x_range.end) == v.plot()["xlim"]


def test_roofline_points_are_labkits_numbers(gpt2):
    tl, _, r = gpt2
    g = gpu_points(r)
    drawn = r.layers[(r.layers["ops"] > 0) & (r.layers["bytes"] > 0)]
    assert g["time"].sum() == pytest.approx(drawn["time"].sum()) and g["ops"].sum() == pytest.approx(drawn["ops"].sum())
    q = g.set_index("op").loc["q_proj"]
    assert q["layers"] == "0–11" and q["attained"] == pytest.approx(q["ops"] / q["time"])
    p = pim_points(tl)
    ev = tl.events[(tl.events["unit"] == "pim") & (tl.events["flops"] > 0)]
    assert p["ops"].sum() == pytest.approx(ev["flops"].sum()) and "lm_head" in set(p["op"])
    view = RooflineView(r, timeline=tl, system="aim-like")
    d = view.data()
    assert max(d["pim_roof"]["attainable"]) == pytest.approx(load_system("aim-like").dram.peak_flops())
    assert max(d["gpu_roof"]["attainable"]) == pytest.approx(r.peak_ops)
    assert len(d["gpu_points"]["op"]) == len(g) and len(d["pim_points"]["op"]) == len(p)


def test_energy_bars_are_labkits_breakdown(gpt2):
    tl, base, _ = gpt2
    t = energy_table({"GPU only": base, "pim": tl})
    assert t.groupby("path", sort=False)["energy"].sum().tolist() == pytest.approx([base.energy, tl.energy])
    ev = EnergyView({"GPU only": base, "pim": tl})
    root = pn.panel(ev).get_root()
    quads = [r.data_source for r in root.select({"type": GlyphRenderer}) if isinstance(r.glyph, Quad)]
    assert len(quads) == 1 and np.sum(quads[0].data["mJ"]) == pytest.approx((base.energy + tl.energy) * 1e3)
    assert "faster" in ev._text.object


# -- the page ------------------------------------------------------------------------------------------------
def _scatter(root) -> ColumnDataSource:
    (src,) = [r.data_source for r in root.select({"type": GlyphRenderer})
              if isinstance(r.glyph, Scatter) and r.glyph.marker == "circle"]  # the GPU's points
    return src


def test_moving_batch_changes_the_plotted_data():
    ex = PimExplorer()                                   # llama-2-7b decode, 32 layers, on attacc-bank
    root = pn.panel(ex).get_root()
    src = _scatter(root)
    before = dict(zip(src.data["op"], np.array(src.data["attained"]), strict=True))
    bars_before = ex.timeline_view.bars()
    ex.batch = 8
    after = dict(zip(src.data["op"], np.array(src.data["attained"]), strict=True))
    assert after["q_proj"] > 4 * before["q_proj"]          # a batch of 8 reuses each weight 8 times
    assert ex.roofline_view.result.batch == 8 and ex.timeline_view.timeline.meta["batch"] == 8
    assert not ex.timeline_view.bars()["end"].equals(bars_before["end"])
    assert any("batch 8" in (t.text or "") for t in root.select({"type": Title}))


def test_a_setting_labkit_refuses_shows_its_error_and_keeps_the_plots():
    ex = PimExplorer(system="aim-like")
    tl = ex.timeline_view.timeline
    ex.model = "llama-2-13b"                                   # 26 GB of weights in a 16 GiB memory
    assert "does not fit" in ex.error and ex._alert.visible and ex.timeline_view.timeline is tl
    ex.model = "llama-2-7b"
    assert ex.error == "" and not ex._alert.visible


def test_the_pim_page_is_registered_and_builds_and_redraw_time_measures():
    assert "pim" in [p.slug for p in widgets.pages()]
    pn.panel(pim_page()).get_root()
    ex = PimExplorer(model="gpt2", system="aim-like")
    t = redraw_time(ex, "batch", [2, 3, 4])   # a duration, never bounded here: benchmarks/pim.py reports it
    assert t > 0 and ex.batch == 4
    c = PimControls(model="gpt2", system="aim-like")
    assert c.compute() is not None and c.bank_timeline(0).events["lane"].str.contains("/bank").any()
