"""widgets: inspect() dispatch, the page registry, and the dataset inspector's behaviour
(headless: Panel models are built without a browser; tests/test_ui_*.py use a real one)."""

import numpy as np
import panel as pn
import pytest

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


def test_explorer_builds_models_and_the_plot_changes_with_the_query():
    ex = DatasetExplorer(data.digits())
    pn.panel(ex).get_root()                     # the full Bokeh model tree builds
    before = ex.scatter()
    ex.query = 3
    after = ex.scatter()
    star = lambda overlay: overlay.get(2).data  # noqa: E731  (the query star layer)
    assert not star(before).equals(star(after))


def test_explorer_on_non_image_data_says_so():
    ex = DatasetExplorer(data.ann_blobs(300, 5, 3))
    assert "not square images" in ex.images().object


def test_every_dashboard_page_builds():
    from widgets.app import routes
    r = routes()
    assert {"/", "/welcome", "/datasets"} <= set(r)
    assert {f"/{p.slug}" for p in widgets.pages()} <= set(r)
    for _path, factory in r.items():
        pn.panel(factory()).get_root()
