"""lazy_tabs: tabs whose views are made when first shown, so a dashboard session builds its page's first
view only (DESIGN.md, "A dashboard page builds its first view only")."""

from __future__ import annotations

from typing import Any, Callable

import panel as pn

__all__ = ["lazy_tabs"]


def lazy_tabs(*tabs: tuple[str, Callable[[], Any]], **kw) -> pn.Tabs:
    """Tabs (title, make) whose views are made when first shown: `make()` runs when its tab is first
    rendered, and a tab not shown yet has no Panel objects and no Bokeh models.

    A dashboard session builds its page's first view only: Panel's `Tabs(dynamic=True)` defers a hidden
    tab's Bokeh models but not its Panel objects, which cost as much again (the SDR page's six tabs:
    0.27 s of page objects for a 0.13 s first view). Under a burst of visitors that is the server's
    whole cost (issue 14: 20 sessions at once on 2 cores)."""
    for i, tab in enumerate(tabs):
        if not (isinstance(tab, tuple) and len(tab) == 2 and isinstance(tab[0], str) and callable(tab[1])):
            raise TypeError(f"tabs[{i}]: expected a (title, callable) pair, got {tab!r}")
    kw.setdefault("sizing_mode", "stretch_width")

    def deferred(make):  # a plain function for ParamFunction (which refuses a class)
        return lambda: make()
    return pn.Tabs(*((title, pn.param.ParamFunction(deferred(make), lazy=True, sizing_mode=kw["sizing_mode"]))
                     for title, make in tabs), dynamic=True, **kw)
