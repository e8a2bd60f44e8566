"""The SDR page in a real browser: moving θ redraws the overlap histogram and the fp / fn readout,
stepping a Willshaw recall redraws its grids, and the docs' screenshot of the page."""

from __future__ import annotations

import re

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui


def _open_tab(page, url, tab):
    ui.open_bokeh_page(page, url)
    page.get_by_text(tab, exact=True).first.click()
    page.wait_for_timeout(500)
    ui.wait_until_plot_settles(page)


@pytest.mark.timeout(90)
def test_moving_theta_redraws_the_histogram_and_the_readout(page, dashboard):
    _open_tab(page, dashboard + "/sdr", "Overlap & θ")
    theta = ui.slider(page, "Theta")
    start = ui.slider_value(theta)
    readout = page.get_by_text(re.compile(r"false positive \d")).first
    assert f"θ = {start}" in page.get_by_text(re.compile(r"θ = \d+ \(n=")).first.inner_text()
    before, text_before = ui.plot_pixels(page), readout.inner_text()

    ui.press(theta, page, "ArrowLeft", 6)   # down to where the random-pair bars cross θ
    changed = ui.wait_for_plot_change(page, before, timeout_s=10)
    assert ui.slider_value(theta) == start - 6, "the θ slider did not move"
    assert changed, "the overlap histogram did not change within 10 s of moving θ"
    page.wait_for_function("([el, old]) => el.innerText !== old", arg=[readout.element_handle(), text_before],
                           timeout=10_000)
    assert f"θ = {start - 6}" in page.get_by_text(re.compile(r"θ = \d+ \(n=")).first.inner_text()
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(90)
def test_stepping_a_willshaw_recall_redraws(page, dashboard):
    _open_tab(page, dashboard + "/sdr", "Willshaw net")
    step = ui.slider(page, "Step")
    assert ui.slider_value(step) == 0
    text = page.get_by_text(re.compile(r"^step 0 of \d+")).first
    assert text.is_visible()
    ui.press(step, page, "ArrowRight", 1)
    page.get_by_text(re.compile(r"^step 1 of \d+")).first.wait_for(timeout=10_000)
    assert ui.slider_value(step) == 1
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(90)
def test_sdr_screenshot(page, dashboard):
    """docs/sdr.png (the overlap tab); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    _open_tab(page, dashboard + "/sdr", "Overlap & θ")
    ui.save_page_screenshot(page, "sdr")
