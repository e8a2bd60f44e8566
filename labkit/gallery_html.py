"""The gallery's notebook pages: an executed notebook as an HTML page that asks no other host for anything.

nbconvert's `lab` template loads require.js and MathJax from cdnjs (and, when a notebook stored widget
state, the ipywidgets renderer from unpkg); the Panel / HoloViews outputs inside a notebook link
Panel's styles (`loading.css`, `listpanel.css`, `theme/default.css`, `native.css`) and
es-module-shims on Panel's CDN even when Panel's scripts are inline. A page of the gallery instead:

- takes MathJax 2.7 from the `jupyter-server-mathjax` package, copied once to `<out>/static/mathjax/`:
  HTML-CSS output with the one web font that package ships (STIX-Web; the classic Notebook's MathJax
  set-up), and its measuring font `MathJax_Blank` as a local() font (MathJax's `url('about:blank')`,
  a font request Chromium refuses with a console error on every page, online or not);
- has no require.js (Bokeh and Panel outputs load without it: they use it only when it is there) and
  no mermaid loader (no labkit notebook draws mermaid diagrams);
- shows an ipywidgets output as a note (a static page cannot run the Python behind a slider) instead
  of loading the widget renderer;
- points every URL of Panel's CDN at the same file of the installed Panel, copied to
  `<out>/static/panel/` (with the files its CSS refers to), and the two CDN URLs Panel's bundle names
  for views labkit does not use (the tabler icon font, MathJax 3 for Panel's LaTeX pane) at an empty
  `data:` URL.

Every path is relative, so the folder works opened from disk (file://) or served from 127.0.0.1, and
can be copied elsewhere whole. Panel is located with importlib (its files are read, it is not imported:
labkit imports no UI package, DESIGN.md rule 1).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

from labkit.atomic import atomic_write

__all__ = ["notebook_html", "install_static", "localize", "STATIC", "MATHJAX_CONFIG", "MATHJAX_URL", "MATHJAX_SETUP"]

STATIC = "static"                                     # beside the pages: <out>/static/{mathjax,panel}/
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"   # the configs jupyter-server-mathjax ships
WIDGET_NOTE = ("<p class='labkit-widget-note'><em>An interactive control (ipywidgets) stood here: it runs "
               "Python, so it works in JupyterLab (<code>make lab</code>), not on this static page.</em></p>")

MATHJAX_URL = f"{STATIC}/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
# MathJax's output: HTML-CSS everywhere (the config would pick native MathML in Chromium, whose styles
# name TeX .otf fonts jupyter-server-mathjax does not ship), with the one web font it ships and a
# local() measuring font
_TEX_OTF = {1: "Caligraphic-Regular", 2: "Caligraphic-Bold", 3: "AMS-Regular", 4: "Script-Regular",
            5: "Fraktur-Regular", 6: "Fraktur-Bold"}   # the NativeMML styles' @font-face rules, by number
MATHJAX_SETUP = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({MMLorHTML: {prefer: "HTML"},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  NativeMML: {styles: {%s}}});
</script>""" % ", ".join(f'"@font-face /*{i}*/": {{src: "local(\'MathJax_{name}\')"}}' for i, name in _TEX_OTF.items())

# nbconvert's lab page less its three network loaders (see the module docstring).
_TEMPLATE_NAME = "labkit_gallery.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
""" + MATHJAX_SETUP + """
{{ super() }}
{%- endblock html_head_js_mathjax -%}
"""

_PANEL_CDN = re.compile(r"https://cdn\.holoviz\.org/panel/[^/\"'\s]+/dist/([^\"'\s)?#\\]+)(\?[^\"'\s)\\]*)?")
_OTHER_CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/(?:@tabler/icons-webfont|mathjax)@[^\"'\s)\\]*")
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it; None when it is not installed."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _mathjax_dir() -> Path:
    pkg = _package_dir("jupyter_server_mathjax")
    if pkg is None or not (pkg / "static" / "MathJax.js").is_file():
        raise RuntimeError("the gallery renders math offline with the `jupyter-server-mathjax` package, which is "
                           "not installed: pip install jupyter-server-mathjax (it is in labkit's [ui] extra)")
    return pkg / "static"


def install_static(out: Path) -> None:
    """Copy MathJax to `<out>/static/mathjax/` unless the same copy is already there (its MathJax.js
    matches byte for byte): a warm gallery does not copy 12 MB again."""
    src, dst = _mathjax_dir(), Path(out) / STATIC / "mathjax"
    if (dst / "MathJax.js").is_file() and (dst / "MathJax.js").read_bytes() == (src / "MathJax.js").read_bytes():
        return
    if dst.exists():
        shutil.rmtree(dst)
    tmp = dst.with_name(".mathjax.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    tmp.rename(dst)   # a half-copied MathJax never stands under the name the pages load


def _copy_panel_file(rel: str, static_panel: Path, dist: Path, seen: set[str]) -> bool:
    """Copy dist/rel (and, for a stylesheet, the local files its url(...) name) under static_panel;
    False when the installed Panel has no such file."""
    if rel in seen:
        return True
    src = (dist / rel).resolve()
    if not src.is_file() or dist.resolve() not in src.parents:
        return False
    seen.add(rel)
    dst = static_panel / rel
    if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    if src.suffix == ".css":
        for ref in _CSS_URL.findall(src.read_text(encoding="utf-8", errors="replace")):
            if not ref.startswith(("data:", "http:", "https:", "#", "/")):
                _copy_panel_file(str(Path(rel).parent / ref.split("?")[0].split("#")[0]).replace("\\", "/"),
                                 static_panel, dist, seen)
    return True


def localize(page: str, out: Path) -> str:
    """`page` with every URL of Panel's CDN pointing at `static/panel/<file>` (the file copied there from
    the installed Panel; an empty data: URL when Panel has no such file), and the tabler-icons and
    MathJax 3 URLs of Panel's bundle at an empty data: URL."""
    panel = _package_dir("panel")
    dist = panel / "dist" if panel is not None else None
    static_panel = Path(out) / STATIC / "panel"
    seen: set[str] = set()

    def local(m: re.Match) -> str:
        rel = m.group(1)   # a path that leads out of Panel's dist is refused by _copy_panel_file
        if dist is not None and _copy_panel_file(rel, static_panel, dist, seen):
            return f"{STATIC}/panel/{rel}"
        return "data:,"
    return _OTHER_CDN.sub("data:,", _PANEL_CDN.sub(local, page))


def _static_outputs(nb) -> None:
    """ipywidgets outputs as a note (a static page cannot run them), no stored widget state, and no
    empty display outputs (Panel leaves some; nbconvert warns that it cannot show them)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if "outputs" not in cell:
            continue
        cell.outputs = [o for o in cell.outputs if not ("data" in o and not o["data"])]
        for output in cell.outputs:
            data = output.get("data")
            if data is not None and _WIDGET_VIEW in data:
                data.pop(_WIDGET_VIEW)
                data["text/html"] = WIDGET_NOTE


def notebook_html(executed: str | Path, out: str | Path | None = None) -> Path:
    """Write `<out>/<executed's name>.html` (out: the executed notebook's folder by default), a page
    that loads only files beside it (see the module docstring); returns its path. `install_static(out)`
    puts MathJax there; Panel's files are copied as the page names them."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter  # lazy: nbconvert comes with labkit's [ui] extra

    executed = Path(executed)
    out = Path(out) if out is not None else executed.parent
    nb = nbformat.read(executed, as_version=4)
    _static_outputs(nb)
    exporter = HTMLExporter(template_name="lab", template_file=_TEMPLATE_NAME,
                            extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
                            mathjax_url=MATHJAX_URL)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    target = out / f"{executed.stem}.html"
    with atomic_write(target, "w") as f:
        f.write(localize(body, out))
    return target
