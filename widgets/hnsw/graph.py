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
"""

from __future__ import annotations

from dataclasses import dataclass

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend for .opts)
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit import data as lkdata
from labkit.hnsw import HNSW
from labkit.hnsw.metrics import unreachable
from widgets.views import drawn_legend

METRIC = {"l2": "euclidean", "ip": "ip", "cosine": "angular"}  # HNSW space -> ground_truth metric
PLOT = dict(width=600, height=520, xlabel="PC 1", ylabel="PC 2", legend_position="right")


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

    # -- views -----------------------------------------------------------------------------------------
    # Styled empty elements, filled by `clone(data)` on every update: cheaper than `.opts` per frame,
    # and the two DynamicMaps then patch the Bokeh sources in place.
    STYLES = {
        "back": (hv.Points, "stored vectors", dict(color="#c8c8c8", size=2, alpha=0.5)),
        "links": (hv.Segments, "links", dict(color="#4c72b0", alpha=0.2, line_width=0.6)),
        "nodes": (hv.Points, "layer nodes", dict(color="#4c72b0", size=3, tools=["hover"])),
        "unreachable": (hv.Points, "unreachable", dict(color="#d62728", marker="triangle", size=8)),
        "deleted": (hv.Points, "deleted", dict(color="black", marker="x", size=8)),
        "pushed": (hv.Points, "pushed candidates", dict(color="#ff7f0e", size=5)),
        "tree": (hv.Segments, "search tree", dict(color="#2ca02c", line_width=1.2, alpha=0.8)),
        "expanded": (hv.Points, "expanded", dict(color="#2ca02c", size=7)),
        "exact": (hv.Points, "exact neighbours", dict(color="black", fill_alpha=0, line_width=1.5, size=13)),
        "results": (hv.Points, "results", dict(color="black", marker="diamond", size=7)),
        "entry": (hv.Points, "entry point", dict(color="gold", line_color="black", marker="star", size=22)),
        "current": (hv.Points, "current node", dict(color="magenta", fill_alpha=0, line_width=3, size=18)),
        "query": (hv.Points, "query", dict(color="red", marker="star", size=18)),
    }

    def _el(self, name: str, data):
        if not hasattr(self, "_templates"):
            seg = dict(kdims=["x", "y", "x1", "y1"])
            dims = {"links": seg, "tree": seg, "nodes": dict(vdims=["node", "label", "degree"])}
            self._templates = {key: cls([], label=label, **dims.get(key, {})).opts(**style)
                               for key, (cls, label, style) in self.STYLES.items()}
        return self._templates[name].clone(data)

    @param.depends("layer", "max_points", "max_edges")
    def graph_view(self):
        """Stored vectors, the layer's nodes and links, unreachable and deleted nodes."""
        g, P, layer = self._g, self._P, self.layer
        nodes, seg = self.drawn(layer)
        degree = np.diff(self._layers[layer]["indptr"])[self._row[layer][nodes]]
        return (self._el("back", P[self._order[: self.max_points]]) * self._el("links", seg)
                * self._el("nodes", (P[nodes, 0], P[nodes, 1], nodes, g.labels[nodes], degree))
                * self._el("unreachable", P[self._unreachable[layer][: self.max_points]])
                * self._el("deleted", P[np.flatnonzero(g.deleted)[: self.max_points]]))

    @param.depends("step", "searched")
    def replay_view(self):
        """The search up to `step`: pushed candidates, expanded nodes, the search tree (each pushed
        node linked to the node whose expansion found it), the current node, the entry point, the
        query; the exact neighbours, and the results once the search has ended."""
        r, P = self.replay(), self._P
        s = min(self.step, len(r.trace) - 1)
        node, event = r.trace["node"].to_numpy()[: s + 1], r.trace["event"].to_numpy()[: s + 1]
        expand = node[event == "expand"]
        child = np.flatnonzero(r.parent[: s + 1] >= 0)
        found = r.rows if s == len(r.trace) - 1 else np.zeros(0, np.int64)
        return (self._el("tree", np.hstack([P[r.parent[child]], P[node[child]]]))
                * self._el("pushed", P[np.setdiff1d(node, expand)])
                * self._el("expanded", P[expand]) * self._el("exact", P[r.exact_rows])
                * self._el("results", P[found]) * self._el("current", P[node[-1:]])
                * self._el("entry", P[[self._g.enterpoint]])
                * self._el("query", self._project(self.queries[self.query: self.query + 1])))

    def plot(self):
        """Both views as one plot that updates in place (two DynamicMaps overlaid)."""
        g = self._g
        title = f"HNSW: {g.n} nodes in {g.maxlevel + 1} layers (PCA projection)"
        both = hv.DynamicMap(self.graph_view) * hv.DynamicMap(self.replay_view)
        return both.opts(title=title, hooks=[drawn_legend], **PLOT)

    @param.depends("layer")
    def degree_view(self):
        """Histogram of the layer's out-degrees (0 .. the layer's cap, maxM0 on layer 0, maxM above)."""
        cap = self._g.maxM0 if self.layer == 0 else self._g.maxM
        counts = np.bincount(np.diff(self._layers[self.layer]["indptr"]), minlength=cap + 1)
        return hv.Histogram((np.arange(-0.5, len(counts)), counts), kdims=["out-degree"], vdims=["nodes"])

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

    @param.depends("layer", watch=True)
    def _refresh_layer_text(self):
        if hasattr(self, "_panes"):
            self._panes["layer"].object = self.layer_text()

    @param.depends("step", "query", "ef", "k", watch=True)
    def _refresh_replay_text(self):
        if hasattr(self, "_panes"):
            self._panes["replay"].object = self.replay_text()
            self._panes["hops"].object = self.hops_table()
            self._panes["results"].object = self.results_table()

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
        self._panes = getattr(self, "_panes", None) or {"layer": pn.pane.Markdown(self.layer_text(), width=280),
                       "replay": pn.pane.Markdown(self.replay_text(), width=340),
                       "hops": pn.pane.DataFrame(self.hops_table(), index=False, width=320),
                       "results": pn.pane.DataFrame(self.results_table(), index=False, width=340)}
        degree = hv.DynamicMap(self.degree_view).opts(
            width=280, height=190, color="#4c72b0", toolbar=None, title="out-degree of the layer", framewise=True)
        return pn.Row(
            pn.Column("### HNSW graph", graph, self._panes["layer"], degree,
                      pn.pane.DataFrame(self.layer_table(), index=False, width=280),
                      pn.pane.DataFrame(self.summary(), index=False, width=280)),
            pn.pane.HoloViews(self.plot(), linked_axes=False),
            pn.Column("### Search replay", search, self._panes["replay"], self._panes["hops"],
                      self._panes["results"]))
