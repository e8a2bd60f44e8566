"""Hostile values, generated for every parameter of every Case of the common API test (tests/test_api.py)
from its valid value's type, as a probe of the whole API would try them:

  huge            10**12 for an integer (a size, a count, an index, a seed): no giant allocation, no hang
  inf             +inf in one element of a float array or tensor
  beyond float32  1e39 in one element of a float array: finite in float64, inf in float32

Accepted outcomes: a TypeError/ValueError naming the parameter, or a normal return whose floating-point
results are finite where the valid call's are. Failures: any other exception (MemoryError, OverflowError,
a numba error), a crash, no answer within HANG_S (a hang), or inf/NaN appearing in the results (a silent
wrong answer). `Case.ok` lists a category a parameter accepts on purpose, with the reason.

The calls run in a spawned worker process (not in pytest's: a crash or hang must fail one case, not the
run) that holds an address-space limit of its start-up size + EXTRA_BYTES, so a giant allocation fails
there as a MemoryError instead of paging the machine; a worker that crashes or hangs is replaced.
"""

from __future__ import annotations

import multiprocessing as mp
import re

import numpy as np
import pytest
import torch

HANG_S = 60.0                # no answer within this many seconds: a hang (the slowest valid call takes ~10 s)
EXTRA_BYTES = 2 * 2**30      # what one call may allocate beyond the worker's start-up size


def hostile_values(value) -> list[tuple[str, object]]:
    """(category, value) pairs for a parameter whose valid value is `value`."""
    if isinstance(value, (bool, np.bool_)):
        return []
    if isinstance(value, (int, np.integer)):
        return [("huge", 10**12)]
    out = []
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
        for category, x in (("inf", np.inf), ("beyond float32", 1e39)):
            v = value.astype(np.float64)
            v.flat[0] = x
            out.append((category, v))
    if isinstance(value, torch.Tensor) and value.dtype.is_floating_point and value.numel():
        v = value.clone()
        v.view(-1)[0] = float("inf")
        out.append(("inf", v))
    return out


def finite(x, depth: int = 0) -> bool:
    """Every floating-point number in x (arrays, tensors, frames, containers) is finite."""
    import pandas as pd
    if depth > 4:
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind not in "fc" or bool(np.isfinite(x).all())
    if isinstance(x, torch.Tensor):
        return not x.is_floating_point() or bool(torch.isfinite(x).all())
    if isinstance(x, pd.DataFrame):
        return all(finite(x[c].to_numpy(), depth + 1) for c in x.columns)
    if isinstance(x, float):
        return bool(np.isfinite(x))
    if isinstance(x, (list, tuple)):
        return all(finite(v, depth + 1) for v in x)
    if isinstance(x, dict):
        return all(finite(v, depth + 1) for v in x.values())
    return True


def _cases():
    from test_api import CASES
    for i, case in enumerate(CASES):
        for param, value in case.kwargs.items():
            for category, _ in hostile_values(value):
                if category not in case.ok.get(param, {}):
                    yield pytest.param(i, param, category, id=f"{case.name}-{param}-{category}")


def _serve(conn) -> None:
    """The worker: answers (case index, param, category) with (outcome, detail)."""
    import resource

    import test_api
    size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + EXTRA_BYTES, resource.RLIM_INFINITY))
    valid: dict[int, bool] = {}
    while True:
        i, param, category = conn.recv()
        case = test_api.CASES[i]
        try:
            if i not in valid:
                valid[i] = finite(test_api._call(case)[1])
            value = dict(hostile_values(case.kwargs[param]))[category]
            _, result = test_api._call(case, **{param: value})
            ok = finite(result) or not valid[i]
            conn.send(("accepted", "") if ok else ("wrong", "inf or NaN in the result (the valid call's is finite)"))
        except (TypeError, ValueError) as e:
            named = re.search(rf"\b{re.escape(param)}\b", str(e))
            conn.send(("refused", "") if named else ("unnamed", f"{type(e).__name__}: {e}"))
        except BaseException as e:  # noqa: BLE001 (MemoryError, numba errors, ...: each is a finding)
            conn.send(("unclear", f"{type(e).__name__}: {str(e)[:300]}"))


class _Worker:
    def __init__(self):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()

    def ask(self, *request) -> tuple[str, str]:
        self.conn.send(request)
        if not self.conn.poll(HANG_S):
            return "hang", f"no answer within {HANG_S:g} s"
        try:
            return self.conn.recv()
        except EOFError:
            return "crash", f"the worker died (exit code {self.proc.exitcode})"

    def stop(self):
        self.proc.kill()
        self.proc.join(10)


@pytest.fixture(scope="module")
def worker():
    box = [_Worker()]
    yield box
    box[0].stop()


@pytest.mark.timeout(HANG_S + 120)  # the worker's start-up included
@pytest.mark.parametrize("i, param, category", list(_cases()))
def test_hostile_value_is_refused_or_harmless(worker, i, param, category):
    from test_api import CASES
    outcome, detail = worker[0].ask(i, param, category)
    if outcome in ("hang", "crash"):
        worker[0].stop()
        worker[0] = _Worker()
    assert outcome in ("refused", "accepted"), f"{CASES[i].name}({param}=<{category}>): {outcome}: {detail}"
