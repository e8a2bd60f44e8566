"""ReservoirExplorer: one echo state network seen five ways, with sliders for its hyper-parameters.

Given an ESN (or an E/I reservoir), its own weights are drawn from `snapshot()` (spectrum, E/I input per
unit) and a copy made from `get_params()` is driven by reservoirpy's Mackey-Glass series for the state
heatmap, the PCA trajectory, the memory-capacity curve and closed-loop generation (so the inspected
object is never modified). Moving a slider builds a new reservoir with those settings (same seed).
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param

from labkit import reservoir as rc
from widgets.reservoir.forecast import generation, generation_plot, mackey_glass_task, mc_plot
from widgets.reservoir.spectrum import ei_plot, spectrum_plot
from widgets.reservoir.states import pca_plot, state_heatmap
from widgets.views import Memo

#: (tab title, view method), in the order the tabs show them
VIEWS = (("States", "states_view"), ("PCA trajectory", "pca_view"), ("Spectrum of W", "spectrum_view"),
         ("Memory capacity", "memory_view"), ("Generation", "generation_view"), ("E/I input", "ei_view"))
SLIDERS = ["sr", "lr", "input_scaling", "balance", "units", "model", "tolerance"]


class ReservoirExplorer(pn.viewable.Viewer):
    """State heatmap under its input, PCA of the trajectory, spectrum of W, memory capacity, generative
    mode with its divergence horizon, and E/I input per unit: one tab each, beside the sliders."""

    sr = param.Number(default=1.25, bounds=(0.05, 2.5), step=0.05, doc="spectral radius of W")
    lr = param.Number(default=0.3, bounds=(0.05, 1.0), step=0.05, doc="leak rate")
    input_scaling = param.Number(default=1.0, bounds=(0.05, 3.0), step=0.05)
    balance = param.Number(default=1.0, bounds=(0.0, 2.5), step=0.05,
                           doc="E/I ratio of the E/I reservoir (1 balanced, > 1 over-inhibited)")
    units = param.Integer(default=100, bounds=(10, 500), step=10)
    model = param.Selector(default="ESN", objects=["ESN", "EIESN"], doc="plain ESN or E/I (Dale's law) reservoir")
    tolerance = param.Number(default=0.1, bounds=(0.01, 0.5), step=0.01,
                             doc="divergence: error above this fraction of the truth's range")
    k_max = param.Integer(default=60, bounds=(5, 300))
    seed = param.Integer(default=1234, bounds=(0, None))

    def __init__(self, esn=None, *, memo: Memo | None = None, **params):
        """`memo`: results shared with other explorers (the dashboard page's, one per process), keyed by
        every setting; only for explorers that build their reservoirs (no `esn`, whose weights no key holds)."""
        if esn is not None and not isinstance(esn, rc.ESN):
            raise TypeError(f"esn: expected a labkit.reservoir.ESN, got {type(esn).__name__}")
        if memo is not None and (esn is not None or not isinstance(memo, Memo)):
            raise ValueError("memo: a widgets.views.Memo, for an explorer without an esn (its weights are in no key)")
        if esn is not None:
            p = esn.get_params()
            params = {"sr": p["sr"], "lr": p["lr"], "input_scaling": float(np.mean(p["input_scaling"])),
                      "units": p["units"], "model": "EIESN" if isinstance(esn, rc.EIESN) else "ESN",
                      "seed": p["seed"] if isinstance(p["seed"], int) else 1234, **params}
            if isinstance(esn, rc.EIESN):
                params.setdefault("balance", p["balance"])
            for name in ("sr", "lr", "input_scaling", "balance", "units"):
                lo, hi = self.param[name].bounds
                if name in params:
                    params[name] = type(params[name])(min(max(params[name], lo), hi))
        self._given, self._memo = esn, (memo if memo is not None else Memo(16))
        super().__init__(**params)
        self._task = mackey_glass_task()

    # -- the reservoir shown ------------------------------------------------------------------------
    def _key(self):
        return (self.sr, self.lr, self.input_scaling, self.balance, self.units, self.model, self.seed)

    def reservoir(self):
        """The inspected ESN while the sliders still show its settings, else a new one built from them."""
        if self._given is not None and self._matches_given():
            return self._given
        return self._memo.get_or(("esn",) + self._key(), self._build)

    def _matches_given(self) -> bool:
        p = self._given.get_params()
        same = (np.isclose(p["sr"], self.sr) and np.isclose(p["lr"], self.lr) and p["units"] == self.units
                and np.isclose(float(np.mean(p["input_scaling"])), self.input_scaling))
        return bool(same and (not isinstance(self._given, rc.EIESN) or np.isclose(p["balance"], self.balance)))

    def _build(self):
        kw = dict(units=self.units, sr=self.sr, lr=self.lr, input_scaling=self.input_scaling, rc_connectivity=0.1,
                  input_connectivity=0.2, ridge=1e-6, seed=self.seed)
        return rc.EIESN(balance=self.balance, **kw) if self.model == "EIESN" else rc.ESN(**kw)

    def _driven_copy(self):
        """A copy of the reservoir (same parameters, so the same weights for one input) to drive with the task."""
        esn = self.reservoir()
        params = esn.get_params()
        if params.get("Win") is not None and np.shape(params["Win"])[1] != 1:
            params["Win"] = None  # fitted on another input size: the copy draws a one-input Win
        return type(esn)(**params)

    def run(self) -> dict:
        """{"generation": generation(...) on Mackey-Glass, "mc": (k_max,) MC_k, "snapshot": the reservoir's}."""
        key = ("run",) + self._key() + (self.tolerance, self.k_max)

        def make():
            copy = self._driven_copy()
            gen = generation(copy, self._task, tolerance=self.tolerance)
            snap = self.reservoir().snapshot()
            if snap["W"] is None:          # not run yet: its weights are the copy's (drawn for one input)
                snap = copy.snapshot()
            return {"generation": gen, "mc": rc.memory_capacity(copy, k_max=self.k_max, seed=0), "snapshot": snap}
        return self._memo.get_or(key, make)

    # -- views ---------------------------------------------------------------------------------------
    @param.depends(*SLIDERS, "k_max", "seed")
    def states_view(self):
        r = self.run()
        return state_heatmap(r["generation"]["states"], self._task["X"], title="states driven by Mackey-Glass")

    @param.depends(*SLIDERS, "k_max", "seed")
    def pca_view(self):
        return pca_plot(self.run()["generation"]["states"])

    @param.depends(*SLIDERS, "k_max", "seed")
    def spectrum_view(self):
        return spectrum_plot(self.run()["snapshot"]["W"])

    @param.depends(*SLIDERS, "k_max", "seed")
    def memory_view(self):
        return mc_plot(self.run()["mc"], self.units)

    @param.depends(*SLIDERS, "k_max", "seed")
    def generation_view(self):
        return generation_plot(self.run()["generation"])

    @param.depends(*SLIDERS, "k_max", "seed")
    def ei_view(self):
        return ei_plot(self.run()["snapshot"])

    def __panel__(self):
        names = ["sr", "lr", "input_scaling", "balance", "units", "model", "tolerance", "k_max"]
        # each widget as wide as its column (a Select's default 300 px ran under the plots beside it)
        controls = pn.Param(self.param, parameters=names, show_name=False, width=240,
                            widgets={n: {"width": 220} for n in names})
        # one view per tab, each drawn when its tab is first shown (a served session builds the first alone);
        # each plot on its own axes (Panel links axes of the same dimension across panes by default: the
        # input's y took the units' -17..516 range)
        tabs = pn.Tabs(*((title, pn.param.ParamMethod(getattr(self, name), linked_axes=False, lazy=True))
                         for title, name in VIEWS), dynamic=True)
        return pn.Row(controls, tabs)
