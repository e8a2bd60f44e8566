"""Eviction: which tokens each policy keeps, on a real layer's keys and queries.

The first `prefill` tokens are compressed at once (kvpress's pre-fill compression: each store keeps its
`budget` best-scored tokens per kv head), then the rest arrive one at a time with their queries, as in
decoding: StreamingLLM and H2O evict to stay at the budget (Xiao et al. 2023, §3.2; Zhang et al. 2023,
Alg. 1), SnapKV, KeyNorm and TOVA keep every new token (prefill-only compression, as kvpress). The
matrices are the stores' own `kept_` (batch, kv_heads, seq_length) after each step.

So with budget 128, a prefill of 256 and 512 tokens, SnapKV, KeyNorm and TOVA end with 128 + 256 = 384
kept tokens: by design, and the view says so beside the numbers (kept_note). SnapKV's paper compresses
the prompt's cache once and generates on top of it (Li et al. 2024, arXiv 2404.14469, Fig. 1: the
selected prompt positions and the observation window form the cache used for generation); TOVA's paper
bounds the cache at every decoding step (Oren et al. 2024, arXiv 2401.06104, §3, "Our proposed policy:
TOVA"), which labkit's TOVA, following kvpress's prefill-only presses, does not.

Also `EvictionStoreView`, what `widgets.inspect` shows for any labkit EvictionStore: its kept_ per head
and its prefill scores_.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from labkit.kvcache.eviction import EvictionStore
from widgets.kvcache.data import POLICIES, attention_mass_kept, run_policy
from widgets.kvcache.plots import CaptureViewer, deferred

KEPT_CMAP = ["#d4d4d4", "#1f4e79"]  # evicted, kept; NaN (not yet seen) is white


def kept_image(M: np.ndarray, labels, ylabel: str) -> hv.Image:
    """(rows, T) kept matrix (1 kept, 0 evicted, NaN not yet seen), row 0 at the top (invert_yaxis)."""
    n, T = M.shape
    img = hv.Image(np.ascontiguousarray(M[::-1], dtype=np.float32), kdims=["position", ylabel], vdims=["kept"],
                   bounds=(0, 0, T, n))
    ticks = [(i + 0.5, str(lab)) for i, lab in enumerate(labels)] if labels is not None else None
    return img.opts(cmap=KEPT_CMAP, clim=(0, 1), clipping_colors={"NaN": "white"}, invert_yaxis=True,
                    yticks=ticks, colorbar=False, tools=["hover"])


class EvictionTimeline(CaptureViewer):
    """For each policy (or each head under one policy): kept / evicted over the token positions, the
    chosen policy's cache step by step, and what it kept of the model's own attention."""

    memo_size = 16

    layer = param.Integer(default=0, bounds=(0, None))
    head = param.Integer(default=0, bounds=(0, None), doc="kv head of the per-policy rows and the timeline")
    budget = param.Integer(default=128, bounds=(16, 512), step=16, doc="tokens kept per kv head")
    prefill = param.Integer(default=256, bounds=(32, 512), step=32,
                            doc="tokens compressed at once; the rest are appended one at a time")
    rows = param.Selector(default="policies", objects=["policies", "heads"], doc="one row per policy or per head")
    policy = param.Selector(default="H2O", objects=list(POLICIES), doc="policy of the heads rows and the timeline")

    def _bounds(self):
        cap = self._capture
        T = cap.k[0].shape[2]
        self.param.layer.bounds, self.param.head.bounds = (0, len(cap.k) - 1), (0, cap.k[0].shape[1] - 1)
        self.param.budget.bounds = (min(16, T - 1), T - 1)
        self.param.prefill.bounds = (min(32, T), T)
        self.param.update(layer=min(self.layer, len(cap.k) - 1), head=min(self.head, cap.k[0].shape[1] - 1),
                          budget=min(self.budget, T - 1), prefill=min(max(self.prefill, min(32, T)), T))

    # -- plain data ---------------------------------------------------------------------------
    def runs(self) -> dict:
        """{policy: EvictionRun} for the layer, budget and prefill (cached)."""
        cap = self.capture
        key = (self.layer, self.budget, self.prefill)
        return self._cache.get_or(key, lambda: {p: run_policy(cap, self.layer, p, self.budget, self.prefill)
                                                for p in POLICIES})

    def kept_matrix(self) -> tuple[np.ndarray, list]:
        """((rows, T) bool, row labels): rows = policies at `head`, or the heads of `policy`."""
        runs = self.runs()
        if self.rows == "policies":
            return np.stack([runs[p].kept[self.head] for p in POLICIES]), list(POLICIES)
        kept = runs[self.policy].kept
        return kept, [f"head {h}" for h in range(kept.shape[0])]

    def table(self) -> pd.DataFrame:
        """Per policy at `head`: tokens kept, share of the model's attention (last 64 queries) on them,
        and the store's bytes per token seen (all heads of the layer, K and V in fp32)."""
        rows = []
        for p, run in self.runs().items():
            kept = run.kept
            rows.append({"policy": p, "kept": int(kept[self.head].sum()),
                         "attention kept": float(attention_mass_kept(self.capture, self.layer, kept)[self.head]),
                         "bytes / token (all heads)": run.store.bytes_per_token()})
        return pd.DataFrame(rows)

    # -- views --------------------------------------------------------------------------------
    @param.depends("layer", "head", "budget", "prefill", "rows", "policy")
    def kept_view(self):
        M, labels = self.kept_matrix()
        what = f"kv head {self.head}" if self.rows == "policies" else self.policy
        return kept_image(M.astype(np.float32), labels, self.rows[:-1] if self.rows == "heads" else "policy").opts(
            title=f"kept at the end ({what}; budget {self.budget}, first {self.prefill} compressed at once)")

    @param.depends("layer", "head", "budget", "prefill", "policy")
    def timeline_view(self):
        hist = self.runs()[self.policy].history[:, self.head].astype(np.float32)
        hist[hist < 0] = np.nan
        return kept_image(hist, None, "step").opts(
            title=f"{self.policy}, kv head {self.head}: the cache after each appended token (step 0: the prefill)")

    @param.depends("layer", "head", "budget", "prefill", "policy")
    def scores_view(self):
        s = self.runs()[self.policy].store.scores_
        if s is None:
            return hv.Curve([], "position", "score")
        y = s[0, self.head].astype(float)
        y[~np.isfinite(y)] = np.nan
        return hv.Curve((np.arange(len(y)), y), "position", "score").opts(
            title=f"{self.policy}'s prefill scores (higher = kept)")

    def kept_note(self) -> str:
        """Why the kept counts differ from the budget, in words (shown under the table)."""
        T = self.capture.k[0].shape[2]
        runs = self.runs()
        rolling = [p for p, r in runs.items() if getattr(r.store, "evict_on_append", False)]
        keeping = [p for p in runs if p not in rolling]
        n0, later = min(self.budget, self.prefill), T - self.prefill
        text = (f"**Kept** of {T} tokens: the first {self.prefill} are compressed to the budget "
                f"({n0} per kv head), the other {later} arrive one at a time.")
        if rolling:
            text += f" {' and '.join(rolling)} evict while decoding and stay at {self.budget}."
        if keeping and later:
            text += (f" {', '.join(keeping[:-1])} and {keeping[-1]} compress the prompt only and keep every "
                     f"token after it: kept = {n0} + {later} = {n0 + later} (prefill-only, as kvpress's presses "
                     f"and SnapKV, Li et al. 2024 Fig. 1; TOVA's paper, Oren et al. 2024 §3, evicts at every "
                     "step instead).")
        return text

    @param.depends("layer", "head", "budget", "prefill")
    def table_view(self):
        return pn.Column(pn.pane.DataFrame(self.table().round(3), index=False, width=460),
                         pn.pane.Markdown(self.kept_note(), width=460))

    def _build(self):
        T = self.capture.k[0].shape[2]
        slider = pn.widgets.IntSlider
        controls = pn.Param(self.param, parameters=["layer", "head", "budget", "prefill", "rows", "policy"],
                            widgets={"layer": slider, "head": slider, "budget": slider, "prefill": slider,
                                     "rows": pn.widgets.RadioButtonGroup, "policy": pn.widgets.Select},
                            show_name=False, width=300)
        width = min(600, max(400, T + 200))   # 600: with the 480 px controls, a 1280 px screen
        kept = hv.DynamicMap(self.kept_view).opts(frame_width=width, frame_height=200, framewise=True,
                                                  fontsize={"title": "10pt"})
        timeline = hv.DynamicMap(self.timeline_view).opts(frame_width=width, frame_height=260, framewise=True,
                                                          fontsize={"title": "10pt"})
        scores = hv.DynamicMap(self.scores_view).opts(frame_width=width, frame_height=120, framewise=True,
                                                      color="#1f4e79", tools=["hover"], fontsize={"title": "10pt"})
        legend = pn.pane.HTML('<span style="color:#1f4e79">&#9632;</span> kept &nbsp; '
                              '<span style="color:#d4d4d4">&#9632;</span> evicted &nbsp; white: not yet seen')
        table = pn.param.ParamMethod(self.table_view, lazy=True)  # computed when drawn, not when built
        return pn.Row(pn.Column("### Eviction: what each policy keeps", controls, legend, table, width=480),
                      pn.Column(*(pn.pane.HoloViews(v, linked_axes=False) for v in (kept, timeline, scores))))

    def __panel__(self):
        return deferred(self._ready(), lambda: self.capture, self._build,
                        "capturing MiniLM's keys, values and queries for 512 tokens (once per process)…")


class EvictionStoreView(pn.viewable.Viewer):
    """Any labkit EvictionStore: which tokens each head holds now (kept_) and its prefill scores_."""

    store = param.ClassSelector(class_=EvictionStore, doc="the labkit.kvcache eviction store shown")

    def __init__(self, store: EvictionStore, **params):
        if not isinstance(store, EvictionStore):
            raise TypeError(f"store: expected a labkit.kvcache EvictionStore, got {type(store).__name__}")
        super().__init__(store=store, **params)

    def summary(self) -> dict:
        s = self.store
        kept = s.kept_
        n = int(kept[0].sum(-1).max()) if kept.size else 0
        out = {"policy": type(s).__name__, "tokens seen": s.seq_length, "budget per head": s.budget_,
               "kept per head": n, "nbytes": s.nbytes}
        if s.budget_ is not None and n > s.budget_:
            out["why kept > budget"] = ("the budget applies at prefill; tokens appended after it are all kept "
                                        "(prefill-only compression, as kvpress's presses)")
        return out

    def view(self):
        kept = self.store.kept_
        if not kept.size:
            return hv.Curve([], "position", "kept").opts(title="empty: call prefill(K, V, queries) first")
        return kept_image(kept[0].astype(np.float32), [f"head {h}" for h in range(kept.shape[1])], "head").opts(
            title=f"{type(self.store).__name__}: kept_ (batch 0)", frame_width=600,
            frame_height=max(80, 18 * kept.shape[1]))

    def scores(self):
        s = self.store.scores_
        if s is None:
            return hv.Curve([], "position", "score").opts(title="no scores (the prompt was kept whole)")
        return hv.Image(np.ascontiguousarray(s[0][::-1], dtype=np.float32), kdims=["position", "head"],
                        vdims=["score"], bounds=(0, 0, s.shape[-1], s.shape[1])).opts(
            cmap="viridis", colorbar=True, invert_yaxis=True, frame_width=600,
            frame_height=max(80, 18 * s.shape[1]), title="scores_ at prefill (higher = kept)", tools=["hover"])

    def __panel__(self):
        rows = pd.DataFrame({"property": list(self.summary()), "value": [str(v) for v in self.summary().values()]})
        return pn.Row(pn.pane.DataFrame(rows, index=False, width=260),
                      pn.Column(pn.pane.HoloViews(self.view(), linked_axes=False),
                                pn.pane.HoloViews(self.scores(), linked_axes=False)))
