"""HNSW inspectors and the "HNSW" dashboard page (labkit.hnsw).

    GraphExplorer(index, queries=None)   the graph layer by layer, one search replayed step by step (graph.py)
    RecallCurve(index, train, queries)   recall@k against queries/s per ef, beside hnswlib (curve.py)
    hnsw_page()                          the dashboard page (page.py)

`widgets.inspect` returns GraphExplorer for an HNSW index. This file is the only one that registers
the mechanism's inspectors and page; the modules beside it only define views.
"""

from labkit.hnsw import HNSW
from widgets.hnsw.curve import RecallCurve
from widgets.hnsw.graph import METRIC, PLOT, GraphExplorer, Replay
from widgets.hnsw.page import hnsw_page
from widgets.inspect import register_inspector, register_page

__all__ = ["GraphExplorer", "Replay", "RecallCurve", "hnsw_page", "METRIC", "PLOT"]

register_inspector(HNSW, GraphExplorer)
register_page("hnsw", "HNSW", hnsw_page, "an HNSW graph layer by layer, and a search replayed step by step")
