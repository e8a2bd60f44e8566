"""Dendritic-segment inspector: a SegmentMemory's segments as rows of synapses, one input's active
synapses on each, and the overlap of every segment against the threshold θ that makes an NMDA
spike (Ahmad & Hawkins 2016, §"Subsampling": s synapses sampled from a pattern's w bits; eq. 1 for
false positives, the noise equation for false negatives).

Draws only from SegmentMemory's public API (`synapses`, `overlaps`, `segment_sizes`, `snapshot`) and
labkit.sdr.theory. A memory does not keep its patterns: pass them as `patterns=` (in storage order)
to cue with noisy copies; random inputs always work.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import panel as pn
import param

from labkit.sdr import SDR, SegmentMemory, false_match_probability, false_negative_probability
from widgets.sdr.bits import COLORS, legend_html
from widgets.views import drawn_legend, framewise, readout, refresh_readout

SOURCES = {"stored pattern + noise": "stored", "random input": "random"}


class SegmentExplorer(pn.viewable.Viewer):
    """Segments × synapses, an input's active synapses on them, and each segment's overlap vs θ."""

    memory = param.ClassSelector(class_=SegmentMemory, doc="the labkit.sdr.SegmentMemory shown")
    source = param.Selector(default="stored", objects=SOURCES, doc="what is presented to the segments")
    pattern = param.Integer(default=0, bounds=(0, None), doc="stored pattern the input comes from")
    v = param.Integer(default=0, bounds=(0, None), doc="noise: the pattern's active bits moved elsewhere")
    theta = param.Integer(default=1, bounds=(0, None), doc="threshold drawn (the memory's own by default)")
    seed = param.Integer(default=0, bounds=(0, None), doc="seed of the noise / the random input")

    def __init__(self, memory: SegmentMemory, patterns=None, **params):
        if not isinstance(memory, SegmentMemory):
            raise TypeError(f"memory: expected a labkit.sdr.SegmentMemory, got {type(memory).__name__}")
        self.patterns = [] if patterns is None else [np.unique(p.active if isinstance(p, SDR) else np.asarray(p))
                                                      for p in patterns]
        if any(p.ndim != 1 or p.size == 0 or p.min() < 0 or p.max() >= memory.n for p in self.patterns):
            raise ValueError(f"patterns: expected SDRs or non-empty active-index rows in [0, {memory.n})")
        params.setdefault("theta", memory.theta)
        if not self.patterns:
            params.setdefault("source", "random")
        super().__init__(memory=memory, **params)
        self.param.pattern.bounds = (0, max(0, len(self.patterns) - 1))
        self.param.v.bounds = (0, min(memory.w, memory.n - memory.w))
        self.param.theta.bounds = (0, max(memory.theta, int(memory.segment_sizes.max(initial=0))))

    # -- plain data ---------------------------------------------------------------------------
    def input(self) -> SDR:
        """A stored pattern with v bits moved, or a random w-of-n input (seeded)."""
        mem = self.memory
        rng = np.random.default_rng([self.seed, self.pattern, self.v])
        if self.source == "random" or not self.patterns:
            return SDR.random(mem.n, mem.w, seed=rng)
        p = SDR(mem.n, self.patterns[self.pattern])
        return p.add_noise(min(self.v, p.w, mem.n - p.w), seed=rng)

    def own_segment(self) -> int | None:
        """The segment the chosen pattern was stored on (patterns stored in order), if known."""
        if self.source != "stored" or not self.patterns:
            return None
        return self.pattern // self.memory.patterns_per_segment

    def rates(self) -> dict:
        """Exact rates at the drawn theta: fp per segment (mean over segments) and for any segment
        (Π over segments, they are independent given the input), fn of one pattern's segment."""
        mem = self.memory
        fps = np.array([false_match_probability(mem.n, mem.w, int(sz), self.theta) if self.theta <= sz else 0.0
                        for sz in mem.segment_sizes])
        fn = (false_negative_probability(mem.w, mem.s, min(self.theta, mem.s), self.v)
              if mem.patterns_per_segment == 1 and self.theta <= mem.s else None)
        return {"fp_segment": float(fps.mean()) if len(fps) else 0.0,
                "fp_any": float(1 - np.prod(1 - fps)), "fn": fn}

    # -- views --------------------------------------------------------------------------------
    @param.depends("source", "pattern", "v", "seed")
    def synapse_view(self):
        """Rows: segments. Columns: the input's w active bits first, then every other bit that carries
        a synapse. Blue: a synapse; orange: an active input bit; red: an active synapse."""
        S, x = self.memory.synapses, self.input().active
        others = np.setdiff1d(np.flatnonzero(S.any(axis=0)), x, assume_unique=True)
        cols = np.concatenate([x, others])
        img = S[:, cols].astype(float) + 2.0 * np.isin(cols, x)[None, :]  # 1 synapse, 2 input, 3 both
        rows = max(1, len(S))
        img = img[::-1] if len(S) else np.zeros((1, len(cols)))  # segment g drawn between y = g and g + 1
        return (hv.Image(img, kdims=["column", "segment"], bounds=(0, 0, len(cols), rows))
                .opts(cmap=COLORS, clim=(-0.5, 3.5), title=f"synapses: {len(S)} segments; columns = the input's "
                      f"{len(x)} active bits, then the {len(others)} other bits with a synapse")
                * hv.VLine(len(x)).opts(color="black", line_width=1))

    @param.depends("source", "pattern", "v", "seed", "theta")
    def overlap_view(self):
        """One spike per segment: its overlap with the input, red where it reaches theta."""
        ov = self.memory.overlaps(self.input()) if len(self.memory.synapses) else np.zeros(0, int)
        g, hit = np.arange(len(ov)), ov >= self.theta
        lw = max(1, min(8, 400 // max(1, len(ov))))
        own = self.own_segment()
        top = max(float(ov.max(initial=0)), self.theta, 1.0)
        marks = [(own, int(ov[own]))] if own is not None and own < len(ov) else []
        return (hv.Spikes((g[~hit], ov[~hit]), "segment", "overlap", label="below θ")
                .opts(color=COLORS[1], line_width=lw)
                * hv.Spikes((g[hit], ov[hit]), "segment", "overlap", label="≥ θ: NMDA spike")
                .opts(color=COLORS[3], line_width=lw)
                * hv.Scatter(marks, "segment", "overlap", label="its own segment")
                .opts(color="black", marker="inverted_triangle", size=10)
                * hv.HLine(self.theta - 0.5).opts(color="black", line_dash="dashed")).opts(
            ylim=(-0.06 * top, 1.1 * top))  # the own segment's marker whole at overlap 0 and at the top

    def text(self) -> str:
        mem, x = self.memory, self.input()
        ov = mem.overlaps(x) if len(mem.synapses) else np.zeros(0, int)
        match = np.flatnonzero(ov >= self.theta)
        r = self.rates()
        what = ("a random input" if self.source == "random" or not self.patterns
                else f"pattern {self.pattern} with {self.v} of {mem.w} bits moved")
        own = self.own_segment()
        fn = f"; false negative of its own segment **{r['fn']:.3g}**" if r["fn"] is not None and own is not None else ""
        return (f"**{what}**: {len(match)} of {len(ov)} segments reach θ = {self.theta} "
                f"({', '.join(map(str, match[:12]))}{' ...' if len(match) > 12 else ''})"
                + (f"; its own segment {own} has overlap {int(ov[own])}" if own is not None and own < len(ov) else "")
                + f"  \nexact: a random input fires one segment with p = **{r['fp_segment']:.3g}**, "
                f"any segment with p = **{r['fp_any']:.3g}**{fn}  \n`{mem!r}`")

    @param.depends("source", "pattern", "v", "seed", "theta", watch=True)
    def _refresh(self):
        refresh_readout(self, self.text)

    def __panel__(self):
        text = readout(self, self.text, width=700)
        slider = pn.widgets.IntSlider
        names = ["source", "pattern", "v", "theta", "seed"] if self.patterns else ["theta", "seed"]
        controls = pn.Param(self.param, parameters=names, widgets={p: slider for p in ("pattern", "v", "theta")},
                            show_name=False, width=300)
        rows = len(self.memory.synapses)
        syn = framewise(hv.DynamicMap(self.synapse_view),
            width=760, height=min(440, max(160, 6 * rows + 40)), xaxis=None, toolbar=None,
            fontsize={"title": "9pt"}, framewise=True)
        ov = framewise(hv.DynamicMap(self.overlap_view), width=700, height=240, legend_position="top_right",
                       toolbar=None, title="each segment's overlap with the input, and θ", hooks=[drawn_legend])
        return pn.Row(pn.Column("### Dendritic segments", controls, width=320),
                      pn.Column(pn.pane.HoloViews(syn, linked_axes=False),
                                pn.pane.HTML(legend_html(("synapse", "active input bit", "active synapse"))),
                                pn.pane.HoloViews(ov, linked_axes=False), text))
