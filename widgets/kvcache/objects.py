"""Inspectors for single labkit.kvcache objects (what `widgets.inspect` returns):

    QuantizedTensorView(qt)   a QuantizedTensor's per-group scales and zeros, its code histogram, x̂
    KIVICacheView(cache)      a KIVICache's layout (quantized blocks, residual) and what keys()/values() hold

Both draw only from the objects' plain data: QuantizedTensor.scale / .zero / .codes() / .dequantize(),
KIVICache.layout() / .keys() / .values() / .nbytes.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit.kvcache import KIVICache, QuantizedTensor
from widgets.kvcache.plots import heat_opts, token_channel


def _table(d: dict, width: int = 280) -> pn.pane.DataFrame:
    return pn.pane.DataFrame(pd.DataFrame({"property": list(d), "value": [str(v) for v in d.values()]}),
                             index=False, width=width)


class QuantizedTensorView(pn.viewable.Viewer):
    """One slice (a leading index: batch × head) of a QuantizedTensor: scale and zero per group, the
    histogram of its codes and the dequantized tensor (token × channel)."""

    qt = param.ClassSelector(class_=QuantizedTensor, doc="the labkit.kvcache QuantizedTensor shown")
    index = param.Integer(default=0, bounds=(0, None), doc="leading index (batch × heads flattened)")

    def __init__(self, qt: QuantizedTensor, **params):
        if not isinstance(qt, QuantizedTensor):
            raise TypeError(f"qt: expected a labkit.kvcache QuantizedTensor, got {type(qt).__name__}")
        super().__init__(qt=qt, **params)
        self.param.index.bounds = (0, max(0, self.n_slices - 1))

    @property
    def n_slices(self) -> int:
        return int(np.prod(self.qt.shape[:-2], dtype=np.int64)) if len(self.qt.shape) > 2 else 1

    def summary(self) -> dict:
        q = self.qt
        return {"shape": tuple(q.shape), "bits": q.bits, "group_size": q.group_size, "axis": q.axis,
                "symmetric": q.symmetric, "groups": int(q.scale.numel()), "nbytes": q.nbytes,
                "bits / element": round(q.bits_per_element, 3)}

    def group_params(self) -> dict:
        """{"scale", "zero"}: (rows, groups) float arrays of the chosen slice."""
        q = self.qt
        rows, groups = q.scale.shape[-3:-1]
        pick = lambda t: t.reshape(-1, rows, groups)[self.index].float().numpy()  # noqa: E731
        return {"scale": pick(q.scale), "zero": pick(q.zero)}

    def code_counts(self) -> np.ndarray:
        """(2^bits,) how often each code occurs in the chosen slice."""
        q = self.qt
        codes = q.codes().reshape(self.n_slices, -1)[self.index].long()
        return np.bincount(codes.numpy(), minlength=2 ** q.bits)

    @param.depends("index")
    def params_view(self):
        q, p = self.qt, self.group_params()
        rows = "channel" if q.axis == "channel" else "token"
        along = "token group" if q.axis == "channel" else "channel group"
        imgs = [hv.Image(np.ascontiguousarray(p[k][::-1]), kdims=[along, rows], vdims=[k],
                         bounds=(0, 0, p[k].shape[1], p[k].shape[0])).opts(
            title=f"{k} per group", cmap="viridis", colorbar=True, frame_width=260, frame_height=200, tools=["hover"])
            for k in ("scale", "zero")]
        return hv.Layout(imgs).opts(shared_axes=False)

    @param.depends("index")
    def codes_view(self):
        c = self.code_counts()
        return hv.Bars((np.arange(len(c)), c), "code", "count").opts(
            title=f"codes ({self.qt.bits} bits)", frame_width=260, frame_height=160, color="#1f4e79", tools=["hover"])

    @param.depends("index")
    def dequantized_view(self):
        q = self.qt
        T, D = q.shape[-2:]
        x = q.dequantize().float().reshape(-1, T, D)[self.index].numpy()
        return token_channel(x, "x̂").opts(title="dequantized x̂ (token × channel)", **heat_opts())

    def __panel__(self):
        side = [_table(self.summary())]
        if self.n_slices > 1:
            side.insert(0, pn.widgets.IntSlider.from_param(self.param.index, width=260))
        return pn.Row(pn.Column("### QuantizedTensor", *side, pn.pane.HoloViews(self.codes_view), width=300),
                      pn.Column(pn.pane.HoloViews(self.params_view, linked_axes=False),
                                pn.pane.HoloViews(self.dequantized_view, linked_axes=False)))


class KIVICacheView(pn.viewable.Viewer):
    """A KIVICache: where its tokens are (sinks, quantized blocks, full-precision residual), its bytes,
    and what attention reads, keys() and values(), for one head (dashed lines: quantized | residual)."""

    cache = param.ClassSelector(class_=KIVICache, doc="the labkit.kvcache KIVICache shown")
    head = param.Integer(default=0, bounds=(0, None), doc="head (batch 0)")

    def __init__(self, cache: KIVICache, **params):
        if not isinstance(cache, KIVICache):
            raise TypeError(f"cache: expected a labkit.kvcache KIVICache, got {type(cache).__name__}")
        super().__init__(cache=cache, **params)
        if cache.seq_length:
            self.param.head.bounds = (0, cache.keys().shape[1] - 1)

    def summary(self) -> dict:
        c = self.cache
        d = {"cache": repr(c), "tokens": c.seq_length, "nbytes": c.nbytes,
             "bytes / token": round(c.bytes_per_token(), 2)}
        if c.seq_length:
            d.update(c.layout())
        return d

    def _map(self, which: str):
        c = self.cache
        X = (c.keys() if which == "K" else c.values())[0, self.head].float().numpy()
        lay = c.layout()
        q = lay["key_quantized"] if which == "K" else lay["value_quantized"]
        edge = lay["sink"] + q  # quantized tokens end here; the residual follows
        lines = [hv.VLine(x).opts(color="black", line_dash="dashed", line_width=1.5)
                 for x in sorted({lay["sink"], edge}) if 0 < x < X.shape[0]]
        img = token_channel(X, which + "̂").opts(
            title=f"{which}̂ head {self.head}: {q} quantized, {X.shape[0] - edge} full precision", **heat_opts())
        return hv.Overlay([img, *lines])

    @param.depends("head")
    def keys_view(self):
        return self._map("K")

    @param.depends("head")
    def values_view(self):
        return self._map("V")

    def __panel__(self):
        side = [_table(self.summary(), 320)]
        if not self.cache.seq_length:
            return pn.Column("### KIVICache", *side, "*empty: call prefill(K, V) first*")
        if self.param.head.bounds[1] > 0:
            side.insert(0, pn.widgets.IntSlider.from_param(self.param.head, width=300))
        return pn.Row(pn.Column("### KIVICache", *side, width=340),
                      pn.Column(pn.pane.HoloViews(self.keys_view), pn.pane.HoloViews(self.values_view)))
