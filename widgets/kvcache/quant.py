"""KV quantization explorer: a real layer's K and V (token × channel) for one head, what a quantized
cache holds instead, the error of each quantization group, and the bytes it costs.

KIVI's observation (Liu et al. 2024, §3.2, Fig. 2): keys have a few outlier *channels* (rows here that
stay dark across all tokens), values do not. A group that spans channels (per-token quantization) has
its range set by the outlier, so every other channel in it loses precision; per-channel groups give each
channel its own range. The explorer puts the same tensors through four quantizers inside KIVI's
streaming cache (KIVICache: the last tokens stay in full precision, the rest are quantized in groups),
and reads out the relative error of K and V, the error of the attention output over the head's real
queries, and the cache's bytes (KIVICache.nbytes: packed codes + fp16 scales and zeros + the residual).
"""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param

from widgets.kvcache.data import METHODS, group_sizes, quantize_head
from widgets.kvcache.plots import MAP_HEIGHT, CaptureViewer, channel_strip, deferred, heat_opts, token_channel
from widgets.views import framewise, ratio_text, readout, refresh_readout

_QUANT = ("layer", "head", "method", "bits", "group_size", "residual_length")


class KVExplorer(CaptureViewer):
    """K and V of one layer and head (token × channel), their quantized copies, the per-group error
    maps, and a live readout of errors and bytes as bits / group_size / residual_length move.

    capture: a labkit.kvcache AttentionCapture (default: MiniLM on CPython's json.decoder source,
    computed on first view and shared by every explorer in the process).
    """

    layer = param.Integer(default=0, bounds=(0, None), doc="layer of the captured model")
    head = param.Integer(default=0, bounds=(0, None), doc="key/value head")
    method = param.Selector(default="KIVI", objects=list(METHODS), doc="how K and V are quantized")
    bits = param.Integer(default=2, bounds=(1, 8), doc="bits per code (BFP: at least 2, sign included)")
    group_size = param.Selector(default=32, objects=[4, 8, 16, 32], doc="values per quantization group (G)")
    residual_length = param.Integer(default=128, bounds=(32, 512), step=32,
                                    doc="newest tokens kept in full precision (R, a multiple of G)")

    # -- plain data ---------------------------------------------------------------------------
    def _bounds(self):
        cap = self._capture
        L, H, T, D = len(cap.k), cap.k[0].shape[1], cap.k[0].shape[2], cap.k[0].shape[3]
        sizes = group_sizes(D)
        step = max(sizes)  # a multiple of every allowed G, so R % G == 0 whatever G is
        self.param.layer.bounds, self.param.head.bounds = (0, L - 1), (0, H - 1)
        self.param.group_size.objects = sizes
        self.param.residual_length.step = step
        self.param.residual_length.bounds = (step, max(step, T - T % step))
        lo, hi = self.param.residual_length.bounds
        self.param.update(layer=min(self.layer, L - 1), head=min(self.head, H - 1),
                          group_size=self.group_size if self.group_size in sizes else max(sizes),
                          residual_length=min(hi, max(lo, self.residual_length - self.residual_length % step)))

    def result(self):
        """quantize_head(...) for the current settings (cached): the maps and the readout."""
        capture = self.capture  # first: loading it may clamp layer / head to the capture's shape
        key = tuple(getattr(self, p) for p in _QUANT)
        return self._cache.get_or(key, lambda: quantize_head(capture, *key))

    def readout(self) -> dict:
        """rel_error_k, rel_error_v, attention_error, nbytes, bytes_per_token, compression, ... (see
        widgets.kvcache.data.quantize_head)."""
        return self.result().readout

    def readout_text(self) -> str:
        r = self.readout()
        T = r["tokens"]
        return (f"**{r['method']}, {r['bits']} bits, G = {r['group_size']}, R = {r['residual_length']}** "
                f"(layer {self.layer}, head {self.head}, {T} tokens)  \n"
                f"rel. error K **{r['rel_error_k']:.3f}**, V **{r['rel_error_v']:.3f}**; "
                f"attention output **{r['attention_error']:.3f}** (softmax(QK̂ᵀ/√d)V̂ vs full precision, "
                f"the head's {T} real queries)  \n"
                f"**{r['nbytes']:,} B** = **{r['bytes_per_token']:.1f} B/token** "
                f"(fp16: {r['fp16_bytes_per_token']} B/token; "
                f"{ratio_text(r['fp16_bytes_per_token'], r['bytes_per_token'], 'larger', 'smaller')})  \n"
                f"keys: {r['key_quantized']} quantized, {T - r['key_quantized']} full precision; "
                f"values: {r['value_quantized']} quantized, {T - r['value_quantized']} full precision")

    @param.depends(*_QUANT, watch=True)
    def _refresh_text(self):
        refresh_readout(self, self.readout_text)

    # -- views --------------------------------------------------------------------------------
    def _original(self, which):
        r = self.result()
        X = r.K if which == "K" else r.V
        return token_channel(X, which).opts(title=f"{which}, layer {self.layer} head {self.head}: token × channel")

    @param.depends("layer", "head")
    def k_view(self):
        return self._original("K")

    @param.depends("layer", "head")
    def v_view(self):
        return self._original("V")

    def _strip(self, which):
        r = self.result()
        return channel_strip(r.K if which == "K" else r.V, which)

    @param.depends("layer", "head")
    def k_strip(self):
        return self._strip("K")

    @param.depends("layer", "head")
    def v_strip(self):
        return self._strip("V")

    def _hat(self, which):
        r = self.result()
        X = r.K_hat if which == "K" else r.V_hat
        return token_channel(X, which + "̂").opts(title=f"{which}̂: what the {self.method} cache holds")

    @param.depends(*_QUANT)
    def k_hat_view(self):
        return self._hat("K")

    @param.depends(*_QUANT)
    def v_hat_view(self):
        return self._hat("V")

    def _error(self, which):
        r = self.result()
        E = r.k_error if which == "K" else r.v_error
        axis = METHODS[self.method][0 if which == "K" else 1]
        rotated = " (rotated)" if self.method == "Hadamard" else ""
        groups = f"{self.group_size} tokens" if axis == "channel" else f"{self.group_size} channels{rotated}"
        return token_channel(E, "group RMS error").opts(
            title=f"{which}: RMS error per group of {groups} · grey: full precision")

    @param.depends(*_QUANT)
    def k_error_view(self):
        return self._error("K")

    @param.depends(*_QUANT)
    def v_error_view(self):
        return self._error("V")

    def _column(self, which):
        strip = {"K": self.k_strip, "V": self.v_strip}[which]
        views = {"K": (self.k_view, self.k_hat_view, self.k_error_view),
                 "V": (self.v_view, self.v_hat_view, self.v_error_view)}[which]
        D = self.capture.k[0].shape[-1]
        bars = framewise(hv.DynamicMap(strip), frame_width=60, frame_height=MAP_HEIGHT, ylim=(0, D), yaxis=None,
                         xticks=3, toolbar=None, title="max | mean", show_legend=False, fontsize={"title": "9pt"})
        orig, hat, err = (hv.DynamicMap(v) for v in views)
        return pn.Column(
            pn.Row(pn.pane.HoloViews(orig.opts(**heat_opts())), pn.pane.HoloViews(bars, linked_axes=False)),
            pn.pane.HoloViews(hat.opts(**heat_opts())),
            pn.pane.HoloViews(err.opts(**heat_opts(diverging=False)), css_classes=[f"kv-{which.lower()}-error"]))

    def _build(self):
        text = readout(self, self.readout_text, width=255, css_classes=["kv-readout"])
        controls = pn.Param(self.param, parameters=list(_QUANT), show_name=False, width=255,
                            widgets={"layer": pn.widgets.IntSlider, "head": pn.widgets.IntSlider,
                                     "method": pn.widgets.RadioButtonGroup, "bits": pn.widgets.IntSlider,
                                     "group_size": pn.widgets.DiscreteSlider,
                                     "residual_length": pn.widgets.IntSlider})
        about = pn.pane.Markdown(f"*{self.method}:* " + METHODS[self.method][2], width=255)
        self.param.watch(lambda e: setattr(about, "object", f"*{e.new}:* " + METHODS[e.new][2]), "method")
        return pn.Row(pn.Column("### K / V quantization", controls, text, about, width=285),
                      self._column("K"), self._column("V"))

    def __panel__(self):
        return deferred(self._ready(), lambda: self.capture,
                        self._build, "capturing MiniLM's keys, values and queries for 512 tokens "
                                     "(once per process, a few seconds)…")
