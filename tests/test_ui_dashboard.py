"""The dashboard in a real browser: every page renders a Bokeh canvas with no console errors and no
request that leaves the machine (the `page` fixture refuses them and fails the test: tests/conftest.py),
moving a widget redraws the plot, and the README's screenshot. Also the offline check itself: a page that
asks another host fails its test, naming what it asked for."""

from __future__ import annotations

import os
import subprocess
import sys

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


# Two browser tests run by the policy test below: one page asks three other hosts (a stylesheet, an
# image, a websocket), one asks only for data: URLs.
_BAIT = """
def test_asks_other_hosts(page):
    failed = []
    page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
    page.set_content('<link rel="stylesheet" href="https://cdn.example.org/theme.css">'
                     '<img src="http://192.0.2.7/figure.png">'
                     '<script>window.ws = new WebSocket("wss://example.org/live")</script>')
    page.wait_for_function("() => window.ws.readyState === WebSocket.CLOSED")
    assert sorted(url for url, _ in failed) == ["http://192.0.2.7/figure.png", "https://cdn.example.org/theme.css"]
    assert all(why.startswith("net::ERR_BLOCKED_BY_CLIENT") for _, why in failed), failed


def test_stays_on_the_machine(page):
    page.set_content('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">')
"""


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_a_page_that_asks_another_host_fails_its_test(chromium, tmp_path):
    """The offline rule's own check (tests/conftest.py `page`): each request off the machine is refused
    (ERR_BLOCKED_BY_CLIENT), the test that made it FAILS listing what it asked for, a test that asked
    nothing passes."""
    (tmp_path / "test_bait.py").write_text(_BAIT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ui.ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                        "-c", str(ui.ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=ui.TEST_TIMEOUT_S - 20)
    out = r.stdout + r.stderr
    assert "1 failed, 1 passed" in out, out[-4000:]
    # it failed for having asked, not on its own assertions (which check that each request was refused)
    assert "FAILED test_bait.py::test_asks_other_hosts - requests left the machine" in out, out[-4000:]
    assert "AssertionError" not in out, out[-4000:]
    report = out[out.index("requests left the machine"):]
    for url in ("https://cdn.example.org/theme.css", "http://192.0.2.7/figure.png", "wss://example.org/live"):
        assert url in report, out[-4000:]
