"""labkit's views: Panel inspectors and dashboard pages, built only from labkit's public API.

    >>> import widgets
    >>> widgets.inspect(obj)        # the inspector for any registered labkit object
    >>> widgets.export(obj, "figure.html")   # ... as an offline HTML file (or .png / .svg, widgets/export.py)

Layout: `widgets/<mechanism>/` mirrors `labkit/<mechanism>/`. Its modules are named by concept
(`pim/timeline.py`, `hnsw/graph.py`, ...) and only define views; `page.py` builds the dashboard page;
its `__init__.py` re-exports the public views and is the one place that calls `register_inspector` and
`register_page` for the mechanism. Machinery shared by every mechanism lives in `widgets/views.py` and
`widgets/tabs.py` (tabs whose views are made when first shown).
`data.py` (datasets), `inspect.py` (the registry), `export.py` (views to files), `app.py` (the
dashboard) and `workers.py` (the dashboard served from several processes) are not mechanisms.
"""

# The datasets, then one package per mechanism: importing each registers its inspectors and its
# dashboard page (the dashboard lists the pages in this order).
from widgets import data, hnsw, kvcache, pim, reservoir, sdr, spiking  # noqa: F401
from widgets.export import export
from widgets.inspect import inspect, pages, register_inspector, register_page, supported_types

__all__ = ["export", "inspect", "pages", "register_inspector", "register_page", "supported_types"]
