"""Error measures shared by notebooks, inspectors and tests: relative error and attention."""

from __future__ import annotations

import math

import torch

from labkit.kvcache.checks import check_tensor
from labkit.validate import check_bool, fail


def rel_error(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """‖x̂ − x‖ / ‖x‖ (Frobenius), in float64. x̂ and x: finite tensors of one shape, x not all zero."""
    check_tensor("x_hat", x_hat)
    check_tensor("x", x)
    if x_hat.shape != x.shape:
        raise fail("x_hat", f"x's shape {tuple(x.shape)}", f"shape {tuple(x_hat.shape)}", described=True)
    x, x_hat = x.double(), x_hat.double()
    norm = x.norm()
    if norm == 0:
        raise fail("x", "a tensor that is not all zeros (the error is relative to its norm)", "all zeros",
                   described=True)
    return float((x_hat - x).norm() / norm)


def _check_qkv(q, k, v, names=("q", "k", "v")) -> None:
    nq, nk, nv = names
    check_tensor(nq, q, ndim=(2, 3), what="(Tq, d) or (h, Tq, d)")
    check_tensor(nk, k, ndim=(2, 3), what="(T, d) or (h, T, d)")
    if k.shape[-1] != q.shape[-1]:
        raise fail(nk, f"head_dim {q.shape[-1]} ({nq}'s)", f"shape {tuple(k.shape)}", described=True)
    if k.ndim == 3 and q.ndim == 3 and k.shape[0] not in (1, q.shape[0]):
        raise fail(nk, f"{q.shape[0]} heads ({nq}'s) or 1", f"shape {tuple(k.shape)}", described=True)
    if v is not None:
        check_tensor(nv, v, ndim=(2, 3), what="(T, dv) or (h, T, dv)")
        if v.shape[-2] != k.shape[-2]:
            raise fail(nv, f"{k.shape[-2]} tokens ({nk}'s)", f"shape {tuple(v.shape)}", described=True)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None = None, causal: bool = False,
              keep: torch.Tensor | None = None):
    """softmax(q kᵀ/√d + mask) (Vaswani et al. 2017, eq. 1) for q (Tq, d) or (h, Tq, d), k (T, d) or
    (h, T, d), in float32. causal: the Tq queries are the last Tq positions of the T keys (Tq <= T).
    keep (T,) or (h, T) bool masks evicted keys out; a query left with no key attends to nothing (a
    zero row). Returns (probs (h, Tq, T), probs @ v or None). NaN or inf in q, k or v raises."""
    _check_qkv(q, k, v)
    causal = check_bool("causal", causal)
    if keep is not None:
        T = k.shape[-2]
        check_tensor("keep", keep, ndim=(1, 2), floating=False, what="(T,) or (h, T) bool")
        if keep.dtype != torch.bool or keep.shape[-1] != T:
            raise fail("keep", f"a bool mask over the {T} keys", f"{keep.dtype} of shape {tuple(keep.shape)}",
                       described=True)
    if causal and q.shape[-2] > k.shape[-2]:
        raise fail("q", f"at most the {k.shape[-2]} key positions with causal=True", f"{q.shape[-2]} queries",
                   described=True)
    return _attend(q, k, v, causal, keep)


def _attend(q, k, v, causal: bool, keep):
    """attention() on checked arguments."""
    q, k = q.float(), k.float()
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    Tq, T = logits.shape[-2:]
    if causal:
        future = torch.arange(T)[None, :] > torch.arange(T - Tq, T)[:, None]
        logits = logits.masked_fill(future, float("-inf"))
    if keep is not None:
        logits = logits.masked_fill(~keep.reshape(*keep.shape[:-1], 1, T), float("-inf"))
    dead = torch.isneginf(logits).all(-1, keepdim=True)  # every key masked: the row attends to nothing
    p = torch.softmax(logits.masked_fill(dead, 0.0), dim=-1).masked_fill(dead, 0.0)
    return p, (None if v is None else p @ v.float())


def attention_output_error(q, K, V, K_hat, V_hat, causal: bool = False) -> float:
    """rel_error of softmax(q K̂ᵀ/√d) V̂ against softmax(q Kᵀ/√d) V: what a compressed cache costs the
    layer's output (the error KIVI reasons about when it picks each tensor's axis: Liu et al. 2024,
    arXiv 2402.02750, §3.2). K̂, V̂ have K's and V's shapes."""
    _check_qkv(q, K, V, ("q", "K", "V"))
    _check_qkv(q, K_hat, V_hat, ("q", "K_hat", "V_hat"))
    for name, a, b in (("K_hat", K_hat, K), ("V_hat", V_hat, V)):
        if a.shape != b.shape:
            raise fail(name, f"shape {tuple(b.shape)} ({name[0]}'s)", f"shape {tuple(a.shape)}", described=True)
    causal = check_bool("causal", causal)
    if causal and q.shape[-2] > K.shape[-2]:
        raise fail("q", f"at most the {K.shape[-2]} key positions with causal=True", f"{q.shape[-2]} queries",
                   described=True)
    return rel_error(_attend(q, K_hat, V_hat, causal, None)[1], _attend(q, K, V, causal, None)[1])
