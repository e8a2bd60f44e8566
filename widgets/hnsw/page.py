"""The "HNSW" dashboard page: an index of the digits, its graph explored and its recall curve."""

from __future__ import annotations

import functools

import panel as pn

from labkit import data as lkdata
from labkit.hnsw import HNSW
from widgets.hnsw.curve import RecallCurve
from widgets.hnsw.graph import GraphExplorer
from widgets.tabs import lazy_tabs


@functools.lru_cache(maxsize=1)
def page_index() -> HNSW:
    """The page's index of the digits train set, built once per process and shared read-only by every
    session (the views search it and read its graph; none adds, deletes or resizes)."""
    ds = lkdata.digits()
    index = HNSW(ds.dim, M=8, ef_construction=100, seed=100)
    index.add(ds.train)
    return index


def hnsw_page():
    """Dashboard page: an HNSW index of the digits train set, explored with the test digits as queries; the
    graph and the recall curve one tab each (each made when first shown)."""
    ds, index = lkdata.digits(), page_index()
    return pn.Column("## HNSW", f"An `HNSW(dim={ds.dim}, M=8, ef_construction=100)` index of the {len(ds.train)} "
                     "digits train vectors; the queries are the test digits. Pick a layer to see its links; step "
                     "through a search to watch the greedy descent and the layer-0 best-first search.",
                     lazy_tabs(("Graph and search", lambda: GraphExplorer(index, queries=ds.test)),
                               ("Recall curve", lambda: RecallCurve(index, ds.train, ds.test))),
                     sizing_mode="stretch_width")
