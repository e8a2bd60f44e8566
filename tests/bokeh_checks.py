"""Reading Bokeh models for the honest-views test (tests/test_views_honest.py): where each glyph's data
lies against its plot's ranges, what its legend names, and the problems found in a rendered root."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from bokeh.core.property.vectorization import Field, Value
from bokeh.models import (
    DataRange1d,
    GlyphRenderer,
    Image,
    ImageRGBA,
    ImageStack,
    Legend,
    LinearAxis,
    LogAxis,
    LogScale,
    Plot,
    Range1d,
    Scatter,
    Span,
)

from widgets.views import FIXED_SCALE

FILL = 0.2            # the data span at least this share of an explicit axis range
X_PROPS, Y_PROPS = ("x", "x0", "x1", "left", "right", "xs"), ("y", "y0", "y1", "top", "bottom", "ys")


# -- reading the Bokeh models ------------------------------------------------------------------------

def _column(glyph, source, prop):
    """The values of a glyph property: its source column for a field, [value] for a value."""
    if prop not in glyph.properties():
        return None
    spec = getattr(glyph, prop)
    if isinstance(spec, Field) or (isinstance(spec, dict) and "field" in spec):
        spec = spec.field if isinstance(spec, Field) else spec["field"]
    if isinstance(spec, str):  # a column of the source, else a value (a marker name, a colour)
        return source.data.get(spec) if source is not None and spec in source.data else [spec]
    if isinstance(spec, Value):
        return [spec.value]
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return [spec]
    return None


def _floats(values) -> np.ndarray:
    """Numbers of a column (nested lists flattened); an empty array for categorical data."""
    if values is None:
        return np.array([])
    out = []
    for e in list(values):
        if isinstance(e, (list, tuple, np.ndarray)):
            try:
                out.extend(np.ravel(np.asarray(e, dtype=float)))
            except (TypeError, ValueError):
                return np.array([])
        else:
            try:
                out.append(float(e))
            except (TypeError, ValueError):
                return np.array([])
    v = np.asarray(out, float)
    return v[np.isfinite(v)]


def _extent(r: GlyphRenderer, axis: str) -> np.ndarray:
    g, src = r.glyph, r.data_source
    vals = [_floats(_column(g, src, p)) for p in (X_PROPS if axis == "x" else Y_PROPS)]
    if isinstance(g, (Image, ImageRGBA, ImageStack)):
        base, d = _floats(_column(g, src, axis)), _floats(_column(g, src, "dw" if axis == "x" else "dh"))
        if len(base) and len(d) == len(base):
            vals.append(base + d)
    vals = [v for v in vals if len(v)]
    return np.concatenate(vals) if vals else np.array([])


def _n_drawn(r: GlyphRenderer) -> int:
    data = r.data_source.data if r.data_source is not None else {}
    return max((len(v) for v in data.values()), default=0)


def _glyphs(plot: Plot):
    return [r for r in plot.renderers if isinstance(r, GlyphRenderer) and r.visible]


def _inner_px(plot: Plot, axis: str) -> float:
    """The frame's size in px along `axis`, as the model states it (a guess when it stretches)."""
    frame = plot.frame_width if axis == "x" else plot.frame_height
    outer = plot.width if axis == "x" else plot.height
    return float(frame or max((outer or 400) - 80, 100))


def _fixed(plot: Plot, axis: str) -> bool:
    return FIXED_SCALE in plot.tags or f"{FIXED_SCALE}:{axis}" in plot.tags


def _labelled_ranges(plots) -> set[int]:
    """ids of the ranges shown on a labelled axis somewhere (stacked plots label a shared time axis once)."""
    out = set()
    for p in plots:
        for axis, side in (("x", [*p.below, *p.above]), ("y", [*p.left, *p.right])):
            if any(isinstance(a, (LinearAxis, LogAxis)) and a.visible and a.axis_label for a in side):
                out.add(id(getattr(p, f"{axis}_range")))
    return out


def plot_problems(plot: Plot, labelled: set[int] = frozenset()) -> list[str]:
    """What is dishonest about one plot (empty when nothing); `labelled`: ranges labelled elsewhere."""
    name = (plot.title.text if plot.title is not None else "") or "(untitled)"
    out = []
    drawn = [r for r in _glyphs(plot) if _n_drawn(r)]
    for axis in ("x", "y"):
        rng, log = getattr(plot, f"{axis}_range"), isinstance(getattr(plot, f"{axis}_scale"), LogScale)
        if isinstance(rng, DataRange1d):
            if any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in (rng.start, rng.end)):
                out.append(f"{name}: {axis} is a DataRange1d set by hand ({rng.start}, {rng.end}); use a Range1d")
            continue
        if not isinstance(rng, Range1d) or rng.start is None or rng.end is None:
            continue
        a, b = sorted((float(rng.start), float(rng.end)))
        if log and a <= 0:
            out.append(f"{name}: log {axis} range starts at {a}")
            continue
        f = (lambda v: np.log10(v)) if log else (lambda v: v)
        span = f(b) - f(a)
        px = _inner_px(plot, axis)
        lo_all, hi_all = math.inf, -math.inf
        for r in drawn:
            v = _extent(r, axis)
            v = v[v > 0] if log else v
            if not len(v):
                continue
            lo, hi = f(v.min()), f(v.max())
            lo_all, hi_all = min(lo_all, lo), max(hi_all, hi)
            margin = 0.0
            if isinstance(r.glyph, Scatter):
                size = _floats(_column(r.glyph, r.data_source, "size"))
                margin = max(0.45 * (size.max() if len(size) else 4) - 1, 0) / px * span  # 1 px of slack
            tol = 1e-9 * max(abs(span), 1e-300)
            if lo < f(a) + margin - tol or hi > f(b) - margin + tol:
                what = "markers cut at the frame" if margin and f(a) - tol <= lo and hi <= f(b) + tol else "outside"
                out.append(f"{name}: {type(r.glyph).__name__} {what} on {axis}: data {v.min():.4g}..{v.max():.4g}, "
                           f"range {a:.4g}..{b:.4g}")
        for sp in [*plot.center, *plot.renderers]:  # a threshold line (hv.HLine / VLine) is data too
            if isinstance(sp, Span) and sp.visible and sp.location is not None and \
                    sp.dimension == ("height" if axis == "x" else "width") and (sp.location > 0 or not log):
                lo_all, hi_all = min(lo_all, f(sp.location)), max(hi_all, f(sp.location))
        if hi_all > lo_all and span > 0 and not _fixed(plot, axis):
            # a range that includes 0 on purpose (bars, counts) is judged from 0
            lo_all = min(lo_all, 0.0) if not log and a <= 0 <= b else lo_all
            if (hi_all - lo_all) / span < FILL:
                out.append(f"{name}: {axis} range {a:.4g}..{b:.4g} does not follow its data "
                           f"({(hi_all - lo_all) / span:.0%} of it used)")
    out += _overlapping_labels(plot, name)
    legends = [x for x in plot.renderers + plot.center + plot.right + plot.left + plot.above + plot.below
               if isinstance(x, Legend)]
    items = [i for lg in legends if lg.visible for i in lg.items]
    in_legend = {id(r) for i in items for r in i.renderers}
    for r in _glyphs(plot):
        marker = getattr(r.glyph, "marker", None)
        if isinstance(r.glyph, Scatter) and _n_drawn(r):
            col = _column(r.glyph, r.data_source, "marker")
            shapes = {str(m) for m in (list(col) if col is not None else [])}
            if len(shapes) > 1:
                out.append(f"{name}: one renderer draws several marker shapes {sorted(shapes)}: the legend "
                           "shows one per item, draw one renderer per shape")
        if marker is not None and _n_drawn(r) and len(drawn) > 1 and id(r) not in in_legend:
            out.append(f"{name}: {r.glyph.marker} markers not in the legend")
    for i in items:
        if getattr(i, "visible", True) and not any(_n_drawn(r) and r.visible for r in i.renderers):
            label = i.label.value if isinstance(i.label, Value) else i.label
            out.append(f"{name}: legend item {label!r} has nothing drawn (a label without its symbol)")
    for ax in [*plot.below, *plot.above, *plot.left, *plot.right]:
        rng = plot.x_range if ax in plot.below or ax in plot.above else plot.y_range
        if id(rng) in labelled:
            continue
        named = bool(getattr(ax, "major_label_overrides", None))  # ticks named (lanes, paths): names are the label
        if isinstance(ax, (LinearAxis, LogAxis)) and ax.visible and not named and not ax.axis_label and drawn:
            out.append(f"{name}: an axis without a label")
    return out


CHAR_PX, LINE_PX = 0.5, 1.15  # a label's mean character width and line height, in units of its font size (px)


def _font_px(glyph) -> float:
    size = getattr(glyph, "text_font_size", None)
    size = size.value if isinstance(size, Value) else size.get("value") if isinstance(size, dict) else size
    try:
        v = float(str(size).rstrip("ptx"))
    except (TypeError, ValueError):
        return 13.0  # Bokeh's default, 13px
    return v * 4 / 3 if str(size).endswith("pt") else v


def _overlapping_labels(plot: Plot, name: str) -> list[str]:
    """Text labels drawn over each other: their boxes (CHAR_PX per character wide from the anchor,
    LINE_PX high, in the font's px; the frame's px from the model) meet, in the plot's scales."""
    from bokeh.models import Text
    out = []
    for r in _glyphs(plot):
        if not isinstance(r.glyph, Text) or _n_drawn(r) < 2:
            continue
        pos = []
        for axis in ("x", "y"):
            rng, log = getattr(plot, f"{axis}_range"), isinstance(getattr(plot, f"{axis}_scale"), LogScale)
            v = np.asarray(_floats(_column(r.glyph, r.data_source, axis)), float)
            if not isinstance(rng, Range1d) or len(v) != _n_drawn(r):
                break
            a, b = sorted((float(rng.start), float(rng.end)))
            f = np.log10 if log else (lambda z: z)
            pos.append((f(v) - f(a)) / max(f(b) - f(a), 1e-300) * _inner_px(plot, axis))  # in px
        if len(pos) < 2:
            continue
        text = [str(t) for t in (_column(r.glyph, r.data_source, "text") or [])]
        font = _font_px(r.glyph)
        align = getattr(r.glyph, "text_align", "left")
        w = np.array([len(t) * CHAR_PX * font for t in text])
        left = pos[0] - (w if align == "right" else w / 2 if align == "center" else 0)
        x, y = pos
        for i in range(len(x)):
            for j in range(i + 1, len(x)):
                if left[i] < left[j] + w[j] and left[j] < left[i] + w[i] and abs(y[i] - y[j]) < LINE_PX * font:
                    out.append(f"{name}: labels {text[i]!r} and {text[j]!r} drawn over each other")
    return out


def problems(root) -> list[str]:
    plots = list(root.select({"type": Plot}))
    labelled = _labelled_ranges(plots)
    return [p for plot in plots for p in plot_problems(plot, labelled)]


# -- notebook outputs --------------------------------------------------------------------------------

DOCS_JSON = "var docs_json = "  # how Panel and HoloViews embed a document in an output's text/html


def notebook_documents(nb: dict) -> list:
    """Every Bokeh document embedded in an executed notebook's outputs, rebuilt: [(cell index, Document)].

    Panel and HoloViews display a figure as text/html holding a script `var docs_json = {id: document}`
    (the document's JSON, as bokeh.embed writes it); each is rebuilt with Document.from_json, so the
    checks above read the same models a browser would. A document that cannot be rebuilt raises (a
    figure the check cannot see must not pass as one without problems)."""
    import panel  # noqa: F401  (registers Panel's Bokeh models, which the documents name)
    from bokeh.document import Document

    decoder, out = json.JSONDecoder(), []
    cells = [c for c in nb.get("cells", []) if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for i, cell in enumerate(cells):  # i: the cell's index in the source notebook (papermill adds one)
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            at = html.find(DOCS_JSON)
            while at >= 0:
                docs, end = decoder.raw_decode(html, at + len(DOCS_JSON))
                out += [(i, Document.from_json(d)) for d in docs.values()]
                at = html.find(DOCS_JSON, end)
    return out


def document_problems(documents: list) -> list[str]:
    """`problems` of every plot in notebook_documents(nb), each as 'cell i: problem', once."""
    found = []
    for i, doc in documents:
        plots = [p for root in doc.roots for p in root.select({"type": Plot})]
        labelled = _labelled_ranges(plots)
        found += [f"cell {i}: {p}" for plot in plots for p in plot_problems(plot, labelled)]
    return list(dict.fromkeys(found))


# Problems the figure check finds in a notebook's outputs and that are not fixed yet: a substring of
# the problem -> why. Keep short.
FIGURES_KNOWN: dict[str, str] = {}


def figure_problems(executed) -> list[str]:
    """This module's problems (glyphs outside their frame, axes not following their data,
    legend items without a symbol, labels over each other...) of every figure an executed notebook
    displays, less FIGURES_KNOWN."""
    docs = notebook_documents(json.loads(Path(executed).read_text()))
    assert docs, f"{Path(executed).name}: no Bokeh document found in its outputs (the figure check would see nothing)"
    return [p for p in document_problems(docs) if not any(k in p for k in FIGURES_KNOWN)]
