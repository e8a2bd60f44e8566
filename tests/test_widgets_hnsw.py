"""widgets.hnsw.GraphExplorer, headless: dispatch, the Bokeh model, reachability against scipy's BFS,
the search replay against labkit's own counters and exact neighbours, hnswlib files, the dashboard
page, and what a slider move computes and redraws (counted, not timed: the redraw times of a 20k-point
index are in benchmarks/hnsw.py; the browser side is tests/test_ui_dashboard.py)."""

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.plotting import figure
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order
from ui_support import count_calls, outside_running_loop, redrawn_in_place

import widgets
import widgets.hnsw.curve
import widgets.hnsw.graph
from labkit import data
from labkit.hnsw import HNSW
from labkit.hnsw.metrics import reachable  # noqa: E402
from widgets.hnsw import GraphExplorer, hnsw_page  # noqa: E402


def _index(n=500, dim=8, M=2, ef_construction=10, seed=0, **kw):
    X = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    index = HNSW(dim, M=M, ef_construction=ef_construction, **kw)
    index.add(X)
    return index


@pytest.fixture(scope="module")
def sparse_index():
    """M=2, ef_construction=10 on 8-d Gaussians: a graph with nodes unreachable from the entry point."""
    return _index()


def _scipy_unreachable(index, level):
    g, layer = index.graph(), index.layers()[level]
    nodes = layer["nodes"]
    row = np.full(g.n, -1)
    row[nodes] = np.arange(len(nodes))
    A = csr_matrix((np.ones(len(layer["indices"])), row[layer["indices"]], layer["indptr"]),
                   shape=(len(nodes), len(nodes)))
    seen = breadth_first_order(A, int(row[g.enterpoint]), directed=True, return_predecessors=False)
    return np.setdiff1d(nodes, nodes[seen])


def test_inspect_returns_the_graph_explorer(sparse_index):
    ex = widgets.inspect(sparse_index)
    assert isinstance(ex, GraphExplorer) and ex.index is sparse_index
    assert "labkit.hnsw.index.HNSW" in widgets.supported_types()


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="index"):
        GraphExplorer(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="index: the index is empty"):
        GraphExplorer(HNSW(4))
    with pytest.raises(ValueError, match="queries"):
        GraphExplorer(_index(50, 4, M=4), queries=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="queries"):
        GraphExplorer(_index(50, 4, M=4), queries=np.full((1, 4), np.nan))


def test_the_bokeh_model_builds(sparse_index):
    pn.panel(GraphExplorer(sparse_index)).get_root()


def _drawn(root) -> dict[str, int]:
    """{legend label: points or segments drawn} of the explorer's graph plot, in z-order (bottom first)."""
    fig = next(p for p in root.select({"type": figure}) if p.title.text.startswith("HNSW"))
    label = {id(r): item.label.value for item in fig.legend.items for r in item.renderers}
    return {label[id(r)]: len(next(iter(r.data_source.data.values()))) for r in fig.renderers}


def _shown(root, label: str) -> bool:
    """Whether the graph plot's legend item `label` is shown (widgets.views.legend_drawn_only)."""
    fig = next(p for p in root.select({"type": figure}) if p.title.text.startswith("HNSW"))
    return next(item.visible for item in fig.legend.items if item.label.value == label)


def test_reachable_on_a_hand_made_graph():
    # 0 -> 1 -> 2 -> 0, 3 -> 0 (nothing reaches 3), 4 isolated
    indptr = np.array([0, 1, 2, 3, 4, 4])
    indices = np.array([1, 2, 0, 0])
    np.testing.assert_array_equal(reachable(indptr, indices, 0), [True, True, True, False, False])
    np.testing.assert_array_equal(reachable(indptr, indices, 3), [True, True, True, True, False])
    np.testing.assert_array_equal(reachable(indptr, indices, 4), [False, False, False, False, True])


def test_unreachable_nodes_equal_scipy_breadth_first_order(sparse_index):
    ex = GraphExplorer(sparse_index)
    assert len(ex.unreachable(0)) > 0, "the fixture should have unreachable nodes"
    for level in range(len(ex.param.layer.objects)):
        np.testing.assert_array_equal(np.sort(ex.unreachable(level)), _scipy_unreachable(sparse_index, level))
    assert list(ex.layer_table()["unreachable"]) == [len(ex.unreachable(lv)) for lv in ex.param.layer.objects]
    # and they are what the plot highlights
    ex.follow, ex.layer = False, 0
    assert len(ex.graph_data()["unreachable"]["x"]) == len(ex.unreachable(0))
    root = pn.panel(ex).get_root()
    assert _drawn(root)["unreachable"] == len(ex.unreachable(0)) and _shown(root, "unreachable")


def test_moving_the_step_changes_the_drawn_replay(sparse_index):
    ex = GraphExplorer(sparse_index, step=1)
    root = pn.panel(ex).get_root()
    before, drawn_before, results_before = ex.replay_data(), _drawn(root), _shown(root, "results")
    ex.step = ex.param.step.bounds[1]
    after, drawn_after = ex.replay_data(), _drawn(root)
    assert list(drawn_after) == ["stored vectors", "links", "layer nodes", "unreachable", "deleted",  # z-order
                                 "search tree", "pushed candidates", "expanded", "exact neighbours", "results",
                                 "current node", "entry point", "query"]
    assert list(after) == ["tree", "pushed", "expanded", "exact", "results", "current", "entry", "query"]
    for name, label in (("tree", "search tree"), ("expanded", "expanded")):  # they grow, in the plot too
        assert len(next(iter(after[name].values()))) > len(next(iter(before[name].values())))
        assert drawn_after[label] > drawn_before[label]
    assert (after["current"]["x"], after["current"]["y"]) != (before["current"]["x"], before["current"]["y"])
    assert len(before["results"]["x"]) == 0 and len(after["results"]["x"]) == ex.k
    assert drawn_before["results"] == 0 and drawn_after["results"] == ex.k
    assert not results_before and _shown(root, "results")  # its legend item once drawn
    ex.step = 1
    assert ex.replay_text().startswith("**step 1 of")


def test_follow_draws_the_layer_the_search_is_on(sparse_index):
    ex = GraphExplorer(sparse_index)
    trace = ex.replay().trace
    assert ex.layer == 0  # the replay starts at the end, on layer 0
    top = int(trace["layer"].max())
    ex.step = int(np.flatnonzero(trace["layer"] == top)[0])
    assert ex.layer == top
    ex.follow, ex.layer = False, 0
    ex.step = 0
    assert ex.layer == 0


@pytest.mark.parametrize("deleted", [0, 40])
def test_replay_counters_end_at_the_search_stats(deleted):
    index = _index(800, 16, M=6, ef_construction=40, seed=1)
    gone = list(range(0, 800, 800 // deleted)) if deleted else []
    for label in gone:
        index.mark_deleted(label)
    ex = GraphExplorer(index)
    for query in range(5):
        ex.query = query
        r = ex.replay()
        q = ex.queries[query: query + 1]
        labels, dists, stats = index.search(q, k=ex.k, ef=ex.ef, return_stats=True)
        assert r.dist_so_far[-1] == stats.distance_computations[0] == r.distance_computations
        np.testing.assert_array_equal(r.hops_so_far[-1], stats.hops[0])
        assert np.all(np.diff(r.dist_so_far) >= 0) and np.all(np.diff(r.hops_so_far, axis=0) >= 0)
        np.testing.assert_array_equal(r.labels, labels[0])
        alive = np.flatnonzero(~index.graph().deleted)
        ids, _ = data.ground_truth(index.graph().vectors[alive], q, ex.k)
        exact = index.graph().labels[alive[ids[0]]]
        np.testing.assert_array_equal(r.exact_labels, exact)
        assert r.recall == pytest.approx(len(set(exact) & set(labels[0])) / ex.k)
        assert not set(r.labels.tolist()) & set(gone)
        table = ex.results_table()
        assert list(table["exact"]) == list(exact) and list(table["in results"]) == list(np.isin(exact, labels[0]))


def test_default_queries_are_seeded_noisy_stored_vectors(sparse_index):
    a, b = GraphExplorer(sparse_index), GraphExplorer(sparse_index)
    np.testing.assert_array_equal(a.queries, b.queries)
    assert len(a.queries) == 20 and a.param.query.bounds == (0, 19)
    d = data.ground_truth(sparse_index.graph().vectors, a.queries, 1)[1][:, 0]
    assert np.all(d < 0.1 * sparse_index.graph().dim)  # each query sits next to a stored vector


def test_works_on_an_index_loaded_from_an_hnswlib_file(tmp_path):
    hnswlib = pytest.importorskip("hnswlib")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 16)).astype(np.float32)
    ids = np.arange(1000) * 3 + 7  # labels differ from internal ids
    anchor = hnswlib.Index(space="l2", dim=16)
    anchor.init_index(max_elements=1000, M=8, ef_construction=50, random_seed=100)
    anchor.add_items(X, ids, num_threads=1)
    for label in ids[::50]:
        anchor.mark_deleted(int(label))
    anchor.save_index(str(tmp_path / "index.bin"))
    index = HNSW.load(tmp_path / "index.bin", space="l2")

    Q = rng.standard_normal((4, 16)).astype(np.float32)
    ex = GraphExplorer(index, queries=Q, ef=60)
    root = pn.panel(ex).get_root()
    np.testing.assert_array_equal(np.sort(ex.unreachable(0)), _scipy_unreachable(index, 0))
    ex.follow, ex.layer = False, 0
    assert len(ex.graph_data()["deleted"]["x"]) == 20 and _drawn(root)["deleted"] == 20  # the deleted nodes, drawn
    anchor.set_ef(60)
    for query in range(len(Q)):
        ex.query = query
        found, _ = anchor.knn_query(Q[query:query + 1], k=ex.k)
        assert set(ex.replay().labels) == set(found[0].tolist())
        assert set(ex.replay().exact_labels) <= set(ids) - set(ids[::50].tolist())


def test_the_dashboard_page_builds_with_one_search_and_no_measurement(monkeypatch):
    """The page replays one search and leaves the recall / QPS sweep to its button (its build time is in
    benchmarks/hnsw.py)."""
    searches = count_calls(monkeypatch, HNSW, "search")
    sweeps = count_calls(monkeypatch, widgets.hnsw.curve, "ef_sweep")
    page = hnsw_page()
    pn.panel(page).get_root()
    assert len(searches) == 1 and sweeps == []
    assert "hnsw" in [p.slug for p in widgets.pages()]


@pytest.mark.timeout(300)
def test_slider_moves_only_slice_what_was_computed_once(monkeypatch):
    """The explorer reads the graph, projects the vectors (one SVD), runs the BFS of every layer and the
    exact neighbours once, and searches once per (query, ef, k): moving `layer` or `step` only slices
    those (no search, no graph read, no BFS, no SVD, no ground truth); each layer's drawing is cached;
    what is drawn stays under max_points / max_edges; and each move patches the Bokeh models in place.
    (How fast that is on a 20,000-point index: benchmarks/hnsw.py, "Inspector redraw".)"""
    ds = data.gaussian(6000, 16, 10)
    index = HNSW(16, M=8, ef_construction=40)
    index.add(ds.train)
    ex = GraphExplorer(index, queries=ds.test, follow=False, max_points=2000, max_edges=3000)
    root = pn.panel(ex).get_root()
    work = {name: count_calls(monkeypatch, owner, name)
            for owner, name in ((HNSW, "search"), (HNSW, "graph"), (HNSW, "layers"), (np.linalg, "svd"),
                                (widgets.hnsw.graph, "unreachable"), (data, "ground_truth"))}
    last = ex.param.step.bounds[1]
    layers = len(ex.layer_table())
    assert layers >= 3 and last > 20

    for level in [1, 0, 2, 0, 1]:
        assert redrawn_in_place(root, lambda level=level: setattr(ex, "layer", level)) > 0
    for step in [5, last // 4, last // 2, 3 * last // 4, last]:
        assert redrawn_in_place(root, lambda step=step: setattr(ex, "step", step)) > 0
    assert {name: len(calls) for name, calls in work.items()} == dict.fromkeys(work, 0)

    for level in range(layers):
        nodes, segments = ex.drawn(level)
        assert ex.drawn(level)[1] is segments                  # cached per layer
        assert len(nodes) <= 2000 and len(segments) <= 3000
    ex.layer = 0
    view = ex.graph_data()
    assert ex.layer_table()["nodes"][0] == 6000
    assert len(view["back"]["x"]) == 2000 and len(view["links"]["x0"]) == 3000   # stored vectors and links, capped
    assert _drawn(root)["stored vectors"] == 2000 and _drawn(root)["links"] == 3000
    for level in range(layers):                                 # the histogram counts the layer's nodes
        ex.layer = level
        hist = next(p for p in root.select({"type": figure}) if p.title.text == "out-degree of the layer")
        top = hist.renderers[0].data_source.data["top"]
        assert top.sum() == ex.layer_table()["nodes"][level] and max(top) <= hist.y_range.end <= 1.2 * max(top)

    ex.query = 1                                                # a new query: one search, not one per view
    assert len(work["search"]) == 1 and len(work["ground_truth"]) == 0


@pytest.fixture(scope="module")
def digits_index():
    """The digits train set and an HNSW index of it (M=8, ef_construction=60), shared by the curve tests."""
    pytest.importorskip("hnswlib")
    ds = data.digits()
    index = HNSW(ds.dim, M=8, ef_construction=60)
    index.add(ds.train)
    return ds, index


def test_recall_curve_measures_labkit_and_hnswlib(digits_index):
    from widgets.hnsw.curve import EFS, RecallCurve
    ds, index = digits_index
    curve = RecallCurve(index, ds.train, ds.test[:60])
    pn.panel(curve).get_root()
    t = curve.measure()
    assert list(t["ef"]) == list(EFS)
    assert (np.abs(t["recall"] - t["recall (reference)"]) <= 0.01).all()   # the same graph as hnswlib
    assert (t["QPS"] > 0).all() and (np.diff(t["distances/query"]) > 0).all()
    with pytest.raises(TypeError, match="index"):
        RecallCurve("nope", ds.train, ds.test)


@outside_running_loop
def test_recall_curve_button_measures_one_ef_per_step_as_measure_does(digits_index):
    """The button (widgets.views.LongTask): exact neighbours, the hnswlib index, then one ef per step; the
    curve and table show what measure() gives (recall and distance counts; QPS is a timing)."""
    from widgets.hnsw.curve import EFS, RecallCurve
    ds, index = digits_index
    curve = RecallCurve(index, ds.train, ds.test[:60])
    pn.panel(curve).get_root()
    assert "press" in curve._plot.object.opts.get().kwargs["title"] and "press **measure**" in \
        curve._task.status.object
    blocking = curve.measure()
    curve.table = None
    curve._task.button.clicks += 1
    assert [s.label for s in curve._plan()] == ["exact neighbours", "hnswlib index"] + [f"ef = {e}" for e in EFS]
    cols = ["ef", "recall", "distances/query", "recall (reference)"]
    pd.testing.assert_frame_equal(curve.table[cols], blocking[cols])
    assert curve._frame.object is not None and len(curve._frame.object) == len(EFS)
    assert curve._task.status.object.startswith(f"done: {len(EFS) + 2} of {len(EFS) + 2}")


def test_ef_sweep_without_reference():
    from labkit.hnsw.metrics import ef_sweep
    ds = data.gaussian(500, 8, 20, seed=1)
    index = HNSW(8, M=8, ef_construction=40)
    index.add(ds.train)
    t = ef_sweep(index, ds.test, ds.neighbors(10), efs=(10, 40))
    assert list(t.columns) == ["ef", "recall", "QPS", "distances/query"] and t["recall"].iloc[-1] >= t["recall"].iloc[0]
