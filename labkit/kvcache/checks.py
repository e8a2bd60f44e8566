"""Torch-specific argument checks of labkit.kvcache, in labkit.validate's format and policy.

    name: expected <what was expected>, got <what was given>

A wrong type (a list or numpy array where a torch.Tensor goes, a number where a dtype goes)
raises TypeError; a value of the right type that is out of range (wrong shape, no elements, NaN
or inf, an integer tensor where floats go) raises ValueError. Everything that is not a tensor,
a shape or a dtype goes through labkit.validate directly.
"""

from __future__ import annotations

from typing import Any

import torch

from labkit.validate import check_int, fail, type_fail

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensor(name: str, x: Any, *, ndim: int | tuple[int, ...] | None = None, min_ndim: int = 0,
                 floating: bool = True, finite: bool = True, nonempty: bool = True,
                 what: str | None = None) -> torch.Tensor:
    """`x` a torch.Tensor with `ndim` (one value or the allowed ones) or at least `min_ndim`
    dimensions, floating point unless `floating=False`, at least one element and finite unless told
    otherwise. `what` describes the expected layout in messages, e.g. "(batch, heads, tokens, head_dim)"."""
    layout = f" {what}" if what else ""
    if not isinstance(x, torch.Tensor):
        raise type_fail(name, f"a torch.Tensor{layout}", x)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            dims = " or ".join(str(d) for d in allowed)
            raise fail(name, f"a {dims}-d tensor{layout}", f"shape {tuple(x.shape)}", described=True)
    if x.ndim < min_ndim:
        raise fail(name, f"a tensor of at least {min_ndim} dimensions{layout}", f"shape {tuple(x.shape)}",
                   described=True)
    if floating and not x.is_floating_point():
        raise fail(name, "a floating-point tensor", f"dtype {x.dtype}", described=True)
    if nonempty and x.numel() == 0:
        raise fail(name, f"a tensor with at least one element{layout}", f"shape {tuple(x.shape)}", described=True)
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise fail(name, "finite values", "NaN or inf", described=True)
    return x


def check_kv(K: Any, V: Any, names: tuple[str, str] = ("K", "V")) -> None:
    """K and V: finite floating (batch, heads, tokens, head_dim) tensors with at least one token,
    of the same shape. `names` are the argument names the messages use (("k", "v") for append)."""
    layout = "(batch, heads, tokens, head_dim)"
    for t, nm in zip((K, V), names, strict=True):
        check_tensor(nm, t, ndim=4, what=layout)
    if K.shape != V.shape:
        raise fail(", ".join(names), "two tensors of the same shape",
                   f"{tuple(K.shape)} and {tuple(V.shape)}", described=True)


def check_dtype(name: str, value: Any, *, none: bool = False) -> torch.dtype | None:
    """A floating torch.dtype (one of FLOAT_DTYPES), or None when `none=True`."""
    if value is None and none:
        return None
    if not isinstance(value, torch.dtype):
        raise type_fail(name, ("None or " if none else "") + "a floating torch.dtype", value)
    if value not in FLOAT_DTYPES:
        raise fail(name, f"one of {[str(d) for d in FLOAT_DTYPES]}", str(value), described=True)
    return value


def check_shape(name: str, shape: Any, *, ndim: int | None = None, min_ndim: int = 0) -> tuple[int, ...]:
    """A tensor shape: a tuple, list or torch.Size of integers >= 0, returned as a tuple of ints."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list, torch.Size)):
        raise type_fail(name, "a shape (a tuple of integers)", shape)
    out = tuple(check_int(f"{name}[{i}]", s, low=0) for i, s in enumerate(shape))
    if (ndim is not None and len(out) != ndim) or len(out) < min_ndim:
        want = f"{ndim} sizes" if ndim is not None else f"at least {min_ndim} sizes"
        raise fail(name, want, out)
    return out
