"""Recall / ef / QPS curve of an HNSW index against hnswlib on the same data (when hnswlib is
installed): the trade-off a user tunes with `ef`. Measures with `labkit.hnsw.metrics.ef_sweep`, one ef
per step of a widgets.views.LongTask (progress, time left, Cancel; the curve grows as each ef is done)."""

from __future__ import annotations

from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit import data as lkdata
from labkit.hnsw import HNSW
from labkit.hnsw.metrics import ef_sweep
from widgets.hnsw.graph import METRIC
from widgets.views import LongTask, Step

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
        self._exact = self._ref = None
        self._task = LongTask("measure recall / QPS against hnswlib", self._plan, on_start=self._clear,
                              on_step=self._got, estimate=self.estimate, idle=self._idle, width=400)
        self._button = self._task.button
        self._plot = pn.pane.HoloViews(self._view(), linked_axes=False)
        self._frame = pn.pane.DataFrame(None, index=False, width=640)

    def estimate(self) -> float:
        """A-priori seconds: exact neighbours (n × queries × dim), an hnswlib build (n) and the timed
        searches (queries × ef), with the per-unit times of the digits page on a loaded 2-core machine
        (0.11 s, 0.19 s and 0.5 s for 1597 × 200 × 64); the status line then uses measured step times."""
        n, q = len(self.train), len(self.queries)
        return 5e-9 * n * q * self.index.dim + 1.2e-4 * n + 8e-6 * q * sum(EFS)

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
        """Recall@k and QPS at every ef of EFS (blocking): the steps the button runs, run here."""
        self._task.run_now()
        return self.table

    # -- the steps: exact neighbours, the hnswlib index, then one ef each ------------------------
    def _plan(self) -> list[Step]:
        self._exact = self._ref = None
        k = self.k
        return [Step("exact neighbours", partial(self._exact_rows, k)), Step("hnswlib index", self.reference)] + \
            [Step(f"ef = {ef}", partial(self._sweep, ef, k)) for ef in EFS]

    def _exact_rows(self, k) -> np.ndarray:
        rows = lkdata.ground_truth(self.train, self.queries, k, metric=METRIC[self.index.space])[0]
        self._exact = self.index.graph().labels[rows].astype(np.int64)
        return self._exact

    def _sweep(self, ef, k) -> pd.DataFrame:
        return ef_sweep(self.index, self.queries, self._exact, efs=(ef,), k=k, reference=self._ref)

    def _clear(self) -> None:
        self.table = None

    def _got(self, step, result) -> None:
        if step.label == "hnswlib index":
            self._ref = result
        elif isinstance(result, pd.DataFrame):  # one ef's row: the curve grows
            self.table = result if self.table is None else pd.concat([self.table, result], ignore_index=True)
            self._plot.object = self._view()
            self._frame.object = self.table.round(4)

    def _idle(self) -> str:
        return f"press **measure**: recall@{self.k} and QPS at ef = {', '.join(map(str, EFS))}"

    def _view(self):
        # padding: the points at recall 0.9995 stay whole inside the frame; each curve's points share its
        # label, so the legend shows line and marker together
        opts = dict(width=560, height=320, logy=True, xlabel=f"recall@{self.k} (fraction of true neighbours)",
                    ylabel="queries / s", legend_position="bottom_left", title="recall against speed (points: ef)",
                    padding=0.1)
        if self.table is None:
            return hv.Overlay([hv.Curve([], "recall", "QPS", label="labkit")]).opts(
                **{**opts, "logy": False, "title": "recall against speed: press 'measure recall / QPS'"})
        t = self.table
        curves = hv.Curve(t, "recall", "QPS", label="labkit") * hv.Scatter(t, "recall", "QPS", label="labkit").opts(
            size=6)
        if "QPS (reference)" in t:
            curves = curves * hv.Curve(t, "recall (reference)", "QPS (reference)", label="hnswlib") * \
                hv.Scatter(t, "recall (reference)", "QPS (reference)", label="hnswlib").opts(size=6)
        return curves.opts(**opts)

    def __panel__(self):
        return pn.Column("### ef: recall against speed", self._task.panel(400), self._plot, self._frame)
