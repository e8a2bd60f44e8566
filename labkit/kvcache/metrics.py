"""Error measures shared by notebooks, inspectors and tests: relative error and attention."""

from __future__ import annotations

import math

import torch


def rel_error(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """‖x̂ − x‖ / ‖x‖ (Frobenius), in float64."""
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat: shape {tuple(x_hat.shape)} differs from x's {tuple(x.shape)}")
    x, x_hat = x.double(), x_hat.double()
    return float((x_hat - x).norm() / x.norm())


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None = None, causal: bool = False,
              keep: torch.Tensor | None = None):
    """softmax(q kᵀ/√d + mask) (Vaswani et al. 2017, eq. 1) for q (h, Tq, d), k (T, d) or (h, T, d), in
    float32. causal: the Tq queries are the last Tq positions of the T keys. keep (T,) or (h, T) bool
    masks evicted keys out. Returns (probs (h, Tq, T), probs @ v or None)."""
    q, k = q.float(), k.float()
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        Tq, T = logits.shape[-2:]
        future = torch.arange(T)[None, :] > torch.arange(T - Tq, T)[:, None]
        logits = logits.masked_fill(future, float("-inf"))
    if keep is not None:
        logits = logits.masked_fill(~keep.reshape(*keep.shape[:-1], 1, keep.shape[-1]), float("-inf"))
    p = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # a query with every key evicted attends to nothing
    return p, (None if v is None else p @ v.float())


def attention_output_error(q, K, V, K_hat, V_hat, causal: bool = False) -> float:
    """rel_error of softmax(q K̂ᵀ/√d) V̂ against softmax(q Kᵀ/√d) V — what a compressed cache costs the
    layer's output, the measure kv.md §4 tabulates."""
    return rel_error(attention(q, K_hat, V_hat, causal)[1], attention(q, K, V, causal)[1])
