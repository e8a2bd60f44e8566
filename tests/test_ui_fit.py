"""Every dashboard page fits a laptop screen (1280 x 800): no sideways scrolling, every control inside
the viewport's width and not covered by a neighbour (the KV attention tab's Method and Policy
dropdowns were cut off by the plot column), on every tab; and serving the pages logs no Bokeh
validation warning (FIXED_SIZING_MODE and the like).

Waits are for a state (the page's websocket open and its plot drawn and settled, a tab's widgets
laid out), each bounded by ui_support.WAIT_S.
"""

from __future__ import annotations

import logging
import re

import pytest
import ui_support as ui

import widgets

pytestmark = pytest.mark.ui

LAPTOP = {"width": 1280, "height": 800}
OPEN_MS = 300_000  # the KV page captures MiniLM's attention on its first visit: minutes on a loaded box
SLUGS = ["welcome", *(p.slug for p in widgets.pages())]

# Every input control of the page (Bokeh draws them in shadow roots): its box, whether the point just
# inside its right edge is the control itself (not a neighbour drawn over it), and its label.
_CONTROLS = """() => {
  const sel = 'input, select, textarea, button, .noUi-target';
  const found = [];
  const walk = (root) => { for (const e of root.querySelectorAll('*')) {
      if (e.matches(sel)) found.push(e);
      if (e.shadowRoot) walk(e.shadowRoot); } };
  walk(document);
  const deep = (x, y) => { let el = document.elementFromPoint(x, y);
      while (el && el.shadowRoot) { const inner = el.shadowRoot.elementFromPoint(x, y);
          if (!inner || inner === el) break; el = inner; }
      return el; };
  const inside = (el, w) => { for (let n = el; n; n = n.parentNode || n.host) { if (n === w) return true; }
      return false; };
  const out = [];
  for (const w of found) {
    let r = w.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;          // not laid out (another tab, collapsed)
    if (w.checkVisibility && !w.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    w.scrollIntoView({block: 'center', inline: 'nearest'});
    r = w.getBoundingClientRect();
    const y = r.top + r.height / 2, x = Math.min(r.right - 2, window.innerWidth - 1);
    const hit = deep(x, y);
    const host = w.getRootNode().host;          // the Bokeh widget drawing this input (a spinner's arrows too)
    const widget = host || w;
    const label = (w.getAttribute('aria-label') || w.title || w.name || w.value || w.textContent || '')
        .toString().trim().slice(0, 40) + ' in ' + (host ? host.className || host.tagName : 'document');
    out.push({label, left: r.left, right: r.right, covered: !(hit && (inside(hit, widget) || inside(w, hit)))});
  }
  window.scrollTo(0, 0);
  return out;
}"""


# What the page has laid out: its width and every visible canvas's box; '' while a loading spinner
# shows (a deferred tab still computing). Read until it stops changing: a tab's content is drawn after
# its click, and the previous tab's plots may still be laid out meanwhile.
_LAYOUT = """() => { const out = [document.documentElement.scrollWidth]; let busy = false;
    const walk = (root) => { for (const e of root.querySelectorAll('*')) {
        const c = (e.className || '').toString();
        if (c.includes('LoadingSpinner') || c.includes('pn-loading'))
            busy = busy || e.getBoundingClientRect().width > 0;
        if (e.tagName === 'CANVAS' && e.getBoundingClientRect().width > 0) {
            const r = e.getBoundingClientRect(); out.push([Math.round(r.left), Math.round(r.width)]); }
        if (e.shadowRoot) walk(e.shadowRoot); } };
    walk(document); return busy ? '' : JSON.stringify(out); }"""


def _wait_until_laid_out(page) -> None:
    ui._settle(page, lambda: page.evaluate(_LAYOUT), "the page's layout", OPEN_MS / 1000, 500, 3)


def _each_tab(page):
    """Click every tab of the page once, nested tabs included (the reservoir explorer's figures sit in tabs
    inside the page's first tab), yielding each tab's name after its click. A tab is clicked while its
    header shows: the last unvisited header on the page first, so a tab's inner tabs (later in the page)
    come before the tabs beside it, which would hide them."""
    seen = {t.strip() for t in page.locator(".bk-tab.bk-active").all_inner_texts()}
    while True:
        fresh = [t for t in page.locator(".bk-tab").all() if t.is_visible() and t.inner_text().strip() not in seen]
        if not fresh:
            return
        name = fresh[-1].inner_text().strip()
        seen.add(name)
        fresh[-1].click()
        yield name


def _problems(page, where: str) -> list[str]:
    width = page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    out = [] if width <= LAPTOP["width"] else [f"{where}: the page is {width} px wide (sideways scrolling)"]
    for c in page.evaluate(_CONTROLS):
        if c["left"] < 0 or c["right"] > LAPTOP["width"]:
            out.append(f"{where}: control {c['label']!r} spans x {c['left']:.0f}..{c['right']:.0f}, outside the "
                       f"{LAPTOP['width']} px viewport")
        elif c["covered"]:
            out.append(f"{where}: control {c['label']!r} is covered at its right edge by something else")
    return out


@pytest.mark.parametrize("slug", SLUGS)
def test_page_fits_a_laptop_screen(page, dashboard, slug):
    page.set_viewport_size(LAPTOP)
    ui.open_bokeh_page(page, f"{dashboard}/{slug}", timeout_ms=OPEN_MS)
    _wait_until_laid_out(page)
    found = _problems(page, slug)
    for name in _each_tab(page):
        ui.wait_until(page, lambda n=name: page.locator(".bk-tab.bk-active", has_text=n).count() > 0,
                      f"the {name!r} tab to be active")
        _wait_until_laid_out(page)
        found += _problems(page, f"{slug} / {name}")
    assert not found, "\n".join(found)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_serving_every_page_logs_no_bokeh_validation_warning(page, dashboard):
    """Bokeh checks every document it serves (bokeh.core.validation) and logs W-xxxx / E-xxxx lines."""
    handler, log = _Records(), logging.getLogger("bokeh")
    log.addHandler(handler)
    try:
        for slug in SLUGS:
            page.set_viewport_size(LAPTOP)
            ui.open_bokeh_page(page, f"{dashboard}/{slug}", timeout_ms=OPEN_MS)
            for _name in _each_tab(page):
                ui.wait_until_plot_settles(page)
    finally:
        log.removeHandler(handler)
    warnings = sorted({h.getMessage()[:200] for h in handler.records
                       if re.search(r"\b[WE]-\d{4}", h.getMessage())})
    assert not warnings, f"{len(warnings)} Bokeh validation warnings:\n" + "\n".join(warnings)
