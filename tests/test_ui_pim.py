"""The PIM page in a real browser: the timeline, roofline and energy plots render with no console errors,
moving the batch slider redraws the roofline, the timeline and the energy readout, choosing a layer and
then bank rows redraws the timeline, and the docs' screenshot of the page."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui

PLOTS = ("pim-timeline", "pim-roofline", "pim-energy")


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


def _pixels(page, css) -> list[str]:
    """PNG data URLs of the canvases inside the element with class `css` (Playwright's CSS pierces the
    shadow roots Bokeh draws in)."""
    return page.locator(f".{css} canvas").evaluate_all("cs => cs.map(c => c.toDataURL('image/png'))")


def _sizes(page, css) -> list[tuple[int, int]]:
    return [tuple(s) for s in page.locator(f".{css} canvas").evaluate_all("cs => cs.map(c => [c.width, c.height])")]


def _wait_for_change(page, css, before, timeout_s=15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)
        if _pixels(page, css) != before:
            return True
    return False


def _slider(page, name):
    title = page.locator(".bk-slider-title", has_text=re.compile(rf"^\s*{name}:"))
    slider = page.locator(".bk-Slider").filter(has=title).filter(visible=True)
    assert slider.count() == 1, f"expected one visible {name!r} slider"
    return slider


def _value(slider) -> int:
    m = re.search(r"(-?\d+)\s*$", slider.locator(".bk-slider-title").inner_text())
    assert m, "no value in the slider title"
    return int(m.group(1))


def _readout_el(page):
    """The energy readout's paragraph ("GPU only: ... µs ... less energy than GPU only")."""
    return page.get_by_text(re.compile(r"less energy than")).first


def _readout(page) -> str:
    return _readout_el(page).inner_text()


@pytest.mark.timeout(120)
def test_the_three_plots_render_without_console_errors(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/pim")
    for css in PLOTS:
        sizes = _sizes(page, css)
        assert any(w > 100 and h > 100 for w, h in sizes), f"no rendered canvas in .{css}: {sizes}"
    assert re.search(r"GPU only: [\d,.]+ µs", _readout(page)) and "faster" in _readout(page)
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(120)
def test_moving_batch_redraws_the_roofline_timeline_and_energy(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/pim")
    batch = _slider(page, "Batch")
    assert _value(batch) == 1
    before = {css: _pixels(page, css) for css in PLOTS}
    text = _readout(page)
    t0 = time.monotonic()
    batch.locator(".noUi-handle").focus()
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => true")
    assert _value(batch) == 8, "the batch slider did not move"
    assert _wait_for_change(page, "pim-roofline", before["pim-roofline"]), "the roofline did not change within 15 s"
    redraw = time.monotonic() - t0
    assert _wait_for_change(page, "pim-timeline", before["pim-timeline"]), "the timeline did not change"
    page.wait_for_function("([el, old]) => el.innerText !== old",
                           arg=[_readout_el(page).element_handle(), text], timeout=15_000)
    assert _readout(page) != text
    print(f"batch 1 -> 8 (7 key presses): roofline redrawn in the browser {redraw:.2f} s after the first press")
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(120)
def test_zooming_to_a_layer_and_its_banks_redraws_the_timeline(page, dashboard):
    ui.open_bokeh_page(page, dashboard + "/pim")
    selects = page.locator("select")
    layer = selects.filter(has=page.locator("option", has_text=re.compile(r"^all$")))
    rows = selects.filter(has=page.locator("option", has_text=re.compile(r"^bank$")))
    assert layer.count() == 1 and rows.count() == 1
    before = _pixels(page, "pim-timeline")
    layer.select_option("3")
    assert _wait_for_change(page, "pim-timeline", before), "choosing layer 3 did not redraw the timeline"
    ui.wait_until_plot_settles(page)
    one_layer = _pixels(page, "pim-timeline")
    rows.select_option("bank")        # simulates layer 3 bank by bank (a new Timeline) and draws channel 0's banks
    assert _wait_for_change(page, "pim-timeline", one_layer), "bank rows did not redraw the timeline"
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(120)
def test_pim_screenshot(page, dashboard):
    """docs/pim.png (the whole page at its defaults); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    ui.open_bokeh_page(page, dashboard + "/pim")
    shot = ui.screenshot_path("screenshots", "pim")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "suspiciously small screenshot"
    if os.environ.get("LABKIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ui.ROOT / "docs" / "pim.png")
