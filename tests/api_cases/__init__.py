"""Example calls for the common API test (tests/test_api.py), one module per mechanism.

Each module defines `MODULES` (the labkit modules whose public names it covers, e.g. ["labkit.hnsw"])
and `CASES`, a list of `Case`. tests/test_api.py enumerates every public class and function of those
modules (their `__all__`) and fails for any that has no Case, so a new class is covered as soon as it
is exported: its author only writes one valid call.

A Case is one valid call of a public callable (a function, a class, or a method of an object made
by `make`). From it the test generates, per parameter and from the valid value's type:
  wrong type   a str where a number/array goes, a float where an int goes, a number where a str goes
  NaN / inf    for real numbers and float arrays
  wrong shape  one dimension more and one less, for arrays
  empty        an array with no elements
plus the out-of-range values the Case lists in `bad`, and asserts each raises TypeError or
ValueError whose message names the parameter. `ok` lists generated categories a parameter legitimately
accepts (with the reason: e.g. "empty": "no queries -> no results"). It also checks: same seed -> same
result; backend="fast" and "readable" give the same result; a memory's snapshot() is plain data;
get_params() round-trips through the constructor; widgets.inspect accepts every memory object.
tests/test_api_hostile.py generates three more categories from the same Cases (huge integers, inf and
beyond-float32 elements) and runs them in a worker process; `ok` applies to those too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Case:
    """One valid call of `target`.

    target  "Name" of a public class or function of `module`, or "Class.method" for a method.
    kwargs  the valid keyword arguments (every parameter the test should vary goes here).
    make    for a method: a zero-argument callable returning the object to call it on.
    then    for a class: turns the constructed object into a result to compare between seeds and
            backends (e.g. fit it and return its predictions); default: the call's return value.
    bad     {param: [out-of-range values]} that must raise TypeError/ValueError naming param.
    ok      {param: {category: reason}} generated categories that param accepts on purpose.
    memory  the object (constructed class, or the result of `then`/`make`) is a memory: it must have
            snapshot() returning plain data, and widgets.inspect must accept it.
    id      distinguishes several Cases of one target.
    """

    module: str
    target: str
    kwargs: dict = field(default_factory=dict)
    make: Callable[[], Any] | None = None
    then: Callable[[Any], Any] | None = None
    bad: dict = field(default_factory=dict)
    ok: dict = field(default_factory=dict)
    memory: bool = False
    id: str = ""

    @property
    def name(self) -> str:
        return f"{self.module}.{self.target}" + (f"[{self.id}]" if self.id else "")
