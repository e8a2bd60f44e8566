"""The SDR page in a real browser: moving θ redraws the overlap histogram and the fp / fn readout,
stepping a Willshaw recall redraws its grids, and the docs' screenshot of the page."""

from __future__ import annotations

import re

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui


def _open_tab(page, url, tab, slider):
    """Open the SDR page, click `tab`, and wait (bounded) for its `slider` and its plot to be drawn; the slider."""
    ui.open_bokeh_page(page, url)
    page.get_by_text(tab, exact=True).first.click()
    s = ui.slider(page, slider)  # the tab's widgets appear some time after the click: waited for
    ui.wait_until_plot_settles(page)
    return s


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_moving_theta_redraws_the_histogram_and_the_readout(page, dashboard):
    theta = _open_tab(page, dashboard + "/sdr", "Overlap & θ", "Theta")
    start = ui.slider_value(theta)
    readout = page.get_by_text(re.compile(r"false positive \d")).first
    title = page.get_by_text(re.compile(r"θ = \d+ \(n=")).first
    assert f"θ = {start}" in title.inner_text()
    before, text_before = ui.plot_pixels(page), readout.inner_text()

    ui.press(theta, page, "ArrowLeft", 6)   # down to where the random-pair bars cross θ
    ui.wait_for_slider_value(page, theta, start - 6)
    assert ui.wait_for_plot_change(page, before), f"the overlap histogram did not change within {ui.WAIT_S:g} s " \
                                                  "of moving θ"
    ui.wait_for_text_change(page, readout, text_before, "the fp / fn readout")
    ui.wait_until(page, lambda: f"θ = {start - 6}" in title.inner_text(), f"the histogram title to say θ = {start - 6}",
                  seen=title.inner_text)
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_stepping_a_willshaw_recall_redraws(page, dashboard):
    step = _open_tab(page, dashboard + "/sdr", "Willshaw net", "Step")
    assert ui.slider_value(step) == 0
    page.get_by_text(re.compile(r"^step 0 of \d+")).first.wait_for(state="visible")
    ui.press(step, page, "ArrowRight", 1)
    page.get_by_text(re.compile(r"^step 1 of \d+")).first.wait_for(state="visible")
    ui.wait_for_slider_value(page, step, 1)
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_sdr_screenshot(page, dashboard):
    """docs/sdr.png (the overlap tab); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    _open_tab(page, dashboard + "/sdr", "Overlap & θ", "Theta")
    ui.save_page_screenshot(page, "sdr")
