"""SDR bit grids: an SDR's n bits laid out row by row in a near-square grid, active bits lit, and
two SDRs overlaid with their overlap highlighted (Ahmad & Hawkins 2015, §2: the overlap |a ∩ b| is
the similarity every SDR formula counts).

`bit_states` / `bit_image` are the plain-data and drawing halves, shared by the other SDR views
(a Willshaw cue against its stored pattern, a recalled output against it).
"""

from __future__ import annotations

import math

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend for .opts)
import numpy as np
import panel as pn
import param

from labkit.sdr import SDR, false_match_probability

OFF, ONLY_A, ONLY_B, BOTH = 0, 1, 2, 3
COLORS = ["#ececec", "#4c72b0", "#ff9f1c", "#d62728"]  # off, only a, only b, both (the overlap)
NAMES = ("off", "only a", "only b", "both")


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the near-square grid that holds n bits: cols = ceil(sqrt(n))."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def bit_states(n: int, a, b=None) -> np.ndarray:
    """(rows, cols) float grid of bit states, bit i at row i // cols, column i % cols: OFF, ONLY_A,
    ONLY_B or BOTH (0..3), NaN for the padding cells after bit n-1. a, b: active indices or SDRs."""
    rows, cols = grid_shape(n)
    flat = np.full(rows * cols, np.nan)
    flat[:n] = OFF
    ia = a.active if isinstance(a, SDR) else np.asarray(a, np.int64)
    flat[ia] = ONLY_A
    if b is not None:
        ib = b.active if isinstance(b, SDR) else np.asarray(b, np.int64)
        flat[ib] += ONLY_B  # only b -> 2, a and b -> 3
    return flat.reshape(rows, cols)


def state_counts(states: np.ndarray) -> dict:
    """{state name: number of bits in it} for a bit_states grid."""
    return {name: int(np.count_nonzero(states == code)) for code, name in enumerate(NAMES)}


def legend_html(labels=("a", "b", "both")) -> str:
    """Coloured squares naming the three lit states (an hv.Image has no legend of its own)."""
    sq = '<span style="color:{}; font-size:1.3em">&#9632;</span> {}'
    return " &nbsp; ".join(sq.format(c, t) for c, t in zip(COLORS[1:], labels, strict=True))


def bit_image(states: np.ndarray, title: str = "", size: int = 400) -> hv.Image:
    """The grid as an hv.Image in the four state colours (padding blank), bit 0 top left."""
    rows, cols = states.shape
    return hv.Image(states, kdims=["bit column", "bit row"], vdims=["state"], bounds=(0, 0, cols, rows)).opts(
        cmap=COLORS, clim=(-0.5, 3.5), clipping_colors={"NaN": "white"}, xaxis=None, yaxis=None,
        width=size, height=max(40, round(size * rows / cols) + 30), toolbar=None, title=title,
        default_tools=[], fontsize={"title": "10pt"})


class BitGrid(pn.viewable.Viewer):
    """One SDR's bits (active lit), or two overlaid: only in a, only in b, in both (the overlap)."""

    a = param.ClassSelector(class_=SDR, doc="the first SDR (blue)")
    b = param.ClassSelector(class_=SDR, default=None, allow_None=True, doc="the second SDR (orange); both: red")
    labels = param.Tuple(default=("a", "b", "both"), length=3, doc="legend names of the lit states")
    size = param.Integer(default=400, bounds=(80, 2000), doc="frame width in pixels")

    def __init__(self, a: SDR, b: SDR | None = None, **params):
        if not isinstance(a, SDR):
            raise TypeError(f"a: expected a labkit.sdr.SDR, got {type(a).__name__}")
        if b is not None:
            if not isinstance(b, SDR):
                raise TypeError(f"b: expected a labkit.sdr.SDR or None, got {type(b).__name__}")
            if b.n != a.n:
                raise ValueError(f"b: sizes differ (a has n={a.n}, b has n={b.n})")
        super().__init__(a=a, b=b, **params)

    @param.depends("a", "b", watch=True)
    def _check_sizes(self):
        if self.b is not None and self.b.n != self.a.n:
            raise ValueError(f"b: sizes differ (a has n={self.a.n}, b has n={self.b.n})")

    def states(self) -> np.ndarray:
        """(rows, cols) grid of OFF / ONLY_A / ONLY_B / BOTH codes, NaN padding (see bit_states)."""
        return bit_states(self.a.n, self.a, self.b)

    def counts(self) -> dict:
        """Bits per state: off, only a, only b, both (both == a.overlap(b))."""
        return state_counts(self.states())

    def title(self) -> str:
        a = self.a
        if self.b is None:
            return f"n={a.n}, w={a.w} active ({100 * a.sparsity:.1f}%)"
        return f"n={a.n}: |a|={a.w}, |b|={self.b.w}, overlap {a.overlap(self.b)}"

    @param.depends("a", "b", "size")
    def view(self) -> hv.Image:
        return bit_image(self.states(), self.title(), self.size)

    def __panel__(self):
        legend = pn.pane.HTML(legend_html(self.labels if self.b is not None else (self.labels[0], "", "")))
        return pn.Column(pn.pane.HoloViews(hv.DynamicMap(self.view).opts(framewise=True), linked_axes=False), legend)


class PairExplorer(pn.viewable.Viewer):
    """Two SDRs of w active bits out of n sharing exactly `shared` bits (b = a with w - shared of
    its bits moved), on one bit grid; beside it, how unlikely that overlap is by chance."""

    n = param.Integer(default=2048, bounds=(16, 16384), doc="bits per SDR")
    w = param.Integer(default=40, bounds=(1, 1024), doc="active bits per SDR")
    shared = param.Integer(default=10, bounds=(0, 40), doc="bits b keeps from a (the overlap)")
    seed = param.Integer(default=0, bounds=(0, None))

    def __init__(self, **params):
        super().__init__(**params)
        self._bounds()
        self.grid = BitGrid(*self.pair())

    @param.depends("n", "w", watch=True)
    def _bounds(self):
        w = min(self.w, self.n // 2)  # b needs w - shared bits that are off in a
        self.param.w.bounds = (1, max(1, self.n // 2))
        self.param.shared.bounds = (0, w)
        self.param.update(w=w, shared=min(self.shared, w))

    def pair(self) -> tuple[SDR, SDR]:
        a = SDR.random(self.n, self.w, seed=self.seed)
        return a, a.add_noise(self.w - self.shared, seed=self.seed + 1)

    @param.depends("n", "w", "shared", "seed", watch=True)
    def _redraw(self):
        a, b = self.pair()
        self.grid.param.update(a=a, b=b)

    @param.depends("n", "w", "shared")
    def text(self):
        n, w, t = self.n, self.w, self.shared
        p = false_match_probability(n, w, w, t)
        return pn.pane.Markdown(
            f"Two random SDRs share w²/n = **{w * w / n:.2f}** bits on average. "
            f"P(overlap ≥ {t} by chance) = **{p:.3g}** (Ahmad & Hawkins 2015, eq. 3), "
            f"so a shared {t} bits almost surely means *the same thing*.", width=300)

    def __panel__(self):
        controls = pn.Param(self.param, parameters=["n", "w", "shared", "seed"], show_name=False, width=300,
                            widgets={"shared": pn.widgets.IntSlider, "w": pn.widgets.IntSlider,
                                     "n": pn.widgets.IntInput, "seed": pn.widgets.IntInput})
        return pn.Row(pn.Column("### Two SDRs, bit by bit", controls, self.text, width=320), self.grid)
