"""`export(view_or_object, path)`: a view as a file for a paper or a lesson, made on this machine only.

    export(view, "figure.html")                   self-contained HTML: every script and style inline, no
                                                  request leaves the file; zoom, pan and hover work offline
    export(view, "figure.html", embed=True)       ... and the widgets too, for the states Panel can embed
    export(view, "figure.png", width=900, height=600, scale=2)    a static figure, 1800 x 1200 pixels
    export(view, "figure.svg")                    the figure's plots as vector graphics (Bokeh's SVG export)

`view_or_object`: a Panel component or Viewer (an inspector, a dashboard page), a HoloViews element, a
Bokeh model, or any object `widgets.inspect` knows (its inspector is exported). PNG and SVG are drawn
by the headless chromium the browser tests use (`chromium` on PATH, driven by Playwright), loading
the exported HTML from a file:// URL with every other request refused: nothing is served on the
network. Files are written atomically (labkit.atomic).
"""

from __future__ import annotations

import base64
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import panel as pn
from bokeh.model import Model
from bokeh.models import UIElement
from bokeh.resources import INLINE
from panel.io.notebook import patch_inline_stylesheets
from panel.viewable import Viewable

from labkit.atomic import atomic_write
from labkit.validate import check_bool, check_float, check_int, check_str, fail

__all__ = ["export", "FORMATS", "CHROMIUM_ARGS"]

FORMATS = (".html", ".png", ".svg")
# Debian chromium, possibly as root, offline: no sandbox, no GPU, no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]

# Resolves once every Bokeh document of the page is idle (laid out and painted).
_IDLE = """() => new Promise((resolve) => {
  const wait = () => {
    if (!window.Bokeh || !Bokeh.documents || !Bokeh.documents.length) { setTimeout(wait, 50); return; }
    const docs = Bokeh.documents.filter((d) => !d.is_idle);
    if (!docs.length) { resolve(true); return; }
    docs[0].idle.connect(() => setTimeout(wait, 0));
  };
  wait();
})"""

# Every plot view of the page (depth first through the layouts), as serialized SVG.
_SVG = r"""() => {
  const out = [];
  const visit = (view) => {
    const type = view.model ? String(view.model.type) : '';
    if (typeof view.export === 'function' && /(^|\.)(Plot|Figure|GMapPlot)$/.test(type)) {
      out.push(view.export('svg').ctx.get_serialized_svg(true));
      return;
    }
    for (const child of (view.child_views || [])) visit(child);
  };
  for (const view of Bokeh.index) visit(view);
  return out;
}"""


def _viewable(obj):
    """A Panel viewable for `obj` (a labkit object through widgets.inspect)."""
    if isinstance(obj, (pn.viewable.Viewable, pn.viewable.Viewer, Model)):
        return obj
    try:
        import holoviews as hv
        if isinstance(obj, hv.core.Dimensioned):
            return pn.pane.HoloViews(obj)
    except ImportError:  # pragma: no cover - holoviews is a dependency of widgets
        pass
    from widgets.inspect import inspect
    try:
        return inspect(obj)
    except TypeError:
        raise TypeError(f"view_or_object: expected a Panel component, a HoloViews element, a Bokeh model or "
                        f"an object widgets.inspect knows, got {type(obj).__module__}.{type(obj).__qualname__}"
                        ) from None


_PANEL_CDN = re.compile(r"https://cdn\.holoviz\.org/panel/[^/]+/dist/([^\"'\s)?\\]+)(\?[^\"'\s)\\]*)?")
_OTHER_CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/[^\"'\s)\\]+")
_MIME = {".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".ico": "image/x-icon",
         ".svg": "image/svg+xml", ".woff2": "font/woff2", ".woff": "font/woff"}


def inline_cdn(page_html: str) -> str:
    """`page_html` with every URL of Panel's CDN replaced by the file itself from the installed Panel
    (a data: URL: Panel's "inline" resources still link its theme, loading and list styles and its
    icons there), and the other CDN URLs Panel's bundle names (the tabler icon font, MathJax, loaded
    only when a view uses them) by an empty data: URL, so that opening the file asks no host for
    anything."""
    dist = Path(pn.__file__).parent / "dist"

    def local(m: re.Match) -> str:
        f = dist / m.group(1)
        if not f.is_file():
            return "data:,"
        mime = _MIME.get(f.suffix, "application/octet-stream")
        return f"data:{mime};base64,{base64.b64encode(f.read_bytes()).decode('ascii')}"
    return _OTHER_CDN.sub("data:,", _PANEL_CDN.sub(local, page_html))


def inline_stylesheets(viewable, root) -> None:
    """Panel preprocessing hook, registered when widgets is imported: with Panel inline
    (`pn.extension(inline=True)` or PANEL_INLINE=1) and no server session (a notebook, a saved file),
    every stylesheet of the `root` model tree that is imported from Panel's CDN becomes the installed
    file's text (panel.io.notebook.patch_inline_stylesheets; other stylesheets are left as they are).

    Panel 1.9 inlines these only when it renders an output itself (`Viewable._repr_mimebundle_`).
    HoloViews' notebook renderer (holoviews/plotting/renderer.py, `Renderer._render_panel`, 1.23)
    builds the same Panel layout without that step, so every HoloViews plot in a notebook asked
    cdn.holoviz.org for Panel's theme, list and loading styles (and drew unstyled offline). Served
    pages are left alone: `labkit serve` points them at its own /static (widgets/app.py)."""
    if not pn.config.inline:
        return
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        return
    for model in root.select({"type": UIElement}):
        patch_inline_stylesheets(model)


if inline_stylesheets not in Viewable._preprocessing_hooks:
    Viewable._preprocessing_hooks.append(inline_stylesheets)


def html(view_or_object, title: str = "labkit figure", embed: bool = False) -> str:
    """The self-contained HTML of a view (what export writes for ".html"): inline resources, no CDN."""
    import io
    buf = io.StringIO()
    pn.extension(inline=True)
    viewable = _viewable(view_or_object)
    if isinstance(viewable, Model):
        from bokeh.embed import file_html
        return inline_cdn(file_html(viewable, resources=INLINE, title=title))
    pn.panel(viewable).save(buf, title=title, resources=INLINE, embed=embed, progress=False)
    return inline_cdn(buf.getvalue())


def _browser_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("export: PNG and SVG are drawn by headless chromium, which is not on PATH; install it "
                           "(apt-get install chromium) or export to .html")
    return path


def _render(page_html: str, width: int, height: int, scale: float, fmt: str, timeout_s: float):
    """Load `page_html` from a file:// URL in headless chromium (every other request refused) and
    return the PNG bytes of the page, or the list of its plots' SVG documents."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise RuntimeError("export: PNG and SVG need playwright (pip install playwright); "
                           "or export to .html") from e
    with tempfile.TemporaryDirectory(prefix="labkit-export-") as tmp:
        src = Path(tmp) / "figure.html"
        src.write_text(page_html, encoding="utf-8")
        refused: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_browser_path(), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=scale)

                def route(r):
                    if r.request.url.startswith(("file:", "data:", "blob:")):
                        return r.continue_()
                    refused.append(r.request.url)
                    return r.abort()
                page.route("**/*", route)
                page.goto(src.as_uri(), wait_until="load", timeout=timeout_s * 1000)
                page.evaluate(_IDLE)
                page.wait_for_function("() => document.fonts === undefined || document.fonts.status === 'loaded'",
                                       timeout=timeout_s * 1000)
                if fmt == ".svg":
                    return page.evaluate(_SVG)
                return page.screenshot(full_page=True, type="png", timeout=timeout_s * 1000)
            finally:
                browser.close()


def export(view_or_object, path, width: int = 1000, height: int = 700, scale: float = 1.0,
           title: str = "labkit figure", embed: bool = False, timeout_s: float = 120.0) -> Path:
    """Write `view_or_object` to `path`; the format follows its suffix (FORMATS). Returns the path.

    .html  self-contained and offline (Bokeh's and Panel's scripts and styles inline, INLINE resources);
           `embed=True` also embeds the widgets' states (Panel's embed: every combination of up to
           three options per widget, so only for small views), else the plots stay interactive
           (zoom, pan, hover) and the widgets show their settings.
    .png   the page at a `width` x `height` viewport (px; the page grows downwards to fit), at
           `scale` device pixels per px (2 for print).
    .svg   every plot of the view as SVG (Bokeh's SVG export in the browser); a view with several
           plots writes path, then path with -2, -3, ... before the suffix. Widgets are not drawn.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path: expected a file name (str or pathlib.Path), got {type(path).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise fail("path", f"a file name ending in one of {', '.join(FORMATS)}", str(path))
    width, height = check_int("width", width, 100, 10_000), check_int("height", height, 100, 10_000)
    scale = check_float("scale", scale, 0.25, 8.0)
    title, embed = check_str("title", title), check_bool("embed", embed)
    timeout_s = check_float("timeout_s", timeout_s, 1.0)
    page_html = html(view_or_object, title=title, embed=embed)
    if suffix == ".html":
        with atomic_write(path, "w") as f:
            f.write(page_html)
        return path
    # in a thread of its own: Playwright's sync API refuses to run where an asyncio loop is running
    # (a Jupyter kernel, a Panel server callback, another Playwright session)
    with ThreadPoolExecutor(1) as pool:
        out = pool.submit(_render, page_html, width, height, scale, suffix, timeout_s).result()
    if suffix == ".png":
        with atomic_write(path, "wb") as f:
            f.write(out)
        return path
    if not out:
        raise fail("view_or_object", "a view with at least one plot to export as SVG", "none", described=True)
    for i, svg in enumerate(out):
        target = path if i == 0 else path.with_name(f"{path.stem}-{i + 1}{path.suffix}")
        with atomic_write(target, "w") as f:
            f.write(svg)
    return path
