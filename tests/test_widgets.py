"""widgets: inspect() dispatch, the page registry, and the dataset inspector's behaviour
(headless: Panel models are built without a browser; tests/test_ui_*.py use a real one)."""

import ast
import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import panel as pn
import pytest
from bokeh.models import GlyphRenderer, Plot
from ui_support import outside_running_loop

import widgets
from labkit import data
from widgets.data import DatasetExplorer
from widgets.inspect import register_inspector, register_page


def test_inspect_dispatches_on_the_labkit_type():
    ds = data.digits()
    view = widgets.inspect(ds)
    assert isinstance(view, DatasetExplorer) and view.dataset is ds
    assert "labkit.data.Dataset" in widgets.supported_types()


def test_inspect_follows_subclasses():
    class MyDataset(data.Dataset):
        pass
    ds = MyDataset("mine", np.zeros((5, 2), np.float32), np.zeros((1, 2), np.float32))
    assert isinstance(widgets.inspect(ds), DatasetExplorer)


@pytest.mark.parametrize("obj", [3, "text", np.zeros(3), object()])
def test_inspect_unknown_type_lists_supported_types(obj):
    with pytest.raises(TypeError, match=r"no inspector for .*supported types: .*labkit\.data\.Dataset"):
        widgets.inspect(obj)


def test_registry_validates():
    with pytest.raises(TypeError, match="cls"):
        register_inspector("not a class", lambda o: o)
    with pytest.raises(TypeError, match="factory"):
        register_inspector(int, 3)
    with pytest.raises(ValueError, match="slug"):
        register_page("Bad Slug", "t", lambda: None)


def test_explorer_rejects_non_datasets():
    with pytest.raises(TypeError, match="dataset"):
        DatasetExplorer(np.zeros((3, 3)))


def test_explorer_neighbours_come_from_exact_ground_truth_and_follow_the_query():
    ds = data.digits()
    ex = DatasetExplorer(ds, k=5)
    first, _ = ex.neighbours()
    np.testing.assert_array_equal(first, data.ground_truth(ds.train, ds.test[:1], 5)[0][0])
    ex.query = 7
    moved, _ = ex.neighbours()
    np.testing.assert_array_equal(moved, data.ground_truth(ds.train, ds.test[7:8], 5)[0][0])
    assert ex.param.query.bounds == (0, len(ds.test) - 1)


def _renderer(root, marker):
    return next(r for r in root.select({"type": GlyphRenderer}) if getattr(r.glyph, "marker", None) == marker)


def test_explorer_builds_models_and_updates_them_in_place():
    ex = DatasetExplorer(data.digits())
    root = pn.panel(ex).get_root()             # the full Bokeh model tree builds
    star, models = _renderer(root, "star").data_source, {m.id for m in root.references()}
    before = ex.scatter_data()["query"]
    ex.query = 3
    after = ex.scatter_data()["query"]
    assert not np.allclose([before["x"], before["y"]], [after["x"], after["y"]])
    np.testing.assert_array_equal(star.data["x"], after["x"])  # the drawn star moved, in the same models
    ex.projection, ex.max_points = "dims 0-1", 100
    assert {m.id for m in root.references()} == models
    d = ex.scatter_data()
    fig = next(p for p in root.select({"type": Plot}) if p.title.text == d["title"])
    assert "100 of" in d["title"] and fig.xaxis[0].axis_label == "dim 0"
    train = next(r for r in fig.renderers if "label" in r.data_source.data)
    assert len(train.data_source.data["x"]) == 100
    assert (fig.x_range.start, fig.x_range.end) == d["x_range"]


def test_explorer_images_are_the_query_and_its_nearest_upright():
    ds = data.digits()
    ex = DatasetExplorer(ds, query=4, k=3)
    im = ex.images_data()
    nn, _ = ex.neighbours()
    assert im["mosaic"].shape == (8, 4 * 9 - 1) and im["title"].startswith("query 4, then its 3 nearest")
    np.testing.assert_array_equal(im["mosaic"][:, :8], ds.test[4].reshape(8, 8))   # row 0: the top row
    np.testing.assert_array_equal(im["mosaic"][:, 9:17], ds.train[nn[0]].reshape(8, 8))
    root = pn.panel(ex).get_root()
    drawn = next(r for r in root.select({"type": Plot}) if r.title.text == im["title"]).renderers[0]
    np.testing.assert_array_equal(drawn.data_source.data["image"][0], im["mosaic"][::-1])  # Bokeh: row 0 at the bottom


def test_explorer_on_non_image_data_says_so():
    ex = DatasetExplorer(data.ann_blobs(300, 5, 3))
    assert ex.images_data() is None
    assert any("not square images" in str(m.object) for m in pn.panel(ex).select(pn.pane.Markdown))


def test_every_dashboard_page_builds():
    from widgets.app import routes
    r = routes()
    assert {"/", "/welcome", "/datasets"} <= set(r)
    assert {f"/{p.slug}" for p in widgets.pages()} <= set(r)
    for _path, factory in r.items():
        pn.panel(factory()).get_root()


def test_lazy_tabs_make_a_view_when_its_tab_is_first_shown():
    from widgets.tabs import lazy_tabs
    made = []

    def make(name):
        return lambda: made.append(name) or pn.pane.Markdown(name)
    tabs = lazy_tabs(("a", make("a")), ("b", make("b")), ("c", make("c")))
    assert made == []                      # nothing made before the page is rendered
    tabs.get_root()
    assert made == ["a"]                   # rendered: the shown tab only
    tabs.active = 2
    assert made == ["a", "c"]
    tabs.active = 0
    assert made == ["a", "c"]              # made once
    with pytest.raises(TypeError, match=r"tabs\[1\]"):
        lazy_tabs(("a", make("a")), ("b", "not a callable"))


def test_a_session_makes_only_the_first_view_of_each_tabbed_page(monkeypatch):
    """A served session builds its page's first tab only (the burst of issue 14): the views of the other
    tabs are not even constructed until their tab is shown."""
    import widgets.hnsw.page as hp
    import widgets.kvcache.page as kp
    import widgets.reservoir.page as rp
    import widgets.sdr.page as sp
    import widgets.spiking.page as pp
    later = {hp: ["RecallCurve"], kp: ["AttentionDiff", "EvictionTimeline", "Frontier"], rp: ["LSMView"],
             sp: ["OverlapExplorer", "UnionCapacity", "WillshawExplorer", "segment_demo", "coding_demo"],
             pp: ["FICurve", "PresetGallery"]}
    made = []
    for module, names in later.items():
        for name in names:
            monkeypatch.setattr(module, name, lambda *a, _n=name, **k: made.append(_n) or pn.pane.Markdown(_n))
    for module, page in ((hp, "hnsw_page"), (kp, "kvcache_page"), (rp, "reservoir_page"), (sp, "sdr_page"),
                         (pp, "spiking_page")):
        pn.panel(getattr(module, page)()).get_root()
    assert made == []
    tabs = pn.panel(pp.spiking_page()).select(pn.Tabs)[0]
    tabs.get_root()
    tabs.active = 2
    assert made == ["PresetGallery"]


# -- the layout: widgets/ mirrors labkit/ -------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
WIDGETS = ROOT / "widgets"
# the modules of widgets/ that are no mechanism
TOP_LEVEL = {"__init__", "app", "data", "export", "inspect", "tabs", "views", "workers"}
REGISTER = {"register_inspector", "register_page"}


def _mechanisms() -> set[str]:
    """labkit's mechanism subpackages (hnsw, sdr, kvcache, pim, ...)."""
    return {p.parent.name for p in (ROOT / "labkit").glob("*/__init__.py")}


def _packages() -> set[str]:
    return {p.parent.name for p in WIDGETS.glob("*/__init__.py")}


def _sources():
    """(package, path, parsed tree) of every module of widgets/; package: the one relative imports start from."""
    for path in sorted(WIDGETS.rglob("*.py")):
        package = ".".join(path.parent.relative_to(ROOT).parts)
        yield package, path, ast.parse(path.read_text())


def test_each_mechanism_is_a_package_mirroring_labkit():
    mechanisms, packages = _mechanisms(), _packages()
    assert packages, "widgets/ has no mechanism packages"
    assert packages <= mechanisms, f"widgets/{sorted(packages - mechanisms)}: not a labkit mechanism"
    top = {p.stem for p in WIDGETS.glob("*.py")}
    assert top <= TOP_LEVEL, f"widgets/{sorted(top - TOP_LEVEL)}.py: a mechanism's views go in widgets/<mechanism>/"
    for mech in mechanisms:  # e.g. no widgets/pim_timeline.py: widgets/pim/timeline.py
        counterpart = sorted(p.name for p in WIDGETS.glob(f"{mech}*") if p.name != "__pycache__")
        assert counterpart in ([], [mech]), f"widgets/{counterpart}: labkit.{mech}'s views go in widgets/{mech}/"
    # `import widgets` imports every package, so `widgets.inspect` knows every registered type
    assert {f"widgets.{m}" for m in packages} <= set(sys.modules)


def test_only_a_mechanism_packages_init_registers():
    allowed = {WIDGETS / m / "__init__.py" for m in _packages()} | {WIDGETS / "data.py"}
    for _package, path, tree in _sources():
        calls = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute))}
        if calls & REGISTER:
            assert path in allowed, f"{path.relative_to(ROOT)} registers; only widgets/<mechanism>/__init__.py may"
    for m in _packages():
        tree = ast.parse((WIDGETS / m / "__init__.py").read_text())
        names = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "register_page" in names, f"widgets/{m}/__init__.py registers no dashboard page"


def _imports_from_widgets(tree, package: str):
    """(module, name) of every `from widgets... import name` in `tree` (relative imports resolved)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = node.module or ""
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        if target == "widgets" or target.startswith("widgets."):
            yield from ((target, alias.name) for alias in node.names)


def test_widgets_modules_import_no_private_names_and_labkit_types_from_labkit():
    for package, path, tree in _sources():
        for target, imported in _imports_from_widgets(tree, package):
            where = f"{path.relative_to(ROOT)}: from {target} import {imported}"
            assert not imported.startswith("_"), f"{where}: a private name of another module; make it public"
            obj = getattr(importlib.import_module(target), imported)
            if inspect.isclass(obj) or inspect.isfunction(obj):  # defined in widgets, not a labkit re-export
                assert obj.__module__.split(".")[0] == "widgets", f"{where}: import it from {obj.__module__}"


# -- widgets.views.LongTask: long work from a button ---------------------------------------------------
@outside_running_loop
def test_long_task_runs_steps_off_the_loop_shows_progress_and_time_and_cancels_between_steps():
    """A press runs the plan's steps in a worker thread, one at a time, hands each result to on_step on the
    calling (event-loop) thread, shows the progress and the time left (the a-priori estimate before the
    first step has finished, then the measured mean step time x the steps left: a fake clock, no timing),
    and a Cancel pressed between steps stops before the next one with the finished results kept."""
    import threading

    from widgets.views import LongTask, Step, seconds_text, time_left

    assert time_left([2.0, 4.0], 5, 1.0, 100.0, 7.0) == 8.0        # mean 3 s x 3 steps left, 1 s into one
    assert time_left([], 5, 0.5, 100.0, 0.5) == 99.5 and time_left([], 5, 0.5, None, 0.5) is None
    assert time_left([9.0], 2, 30.0, None, 39.0) == 0.0              # never below 0
    assert [seconds_text(s) for s in (0.44, 12.4, 125, 179.7)] == ["0.4 s", "12 s", "2 min 05 s", "3 min 00 s"]

    now = [0.0]
    def clock():  # each reading 10 s later
        now[0] += 10.0
        return now[0]
    seen, threads, states = {}, [], []
    main = threading.current_thread()

    def work(i):
        threads.append(threading.current_thread())
        seen[i] = task.status.object
        return i * i
    task = LongTask("go", lambda: [Step(f"step {i}", lambda i=i: work(i)) for i in range(4)],
                    on_step=lambda s, r: (states.append((s.label, r, threading.current_thread() is main))),
                    on_done=states.append, estimate=lambda: 100.0, idle=lambda: "press **go**", clock=clock)
    assert task.status.object == "press **go** (about 100 s)" and not task.button.disabled
    task.button.clicks += 1
    assert states[:4] == [(f"step {i}", i * i, True) for i in range(4)] and states[4] == "done"
    assert all(t is not main for t in threads) and len(set(threads)) == 1   # one worker, not the loop
    threads[0].join(timeout=30)
    assert not threads[0].is_alive(), "the worker thread should end with the run (waited 30 s)"
    assert "estimated before the first step: 100 s in all" in seen[0] and "**step 1 of 4**" in seen[0]
    assert "left" in seen[1] and "estimated before" not in seen[1]         # measured step times now
    assert (task.progress.value, task.progress.max) == (4, 4) and task.status.object.startswith("done: 4 of 4")
    assert not task.button.disabled and task.cancel_button.disabled and task.state == "done"

    # Cancel pressed after the 2nd step (on the loop, as a click between steps is): the 3rd never runs
    done = []
    def on_step(s, r):
        done.append(r)
        if len(done) == 2:
            task2.cancel_button.clicks += 1
    task2 = LongTask("go", lambda: [Step(str(i), lambda i=i: i) for i in range(4)], on_step=on_step)
    assert task2.cancel_button.disabled     # nothing to cancel yet
    task2.button.clicks += 1
    assert done == [0, 1] and task2.state == "cancelled" and task2.progress.value == 2
    assert "**cancelled after 2 of 4** steps" in task2.status.object and "2 finished steps stay shown" in \
        task2.status.object and not task2.button.disabled
    assert task2.run_now() == [0, 1, 2, 3]   # the blocking path: the same steps, here and now


@outside_running_loop
def test_long_task_shows_errors_and_never_waits_for_ever():
    import threading

    from widgets.views import LongTask, Step

    def boom():
        raise ValueError("boom")
    ends = []
    task = LongTask("go", lambda: [Step("fine", lambda: 1), Step("bad", boom), Step("never", lambda: 3)],
                    on_done=ends.append)
    with pytest.raises(ValueError, match="boom"):   # raised again, not swallowed
        task.button.clicks += 1
    assert ends == ["failed"] and isinstance(task.error, ValueError) and not task.button.disabled
    assert "**failed at step 2 of 3** (bad)" in task.status.object and "ValueError: boom" in task.status.object

    release, now = threading.Event(), [0.0]
    def clock():
        now[0] += 100.0
        return now[0]
    stuck = LongTask("go", lambda: [Step("stuck", lambda: release.wait(30)), Step("next", lambda: 2)],
                     on_done=ends.append, step_timeout_s=150.0, tick_s=0.01, clock=clock)
    try:
        stuck.button.clicks += 1
        assert ends[-1] == "gave up" and "**gave up at step 1 of 2** (stuck)" in stuck.status.object
        assert not stuck.button.disabled
    finally:
        release.set()
