"""The "HNSW" dashboard page: an index of the digits, its graph explored and its recall curve."""

from __future__ import annotations

import panel as pn

from labkit import data as lkdata
from labkit.hnsw import HNSW
from widgets.hnsw.curve import RecallCurve
from widgets.hnsw.graph import GraphExplorer


def hnsw_page():
    """Dashboard page: an HNSW index of the digits train set, explored with the test digits as queries."""
    ds = lkdata.digits()
    index = HNSW(ds.dim, M=8, ef_construction=100, seed=100)
    index.add(ds.train)
    return pn.Column("## HNSW", f"An `HNSW(dim={ds.dim}, M=8, ef_construction=100)` index of the {len(ds.train)} "
                     "digits train vectors; the queries are the test digits. Pick a layer to see its links; step "
                     "through a search to watch the greedy descent and the layer-0 best-first search.",
                     GraphExplorer(index, queries=ds.test), RecallCurve(index, ds.train, ds.test))
