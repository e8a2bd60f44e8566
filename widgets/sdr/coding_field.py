"""Coding-field inspector: a Sparsey field's Q competitive modules of K units as a Q×K grid (Rinkus
2010, 2014). Each unit is coloured by how full its incoming weights are; a stored item's code and the
code the CSA draws for a noisy variant of it are marked on the grid, with their overlap (modules
with the same winner), the familiarity G that set the draw's noise, and the input summation V.

Draws only from CodingField's public API (`store`, `encode(learn=False)`, `retrieve`, `codes_`,
`code_overlap`, `snapshot()`). `encode` draws from the field's own random stream: each new probe
advances it (probes are cached, so redrawing the same one does not). A field does not keep its
inputs: the view knows those it stored itself and those passed as `inputs=` (in storage order).
"""

from __future__ import annotations

from functools import partial

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401
import numpy as np
import panel as pn
import param

from labkit.sdr import SDR, CodingField
from widgets.views import LongTask, Step, drawn_legend, readout, refresh_readout

KDIMS = ["unit k", "module q"]


class CodingFieldView(pn.viewable.Viewer):
    """Q×K units (weight fill), a stored code and the code of a noisy variant of its input."""

    field = param.ClassSelector(class_=CodingField, doc="the labkit.sdr.CodingField shown")
    item = param.Integer(default=0, bounds=(0, None), doc="stored item whose input is cued")
    v = param.Integer(default=0, bounds=(0, None), doc="noise: active input bits moved elsewhere")
    w = param.Integer(default=20, bounds=(1, None), doc="active bits of the random inputs the button stores")
    n_store = param.Integer(default=20, bounds=(1, 1000), label="Inputs to store", doc="random inputs stored per press")
    seed = param.Integer(default=0, bounds=(0, None), doc="seed of the random inputs and of the noise")
    stored = param.Integer(default=0, precedence=-1, doc="bumped after each store")

    def __init__(self, field: CodingField, inputs=None, **params):
        if not isinstance(field, CodingField):
            raise TypeError(f"field: expected a labkit.sdr.CodingField, got {type(field).__name__}")
        rows = [] if inputs is None else list(inputs) if isinstance(inputs, (list, tuple)) else list(np.asarray(inputs))
        known = [self._active(field, x) for x in rows]
        if len(known) > field.n_stored:
            raise ValueError(f"inputs: {len(known)} given but the field has stored {field.n_stored}")
        if known:
            params.setdefault("w", int(np.median([len(k) for k in known])))
        else:
            params.setdefault("w", max(1, min(field.n_inputs // 2, field.n_inputs // 25 or 1)))
        later = {k: params.pop(k) for k in ("item", "v") if k in params}
        super().__init__(field=field, **params)
        self.param.w.bounds = (1, max(1, field.n_inputs // 2))
        self.inputs = known                      # active indices of item i, stored as field.codes_[i]
        self._codes = list(range(len(known)))    # row of codes_ for each known input
        self._rng = np.random.default_rng(self.seed)
        self._probe_key, self._probe = None, None
        self._bounds()
        self.param.update(**later)
        self._task = LongTask("store random inputs", self.store_plan, on_done=lambda _state: self._show_stored(),
                              estimate=self.estimate, width=300,
                              idle=lambda: f"press **store random inputs**: {self.n_store} more")

    @param.depends("n_store", watch=True)
    def _new_estimate(self):
        if hasattr(self, "_task"):
            self._task.refresh()

    @staticmethod
    def _active(field, x) -> np.ndarray:
        if isinstance(x, SDR):
            if x.n != field.n_inputs:
                raise ValueError(f"inputs: expected SDRs of n={field.n_inputs}, got n={x.n}")
            return x.active
        a = np.asarray(x)
        if a.ndim != 1 or a.size != field.n_inputs:
            raise ValueError(f"inputs: expected ({field.n_inputs},) binary rows or SDRs, got shape {a.shape}")
        return SDR.from_dense(a).active

    def _bounds(self):
        self.param.item.bounds = (0, max(0, len(self.inputs) - 1))
        top = min(self.w, self.field.n_inputs - self.w)
        if self.inputs:
            x = self.inputs[min(self.item, len(self.inputs) - 1)]
            top = min(len(x), self.field.n_inputs - len(x))
        self.param.v.bounds = (0, max(0, top))
        self.param.update(item=min(self.item, max(0, len(self.inputs) - 1)), v=min(self.v, max(0, top)))

    @param.depends("item", watch=True)
    def _item_bounds(self):
        self._bounds()

    def store_more(self, k: int | None = None) -> None:
        """Store k (default n_store) random w-of-n_inputs inputs, one shot each (blocking: the steps the
        button runs, run here)."""
        for step in self.store_plan(k):
            step.run()
        self._show_stored()

    def store_plan(self, k: int | None = None) -> list[Step]:
        """The steps of one store: k random inputs drawn now (the field's own random stream is not
        touched by the draw, so this stores what one-by-one drawing did), stored a tenth per step."""
        f, k = self.field, self.n_store if k is None else int(k)
        xs = [SDR.random(f.n_inputs, self.w, seed=self._rng) for _ in range(k)]
        cuts = [int(c) for c in np.unique(np.linspace(0, k, 11).astype(int)) if c > 0]
        return [Step(f"inputs {a + 1}..{b} of {k}", partial(self._store_rows, xs[a:b]))
                for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]

    def _store_rows(self, xs) -> None:
        f = self.field
        for x in xs:
            f.store(x)
            self.inputs.append(x.active)
            self._codes.append(f.n_stored - 1)

    def _show_stored(self) -> None:
        self._bounds()
        self.stored += 1

    def estimate(self) -> float:
        """A-priori seconds for storing n_store inputs (about 0.2 ms each at Q = K = 8, 128 inputs)."""
        f = self.field
        return 0.1 + self.n_store * (2e-4 + 2e-9 * f.Q * f.K * f.n_inputs)

    # -- plain data ---------------------------------------------------------------------------
    def probe(self) -> dict | None:
        """The chosen item's input with v bits moved: its stored code, the code encode() draws for the
        variant (no learning), retrieve()'s best match, their overlaps with the stored code, and the
        CSA's G, eta and V for the variant. Cached per (item, v, seed, stores)."""
        if not self.inputs:
            return None
        key = (self.item, self.v, self.seed, self.field.n_stored)
        if key != self._probe_key:
            f = self.field
            x = SDR(f.n_inputs, self.inputs[self.item])
            cue = x.add_noise(self.v, seed=np.random.default_rng([self.seed, self.item, self.v]))
            stored = f.codes_[self._codes[self.item]]
            enc = f.encode(cue, learn=False)
            snap = f.snapshot()
            ret = f.retrieve(cue)
            self._probe = {"cue": cue, "stored": stored, "encoded": enc, "retrieved": ret,
                           "encode_overlap": f.code_overlap(stored, enc),
                           "retrieve_overlap": f.code_overlap(stored, ret),
                           "input_overlap": x.overlap(cue), "G": snap["G"], "eta": snap["eta"], "V": snap["V"]}
            self._probe_key = key
        return self._probe

    # -- views --------------------------------------------------------------------------------
    def _grid(self, values, title, cmap, clim):
        Q, K = self.field.Q, self.field.K
        return hv.Image(values[::-1], kdims=KDIMS, vdims=["value"], bounds=(-0.5, -0.5, K - 0.5, Q - 0.5)).opts(
            cmap=cmap, clim=clim, title=title)

    def _marks(self, p):
        Q, ring = self.field.Q, dict(color="black", fill_alpha=0, size=14, line_width=2)
        if p is None:
            last = self.field.snapshot()["code"]
            return (hv.Points([] if last is None else (last, np.arange(Q)), KDIMS, label="last code")
                    .opts(color="#d62728", size=8)
                    * hv.Points([], KDIMS, label="stored code").opts(**ring))
        return (hv.Points((p["encoded"], np.arange(Q)), KDIMS, label="code of the variant").opts(
            color="#d62728", size=8)
            * hv.Points((p["stored"], np.arange(Q)), KDIMS, label="stored code").opts(**ring))

    @param.depends("item", "v", "seed", "stored")
    def units_view(self):
        unit_fill = self.field.snapshot()["unit_fill"]
        p = self.probe()
        title = ("weight fill per unit" if p is None else
                 f"code overlap {p['encode_overlap']} of {self.field.Q} (encode), "
                 f"{p['retrieve_overlap']} (retrieve)")
        return self._grid(unit_fill, title, "Greys", (0, max(1e-9, 2 * float(unit_fill.max())))) * self._marks(p)

    @param.depends("item", "v", "seed", "stored")
    def evidence_view(self):
        p = self.probe()
        if p is None:
            return self._grid(np.zeros((self.field.Q, self.field.K)), "input summation V", "Blues", (0, 1)) \
                * self._marks(None)
        return self._grid(p["V"], f"V: fraction of the cue's bits wired to each unit (G = {p['G']:.2f})",
                          "Blues", (0, 1)) * self._marks(p)

    def text(self) -> str:
        f, p = self.field, self.probe()
        head = f"`{f!r}`"
        if p is None:
            return head + "  \n*no known stored input: press **store random inputs** (or pass `inputs=`)*"
        w = len(self.inputs[self.item])
        return (head + f"  \n**item {self.item}**, cue shares **{p['input_overlap']} of {w}** bits with it: "
                f"familiarity G = **{p['G']:.3f}** (η = {p['eta']:.3g}); the CSA's code keeps "
                f"**{p['encode_overlap']} of {f.Q}** modules' winners, the best match (retrieve) "
                f"**{p['retrieve_overlap']}**")

    @param.depends("item", "v", "seed", "stored", watch=True)
    def _refresh(self):
        refresh_readout(self, self.text)

    def __panel__(self):
        text = readout(self, self.text, width=700)
        slider = pn.widgets.IntSlider
        controls = pn.Param(self.param, parameters=["item", "v", "n_store", "w"],
                            widgets={p: slider for p in ("item", "v", "n_store", "w")}, show_name=False, width=300)
        Q, K = self.field.Q, self.field.K
        size = dict(width=min(400, max(220, 22 * K + 60)), height=min(460, max(220, 22 * Q + 120)),
                    toolbar=None, fontsize={"title": "9pt"}, legend_position="bottom", hooks=[drawn_legend])
        plots = [pn.pane.HoloViews(hv.DynamicMap(v).opts(**size), linked_axes=False)
                 for v in (self.units_view, self.evidence_view)]
        return pn.Row(pn.Column("### Coding field", controls, self._task.panel(300), width=320),
                      pn.Column(pn.Row(*plots), text))
