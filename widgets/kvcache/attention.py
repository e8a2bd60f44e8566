"""Attention maps (queries × keys) of one head: full precision, over a quantized cache, over an evicted
cache, and the difference each makes.

Every query of the captured text attends over the compressed cache: what a later token would see once the
prompt is compressed (during the prefill itself attention is full precision, KIVI §3.3 and kvpress). The
quantized map is softmax(QK̂ᵀ/√d) with K̂ from the KIVICache of KVExplorer's settings; the evicted map masks
the keys the policy dropped (its kept_ after a prefill of all the tokens) and renormalises.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
import torch

from labkit.kvcache.metrics import attention, rel_error
from widgets.kvcache.data import METHODS, POLICIES, group_sizes, is_causal, quantize_head, run_policy
from widgets.kvcache.plots import ATTENTION, DIVERGING, CaptureViewer, deferred, query_key
from widgets.views import readout, refresh_readout

_Q = ("layer", "head", "method", "bits", "group_size", "residual_length")
_E = ("layer", "head", "policy", "budget")
SIDE = 200
SATURATE = 99.5  # difference maps: the colour scale ends at this percentile of |Δ| (beyond: saturated)


class AttentionDiff(CaptureViewer):
    """Attention of one query head: full vs quantized vs evicted, and the two differences.

    capture: an AttentionCapture (default: MiniLM on CPython source, shared with KVExplorer).
    """

    memo_size = 48

    layer = param.Integer(default=0, bounds=(0, None))
    head = param.Integer(default=0, bounds=(0, None), doc="query head (reads kv head head // group)")
    method = param.Selector(default="KIVI", objects=list(METHODS))
    bits = param.Integer(default=2, bounds=(1, 8))
    group_size = param.Selector(default=32, objects=[4, 8, 16, 32])
    residual_length = param.Integer(default=128, bounds=(32, 512), step=32)
    policy = param.Selector(default="H2O", objects=list(POLICIES), doc="eviction policy")
    budget = param.Integer(default=128, bounds=(16, 512), step=16, doc="tokens kept per kv head")

    def _bounds(self):
        cap = self._capture
        T, D = cap.k[0].shape[2:]
        sizes = group_sizes(D)
        step = max(sizes)
        self.param.layer.bounds, self.param.head.bounds = (0, len(cap.q) - 1), (0, cap.q[0].shape[1] - 1)
        self.param.group_size.objects = sizes
        self.param.residual_length.step = step
        self.param.residual_length.bounds = (step, max(step, T - T % step))
        self.param.budget.bounds = (min(16, T - 1), T - 1)
        self.param.update(layer=min(self.layer, len(cap.q) - 1), head=min(self.head, cap.q[0].shape[1] - 1),
                          group_size=self.group_size if self.group_size in sizes else max(sizes),
                          residual_length=min(self.param.residual_length.bounds[1],
                                              self.residual_length - self.residual_length % step or step),
                          budget=min(self.budget, T - 1))

    # -- plain data ---------------------------------------------------------------------------
    def _kv_head(self) -> int:
        cap = self.capture
        return self.head // (cap.q[self.layer].shape[1] // cap.k[self.layer].shape[1])

    def full(self) -> dict:
        """probs (T, T) and output (T, d) of full-precision attention for the query head."""
        cap = self.capture

        def make():
            L, h, kv = self.layer, self.head, self._kv_head()
            p, out = attention(cap.q[L][0, h], cap.k[L][0, kv], cap.v[L][0, kv], is_causal(cap, L))
            return {"probs": p, "out": out}
        return self._cache.get_or(("full", self.layer, self.head), make)

    def quantized(self) -> dict:
        """probs, out over the quantized cache (KVExplorer's quantize_head for the kv head)."""
        cap = self.capture

        def make():
            q = quantize_head(cap, self.layer, self._kv_head(), self.method, self.bits, self.group_size,
                              self.residual_length)
            L = self.layer
            p, out = attention(cap.q[L][0, self.head], torch.from_numpy(q.K_hat), torch.from_numpy(q.V_hat),
                               is_causal(cap, L))
            return {"probs": p, "out": out, "readout": q.readout}
        return self._cache.get_or(("q", self.head) + tuple(getattr(self, k) for k in _Q), make)

    def eviction(self):
        """run_policy(capture, layer, policy, budget): the EvictionRun of a prefill of all tokens."""
        return self._cache.get_or(("run", self.layer, self.policy, self.budget),
                            lambda: run_policy(self.capture, self.layer, self.policy, self.budget))

    def evicted(self) -> dict:
        """probs, out with the dropped keys masked out; keep (T,) bool, the policy's kept_ for the kv head."""
        cap = self.capture

        def make():
            keep = torch.from_numpy(self.eviction().kept[self._kv_head()])
            L, kv = self.layer, self._kv_head()
            p, out = attention(cap.q[L][0, self.head], cap.k[L][0, kv], cap.v[L][0, kv], is_causal(cap, L), keep)
            return {"probs": p, "out": out, "keep": keep.numpy()}
        return self._cache.get_or(("e",) + tuple(getattr(self, k) for k in _E), make)

    def readout(self) -> dict:
        """Per compressed map: the attention-output error vs full precision, the mean total-variation
        distance of a query's weights 0.5·Σ|p̂ − p|, and for eviction the full weight on dropped keys."""
        f, q, e = self.full(), self.quantized(), self.evicted()
        tv = lambda p: float(0.5 * (p - f["probs"]).abs().sum(-1).mean())  # noqa: E731
        lost = float(f["probs"][:, ~torch.from_numpy(e["keep"])].sum(-1).mean())
        return {"quantized_output_error": rel_error(q["out"], f["out"]), "quantized_tv": tv(q["probs"]),
                "evicted_output_error": rel_error(e["out"], f["out"]), "evicted_tv": tv(e["probs"]),
                "kept": int(e["keep"].sum()), "tokens": len(e["keep"]), "weight_dropped": lost}

    def readout_text(self) -> str:
        r = self.readout()
        return (f"**quantized** ({self.method}, {self.bits} bits, G = {self.group_size}, R = {self.residual_length}): "
                f"attention output error **{r['quantized_output_error']:.3f}**, "
                f"mean ½Σ|Δp| per query **{r['quantized_tv']:.3f}**  \n"
                f"**evicted** ({self.policy}, {r['kept']} of {r['tokens']} keys kept): "
                f"attention output error **{r['evicted_output_error']:.3f}**, "
                f"mean ½Σ|Δp| **{r['evicted_tv']:.3f}** (= the full attention on the dropped keys: "
                f"the rest is renormalised)")

    @param.depends(*sorted(set(_Q + _E)), watch=True)
    def _refresh_text(self):
        refresh_readout(self, self.readout_text)

    # -- views --------------------------------------------------------------------------------
    @param.depends("layer", "head")
    def full_view(self):
        title = f"full precision, layer {self.layer} head {self.head}"
        return query_key(self.full()["probs"].numpy()).opts(title=title)

    @param.depends(*_Q)
    def quantized_view(self):
        return query_key(self.quantized()["probs"].numpy()).opts(title=f"quantized K̂ ({self.method}, {self.bits} bits)")

    @param.depends(*_E)
    def evicted_view(self):
        e = self.evicted()
        return query_key(e["probs"].numpy()).opts(title=f"evicted ({self.policy}, {int(e['keep'].sum())} kept)")

    @staticmethod
    def _diff(d, what):
        top = float(np.percentile(np.abs(d), SATURATE)) or float(np.abs(d).max()) or 1e-12
        return query_key(d, "Δ weight").opts(clim=(-top, top), title=f"{what} − full (max |Δ| {np.abs(d).max():.2f})")

    @param.depends(*_Q)
    def quantized_diff(self):
        return self._diff((self.quantized()["probs"] - self.full()["probs"]).numpy(), "quantized")

    @param.depends(*_E)
    def evicted_diff(self):
        return self._diff((self.evicted()["probs"] - self.full()["probs"]).numpy(), "evicted")

    def _build(self):
        common = dict(frame_width=SIDE, frame_height=SIDE, invert_yaxis=True, tools=["hover"], toolbar=None,
                      framewise=True, fontsize={"title": "9pt"})
        views = (self.full_view, self.quantized_view, self.evicted_view)
        maps = [hv.DynamicMap(v).opts(cmap=ATTENTION, logz=True, clim=(1e-4, 1), colorbar=v == views[-1],
                                      clipping_colors={"min": "white", "NaN": "white"}, **common) for v in views]
        diffs = [hv.DynamicMap(v).opts(cmap=DIVERGING, colorbar=True, **common)
                 for v in (self.quantized_diff, self.evicted_diff)]
        text = readout(self, self.readout_text, width=255, css_classes=["kv-attention-readout"])
        slider = pn.widgets.IntSlider
        controls = pn.Param(self.param, parameters=["layer", "head", "method", "bits", "group_size", "residual_length",
                                                    "policy", "budget"], show_name=False, width=255,
                            widgets={"layer": slider, "head": slider, "bits": slider, "budget": slider,
                                     "residual_length": slider, "group_size": pn.widgets.DiscreteSlider,
                                     # a Select is 300 px wide unless told: it would run under the maps
                                     "method": {"type": pn.widgets.Select, "width": 235},
                                     "policy": {"type": pn.widgets.Select, "width": 235}})
        note = pn.pane.Markdown("Every query attends over the compressed cache, as a token after the prompt "
                                f"would; weights below 10⁻⁴ are white. Difference colours saturate at the "
                                f"{SATURATE}th percentile of |Δ|.", width=255)
        names = ["full", "quantized", "evicted", "quantized-diff", "evicted-diff"]
        panes = [pn.pane.HoloViews(m, linked_axes=False, css_classes=[f"kv-attn-{n}"])
                 for m, n in zip(maps + diffs, names, strict=True)]
        # 285 px of controls and readout + three maps fit a 1280 px screen (tests/test_ui_fit.py)
        return pn.Row(pn.Column("### Attention: full vs quantized vs evicted", controls, note, text, width=285),
                      pn.Column(pn.Row(*panes[:3]), pn.Row(*panes[3:])))

    def __panel__(self):
        return deferred(self._ready(), lambda: self.capture,
                        self._build, "capturing MiniLM's attention for 512 tokens (once per process)…")
