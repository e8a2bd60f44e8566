"""The common API test, in the spirit of scikit-learn's `check_estimator`: one parametrised test over
every public class and function of every mechanism, generated from the packages' public names
(`__all__`) and one valid call each (tests/api_cases/). See tests/api_cases/__init__.py for what is
generated; DESIGN.md ("Conventions") for the rules it holds every mechanism to."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import pkgutil
import re
from typing import Any

import api_cases
import numpy as np
import pandas as pd
import pytest
import torch
from api_cases import Case

import labkit
from labkit.base import Estimator

CASE_MODULES = [importlib.import_module(f"api_cases.{m.name}") for m in pkgutil.iter_modules(api_cases.__path__)]
CASES: list[Case] = [c for m in CASE_MODULES for c in m.CASES]
COVERED_MODULES = sorted({name for m in CASE_MODULES for name in m.MODULES})


# -- resolving a case --------------------------------------------------------------------------------
def _public(module: str) -> dict[str, Any]:
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    assert names is not None, f"{module} has no __all__: its public names must be listed"
    return {n: getattr(mod, n) for n in names}


def _target(case: Case):
    """(callable, owner class or None) for the case."""
    head, _, method = case.target.partition(".")
    obj = _public(case.module)[head]
    if not method:
        return obj, None
    return getattr(case.make(), method), obj


def _call(case: Case, **override):
    fn, _ = _target(case)
    kwargs = {**case.kwargs, **override}
    out = fn(**kwargs)
    if case.then is not None and inspect.isclass(fn):
        return out, case.then(out)
    return out, out


def _params(case: Case) -> dict[str, inspect.Parameter]:
    fn, _ = _target(case) if "." not in case.target else (None, None)
    if fn is None:  # a method: read its signature without making the object
        head, _, method = case.target.partition(".")
        fn = getattr(_public(case.module)[head], method)
    sig = inspect.signature(fn)
    return dict(sig.parameters)


# -- comparing results -------------------------------------------------------------------------------
def same(a, b, rtol: float = 0.0) -> bool:
    """Equal results: arrays and tensors element for element (NaN == NaN), frames exactly,
    dataclasses and containers field by field, memories by their snapshot(). rtol > 0 lets floating
    point values differ by rounding (relative to the array's largest magnitude); integers and
    booleans must still match exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return False
        if rtol and a.dtype.kind in "fc" and a.size:
            scale = max(float(np.nanmax(np.abs(a))), 1e-300)
            return bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, torch.Tensor):
        if a.shape != b.shape:
            return False
        if rtol and a.dtype.is_floating_point and a.numel():
            return same(a.detach().double().numpy(), b.detach().double().numpy(), rtol)
        return bool(torch.equal(a, b) or torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))
    if isinstance(a, (pd.DataFrame, pd.Series)):
        try:
            check = pd.testing.assert_frame_equal if isinstance(a, pd.DataFrame) else pd.testing.assert_series_equal
            check(a, b, check_exact=not rtol, rtol=rtol or 1e-5)
            return True
        except AssertionError:
            return False
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name), rtol) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rtol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rtol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or bool(rtol and math.isclose(a, b, rel_tol=rtol))
    if hasattr(a, "snapshot"):
        return same(a.snapshot(), b.snapshot(), rtol)
    return bool(a == b)


PLAIN_SCALARS = (int, float, bool, str, bytes, complex, type(None), np.generic)


def plain(x, depth: int = 0) -> bool:
    """Plain data: arrays, tensors, DataFrames, numbers, strings, frozen dataclasses of those,
    and lists / tuples / dicts of them."""
    if depth > 6:
        return False
    if isinstance(x, PLAIN_SCALARS + (np.ndarray, torch.Tensor, pd.DataFrame, pd.Series, pd.Index)):
        return True
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return x.__dataclass_params__.frozen and all(plain(getattr(x, f.name), depth + 1)
                                                      for f in dataclasses.fields(x))
    if isinstance(x, (list, tuple)):
        return all(plain(v, depth + 1) for v in x)
    if isinstance(x, dict):
        return all(isinstance(k, (str, int)) and plain(v, depth + 1) for k, v in x.items())
    return False


# -- generated bad values ----------------------------------------------------------------------------
def bad_values(value) -> list[tuple[str, Any]]:
    """(category, value) pairs that are wrong for a parameter whose valid value is `value`."""
    if isinstance(value, (bool, np.bool_)):
        return [("wrong type", "yes")]
    if isinstance(value, (int, np.integer)):
        return [("wrong type", "3"), ("wrong type", 2.5)]
    if isinstance(value, (float, np.floating)):
        return [("wrong type", "x"), ("nan", float("nan")), ("inf", float("inf"))]
    if isinstance(value, str):
        return [("wrong type", 3), ("unknown value", "__no_such_value__")]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        out = [("wrong type", "not an array"), ("wrong shape", value[None]),
               ("empty", value[:0] if value.ndim else np.empty(0, value.dtype))]
        if value.ndim >= 1:
            out.append(("wrong shape", value.reshape(-1)[0] if value.ndim == 1 else value.reshape(-1)))
        if value.dtype.kind == "f" and value.size:
            v = value.copy()
            v.flat[0] = np.nan
            out.append(("nan", v))
        return out
    if isinstance(value, torch.Tensor) and value.dtype.is_floating_point:
        out = [("wrong type", "not a tensor"), ("wrong shape", value[None]),
               ("empty", value[..., :0, :] if value.ndim >= 2 else value[:0])]
        if value.numel():
            v = value.clone()
            v.view(-1)[0] = float("nan")
            out.append(("nan", v))
        return out
    if value is None or callable(value) and not inspect.isclass(type(value)):
        return []
    return [("wrong type", 3)]  # an object of some class: an integer is not it


def _bad_cases():
    for case in CASES:
        for param, value in case.kwargs.items():
            allowed = case.ok.get(param, {})
            for category, bad in bad_values(value):
                if category not in allowed:
                    yield pytest.param(case, param, category, bad, id=f"{case.name}-{param}-{category}")
        for param, values in case.bad.items():
            for i, bad in enumerate(values):
                yield pytest.param(case, param, "out of range", bad, id=f"{case.name}-{param}-range{i}")


def _ids(cases):
    return [c.name for c in cases]


# -- the tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", COVERED_MODULES)
def test_every_public_class_and_function_has_a_case(module):
    """A name re-exported from another module (labkit.data.mackey_glass is labkit.reservoir's) is covered by
    that module's Case: coverage is by object, not by name."""
    covered = {id(_public(c.module)[c.target.partition(".")[0]]) for c in CASES}
    missing = sorted(n for n, v in _public(module).items()
                     if (inspect.isclass(v) or inspect.isfunction(v)) and id(v) not in covered)
    assert not missing, f"{module}: no Case in tests/api_cases for {missing} (add one valid call each)"


def test_every_mechanism_is_covered():
    mechanisms = {f"labkit.{m.name}" for m in pkgutil.iter_modules(labkit.__path__) if m.ispkg}
    missing = sorted(mechanisms - set(COVERED_MODULES))
    assert not missing, f"mechanisms without api_cases: {missing}"


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_valid_call_runs(case):
    _call(case)


SEEDED = [c for c in CASES if "seed" in _params(c)]


@pytest.mark.parametrize("case", SEEDED, ids=_ids(SEEDED))
def test_same_seed_same_result(case):
    seed = case.kwargs.get("seed", 7)
    seed = 7 if seed is None else seed
    (_, a), (_, b) = _call(case, seed=seed), _call(case, seed=seed)
    assert same(a, b), f"{case.name}: two calls with seed={seed} differ"


SWITCHED = [c for c in CASES if "backend" in _params(c)]
BACKEND_RTOL = 1e-9


@pytest.mark.parametrize("case", SWITCHED, ids=_ids(SWITCHED))
def test_fast_and_readable_backends_agree(case):
    """Same answer both ways: integers, booleans and structure exactly; floating point to rounding
    (BACKEND_RTOL: a compiled loop may sum in another order or call libm where numpy has its own)."""
    (_, fast), (_, readable) = _call(case, backend="fast"), _call(case, backend="readable")
    assert same(fast, readable, rtol=BACKEND_RTOL), f"{case.name}: backend='fast' and backend='readable' differ"


@pytest.mark.parametrize("case, param, category, value", list(_bad_cases()))
def test_bad_argument_raises_naming_it(case, param, category, value):
    with pytest.raises((TypeError, ValueError)) as err:
        _call(case, **{param: value})
    assert re.search(rf"\b{re.escape(param)}\b", str(err.value)), \
        f"{case.name}({param}={value!r}) [{category}]: message does not name {param!r}: {err.value}"


MEMORIES = [c for c in CASES if c.memory]


def _memory(case: Case):
    out, _ = _call(case)
    return case.make() if "." in case.target else out


@pytest.mark.parametrize("case", MEMORIES, ids=_ids(MEMORIES))
def test_snapshot_is_plain_data(case):
    snap = _memory(case).snapshot()
    assert plain(snap), f"{case.name}: snapshot() returned non-plain data: {type(snap).__name__}"


CLASSES = [c for c in CASES if "." not in c.target and inspect.isclass(_public(c.module)[c.target])]
ESTIMATORS = [c for c in CLASSES if not dataclasses.is_dataclass(_public(c.module)[c.target])
              and not issubclass(_public(c.module)[c.target], (tuple, Exception))]


@pytest.mark.parametrize("case", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_get_params_round_trips(case):
    cls = _public(case.module)[case.target]
    assert issubclass(cls, Estimator), f"{case.name}: estimator-like classes inherit labkit.base.Estimator"
    obj, _ = _call(case)
    params = obj.get_params()
    assert set(params) == set(Estimator._param_names.__func__(cls))
    for k, v in case.kwargs.items():
        assert same(params[k], v) or params[k] is v, f"{case.name}.get_params()[{k!r}] = {params[k]!r}, made with {v!r}"
    assert same(type(obj)(**params).get_params(), params)


@pytest.mark.parametrize("case", MEMORIES, ids=_ids(MEMORIES))
def test_widgets_inspect_accepts_every_memory(case):
    widgets = pytest.importorskip("widgets")
    assert widgets.inspect(_memory(case)) is not None
