"""Energy of one step by component, one stacked bar per path (the GPU-only step and the PIM step), from
labkit.pim's Timeline.energy_breakdown(): data movement (DRAM cell, on-die I/O, TSV / PHY, interposer),
MACs, the ASIC's non-linear ops and static (background) power. AttAcc's table: a bit read by a GPU costs
3.59 pJ along the whole path, a bit consumed by a bank-level PIM unit only the cell's 0.55 pJ; so when
decode streams every weight once per token, moving data dominates and PIM removes most of it.
Drawn with Bokeh directly, sources updated in place (HoloViews' stacked Bars took ~30 ms per update)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import FixedTicker, HoverTool, Range1d
from bokeh.plotting import figure

from labkit.pim import Timeline
from widgets.views import Memo, Renderings, legend_drawn_only, legend_right, push, ratio_text, source

__all__ = ["EnergyView", "energy_table", "stacked_bars", "COMPONENT_COLORS"]

COMPONENT_COLORS = {"dram_cell": "#08519c", "on_die_io": "#3182bd", "tsv_phy": "#6baed6", "interposer": "#bdd7e7",
                    "mac": "#e6550d", "asic": "#fdae6b", "static": "#bdbdbd"}


def _totals(tl: Timeline) -> pd.Series:
    return tl.energy_breakdown().loc["total"].drop("total", errors="ignore")


def energy_table(timelines: dict, totals=_totals) -> pd.DataFrame:
    """Long table (path, component, energy J, share of the path's total) of the 'total' row of each
    Timeline's energy_breakdown(), components in COMPONENT_COLORS order (others after them).
    `totals(tl)`: that row without its 'total' column (EnergyView passes a cached one)."""
    rows = []
    for path, tl in timelines.items():
        if tl is None:
            continue
        total = totals(tl)
        comps = [c for c in COMPONENT_COLORS if c in total.index]
        comps += [c for c in total.index if c not in COMPONENT_COLORS]
        for c in comps:
            rows.append({"path": path, "component": c, "energy": float(total[c]),
                         "share": float(total[c] / tl.energy) if tl.energy > 0 else 0.0})
    return pd.DataFrame(rows, columns=["path", "component", "energy", "share"])


def stacked_bars(table: pd.DataFrame) -> dict:
    """Column data of horizontal stacked bars from energy_table(): path i on y in [i - 0.35, i + 0.35],
    its components left to right in mJ (left, right), with component, mJ, percent and color."""
    paths = list(dict.fromkeys(table["path"]))
    y = table["path"].map({p: i for i, p in enumerate(paths)}).to_numpy(float)
    mj = table["energy"].to_numpy(float) * 1e3
    right = table.assign(mj=mj).groupby("path", sort=False)["mj"].cumsum().to_numpy(float)
    return {"left": right - mj, "right": right, "bottom": y - 0.35, "top": y + 0.35, "path": table["path"].to_numpy(),
            "component": table["component"].to_numpy(), "mJ": mj, "percent": table["share"].to_numpy(float) * 100,
            "color": np.array([COMPONENT_COLORS.get(c, "#969696") for c in table["component"]], dtype=object)}


class EnergyView(pn.viewable.Viewer):
    """Stacked energy bars per path ({name: Timeline}), in mJ per step; hover gives each component's
    share; the readout gives latency and energy per path and the ratios to the first path, worded by
    their direction ("1.30× more energy", "3.68× faster"). The energy axis follows the longest bar."""

    timelines = param.Dict(default={}, doc="{path name: labkit.pim Timeline}; the first is the reference")
    height = param.Integer(default=300, bounds=(120, 2000), doc="plot height (px)")

    def __init__(self, timelines=None, **params):
        for k, v in (timelines or {}).items():
            if not isinstance(v, Timeline):
                raise TypeError(f"timelines[{k!r}]: expected a labkit.pim Timeline, got {type(v).__name__}")
        super().__init__(timelines=dict(timelines or {}), **params)
        self._text = pn.pane.Markdown(self.readout(), css_classes=["pim-energy-readout"], sizing_mode="stretch_width")
        self._views, self._memo = Renderings(), Memo(32)

    def _totals(self, tl: Timeline) -> pd.Series:
        """_totals(tl), cached per Timeline object (the page's Timelines come back from its cache); the
        entry holds `tl`, so a recycled id never matches."""
        return self._memo.of(tl, "totals", lambda: _totals(tl))

    def table(self) -> pd.DataFrame:
        return energy_table(self.timelines, self._totals)

    def readout(self) -> str:
        tls = [(k, v) for k, v in self.timelines.items() if v is not None]
        if not tls:
            return "*no timeline*"
        ref = tls[0][1]
        lines = []
        for name, tl in tls:
            tokens = tl.meta.get("tokens", 1) or 1
            line = (f"**{name}**: {tl.latency * 1e6:,.1f} µs, {tl.energy * 1e3:,.2f} mJ "
                    f"({tl.energy / tokens * 1e3:,.2f} mJ/token)")
            if tl is not ref and tl.latency > 0 and tl.energy > 0:
                line += (f" · {ratio_text(ref.latency, tl.latency, 'slower', 'faster')}, "
                         f"{ratio_text(ref.energy, tl.energy, 'more energy', 'less energy')} than {tls[0][0]}")
            lines.append(line)
        return "  \n".join(lines)

    def _figure(self):
        src = source(("left", "right", "bottom", "top", "path", "component", "mJ", "percent", "color"))
        fig = figure(height=self.height, sizing_mode="stretch_width", min_width=300,
                     tools="xwheel_zoom,xpan,reset,save",
                     x_axis_label="energy per step (mJ)", title="energy per step by component",
                     x_range=Range1d(0, 1), y_range=Range1d(0.6, -0.6))  # y: start > end, the first path on top
        fig.title.text_font_size = "9pt"
        r = fig.quad(left="left", right="right", bottom="bottom", top="top", color="color", source=src, line_alpha=0,
                     legend_field="component")
        fig.add_tools(HoverTool(renderers=[r], tooltips=[("path", "@path"), ("component", "@component"),
                                                         ("energy", "@mJ{0,0.000} mJ"), ("share", "@percent{0.0} %")]))
        legend_right(fig)
        fig.xgrid.grid_line_color = None
        return fig, src

    @param.depends("timelines", watch=True)
    def _update(self):
        self._text.object = self.readout()
        if not self._views:
            return
        t = self.table()
        data = stacked_bars(t)
        paths = list(dict.fromkeys(t["path"]))
        end = float(data["right"].max()) if len(t) else 1.0
        for pane, fig, src in self._views:
            src.data = data
            fig.yaxis.ticker = FixedTicker(ticks=list(range(len(paths))))
            fig.yaxis.major_label_overrides = {i: p for i, p in enumerate(paths)}
            fig.y_range.start, fig.y_range.end = max(len(paths), 1) - 0.4, -0.6
            fig.x_range.update(start=0.0, end=end * 1.05, reset_start=0.0, reset_end=end * 1.05)
            legend_drawn_only(fig)
            push(pane)

    def __panel__(self):
        view = self._views.add(*self._figure())  # kept up to date until 8 newer ones are made
        self._update()
        return pn.Column(pn.Column(view.pane, css_classes=["pim-energy"], sizing_mode="stretch_width"), self._text,
                         sizing_mode="stretch_width")
