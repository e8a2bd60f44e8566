"""The KV cache page in a real browser: moving the bits slider redraws the per-group error maps and the
error / bytes readout, moving the eviction budget redraws the attention difference, and the docs'
screenshot of the page."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def dashboard():
    """`widgets.app.serve` in this process (a thread), on a free loopback port; torch on one thread (see
    tests/test_widgets_kvcache.py: its OpenMP pool spins on a shared 2-core machine)."""
    import torch

    from widgets.app import serve
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    port = ui.free_port()
    server = serve(address="127.0.0.1", port=port, threaded=True)
    try:
        ui.wait_for_url(f"http://127.0.0.1:{port}/liveness", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        torch.set_num_threads(threads)


def _open(page, url, tab=None):
    ui.open_bokeh_page(page, url, timeout_ms=90_000)  # the first visit captures MiniLM (a few seconds)
    if tab:
        page.get_by_text(tab, exact=True).first.click()
        page.wait_for_timeout(500)
        ui.wait_until_plot_settles(page)


def _slider(page, name):
    title = page.locator(".bk-slider-title", has_text=re.compile(rf"^\s*{name}:"))
    slider = page.locator(".bk-Slider").filter(has=title).filter(visible=True)
    assert slider.count() == 1, f"expected one visible {name!r} slider"
    return slider


def _value(slider) -> int:
    m = re.search(r"(-?\d+)\s*$", slider.locator(".bk-slider-title").inner_text())
    assert m, "no value in the slider title"
    return int(m.group(1))


def _press(slider, page, key, times):
    slider.locator(".noUi-handle").focus()
    for _ in range(times):
        page.keyboard.press(key)
    page.wait_for_function("() => true")


def _pixels(page, css) -> list[str]:
    """PNG data URLs of the canvases inside the element with class `css` (Playwright's CSS pierces the
    shadow roots Bokeh draws in)."""
    return page.locator(f".{css} canvas").evaluate_all("cs => cs.map(c => c.toDataURL('image/png'))")


def _wait_for_change(page, css, before, timeout_s=10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)
        if _pixels(page, css) != before:
            return True
    return False


@pytest.mark.timeout(150)
def test_moving_bits_redraws_the_error_maps_and_the_readout(page, dashboard):
    _open(page, dashboard + "/kvcache")
    bits = _slider(page, "Bits")
    assert _value(bits) == 2
    readout = page.get_by_text(re.compile(r"rel\. error K \d")).first
    text_before = readout.inner_text()
    assert "2 bits" in page.get_by_text(re.compile(r"KIVI, \d bits")).first.inner_text()
    k_before, v_before = _pixels(page, "kv-k-error"), _pixels(page, "kv-v-error")
    assert k_before and v_before, "the error maps have no canvas"

    t0 = time.monotonic()
    _press(bits, page, "ArrowRight", 2)
    assert _value(bits) == 4, "the bits slider did not move"
    assert _wait_for_change(page, "kv-k-error", k_before), "the K error map did not change within 10 s"
    redraw = time.monotonic() - t0
    assert _wait_for_change(page, "kv-v-error", v_before), "the V error map did not change"
    page.wait_for_function("([el, old]) => el.innerText !== old", arg=[readout.element_handle(), text_before],
                           timeout=10_000)
    assert "4 bits" in page.get_by_text(re.compile(r"KIVI, \d bits")).first.inner_text()
    after = readout.inner_text()
    err = lambda s: float(re.search(r"rel\. error K (\d\.\d+)", s).group(1))  # noqa: E731
    assert err(after) < err(text_before), f"4 bits should err less than 2: {text_before!r} -> {after!r}"
    assert "B/token" in after
    print(f"bits 2 -> 4: error map redrawn in the browser {redraw:.2f} s after the key presses")
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(150)
def test_moving_the_budget_redraws_the_evicted_attention(page, dashboard):
    _open(page, dashboard + "/kvcache", "Attention maps")
    budget = _slider(page, "Budget")
    start = _value(budget)
    readout = page.get_by_text(re.compile(r"keys kept\)")).first
    assert f"{start} of 512 keys kept" in readout.inner_text()
    before = {c: _pixels(page, c) for c in ("kv-attn-evicted", "kv-attn-evicted-diff", "kv-attn-quantized")}
    _press(budget, page, "ArrowRight", 2)
    assert _value(budget) == start + 32
    page.get_by_text(re.compile(rf"{start + 32} of 512 keys kept")).first.wait_for(timeout=10_000)
    assert _wait_for_change(page, "kv-attn-evicted", before["kv-attn-evicted"]), "the evicted map did not change"
    assert _wait_for_change(page, "kv-attn-evicted-diff", before["kv-attn-evicted-diff"]), \
        "the evicted − full map did not change"
    assert _pixels(page, "kv-attn-quantized") == before["kv-attn-quantized"], "the quantized map should stay"
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(150)
def test_kvcache_screenshot(page, dashboard):
    """docs/kvcache.png (the quantization tab); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    _open(page, dashboard + "/kvcache")
    shot = ui.screenshot_path("screenshots", "kvcache")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "suspiciously small screenshot"
    if os.environ.get("LABKIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ui.ROOT / "docs" / "kvcache.png")
