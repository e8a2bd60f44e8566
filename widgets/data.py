"""Dataset inspector: what is in a vector set before it goes into a memory.

Shows the train vectors projected to 2-D (PCA or two raw dimensions), one test query with its
exact k nearest neighbours (the answers every approximate memory is graded against), the
images when the vectors are images (digits), and the dataset's summary.
Draws only from `labkit.data`'s public API.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend for .opts)
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit import data as lkdata
from widgets.inspect import register_inspector, register_page

PAGE_DATASETS = ("digits", "random-xs-20", "gaussian")


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
            _, _, vt = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
            return mean, vt[:2].T
        basis = np.zeros((X.shape[1], 2))
        basis[0, 0] = 1.0
        basis[min(1, X.shape[1] - 1), 1] = 1.0
        return mean * 0, basis

    def _project(self, V):
        mean, basis = self._basis()
        return (V - mean) @ basis

    def neighbours(self):
        """Exact k nearest train ids of the selected query, and their distances."""
        ids, dist = lkdata.ground_truth(self.dataset.train, self.dataset.test[self.query:self.query + 1],
                                        self.k, metric=self.dataset.metric)
        return ids[0], dist[0]

    # -- views ----------------------------------------------------------------------------------
    @param.depends("projection", "max_points", "query", "k")
    def scatter(self):
        ds = self.dataset
        idx = self._order[: self.max_points]
        P = self._project(ds.train[idx])
        frame = pd.DataFrame({"x": P[:, 0], "y": P[:, 1], "id": idx,
                              "label": (ds.labels[idx] if ds.labels is not None else np.zeros(len(idx), int))})
        frame = frame.sort_values("label", kind="stable")  # legend in label order
        frame["label"] = frame["label"].astype(str) if ds.labels is not None else "train"
        pts = hv.Points(frame, ["x", "y"], ["id", "label"]).opts(
            color="label", cmap="Category20", size=3, alpha=0.5, tools=["hover"], legend_position="right")
        nn, _ = self.neighbours()
        Pn = self._project(ds.train[nn])
        q = self._project(ds.test[self.query:self.query + 1])
        near = hv.Points((Pn[:, 0], Pn[:, 1]), label=f"{self.k} exact neighbours").opts(
            color="black", marker="circle", size=9, fill_alpha=0, line_width=2)
        star = hv.Points((q[:, 0], q[:, 1]), label=f"query {self.query}").opts(
            color="red", marker="star", size=18)
        title = f"{ds.name}: {min(self.max_points, len(ds.train))} of {len(ds.train)} train vectors ({self.projection})"
        xl, yl = ("PC 1", "PC 2") if self.projection == "PCA" else ("dim 0", "dim 1")  # of the vectors' units
        return (pts * near * star).opts(title=title, width=760, height=480, xlabel=xl, ylabel=yl,
                                        legend_position="right")

    @param.depends("query", "k")
    def images(self):
        """Query and its nearest stored images side by side (one mosaic, 1-px gaps)."""
        ds = self.dataset
        side = int(round(np.sqrt(ds.dim)))
        if side * side != ds.dim:
            return pn.pane.Markdown("*(vectors are not square images)*")
        nn, dist = self.neighbours()
        tiles = [ds.test[self.query]] + [ds.train[i] for i in nn[:8]]
        mosaic = np.full((side, len(tiles) * (side + 1) - 1), np.nan)
        for t, v in enumerate(tiles):
            mosaic[:, t * (side + 1): t * (side + 1) + side] = v.reshape(side, side)
        # own axis names: a shared "x"/"y" would link this image's ranges to the scatter's
        return hv.Image(mosaic[::-1], kdims=["column", "row"], bounds=(0, 0, mosaic.shape[1], side)).opts(
            cmap="gray_r", xaxis=None, yaxis=None, frame_width=640, data_aspect=1, toolbar=None,
            clipping_colors={"NaN": "white"},
            title=f"query {self.query}, then its {len(tiles) - 1} nearest stored images")

    def summary(self) -> pd.DataFrame:
        s = {k: v for k, v in self.dataset.summary().items() if k != "origin"}  # origin: wrapped text below
        return pd.DataFrame({"property": list(s), "value": [str(v) for v in s.values()]})

    def __panel__(self):
        controls = pn.Param(self.param, parameters=["query", "k", "projection", "max_points"],
                            widgets={"query": pn.widgets.IntSlider, "k": pn.widgets.IntSlider,
                                     "max_points": pn.widgets.IntSlider,
                                     "projection": pn.widgets.RadioButtonGroup},
                            show_name=False, width=250)
        # a fixed-width controls column: in JupyterLab a flexible one is squeezed under the plot
        return pn.Row(pn.Column(f"### {self.dataset.name}", controls,
                                pn.pane.DataFrame(self.summary(), index=False, width=260),
                                pn.pane.Markdown(f"*origin:* {self.dataset.origin}", width=260), width=275),
                      pn.Column(self.scatter, self.images))


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
