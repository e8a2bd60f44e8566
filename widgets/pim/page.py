"""The "PIM" dashboard page: the explorer at its default setting, under an introduction."""

from __future__ import annotations

import panel as pn

from widgets.pim.explorer import PimExplorer

INTRO = """## PIM: processing in memory for LLM decode
Decoding one token reads every weight once and does ~2 ops per byte: far below a GPU's ridge, so the
GPU waits on memory. **PIM** puts MAC units beside the DRAM banks, where the internal bandwidth is an
order of magnitude higher (PIM-GPT, NeuPIMs, AttAcc). Below: one decode step as labkit.pim's roofline
and event model see it. Zoom the timeline to a layer, then to the banks of one channel; wheel-zoom in time.
"""


def pim_page():
    """Dashboard page: the explorer at llama-2-7b, batch 1, 512 tokens, fp16, AttAcc's bank-PIM + H100."""
    return pn.Column(INTRO, PimExplorer(), sizing_mode="stretch_width")
