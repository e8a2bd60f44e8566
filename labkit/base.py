"""What every estimator-like class of labkit shares: `get_params()` and a readable repr.

scikit-learn's convention (its `BaseEstimator`): the constructor takes hyper-parameters only and
stores each under its own name, so `get_params()` can read them back from the signature. A class
that stores a hyper-parameter under another name (or normalises it) says so in `_param_aliases`
({constructor name: attribute name}).

The inspection convention (DESIGN.md "Inspectable by construction"): every memory object has
`snapshot()`, returning plain data only (numpy arrays, pandas DataFrames, numbers, strings, frozen
dataclasses of those, or a dict of them), never the object's own private state.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["Estimator"]


class Estimator:
    """Mixin: `get_params()` from the constructor's signature, and `repr` showing non-default ones."""

    _param_aliases: dict[str, str] = {}

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters this object was made with, by constructor name
        (`type(obj)(**obj.get_params())` makes an equivalent, empty object)."""
        return {name: getattr(self, self._param_aliases.get(name, name)) for name in self._param_names()}

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            try:
                same = default is not inspect.Parameter.empty and bool(default == value)
            except (TypeError, ValueError):  # arrays
                same = False
            if not same:
                text = repr(value)
                shown.append(f"{name}={text if len(text) <= 40 else type(value).__name__ + '(...)'}")
        return f"{type(self).__name__}({', '.join(shown)})"
