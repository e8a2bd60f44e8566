"""The dashboard in a real browser: every page renders a Bokeh canvas with no console errors,
moving a widget redraws the plot, and the README's screenshot."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import ui_support as ui

from widgets.app import routes

pytestmark = pytest.mark.ui

# Read at collection so that each page, including pages registered later, is its own test.
PATHS = list(routes())


@pytest.fixture(scope="module")
def dashboard():
    """`widgets.app.serve` in this process (a thread), on a free loopback port."""
    from widgets.app import serve
    port = ui.free_port()
    server = serve(address="127.0.0.1", port=port, threaded=True)
    try:
        ui.wait_for_url(f"http://127.0.0.1:{port}/liveness", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", PATHS)
def test_page_renders_a_canvas_without_console_errors(page, dashboard, path):
    ui.open_bokeh_page(page, dashboard + path)   # websocket open, a plot drawn and settled
    sizes = ui.canvas_sizes(page)
    assert any(w > 100 and h > 100 for w, h in sizes), f"no rendered Bokeh canvas on {path}: {sizes}"
    # No filter: offline, the served pages load everything from this server and log no errors.
    assert page.console_errors == [], f"console errors on {path}:\n" + "\n".join(page.console_errors)


def _slider_value(title) -> int:
    m = re.search(r"(-?\d+)\s*$", title.inner_text())
    assert m, f"no value in slider title {title.inner_text()!r}"
    return int(m.group(1))


@pytest.mark.timeout(60)
def test_moving_the_query_slider_changes_the_plot(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/welcome")
    # the `query` IntSlider of the DatasetExplorer (a noUiSlider inside a shadow root)
    slider = page.locator(".bk-Slider").filter(has=page.locator(".bk-slider-title", has_text="Query"))
    assert slider.count() == 1, "expected one 'Query' slider on the welcome page"
    title = slider.locator(".bk-slider-title")
    start = _slider_value(title)
    before = ui.plot_pixels(page)

    slider.locator(".noUi-handle").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => true")  # let the key events be dispatched

    changed = ui.wait_for_plot_change(page, before, timeout_s=10)
    assert _slider_value(title) == start + 5, f"the slider did not move: {title.inner_text()!r}"
    assert changed, "the scatter plot's canvas did not change within 10 s of moving the query slider"
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(60)
def test_dashboard_screenshot(page, dashboard):
    """The README's picture of the welcome page; LABKIT_UPDATE_SCREENSHOTS=1 also refreshes docs/."""
    ui.open_bokeh_page(page, dashboard + "/")
    shot = ui.screenshot_path("screenshots", "dashboard")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "suspiciously small screenshot"
    if os.environ.get("LABKIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ui.ROOT / "docs" / "dashboard.png")
