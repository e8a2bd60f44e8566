"""Gantt timeline of one simulated step (a labkit.pim Timeline): one row per lane (the GPU, the ASIC,
the link, each PIM channel, or each bank of one channel), one bar per event, coloured by op.

Zoom: the whole step -> one layer (`layer`) -> the banks of one channel in that layer (`detail="bank"`,
`channel`); the browser's wheel zoom re-aggregates the visible window (the figure's RangesUpdate event).

Aggregation (`aggregate`, a pure function on the events DataFrame): a 32-layer decode on 80 channels is
~16,000 events, and a bank-level layer ~40,000; Bokeh stays responsive to about 10,000 bars. Beyond
`max_bars` the consecutive events of one lane are merged: first those of one op (the 64 banks of a
collapsed channel doing one GEMV), then, if still too many, those of one layer, then those of one of
max_bars // lanes equal time buckets across the window (about a pixel each). A merged bar spans its
first start to its last end, carries the summed busy time of its events (`busy`, so the busy time per
lane is kept exactly; on a row that merges several lanes it is lane-seconds) and the colour of its
longest event's op.
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.events import RangesUpdate
from bokeh.models import FixedTicker, HoverTool, Range1d
from bokeh.plotting import figure

from labkit.pim import Timeline
from widgets.views import Memo, Renderings, legend_right, push, source

__all__ = ["TimelineView", "aggregate", "display_lanes", "lane_order", "op_group", "op_groups", "layer_window",
           "row_positions", "bar_columns", "OP_COLORS", "BAR_COLUMNS"]

BAR_COLUMNS = ["lane", "op", "group", "layer", "start", "end", "busy", "n", "bytes", "flops", "energy"]
_SUMS = ("bytes", "flops", "energy")

# colour groups of the op graph's op names (labkit/pim/opgraph.py); PIM transfers end in ":in" / ":out"
_GROUP = {"embed": "embed", "attn_norm": "norm", "mlp_norm": "norm", "final_norm": "norm",
          "q_proj": "qkv", "k_proj": "qkv", "v_proj": "qkv", "qk_matmul": "attention", "sv_matmul": "attention",
          "fused_attention": "attention", "softmax": "softmax", "out_proj": "out_proj", "attn_add": "residual",
          "mlp_add": "residual", "router": "mlp", "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
          "mlp_act": "activation", "lm_head": "lm_head"}
OP_COLORS = {"qkv": "#1f77b4", "attention": "#d62728", "softmax": "#ff9896", "out_proj": "#17becf",
             "mlp": "#2ca02c", "activation": "#98df8a", "norm": "#9467bd", "residual": "#c5b0d5",
             "lm_head": "#ff7f0e", "embed": "#8c564b", "transfer": "#7f7f7f", "other": "#bcbd22"}
_LANE_RANK = {"gpu": 0, "npu": 0, "asic": 1, "link": 2}
_SUB_BATCH = re.compile(r"@sb\d+")


def op_group(op: str) -> str:
    """Colour group of an event's op name: 'q_proj+k_proj+v_proj@sb1' -> 'qkv', 'down_proj:in' -> 'transfer'."""
    name = _SUB_BATCH.sub("", op)
    if name.endswith((":in", ":out")):
        return "transfer"
    return _GROUP.get(name.split("+")[0], "other")


def op_groups(ops) -> np.ndarray:
    """op_group of each op name (an array or Series of names; each distinct name looked up once)."""
    codes, names = pd.factorize(ops)
    return np.array([op_group(n) for n in names], dtype=object)[codes] if len(names) else np.array([], object)


def display_lanes(lanes: pd.Series, detail: str = "channel", channel: int = 0) -> pd.Series:
    """The row each event is drawn in (None: not drawn). detail="channel": bank lanes 'pim/ch03/bank07'
    collapse into their channel 'pim/ch03'; detail="bank": the banks of `channel` have their own rows and
    the other PIM lanes are not drawn; lanes outside the PIM memory (gpu, asic, link) stay as they are."""
    keep = f"pim/ch{channel:02d}/bank"
    codes, names = pd.factorize(lanes)
    if detail == "bank":
        mapped = [n if n.startswith(keep) or not n.startswith("pim/") else None for n in names]
    else:
        mapped = [n.split("/bank")[0] if "/bank" in n else n for n in names]
    mapped = np.array(mapped, dtype=object)
    return pd.Series(mapped[codes] if len(names) else [], index=lanes.index, dtype=object)


def lane_order(lanes) -> list[str]:
    """Rows top to bottom: the GPU, the ASIC, the link, then the PIM channels (each channel's banks
    under it), anything else last; background lanes left out."""
    names = [n for n in dict.fromkeys(lanes) if n is not None and not str(n).endswith("/background")]
    return sorted(names, key=lambda n: (_LANE_RANK.get(n, 3 if n.startswith("pim/") else 4), n))


def layer_window(events: pd.DataFrame, layer) -> tuple[float, float]:
    """(first start, last end) of a layer's events, or of all events for layer "all" (seconds)."""
    ev = events[events["op"] != "background"]
    if layer != "all":
        ev = ev[ev["layer"] == layer]
    if ev.empty:
        return 0.0, 0.0
    return float(ev["start"].min()), float(ev["end"].max())


def _runs(order, c, key, a) -> dict:
    """Merge consecutive events of one lane (`c`: lane codes in `order`, by lane then start) that share
    `key` (op, layer or bucket) into one bar; `a`: the events' columns (numpy arrays)."""
    k = key[order]
    new = np.r_[True, (c[1:] != c[:-1]) | (k[1:] != k[:-1])] if len(c) else np.zeros(0, bool)
    first = np.flatnonzero(new)
    s, e = a["start"][order], a["end"][order]
    dur = e - s
    run = np.cumsum(new) - 1
    # the longest event of each run gives the bar its op, group and layer
    by_len = np.lexsort((dur, run))
    longest = order[by_len[np.r_[np.flatnonzero(np.diff(run[by_len])), len(run) - 1]]] if len(run) else first
    out = {"lane": a["lane"][order][first], "op": a["op"][longest], "layer": a["layer"][longest],
           "start": np.minimum.reduceat(s, first) if len(first) else s,
           "end": np.maximum.reduceat(e, first) if len(first) else e,
           "busy": np.add.reduceat(dur, first) if len(first) else dur, "n": np.diff(np.r_[first, len(s)])}
    for col in _SUMS:
        v = a[col][order]
        out[col] = np.add.reduceat(v, first) if len(first) else v
    return out


def aggregate(events: pd.DataFrame, max_bars: int = 10_000, window: tuple | None = None) -> pd.DataFrame:
    """Bars to draw for `events` (columns lane, op, layer, start, end, bytes, flops, energy; background
    events dropped) within `window` = (t0, t1) seconds (None: all). Returns BAR_COLUMNS, one row per bar,
    `attrs["level"]` saying how they were merged:

      "event"   one bar per event (when there are at most max_bars)
      "op"      consecutive events of a lane with the same op merged
      "layer"   consecutive events of a lane in one layer merged
      "bucket"  consecutive events of a lane in one of max_bars // lanes equal time buckets merged

    Per lane, sum(busy) == sum(end - start) of its events at every level; bars <= max_bars unless there
    are more lanes than max_bars (then one bar per lane)."""
    if max_bars < 1:
        raise ValueError(f"max_bars: expected a positive integer, got {max_bars!r}")
    keep = events["op"].to_numpy() != "background"
    start, end = events["start"].to_numpy(), events["end"].to_numpy()
    if window is not None:
        t0, t1 = window
        keep &= (end > t0) & (start < t1)
    idx = np.flatnonzero(keep)  # numpy takes: a DataFrame's boolean mask would copy every column
    a = {c: events[c].to_numpy()[idx] for c in ("lane", "op", "layer", "start", "end", *_SUMS)}
    start, level = a["start"], "event"
    if len(idx) <= max_bars:
        out = {**a, "busy": a["end"] - a["start"], "n": np.ones(len(idx), np.int64)}
    else:
        lane_codes, lanes = pd.factorize(a["lane"])
        order = np.lexsort((start, lane_codes))  # by lane, then start: the same for every level
        c = lane_codes[order]
        for level in ("op", "layer", "bucket"):
            key = pd.factorize(a["op"])[0] if level == "op" else a["layer"]
            if level == "bucket":
                t0, t1 = window if window is not None else (start.min(), a["end"].max())
                nb = max(1, max_bars // len(lanes))
                key = np.clip(((start - t0) / max(t1 - t0, 1e-30) * nb).astype(np.int64), 0, nb - 1)
            k = key[order]
            if level == "bucket" or 1 + np.count_nonzero((c[1:] != c[:-1]) | (k[1:] != k[:-1])) <= max_bars:
                out = _runs(order, c, key, a)
                break
    out["group"] = op_groups(out["op"])
    df = pd.DataFrame(out, columns=BAR_COLUMNS)
    df.attrs["level"] = level
    return df


def row_positions(rows: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """(centres, half-heights, total height) of the rows, top to bottom from 0: a PIM channel or bank
    row is 1 unit tall, every other row (GPU, ASIC, link) 3 units, so they stay readable beside 80 channels."""
    h = np.array([1.0 if "pim/" in r else 3.0 for r in rows])
    top = np.concatenate([[0.0], np.cumsum(h)[:-1]])
    return top + h / 2, 0.42 * h, float(h.sum())


def bar_columns(bars: pd.DataFrame, rows: list[str]) -> dict:
    """Column data of `bars` (times relative to their window, seconds) on the rows' y positions, in µs:
    quads (t0, t1, y0, y1), the hover fields, `color` (OP_COLORS of the group) and `busy` (alpha)."""
    centre, half, _ = row_positions(rows)
    index = pd.Series(np.arange(len(rows)), index=rows).reindex(bars["lane"]).to_numpy()
    yc, yh = centre[index], half[index]
    us = 1e6
    t0, t1, busy = (bars[c].to_numpy(float) for c in ("start", "end", "busy"))
    group = bars["group"].to_numpy()
    codes, names = pd.factorize(group)
    colors = np.array([OP_COLORS.get(g, OP_COLORS["other"]) for g in names], dtype=object)[codes] \
        if len(names) else np.array([], dtype=object)
    # a merged bar is as opaque as its lane was busy over its span (at least 0.25, to stay visible)
    span = t1 - t0
    alpha = np.clip(np.divide(busy, span, out=np.ones(len(span)), where=span > 0), 0.25, 1)
    return {"t0": t0 * us, "y0": yc - yh, "t1": t1 * us, "y1": yc + yh, "op": bars["op"].to_numpy(),
            "group": group, "layer": bars["layer"].to_numpy(int), "lane": bars["lane"].to_numpy(),
            "busy_us": busy * us, "events": bars["n"].to_numpy(int), "MB": bars["bytes"].to_numpy(float) / 1e6,
            "uJ": bars["energy"].to_numpy(float) * 1e6, "busy": alpha, "color": colors}


def _yticks(rows: list[str]) -> list[tuple[float, str]]:
    """Every non-PIM row, and about 16 channel and 16 bank rows, labelled."""
    centre = row_positions(rows)[0]
    chans = [r for r in rows if r.startswith("pim/") and "/bank" not in r]
    banks = [r for r in rows if "/bank" in r]
    every_c, every_b = max(1, len(chans) // 16), max(1, len(banks) // 16)
    ticks = []
    for i, r in enumerate(rows):
        if not r.startswith("pim/"):
            ticks.append((float(centre[i]), r))
        elif (banks.index(r) % every_b if "/bank" in r else chans.index(r) % every_c) == 0:
            ticks.append((float(centre[i]), r.split("/", 1)[1]))
    return ticks


_LEVEL = {"event": "events", "op": "merged per lane and op", "layer": "merged per lane and layer",
          "bucket": "merged per time bucket"}
_TOOLTIPS = [("op", "@op"), ("layer", "@layer"), ("lane", "@lane"), ("start", "@t0{0,0.000} µs"),
             ("end", "@t1{0,0.000} µs"), ("busy", "@busy_us{0,0.000} µs"), ("events", "@events"),
             ("bytes", "@MB{0,0.000} MB"), ("energy", "@uJ{0,0.000} µJ")]
_SHOWN = ("timeline", "compare", "compare_label", "layer", "detail", "channel", "max_bars", "title")
_FIELDS = ("t0", "y0", "t1", "y1", "op", "group", "layer", "lane", "busy_us", "events", "MB", "uJ", "busy", "color")


class TimelineView(pn.viewable.Viewer):
    """Gantt of a Timeline: lanes on y, time on x (µs since the step, or the chosen layer, began), bars
    coloured by op (hover: op, layer, lane, busy time, events merged, MB, µJ). `compare`: a second
    Timeline drawn above it (rows "<compare_label>: <lane>"), e.g. the GPU-only step, zoomed alike.
    `layer` zooms to one layer; `detail="bank"` shows the banks of `channel` in that layer, from a
    Timeline simulated with detail="bank" or from `bank_source(layer)` when given."""

    timeline = param.ClassSelector(class_=Timeline, allow_None=True, doc="the labkit.pim Timeline drawn")
    compare = param.ClassSelector(class_=Timeline, allow_None=True, doc="a second Timeline, drawn above")
    compare_label = param.String(default="GPU only", doc="row prefix of the compared Timeline")
    layer = param.Selector(default="all", objects=["all"], doc="'all' or one layer (zoom)")
    detail = param.Selector(default="channel", objects=["channel", "bank"], doc="rows per channel or per bank")
    channel = param.Integer(default=0, bounds=(0, 0), doc="the channel whose banks detail='bank' shows")
    max_bars = param.Integer(default=10_000, bounds=(100, 100_000), doc="aggregate beyond this many bars")
    title = param.String(default="", doc="plot title prefix (default: placement on system)")
    height = param.Integer(default=420, bounds=(60, 2000), doc="plot height (px), when first drawn")

    def __init__(self, timeline=None, bank_source=None, **params):
        if timeline is not None and not isinstance(timeline, Timeline):
            raise TypeError(f"timeline: expected a labkit.pim Timeline, got {type(timeline).__name__}")
        zoom = {k: params.pop(k) for k in ("layer", "channel") if k in params}  # valid once bounds are set
        super().__init__(timeline=timeline, **params)
        self._bank_source = bank_source
        self._cache, self._views = Memo(size=None), Renderings()  # plain data per Timeline (trimmed in _bounds)
        self._bounds()
        self.param.update(**zoom)

    @param.depends("timeline", watch=True)
    def _bounds(self):
        ev = self.timeline.events if self.timeline is not None else None
        layers = sorted(int(v) for v in ev["layer"].unique() if v >= 0) if ev is not None else []
        self.param.layer.objects = ["all", *layers]
        chans = [int(m.group(1)) for m in map(re.compile(r"^pim/ch(\d+)").match, self._lane_names(self.timeline))
                 if m] if ev is not None else []
        self.param.channel.bounds = (0, max(chans, default=0))
        if len(self._cache) > 64:
            self._cache.clear()
        if self.layer not in self.param.layer.objects:
            self.layer = "all"
        self.channel = min(self.channel, self.param.channel.bounds[1])

    def _lane_names(self, tl) -> np.ndarray:
        return self._cache.of(tl, ("lanes",), lambda: pd.unique(tl.events["lane"].to_numpy()))

    def shown(self) -> Timeline | None:
        """The Timeline drawn now: the bank-level one for the chosen layer when detail="bank" and the
        given timeline has no bank lanes there."""
        tl = self.timeline
        if tl is None or self.detail != "bank" or self.layer == "all":
            return tl
        has = self._cache.of(tl, ("banks", self.layer), lambda: bool(tl.events.loc[
            tl.events["layer"] == self.layer, "lane"].str.contains("/bank", regex=False).any()))
        return tl if has or self._bank_source is None else self._bank_source(self.layer)

    def _parts(self):
        """[(row prefix, Timeline, detail)] drawn, top to bottom."""
        parts = [] if self.compare is None else [(f"{self.compare_label}: ", self.compare, "channel")]
        tl = self.shown()
        detail = self.detail if self.layer != "all" else "channel"  # banks only within one layer
        return parts + ([] if tl is None else [("", tl, detail)])

    def _window(self, tl, layer):
        return self._cache.of(tl, ("window", layer), lambda: layer_window(tl.events, layer))

    def _lanes(self, tl, detail, prefix):
        def make():
            lanes = display_lanes(pd.Series(self._lane_names(tl)), detail, self.channel)
            return [prefix + r for r in lane_order(lanes)]
        return self._cache.of(tl, ("rows", detail, self.channel, prefix), make)

    def rows(self) -> list[str]:
        """Lane rows, top to bottom: the compared Timeline's, then the shown Timeline's."""
        return [r for prefix, tl, detail in self._parts() for r in self._lanes(tl, detail, prefix)]

    def _bars_of(self, prefix, tl, detail, window, origin, budget, memo=True):
        def make():
            ev = tl.events
            if detail == "bank" or any("/bank" in n for n in self._lane_names(tl)):
                ev = ev.assign(lane=display_lanes(ev["lane"], detail, self.channel))
                ev = ev[ev["lane"].notna()]
            b = aggregate(ev, budget, window)
            level = b.attrs["level"]
            b = b.assign(start=b["start"] - origin, end=b["end"] - origin,
                         lane=(prefix + b["lane"]) if prefix else b["lane"])
            b.attrs["level"] = level
            return b
        key = ("bars", detail, self.channel, budget, window, origin, prefix)
        return self._cache.of(tl, key, make) if memo else make()

    def bars(self, x_range=None) -> pd.DataFrame:
        """The bars drawn (BAR_COLUMNS; start and end in seconds since the layer (or step) began; compared
        Timeline first). Window: the chosen layer (or the whole step) of each Timeline, or `x_range`
        = (t0, t1) seconds relative to it (the browser's zoom)."""
        parts = self._parts()
        if not parts:
            return aggregate(pd.DataFrame(columns=["lane", "op", "layer", "start", "end", *_SUMS]))
        out = []
        for i, (prefix, tl, detail) in enumerate(parts):
            w0, w1 = (0.0, tl.latency) if self.layer == "all" else self._window(tl, self.layer)
            window = (w0 + x_range[0], w0 + x_range[1]) if x_range is not None else (w0, w1)
            budget = self.max_bars // 4 if len(parts) > 1 and i == 0 else self.max_bars - self.max_bars // 4 * i
            out.append(self._bars_of(prefix, tl, detail, window, w0, budget, memo=x_range is None))
        df = pd.concat(out, ignore_index=True) if len(out) > 1 else out[0]
        df.attrs["level"] = out[-1].attrs["level"]
        return df

    def extent(self) -> float:
        """Seconds shown at full zoom-out: the longest step, or the longest of the chosen layer."""
        spans = [(tl.latency if self.layer == "all" else np.subtract(*self._window(tl, self.layer)[::-1]))
                 for _, tl, _ in self._parts()]
        return float(max(spans, default=0.0))

    def plot(self, x_range=None) -> dict:
        """What the figure shows: {"bars": bar_columns(...), "title", "xlim" (µs), "ylim" (top row first),
        "ticks" {y: row label}, "xlabel"}; the chosen layer (or whole step), or the browser's zoom
        `x_range` = (t0, t1) µs, re-aggregated (a window covering the whole extent is not a zoom)."""
        full = (0.0, max(self.extent(), 1e-12) * 1e6)
        zoomed = x_range is not None and None not in x_range and (x_range[0] > full[0] or x_range[1] < full[1])
        rel = (x_range[0] / 1e6, x_range[1] / 1e6) if zoomed else None
        bars, rows = self.bars(rel), self.rows()
        tl, m = self.timeline, (self.timeline.meta if self.timeline is not None else {})
        where = "whole step" if self.layer == "all" else f"layer {self.layer}"
        if self.detail == "bank":
            where += " (banks: pick a layer)" if self.layer == "all" else f", banks of ch{self.channel:02d}"
        head = self.title or f"{m.get('placement', '')} on {m.get('system', '')}"
        step = f" · step {tl.latency * 1e6:,.1f} µs" if tl is not None else ""
        if self.compare is not None:
            step += f" ({self.compare_label} {self.compare.latency * 1e6:,.1f} µs)"
        title = f"{head}: {where}{step} · {len(bars):,} bars ({_LEVEL[bars.attrs['level']]})"
        since = "the step" if self.layer == "all" else f"layer {self.layer}"
        height = row_positions(rows)[2]
        return {"bars": bar_columns(bars, rows), "title": title,
                "xlim": (float(x_range[0]), float(x_range[1])) if zoomed else full, "ylim": (height + 0.2, -0.2),
                "ticks": dict(_yticks(rows)) or {0.0: ""}, "xlabel": f"time since {since} began (µs)"}

    def _figure(self):
        src = source(_FIELDS)
        fig = figure(frame_height=self.height, sizing_mode="stretch_width", min_width=500, x_range=Range1d(0, 1),
                     y_range=Range1d(1, 0), tools="xwheel_zoom,xpan,xbox_zoom,reset,save", active_drag="xpan",
                     active_scroll="xwheel_zoom")  # y_range start > end: the first row on top
        r = fig.quad(left="t0", right="t1", bottom="y0", top="y1", source=src, fill_color="color", fill_alpha="busy",
                     line_alpha=0, legend_field="group")
        fig.add_tools(HoverTool(renderers=[r], tooltips=_TOOLTIPS))
        fig.yaxis.ticker = FixedTicker(ticks=[])
        fig.title.text_font_size, fig.yaxis.major_label_text_font_size = "10pt", "7pt"
        fig.xgrid.grid_line_color = fig.ygrid.grid_line_color = None
        legend_right(fig)
        return fig, src

    def _draw(self, view, x_range=None) -> None:
        """Update one rendering in place: the bars, title and axes; a zoom (`x_range`, µs) keeps the
        browser's range, anything else shows the whole layer (or step)."""
        pane, fig, src = view
        d = self.plot(x_range)
        src.data = d["bars"]
        fig.title.text, fig.xaxis.axis_label = d["title"], d["xlabel"]
        if x_range is None:
            (x0, x1) = d["xlim"]
            fig.x_range.update(start=x0, end=x1, reset_start=x0, reset_end=x1)
        fig.y_range.start, fig.y_range.end = d["ylim"]
        axis = fig.yaxis[0]
        axis.ticker.ticks, axis.major_label_overrides = list(d["ticks"]), d["ticks"]
        push(pane)

    def _zoom(self, view, event) -> None:
        """The browser's wheel zoom / pan / reset (a RangesUpdate): re-aggregate the visible window."""
        self._draw(view, (event.x0, event.x1))  # (None, None): not a zoom

    @param.depends(*_SHOWN, watch=True)
    def _update(self):
        for view in self._views:
            self._draw(view)

    def __panel__(self):
        view = self._views.add(*self._figure())  # kept up to date until 8 newer ones are made
        view.figure.on_event(RangesUpdate, partial(self._zoom, view))
        self._draw(view)
        return pn.Column(view.pane, css_classes=["pim-timeline"], sizing_mode="stretch_width")
