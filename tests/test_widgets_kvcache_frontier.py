"""widgets.kvcache.frontier, headless: the memory-vs-quality frontier's points, their noise (perplexity
± 1 standard error over windows, passkey accuracy's 95 % Wilson interval: the formulas against scipy, the
bars drawn inside the frame, the caption's words), its empty state, and its button (widgets.views.LongTask:
one method per step, Cancel). Split from tests/test_widgets_kvcache.py (over 400 lines with these)."""

import numpy as np
import pandas as pd
import panel as pn
import pytest
import torch
from bokeh.models import GlyphRenderer
from ui_support import outside_running_loop

import widgets.kvcache.frontier
from widgets.kvcache import Frontier
from widgets.kvcache.frontier import perplexity_interval, seconds_per_method, wilson_interval
from widgets.views import seconds_text


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """TinyLM on one torch thread, as the notebooks and CI run it (tests/test_widgets_kvcache.py says why)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TABLE = pd.DataFrame({"method": ["fp16", "KIVI-2", "H2O 50%"], "family": ["full", "quantization", "eviction"],
                      "bytes_per_token": [1024.0, 377.6, 1024.0], "perplexity": [9.25, 9.54, 9.26],
                      "passkey_accuracy": [1.0, 0.9, 0.3]})


# -- frontier -------------------------------------------------------------------------------------------
def test_frontier_draws_one_point_per_method_with_its_name():
    f = Frontier(TABLE)
    ov = f.perplexity_view()
    pts = [el for el in ov if el.label in ("full", "quantization", "eviction")]
    assert sorted(v for el in pts for v in el.dimension_values("method")) == sorted(TABLE["method"])
    assert "hover" in pts[0].opts.get().kwargs["tools"]
    acc = [el for el in f.passkey_view() if el.label == "eviction"][0]
    assert acc.dimension_values("passkey_accuracy").tolist() == [0.3]
    assert Frontier(TABLE.drop(columns="passkey_accuracy")).passkey_view().get(0).data.empty


def test_frontier_measures_on_tinylm_when_its_weights_are_there():
    f = Frontier(methods=["fp16", "KIVI-2", "StreamingLLM 50%"], n_windows=1, score=8, passkey_n=1)
    if f.available():
        pytest.skip(f.available())
    calls = []
    t = f.measure(progress=lambda i, name: calls.append(name))
    assert calls == f.methods and t["method"].tolist() == f.methods
    assert (t["perplexity"] > 1).all() and t.set_index("method")["bytes_per_token"]["KIVI-2"] < 1024


@pytest.mark.parametrize("k, n", [(0, 1), (0, 10), (3, 10), (9, 10), (10, 10), (1, 2), (57, 100)])
def test_wilson_interval_is_scipys(k, n):
    from scipy.stats import binomtest
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(wilson_interval(k, n), (ci.low, ci.high), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="k: expected"):
        wilson_interval(n + 1, n)
    with pytest.raises(TypeError, match="n: expected"):
        wilson_interval(1, 2.5)


def test_perplexity_interval_is_exp_of_the_mean_log_perplexity_and_its_standard_error():
    from scipy.stats import sem
    nll = np.array([1.18, 0.74, 0.95])
    ppl, lo, hi = perplexity_interval(nll)
    m, s = nll.mean(), sem(nll)                     # sd (ddof 1) / sqrt(n)
    assert s == pytest.approx(np.sqrt(((nll - m) ** 2).sum() / 2 / 3))
    np.testing.assert_allclose((ppl, lo, hi), np.exp([m, m - s, m + s]), rtol=1e-12)
    one = perplexity_interval([1.0])
    assert one[0] == pytest.approx(np.e) and np.isnan(one[1]) and np.isnan(one[2])


def _interval_table():
    rows = []
    for (m, f, b, nll, k) in [("fp32 (model dtype)", "full", 2048.0, [1.18, 0.74], 9),
                              ("KIVI-2", "quantization", 406.0, [1.20, 0.66], 8),
                              ("H2O 50%", "eviction", 1024.0, [1.19, 0.76], 1)]:
        ppl, lo, hi = perplexity_interval(nll)
        alo, ahi = wilson_interval(k, 10)
        rows.append(dict(method=m, family=f, bytes_per_token=b, perplexity=ppl, perplexity_lo=lo, perplexity_hi=hi,
                         n_windows=2, perplexity_windows=tuple(np.exp(nll)), passkey_accuracy=k / 10,
                         passkey_lo=alo, passkey_hi=ahi, passkey_correct=k, passkey_n=10))
    return pd.DataFrame(rows)


def test_frontier_draws_each_interval_as_a_bar_inside_the_frame_and_says_overlap_is_noise():
    from bokeh.models import Plot, Segment, Text
    t = _interval_table()
    f = Frontier(t)
    root = pn.panel(f).get_root()
    plots = {p.title.text: p for p in root.select({"type": Plot})}
    for title, (lo, hi) in {"memory vs perplexity": ("perplexity_lo", "perplexity_hi"),
                            "memory vs passkey retrieval": ("passkey_lo", "passkey_hi")}.items():
        p = plots[title]
        bars = [r for r in p.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, Segment)]
        drawn = {(m, y0, y1) for r in bars for m, y0, y1 in zip(r.data_source.data["method"],
                                                                r.data_source.data[r.glyph.y0],
                                                                r.data_source.data[r.glyph.y1], strict=True)}
        assert drawn == set(zip(t["method"], t[lo], t[hi], strict=True))
        assert p.y_range.start <= t[lo].min() and p.y_range.end >= t[hi].max()     # the bars inside the frame
        assert not [r for r in p.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, Text)
                    and "press" in str(r.data_source.data.get("text"))]
    pts = [el for el in f.perplexity_view() if el.label == "quantization"][0]
    assert pts.dimension_values("interval")[0] == "1.93 .. 3.32 (± 1 s.e. over 2 windows)"   # exp(0.66), exp(1.20)
    acc = [el for el in f.passkey_view() if el.label == "eviction"][0]
    assert acc.dimension_values("interval")[0] == "0.02 .. 0.40 (95 % Wilson interval, 10 examples)"
    text = f.noise_text()
    assert "not distinguishable" in text and "only within the noise (bars overlap): KIVI-2" in text
    assert "perplexity ± 1 s.e." in f.display_table().columns
    assert "no intervals" in Frontier(TABLE).noise_text()     # a table without them says so


def test_frontier_empty_plots_say_what_to_press_and_how_long():
    from bokeh.models import Plot, Text
    f = Frontier(methods=["fp16", "KIVI-2"], n_windows=2, score=64, passkey_n=10)
    root = pn.panel(f).get_root()
    about = f"about {seconds_text(f.estimate())}"
    texts = [str(r.data_source.data["text"][0]) for p in root.select({"type": Plot}) for r in p.renderers
             if isinstance(r, GlyphRenderer) and isinstance(r.glyph, Text)]
    why = f.available()
    assert len(texts) == 2 and all((why in x) if why else (f"press '{Frontier.LABEL}'" in x and about in x)
                                   for x in texts)
    assert f.estimate() == pytest.approx(3.0 + 2 * seconds_per_method(2, 64, 10))


@outside_running_loop
def test_frontier_button_measures_method_by_method_and_keeps_what_was_measured_when_cancelled(monkeypatch):
    """The button's LongTask: one step per method (a stub measure_method, a given model: no TinyLM run),
    rows arriving one by one; Cancel after the second keeps two rows and says so."""
    rows = _interval_table().to_dict("records")
    calls = []
    def stub(model, name, n_windows, prefill, score, passkey_n, seed=0):
        calls.append(name)
        if len(calls) == 2:
            f._task.cancel_button.clicks += 1   # pressed while the 2nd runs: stops before the 3rd
        return {**rows[len(calls) - 1], "method": name}
    monkeypatch.setattr(widgets.kvcache.frontier, "measure_method", stub)
    f = Frontier(model=object(), methods=["fp32 (model dtype)", "KIVI-2", "H2O 50%"])
    assert f.available() is None and f._task.button.name == "measure on TinyLM"
    f._task.button.clicks += 1
    assert calls == ["fp32 (model dtype)", "KIVI-2"] and f.table["method"].tolist() == calls
    assert "cancelled after 2 of 3" in f._task.status.object and not f._task.button.disabled
    assert f._task.cancel_button.disabled   # nothing to cancel between runs
    monkeypatch.setattr(widgets.kvcache.frontier, "measure_method",
                        lambda model, name, *a: {**rows[0], "method": name})
    f._task.button.clicks += 1
    assert f.table["method"].tolist() == f.methods and f._task.status.object.startswith("done: 3 of 3")


def test_measure_method_keeps_each_window_and_matches_labkits_figures():
    """perplexity = evaluate.perplexity's (the same windows), its interval from the per-window values;
    passkey accuracy = evaluate.passkey_accuracy's, with its Wilson interval."""
    from labkit.kvcache import evaluate
    f = Frontier()
    if f.available():
        pytest.skip(f.available())
    model = f.model()
    r = widgets.kvcache.frontier.measure_method(model, "KIVI-2", n_windows=2, score=8, passkey_n=3)
    make = widgets.kvcache.frontier.FRONTIER_METHODS["KIVI-2"][1]
    assert r["perplexity"] == pytest.approx(evaluate.perplexity(model, make, n_windows=2, score=8), rel=1e-5)
    w = np.log(r["perplexity_windows"])
    np.testing.assert_allclose((r["perplexity"], r["perplexity_lo"], r["perplexity_hi"]),
                               perplexity_interval(w), rtol=1e-9)
    assert r["perplexity_lo"] < r["perplexity"] < r["perplexity_hi"] and r["n_windows"] == 2
    assert r["passkey_accuracy"] == evaluate.passkey_accuracy(model, make, n=3) == r["passkey_correct"] / 3
    assert (r["passkey_lo"], r["passkey_hi"]) == wilson_interval(r["passkey_correct"], 3)
