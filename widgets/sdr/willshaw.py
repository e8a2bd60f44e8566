"""Willshaw net inspector: the synapse matrix filling up as patterns are stored (measured fill against
theory.willshaw_fill, p1 = 1 − (1 − w(w−1)/(n(n−1)))^M), and recall from a noisy cue replayed step by
step (Willshaw, Buneman & Longuet-Higgins, Nature 1969): each step's cue, every unit's dendritic sum
against the threshold, and the output, graded bit by bit against the stored pattern.

Draws only from WillshawMemory's public API (`synapses`, `fill_fraction()`, `store`, `recall_steps`,
`n_stored`). A memory does not keep its patterns: the explorer knows those it stored itself and
those passed as `patterns=`.
"""

from __future__ import annotations

import time
from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit.sdr import SDR, WillshawMemory, random_patterns, willshaw_fill
from widgets.sdr.bits import BOTH, COLORS, ONLY_A, ONLY_B, bit_image, bit_states, legend_html
from widgets.views import LongTask, Step, drawn_legend, framewise

EXACT_MAX = 512    # up to this many rows/columns the heatmap shows every synapse
BLOCK_GRID = 256   # above it, the fill of blocks on a grid of at most this many rows/columns
RULES = {"θ = |cue| (Willshaw)": "willshaw", "k largest sums (k = w)": "k-wta", "fixed θ": "fixed"}


class WillshawExplorer(pn.viewable.Viewer):
    """Synapse matrix, fill fraction against theory, and recall from a noisy cue step by step.

    memory: a WillshawMemory (default: a fresh auto-associative WillshawMemory(n, w) holding
    `n_store` random patterns). patterns: the patterns already stored in it, as SDRs or (m, w)
    active-index rows, to cue recall from (optional).
    """

    memory = param.ClassSelector(class_=WillshawMemory, doc="the labkit.sdr.WillshawMemory shown")
    n_store = param.Integer(default=100, bounds=(1, 5000), label="M to store",
                            doc="random patterns stored per press (M, the patterns stored, grows by this)")
    pattern = param.Integer(default=0, bounds=(0, None), doc="stored pattern the cue comes from")
    removed = param.Integer(default=4, bounds=(0, None), doc="pattern bits left out of the cue")
    added = param.Integer(default=0, bounds=(0, None), doc="spurious bits added to the cue")
    rule = param.Selector(default="willshaw", objects=RULES, doc="which units fire")
    theta = param.Integer(default=4, bounds=(0, None), doc="threshold for the 'fixed θ' rule")
    max_steps = param.Integer(default=4, bounds=(1, 10), doc="recall iterations (output fed back as cue)")
    step = param.Integer(default=0, bounds=(0, 0), doc="recall step shown")
    seed = param.Integer(default=0, bounds=(0, None), doc="seed of the stored patterns and the cue noise")
    stored = param.Integer(default=0, precedence=-1, doc="bumped after each store")
    recalled = param.Integer(default=0, precedence=-1, doc="bumped once per new recall (one redraw, not two)")

    def __init__(self, memory: WillshawMemory | None = None, n: int = 256, w: int = 8, patterns=None, **params):
        fresh = memory is None
        if fresh:
            memory = WillshawMemory(n, w)
        elif not isinstance(memory, WillshawMemory):
            raise TypeError(f"memory: expected a labkit.sdr.WillshawMemory, got {type(memory).__name__}")
        later = {k: params.pop(k) for k in ("pattern", "removed", "added", "theta", "step") if k in params}
        super().__init__(memory=memory, **params)
        self.auto = memory.n_out == memory.n
        self.patterns: list[np.ndarray] = [self._rows(p) for p in (patterns if patterns is not None else [])]
        self._rng = np.random.default_rng(self.seed)
        self._fill_log = [(memory.n_stored, memory.fill_fraction())]
        self._steps_key, self._steps = None, []
        if fresh:
            self.store_more()
        self._bounds()
        self.param.update(**{k: v for k, v in later.items() if k != "step"})
        if "step" in later:
            self.step = later["step"]
        self._task = LongTask("store more patterns", self.store_plan, on_step=self._stored_step,
                              on_done=lambda _state: self._show_stored(), estimate=self.estimate,
                              idle=lambda: f"press **store more patterns**: {self.n_store} more", width=300)

    @param.depends("n_store", watch=True)
    def _new_estimate(self):
        if hasattr(self, "_task"):
            self._task.refresh()

    def _rows(self, p) -> np.ndarray:
        n = self.memory.n
        a = p.active if isinstance(p, SDR) else np.asarray(p, np.int64)
        if isinstance(p, SDR) and p.n != n:
            raise ValueError(f"patterns: expected SDRs of n={n} bits, got n={p.n}")
        if a.ndim != 1 or a.size == 0 or a.min() < 0 or a.max() >= n:
            raise ValueError(f"patterns: expected non-empty active-index rows in [0, {n}), got {a!r}")
        return np.unique(a)

    # -- storing ------------------------------------------------------------------------------
    def store_more(self, k: int | None = None) -> None:
        """Store k (default n_store) random w-bit patterns, recording the fill after each tenth (blocking:
        the steps the button runs, run here)."""
        for step in self.store_plan(k):
            step.run()
        self._show_stored()

    def store_plan(self, k: int | None = None) -> list[Step]:
        """The steps of one store: k random patterns (and targets) drawn now, so the button and store_more
        store the same ones, then stored a tenth per step, the fill recorded after each."""
        mem, k = self.memory, self.n_store if k is None else int(k)
        pats = random_patterns(mem.n, mem.w, k, self._rng)
        targets = pats if self.auto else random_patterns(mem.n_out, mem.w, k, self._rng)
        marks = [int(m) for m in np.unique(np.linspace(0, k, 11).astype(int)) if m > 0]
        return [Step(f"patterns {a + 1}..{b} of {k}", partial(self._store_rows, pats[a:b], targets[a:b]))
                for a, b in zip([0, *marks[:-1]], marks, strict=True)]

    def _store_rows(self, pats, targets) -> None:
        mem = self.memory
        for p, t in zip(pats, targets, strict=True):
            mem.store(SDR(mem.n, p), SDR(mem.n_out, t))
            if self.auto:
                self.patterns.append(p)
        self._fill_log.append((mem.n_stored, mem.fill_fraction()))

    def _show_stored(self) -> None:
        self._bounds()
        self._shown_at = time.monotonic()
        self.stored += 1

    def _stored_step(self, step, _result) -> None:
        # a long store redraws as it goes, at most once a second (a fast one only at the end)
        if time.monotonic() - getattr(self, "_shown_at", 0.0) > 1.0:
            self._show_stored()

    def estimate(self) -> float:
        """A-priori seconds for storing n_store patterns (0.07 ms each at n=256, w=8, and the fills)."""
        mem = self.memory
        return 0.1 + self.n_store * (7e-5 + 1e-8 * mem.w * mem.w) + 1e-8 * mem.n * mem.n_out

    def _bounds(self):
        w = len(self.patterns[min(self.pattern, len(self.patterns) - 1)]) if self.patterns else self.memory.w
        self.param.pattern.bounds = (0, max(0, len(self.patterns) - 1))
        self.param.removed.bounds = (0, max(0, w - 1))
        self.param.added.bounds = (0, self.memory.n - w)
        self.param.theta.bounds = (0, self.memory.n)
        self.param.update(pattern=min(self.pattern, max(0, len(self.patterns) - 1)),
                          removed=min(self.removed, max(0, w - 1)), added=min(self.added, self.memory.n - w))

    @param.depends("pattern", watch=True)
    def _pattern_bounds(self):
        self._bounds()

    # -- plain data ---------------------------------------------------------------------------
    def fill_table(self) -> pd.DataFrame:
        """Measured fill after each recorded store (M, fill), beside theory.willshaw_fill."""
        mem = self.memory
        M, fill = np.array(self._fill_log).T
        return pd.DataFrame({"M": M.astype(int), "fill": fill,
                             "fill_theory": [willshaw_fill(mem.n, mem.w, int(m), auto=self.auto) for m in M]})

    def synapse_grid(self) -> tuple[np.ndarray, int]:
        """(image, block): the synapse matrix (cue bit i as row, target unit j as column) as 0/1 when
        it is at most EXACT_MAX on a side (block = 1), else the fill of block × block tiles."""
        S = self.memory.synapses
        side = max(S.shape)
        if side <= EXACT_MAX:
            return S.astype(np.float32), 1
        block = -(-side // BLOCK_GRID)
        r, c = -(-S.shape[0] // block), -(-S.shape[1] // block)
        padded = np.zeros((r * block, c * block), np.float32)
        padded[: S.shape[0], : S.shape[1]] = S
        tiles = padded.reshape(r, block, c, block).sum(axis=(1, 3))
        area = np.outer(np.diff(np.minimum(np.arange(r + 1) * block, S.shape[0])),
                        np.diff(np.minimum(np.arange(c + 1) * block, S.shape[1])))
        return tiles / area, block

    def cue(self) -> SDR:
        """The chosen pattern with `removed` of its bits dropped and `added` off bits switched on
        (seeded by seed, pattern and the two counts)."""
        p, n = self.patterns[self.pattern], self.memory.n
        rng = np.random.default_rng([self.seed, self.pattern, self.removed, self.added])
        keep = rng.choice(p, size=len(p) - self.removed, replace=False)
        extra = rng.choice(np.setdiff1d(np.arange(n), p, assume_unique=True), size=self.added, replace=False)
        return SDR(n, np.concatenate([keep, extra]))

    def recall_kwargs(self) -> dict:
        """theta / k for WillshawMemory.recall_steps under the chosen rule."""
        return {"willshaw": {}, "k-wta": {"k": len(self.patterns[self.pattern])},
                "fixed": {"theta": self.theta}}[self.rule]

    def steps(self) -> list[dict]:
        """memory.recall_steps(cue, max_steps, ...) for the current cue and rule (cached)."""
        key = (self.stored, self.pattern, self.removed, self.added, self.rule, self.theta, self.max_steps, self.seed)
        if key != self._steps_key:
            self._steps = self.memory.recall_steps(self.cue(), self.max_steps, **self.recall_kwargs()) \
                if self.patterns and self.auto else []
            self._steps_key = key
        return self._steps

    def step_table(self) -> pd.DataFrame:
        """Per step: cue bits, threshold, output bits, and the output graded against the pattern."""
        p = SDR(self.memory.n, self.patterns[self.pattern]) if self.patterns else None
        rows = []
        for d in self.steps():
            y, ok = d["output"], d["output"].overlap(p)
            rows.append({"step": d["step"], "cue bits": d["cue"].w, "threshold": self._threshold(d),
                         "output bits": y.w, "correct": ok, "missing": p.w - ok, "extra": y.w - ok})
        return pd.DataFrame(rows, columns=["step", "cue bits", "threshold", "output bits", "correct", "missing",
                                           "extra"])

    def _threshold(self, d) -> int:
        """The sum a unit needed at this step (for k-WTA: the k-th largest sum)."""
        if d["theta"] is not None:
            return int(d["theta"])
        k = self.recall_kwargs()["k"]
        return int(np.sort(d["sums"])[-k])

    def _current(self):
        st = self.steps()
        return st[min(self.step, len(st) - 1)] if st else None

    @param.depends("stored", "pattern", "removed", "added", "rule", "theta", "max_steps", "seed", watch=True)
    def _new_recall(self):
        self.param.step.bounds = (0, max(0, len(self.steps()) - 1))
        self.param.update(step=0, recalled=self.recalled + 1)  # batched: the views redraw once
        self._refresh()

    @param.depends("step", watch=True)
    def _refresh(self):
        if hasattr(self, "_panes"):
            self._panes["text"].object = self.recall_text()
            self._panes["table"].object = self.step_table()
            self._panes["summary"].object = self.summary_text()

    # -- views --------------------------------------------------------------------------------
    @param.depends("stored")
    def synapse_view(self):
        img, block = self.synapse_grid()
        mem = self.memory
        what = "synapse i→j set" if block == 1 else f"fill of {block}×{block} blocks"
        # row 0 of an hv.Image's array is drawn at the top: cue bit 0 top left
        return hv.Image(img, kdims=["target unit j", "cue bit i"], vdims=["fill"],
                        bounds=(0, 0, img.shape[1] * block, img.shape[0] * block)).opts(
            title=f"{mem.n_stored} stored, fill {mem.fill_fraction():.4f} ({what}; red: the cued pattern's own)")

    @param.depends("pattern", "stored")
    def clique_view(self):
        """The chosen pattern's own synapses (its w×w clique), over the matrix."""
        if not self.patterns or max(self.memory.n, self.memory.n_out) > EXACT_MAX:
            return hv.Points([], ["target unit j", "cue bit i"], label="the cued pattern's synapses")
        p = self.patterns[self.pattern]
        j, i = np.meshgrid(p, p)
        return hv.Points((j.ravel() + 0.5, self.memory.n - i.ravel() - 0.5), ["target unit j", "cue bit i"],
                         label="the cued pattern's synapses")

    @param.depends("stored")
    def fill_view(self):
        mem, t = self.memory, self.fill_table()
        hi = max(100, 2 * mem.n_stored)
        M = np.unique(np.linspace(0, hi, 200).astype(int))
        theory = [willshaw_fill(mem.n, mem.w, int(m), auto=self.auto) for m in M]
        return (hv.Curve((M, theory), "M stored", "fill fraction", label="theory p1").opts(color="black")
                * hv.Scatter((t["M"], t["fill"]), "M stored", "fill fraction", label="measured")
                .opts(color="#d62728", size=6))

    def _step_data(self):
        d = self._current()
        return (None, None) if d is None else (d, self.patterns[self.pattern])

    @param.depends("step", "recalled")
    def cue_view(self):
        d, p = self._step_data()
        if d is None:
            return bit_image(bit_states(self.memory.n, []), "no stored pattern to cue", 260)
        x = d["cue"]
        ok = x.overlap(SDR(self.memory.n, p))
        return bit_image(bit_states(self.memory.n, p, x),
                         f"step {d['step']} cue: {ok} right, {len(p) - ok} missing, {x.w - ok} wrong", 260)

    @param.depends("step", "recalled")
    def output_view(self):
        d, p = self._step_data()
        if d is None:
            return bit_image(bit_states(self.memory.n, []), "", 260)
        y = d["output"]
        ok = y.overlap(SDR(self.memory.n, p))
        return bit_image(bit_states(self.memory.n, p, y),
                         f"output: {ok} correct, {len(p) - ok} missing, {y.w - ok} extra", 260)

    @param.depends("step", "recalled")
    def sums_view(self):
        """Every unit's dendritic sum, coloured as the output grid (correct / missing / extra / off),
        and the threshold it had to reach."""
        d = self._current()
        n = self.memory.n
        if d is None:
            return hv.Overlay([hv.Spikes([], "unit", "dendritic sum")])
        state = bit_states(n, self.patterns[self.pattern], d["output"]).ravel()[:n]
        units, sums = np.arange(n), d["sums"]
        names = {ONLY_A: "missing", ONLY_B: "extra", BOTH: "correct", 0: "silent"}
        layers = [hv.Spikes((units[state == code], sums[state == code]), "unit", "dendritic sum", label=name)
                  .opts(color="#b0b0b0" if code == 0 else COLORS[code], line_width=1 if code == 0 else 2.5)
                  for code, name in names.items()]
        th = self._threshold(d)
        return hv.Overlay(layers + [hv.HLine(th - 0.5).opts(color="black", line_dash="dashed")])

    def recall_text(self) -> str:
        d = self._current()
        if d is None:
            return ("*recall needs an auto-associative memory and a known stored pattern: store some, or pass "
                    "`patterns=`*" if self.auto else "*recall_steps iterates, so it needs n_out == n*")
        y, p = d["output"], SDR(self.memory.n, self.patterns[self.pattern])
        ok = y.overlap(p)
        last = len(self.steps()) - 1
        done = " — the output repeats its cue: a fixed point" if d["step"] == last and y == d["cue"] else ""
        return (f"**step {d['step']} of {last}**: cue {d['cue'].w} bits, a unit fires at sum ≥ "
                f"**{self._threshold(d)}**; output {y.w} bits: **{ok} correct, {p.w - ok} missing, "
                f"{y.w - ok} extra**{done}")

    def summary_text(self) -> str:
        mem = self.memory
        return (f"`{mem!r}`: fill **{mem.fill_fraction():.4f}** measured, "
                f"**{willshaw_fill(mem.n, mem.w, mem.n_stored, auto=self.auto):.4f}** theory; "
                f"{mem.nbytes:,} bytes; {len(self.patterns)} patterns known")

    def __panel__(self):
        mem = self.memory
        self._panes = {"text": pn.pane.Markdown(self.recall_text(), width=560),
                       "table": pn.pane.DataFrame(self.step_table(), index=False, width=560),
                       "summary": pn.pane.Markdown(self.summary_text(), width=320)}
        slider = pn.widgets.IntSlider
        store = pn.Param(self.param, parameters=["n_store"], widgets={"n_store": slider}, show_name=False, width=300)
        recall = pn.Param(self.param, parameters=["pattern", "removed", "added", "rule", "theta", "max_steps", "step"],
                          widgets={p: slider for p in ("pattern", "removed", "added", "theta", "max_steps", "step")},
                          show_name=False, width=300)
        side = min(520, max(260, 2 * max(mem.n, mem.n_out)))
        exact = max(mem.n, mem.n_out) <= EXACT_MAX
        matrix = (hv.DynamicMap(self.synapse_view).opts(
            cmap=["#ffffff", "#08306b"] if exact else "Blues", colorbar=not exact, width=side + (0 if exact else 90),
            height=side + 30, xaxis=None, yaxis=None, fontsize={"title": "10pt"})
            * hv.DynamicMap(self.clique_view).opts(color="#d62728", size=3, marker="square")).opts(
            legend_position="bottom", hooks=[drawn_legend])
        fill = framewise(hv.DynamicMap(self.fill_view), width=300, height=240, legend_position="bottom_right",
                                                  title="fill as patterns are stored", toolbar=None,
                                                  framewise=True, padding=0.05)
        sums = framewise(hv.DynamicMap(self.sums_view), width=640, height=220, legend_position="right",
                                                  title="dendritic sums and the threshold", toolbar=None,
                                                  framewise=True, hooks=[drawn_legend])
        grids = [pn.pane.HoloViews(hv.DynamicMap(v), linked_axes=False) for v in (self.cue_view, self.output_view)]
        return pn.Column(
            pn.Row(pn.Column("### Willshaw net: the synapse matrix", store, self._task.panel(300),
                             self._panes["summary"], fill, width=320), pn.pane.HoloViews(matrix, linked_axes=False)),
            pn.Row(pn.Column("### Recall from a noisy cue", recall, width=320),
                   pn.Column(pn.Row(*grids), pn.pane.HTML(legend_html(("stored only", "cue / output only",
                                                                        "both"))),
                             pn.pane.HoloViews(sums, linked_axes=False), self._panes["text"], self._panes["table"])))
