"""The dashboard in a real browser: every page renders a Bokeh canvas with no console errors,
moving a widget redraws the plot, and the README's screenshot."""

from __future__ import annotations

import pytest
import ui_support as ui

from widgets.app import routes

pytestmark = pytest.mark.ui

# Read at collection so that each page, including pages registered later, is its own test.
PATHS = list(routes())


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
@pytest.mark.parametrize("path", PATHS)
def test_page_renders_a_canvas_without_console_errors(page, dashboard, path):
    ui.open_bokeh_page(page, dashboard + path)   # websocket open, a plot drawn and settled
    sizes = ui.canvas_sizes(page)
    assert any(w > 100 and h > 100 for w, h in sizes), f"no rendered Bokeh canvas on {path}: {sizes}"
    # No filter: offline, the served pages load everything from this server and log no errors.
    assert page.console_errors == [], f"console errors on {path}:\n" + "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_moving_the_query_slider_changes_the_plot(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/welcome")
    # the `query` IntSlider of the DatasetExplorer (a noUiSlider inside a shadow root)
    query = ui.slider(page, "Query")
    start = ui.slider_value(query)
    before = ui.plot_pixels(page)
    ui.press(query, page, "ArrowRight", 5)
    ui.wait_for_slider_value(page, query, start + 5)
    assert ui.wait_for_plot_change(page, before), \
        f"the scatter plot's canvas did not change within {ui.WAIT_S:g} s of moving the query slider"
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_dashboard_screenshot(page, dashboard):
    """The README's picture of the welcome page; LABKIT_UPDATE_SCREENSHOTS=1 also refreshes docs/."""
    ui.open_bokeh_page(page, dashboard + "/")
    ui.save_page_screenshot(page, "dashboard")
