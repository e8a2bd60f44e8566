"""Surrogate gradients: the Heaviside spike forward, a smooth function's derivative backward.

A spike is S = Θ(U − U_thr), whose derivative is zero almost everywhere, so backpropagation
through time learns nothing. Surrogate-gradient learning keeps the step in the forward pass and
replaces ∂S/∂U by the derivative of a smooth stand-in (Neftci, Mostafa & Zenke 2019, "Surrogate
Gradient Learning in Spiking Neural Networks", IEEE Signal Processing Magazine 36(6), 51-63, the
section on surrogate gradients). The two functions below follow snnTorch exactly
(jeshraghian/snntorch `snntorch/surrogate.py` at commit 01bcac78f552b2174344392ce58335bb5ac95476,
classes `ATan` and `FastSigmoid`); x = U − U_thr:

    atan(alpha=2):           S ≈ 1/π · arctan(π α x / 2) + 1/2     ∂S/∂x = (α/2) / (1 + (π α x / 2)²)
    fast_sigmoid(slope=25):  S ≈ x / (1 + k|x|)                     ∂S/∂x = 1 / (1 + k|x|)²

The arc-tangent is Fang et al. 2021 ("Incorporating Learnable Membrane Time Constants to Enhance
Learning of Spiking Neural Networks", ICCV 2021, the surrogate of its experiments); the fast
sigmoid is SuperSpike's (Zenke & Ganguli 2018, "SuperSpike: Supervised Learning in Multilayer
Spiking Neural Networks", Neural Computation 30(6), 1514-1541: the derivative of x / (1 + |x|)).
snnTorch's docstring for `ATan` writes the gradient with a 1/π factor; its code (and the derivative
of the function it names) has α/2, which is what labkit uses.
The forward is a strict `x > 0` in both, as in snnTorch.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SURROGATES", "atan_grad", "fast_sigmoid_grad", "spike"]


def atan_grad(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """The closed form (α/2) / (1 + (π α x / 2)²)."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def fast_sigmoid_grad(x: torch.Tensor, slope: float = 25.0) -> torch.Tensor:
    """The closed form 1 / (1 + k|x|)²."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


class _Spike(torch.autograd.Function):
    """Θ(x) forward (strict x > 0), `grad(x, scale)` backward."""

    @staticmethod
    def forward(ctx, x, grad, scale):
        ctx.save_for_backward(x)
        ctx.grad, ctx.scale = grad, scale
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.grad(x, ctx.scale), None, None


SURROGATES = {"atan": atan_grad, "fast_sigmoid": fast_sigmoid_grad}


def spike(x: torch.Tensor, surrogate: str = "atan", scale: float | None = None) -> torch.Tensor:
    """Θ(x) with the named surrogate gradient; `scale` is atan's α (default 2) or the fast
    sigmoid's slope k (default 25)."""
    if scale is None:
        scale = 2.0 if surrogate == "atan" else 25.0
    return _Spike.apply(x, SURROGATES[surrogate], float(scale))
