"""Honest views, checked on the Bokeh models (no pixels, no browser): every dashboard page and every
inspector, at the extremes of each of its controls, draws

- no glyph outside its plot's frame: data outside an explicit x / y range (Range1d), and no marker
  whose centre sits so near an edge that part of it is cut off (a DataRange1d follows its data in the
  browser by construction, so it is only accepted when nothing set its start / end by hand);
- an axis that follows its data: the data fill at least FILL of an explicit range, unless the plot
  states a fixed scale on purpose (`widgets.views.FIXED_SCALE` in its tags);
- a legend that names what is drawn: every marker renderer of a plot that draws more than one thing
  has a legend item, a marker shape that varies within one renderer is not allowed (the legend shows
  one shape per item), and no visible legend item points only at renderers with nothing drawn;
- a label on every visible axis.

Controls: every widget of the page (Select / RadioButtonGroup: first and last option; sliders and
number inputs: start and end; Checkbox both ways), one at a time, the others at their defaults.
Buttons are pressed only where the work is cheap (CHEAP_BUTTONS). Tabs render all at once (tabs whose
views are made when first shown, widgets.tabs.lazy_tabs, included).

The same checks run on every figure the notebooks display (tests/test_notebooks.py, test_notebook_runs,
through bokeh_checks.figure_problems); test_figure_check_reads_notebook_outputs below shows they can fail.
"""

from __future__ import annotations

import json
import time

import numpy as np
import panel as pn
import pytest
from bokeh_checks import FILL, document_problems, notebook_documents, problems  # noqa: F401

import widgets

pn.extension(inline=True)

SECONDS_PER_PAGE = 600  # a generous bound: the whole walk of one page (2 shared cores)
CHEAP_BUTTONS = ("measure recall / QPS against hnswlib", "Monte Carlo points", "store more patterns",
                 "store random inputs")
# Problems seen and not fixed yet, each with why (a substring of the problem -> the reason). Keep short.
KNOWN: dict[str, str] = {}


# -- walking the controls ----------------------------------------------------------------------------

SKIP_WIDGETS = (pn.widgets.Button, pn.widgets.StaticText, pn.widgets.Progress)


def extremes(w) -> list:
    """The values a control is driven to: its ends."""
    if isinstance(w, pn.widgets.CheckBoxGroup):
        opts = list(w.options.values()) if isinstance(w.options, dict) else list(w.options)
        return [opts[:1], opts]
    if hasattr(w, "options") and not isinstance(w, pn.widgets.LiteralInput):
        opts = list(w.options.values()) if isinstance(w.options, dict) else list(w.options)
        return [opts[0], opts[-1]] if opts else []
    if isinstance(w, (pn.widgets.Checkbox, pn.widgets.Toggle)):
        return [not w.value, w.value]
    start, end = getattr(w, "start", None), getattr(w, "end", None)
    return [v for v in (start, end) if v is not None]


def walk(view, deadline: float) -> list[str]:
    """Render `view`, then drive every control to each end (restoring it after), pressing the cheap
    buttons once; the problems seen, each with the setting it was seen at."""
    obj = pn.panel(view)
    while True:  # every tab's view and plots are made now; a view made on render may hold tabs of its own
        lazy = [t for t in obj.select(pn.Tabs) if t.dynamic]
        for tabs in lazy:
            tabs.dynamic = False
        root = obj.get_root()
        if not lazy:
            break
    seen = [f"(default) {p}" for p in problems(root)]
    for b in obj.select(pn.widgets.Button):
        if b.name in CHEAP_BUTTONS or getattr(b, "label", "") in CHEAP_BUTTONS:
            b.clicks += 1
            seen += [f"(after {b.label!r}) {p}" for p in problems(root)]
    for w in obj.select(pn.widgets.Widget):
        if isinstance(w, SKIP_WIDGETS) or not w.name or w.disabled:
            continue
        old = w.value
        for v in extremes(w):
            if time.monotonic() > deadline:
                raise AssertionError(f"the walk took over {SECONDS_PER_PAGE} s (at {w.name!r})")
            try:
                w.value = v
            except ValueError:
                continue  # a value the widget's own bounds refuse now (they moved with another control)
            seen += [f"({w.name} = {v!r}) {p}" for p in problems(root)]
        w.value = old
    seen = [s for s in seen if not any(k in s for k in KNOWN)]
    first = {}
    for s in seen:  # each problem once, with the first setting it was seen at
        first.setdefault(s.split(") ", 1)[1], s)
    return list(first.values())


@pytest.fixture(scope="module", autouse=True)
def _holoviews():
    import holoviews as hv
    hv.extension("bokeh")


@pytest.mark.parametrize("slug", [p.slug for p in widgets.pages()])
def test_page_is_honest_at_every_control_extreme(slug):
    page = next(p for p in widgets.pages() if p.slug == slug)
    found = walk(page.factory(), time.monotonic() + SECONDS_PER_PAGE)
    assert not found, "\n".join(found)


# -- inspectors of small objects ---------------------------------------------------------------------

def _hnsw():
    from labkit.hnsw import HNSW
    x = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    index = HNSW(8, M=8, ef_construction=40, seed=1)
    index.add(x)
    index.mark_deleted(3)
    return index


def _kv(kind):
    import torch

    from labkit import kvcache as kv
    g = torch.Generator().manual_seed(0)
    K, V, Q = (torch.randn(1, h, 64, 32, generator=g) for h in (2, 2, 4))
    if kind == "kivi":
        cache = kv.KIVICache(2, 32, 32)
        cache.prefill(K, V)
        return cache
    if kind == "quantized":
        return kv.UniformQuantizer(2, 32, "channel").quantize(K)
    store = {"h2o": kv.H2O(16), "snapkv": kv.SnapKV(32, window_size=16)}[kind]
    store.prefill(K, V, queries=Q)
    return store


def _pim(kind):
    from labkit import pim
    if kind == "timeline":
        return pim.simulate("gpt2", system="aim-like", placement="pim")
    return pim.roofline("gpt2", "nvidia_T4", stage="decode", batch=1, seq_len=512)


def _sdr(kind):
    from labkit import sdr
    pats = sdr.random_patterns(128, 8, 20, 0)
    if kind == "sdr":
        return sdr.SDR(128, pats[0])
    if kind == "willshaw":
        mem = sdr.WillshawMemory(128, 8)
    elif kind == "segments":
        mem = sdr.SegmentMemory(128, 8, 6, 3, seed=0)
    else:
        mem, dense = sdr.CodingField(8, 8, 128, seed=0), np.zeros((len(pats), 128), bool)
        dense[np.arange(len(pats))[:, None], pats] = True
        pats = dense
    mem.store_batch(pats)
    return mem


def _spiking(kind):
    from labkit import spiking
    if kind == "network":
        return spiking.Network(n_exc=80, n_inh=20, seed=1)
    # without record_v no neuron is traced: the traces' legend must not show a label without its line
    return spiking.LIF(tau=20e-3, dt=1e-3).run(np.linspace(0, 3, 30), n_steps=500, record_v=kind == "result")


def _reservoir(kind):
    from labkit import reservoir as rc
    X = rc.mackey_glass(150)
    if kind == "esn":
        return rc.ESN(units=40, sr=1.1, lr=0.3, seed=3, ridge=1e-6).fit(X[:-1], X[1:], warmup=20)
    return rc.LSM(units=40, seed=0).fit(X[:-1], X[1:], warmup=10)


def _frontier():
    """The frontier with a measured table (its button runs TinyLM for minutes): near-equal points
    whose labels must not overlap, and a KIVI-2 below fp32 within the noise."""
    import pandas as pd

    from widgets.kvcache.frontier import Frontier
    rows = [("fp32 (model dtype)", "full", 73728, 2.61, 1.0), ("fp16", "full", 36864, 2.61, 1.0),
            ("KIVI-2", "quantization", 9000, 2.54, 0.9), ("KIVI-4", "quantization", 12000, 2.6, 1.0),
            ("StreamingLLM 50%", "eviction", 36864, 3.4, 0.5), ("H2O 50%", "eviction", 36864, 2.9, 0.6),
            ("SnapKV 50%", "eviction", 36864, 2.91, 0.6)]
    t = pd.DataFrame(rows, columns=["method", "family", "bytes_per_token", "perplexity", "passkey_accuracy"])
    return Frontier(table=t)


def _dataset():
    from labkit import data
    return data.digits()


INSPECTED = {
    "Dataset": lambda: widgets.inspect(_dataset()),
    "HNSW": lambda: widgets.inspect(_hnsw()),
    "KIVICache": lambda: widgets.inspect(_kv("kivi")),
    "QuantizedTensor": lambda: widgets.inspect(_kv("quantized")),
    "EvictionStore[H2O]": lambda: widgets.inspect(_kv("h2o")),
    "EvictionStore[SnapKV]": lambda: widgets.inspect(_kv("snapkv")),
    "Timeline": lambda: widgets.inspect(_pim("timeline")),
    "RooflineResult": lambda: widgets.inspect(_pim("roofline")),
    "SDR": lambda: widgets.inspect(_sdr("sdr")),
    "WillshawMemory": lambda: widgets.inspect(_sdr("willshaw")),
    "SegmentMemory": lambda: widgets.inspect(_sdr("segments")),
    "CodingField": lambda: widgets.inspect(_sdr("field")),
    "Network": lambda: widgets.inspect(_spiking("network")),
    "SpikeResult": lambda: widgets.inspect(_spiking("result")),
    "SpikeResult[no traces]": lambda: widgets.inspect(_spiking("untraced")),
    "ESN": lambda: widgets.inspect(_reservoir("esn")),
    "LSM": lambda: widgets.inspect(_reservoir("lsm")),
    "Frontier(table)": _frontier,
}


def test_every_inspectable_type_is_walked():
    walked = {name.split("[")[0] for name in INSPECTED}
    missing = [t for t in widgets.supported_types() if t.rsplit(".", 1)[1] not in walked]
    assert not missing, f"add a small object of each to INSPECTED: {missing}"


@pytest.mark.parametrize("name", list(INSPECTED))
def test_inspector_is_honest_at_every_control_extreme(name):
    found = walk(INSPECTED[name](), time.monotonic() + SECONDS_PER_PAGE)
    assert not found, "\n".join(found)


def test_figure_check_reads_notebook_outputs():
    """The check is not vacuous: a figure rendered the way a notebook displays it (HoloViews' text/html with
    the document's JSON) is found, a point outside its explicit range is reported, a clean one is not."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401
    clean = hv.Points([(0, 0), (1, 1)]).opts(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), title="clean")
    cut = hv.Points([(0, 0), (2, 1)]).opts(xlim=(-0.5, 1.0), ylim=(-0.5, 1.5), title="cut")
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": hv.renderer("bokeh").components(fig)[0], "metadata": {}}]}
        for fig in (clean, cut)]}
    docs = notebook_documents(json.loads(json.dumps(nb)))
    assert [i for i, _ in docs] == [0, 1]
    found = document_problems(docs)
    assert found and all(p.startswith("cell 1: cut: Scatter outside on x") for p in found), found
    assert document_problems(docs[:1]) == []
