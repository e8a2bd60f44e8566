"""SDR matching by overlap: how often random SDRs cross a threshold θ (false positives), how often
noisy copies of a stored SDR fall below it (false negatives), and how a union of M stored SDRs fills
up (Ahmad & Hawkins, "How do neurons operate on sparse distributed representations?", 2016: eq. 1,
the noise equation, and §"Unions").

Monte Carlo counts come from `labkit.sdr.overlap_counts` / `union_false_match_mc`, the curves from
`labkit.sdr.theory`. The distribution of a noisy copy's overlap is `theory.noisy_overlap_pmf(w, s, v)`: of the s
synapses (a subset of the w stored bits), the number whose bit was among the v moved ones is
hypergeometric, C(s,b)·C(w−s, v−b)/C(w,v) — the summand of false_negative_probability.
"""

from __future__ import annotations

from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit.sdr import (
    false_match_probability,
    false_negative_probability,
    noisy_overlap_pmf,
    overlap_counts,
    overlap_pmf,
    union_false_match_mc,
    union_false_match_probability,
    union_size_expected,
)
from widgets.views import LongTask, Memo, Step, drawn_legend, fixed_scale, framewise, readout, refresh_readout

RANDOM, NOISY, CUT = "#4c72b0", "#2ca02c", "#d62728"
LOG_FLOOR = 1e-30  # probabilities below this are drawn as gaps on log axes


def _log_safe(p: np.ndarray, floor: float = LOG_FLOOR) -> np.ndarray:
    """Values below `floor` (the log axis's bottom; zeros too) as NaN: gaps, not lines through the frame."""
    p = np.asarray(p, float)
    return np.where(p >= floor, p, np.nan)


HIST_FLOOR, UNION_FLOOR, TOP = 1e-4, 1e-20, 5.0  # log axes' bottoms; probability axes end at 5 (markers at 1 whole)


def _bars(counts, lo: int, hi: int, bottom: float) -> hv.Rectangles:
    """Bars b - 0.4 .. b + 0.4 of height counts[b] for lo <= b < hi, zero counts left out."""
    b = np.arange(lo, hi)
    b = b[np.asarray(counts[lo:hi]) > 0]
    return hv.Rectangles((b - 0.4, np.full(len(b), bottom), b + 0.4, counts[b].astype(float)),
                         kdims=["overlap", "count", "overlap2", "count2"])


class OverlapExplorer(pn.viewable.Viewer):
    """Overlap of an s-synapse segment (s of a stored SDR's w bits; s = w: the whole SDR) with
    `trials` random w-of-n inputs (Monte Carlo bars, exact curve over them), and with noisy copies
    of the stored SDR (v of its w bits moved). θ splits both: random inputs at or above θ are false
    positives (fp, eq. 1), noisy copies below it false negatives (fn)."""

    n = param.Integer(default=2048, bounds=(16, 65536), doc="bits per SDR")
    w = param.Integer(default=40, bounds=(1, 4096), doc="active bits per SDR")
    s = param.Integer(default=40, bounds=(1, 4096), doc="synapses of the segment (s <= w: subsampling)")
    theta = param.Integer(default=10, bounds=(0, 40), doc="match threshold: overlap >= theta matches")
    v = param.Integer(default=10, bounds=(0, 40), doc="noise: active bits of the stored SDR moved elsewhere")
    trials = param.Integer(default=200_000, bounds=(1000, 5_000_000), doc="random pairs in the Monte Carlo")
    seed = param.Integer(default=0, bounds=(0, None))
    log_y = param.Boolean(default=True, doc="log scale for counts (the tails are tiny)")

    def __init__(self, n: int = 2048, w: int = 40, s: int | None = None, trials: int = 200_000, **params):
        s = w if s is None else s
        ints = all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (n, w, s))
        if not ints or not 0 < s <= w <= n:
            raise ValueError(f"n, w, s: expected ints with 0 < s <= w <= n, got n={n!r}, w={w!r}, s={s!r}")
        n, w, s = int(n), int(w), int(s)
        theta, v = params.pop("theta", None), params.pop("v", None)
        super().__init__(n=n, w=w, s=s, trials=trials, **params)
        self._cache = Memo(64)
        self._bounds()
        # defaults that scale with the segment: theta about s/2 (at most 10), v a quarter of w (at most 10)
        self.param.update(theta=min(10, (s + 1) // 2) if theta is None else theta,
                          v=min(10, w // 4, n - w) if v is None else v)

    @param.depends("n", "w", "s", watch=True)
    def _bounds(self):
        w = min(self.w, self.n)
        s = min(self.s, w)
        self.param.w.bounds = (1, self.n)
        self.param.s.bounds = (1, w)
        self.param.theta.bounds = (0, s)
        self.param.v.bounds = (0, min(w, self.n - w))
        self.param.update(w=w, s=s, theta=min(self.theta, s), v=min(self.v, w, self.n - w))

    # -- plain data (cached per setting) ------------------------------------------------------
    def counts(self) -> np.ndarray:
        """(s+1,) Monte Carlo counts of overlap b = 0..s between the segment and random inputs."""
        return self._cache.get_or(("mc", self.n, self.w, self.s, self.trials, self.seed),
                            lambda: overlap_counts(self.n, self.w, self.s, self.trials, self.seed))

    def random_pmf(self) -> np.ndarray:
        """(s+1,) exact P(overlap = b) for a random input (hypergeometric, theory.overlap_pmf)."""
        return self._cache.get_or(("pmf", self.n, self.w, self.s), lambda: overlap_pmf(self.n, self.w, self.s))

    def noisy_pmf(self) -> np.ndarray:
        """(s+1,) exact P(overlap = b) for a copy of the stored SDR with v bits moved: s minus the
        hypergeometric number of synapses that lost their bit (theory.noisy_overlap_pmf)."""
        return self._cache.get_or(("noisy", self.w, self.s, self.v), lambda: noisy_overlap_pmf(self.w, self.s, self.v))

    def tradeoff(self) -> pd.DataFrame:
        """fp and fn for every theta = 0..s (exact), the curves of the trade-off plot."""
        def make():
            th = np.arange(self.s + 1)
            return pd.DataFrame({"theta": th,
                                 "fp": [false_match_probability(self.n, self.w, self.s, int(t)) for t in th],
                                 "fn": [false_negative_probability(self.w, self.s, int(t), self.v) for t in th]})
        return self._cache.get_or(("tradeoff", self.n, self.w, self.s, self.v), make)

    def readout(self) -> dict:
        """At the current theta: fp and fn (exact), and the Monte Carlo fp (hits / trials)."""
        c = self.counts()
        hits = int(c[self.theta:].sum())
        return {"theta": self.theta, "fp": false_match_probability(self.n, self.w, self.s, self.theta),
                "fn": false_negative_probability(self.w, self.s, self.theta, self.v),
                "fp_measured": hits / self.trials, "hits": hits, "trials": self.trials}

    # -- views --------------------------------------------------------------------------------
    @param.depends("n", "w", "s", "v", "theta", "trials", "seed", "log_y")
    def histogram_view(self):
        """MC bars (below theta: rejected, at or above: false matches), exact expected counts of random
        inputs and of noisy copies drawn over them, theta as a vertical cut."""
        c, s, th, T = self.counts(), self.s, self.theta, self.trials
        b = np.arange(s + 1)
        bottom = 1e-4 if self.log_y else 0.0
        lo = _bars(c, 0, th, bottom).relabel("random: rejected")
        hi = _bars(c, th, s + 1, bottom).relabel("random: false match")
        exp = self.random_pmf() * T
        noisy = self.noisy_pmf() * T
        if self.log_y:  # below the log axis's floor: gaps
            exp, noisy = _log_safe(exp, HIST_FLOOR), _log_safe(noisy, HIST_FLOOR)
        return (lo.opts(color=RANDOM, alpha=0.6, line_alpha=0) * hi.opts(color=CUT, alpha=0.6, line_alpha=0)
                * hv.Curve((b, _log_safe(exp)), "overlap", "count", label="random: exact").opts(color=RANDOM)
                * hv.Scatter((b, _log_safe(exp)), "overlap", "count", label="random: exact").opts(color=RANDOM, size=4)
                * hv.Curve((b, _log_safe(noisy)), "overlap", "count", label=f"copy with {self.v} bits moved: exact")
                .opts(color=NOISY, line_width=2)
                * hv.VLine(th - 0.5).opts(color="black", line_dash="dashed", line_width=2))

    @param.depends("n", "w", "s", "v", "theta")
    def tradeoff_view(self):
        t, r = self.tradeoff(), self.readout()
        now = [(self.theta, p) for p in (r["fp"], r["fn"]) if p >= LOG_FLOOR]
        return (hv.Curve((t["theta"], _log_safe(t["fp"])), "theta", "probability", label="false positive")
                .opts(color=CUT)
                * hv.Curve((t["theta"], _log_safe(t["fn"])), "theta", "probability", label="false negative")
                .opts(color=NOISY)
                * hv.Scatter(now, "theta", "probability", label="at θ now").opts(color="black", size=7)
                * hv.VLine(self.theta).opts(color="black", line_dash="dashed"))

    def readout_text(self) -> str:
        r = self.readout()
        mc = (f"{r['hits']} of {r['trials']:,} random inputs = {r['fp_measured']:.3g}" if r["hits"]
              else f"0 of {r['trials']:,} random inputs (the formula says why)")
        return (f"**θ = {r['theta']}** (n={self.n}, w={self.w}, s={self.s}, v={self.v})  \n"
                f"false positive **{r['fp']:.3g}** — measured: {mc}  \n"
                f"false negative **{r['fn']:.3g}** (a copy with {self.v} of {self.w} bits moved)")

    @param.depends("n", "w", "s", "v", "theta", "trials", "seed", watch=True)
    def _refresh_text(self):
        refresh_readout(self, self.readout_text)

    @param.depends("log_y", "trials")
    def _histogram_pane(self):
        # an axis's type is fixed when a plot is made: a log toggle rebuilds, everything else patches
        T = self.trials
        ylim = (HIST_FLOOR, 3 * T) if self.log_y else (0, None)
        dmap = framewise(hv.DynamicMap(self.histogram_view),
            width=860, height=360, logy=self.log_y, ylim=ylim, legend_position="right", xlabel="overlap b",
            ylabel="pairs", title="overlap of a segment with random inputs and with noisy copies", show_grid=True,
            framewise=True, hooks=[drawn_legend, fixed_scale("y")] if self.log_y else [drawn_legend])
        return pn.pane.HoloViews(dmap, linked_axes=False)

    def __panel__(self):
        text = readout(self, self.readout_text, width=400)
        slider = pn.widgets.IntSlider
        controls = pn.Param(self.param, parameters=["theta", "v", "s", "w", "n", "trials", "seed", "log_y"],
                            widgets={"theta": slider, "v": slider, "s": slider, "w": pn.widgets.IntInput,
                                     "n": pn.widgets.IntInput, "trials": pn.widgets.IntInput,
                                     "seed": pn.widgets.IntInput}, show_name=False, width=320)
        trade = framewise(hv.DynamicMap(self.tradeoff_view),
            width=420, height=260, logy=True, ylim=(LOG_FLOOR, TOP), legend_position="bottom_right",
            title="the θ trade-off", toolbar=None, show_grid=True, framewise=True, padding=(0.05, 0),
            hooks=[fixed_scale("y"), drawn_legend])
        return pn.Row(pn.Column("### Overlap and the threshold θ", controls, width=340),
                      pn.Column(self._histogram_pane, pn.Row(text, pn.pane.HoloViews(trade, linked_axes=False))))


class UnionCapacity(pn.viewable.Viewer):
    """P(a random w-bit input matches the union of M stored w-bit SDRs at >= θ) against M, for a few
    θ (the plug-in formula: the union's expected size as s in eq. 1), with Monte Carlo points on
    request; the union's expected size beside it."""

    n = param.Integer(default=2048, bounds=(16, 65536))
    w = param.Integer(default=40, bounds=(1, 4096))
    thetas = param.List(default=[20, 30, 40], item_type=int, doc="thresholds drawn, one curve each")
    M_max = param.Integer(default=200, bounds=(2, 5000), doc="largest number of stored SDRs drawn")
    M = param.Integer(default=30, bounds=(1, 200), doc="union size read out (dashed line)")
    n_unions = param.Integer(default=50, bounds=(5, 2000), doc="random unions per Monte Carlo point")
    queries = param.Integer(default=2000, bounds=(100, 100_000), doc="random inputs per union")
    mc_done = param.Integer(default=0, precedence=-1, doc="bumped when Monte Carlo points arrive")

    def __init__(self, n: int = 2048, w: int = 40, **params):
        super().__init__(n=n, w=w, **params)
        if not 0 < self.w <= self.n:
            raise ValueError(f"w: expected 0 < w <= n={self.n}, got {self.w}")
        self.param.M.bounds = (1, self.M_max)
        self.mc = None  # DataFrame of Monte Carlo points (M, theta, measured, ...) or None
        self._cache: dict = {}
        self._frames: list[pd.DataFrame] = []
        self._task = LongTask("Monte Carlo points", self._plan, on_start=self._frames.clear, on_step=self._got,
                              estimate=self.estimate, idle=self._idle, width=300)
        self._button = self._task.button

    @param.depends("n", "w", "M_max", "thetas", watch=True)
    def _reset(self):
        self.param.M.bounds = (1, self.M_max)
        self.M = min(self.M, self.M_max)
        self.mc = None
        self._task.refresh()

    @param.depends("n_unions", "queries", watch=True)
    def _new_estimate(self):
        self._task.refresh()

    def Ms(self) -> np.ndarray:
        return np.unique(np.round(np.geomspace(1, self.M_max, 80)).astype(int))

    def curves(self) -> pd.DataFrame:
        """Columns M, union_size (expected), and P(false match) per theta (plug-in), cached."""
        key = (self.n, self.w, self.M_max, tuple(self.thetas))
        if key not in self._cache:
            Ms = self.Ms()
            d = {"M": Ms, "union_size": [union_size_expected(self.n, self.w, int(m)) for m in Ms]}
            for th in self.thetas:
                d[f"theta={th}"] = [union_false_match_probability(self.n, self.w, int(m), th) for m in Ms]
            self._cache = {key: pd.DataFrame(d)}
        return self._cache[key]

    def mc_points(self) -> np.ndarray:
        """Union sizes worth a Monte Carlo point: for each theta, the M where its curve is nearest
        0.05 (in log), where `n_unions * queries` random inputs see it clearly."""
        c = self.curves()
        Ms = set()
        for th in self.thetas:
            p = c[f"theta={th}"].to_numpy()
            ok = (p >= 1e-3) & (p <= 0.999)
            if ok.any():
                Ms.add(int(c["M"].to_numpy()[ok][np.argmin(np.abs(np.log(p[ok] / 0.05)))]))
        return np.array(sorted(Ms), int)

    def _mc_at(self, m: int) -> pd.DataFrame:
        return union_false_match_mc(self.n, self.w, int(m), self.thetas, n_unions=self.n_unions,
                                    queries=self.queries, seed=int(m)).assign(M=int(m))

    def monte_carlo(self) -> pd.DataFrame | None:
        """union_false_match_mc at each of mc_points(): columns M, theta, measured, formula, plugin, ..."""
        frames = [self._mc_at(m) for m in self.mc_points()]
        return pd.concat(frames, ignore_index=True) if frames else None

    def measure(self) -> pd.DataFrame | None:
        """Compute the Monte Carlo points and draw them (what the button does, blocking)."""
        self.mc = self.monte_carlo()
        self.mc_done += 1
        return self.mc

    # -- the button: widgets.views.LongTask, one union size per step (union_false_match_mc also
    # evaluates the size-averaged formula: seconds for large M); the plot is updated between steps
    def _plan(self) -> list[Step]:
        return [Step(f"M = {m}", partial(self._mc_at, int(m))) for m in self.mc_points()]

    def _got(self, step, frame) -> None:
        self._frames.append(frame)
        self.mc = pd.concat(self._frames, ignore_index=True)
        self.mc_done += 1

    def estimate(self) -> float:
        """A-priori seconds: n_unions × queries overlaps of n bits per union size, and the formula (0.1 s
        and 0.7 s per point at the page's n = 2048 and at n = 8192 with 200 × 5000, on a loaded 2-core box)."""
        return len(self.mc_points()) * (0.1 + 6e-10 * self.n_unions * self.queries * self.n / 8)

    def _idle(self) -> str:
        return f"press **Monte Carlo points**: {len(self.mc_points())} union sizes measured"

    @param.depends("n", "w", "M_max", "thetas", "M", "mc_done")
    def view(self):
        c = self.curves()
        colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
        layers = []
        for i, th in enumerate(self.thetas):
            col = colors[i % len(colors)]
            layers.append(hv.Curve((c["M"], _log_safe(c[f"theta={th}"], UNION_FLOOR)), "M", "P(false match)",
                                   label=f"θ = {th}").opts(color=col, line_width=2))
            mc = self.mc[self.mc["theta"] == th] if self.mc is not None else pd.DataFrame({"M": [], "measured": []})
            layers.append(hv.Scatter((mc["M"], _log_safe(mc["measured"], UNION_FLOOR)), "M", "P(false match)",
                                     label=f"θ = {th}")
                          .opts(color=col, size=8, marker="square", line_color="black"))
        layers.append(hv.VLine(self.M).opts(color="black", line_dash="dashed"))
        return hv.Overlay(layers)

    @param.depends("n", "w", "M_max", "M")
    def size_view(self):
        c = self.curves()
        return (hv.Curve((c["M"], c["union_size"] / self.n), "M", "expected union size / n").opts(color="black")
                * hv.VLine(self.M).opts(color="black", line_dash="dashed"))

    def readout_text(self) -> str:
        M = self.M
        rows = [f"θ = {th}: **{union_false_match_probability(self.n, self.w, M, th):.3g}**" for th in self.thetas]
        mc = ("  \n*press **Monte Carlo points** for measured squares*" if self.mc is None else
              f"  \nsquares: Monte Carlo, {self.n_unions} unions × {self.queries} inputs each")
        return (f"**M = {M}** stored SDRs fill ≈ {union_size_expected(self.n, self.w, M):.0f} of {self.n} bits; "
                f"P(false match) " + ", ".join(rows) + mc)

    @param.depends("n", "w", "M", "thetas", "mc_done", watch=True)
    def _refresh_text(self):
        refresh_readout(self, self.readout_text)

    def __panel__(self):
        text = readout(self, self.readout_text, width=640)
        controls = pn.Param(self.param, parameters=["M", "M_max", "thetas", "n", "w", "n_unions", "queries"],
                            widgets={"M": pn.widgets.IntSlider, "n": pn.widgets.IntInput, "w": pn.widgets.IntInput,
                                     "M_max": pn.widgets.IntInput, "n_unions": pn.widgets.IntInput,
                                     "queries": pn.widgets.IntInput}, show_name=False, width=300)
        main = framewise(hv.DynamicMap(self.view),
            width=640, height=380, logy=True, logx=True, ylim=(UNION_FLOOR, TOP), legend_position="bottom_right",
            title="false matches against a union of M stored SDRs", show_grid=True, framewise=True,
            hooks=[fixed_scale("y")])
        size = framewise(hv.DynamicMap(self.size_view), width=300, height=220, logx=True, ylim=(0, 1.05), toolbar=None,
                                                  title="expected union size / n", show_grid=True, framewise=True,
                                                  hooks=[fixed_scale("y")])
        return pn.Row(pn.Column("### Union capacity", controls, self._task.panel(300), size, width=320),
                      pn.Column(pn.pane.HoloViews(main, linked_axes=False), text))
