"""The dashboard in a real browser: every page renders a Bokeh canvas with no console errors,
and moving a widget changes the plot."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from ui_support import BUILD, ROOT, canvas_size, free_port, wait_for_url

pytestmark = pytest.mark.ui


def _paths():
    from widgets.app import routes
    return list(routes())


@pytest.fixture(scope="module")
def dashboard():
    from widgets.app import serve
    port = free_port()
    server = serve(address="127.0.0.1", port=port, threaded=True)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/liveness", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _open(page, url):
    page.goto(url, wait_until="domcontentloaded")
    page.locator("canvas").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(1500)  # let every plot of the page finish its first render


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", _paths())
def test_page_renders_a_canvas_without_console_errors(page, dashboard, path):
    _open(page, dashboard + path)
    sizes = canvas_size(page)
    assert any(w > 100 and h > 100 for w, h in sizes), f"no rendered Bokeh canvas on {path}: {sizes}"
    assert page.console_errors == [], f"console errors on {path}"


def _plot_pixels(page) -> bytes:
    return page.locator(".bk-Canvas").first.screenshot()


@pytest.mark.timeout(120)
def test_moving_the_query_slider_changes_the_plot(page, dashboard):
    _open(page, dashboard + "/welcome")
    title = page.locator(".bk-slider-title", has_text="Query").first
    assert "0" in title.inner_text()
    before = _plot_pixels(page)
    handle = page.locator(".noUi-handle").first       # the first slider of the page is `query`
    handle.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => true")
    deadline = time.monotonic() + 15
    changed = False
    while time.monotonic() < deadline and not changed:
        page.wait_for_timeout(250)
        changed = _plot_pixels(page) != before
    assert "5" in title.inner_text(), "the slider did not move"
    assert changed, "the plot did not change after the query slider moved"
    assert page.console_errors == []


@pytest.mark.timeout(120)
def test_dashboard_screenshot(page, dashboard):
    """The README's picture: the welcome page. Refresh docs/ with LABKIT_UPDATE_SCREENSHOTS=1."""
    _open(page, dashboard + "/")
    shots = BUILD / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert (shots / "dashboard.png").stat().st_size > 10_000
    if os.environ.get("LABKIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shots / "dashboard.png", ROOT / "docs" / "dashboard.png")
