"""The "SDR memory" dashboard page: every SDR inspector, one tab each, and the demos it shows."""

from __future__ import annotations

import panel as pn

from labkit.sdr import CodingField, SegmentMemory, random_patterns
from widgets.sdr.bits import PairExplorer
from widgets.sdr.coding_field import CodingFieldView
from widgets.sdr.overlap import OverlapExplorer, UnionCapacity
from widgets.sdr.segment import SegmentExplorer
from widgets.sdr.willshaw import WillshawExplorer
from widgets.tabs import lazy_tabs

INTRO = """## SDR memory
Sparse distributed representations: **w = 40** active bits out of **n = 2048**. Two random SDRs share
almost nothing, so a few shared bits are strong evidence — the basis of matching by overlap, of unions,
of dendritic segments and of associative memories (Ahmad & Hawkins 2015, 2016; Willshaw 1969; Rinkus 2014).
"""


def segment_demo(n: int = 2048, w: int = 40, s: int = 20, theta: int = 10, m: int = 40, seed: int = 0):
    """A SegmentMemory of m random patterns (one segment each) and its explorer."""
    pats = random_patterns(n, w, m, seed)
    mem = SegmentMemory(n, w, s, theta, seed=seed)
    mem.store_batch(pats)
    return SegmentExplorer(mem, patterns=pats, v=10)


def coding_demo(Q: int = 16, K: int = 16, n_inputs: int = 1024, w: int = 40, m: int = 40, seed: int = 0):
    """A CodingField holding m random w-bit inputs and its view, cueing item 0 with a quarter of its
    bits moved."""
    view = CodingFieldView(CodingField(Q, K, n_inputs, seed=seed), w=w, n_store=m, seed=seed)
    view.store_more()
    view.v = w // 4
    return view


def sdr_page():
    """Dashboard page: every SDR inspector, one tab each (each made when first shown), at n = 2048, w = 40
    where it fits."""
    tabs = lazy_tabs(
        ("Bits", lambda: PairExplorer(n=2048, w=40, shared=10)),
        ("Overlap & θ", lambda: OverlapExplorer(n=2048, w=40, s=24, theta=10, v=16)),
        ("Unions", lambda: UnionCapacity(n=2048, w=40)),
        ("Willshaw net", lambda: WillshawExplorer(n=256, w=8, n_store=200, removed=4)),
        ("Segments", segment_demo),
        ("Coding field", coding_demo))
    return pn.Column(INTRO, tabs, sizing_mode="stretch_width")

