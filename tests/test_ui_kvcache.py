"""The KV cache page in a real browser: moving the bits slider redraws the per-group error maps and the
error / bytes readout, moving the eviction budget redraws the attention difference, and the docs'
screenshot of the page."""

from __future__ import annotations

import re
import time

import pytest
import ui_support as ui

pytestmark = pytest.mark.ui


def _open(page, url, tab=None):
    ui.open_bokeh_page(page, url, timeout_ms=90_000)  # the first visit captures MiniLM (a few seconds)
    if tab:
        page.get_by_text(tab, exact=True).first.click()
        page.wait_for_timeout(500)
        ui.wait_until_plot_settles(page)


@pytest.mark.timeout(150)
def test_moving_bits_redraws_the_error_maps_and_the_readout(page, dashboard):
    _open(page, dashboard + "/kvcache")
    bits = ui.slider(page, "Bits")
    assert ui.slider_value(bits) == 2
    readout = page.get_by_text(re.compile(r"rel\. error K \d")).first
    text_before = readout.inner_text()
    assert "2 bits" in page.get_by_text(re.compile(r"KIVI, \d bits")).first.inner_text()
    k_before, v_before = ui.css_pixels(page, "kv-k-error"), ui.css_pixels(page, "kv-v-error")
    assert k_before and v_before, "the error maps have no canvas"

    t0 = time.monotonic()
    ui.press(bits, page, "ArrowRight", 2)
    assert ui.slider_value(bits) == 4, "the bits slider did not move"
    assert ui.wait_for_css_change(page, "kv-k-error", k_before), "the K error map did not change within 10 s"
    redraw = time.monotonic() - t0
    assert ui.wait_for_css_change(page, "kv-v-error", v_before), "the V error map did not change"
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
    budget = ui.slider(page, "Budget")
    start = ui.slider_value(budget)
    readout = page.get_by_text(re.compile(r"keys kept\)")).first
    assert f"{start} of 512 keys kept" in readout.inner_text()
    before = {c: ui.css_pixels(page, c) for c in ("kv-attn-evicted", "kv-attn-evicted-diff", "kv-attn-quantized")}
    ui.press(budget, page, "ArrowRight", 2)
    assert ui.slider_value(budget) == start + 32
    page.get_by_text(re.compile(rf"{start + 32} of 512 keys kept")).first.wait_for(timeout=10_000)
    assert ui.wait_for_css_change(page, "kv-attn-evicted", before["kv-attn-evicted"]), "the evicted map did not change"
    assert ui.wait_for_css_change(page, "kv-attn-evicted-diff", before["kv-attn-evicted-diff"]), \
        "the evicted − full map did not change"
    assert ui.css_pixels(page, "kv-attn-quantized") == before["kv-attn-quantized"], "the quantized map should stay"
    assert page.console_errors == [], "\n".join(page.console_errors)


@pytest.mark.timeout(150)
def test_kvcache_screenshot(page, dashboard):
    """docs/kvcache.png (the quantization tab); LABKIT_UPDATE_SCREENSHOTS=1 refreshes it."""
    _open(page, dashboard + "/kvcache")
    ui.save_page_screenshot(page, "kvcache")
