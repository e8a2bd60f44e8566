"""The SDR page in a real browser: moving θ redraws the overlap histogram and the fp / fn readout,
stepping a Willshaw recall redraws its grids, and the docs' screenshot of the page."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui


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


def _open_tab(page, url, tab):
    ui.open_bokeh_page(page, url)
    page.get_by_text(tab, exact=True).first.click()
    page.wait_for_timeout(500)
    ui.wait_until_plot_settles(page)


def _slider(page, name):
    title = page.locator(".bk-slider-title", has_text=re.compile(rf"^\s*{name}:"))  # not "Max steps"
    slider = page.locator(".bk-Slider").filter(has=title)
    slider = slider.filter(visible=True)
    assert slider.count() == 1, f"expected one visible {name!r} slider"
    return slider


def _value(slider) -> int:
    text = slider.locator(".bk-slider-title").inner_text()
    m = re.search(r"(-?\d+)\s*$", text)
    assert m, f"no value in slider title {text!r}"
    return int(m.group(1))


def _press(slider, page, key, times):
    slider.locator(".noUi-handle").focus()
    for _ in range(times):
        page.keyboard.press(key)
    page.wait_for_function("() => true")


@pytest.mark.timeout(90)
def test_moving_theta_redraws_the_histogram_and_the_readout(page, dashboard):
    _open_tab(page, dashboard + "/sdr", "Overlap & θ")
    theta = _slider(page, "Theta")
    start = _value(theta)
    readout = page.get_by_text(re.compile(r"false positive \d")).first
    assert f"θ = {start}" in page.get_by_text(re.compile(r"θ = \d+ \(n=")).first.inner_text()
    before, text_before = ui.plot_pixels(page), readout.inner_text()

    _press(theta, page, "ArrowLeft", 6)   # down to where the random-pair bars cross θ
    changed = ui.wait_for_plot_change(page, before, timeout_s=10)
    assert _value(theta) == start - 6, "the θ slider did not move"
    assert changed, "the overlap histogram did not change within 10 s of moving θ"
    page.wait_for_function("([el, old]) => el.innerText !== old", arg=[readout.element_handle(), text_before],
                           timeout=10_000)
    assert f"θ = {start - 6}" in page.get_by_text(re.compile(r"θ = \d+ \(n=")).first.inner_text()
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(90)
def test_stepping_a_willshaw_recall_redraws(page, dashboard):
    _open_tab(page, dashboard + "/sdr", "Willshaw net")
    step = _slider(page, "Step")
    assert _value(step) == 0
    text = page.get_by_text(re.compile(r"^step 0 of \d+")).first
    assert text.is_visible()
    _press(step, page, "ArrowRight", 1)
    page.get_by_text(re.compile(r"^step 1 of \d+")).first.wait_for(timeout=10_000)
    assert _value(step) == 1
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(90)
def test_sdr_screenshot(page, dashboard):
    """docs/sdr.png (the overlap tab); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    _open_tab(page, dashboard + "/sdr", "Overlap & θ")
    shot = ui.screenshot_path("screenshots", "sdr")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "suspiciously small screenshot"
    if os.environ.get("LABKIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ui.ROOT / "docs" / "sdr.png")
