"""The dashboard served by `labkit serve`: a welcome page and one page per registered mechanism."""

from __future__ import annotations

import panel as pn

import widgets
from labkit import __version__

WELCOME = """
# labkit {version}

A research workbench for **memory in AI systems**: small, fast reference implementations of memory
mechanisms, each with an inspector that shows what is inside.

* the science lives in `labkit` (no UI code), the views in `widgets`;
* tutorials in `notebooks/` are executed by papermill as tests, with parameters;
* every inspector here also works in JupyterLab: `widgets.inspect(obj)`.
"""


def _nav(current: str) -> pn.pane.HTML:
    links = [("welcome", "Welcome")] + [(p.slug, p.title) for p in widgets.pages()]
    html = " · ".join(f"<b>{t}</b>" if s == current else f'<a href="/{s}">{t}</a>' for s, t in links)
    return pn.pane.HTML(f"<nav class='labkit-nav'>{html}</nav>", sizing_mode="stretch_width")


def welcome_page():
    rows = [f"* [{p.title}](/{p.slug}): {p.description}" for p in widgets.pages()]
    from labkit import data as lkdata
    return pn.Column(WELCOME.format(version=__version__), "### Pages", "\n".join(rows) or "*(none yet)*",
                     "### A first look: the digits dataset",
                     widgets.inspect(lkdata.digits()))


def _with_nav(slug, factory):
    def build():
        return pn.Column(_nav(slug), factory(), sizing_mode="stretch_width")
    return build


def routes() -> dict:
    """{url path: page factory} for every page (the welcome page at '/' and '/welcome')."""
    r = {"/": _with_nav("welcome", welcome_page), "/welcome": _with_nav("welcome", welcome_page)}
    for p in widgets.pages():
        r[f"/{p.slug}"] = _with_nav(p.slug, p.factory)
    return r


def serve(address: str = "127.0.0.1", port: int = 5006, show: bool = False, threaded: bool = False, **kw):
    """Serve the dashboard on `address:port` (loopback by default). Returns the server
    (a thread when `threaded=True`)."""
    pn.extension(inline=True)
    import holoviews as hv
    hv.extension("bokeh")
    return pn.serve(routes(), address=address, port=port, show=show, threaded=threaded, title="labkit",
                    websocket_origin=[f"{address}:{port}", f"localhost:{port}"], liveness=True, **kw)
