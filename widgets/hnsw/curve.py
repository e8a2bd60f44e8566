"""Recall / ef / QPS curve of an HNSW index against hnswlib on the same data (when hnswlib is
installed): the trade-off a user tunes with `ef`. Measures with `labkit.hnsw.metrics.ef_sweep`."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import panel as pn
import param

from labkit import data as lkdata
from labkit.hnsw import HNSW
from labkit.hnsw.metrics import ef_sweep
from widgets.hnsw.graph import METRIC

EFS = (10, 20, 40, 80, 160)


class RecallCurve(pn.viewable.Viewer):
    """Press *measure*: recall@k and QPS per ef for labkit and hnswlib, plotted against each other."""

    k = param.Integer(default=10, bounds=(1, 50))

    def __init__(self, index: HNSW, train: np.ndarray, queries: np.ndarray, **params):
        if not isinstance(index, HNSW):
            raise TypeError(f"index: expected labkit.hnsw.HNSW, got {type(index).__name__}")
        super().__init__(**params)
        self.index, self.train, self.queries = index, np.asarray(train, np.float32), np.asarray(queries, np.float32)
        self.table = None
        self._button = pn.widgets.Button(label="measure recall / QPS against hnswlib", color="primary")
        self._button.on_click(lambda _: self.measure())
        self._plot = pn.pane.HoloViews(self._view(), linked_axes=False)
        self._frame = pn.pane.DataFrame(None, index=False, width=640)

    def reference(self):
        """An hnswlib index with the same data, M, ef_construction and seed, or None."""
        try:
            import hnswlib
        except ImportError:
            return None
        g = self.index.graph()
        ref = hnswlib.Index(space=self.index.space, dim=self.index.dim)
        ref.init_index(max_elements=len(self.train), M=self.index.M, ef_construction=self.index.ef_construction,
                       random_seed=self.index.seed)
        ref.add_items(self.train, g.labels, num_threads=1)
        return ref

    def measure(self):
        exact_rows = lkdata.ground_truth(self.train, self.queries, self.k, metric=METRIC[self.index.space])[0]
        exact = self.index.graph().labels[exact_rows].astype(np.int64)
        self.table = ef_sweep(self.index, self.queries, exact, efs=EFS, k=self.k, reference=self.reference())
        self._plot.object = self._view()
        self._frame.object = self.table.round(4)
        return self.table

    def _view(self):
        # padding: the points at recall 0.9995 stay whole inside the frame; each curve's points share its
        # label, so the legend shows line and marker together
        opts = dict(width=560, height=320, logy=True, xlabel=f"recall@{self.k} (fraction of true neighbours)",
                    ylabel="queries / s", legend_position="bottom_left", title="recall against speed (points: ef)",
                    padding=0.1)
        if self.table is None:
            return hv.Overlay([hv.Curve([], "recall", "QPS", label="labkit")]).opts(
                **{**opts, "logy": False, "title": "recall against speed: press measure"})
        t = self.table
        curves = hv.Curve(t, "recall", "QPS", label="labkit") * hv.Scatter(t, "recall", "QPS", label="labkit").opts(
            size=6)
        if "QPS (reference)" in t:
            curves = curves * hv.Curve(t, "recall (reference)", "QPS (reference)", label="hnswlib") * \
                hv.Scatter(t, "recall (reference)", "QPS (reference)", label="hnswlib").opts(size=6)
        return curves.opts(**opts)

    def __panel__(self):
        return pn.Column("### ef: recall against speed", self._button, self._plot, self._frame)
