"""Argument checks for every public entry point of labkit: one message format, one exception policy.

    name: expected <what was expected>, got <what was given>

Wrong *type* (a string where a number goes, a float where an integer goes, a list where a callable
goes) raises `TypeError`; a value of the right type that is *out of range* (negative, NaN, inf,
wrong shape, empty, unknown choice) raises `ValueError`. Every check returns the value in the form
the computation uses (a Python int/float, a numpy array of the asked dtype), so callers write

    M = check_int("M", M, low=2)
    X = check_array("X", X, ndim=2, dtype=np.float32)

and never hand-write a validator. `fail(name, expected, got)` builds the same message for checks
that do not fit one of these (DESIGN.md, "Errors are part of the API").
"""

from __future__ import annotations

import math
import sys
from numbers import Integral, Real
from typing import Any, Iterable

import numpy as np

__all__ = ["fail", "type_fail", "describe", "check_int", "check_float", "check_bool", "check_choice",
           "check_str", "check_array", "check_seed", "is_generator", "check_callable", "check_instance"]


def describe(value: Any) -> str:
    """A short description of `value` for an error message (arrays by shape and dtype)."""
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(name: str, expected: str, got: Any, *, described: bool = False) -> ValueError:
    """The ValueError `name: expected ..., got ...` (raise it: `raise fail(...)`)."""
    return ValueError(f"{name}: expected {expected}, got {got if described else describe(got)}")


def type_fail(name: str, expected: str, got: Any) -> TypeError:
    """The TypeError `name: expected ..., got <type name>` (raise it)."""
    return TypeError(f"{name}: expected {expected}, got {type(got).__name__} {describe(got)}")


def _range_text(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return ""


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python or numpy, not bool) in [low, high]; returned as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise type_fail(name, "an integer", value)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise fail(name, f"an integer {_range_text(low, high, False, False)}", v)
    return v


def check_float(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False, finite: bool = True) -> float:
    """A real number (int or float, not bool) in the range, finite unless `finite=False`
    (NaN is always rejected); returned as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise type_fail(name, "a real number", value)
    v = float(value)
    rng = _range_text(low, high, low_open, high_open)
    expected = f"a {'finite ' if finite else ''}number{' ' + rng if rng else ''}"
    if math.isnan(v) or (finite and math.isinf(v)):
        raise fail(name, expected, v)
    if low is not None and (v < low or (low_open and v == low)):
        raise fail(name, expected, v)
    if high is not None and (v > high or (high_open and v == high)):
        raise fail(name, expected, v)
    return v


def check_bool(name: str, value: Any) -> bool:
    """True or False (also numpy's bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise type_fail(name, "True or False", value)
    return bool(value)


def check_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise type_fail(name, "a string", value)
    return value


def check_choice(name: str, value: Any, choices: Iterable) -> Any:
    """One of `choices` (the message lists them all)."""
    choices = list(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a dict's keys
        ok = False
    if not ok:
        if choices and all(isinstance(c, str) for c in choices) and not isinstance(value, str):
            raise type_fail(name, f"one of {choices}", value)
        raise fail(name, f"one of {choices}", value)
    return value


def check_seed(name: str, value: Any) -> Any:
    """A seed: None, a non-negative integer or a numpy Generator (returned unchanged)."""
    if value is None or is_generator(value):
        return value
    return check_int(name, value, low=0)


def is_generator(value: Any) -> bool:
    """Is `value` a numpy Generator? Without importing numpy.random (11 ms of a fresh process):
    while it is not imported, nothing can be one."""
    random = sys.modules.get("numpy.random")
    return random is not None and isinstance(value, random.Generator)


def check_callable(name: str, value: Any) -> Any:
    if not callable(value):
        raise type_fail(name, "a callable", value)
    return value


def check_instance(name: str, value: Any, cls: type | tuple, what: str | None = None) -> Any:
    """`value` an instance of `cls`, else TypeError naming `what` (default: the class names)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise type_fail(name, what or f"a {names}", value)
    return value


def check_array(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None,
                shape: tuple | None = None, dtype: Any = None, finite: bool = True,
                min_size: int = 0, kind: str = "numeric") -> np.ndarray:
    """`value` as a numpy array (converted with `dtype` when given).

    kind: "numeric" (bool, integer or real numbers), "bool", "integer" or "any".
    ndim: the allowed number(s) of dimensions. shape: expected sizes, None for any along an axis.
    finite: reject NaN and +-inf *in the dtype the computation uses* (a float64 value that
    overflows float32 is rejected when dtype=np.float32). min_size: fewest elements (1: not empty).
    """
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise type_fail(name, "an array", value)
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:  # ragged lists, objects numpy cannot hold
        raise fail(name, "a rectangular array", f"{type(value).__name__} ({e})", described=True) from None
    if kind != "any":
        ok = {"numeric": "biuf", "bool": "b", "integer": "iu"}[kind]
        if a.dtype.kind not in ok and not (kind == "bool" and a.size == 0):
            what = {"numeric": "a numeric array", "bool": "a boolean array", "integer": "an integer array"}[kind]
            raise type_fail(name, what, value) if a.dtype.kind in "OSUV" else fail(name, what, a)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in allowed:
            dims = " or ".join(str(d) for d in allowed)
            raise fail(name, f"a {dims}-d array", f"shape {a.shape}", described=True)
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape, strict=True)):
            want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise fail(name, f"shape {want}", f"shape {a.shape}", described=True)
    if a.size < min_size:
        raise fail(name, f"at least {min_size} element{'s' if min_size != 1 else ''}", f"shape {a.shape}",
                   described=True)
    if dtype is not None and a.dtype != np.dtype(dtype):
        if np.dtype(dtype).kind in "iu" and a.dtype.kind == "f":
            if finite and not np.isfinite(a).all():
                raise fail(name, "finite values", "NaN or inf", described=True)
            if not np.array_equal(a, np.round(a)):
                raise fail(name, "integer values", "fractions", described=True)
        with np.errstate(over="ignore", invalid="ignore"):
            a = a.astype(dtype)
    if finite and a.dtype.kind in "fc" and a.size and not np.isfinite(a).all():
        where = " in " + str(np.dtype(dtype)) if dtype is not None else ""
        got = "NaN or inf" + ("" if not where else " (or too large)")
        raise fail(name, f"finite values{where}", got, described=True)
    return a
