"""Records: the results a notebook hands to tests, sweeps and the papers ledger.

`record(key, value)` shows the value as a display output of labkit's own MIME type
(`application/vnd.labkit.record+json`), so it is stored inside the executed notebook.
`read_records(path)` reads them back. This is the same idea as scrapbook's `glue`, without
its pandas/pyarrow dependencies.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np

MIME_TYPE = "application/vnd.labkit.record+json"

#: records made in this process, in order (also useful outside a notebook)
_SESSION: dict[str, Any] = {}


def to_json(value: Any, *, _path: str = "value") -> Any:
    """Convert `value` to plain JSON data (numpy scalars/arrays become numbers/lists).

    Raises TypeError naming the offending element when a value has no JSON form.
    Non-finite floats become the strings "nan", "inf", "-inf" so the record stays valid JSON.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isfinite(f):
            return f
        return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{_path}: numpy array of dtype {value.dtype} cannot be recorded; "
                            "expected bool, integer or float")
        return to_json(value.tolist(), _path=_path)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{_path}: dict keys must be str, got {type(k).__name__}")
            out[k] = to_json(v, _path=f"{_path}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v, _path=f"{_path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{_path}: cannot record a value of type {type(value).__name__}; "
                    "expected a number, string, bool, None, numpy array, list or dict")


def record(key: str, value: Any) -> Any:
    """Record `value` under `key` in the running notebook and return `value` unchanged.

    The value is shown as a display output of MIME type ``application/vnd.labkit.record+json``
    holding ``{"key": key, "value": <JSON>}``; a later record with the same key wins.
    Outside IPython the record is kept in this process only (see `session_records`).
    """
    if not isinstance(key, str) or not key or not key.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise ValueError(f"key must be a non-empty string of letters, digits, '_', '.', '-'; got {key!r}")
    data = to_json(value)
    _SESSION[key] = data
    try:
        from IPython import get_ipython  # IPython is a kernel dependency, not UI code
        from IPython.display import display
    except ImportError:  # headless job without IPython
        return value
    if get_ipython() is not None:
        display({MIME_TYPE: {"key": key, "value": data},
                 "text/plain": f"labkit.record {key} = {_short(data)}"}, raw=True)
    return value


def _short(data: Any) -> str:
    text = json.dumps(data)
    return text if len(text) <= 80 else text[:77] + "..."


def session_records() -> dict[str, Any]:
    """The records made in this process so far (a copy)."""
    return dict(_SESSION)


def read_records(path: str | os.PathLike) -> dict[str, Any]:
    """Return ``{key: value}`` of every labkit record in an executed notebook file.

    Raises FileNotFoundError if the file is missing and ValueError if it is not a notebook.
    """
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"path: {path} is not a notebook (invalid JSON: {e})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"path: {path} is not a notebook (no 'cells' list)")
    records: dict[str, Any] = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = out.get("data", {}).get(MIME_TYPE)
            if payload is None:
                continue
            if isinstance(payload, str):  # some writers store JSON MIME data as text
                payload = json.loads(payload)
            records[payload["key"]] = payload["value"]
    return records
