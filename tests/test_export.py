"""widgets.export: a view as a self-contained offline HTML file, a PNG at a chosen size and scale, and
SVG, drawn by the headless chromium of the browser tests from a file:// URL (nothing served).

The HTML tests read the file; the ones that open it in chromium are marked `ui` (they skip without
chromium, and fail under CI, as every browser test: tests/conftest.py)."""

from __future__ import annotations

import re
import struct

import pytest

import widgets
from labkit import pim
from widgets.export import export

# A reference that would make a browser fetch something from a CDN (not a URL in a licence comment).
CDN = re.compile(r"https?://(cdn\.|unpkg\.com|cdnjs\.|[a-z0-9.-]*jsdelivr\.net|[a-z0-9.-]*holoviz\.org/panel)",
                 re.IGNORECASE)


@pytest.fixture(scope="module")
def timeline():
    return pim.simulate("gpt2", system="aim-like", placement="pim")


@pytest.fixture(scope="module")
def figure_html(timeline, tmp_path_factory):
    return export(timeline, tmp_path_factory.mktemp("export") / "figure.html")


def test_html_is_self_contained(figure_html):
    text = figure_html.read_text(encoding="utf-8")
    assert "<html" in text.lower() and "Bokeh" in text
    assert not sorted(set(m.group(0) for m in CDN.finditer(text))), "the HTML names a CDN"
    assert not re.search(r"<script[^>]+src=[\"']https?://", text), "a script loaded from the network"
    assert not re.search(r"<link[^>]+href=[\"']https?://", text), "a stylesheet loaded from the network"


def test_export_accepts_views_and_objects_and_refuses_the_rest(timeline, tmp_path):
    view = widgets.inspect(timeline)
    assert export(view, tmp_path / "view.html").stat().st_size > 100_000
    with pytest.raises(ValueError, match=r"^path: expected a file name ending in one of \.html, \.png, \.svg"):
        export(timeline, tmp_path / "figure.pdf")
    with pytest.raises(TypeError, match=r"^path: expected a file name"):
        export(timeline, 3)
    with pytest.raises(TypeError, match=r"^view_or_object: expected a Panel component"):
        export(object(), tmp_path / "x.html")
    with pytest.raises(ValueError, match=r"^width: "):
        export(timeline, tmp_path / "x.png", width=10)
    with pytest.raises(ValueError, match=r"^scale: "):
        export(timeline, tmp_path / "x.png", scale=0)
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "figure.pdf").exists()


@pytest.mark.ui
def test_html_opens_offline_and_draws(chromium, figure_html):
    """Every request but the file itself is refused and recorded: none is made, and the plot is drawn."""
    from widgets.export import _IDLE
    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    page, asked, errors = context.new_page(), [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:")):
            return r.continue_()
        asked.append(r.request.url)
        return r.abort()
    try:
        page.route("**/*", route)
        page.goto(figure_html.as_uri(), wait_until="load", timeout=120_000)
        page.evaluate(_IDLE)
        canvases = page.evaluate("""() => { let n = 0;
            const walk = (root) => { for (const e of root.querySelectorAll('*')) {
            if (e.tagName === 'CANVAS' && e.width > 100 && e.height > 100) n++;
            if (e.shadowRoot) walk(e.shadowRoot); } }; walk(document); return n; }""")
    finally:
        context.close()
    assert not asked, f"the exported HTML asked the network for {asked}"
    assert not errors, f"console errors: {errors}"
    assert canvases >= 1


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.ui
def test_png_at_a_chosen_size_and_scale(chromium, timeline, tmp_path):
    out = export(timeline, tmp_path / "figure.png", width=800, height=400, scale=2)
    w, h = _png_size(out.read_bytes())
    assert w == 1600 and h >= 800, (w, h)   # the page may grow downwards, never narrower than asked


@pytest.mark.ui
def test_svg_is_vector_graphics_of_the_plot(chromium, timeline, tmp_path):
    out = export(timeline, tmp_path / "figure.svg")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<svg") and "</svg>" in text and "<path" in text
    assert "time since the step began" in text   # the axis label is drawn as SVG text
