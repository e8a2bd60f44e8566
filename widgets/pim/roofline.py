"""Roofline plot: each op of a step as a point (arithmetic intensity, attained ops/s) on log-log axes,
under the GPU's roof and the PIM memory's roof (Williams et al., CACM 2009).

    attainable(I) = min(peak compute, bandwidth * I)        I = ops / byte

GPU roof: the RooflineResult's effective peak and bandwidth (its hardware). PIM roof: the PIM system's
MAC units all streaming from their banks (labkit's DramPim.peak_flops() and peak_bandwidth(w_bits):
internal bandwidth, before row overheads). GPU points: the roofline's ops per op name, summed over the
layers (every layer of these models is alike; hover gives the layers and time). PIM points, when a
Timeline is given: its PIM events per op, ops = flops and bytes streamed by the MAC units, attained =
flops / the op's span on the channels. Drawn with Bokeh directly (the sources are updated in place):
a HoloViews overlay of roofs and points took ~35 ms per update on the 2-core box, this ~2 ms.

A decode GEMV sits at ~1-2 ops/byte, far left of the GPU's ridge:
memory bound, where the PIM roof (tens of TB/s inside the banks) is an order of magnitude higher.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.core.property.vectorization import value
from bokeh.models import HoverTool, Range1d
from bokeh.plotting import figure

from labkit.pim import RooflineResult, Timeline, list_systems, load_system
from widgets.pim.timeline import OP_COLORS, op_groups
from widgets.views import Memo, Renderings, legend_drawn_only, legend_right, push, source

__all__ = ["RooflineView", "gpu_points", "pim_points", "roof"]

POINT_COLUMNS = ["op", "group", "intensity", "attained", "ops", "bytes", "time", "layers", "bound"]
_X = (1e-2, 1e5)  # ops/byte drawn


def _layers_text(layers) -> str:
    ls = sorted(set(int(v) for v in layers))
    if ls == [-1]:
        return "head"
    if len(ls) > 2 and ls == list(range(ls[0], ls[-1] + 1)):
        return f"{ls[0]}–{ls[-1]}"
    return ", ".join(map(str, ls))


def _runs_of(codes: np.ndarray):
    """(order, first): a stable sort by `codes` and where each code's run starts in it."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    return order, np.flatnonzero(np.r_[True, c[1:] != c[:-1]])


def _by_op(op, layer, ops, nbytes, time) -> pd.DataFrame:
    """Sum ops, bytes, time per op name (first-appearance order); the layers each op ran in."""
    codes, names = pd.factorize(op)
    if not len(names):
        return pd.DataFrame(columns=POINT_COLUMNS)
    order, first = _runs_of(codes)
    ops_s, bytes_s, time_s = (np.add.reduceat(np.asarray(v, float)[order], first) for v in (ops, nbytes, time))
    lay, ends = np.asarray(layer)[order], np.r_[first, len(order)]
    out = pd.DataFrame({"op": np.asarray(names, dtype=object), "group": op_groups(names), "ops": ops_s,
                        "bytes": bytes_s, "time": time_s, "layers": [_layers_text(lay[i:j]) for i, j in
                                                                     zip(ends[:-1], ends[1:], strict=True)]})
    out["intensity"] = out["ops"] / out["bytes"]
    out["attained"] = out["ops"] / out["time"]
    return out


def gpu_points(result: RooflineResult) -> pd.DataFrame:
    """One row per op name of `result.layers` (ops, bytes, time summed over layers; ops with no
    arithmetic or no bytes dropped, as they have no place on log axes). POINT_COLUMNS."""
    df = result.layers
    df = df[(df["ops"] > 0) & (df["bytes"] > 0) & (df["time"] > 0)]
    out = _by_op(df["op"].to_numpy(), df["layer"].to_numpy(), df["ops"].to_numpy(), df["bytes"].to_numpy(),
                 df["time"].to_numpy())
    out["bound"] = np.where(out["intensity"] < result.ridge, "memory", "compute")
    return out[POINT_COLUMNS]


def pim_points(timeline: Timeline, peak: float | None = None, bandwidth: float | None = None) -> pd.DataFrame:
    """One row per PIM op of `timeline` (events of unit "pim"): flops and bytes summed, time = the sum
    over layers of each op's span (first start to last end on its lanes). `bound` against the PIM roof
    when peak and bandwidth are given. POINT_COLUMNS."""
    ev = timeline.events
    ev = ev[(ev["unit"] == "pim") & (ev["flops"] > 0) & (ev["bytes"] > 0)]
    if ev.empty:
        return pd.DataFrame(columns=POINT_COLUMNS)
    op_codes, names = pd.factorize(ev["op"])
    layer = ev["layer"].to_numpy()
    order, first = _runs_of(op_codes * (int(layer.max()) + 2) + (layer + 1))  # one run per (op, layer)
    f, nb, t0, t1 = (ev[c].to_numpy(float)[order] for c in ("flops", "bytes", "start", "end"))
    span = np.maximum.reduceat(t1, first) - np.minimum.reduceat(t0, first)
    out = _by_op(np.asarray(names, dtype=object)[op_codes[order][first]], layer[order][first],
                 np.add.reduceat(f, first), np.add.reduceat(nb, first), span)
    ridge = peak / bandwidth if peak and bandwidth else None
    out["bound"] = np.where(out["intensity"] < ridge, "memory", "compute") if ridge else ""
    return out[POINT_COLUMNS]


def roof(peak: float, bandwidth: float, x=_X) -> pd.DataFrame:
    """The roof min(peak, bandwidth * I) over x = (I_min, I_max), with the ridge point: 3 rows."""
    ridge = peak / bandwidth
    xs = np.array([x[0], min(max(ridge, x[0]), x[1]), x[1]])
    return pd.DataFrame({"intensity": xs, "attainable": np.minimum(peak, bandwidth * xs)})


@lru_cache(maxsize=16)
def _pim_roof(system: str, bits: int) -> tuple[float, float]:
    d = load_system(system).dram
    return d.peak_flops(), d.peak_bandwidth(bits)


_TOOLTIPS = [("op", "@op"), ("on", "@on"), ("layers", "@layers"), ("time", "@time_us{0,0.00} µs (all layers)"),
             ("attained", "@TOPS{0.000} TOPS"), ("intensity", "@intensity{0.00} ops/B"), ("bound", "@bound")]
_EMPTY_ROOF = {"intensity": [], "attainable": []}


class RooflineView(pn.viewable.Viewer):
    """Ops of a RooflineResult as points (circles) against the GPU roof (its hardware) and the roof of a
    PIM `system` (pim.list_systems(); None: no PIM roof); a Timeline's PIM ops as triangles when given.
    Hover: op, where it ran, layers, time summed over the layers, attained TOPS, intensity, bound."""

    result = param.ClassSelector(class_=RooflineResult, allow_None=True, doc="pim.roofline(...) result")
    timeline = param.ClassSelector(class_=Timeline, allow_None=True, doc="PIM timeline: its ops as triangles")
    system = param.Selector(default=None, objects=[None, *list_systems()],
                            doc="PIM system whose internal roof is drawn")
    height = param.Integer(default=360, bounds=(120, 2000), doc="plot height (px)")

    def __init__(self, result=None, **params):
        if result is not None and not isinstance(result, RooflineResult):
            raise TypeError(f"result: expected a labkit.pim RooflineResult, got {type(result).__name__}")
        super().__init__(result=result, **params)
        self._views, self._memo = Renderings(), Memo(16)

    def pim_roof(self) -> tuple[float, float] | None:
        """(peak flops/s, internal bandwidth B/s) of the PIM system, or None."""
        if self.system is None:
            return None
        return _pim_roof(self.system, self.result.w_bits if self.result is not None else 16)

    def _cached(self, obj, fn, *args):
        return self._memo.of(obj, args, lambda: fn(obj, *args))

    def points(self) -> dict[str, pd.DataFrame]:
        """{"gpu": gpu_points, "pim": pim_points} of what is shown (empty frames when absent)."""
        empty = pd.DataFrame(columns=POINT_COLUMNS)
        gpu = self._cached(self.result, gpu_points) if self.result is not None else empty
        pim = self._cached(self.timeline, pim_points, *(self.pim_roof() or (None, None))) \
            if self.timeline is not None else empty
        return {"gpu": gpu, "pim": pim}

    def data(self) -> dict:
        """What the sources hold: {"gpu_roof", "pim_roof", "gpu_points", "pim_points"} column dicts, the
        "title" (model, stage, batch) and the roofs' legend labels ("gpu_label", "pim_label": hardware or
        system and ridge point), "top" (the highest roof) and "bottom" (the lowest point, ops/s)."""
        pts = self.points()
        cols = {}
        for key, df, on in (("gpu_points", pts["gpu"], "GPU"), ("pim_points", pts["pim"], "PIM")):
            c = {k: df[k].to_numpy() for k in ("op", "group", "layers", "bound")}
            c.update(on=np.full(len(df), on, dtype=object), intensity=df["intensity"].to_numpy(float),
                     attained=df["attained"].to_numpy(float), time_us=df["time"].to_numpy(float) * 1e6,
                     TOPS=df["attained"].to_numpy(float) / 1e12,
                     color=np.array([OP_COLORS.get(g, "#bcbd22") for g in df["group"]], dtype=object))
            cols[key] = c
        r, roof_p = self.result, self.pim_roof()
        title = "roofline" if r is None else f"{r.model} {r.stage}, batch {r.batch}: ops under the roofs"
        attained = np.concatenate([cols["gpu_points"]["attained"], cols["pim_points"]["attained"]])
        attained = attained[attained > 0]
        top = max([r.peak_ops if r else 0.0, roof_p[0] if roof_p else 0.0, 1e9])
        return {"gpu_roof": roof(r.peak_ops, r.bandwidth).to_dict("list") if r is not None else _EMPTY_ROOF,
                "pim_roof": roof(*roof_p).to_dict("list") if roof_p is not None else _EMPTY_ROOF, **cols,
                "title": title, "top": top,
                "bottom": min(float(attained.min()) if len(attained) else top, top / 1e6),
                "gpu_label": (f"GPU roof: {r.hardware.name}, ridge {r.ridge:,.0f} ops/B" if r is not None
                              else "GPU roof"),
                "pim_label": (f"PIM roof: {self.system} in-bank, ridge {roof_p[0] / roof_p[1]:,.1f} ops/B"
                              if roof_p is not None else "PIM roof (in-bank)")}

    def _figure(self):
        srcs = {k: source(_EMPTY_ROOF) for k in ("gpu_roof", "pim_roof")}
        for k in ("gpu_points", "pim_points"):
            srcs[k] = source(("intensity", "attained", "op", "group", "on", "layers", "bound", "time_us", "TOPS",
                              "color"))
        fig = figure(x_axis_type="log", y_axis_type="log", x_range=Range1d(*_X), y_range=Range1d(1e9, 1e16),
                     height=self.height, sizing_mode="stretch_width", min_width=400,
                     tools="pan,wheel_zoom,box_zoom,reset,save",
                     x_axis_label="arithmetic intensity (ops / byte)", y_axis_label="attained (ops / s)")
        fig.title.text_font_size = "9pt"
        fig.line("intensity", "attainable", source=srcs["gpu_roof"], color="black", line_width=2,
                 legend_label="GPU roof")
        fig.line("intensity", "attainable", source=srcs["pim_roof"], color="#d62728", line_width=2, line_dash="dashed",
                 legend_label="PIM roof (in-bank)")
        # colour: the op's group (legend from the GPU points); shape: where it ran, one renderer each
        gpu = fig.scatter("intensity", "attained", source=srcs["gpu_points"], color="color", marker="circle", size=11,
                          line_color="black", line_width=0.5, legend_field="group")
        pim = fig.scatter("intensity", "attained", source=srcs["pim_points"], color="color", marker="triangle",
                          size=11, line_color="black", line_width=0.5, legend_label="▲ ran on PIM (● on the GPU)")
        fig.add_tools(HoverTool(renderers=[gpu, pim], tooltips=_TOOLTIPS))
        legend_right(fig)
        return fig, srcs

    @param.depends("result", "timeline", "system", watch=True)
    def _update(self):
        if not self._views:
            return
        d = self.data()
        for pane, fig, srcs in self._views:
            for k in ("gpu_roof", "pim_roof", "gpu_points", "pim_points"):
                srcs[k].data = d[k]
            fig.title.text = d["title"]
            for item in fig.legend.items:  # the roofs' labels carry their hardware and ridge point
                label = item.label.value if hasattr(item.label, "value") else None
                if label and label.startswith("GPU roof"):
                    item.label = value(d["gpu_label"])
                elif label and label.startswith("PIM roof"):
                    item.label = value(d["pim_label"])
            lo, hi = d["bottom"] / 2, d["top"] * 3  # every point inside, the roofs' flat parts under the top
            fig.y_range.update(start=lo, end=hi, reset_start=lo, reset_end=hi)
            legend_drawn_only(fig)
            push(pane)

    def __panel__(self):
        view = self._views.add(*self._figure())  # kept up to date until 8 newer ones are made
        self._update()
        return pn.Column(view.pane, css_classes=["pim-roofline"], sizing_mode="stretch_width")
