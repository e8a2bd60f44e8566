"""Drawing helpers shared by the KV-cache views: token × channel heatmaps, attention maps, point labels
that do not overlap (with leader lines), and a placeholder that shows progress while the capture is
computed off the event loop."""

from __future__ import annotations

import asyncio

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend for .opts)
import numpy as np
import pandas as pd
import panel as pn

from widgets.kvcache.data import capture_ready, default_capture
from widgets.views import Memo

DIVERGING = "RdBu_r"        # K, V and difference maps: symmetric around 0, so outliers stand out
ERROR = "YlOrRd"            # per-group error maps
ATTENTION = "Blues"
RESIDUAL_COLOR = "#d0d0d0"  # NaN cells: tokens kept in full precision
MAP_WIDTH, MAP_HEIGHT = 220, 128  # two K / V columns beside the controls fit 1280 px


def token_channel(X: np.ndarray, vdim: str = "value") -> hv.Image:
    """(T, D) array as an image with token on x and channel on y, channel c in [c, c + 1) (0 at the bottom)."""
    T, D = X.shape
    return hv.Image(np.ascontiguousarray(X.T[::-1], dtype=np.float32), kdims=["token", "channel"], vdims=[vdim],
                    bounds=(0, 0, T, D))


def heat_opts(diverging: bool = True, **kw) -> dict:
    """Options of a token × channel map: a symmetric diverging scale, or the error scale (NaN grey)."""
    base = dict(frame_width=MAP_WIDTH, frame_height=MAP_HEIGHT, colorbar=True, tools=["hover"], framewise=True,
                toolbar=None, fontsize={"title": "9pt"})
    if diverging:
        base.update(cmap=DIVERGING, symmetric=True)
    else:
        base.update(cmap=ERROR, clipping_colors={"NaN": RESIDUAL_COLOR})
    base.update(kw)
    return base


def channel_strip(X: np.ndarray, which: str) -> hv.Overlay:
    """Per channel of a (T, D) tensor: max |x| (grey bars) and |mean| (black bars), aligned with
    token_channel's rows. A channel far from zero on average is a stripe in the heatmap: per-token groups
    have to stretch their range over it, per-channel groups do not."""
    D = X.shape[1]
    c = np.arange(D)
    kd = [f"|{which}|", "channel", "x1", "y1"]
    return (hv.Rectangles((np.zeros(D), c + 0.1, np.abs(X).max(0), c + 0.9), kdims=kd, label="max").opts(
                color="#b0b0b0", line_alpha=0)
            * hv.Rectangles((np.zeros(D), c + 0.3, np.abs(X.mean(0)), c + 0.7), kdims=kd, label="mean").opts(
                color="#000000", line_alpha=0))


def query_key(A: np.ndarray, vdim: str = "weight") -> hv.Image:
    """(Tq, T) attention or difference map with key on x and query on y, query q in [q, q + 1); draw it
    with invert_yaxis=True to put query 0 at the top, as a matrix."""
    Tq, T = A.shape
    return hv.Image(np.ascontiguousarray(A[::-1], dtype=np.float32), kdims=["key", "query"], vdims=[vdim],
                    bounds=(0, 0, T, Tq))


CHAR_PX, LINE_PX = 5.5, 13.0   # an 8pt label: a character's mean width, a line's height (px)
GAP_PX = 7.0                   # a label starts this far right of its point's centre (past a size-10 marker)


def label_layout(x, y, names, logx: bool, ylim: tuple[float, float], frame: tuple[int, int],
                 padding: float) -> pd.DataFrame:
    """Labels (x, y, text) for points drawn right of them, none over another, inside `ylim` (the y axis's
    range) in a frame of `frame` = (width, height) px whose x axis pads the points' span by `padding`
    each side (log10 when `logx`). Points that coincide on screen (under a line apart) share one label
    ("H2O 50%, SnapKV 50%": it was drawn over "SnapKV 50%"); a label is a box CHAR_PX per character
    wide and LINE_PX high: boxes that would overlap are pushed upwards from the lowest, or downwards
    from the highest when the upward stack would leave the range (accuracies near 1). Also returns each
    label's point (px, py), for a leader line where the label moved off it (point_labels)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    u = np.log10(np.maximum(x, 1e-300)) if logx else x
    lo_y, hi_y = sorted(float(v) for v in ylim)
    fin = np.isfinite(u)
    span = float(u[fin].max() - u[fin].min()) if fin.any() else 0.0
    px_x = frame[0] / max(span * (1 + 2 * padding), 1e-12)          # px per unit of u
    g = LINE_PX / frame[1] * (hi_y - lo_y)                          # a line, in y units
    groups: list[list[int]] = []
    for i in np.lexsort((u, y)):
        for grp in groups:
            k = grp[0]
            if abs(u[i] - u[k]) * px_x < LINE_PX and abs(y[i] - y[k]) < g:
                grp.append(int(i))
                break
        else:
            groups.append([int(i)])
    text = [", ".join(str(names[i]) for i in grp) for grp in groups]
    lu = np.array([u[grp[0]] for grp in groups]) + GAP_PX / px_x   # clear of the marker
    lx = 10 ** lu if logx else lu
    w = np.array([len(s) * CHAR_PX / px_x for s in text])        # each label's width, in u units
    y0 = np.array([y[grp[0]] for grp in groups])

    def apart(a, b):  # the boxes of labels a and b do not meet across
        return lu[a] - lu[b] >= w[b] + 2 / px_x or lu[b] - lu[a] >= w[a] + 2 / px_x

    def stack(order, sign):
        ly = y0.copy()
        for n, a in enumerate(order):
            for b in sorted(order[:n], key=lambda k: sign * ly[k]):
                if not apart(a, b) and sign * (ly[a] - ly[b]) < g:
                    ly[a] = ly[b] + sign * g
        return ly

    finite = [a for a in range(len(groups)) if np.isfinite(y0[a])]   # groups come lowest first
    ly = stack(finite, 1.0)
    if finite and np.nanmax(ly) > hi_y - 0.5 * g:
        ly = stack(finite[::-1], -1.0)
    anchor = np.array([grp[0] for grp in groups], dtype=int)
    return pd.DataFrame({"x": lx, "y": ly, "text": text, "px": x[anchor], "py": y0})


def point_labels(lab: pd.DataFrame) -> list:
    """label_layout's labels as HoloViews layers: a thin grey leader line from each point to its label
    where the layout moved the label off the point's height (a reader can tell which point it names),
    then the labels."""
    moved = lab[np.abs(lab["y"] - lab["py"]) > 0] if len(lab) else lab
    layers = []
    if len(moved):
        layers.append(hv.Segments(moved, ["px", "py", "x", "y"]).opts(color="#999999", line_width=0.8,
                                                                     show_legend=False))
    layers.append(hv.Labels(lab, ["x", "y"], "text").opts(text_font_size="8pt", text_align="left", xoffset=0,
                                                         text_color="#333333"))
    return layers


def in_server() -> bool:
    """True while a `panel serve` session (the dashboard) is building its page."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def deferred(ready: bool, load, build, message: str):
    """build() at once outside a served session (JupyterLab, tests: the cell itself is busy meanwhile).
    In a served session: a spinner and `message` now, `load()` in a worker thread once the page is loaded
    (instant when `ready`), then build() in place of the spinner, so that the visitor's document is sent
    before the views are built (~1 s for the explorer's eight heatmaps: under a burst of visitors the
    documents would otherwise wait for them). build() should leave the per-setting work to the views
    (DynamicMaps, lazy ParamMethods): a dynamic Tabs draws only the visible tab."""
    if not in_server():
        return build()
    if ready:
        load = None
    holder = pn.Column(pn.Row(pn.indicators.LoadingSpinner(value=True, size=36), pn.pane.Markdown(message)),
                       sizing_mode="stretch_width")

    async def fill():
        if load is not None:
            await asyncio.get_running_loop().run_in_executor(None, load)
        holder.objects = [build()]

    pn.state.onload(fill)
    return holder


class CaptureViewer(pn.viewable.Viewer):
    """Base of the views over an AttentionCapture: the capture given, or default_capture() on first
    use; subclasses set their parameter bounds from it in _bounds() and build in _build()."""

    memo_size = 64  # settings whose plain data stay cached in self._cache

    def __init__(self, capture=None, **params):
        super().__init__(**params)
        self._capture = capture
        self._cache = Memo(self.memo_size)  # plain data per setting
        if capture is not None:
            self._bounds()

    @property
    def capture(self):
        """The AttentionCapture shown (computed on first use when none was given)."""
        if self._capture is None:
            self._capture = default_capture()
            self._bounds()
        return self._capture

    def _bounds(self) -> None:
        raise NotImplementedError

    def _ready(self) -> bool:
        return self._capture is not None or capture_ready()
