"""Dataset inspector: what is in a vector set before it goes into a memory.

Shows the train vectors projected to 2-D (PCA or two raw dimensions), one test query with its
exact k nearest neighbours (the answers every approximate memory is graded against), the
images when the vectors are images (digits), and the dataset's summary.
Draws only from `labkit.data`'s public API.

Drawn with Bokeh directly (widgets/views.py): each rendering's figures are built once; a change of
projection, max_points, query or k assigns new column data, ranges and titles in place (on the 2-core
box: ~0.21 s a build and ~2 ms a change; as HoloViews plots, ~0.43 s and ~0.3 s).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.core.property.vectorization import value
from bokeh.models import HoverTool, Image, LinearColorMapper, Plot, Range1d
from bokeh.palettes import Category20, Greys256
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

from labkit import data as lkdata
from widgets.inspect import register_inspector, register_page
from widgets.views import Memo, Renderings, legend_right, push, source

PAGE_DATASETS = ("digits", "random-xs-20", "gaussian")
GRAY_R = tuple(reversed(Greys256))  # the lowest value white, the highest black
IMAGE_WIDTH = 640  # px of the images' frame; its height follows (data aspect 1)
# the 2 principal axes by the centred sample's bytes: each visitor's digits() is a new Dataset of the same
# vectors, and the SVD (10 ms alone, up to 1 s when BLAS threads share a busy CPU) is done once per process
_PCS = Memo(16)


class DatasetExplorer(pn.viewable.Viewer):
    """Scatter of the train set, a query and its exact neighbours; images for image data."""

    dataset = param.ClassSelector(class_=lkdata.Dataset, doc="the labkit.data.Dataset to show")
    query = param.Integer(default=0, bounds=(0, None), doc="index of the test vector to look up")
    k = param.Integer(default=10, bounds=(1, 50), doc="number of exact neighbours to highlight")
    projection = param.Selector(default="PCA", objects=["PCA", "dims 0-1"])
    max_points = param.Integer(default=2000, bounds=(100, 20000), doc="train points drawn")

    def __init__(self, dataset: lkdata.Dataset, **params):
        if not isinstance(dataset, lkdata.Dataset):
            raise TypeError(f"dataset: expected labkit.data.Dataset, got {type(dataset).__name__}")
        super().__init__(dataset=dataset, **params)
        self.param.query.bounds = (0, len(dataset.test) - 1)
        self.param.k.bounds = (1, min(50, len(dataset.train)))
        rng = np.random.default_rng(0)
        n = len(dataset.train)
        self._order = rng.permutation(n)  # a fixed random subsample for drawing
        self._scatters, self._images, self._memo = Renderings(), Renderings(), Memo(16)

    # -- projection (display only) -------------------------------------------------------------
    def _basis(self):
        """(mean, 2 basis vectors) of the current projection, computed once per projection."""
        cache = self.__dict__.setdefault("_basis_cache", {})
        if self.projection not in cache:
            cache[self.projection] = self._compute_basis()
        return cache[self.projection]

    def _compute_basis(self):
        X = self.dataset.train
        mean = X.mean(0)
        if self.projection == "PCA":
            sample = X[self._order[:5000]] - mean
            key = (sample.shape, hashlib.blake2b(sample.tobytes()).digest())
            vt = _PCS.get_or(key, lambda: np.linalg.svd(sample.astype(np.float64), full_matrices=False)[2][:2])
            return mean, vt.T
        basis = np.zeros((X.shape[1], 2))
        basis[0, 0] = 1.0
        basis[min(1, X.shape[1] - 1), 1] = 1.0
        return mean * 0, basis

    def _project(self, V):
        mean, basis = self._basis()
        return (V - mean) @ basis

    def neighbours(self):
        """Exact k nearest train ids of the selected query, and their distances."""
        def make():
            ids, dist = lkdata.ground_truth(self.dataset.train, self.dataset.test[self.query:self.query + 1],
                                            self.k, metric=self.dataset.metric)
            return ids[0], dist[0]
        return self._memo.get_or(("neighbours", self.query, self.k), make)

    # -- what is drawn (plain data: the figures show exactly this) ------------------------------
    def _train(self) -> dict:
        """The drawn train subsample, projected: columns x, y, id, label (sorted by label: the legend's order)."""
        def make():
            ds, idx = self.dataset, self._order[: self.max_points]
            if ds.labels is not None:
                idx = idx[np.argsort(ds.labels[idx], kind="stable")]
            P = self._project(ds.train[idx])
            label = ds.labels[idx].astype(str).tolist() if ds.labels is not None else ["train"] * len(idx)
            return {"x": P[:, 0], "y": P[:, 1], "id": idx, "label": label}
        return self._memo.get_or(("train", self.projection, self.max_points), make)

    def scatter_data(self) -> dict:
        """What the scatter shows: column dicts "train" (x, y, id, label), "neighbours" (x, y, id) and
        "query" (x, y); "title", "xlabel", "ylabel", the legend's "near_label" and "query_label", and
        "x_range" / "y_range": (start, end) holding every drawn point, 5% padding each side."""
        ds, train = self.dataset, self._train()
        nn, _ = self.neighbours()
        Pn, q = self._project(ds.train[nn]), self._project(ds.test[self.query:self.query + 1])
        ranges = []
        for a, name in enumerate("xy"):
            v = np.concatenate([train[name], Pn[:, a], q[:, a]])
            lo, hi = float(v.min()), float(v.max())
            pad = 0.05 * (hi - lo) if hi > lo else 1.0
            ranges.append((lo - pad, hi + pad))
        xl, yl = ("PC 1", "PC 2") if self.projection == "PCA" else ("dim 0", "dim 1")  # of the vectors' units
        return {"train": train, "neighbours": {"x": Pn[:, 0], "y": Pn[:, 1], "id": nn},
                "query": {"x": q[:, 0], "y": q[:, 1]}, "xlabel": xl, "ylabel": yl,
                "title": f"{ds.name}: {len(train['id'])} of {len(ds.train)} train vectors ({self.projection})",
                "near_label": f"{self.k} exact neighbours", "query_label": f"query {self.query}",
                "x_range": ranges[0], "y_range": ranges[1]}

    def images_data(self) -> dict | None:
        """The query and its nearest stored images side by side: "mosaic" (side, width), row 0 the images'
        top row, 1-column NaN gaps; "title"; "low" / "high", the dataset's value range (white / black).
        None when the vectors are not square images."""
        ds = self.dataset
        side = int(round(np.sqrt(ds.dim)))
        if side * side != ds.dim:
            return None
        nn, _ = self.neighbours()
        tiles = [ds.test[self.query]] + [ds.train[i] for i in nn[:8]]
        mosaic = np.full((side, len(tiles) * (side + 1) - 1), np.nan)
        for t, v in enumerate(tiles):
            mosaic[:, t * (side + 1): t * (side + 1) + side] = v.reshape(side, side)
        low, high = self._memo.get_or("levels", lambda: (float(min(ds.train.min(), ds.test.min())),
                                                         float(max(ds.train.max(), ds.test.max()))))
        return {"mosaic": mosaic, "low": low, "high": high if high > low else low + 1,
                "title": f"query {self.query}, then its {len(tiles) - 1} nearest stored images"}

    def summary(self) -> pd.DataFrame:
        s = {k: v for k, v in self.dataset.summary().items() if k != "origin"}  # origin: wrapped text below
        return pd.DataFrame({"property": list(s), "value": [str(v) for v in s.values()]})

    # -- figures: built once per rendering, then updated in place -----------------------------------
    def _scatter_figure(self):
        ds = self.dataset
        srcs = {"train": source(("x", "y", "id", "label")), "near": source(("x", "y", "id")),
                "query": source(("x", "y"))}
        fig = figure(width=760, height=480, min_border=10, x_range=Range1d(), y_range=Range1d(),
                     tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom")
        factors = np.unique(ds.labels).astype(str).tolist() if ds.labels is not None else ["train"]
        colors = factor_cmap("label", [Category20[20][i % 20] for i in range(len(factors))], factors)
        train = fig.scatter("x", "y", source=srcs["train"], size=3, alpha=0.5, color=colors, legend_field="label")
        # legend items: the labels (one field), the neighbours, the query; _fill_scatter sets their texts
        fig.scatter("x", "y", source=srcs["near"], size=9, fill_alpha=0, line_color="black", line_width=2,
                    legend_label="neighbours")
        fig.scatter("x", "y", source=srcs["query"], marker="star", size=18, color="red", legend_label="query")
        fig.add_tools(HoverTool(renderers=[train], tooltips=[("id", "@id"), ("label", "@label")]))
        fig.grid.visible = False
        legend_right(fig)
        fig.legend.click_policy = "mute"
        return fig, srcs

    @staticmethod
    def _images_figure():
        # a bare Plot: no axes, grids or tools (a figure's hidden ones cost build and send time); its frame
        # not aligned with the scatter's above (that shifted it right by the axis and cut off the last image)
        src = source(("image", "dw", "dh"))
        fig = Plot(width=None, height=None, frame_width=IMAGE_WIDTH, frame_height=IMAGE_WIDTH // 10, min_border=10,
                   sizing_mode="fixed", frame_align=False, x_range=Range1d(), y_range=Range1d(),
                   toolbar_location=None)
        fig.add_glyph(src, Image(image="image", x=0, y=0, dw="dw", dh="dh",
                                 color_mapper=LinearColorMapper(palette=GRAY_R, nan_color="white")))
        return fig, src

    @staticmethod
    def _fill_scatter(fig, srcs, d: dict) -> None:
        """Assign scatter_data `d` to one rendering's figure and sources."""
        if srcs["train"].data.get("id") is not d["train"]["id"]:  # a new subsample or projection only
            srcs["train"].data = d["train"]
        srcs["near"].data, srcs["query"].data = d["neighbours"], d["query"]
        fig.title.text, fig.xaxis.axis_label, fig.yaxis.axis_label = d["title"], d["xlabel"], d["ylabel"]
        items = fig.legend[0].items
        items[1].label, items[2].label = value(d["near_label"]), value(d["query_label"])
        for rng, (lo, hi) in ((fig.x_range, d["x_range"]), (fig.y_range, d["y_range"])):
            if (rng.reset_start, rng.reset_end) != (lo, hi):  # the data moved: show all of it (else keep a zoom)
                rng.update(start=lo, end=hi, reset_start=lo, reset_end=hi)

    @staticmethod
    def _fill_images(fig, src, im: dict) -> None:
        """Assign images_data `im` to one rendering's plot and source."""
        side, width = im["mosaic"].shape
        src.data = {"image": [im["mosaic"][::-1]], "dw": [width], "dh": [side]}  # Bokeh draws row 0 at the bottom
        fig.renderers[0].glyph.color_mapper.update(low=im["low"], high=im["high"])
        fig.x_range.update(start=0, end=width)
        fig.y_range.update(start=0, end=side)
        fig.frame_height = max(1, round(IMAGE_WIDTH * side / width))  # data aspect 1
        fig.title.text = im["title"]

    @param.depends("projection", "max_points", "query", "k", watch=True)
    def _update(self):
        if self._scatters:
            d = self.scatter_data()
            for pane, fig, srcs in self._scatters:
                self._fill_scatter(fig, srcs, d)
                push(pane)
        if self._images:
            im = self.images_data()
            for pane, fig, src in self._images:
                self._fill_images(fig, src, im)
                push(pane)

    def __panel__(self):
        controls = pn.Param(self.param, parameters=["query", "k", "projection", "max_points"],
                            widgets={"query": pn.widgets.IntSlider, "k": pn.widgets.IntSlider,
                                     "max_points": pn.widgets.IntSlider,
                                     "projection": pn.widgets.RadioButtonGroup},
                            show_name=False, width=250)
        scatter = self._scatters.add(*self._scatter_figure())  # kept up to date until 8 newer ones are made
        self._fill_scatter(scatter.figure, scatter.sources, self.scatter_data())
        im = self.images_data()
        if im is None:
            images = pn.pane.Markdown("*(vectors are not square images)*")
        else:
            images = self._images.add(*self._images_figure())
            self._fill_images(images.figure, images.sources, im)
            images = images.pane
        # a fixed-width controls column: in JupyterLab a flexible one is squeezed under the plot
        return pn.Row(pn.Column(f"### {self.dataset.name}", controls,
                                pn.pane.DataFrame(self.summary(), index=False, width=260),
                                pn.pane.Markdown(f"*origin:* {self.dataset.origin}", width=260), width=275),
                      pn.Column(scatter.pane, images))


def dataset_page():
    """Dashboard page: pick a dataset and explore it."""
    choice = pn.widgets.Select(label="dataset", options=list(PAGE_DATASETS), value="digits", width=260)

    def view(name):
        kwargs = {"n": 5000, "n_queries": 200} if name == "gaussian" else {}
        return DatasetExplorer(lkdata.load(name, **kwargs))

    return pn.Column("## Datasets", "Offline vector sets used by the memories (`labkit.data`).", choice,
                     pn.bind(view, choice))


register_inspector(lkdata.Dataset, DatasetExplorer)
register_page("datasets", "Datasets", dataset_page, "offline vector sets and their exact neighbours")
