"""Machinery shared by the views of every mechanism (nothing here knows a labkit type).

    Memo(size)                 a small cache of plain data: .get_or(key, make), .of(owner, key, make)
    readout(view, text, **kw)  the Markdown pane of a view's live text; refresh_readout(view, text) updates it
    Renderings(keep=8)         the latest renderings (pane, figure, sources) of a view, updated in place
    source(columns)            an empty Bokeh ColumnDataSource with these columns
    legend_right(figure)       the house legend: 8pt labels, outside the plot on the right
    legend_drawn_only(figure)  hide the legend items of renderers with nothing drawn (a label without a symbol)
    drawn_legend               the same as a HoloViews hook: .opts(hooks=[drawn_legend])
    framewise(dmap)            a DynamicMap whose axes follow every frame, overlays included
    fixed_scale(*axes)         a HoloViews hook (or call on a figure) stating that these axes keep a fixed scale
    ratio_text(ref, x, more, less)   "1.30× more energy" / "1.30× less energy": a ratio worded by its direction
    push(pane)                 send a rendering's in-place Bokeh changes to a notebook
    redraw_time(view, p, vs)   median seconds a served page spends redrawing after `view.p = v`

Views drawn with Bokeh directly (the PIM timeline, roofline and energy) build their figure once per
rendering and afterwards only assign new column data to its sources and new ranges / titles to the
figure: a HoloViews element rebuilt per update cost 30-35 ms on a 2-core machine, this a few ms.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, NamedTuple

import panel as pn
from bokeh.core.validation import silence
from bokeh.core.validation.warnings import FIXED_SIZING_MODE
from bokeh.models import ColumnDataSource

__all__ = ["FIXED_SCALE", "framewise", "legend_drawn_only", "drawn_legend", "fixed_scale", "ratio_text", "Memo",
           "readout", "refresh_readout", "Rendering", "Renderings", "source", "legend_right", "push", "redraw_time"]


# Bokeh's W-1005 (FIXED_SIZING_MODE: "'fixed' sizing mode requires width and height to be set") fires for
# every HoloViews figure sized by its frame (frame_width / frame_height: its outer width and height are
# left None on purpose and follow from the frame and its axes) and for the Column Panel wraps around one
# (sized by that content): 34 lines in the server log per visit of the pages, none a real problem.
# Silenced for that one check only (widgets imports this module first); tests/test_ui_fit.py fails on
# any other validation warning of a served page.
silence(FIXED_SIZING_MODE, True)


class Memo(dict):
    """A dict that computes each value once: `get_or(key, make)` returns make() cached under `key`;
    `of(owner, key, make)` caches under (id(owner), key) and holds `owner`, so a recycled id (a new
    object at a freed address) never matches. Emptied before it grows past `size` entries (None: never,
    the owner clears it)."""

    def __init__(self, size: int | None = 64):
        super().__init__()
        self.size = size

    def _room(self) -> None:
        if self.size is not None and len(self) > self.size:
            self.clear()

    def get_or(self, key, make: Callable[[], Any]):
        if key not in self:
            self._room()
            self[key] = make()
        return self[key]

    def of(self, owner, key, make: Callable[[], Any]):
        hit = self.get((id(owner), key))
        if hit is None or hit[0] is not owner:
            self._room()
            hit = self[(id(owner), key)] = (owner, make())
        return hit[1]


def readout(view, text: Callable[[], str], **pane) -> pn.pane.Markdown:
    """A Markdown pane showing text(), kept as `view._text` (the latest rendering's) for refresh_readout."""
    view._text = pn.pane.Markdown(text(), **pane)
    return view._text


def refresh_readout(view, text: Callable[[], str]) -> None:
    """Show text() in the view's readout pane, once it has one (a view not drawn yet has none)."""
    if hasattr(view, "_text"):
        view._text.object = text()


class Rendering(NamedTuple):
    """One rendering of a view: the Panel pane, its Bokeh figure and the figure's source(s)."""

    pane: Any
    figure: Any
    sources: Any


class Renderings:
    """The latest `keep` renderings of one view (a notebook cell shown again, a page reloaded): each
    setting change updates every one of them in place; older ones are let go."""

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._items: list[Rendering] = []

    def add(self, figure, sources) -> Rendering:
        """A new rendering of `figure` (in a stretching Bokeh pane), kept up to date from now on."""
        r = Rendering(pn.pane.Bokeh(figure, sizing_mode="stretch_width"), figure, sources)
        self._items = [*self._items, r][-self.keep:]
        return r

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def source(columns) -> ColumnDataSource:
    """An empty ColumnDataSource with `columns`; views assign `.data` in place afterwards."""
    return ColumnDataSource({c: [] for c in columns})


def legend_right(fig) -> None:
    """Small legend labels, packed, outside the plot area on the right (so it never hides data)."""
    fig.legend.label_text_font_size, fig.legend.padding, fig.legend.spacing = "8pt", 2, 0
    fig.add_layout(fig.legend[0], "right")


FIXED_SCALE = "labkit:fixed-scale"  # in a Bokeh plot's tags: its axes keep a fixed scale on purpose


def legend_drawn_only(fig) -> None:
    """Hide each legend item whose renderers have nothing drawn now (an empty layer would show its label
    without its symbol); show it again once they have. Call after every data update."""
    for legend in fig.legend:
        for item in legend.items:
            item.visible = any(r.visible and r.data_source is not None and
                               max((len(v) for v in r.data_source.data.values()), default=0) > 0
                               for r in item.renderers)


def drawn_legend(plot, element) -> None:
    """HoloViews hook (`.opts(hooks=[drawn_legend])` on the overlay): legend_drawn_only on every frame."""
    legend_drawn_only(plot.state)


_ELEMENTS = ("Area", "Bars", "Curve", "ErrorBars", "HeatMap", "Histogram", "HLine", "Image", "Labels", "Points",
             "QuadMesh", "Rectangles", "RGB", "Scatter", "Segments", "Spikes", "Spread", "VLine")


def framewise(dmap, **opts):
    """`dmap` (an hv.DynamicMap) with its axes following each frame, and `opts` on it. HoloViews reads
    framewise from each element: set on an overlay it is ignored and the axes keep the first frame's
    range (the Willshaw sums ran off their 0..4 frame at 100)."""
    import holoviews.plotting.bokeh  # noqa: F401  (registers the backend the element names resolve against)
    # the {element: options} form needs no hv.extension() call, which a page served without one lacks
    return dmap.opts({k: dict(framewise=True) for k in _ELEMENTS}).opts(**opts)


def fixed_scale(*axes: str):
    """A HoloViews hook stating that `axes` ("x", "y"; none: both) keep a fixed scale on purpose (a
    gallery whose panels share one time axis, a probability axis from 0 to 1). `fixed_scale("y")(fig)`
    tags a Bokeh figure directly."""
    tags = [f"{FIXED_SCALE}:{a}" for a in axes] or [FIXED_SCALE]

    def hook(plot, element=None):
        fig = plot.state if hasattr(plot, "state") else plot
        fig.tags = [*fig.tags, *(t for t in tags if t not in fig.tags)]
    return hook


def ratio_text(ref: float, x: float, more: str, less: str) -> str:
    """How `x` compares with `ref`, worded by direction: "1.30× more" / "1.30× less" (never "0.77×
    less"); "about the same" within 0.5%. `more` / `less`: the words for x > ref and x < ref (e.g.
    "slower", "faster" for times)."""
    if ref <= 0 or x <= 0:
        return "—"
    r = x / ref
    if abs(r - 1) < 0.005:
        return "about the same"
    return f"**{r:,.2f}×** {more}" if r > 1 else f"**{1 / r:,.2f}×** {less}"


def push(pane) -> None:
    """Send in-place Bokeh changes of `pane` to a notebook (a served page gets them by itself)."""
    pn.io.push_notebook(pane)


def redraw_time(view, param_name: str, values, root=None) -> float:
    """Median seconds to set `view.param_name` to each of `values` in turn, the in-place update of the
    Bokeh models included (what a served page does before it sends the patch to the browser).
    `view`: a PimExplorer (or any Panel component with that parameter). Builds the Bokeh model first
    unless `root` (from pn.panel(view).get_root()) is given."""
    if param_name not in view.param:
        raise ValueError(f"param: {type(view).__name__} has no parameter {param_name!r}")
    if root is None:
        pn.panel(view).get_root()
    times = []
    for v in values:
        t = time.perf_counter()
        setattr(view, param_name, v)
        times.append(time.perf_counter() - t)
    return statistics.median(times)
