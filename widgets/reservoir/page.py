"""The "Reservoir computing" dashboard page: the ESN explorer and a small liquid state machine."""

from __future__ import annotations

import functools

import panel as pn

from labkit import reservoir as rc
from widgets.reservoir.explorer import ReservoirExplorer
from widgets.reservoir.liquid import LSMView
from widgets.tabs import lazy_tabs
from widgets.views import Memo

ESN_TEXT = ("**Echo state network.** reservoirpy's tutorial reservoir (100 units, sr 1.25, lr 0.3) on Mackey-Glass: "
            "its states under the input, their PCA trajectory, W's eigenvalues with the spectral-radius circle, "
            "the memory-capacity curve (sum MC_k <= N), closed-loop generation with its divergence horizon, and the "
            "excitatory / inhibitory input per unit. Only the readout is trained.")
LSM_TEXT = ("**Liquid state machine.** 200 LIF neurons (20% inhibitory) driven by the same series, read out from "
            "their filtered spike trains.")


@functools.lru_cache(maxsize=1)
def page_lsm() -> rc.LSM:
    """The page's LSM, fitted once per process and shared read-only by every session (LSMView reads its
    snapshot, never runs it)."""
    X = rc.mackey_glass(400, tau=17)
    X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
    return rc.LSM(units=200, seed=0).fit(X[:-10], X[10:], warmup=50)


@functools.lru_cache(maxsize=1)
def page_memo() -> Memo:
    """The ESN explorers' results (reservoir, generation, memory capacity per setting), computed once per
    process and shared read-only by every session: a visitor who opens the page, or moves a slider to
    a setting another has seen, does not run the reservoir again."""
    return Memo(16)


def reservoir_page():
    """Dashboard page: reservoirpy's tutorial ESN on Mackey-Glass under sliders, and an LSM's liquid, one tab
    each (each made when first shown)."""
    return pn.Column(
        "## Reservoir computing",
        lazy_tabs(("Echo state network", lambda: pn.Column(ESN_TEXT, ReservoirExplorer(memo=page_memo()))),
                  ("Liquid state machine", lambda: pn.Column(LSM_TEXT, LSMView(page_lsm())))),
        sizing_mode="stretch_width")
