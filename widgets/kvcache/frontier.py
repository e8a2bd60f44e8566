"""The memory-vs-quality frontier: bytes per token against perplexity and passkey accuracy, one point
per KV method, measured on TinyLM through LabkitCache (labkit.kvcache.evaluate).

Give a table (columns method, bytes_per_token, perplexity and/or passkey_accuracy; optional family), or
press "measure" to compute a small one: each method's perplexity over a few held-out windows, its passkey
accuracy, and its cache's bytes per token after one prefill (evaluate.bytes_per_token: all layers). The
measurement runs in a worker thread, one method at a time, with a progress bar.

Bytes are what each store reports: TinyLM runs in fp32, so the eviction stores' kept tokens and KIVI's
full-precision residual are 4 bytes per element; "fp16" is the cache cast to half precision.
"""

from __future__ import annotations

import asyncio

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import torch

from labkit.kvcache import H2O, FullPrecisionStore, SnapKV, StreamingLLM
from widgets.kvcache.data import make_cache

FAMILY_COLORS = {"full": "#000000", "quantization": "#1f77b4", "eviction": "#d62728", "other": "#7f7f7f"}


def _evict(cls, **kw):
    return lambda i: cls(compression_ratio=0.5, **kw)


# name -> (family, make_store(layer_idx) -> KVStore)
FRONTIER_METHODS = {
    "fp32 (model dtype)": ("full", lambda i: FullPrecisionStore()),
    "fp16": ("full", lambda i: FullPrecisionStore(torch.float16)),
    "KIVI-2": ("quantization", lambda i: make_cache("KIVI", 2, 32, 128)),
    "KIVI-4": ("quantization", lambda i: make_cache("KIVI", 4, 32, 128)),
    "per-token K 2-bit": ("quantization", lambda i: make_cache("per-token K", 2, 32, 128)),
    "Hadamard 2-bit": ("quantization", lambda i: make_cache("Hadamard", 2, 32, 128)),
    "BFP 4-bit": ("quantization", lambda i: make_cache("BFP", 4, 32, 128)),
    "StreamingLLM 50%": ("eviction", _evict(StreamingLLM, n_sink=4)),
    "H2O 50%": ("eviction", _evict(H2O)),
    "SnapKV 50%": ("eviction", _evict(SnapKV, window_size=64)),
}
COLUMNS = ("method", "bytes_per_token")


def check_table(table) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected a pandas.DataFrame, got {type(table).__name__}")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing or not {"perplexity", "passkey_accuracy"} & set(table.columns):
        raise ValueError(f"table: expected columns method, bytes_per_token and perplexity and/or passkey_accuracy, "
                         f"got {list(table.columns)}")
    return table


def measure_method(model, name: str, n_windows: int = 2, prefill: int = 768, score: int = 64,
                   passkey_n: int = 10, seed: int = 0) -> dict:
    """One row of the frontier for FRONTIER_METHODS[name] on `model` (TinyLM)."""
    from labkit.kvcache import evaluate, tinylm
    family, make = FRONTIER_METHODS[name]
    ppl = evaluate.perplexity(model, make, n_windows=n_windows, prefill=prefill, score=score, seed=seed)
    acc = evaluate.passkey_accuracy(model, make, n=passkey_n, seed=seed)
    with torch.inference_mode():
        cache = evaluate.new_cache(model, make)
        evaluate.step(model, cache, tinylm.heldout_windows(1, prefill + score, seed=seed))
    return {"method": name, "family": family, "bytes_per_token": evaluate.bytes_per_token(cache),
            "perplexity": ppl, "passkey_accuracy": acc}


def label_layout(x, y, names, logx: bool, yspan: float, near: float = 0.2, gap: float = 0.05) -> pd.DataFrame:
    """Labels (x, y, text) for points drawn right of them, none over another: points that coincide on
    screen (within a fifth of `near` across, `gap` up) share one label ("H2O 50%, SnapKV 50%": it was
    drawn over "SnapKV 50%"); labels of points within `near` of the x span (log10 when `logx`) are kept
    `gap` of `yspan` (the y axis's span) apart, pushed upwards from the lowest."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    u = np.log10(np.maximum(x, 1e-300)) if logx else x
    xs, g = max(float(np.ptp(u)) if len(u) else 0.0, 1e-12), gap * yspan
    groups: list[list[int]] = []
    for i in np.lexsort((u, y)):
        for grp in groups:
            k = grp[0]
            if abs(u[i] - u[k]) / xs < near / 5 and abs(y[i] - y[k]) < g:
                grp.append(int(i))
                break
        else:
            groups.append([int(i)])
    lx = np.array([x[grp[0]] for grp in groups])
    ly = np.array([y[grp[0]] for grp in groups])
    lu = np.array([u[grp[0]] for grp in groups])
    for a in range(len(groups)):  # groups come lowest first
        for b in sorted(range(a), key=lambda k: ly[k]):
            if abs(lu[a] - lu[b]) / xs < near and ly[a] - ly[b] < g:
                ly[a] = ly[b] + g
    return pd.DataFrame({"x": lx, "y": ly, "text": [", ".join(str(names[i]) for i in grp) for grp in groups]})


class Frontier(pn.viewable.Viewer):
    """Bytes per token vs perplexity and vs passkey accuracy, one point per method (hover: its name)."""

    table = param.DataFrame(default=None, allow_None=True, doc="method, bytes_per_token, perplexity, passkey_accuracy")
    methods = param.ListSelector(default=list(FRONTIER_METHODS), objects=list(FRONTIER_METHODS))
    n_windows = param.Integer(default=2, bounds=(1, 16), doc="held-out windows for perplexity")
    score = param.Integer(default=64, bounds=(8, 256), doc="bytes scored per window after a 768-byte prefill")
    passkey_n = param.Integer(default=10, bounds=(1, 100), doc="passkey examples")

    def __init__(self, table: pd.DataFrame | None = None, model=None, **params):
        super().__init__(table=None if table is None else check_table(table), **params)
        self._model = model
        self._button = pn.widgets.Button(label="measure on TinyLM", color="primary", width=300)
        self._button.on_click(self._measure_async)
        self._progress = pn.indicators.Progress(value=0, max=1, width=300, visible=False)
        self._status = pn.pane.Markdown("", width=300)

    def model(self):
        """The TinyLM measured (load_tinylm() on first use when none was given)."""
        if self._model is None:
            from labkit.kvcache import load_tinylm
            self._model = load_tinylm(attn_implementation="eager")
        return self._model

    def available(self) -> str | None:
        """None when TinyLM can be measured, else why not."""
        if self._model is not None:
            return None
        try:
            from labkit.kvcache import tinylm
        except ImportError as e:
            return f"TinyLM needs transformers: {e}"
        missing = [f for f in (tinylm.WEIGHTS, tinylm.CONFIG_FILE) if not (tinylm.DEFAULT_DIR / f).is_file()]
        return f"TinyLM weights not found in {tinylm.DEFAULT_DIR}" if missing else None

    def measure(self, progress=None) -> pd.DataFrame:
        """Measure every selected method (blocking); progress(i, name) is called before each."""
        model, rows = self.model(), []
        for i, name in enumerate(self.methods):
            if progress:
                progress(i, name)
            rows.append(measure_method(model, name, self.n_windows, 768, self.score, self.passkey_n))
        self.table = pd.DataFrame(rows)
        return self.table

    async def _measure_async(self, _event=None):
        loop = asyncio.get_running_loop()
        self._button.disabled, self._progress.visible = True, True
        self._progress.max, self._progress.value = len(self.methods) + 1, 0
        try:
            self._status.object = "loading TinyLM…"
            model = await loop.run_in_executor(None, self.model)
            rows = []
            for i, name in enumerate(self.methods):
                self._progress.value = i + 1
                self._status.object = f"measuring **{name}** ({i + 1} of {len(self.methods)})…"
                rows.append(await loop.run_in_executor(None, measure_method, model, name, self.n_windows, 768,
                                                       self.score, self.passkey_n))
                self.table = pd.DataFrame(rows)  # points appear one by one
            self._status.object = f"measured {len(rows)} methods"
        except Exception as e:  # shown, not swallowed: the page stays usable
            self._status.object = f"**measurement failed:** {type(e).__name__}: {e}"
            raise
        finally:
            self._button.disabled, self._progress.visible = False, False

    # -- views --------------------------------------------------------------------------------
    def _points(self, y: str, logx: bool = False):
        t = self.table
        if t is None or y not in t.columns:
            t = pd.DataFrame({"method": [], "bytes_per_token": [], y: []})
        fam = t["family"] if "family" in t.columns else pd.Series("other", index=t.index)
        t = t.assign(family=fam.where(fam.isin(list(FAMILY_COLORS)), "other"))
        layers = [hv.Scatter(t[t["family"] == f], "bytes_per_token", [y, "method"], label=f).opts(
            color=c, size=10, tools=["hover"]) for f, c in FAMILY_COLORS.items() if (t["family"] == f).any()]
        yspan = 1.1 if y == "passkey_accuracy" else 1.3 * float(np.ptp(t[y])) if len(t) else 1.0
        lab = label_layout(t["bytes_per_token"], t[y], t["method"].to_numpy(), logx, yspan or 1.0)
        labels = hv.Labels(lab, ["x", "y"], "text").opts(text_font_size="8pt", text_align="left", xoffset=0,
                                                        text_color="#333333")
        return hv.Overlay([hv.Scatter([], "bytes_per_token", y)] + layers + [labels])

    def _logx(self) -> bool:
        return self.table is not None and len(self.table) > 0

    @param.depends("table")
    def perplexity_view(self):
        return self._points("perplexity", self._logx())

    @param.depends("table")
    def passkey_view(self):
        return self._points("passkey_accuracy", self._logx())

    @param.depends("table")
    def plots(self):
        """Both scatter plots, rebuilt when the table changes (a log axis cannot grow from an empty plot)."""
        xlabel = "bytes per token (cache, all layers)"
        opts = dict(frame_width=250, frame_height=300, logx=self._logx(), show_grid=True, legend_position="bottom",
                    xlabel=xlabel, padding=0.15)
        return pn.Row(
            pn.pane.HoloViews(self.perplexity_view().opts(title="memory vs perplexity",
                                                          ylabel="TinyLM perplexity/byte (lower: better)", **opts),
                              linked_axes=False),
            pn.pane.HoloViews(self.passkey_view().opts(title="memory vs passkey retrieval", ylim=(-0.05, 1.05),
                                                       ylabel="passkey accuracy", **opts), linked_axes=False))

    def __panel__(self):
        why = self.available()
        if why:
            self._button.disabled = True
            self._status.object = f"*{why}; pass a table instead.*"
        controls = pn.Param(self.param, parameters=["methods", "n_windows", "score", "passkey_n"], show_name=False,
                            width=300, widgets={"methods": pn.widgets.CheckBoxGroup})
        table = pn.bind(lambda t: pn.pane.DataFrame(t.round(4), index=False, width=900) if t is not None else "",
                        self.param.table)
        return pn.Column(pn.Row(pn.Column("### Memory vs quality", controls, self._button, self._progress,
                                          self._status, width=320), self.plots), table)
