"""HNSW inspector: the graph an `HNSW` index built, layer by layer, and one search replayed step by step.

The stored vectors are projected to 2-D (PCA of a subsample, display only) with one layer's links
drawn over them; beside the plot, the layer's size and out-degree histogram. The entry point is
marked, nodes that a search can never reach from it (directed BFS over the layer's links) are
highlighted and counted, deleted nodes are crossed out. A query's search (Malkov & Yashunin, TPAMI
2018, Alg. 5: greedy descent through the upper layers, then best-first search of layer 0, Alg. 2)
is replayed from `SearchStats.trace`: the node being expanded, the nodes expanded and candidates
pushed so far, the distance computations and hops per layer so far, and at the end the results
against the exact neighbours (recall).

Draws only from labkit's public API (`HNSW.graph()`, `.layers()`, `.search(..., return_stats=True)`,
`labkit.data.ground_truth`). What depends on the index alone is computed once; slider moves only slice.
Bokeh directly (widgets.views): figures built once per rendering, a move assigns only their sources' data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool, Range1d
from bokeh.plotting import figure

from labkit import data as lkdata
from labkit.hnsw import HNSW
from labkit.hnsw.metrics import unreachable
from widgets.views import Renderings, legend_drawn_only, legend_right, push, source

METRIC = {"l2": "euclidean", "ip": "ip", "cosine": "angular"}  # HNSW space -> ground_truth metric
PLOT = dict(width=600, height=520, xlabel="PC 1", ylabel="PC 2", legend_position="right")
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
XY, SEGMENTS = ("x", "y"), ("x0", "y0", "x1", "y1")
HOVER = [("PC 1", "@x"), ("PC 2", "@y"), ("node", "@node"), ("label", "@label"), ("degree", "@degree")]


def _cols(rows, names=XY) -> dict[str, np.ndarray]:
    """Columns `names` of (n, len(names)) rows: points (x, y) or segments (x0, y0, x1, y1)."""
    return dict(zip(names, np.ascontiguousarray(np.asarray(rows, np.float64).reshape(-1, len(names)).T), strict=True))


@dataclass(frozen=True)
class Replay:
    """One query's search, ready to slice by step: trace (DataFrame of SearchStats.trace), parent
    (steps,) the node whose expansion pushed each row's node (-1 for expansions and the entry point),
    dist_so_far (steps,) distance computations after each step, hops_so_far (steps, layers), the
    results (labels, distances, internal ids) and the exact neighbours (labels, distances, internal ids)."""

    trace: pd.DataFrame
    parent: np.ndarray
    dist_so_far: np.ndarray
    hops_so_far: np.ndarray
    distance_computations: int
    hops: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    rows: np.ndarray
    exact_labels: np.ndarray
    exact_distances: np.ndarray
    exact_rows: np.ndarray

    @property
    def recall(self) -> float:
        return float(np.isin(self.exact_labels, self.labels).mean()) if len(self.exact_labels) else 1.0


class GraphExplorer(pn.viewable.Viewer):
    """An HNSW graph layer by layer, with one query's search replayed over it. The graph is read once,
    when the explorer is made: make a new one after adding to the index. `queries` (nq, dim): the
    vectors to search for (default: 20 stored vectors with a little seeded noise)."""

    index = param.ClassSelector(class_=HNSW, doc="the labkit.hnsw.HNSW index to show")
    layer = param.Selector(default=0, objects=[0], doc="layer whose links are drawn")
    max_points = param.Integer(default=5000, bounds=(100, 20000), doc="nodes drawn (a fixed random subsample)")
    max_edges = param.Integer(default=20000, bounds=(100, 100000), doc="links drawn (a fixed random subsample)")
    query = param.Integer(default=0, bounds=(0, None), doc="row of `queries` to search for")
    ef = param.Integer(default=50, bounds=(1, 400), doc="size of the dynamic candidate list (hnswlib's ef)")
    k = param.Integer(default=10, bounds=(1, 50), doc="neighbours returned")
    step = param.Integer(default=0, bounds=(0, None), doc="step of the search's trace shown")
    follow = param.Boolean(default=True, doc="draw the layer the replayed search is on at this step")
    searched = param.Integer(default=0, precedence=-1, doc="bumped once per new search (one redraw, not three)")

    def __init__(self, index: HNSW, queries=None, **params):
        if not isinstance(index, HNSW):
            raise TypeError(f"index: expected labkit.hnsw.HNSW, got {type(index).__name__}")
        if len(index) == 0:
            raise ValueError("index: the index is empty; add vectors before inspecting it")
        g = index.graph()
        X, n = g.vectors, g.n
        rng = np.random.default_rng(0)
        if queries is None:  # a few stored vectors with a little noise (seeded)
            rows = rng.choice(n, size=min(20, n), replace=False)
            scale = 0.05 * X.std(0) + 1e-6
            queries = X[rows] + scale * np.random.default_rng(1).standard_normal((len(rows), g.dim))
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != g.dim or len(queries) == 0 or not np.isfinite(queries).all():
            raise ValueError(f"queries: expected finite numbers of shape (nq, {g.dim}), got {queries.shape}")
        later = {p: params.pop(p) for p in ("layer", "query", "k", "step") if p in params}
        super().__init__(index=index, **params)
        self._g, self.queries, self._space = g, queries, index.space
        self._layers = index.layers()
        self._alive = np.flatnonzero(~g.deleted)
        self.param.layer.objects = list(range(g.maxlevel + 1))
        self.param.query.bounds = (0, len(queries) - 1)
        self.param.k.bounds = (1, max(1, min(50, len(self._alive))))
        # per layer: row of each internal id (-1 when not on the layer), neighbours as rows, reachability
        self._row, self._unreachable = [], []
        for lay in self._layers:
            row = np.full(n, -1, np.int64)
            row[lay["nodes"]] = np.arange(len(lay["nodes"]))
            self._row.append(row)
            self._unreachable.append(unreachable(lay, int(g.enterpoint)))
        # display projection: PCA basis from a fixed subsample, every vector projected once
        self._order = rng.permutation(n)
        self._rank = np.empty(n, np.int64)
        self._rank[self._order] = np.arange(n)
        sample = X[self._order[:5000]].astype(np.float64)
        self._mean = sample.mean(0)
        _, _, vt = np.linalg.svd(sample - self._mean, full_matrices=False)
        self._basis = np.zeros((g.dim, 2))
        self._basis[:, : min(2, len(vt))] = vt[:2].T
        self._P = self._project(X)
        ends = np.vstack([self._P, self._project(queries)])  # the axes: every vector and query, with a margin
        pad = np.where(np.ptp(ends, 0) > 0, 0.08 * np.ptp(ends, 0), 1.0)  # 1.0: all at one point
        self._extent = (ends.min(0) - pad, ends.max(0) + pad)
        self._views, self._degrees = Renderings(), Renderings()  # the latest renderings, updated in place
        self._label_rows = dict(zip(g.labels.tolist(), range(n), strict=True))
        self._drawn_cache, self._replay_key, self._replay = {}, None, None
        later.setdefault("k", min(self.k, self.param.k.bounds[1]))
        step = later.pop("step", None)
        for p, v in later.items():  # now that the caches exist (setting them may start a search)
            setattr(self, p, v)
        self._new_search()  # the replay starts at its last step unless `step` was given
        if step is not None:
            self.step = step

    def _project(self, V) -> np.ndarray:
        V = np.asarray(V, np.float64)
        if self._space == "cosine":  # the index stores normalised vectors
            V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-30)
        return (V - self._mean) @ self._basis

    # -- the graph (plain data, cached) -------------------------------------------------------------
    def layer_table(self) -> pd.DataFrame:
        """Per layer: nodes, links, mean out-degree, nodes unreachable from the entry point."""
        return pd.DataFrame({"layer": [lay["level"] for lay in self._layers],
                             "nodes": [len(lay["nodes"]) for lay in self._layers],
                             "links": [len(lay["indices"]) for lay in self._layers],
                             "mean degree": [round(len(lay["indices"]) / max(1, len(lay["nodes"])), 2)
                                             for lay in self._layers],
                             "unreachable": [len(u) for u in self._unreachable]})

    def unreachable(self, layer: int = 0) -> np.ndarray:
        """Internal ids on `layer` that no path of its links leads to from the entry point."""
        return self._unreachable[layer]

    def drawn(self, layer: int):
        """(nodes, segments): at most `max_points` of the layer's nodes (a fixed subsample) and at
        most `max_edges` of the links between them, as (x0, y0, x1, y1) rows, undirected, cached."""
        key = (layer, self.max_points, self.max_edges)
        if key not in self._drawn_cache:
            lay = self._layers[layer]
            nodes = lay["nodes"][np.argsort(self._rank[lay["nodes"]], kind="stable")[: self.max_points]]
            keep = np.zeros(len(self._P), bool)
            keep[nodes] = True
            src = np.repeat(lay["nodes"], np.diff(lay["indptr"]))
            dst = lay["indices"]
            m = keep[src] & keep[dst]
            a, b = np.minimum(src[m], dst[m]), np.maximum(src[m], dst[m])
            pairs = np.unique(a * len(self._P) + b)  # i->j and j->i drawn once
            if len(pairs) > self.max_edges:
                pairs = np.sort(np.random.default_rng(layer).choice(pairs, self.max_edges, replace=False))
            a, b = pairs // len(self._P), pairs % len(self._P)
            self._drawn_cache[key] = (nodes, np.hstack([self._P[a], self._P[b]]))
        return self._drawn_cache[key]

    # -- the search, replayed -------------------------------------------------------------------------
    def replay(self) -> Replay:
        """The current query's search (cached per query, ef, k)."""
        key = (self.query, self.ef, self.k)
        if self._replay_key != key:
            q = self.queries[self.query: self.query + 1]
            labels, dists, stats = self.index.search(q, k=self.k, ef=self.ef, return_stats=True)
            trace = stats.trace(0)
            dist_so_far, hops_so_far = self._counters(trace)
            expand = (trace["event"] == "expand").to_numpy()
            last = np.maximum.accumulate(np.where(expand, np.arange(len(trace)), -1))  # latest expansion
            parent = np.where(~expand & (last >= 0), trace["node"].to_numpy()[np.maximum(last, 0)], -1)
            ok = labels[0] >= 0
            alive = self._alive
            ids, edist = self._exact(min(self.k, len(alive)))
            ids, edist = ids[self.query:self.query + 1], edist[self.query:self.query + 1]
            exact_rows = alive[ids[0]]
            self._replay = Replay(trace, parent, dist_so_far, hops_so_far, int(stats.distance_computations[0]),
                                  stats.hops[0].copy(), labels[0][ok], dists[0][ok],
                                  np.array([self._label_rows[int(x)] for x in labels[0][ok]], np.int64),
                                  self._g.labels[exact_rows].astype(np.int64), edist[0], exact_rows)
            self._replay_key = key
        return self._replay

    def _exact(self, k: int):
        """Exact neighbours of every query among the live vectors, computed once per k."""
        cache = self.__dict__.setdefault("_exact_cache", {})
        if k not in cache:
            cache[k] = lkdata.ground_truth(self._g.vectors[self._alive], self.queries, k, metric=METRIC[self._space])
        return cache[k]

    def _counters(self, trace: pd.DataFrame):
        """Distance computations (labkit's own per-step count, `computed`) and hops per layer
        after each step."""
        event, layer = trace["event"].to_numpy(), trace["layer"].to_numpy()
        expand = np.flatnonzero(event == "expand")
        hops = np.zeros((len(trace), len(self._layers)), np.int64)
        hops[expand, layer[expand]] = 1
        return np.cumsum(trace["computed"].to_numpy()), np.cumsum(hops, axis=0)

    @param.depends("query", "ef", "k", watch=True)
    def _new_search(self):
        trace = self.replay().trace
        last = len(trace) - 1
        self.param.step.bounds = (0, last)
        update = {"step": last, "searched": self.searched + 1}
        if self.follow:
            update["layer"] = int(trace["layer"].iat[last])
        self.param.update(**update)  # batched: the views redraw once

    @param.depends("step", "follow", watch=True)
    def _follow(self):
        if self.follow:
            trace = self.replay().trace
            self.layer = int(trace["layer"].iat[min(self.step, len(trace) - 1)])

    # -- views: layer -> (glyph, legend label, style), in z-order (the graph's layers under the search's) --
    STYLES = {
        "back": ("scatter", "stored vectors", dict(color="#c8c8c8", size=2, alpha=0.5)),
        "links": ("segment", "links", dict(color="#4c72b0", alpha=0.2, line_width=0.6)),
        "nodes": ("scatter", "layer nodes", dict(color="#4c72b0", size=3)),
        "unreachable": ("scatter", "unreachable", dict(color="#d62728", marker="triangle", size=8)),
        "deleted": ("scatter", "deleted", dict(color="black", marker="x", size=8)),
        "tree": ("segment", "search tree", dict(color="#2ca02c", line_width=1.2, alpha=0.8)),
        "pushed": ("scatter", "pushed candidates", dict(color="#ff7f0e", size=5)),
        "expanded": ("scatter", "expanded", dict(color="#2ca02c", size=7)),
        "exact": ("scatter", "exact neighbours", dict(color="black", fill_alpha=0, line_width=1.5, size=13)),
        "results": ("scatter", "results", dict(color="black", marker="diamond", size=7)),
        "current": ("scatter", "current node", dict(color="magenta", fill_alpha=0, line_width=3, size=18)),
        "entry": ("scatter", "entry point", dict(color="gold", line_color="black", marker="star", size=22)),
        "query": ("scatter", "query", dict(color="red", marker="star", size=18)),
    }

    def graph_data(self) -> dict[str, dict]:
        """What the graph layers draw, {layer: columns}: the stored vectors ("back"), the layer's links
        (x0, y0, x1, y1) and nodes (x, y, node, label, degree), its unreachable and deleted nodes."""
        g, P, layer = self._g, self._P, self.layer
        nodes, seg = self.drawn(layer)
        degree = np.diff(self._layers[layer]["indptr"])[self._row[layer][nodes]]
        return {"back": _cols(P[self._order[: self.max_points]]), "links": _cols(seg, SEGMENTS),
                "nodes": {**_cols(P[nodes]), "node": nodes, "label": g.labels[nodes], "degree": degree},
                "unreachable": _cols(P[self._unreachable[layer][: self.max_points]]),
                "deleted": _cols(P[np.flatnonzero(g.deleted)[: self.max_points]])}

    def replay_data(self) -> dict[str, dict]:
        """What the search layers draw at `step`, {layer: columns}: the search tree (each pushed node linked to
        the node whose expansion found it), pushed, expanded, exact, results (once ended), current, entry, query."""
        r, P = self.replay(), self._P
        s = min(self.step, len(r.trace) - 1)
        node, event = r.trace["node"].to_numpy()[: s + 1], r.trace["event"].to_numpy()[: s + 1]
        expand = node[event == "expand"]
        child = np.flatnonzero(r.parent[: s + 1] >= 0)
        found = r.rows if s == len(r.trace) - 1 else np.zeros(0, np.int64)
        return {"tree": _cols(np.hstack([P[r.parent[child]], P[node[child]]]), SEGMENTS),
                "pushed": _cols(P[np.setdiff1d(node, expand)]), "expanded": _cols(P[expand]),
                "exact": _cols(P[r.exact_rows]), "results": _cols(P[found]), "current": _cols(P[node[-1:]]),
                "entry": _cols(P[[self._g.enterpoint]]),
                "query": _cols(self._project(self.queries[self.query: self.query + 1]))}

    def degree_data(self) -> dict[str, np.ndarray]:
        """The layer's out-degree histogram, degrees 0 .. its cap (maxM0 on layer 0, maxM above): left, right, top."""
        cap = self._g.maxM0 if self.layer == 0 else self._g.maxM
        counts = np.bincount(np.diff(self._layers[self.layer]["indptr"]), minlength=cap + 1)
        return {"left": np.arange(len(counts)) - 0.5, "right": np.arange(len(counts)) + 0.5, "top": counts}

    def _figure(self):
        """The graph and search plot: one renderer per STYLES layer; fixed axes, the whole projection."""
        g, (x0, y0), (x1, y1) = self._g, *self._extent
        fig = figure(width=PLOT["width"], height=PLOT["height"], x_range=Range1d(x0, x1), y_range=Range1d(y0, y1),
                     title=f"HNSW: {g.n} nodes in {g.maxlevel + 1} layers (PCA projection)", tools=TOOLS,
                     active_scroll="wheel_zoom", x_axis_label=PLOT["xlabel"], y_axis_label=PLOT["ylabel"])
        srcs, renderers = {}, {}
        for name, (glyph, label, style) in self.STYLES.items():
            cols = SEGMENTS if glyph == "segment" else XY
            srcs[name] = source(cols + (("node", "label", "degree") if name == "nodes" else ()))
            renderers[name] = getattr(fig, glyph)(*cols, source=srcs[name], legend_label=label, **style)
        fig.add_tools(HoverTool(renderers=[renderers["nodes"]], tooltips=HOVER))
        fig.grid.grid_line_color = None
        legend_right(fig)
        fig.legend.click_policy = "mute"
        return fig, srcs

    def _degree_figure(self):
        src = source(("left", "right", "top"))
        fig = figure(width=280, height=190, title="out-degree of the layer", x_range=Range1d(0, 1),
                     y_range=Range1d(0, 1), tools=TOOLS, active_scroll="wheel_zoom", toolbar_location=None,
                     x_axis_label="out-degree", y_axis_label="nodes")
        fig.quad(left="left", right="right", top="top", bottom=0, source=src, color="#4c72b0", line_color="black")
        fig.grid.grid_line_color = None
        return fig, src

    def _draw(self, data) -> None:  # data() -> {layer: columns}, assigned to every rendering kept (if any)
        d = data() if self._views else {}
        for pane, fig, srcs in self._views:
            for name, cols in d.items():
                srcs[name].data = cols
            legend_drawn_only(fig)
            push(pane)

    @param.depends("layer", "max_points", "max_edges", watch=True)
    def _update_graph(self):
        self._draw(self.graph_data)

    @param.depends("step", "searched", watch=True)  # a new query, ef or k bumps `searched`
    def _update_replay(self):
        self._draw(self.replay_data)
        for name, make in (("replay", self.replay_text), ("hops", self.hops_table), ("results", self.results_table)):
            if name in getattr(self, "_panes", ()):
                self._panes[name].object = make()

    @param.depends("layer", watch=True)
    def _update_layer(self):  # the layer's text and out-degree histogram (its axes follow the counts)
        d = self.degree_data()
        lo, hi, top = d["left"][0] - 0.5, d["right"][-1] + 0.5, 1.1 * max(1, int(d["top"].max()))
        for pane, fig, src in self._degrees:
            src.data = d
            fig.x_range.update(start=lo, end=hi, reset_start=lo, reset_end=hi)
            fig.y_range.update(start=0, end=top, reset_start=0, reset_end=top)
            push(pane)
        if hasattr(self, "_panes"):
            self._panes["layer"].object = self.layer_text()

    def layer_text(self) -> str:
        lay = self._layers[self.layer]
        return (f"**layer {self.layer}**: {len(lay['nodes'])} nodes, {len(lay['indices'])} links; "
                f"**{len(self._unreachable[self.layer])} unreachable** from the entry point")

    def replay_text(self) -> str:
        """Where the search is at `step` and its counters so far."""
        r = self.replay()
        s = min(self.step, len(r.trace) - 1)
        row = r.trace.iloc[s]
        return (f"**step {s} of {len(r.trace) - 1}**: {row['event']} node {int(row['node'])} "
                f"(label {int(row['label'])}) on **layer {int(row['layer'])}**, distance {row['distance']:.4g}  \n"
                f"distance computations so far: **{int(r.dist_so_far[s])}** of {r.distance_computations}  \n"
                f"recall@{self.k} of the finished search: **{r.recall:.2f}**")

    def hops_table(self) -> pd.DataFrame:
        """Expansions per layer so far and in the whole search (top layer first)."""
        r = self.replay()
        s = min(self.step, len(r.trace) - 1)
        return pd.DataFrame({"layer": np.arange(len(r.hops)), "hops so far": r.hops_so_far[s],
                             "hops total": r.hops})[::-1]

    def results_table(self) -> pd.DataFrame:
        """The finished search's results beside the exact neighbours (labels, distances, found)."""
        r = self.replay()
        res = pd.DataFrame({"result": pd.Series(r.labels), "dist": pd.Series(np.round(r.distances, 4)),
                            "exact": pd.Series(r.exact_labels), "exact dist": pd.Series(np.round(r.exact_distances, 4)),
                            "in results": pd.Series(np.isin(r.exact_labels, r.labels))})
        res.insert(0, "rank", np.arange(1, len(res) + 1))
        return res

    def summary(self) -> pd.DataFrame:
        g, idx = self._g, self.index
        s = {"nodes": g.n, "dim": g.dim, "space": idx.space, "M": g.M, "ef_construction": g.ef_construction,
             "max level": g.maxlevel, "entry point (label)": int(g.labels[g.enterpoint]),
             "deleted": int(g.deleted.sum()), "bytes (hnswlib file)": idx.nbytes}
        return pd.DataFrame({"property": list(s), "value": [str(v) for v in s.values()]})

    def __panel__(self):
        slider = pn.widgets.IntSlider
        replay_params = [p for p in ("query", "ef", "k") if self.param[p].bounds[0] < self.param[p].bounds[1]]
        graph = pn.Param(self.param, parameters=["layer", "max_points"], show_name=False, width=280,
                         widgets={"layer": pn.widgets.RadioButtonGroup, "max_points": slider})
        search = pn.Param(self.param, parameters=replay_params + ["step", "follow"], show_name=False, width=340,
                          widgets={p: slider for p in replay_params + ["step"]})
        view, degree = self._views.add(*self._figure()), self._degrees.add(*self._degree_figure())
        for update in (self._update_graph, self._update_replay, self._update_layer):
            update()
        self._panes = getattr(self, "_panes", None) or {"layer": pn.pane.Markdown(self.layer_text(), width=280),
                       "replay": pn.pane.Markdown(self.replay_text(), width=340),
                       "hops": pn.pane.DataFrame(self.hops_table(), index=False, width=320),
                       "results": pn.pane.DataFrame(self.results_table(), index=False, width=340)}
        return pn.Row(
            pn.Column("### HNSW graph", graph, self._panes["layer"], degree.pane,
                      pn.pane.DataFrame(self.layer_table(), index=False, width=280),
                      pn.pane.DataFrame(self.summary(), index=False, width=280)),
            view.pane,
            pn.Column("### Search replay", search, self._panes["replay"], self._panes["hops"],
                      self._panes["results"]))
