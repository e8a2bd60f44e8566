"""SDR inspectors and the "SDR memory" dashboard page (labkit.sdr).

    BitGrid(a, b=None)                      an SDR's bits on a grid; two overlaid, overlap highlighted
    PairExplorer(n, w, shared)              two SDRs sharing `shared` bits, and how unlikely that is
    OverlapExplorer(n, w, s=None, trials)   random-pair overlaps (Monte Carlo + exact), θ, fp / fn
    UnionCapacity(n, w)                     false matches against a union of M stored SDRs
    WillshawExplorer(memory=None, n, w)     synapse matrix, fill vs theory, recall step by step
    SegmentExplorer(memory, patterns=None)  dendritic segments, an input's overlap with each vs θ
    CodingFieldView(field, inputs=None)     a Sparsey field's Q×K units, stored vs noisy-variant codes

`widgets.inspect` returns BitGrid for an SDR, WillshawExplorer for a WillshawMemory,
SegmentExplorer for a SegmentMemory and CodingFieldView for a CodingField.
"""

from __future__ import annotations

import panel as pn

from labkit.sdr import CodingField, SegmentMemory, random_patterns
from widgets.inspect import register_page
from widgets.sdr_bits import BitGrid, PairExplorer, bit_image, bit_states
from widgets.sdr_coding import CodingFieldView
from widgets.sdr_overlap import OverlapExplorer, UnionCapacity
from widgets.sdr_segment import SegmentExplorer
from widgets.sdr_willshaw import WillshawExplorer

__all__ = ["BitGrid", "PairExplorer", "OverlapExplorer", "UnionCapacity", "WillshawExplorer", "SegmentExplorer",
           "CodingFieldView", "bit_image", "bit_states", "sdr_page"]

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
    """Dashboard page: every SDR inspector, one tab each, at n = 2048, w = 40 where it fits."""
    tabs = pn.Tabs(
        ("Bits", PairExplorer(n=2048, w=40, shared=10)),
        ("Overlap & θ", OverlapExplorer(n=2048, w=40, s=24, theta=10, v=16)),
        ("Unions", UnionCapacity(n=2048, w=40)),
        ("Willshaw net", WillshawExplorer(n=256, w=8, n_store=200, removed=4)),
        ("Segments", segment_demo()),
        ("Coding field", coding_demo()),
        dynamic=True, sizing_mode="stretch_width")
    return pn.Column(INTRO, tabs, sizing_mode="stretch_width")


register_page("sdr", "SDR memory", sdr_page,
              "bit grids, overlap and the θ trade-off, unions, a Willshaw net's synapses and recall, "
              "dendritic segments, a Sparsey coding field")
