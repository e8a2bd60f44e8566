"""The memory-vs-quality frontier: bytes per token against perplexity and passkey accuracy, one point
per KV method, measured on TinyLM through LabkitCache (labkit.kvcache.evaluate).

Give a table (columns method, bytes_per_token, perplexity and/or passkey_accuracy; optional family and
the intervals below), or press "measure" to compute a small one: each method's perplexity over a few
held-out windows, its passkey accuracy, and its cache's bytes per token after one prefill
(evaluate.bytes_per_token: all layers). The measurement runs through widgets.views.LongTask: one method
per step in a worker thread, with a progress bar, the time left, and Cancel.

Both qualities are estimates, drawn with their noise (measure_method): perplexity with ± 1 standard
error over the windows (of the log-perplexity, mapped through exp), passkey accuracy with a 95 % Wilson
interval over its n examples. Points whose bars overlap are not distinguishable at that size.

Bytes are what each store reports: TinyLM runs in fp32, so the eviction stores' kept tokens and KIVI's
full-precision residual are 4 bytes per element; "fp16" is the cache cast to half precision.
"""

from __future__ import annotations

import math
from functools import partial

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import torch

from labkit.kvcache import H2O, FullPrecisionStore, SnapKV, StreamingLLM
from labkit.validate import check_array, check_float, check_int
from widgets.kvcache.data import make_cache
from widgets.kvcache.plots import label_layout, point_labels
from widgets.views import LongTask, Step, seconds_text

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


Z95 = 1.959963984540054  # the standard normal's 0.975 quantile: two-sided 95 %


def perplexity_interval(window_nll) -> tuple[float, float, float]:
    """(perplexity, lo, hi) from each window's mean NLL (nats per byte, one value per window).

    perplexity = exp(mean of the windows' NLLs): every window scores the same number of bytes, so this
    is exp of the mean NLL over all scored bytes, evaluate.perplexity's figure. The bar is ± 1 standard
    error over windows of the log-perplexity, mapped through exp: lo, hi = exp(mean ∓ s), s = sd / √n
    with the windows' sample standard deviation (ddof = 1). The windows, not the bytes, are the
    independent draws (the bytes of one window share its context). One window: lo = hi = NaN."""
    x = check_array("window_nll", window_nll, ndim=1, dtype=np.float64, min_size=1)
    m = float(x.mean())
    if len(x) < 2:
        return math.exp(m), math.nan, math.nan
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    return math.exp(m), math.exp(m - se), math.exp(m + se)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for k successes in n trials (E. B. Wilson, "Probable inference, the law
    of succession, and statistical inference", JASA 22, 1927): the p with |p̂ − p| ≤ z √(p(1 − p)/n),
    (p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n). z = Z95: 95 %. Unlike p̂ ± z √(p̂(1 − p̂)/n)
    it stays inside [0, 1] and is not empty at k = 0 or k = n (10 of 10 right: 0.72 .. 1)."""
    n = check_int("n", n, low=1)
    k = check_int("k", k, low=0, high=n)
    z = check_float("z", z, low=0, low_open=True)
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def measure_method(model, name: str, n_windows: int = 2, prefill: int = 768, score: int = 64,
                   passkey_n: int = 10, seed: int = 0) -> dict:
    """One row of the frontier for FRONTIER_METHODS[name] on `model` (TinyLM), with the noise of each
    estimate: perplexity over `n_windows` seeded held-out windows (perplexity_interval: ± 1 standard
    error over windows of the log-perplexity; per-window values in perplexity_windows), passkey
    accuracy over `passkey_n` examples (passkey_correct of passkey_n; wilson_interval: 95 %)."""
    from labkit.kvcache import evaluate, tinylm
    family, make = FRONTIER_METHODS[name]
    windows = tinylm.heldout_windows(n_windows, prefill + score, seed=seed)   # evaluate.perplexity's windows
    nll = [float(evaluate.window_nll(model, make, w[None], prefill).double().mean()) for w in windows]
    ppl, lo, hi = perplexity_interval(nll)
    pairs = evaluate.passkey_answers(model, make, n=passkey_n, seed=seed)
    k = sum(a == b for a, b in pairs)
    acc_lo, acc_hi = wilson_interval(k, passkey_n)
    with torch.inference_mode():
        cache = evaluate.new_cache(model, make)
        evaluate.step(model, cache, tinylm.heldout_windows(1, prefill + score, seed=seed))
    return {"method": name, "family": family, "bytes_per_token": evaluate.bytes_per_token(cache),
            "perplexity": ppl, "perplexity_lo": lo, "perplexity_hi": hi, "n_windows": n_windows,
            "perplexity_windows": tuple(math.exp(v) for v in nll),
            "passkey_accuracy": k / passkey_n, "passkey_lo": acc_lo, "passkey_hi": acc_hi,
            "passkey_correct": k, "passkey_n": passkey_n}


def seconds_per_method(n_windows: int, score: int, passkey_n: int) -> float:
    """A-priori seconds to measure one method (before any has been timed): fitted on a loaded 2-core
    machine, one torch thread (fp32 8.7 s, KIVI-2 6.0 s, H2O 7.6 s at 2 windows × 64 bytes and 10
    passkeys; a 768-byte prefill + 64 decoded bytes 0.6 s, one passkey 0.45 s)."""
    return n_windows * (0.15 + 0.009 * score) + 0.5 * passkey_n + 0.7


# per quality: its interval columns and what the bar is, in words (hover and caption)
BARS = {"perplexity": ("perplexity_lo", "perplexity_hi", "± 1 s.e. over {n} windows"),
        "passkey_accuracy": ("passkey_lo", "passkey_hi", "95 % Wilson interval, {n} examples")}
SIZE = {"perplexity": "n_windows", "passkey_accuracy": "passkey_n"}


def interval_text(row, y: str) -> str:
    """'2.45 .. 2.78 (± 1 s.e. over 2 windows)' for row's quality y; what is missing, when it is."""
    lo_c, hi_c, what = BARS[y]
    lo, hi = row.get(lo_c, math.nan), row.get(hi_c, math.nan)
    n = row.get(SIZE[y], math.nan)
    n = int(n) if isinstance(n, (int, float, np.integer, np.floating)) and np.isfinite(n) else "?"
    if lo_c not in row or hi_c not in row:
        return "no interval given"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "one window: no spread to estimate" if y == "perplexity" else "no interval"
    fmt = "{:#.3g}" if y == "perplexity" else "{:.2f}"  # '#': 3.20, not 3.2
    return f"{fmt.format(lo)} .. {fmt.format(hi)} ({what.format(n=n)})"


#: Padding around the points, as a fraction of their span (HoloViews' `padding`), and the accuracy axis: its
#: whole scale with a margin so markers at 0 and 1 are not cut at the frame.
PADDING = 0.15
ACCURACY_RANGE = (-0.05, 1.05)


def y_range(values, y: str) -> tuple[float, float]:
    """The y axis's range for quality `y`: accuracy its whole scale, perplexity its points and bars
    with 15 % padding (left to HoloViews, the range ran from -0.8 to 6.2 for points between 3.5 and 4.3)."""
    if y == "passkey_accuracy":
        return ACCURACY_RANGE
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    pad = PADDING * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)
    return (lo - pad, hi + pad)


class Frontier(pn.viewable.Viewer):
    """Bytes per token vs perplexity and vs passkey accuracy, one point per method with its interval
    (hover: its name and interval)."""

    table = param.DataFrame(default=None, allow_None=True, doc="method, bytes_per_token, perplexity, passkey_accuracy")
    methods = param.ListSelector(default=list(FRONTIER_METHODS), objects=list(FRONTIER_METHODS))
    n_windows = param.Integer(default=2, bounds=(1, 16), doc="held-out windows for perplexity")
    score = param.Integer(default=64, bounds=(8, 256), doc="bytes scored per window after a 768-byte prefill")
    passkey_n = param.Integer(default=10, bounds=(1, 100), doc="passkey examples")
    frame_width = param.Integer(default=250, bounds=(100, 2000), doc="each plot's frame (px): the labels' layout")
    frame_height = param.Integer(default=300, bounds=(100, 2000))

    LABEL = "measure on TinyLM"

    def __init__(self, table: pd.DataFrame | None = None, model=None, **params):
        super().__init__(table=None if table is None else check_table(table), **params)
        self._model = model
        self._rows: list[dict] = []
        self._task = LongTask(self.LABEL, self._plan, on_start=self._rows.clear, on_step=self._got,
                              estimate=self.estimate, idle=self._idle, width=300)

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

    def estimate(self) -> float:
        """A-priori seconds for measuring the selected methods (seconds_per_method each, and loading TinyLM)."""
        load = 0.0 if self._model is not None else 3.0
        return load + len(self.methods) * seconds_per_method(self.n_windows, self.score, self.passkey_n)

    def measure(self, progress=None) -> pd.DataFrame:
        """Measure every selected method (blocking); progress(i, name) is called before each."""
        model, rows = self.model(), []
        for i, name in enumerate(self.methods):
            if progress:
                progress(i, name)
            rows.append(measure_method(model, name, self.n_windows, 768, self.score, self.passkey_n))
        self.table = pd.DataFrame(rows)
        return self.table

    # -- the button: widgets.views.LongTask, one method per step ---------------------------------
    def _plan(self) -> list[Step]:
        load = [] if self._model is not None else [Step("loading TinyLM", self.model)]
        return load + [Step(f"measuring **{name}**", partial(self._measure_one, name, self.n_windows, self.score,
                                                             self.passkey_n)) for name in self.methods]

    def _measure_one(self, name, n_windows, score, passkey_n) -> dict:
        return measure_method(self.model(), name, n_windows, 768, score, passkey_n)

    def _got(self, step, result) -> None:
        if isinstance(result, dict):        # a method's row (not the model loaded)
            self._rows.append(result)
            self.table = pd.DataFrame(self._rows)  # points appear one by one

    def _idle(self) -> str:
        return f"press **{self.LABEL}**: {len(self.methods)} methods"

    @param.depends("methods", "n_windows", "score", "passkey_n", watch=True)
    def _new_estimate(self):
        self._task.refresh()

    # -- views --------------------------------------------------------------------------------
    def _points(self, y: str, logx: bool = False):
        t = self.table
        if t is None or y not in t.columns or not len(t):
            return self._empty(y)
        fam = t["family"] if "family" in t.columns else pd.Series("other", index=t.index)
        t = t.assign(family=fam.where(fam.isin(list(FAMILY_COLORS)), "other"),
                     interval=[interval_text(r, y) for r in t.to_dict("records")])
        lo_c, hi_c, _ = BARS[y]
        has = lo_c in t.columns and hi_c in t.columns
        bars = t[np.isfinite(t[lo_c].astype(float)) & np.isfinite(t[hi_c].astype(float))] if has else t.iloc[:0]
        layers = []
        for f, c in FAMILY_COLORS.items():  # the bars first: the points are drawn over them
            b = bars[bars["family"] == f].assign(x1=lambda d: d["bytes_per_token"])  # vertical: x0 = x1
            if len(b):
                layers.append(hv.Segments(b, ["bytes_per_token", lo_c, "x1", hi_c], ["method", "interval"])
                              .opts(color=c, line_width=2, alpha=0.45, tools=["hover"], show_legend=False))
        layers += [hv.Scatter(t[t["family"] == f], "bytes_per_token", [y, "method", "interval"], label=f).opts(
            color=c, size=10, tools=["hover"]) for f, c in FAMILY_COLORS.items() if (t["family"] == f).any()]
        vals = np.concatenate([t[y].to_numpy(float)] + ([bars[lo_c].to_numpy(float), bars[hi_c].to_numpy(float)]
                                                         if has else []))
        ylim = y_range(vals, y)
        lab = label_layout(t["bytes_per_token"], t[y], t["method"].to_numpy(), logx, ylim,
                           (self.frame_width, self.frame_height), PADDING)
        return hv.Overlay([hv.Scatter([], "bytes_per_token", y)] + layers + point_labels(lab)).opts(
            ylim=ylim, frame_width=self.frame_width, frame_height=self.frame_height, padding=PADDING)

    def _empty(self, y: str):
        """No points yet: say what to press, and how long it takes (an overlay text in the empty frame)."""
        why = self.available()
        hint = (f"{why}:\npass a table" if why else
                f"press '{self.LABEL}'\n(about {seconds_text(self.estimate())})")
        return hv.Overlay([hv.Scatter([], "bytes_per_token", y),
                           hv.Text(0.5, 0.5, hint, kdims=["bytes_per_token", y]).opts(
                               text_font_size="10pt", text_color="#555555", text_align="center")])

    def _logx(self) -> bool:
        return self.table is not None and len(self.table) > 0

    @param.depends("table", "methods", "n_windows", "score", "passkey_n")
    def perplexity_view(self):
        return self._points("perplexity", self._logx())

    @param.depends("table", "methods", "n_windows", "score", "passkey_n")
    def passkey_view(self):
        return self._points("passkey_accuracy", self._logx())

    def noise_text(self) -> str:
        """The caption under the plots: what the bars are, that overlapping bars are not distinguishable,
        and which methods look better than full precision only within the noise."""
        t = self.table
        if t is None or not len(t):
            return ""
        has = [y for y in BARS if y in t.columns and {BARS[y][0], BARS[y][1]} <= set(t.columns)]
        if not has:
            return "*This table gives no intervals: how noisy its points are is not known.*"
        parts = []
        if "perplexity" in has:
            n = int(t["n_windows"].max()) if "n_windows" in t.columns else "?"
            parts.append(f"perplexity ± 1 standard error over the {n} held-out windows (of the log-perplexity)"
                         if n != 1 else "perplexity: one window, no bar (n windows ≥ 2 gives one)")
        if "passkey_accuracy" in has:
            n = int(t["passkey_n"].max()) if "passkey_n" in t.columns else "?"
            parts.append(f"passkey accuracy: 95 % Wilson interval over the {n} examples")
        text = ("**Bars**: " + "; ".join(parts) + " (hover a point for its numbers). **Points whose bars overlap "
                "are not distinguishable** at this size: more windows or examples narrow the bars.")
        if "perplexity_windows" in t.columns:
            text += " Every method is scored on the same windows: the table compares them window by window."
        return text + self._within_noise(t)

    @staticmethod
    def _within_noise(t: pd.DataFrame) -> str:
        if "perplexity_lo" not in t.columns or "family" not in t.columns or not (t["family"] == "full").any():
            return ""
        ref = t[t["family"] == "full"].iloc[0]
        out = []
        for r in t[t["family"] != "full"].itertuples():
            if r.perplexity < ref["perplexity"] and r.perplexity_hi >= ref["perplexity_lo"]:
                out.append(f"{r.method} ({r.perplexity:.3g})")
        if not out or not np.isfinite(ref["perplexity_lo"]):
            return ""
        return (f"  \nBelow {ref['method']}'s perplexity ({ref['perplexity']:.3g}) only within the noise "
                f"(bars overlap): {', '.join(out)}.")

    @param.depends("table", "methods", "n_windows", "score", "passkey_n")
    def plots(self):
        """Both scatter plots, rebuilt when the table changes (a log axis cannot grow from an empty plot)."""
        xlabel = "bytes per token (cache, all layers)"
        empty = not self._logx()
        opts = dict(frame_width=self.frame_width, frame_height=self.frame_height, logx=not empty, show_grid=True,
                    legend_position="bottom", xlabel=xlabel, padding=PADDING)
        if empty:
            opts["xlim"] = (0, 1)
        ppl = dict(ylim=(0, 1)) if empty else {}
        return pn.Column(pn.Row(
            pn.pane.HoloViews(self.perplexity_view().opts(title="memory vs perplexity",
                                                          ylabel="TinyLM perplexity/byte (lower: better)",
                                                          **ppl, **opts), linked_axes=False),
            pn.pane.HoloViews(self.passkey_view().opts(title="memory vs passkey retrieval", ylim=ACCURACY_RANGE,
                                                       ylabel="passkey accuracy", **opts), linked_axes=False)),
            pn.pane.Markdown(self.noise_text(), width=600))

    def display_table(self) -> pd.DataFrame | None:
        """The table as shown under the plots: numbers rounded, each interval beside its value."""
        t = self.table
        if t is None:
            return None
        out = t.drop(columns=[c for c in t.columns if c.endswith(("_lo", "_hi", "_windows", "_correct"))
                              or c in ("n_windows", "passkey_n")]).round(4)
        for y, what in (("perplexity", "perplexity ± 1 s.e."), ("passkey_accuracy", "passkey 95 % Wilson")):
            if y in t.columns and BARS[y][0] in t.columns:
                out[what] = [interval_text(r, y).split(" (")[0] for r in t.to_dict("records")]
        if "perplexity_windows" in t.columns:
            out["perplexity per window"] = [", ".join(f"{v:.3f}" for v in w) for w in t["perplexity_windows"]]
        return out

    def __panel__(self):
        why = self.available()
        if why:
            self._task.button.disabled = True
            self._task.status.object = f"*{why}; pass a table instead.*"
        controls = pn.Param(self.param, parameters=["methods", "n_windows", "score", "passkey_n"], show_name=False,
                            width=300, widgets={"methods": pn.widgets.CheckBoxGroup})
        table = pn.bind(lambda t: pn.pane.DataFrame(self.display_table(), index=False, width=900)
                        if t is not None else "", self.param.table)
        return pn.Column(pn.Row(pn.Column("### Memory vs quality", controls, self._task.panel(300), width=320),
                                self.plots), table)
