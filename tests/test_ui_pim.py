"""The PIM page in a real browser: the timeline, roofline and energy plots render with no console errors,
moving the batch slider redraws the roofline, the timeline and the energy readout, choosing a layer and
then bank rows redraws the timeline, and the docs' screenshot of the page."""

from __future__ import annotations

import re
import time

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui

PLOTS = ("pim-timeline", "pim-roofline", "pim-energy")


def _readout_el(page):
    """The energy readout's paragraph ("GPU only: ... µs ... less energy than GPU only"; "more energy"
    when PIM costs more, as at larger batches)."""
    return page.get_by_text(re.compile(r"(less|more) energy than")).first


def _readout(page) -> str:
    return _readout_el(page).inner_text()


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_the_three_plots_render_without_console_errors(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/pim")
    for css in PLOTS:
        ui.wait_until(page, lambda css=css: any(w > 100 and h > 100 for w, h in ui.css_canvas_sizes(page, css)),
                      f"a rendered canvas in .{css}", seen=lambda css=css: ui.css_canvas_sizes(page, css))
    assert re.search(r"GPU only: [\d,.]+ µs", _readout(page)) and "faster" in _readout(page)
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_moving_batch_redraws_the_roofline_timeline_and_energy(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/pim")
    batch = ui.slider(page, "Batch")
    assert ui.slider_value(batch) == 1
    before = {css: ui.wait_until_css_settles(page, css) for css in PLOTS}
    text = _readout(page)
    t0 = time.monotonic()
    ui.press(batch, page, "ArrowRight", 7)
    ui.wait_for_slider_value(page, batch, 8)
    assert ui.wait_for_css_change(page, "pim-roofline", before["pim-roofline"]), \
        f"the roofline did not change within {ui.WAIT_S:g} s"
    redraw = time.monotonic() - t0
    assert ui.wait_for_css_change(page, "pim-timeline", before["pim-timeline"]), \
        f"the timeline did not change within {ui.WAIT_S:g} s"
    ui.wait_for_text_change(page, _readout_el(page), text, "the energy readout")
    # information only, never asserted (speed is measured in benchmarks/pim.py)
    print(f"batch 1 -> 8 (7 key presses): roofline redrawn in the browser {redraw:.2f} s after the first press")
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_zooming_to_a_layer_and_its_banks_redraws_the_timeline(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/pim")
    selects = page.locator("select")
    layer = selects.filter(has=page.locator("option", has_text=re.compile(r"^all$")))
    rows = selects.filter(has=page.locator("option", has_text=re.compile(r"^bank$")))
    ui.wait_until(page, lambda: layer.count() == 1 and rows.count() == 1, "one layer and one rows <select>",
                  seen=lambda: f"{layer.count()} layer and {rows.count()} rows selects")
    before = ui.wait_until_css_settles(page, "pim-timeline")
    layer.select_option("3")
    assert ui.wait_for_css_change(page, "pim-timeline", before), \
        f"choosing layer 3 did not redraw the timeline within {ui.WAIT_S:g} s"
    one_layer = ui.wait_until_css_settles(page, "pim-timeline")
    rows.select_option("bank")        # simulates layer 3 bank by bank (a new Timeline) and draws channel 0's banks
    assert ui.wait_for_css_change(page, "pim-timeline", one_layer), \
        f"bank rows did not redraw the timeline within {ui.WAIT_S:g} s"
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(ui.TEST_TIMEOUT_S)
def test_pim_screenshot(page, dashboard):
    """docs/pim.png (the whole page at its defaults); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    ui.open_bokeh_page(page, dashboard + "/pim")
    ui.save_page_screenshot(page, "pim")
