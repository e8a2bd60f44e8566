"""SDR inspectors and the "SDR memory" dashboard page (labkit.sdr).

    BitGrid(a, b=None)                      an SDR's bits on a grid; two overlaid, overlap highlighted
    PairExplorer(n, w, shared)              two SDRs sharing `shared` bits, and how unlikely that is
    OverlapExplorer(n, w, s=None, trials)   random-pair overlaps (Monte Carlo + exact), θ, fp / fn
    UnionCapacity(n, w)                     false matches against a union of M stored SDRs
    WillshawExplorer(memory=None, n, w)     synapse matrix, fill vs theory, recall step by step
    SegmentExplorer(memory, patterns=None)  dendritic segments, an input's overlap with each vs θ
    CodingFieldView(field, inputs=None)     a Sparsey field's Q×K units, stored vs noisy-variant codes

`widgets.inspect` returns BitGrid for an SDR, WillshawExplorer for a WillshawMemory,
SegmentExplorer for a SegmentMemory and CodingFieldView for a CodingField. Modules: bits.py,
overlap.py (OverlapExplorer, UnionCapacity), willshaw.py, segment.py, coding_field.py, page.py (sdr_page).
This file is the only one that registers the mechanism's inspectors and page.
"""

from labkit.sdr import SDR, CodingField, SegmentMemory, WillshawMemory
from widgets.inspect import register_inspector, register_page
from widgets.sdr.bits import BitGrid, PairExplorer, bit_image, bit_states
from widgets.sdr.coding_field import CodingFieldView
from widgets.sdr.overlap import OverlapExplorer, UnionCapacity
from widgets.sdr.page import sdr_page
from widgets.sdr.segment import SegmentExplorer
from widgets.sdr.willshaw import WillshawExplorer

__all__ = ["BitGrid", "PairExplorer", "OverlapExplorer", "UnionCapacity", "WillshawExplorer", "SegmentExplorer",
           "CodingFieldView", "bit_image", "bit_states", "sdr_page"]

register_inspector(SDR, BitGrid)
register_inspector(WillshawMemory, WillshawExplorer)
register_inspector(SegmentMemory, SegmentExplorer)
register_inspector(CodingField, CodingFieldView)
register_page("sdr", "SDR memory", sdr_page,
              "bit grids, overlap and the θ trade-off, unions, a Willshaw net's synapses and recall, "
              "dendritic segments, a Sparsey coding field")
